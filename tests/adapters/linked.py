"""``twin run --adapters`` linked to a real pymodbus PLC, for end-to-end tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from tests.adapters.modbus.plc import Plc
from tests.conftest import SCENARIOS, free_port
from tests.opcua.conftest import CliTwin, run_args, start_cli

#: an adapters file's Modbus link to the PLC (``{port}``: its port), without tags
PLC_LINK = """
[[adapter]]
name = "cell-plc"
kind = "modbus"
host = "127.0.0.1"
port = {port}
period_s = 0.05
"""
#: the PLC feeds the printer's bed temperature (input register 0, in 0.1 degC)
BED_TEMP = """
[[adapter.read]]
signal = "printer1.bed_temp"
table = "input"
address = 0
scale = 0.1
"""


@contextlib.asynccontextmanager
async def linked_twin(
    tmp_path: Path, adapters: str, *args: str
) -> AsyncIterator[tuple[CliTwin, Plc]]:
    """``twin run`` of the default scenario at x60 with ``--adapters`` (the file ``adapters``,
    its ``{port}`` the PLC's), run directory ``tmp_path/out``, and ``args``; yields the twin
    (serving) and the PLC (started: stop it to lose the link). Stop the twin in the block to
    check its stop; the twin is killed and the PLC stopped when the block ends."""
    plc = Plc(free_port())
    await plc.start()
    file = tmp_path / "plc.toml"
    file.write_text(adapters.format(port=plc.port), encoding="utf-8")
    try:
        twin = await start_cli(
            str(SCENARIOS / "default.toml"),
            *("--speed", "60", "--adapters", str(file), *args),
            *run_args(tmp_path, history=tmp_path / "h.sqlite"),
        )
        try:
            yield twin, plc
        finally:
            await twin.kill()
    finally:
        await plc.stop()
