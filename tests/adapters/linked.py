"""``twin run --adapters`` linked to a real pymodbus PLC, for end-to-end tests, and an OPC UA
client watching it."""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from asyncua import Client, ua

from opcua_server.nodesets import NS
from tests.adapters.conftest import UNCERTAIN, Watch
from tests.adapters.modbus.plc import Plc
from tests.conftest import SCENARIOS, free_port
from tests.opcua.conftest import CliTwin, run_args, start_cli
from tests.telemetry.lp import Point, parse_lines

#: the twin's nodes these tests watch (browse paths in its namespace)
BED_TEMP_NODE = "printer1.Monitoring.BuildPlatform.Temperature"
CONNECTED_NODE = "Cell.Adapters.cell-plc.Connected"
SIM_TIME_NODE = "Cell.SimTime"

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
#: the link with the bed temperature fed: an adapters file
BED_TEMP_LINK = PLC_LINK + BED_TEMP
#: a signal's status while its PLC link is lost (Uncertain_LastUsableValue), as a code
UNCERTAIN_CODE = UNCERTAIN.value


def telemetry_points(tmp_path: Path) -> list[Point]:
    """The points of the run's telemetry file (``linked_twin``'s run directory)."""
    with gzip.open(tmp_path / "out" / "telemetry.lp.gz", "rt", encoding="utf-8") as fh:
        return parse_lines(fh.read())


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


@dataclass
class Watched:
    """An OPC UA client of a linked twin and its subscription (``watching``)."""

    client: Client
    ns: int  # the twin's namespace index
    watch: Watch
    nodes: list[ua.NodeId]  # the watched nodes, in the order named

    async def run_on(self, seconds: float) -> None:
        """Wait until the twin's clock (``SIM_TIME_NODE``, watched) has run ``seconds``
        simulated seconds on from now."""
        clock = ua.NodeId(SIM_TIME_NODE, self.ns)
        now = (await self.watch.until(clock, lambda dv: dv.Value is not None)).Value.Value
        await self.watch.until(clock, lambda dv: dv.Value.Value >= now + seconds)


@contextlib.asynccontextmanager
async def watching(twin: CliTwin, *names: str) -> AsyncIterator[Watched]:
    """An anonymous client of ``twin`` (run with ``--insecure-dev``) subscribed to the twin's
    nodes ``names`` (node ids in its namespace), every 50 ms."""
    async with Client(twin.url, timeout=10) as client:
        ns = await client.get_namespace_index(NS.TWIN)
        nodes = [ua.NodeId(name, ns) for name in names]
        watch = Watch()
        sub = await client.create_subscription(50, watch)
        await sub.subscribe_data_change([client.get_node(n) for n in nodes])
        yield Watched(client, ns, watch, nodes)
