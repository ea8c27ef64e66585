"""What an outage looks like from outside: told as it happens (a database that hangs, with
its URL and the write timeout), told when it ends (how long, how many lines caught up), and
``twin telemetry status`` showing the last error as past once delivery recovered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.telemetry import fakes
from tests.telemetry.fakes import Told, make
from tests.telemetry.servers import victoria_metrics
from twin.cli import main
from twin.telemetry import InfluxSink, Spool, TelemetryPipeline


@pytest.fixture
async def hanging() -> AsyncIterator[str]:
    """A real server (asyncio, on loopback) that takes connections and never answers; it
    reads until the client gives up."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


def pipeline(url: str, tmp_path: Path, **kw: float) -> TelemetryPipeline:
    sink = InfluxSink(url, "", "org", "b", timeout_s=kw.pop("timeout_s", 10.0))
    spool = Spool(tmp_path / "spool", 10**7)
    options = {"max_in_flight": 1, "retry_initial_s": 0.05, "retry_max_s": 0.1}
    return make(tmp_path, sink, spool=spool, **options, **kw)


def lines(start: int, n: int) -> list[str]:
    return fakes.lines(start, n, t0=1_790_000_000_000_000_000)


async def test_a_database_that_hangs_is_told_as_it_happens_with_url_and_timeout(
    hanging: str, tmp_path: Path, told: Told
) -> None:
    p = pipeline(hanging, tmp_path, timeout_s=1.0, stall_after_s=0.2)
    await p.start()
    try:
        p.write_lines(lines(0, 10))
        # both while the run goes on, long before any stop
        stalled = await told.wait_for("has not answered a write for 0.2 s")
        assert stalled.startswith(f"telemetry: influx at {hanging} has not answered")
        endpoint = f"{hanging}/api/v2/write"
        down = await told.wait_for("unavailable")
        assert down == (
            f"telemetry: influx unavailable (no answer from {endpoint} within 1 s"
            " (TWIN_WRITE_TIMEOUT_S)); spooling"
        )
    finally:
        stats = await p.stop(0.1)
    assert stats.spool_lines == 10
    assert stats.last_error.startswith(f"no answer from {endpoint} within 1 s")


@pytest.mark.services
async def test_recovery_is_told_and_status_shows_the_error_as_past(
    tmp_path: Path,
    told: Told,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vm = victoria_metrics(tmp_path / "vm")  # not started yet: the database is away
    p = pipeline(vm.url, tmp_path)
    await p.start()
    try:
        p.write_lines(lines(0, 10))
        await told.wait_for("unavailable")
        p.write_lines(lines(10, 10))  # the database is down: straight to the spool
        await asyncio.to_thread(vm.start)
        back = await told.wait_for("is back")
    finally:
        stats = await p.stop(10)
        await asyncio.to_thread(vm.stop)
    assert back.startswith(f"telemetry: influx at {vm.url} is back: delivery resumed after ")
    assert back.endswith("catching up 20 lines from the spool)")
    assert "failed write" in back
    assert stats.lines_written == 20
    assert stats.spool_lines == 0
    assert stats.last_error.startswith(f"{vm.url}/api/v2/write: ClientConnectorError")
    assert stats.recovered_at >= stats.last_error_at > ""

    monkeypatch.setenv("COLUMNS", "1000")  # one table row a line
    capsys.readouterr()
    assert main(["telemetry", "status", str(tmp_path / "spool")]) == 0
    row = next(t for t in capsys.readouterr().out.splitlines() if " last_error " in t)
    want = (
        f"past: {stats.last_error} (at {stats.last_error_at}); delivery recovered at"
        f" {stats.recovered_at}"
    )
    assert want in row
    assert main(["telemetry", "status", str(tmp_path / "spool"), "--json"]) == 0
    saved = json.loads(capsys.readouterr().out)
    assert saved["recovered_at"] == stats.recovered_at
    assert saved["refused"] == ""
