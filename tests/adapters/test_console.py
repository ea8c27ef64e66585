"""What an operator sees from ``twin run --adapters`` (in process, with the CLI's logging):
one line per link event naming the adapter, no library traceback; a shutdown summary that
tells an error still there from one resolved."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from tests.adapters.modbus.plc import Plc as ModbusPlc
from tests.adapters.opcua.plc import URI, Plc
from tests.conftest import SCENARIOS, free_port
from twin.api import TwinAPI
from twin.cli.adapters import LinkedPlcs
from twin.cli.common import cli_logging
from twin.engine.cell import Engine
from twin.model import load_scenario

OPCUA = """
[[adapter]]
name = "plc1"
kind = "opcua"
url = "{url}"
security_policy = "None"
security_mode = "None"
period_s = 0.05
timeout_s = 0.5
backoff_s = 0.05
backoff_max_s = 0.1
[[adapter.read]]
signal = "printer1.bed_temp"
node = "nsu={uri};s=BedTemp"
scale = 0.1
"""


def linked(tmp_path: Path, text: str) -> LinkedPlcs:
    file = tmp_path / "plc.toml"
    file.write_text(text, encoding="utf-8")
    plcs = LinkedPlcs(file, unencrypted=True)
    engine = Engine(load_scenario(SCENARIOS / "default.toml"), signals=True)
    plcs.bind(engine, TwinAPI(engine))
    return plcs


async def test_an_opcua_plc_that_stops_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plc = await Plc.start(free_port())
    plcs = linked(tmp_path, OPCUA.format(url=plc.url, uri=URI))
    (a,) = plcs.adapters
    with cli_logging():
        try:
            await plcs.start(Console())
            await a.wait_until(lambda st: st.cycles >= 3)
            await plc.stop()  # the PLC crashes while the twin subscribes to it
            await a.wait_until(lambda st: st.failures >= 4)
        finally:
            await plcs.stop(Console())
            await plc.stop()
    err = capsys.readouterr().err.splitlines()
    assert err, "the loss is said"
    assert not [line for line in err if "asyncua" in line or "Traceback" in line], err
    news = [line for line in err if "WITHOUT ENCRYPTION" not in line]
    assert news, err
    assert [line for line in news if "link lost" in line or "cannot connect" in line], news
    assert all(line.startswith(("adapter plc1: ", "warning: adapter plc1: ")) for line in news)
    # connected, lost, cannot connect: not once per retry; only the 10th, 100th, ... failure
    # in a row is summarised (a loaded machine may retry ten times before the stop)
    summaries = [line for line in news if "still failing after" in line]
    assert len(news) - len(summaries) <= 3, news
    assert len(summaries) <= len(str(a.status.failures)) - 1, (summaries, a.status.failures)


MODBUS = """
[[adapter]]
name = "mb"
kind = "modbus"
host = "127.0.0.1"
port = {port}
period_s = 0.02
timeout_s = 1.0
backoff_s = 0.05
backoff_max_s = 0.1
[[adapter.read]]
signal = "cnc1.power"
table = "holding"
address = 20
"""


@pytest.mark.parametrize("fixed", [True, False], ids=["fixed", "still-bad"])
async def test_the_summary_says_whether_the_last_error_still_holds(
    tmp_path: Path, fixed: bool
) -> None:
    """A tag bad for a while and good again for minutes was in the shutdown summary as
    'last: ...' as if it still were bad."""
    plc = ModbusPlc(free_port())
    await plc.start()
    plcs = linked(tmp_path, MODBUS.format(port=plc.port))
    (a,) = plcs.adapters
    out = io.StringIO()
    try:
        await plc.set_holding(20, 60000)  # 60,000 kW: no reading
        await plcs.start(Console(file=io.StringIO()))
        await a.wait_until(lambda st: bool(st.bad_tags))
        if fixed:
            await plc.set_holding(20, 12)
            await a.wait_until(lambda st: not st.bad_tags)
    finally:
        await plcs.stop(Console(file=out, width=1000))
        await plc.stop()
    error = "read[0] (cnc1.power): 60000 kW (raw 60000) is far outside cnc1.power's range"
    summary = out.getvalue()
    if fixed:
        assert f" 0 failures (last error, since resolved: {error}" in summary
    else:
        assert f" 0 failures, 1 bad tag (last: {error}" in summary


async def test_the_summary_says_a_link_error_is_resolved_once_the_link_works(
    tmp_path: Path,
) -> None:
    port = free_port()
    plcs = linked(tmp_path, MODBUS.format(port=port))
    (a,) = plcs.adapters
    out = io.StringIO()
    plc = ModbusPlc(port)
    try:
        await plcs.start(Console(file=io.StringIO()))
        await a.wait_until(lambda st: st.failures >= 1)  # no PLC yet
        await plc.start()
        await a.wait_until(lambda st: st.cycles >= 1)
    finally:
        await plcs.stop(Console(file=out, width=1000))
        await plc.stop()
    assert "(last error, since resolved: no Modbus TCP server answers at 127.0.0.1:" in (
        out.getvalue()
    )
