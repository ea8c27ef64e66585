"""A second Ctrl-C hurries the stop: telemetry no longer waits for a database that does not
answer (up to TWIN_STOP_TIMEOUT_S); what it has not delivered goes to the spool at once, every
line accounted for."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SCENARIOS
from tests.opcua.conftest import start_cli
from tests.telemetry.fakes import FakeSink, lines, make

DEADLINE_S = 120.0  # what the stop would wait for without a second Ctrl-C
HURRIED_S = 20.0  # it ends well within this after the second one


class Unanswering:
    """A TCP server that takes requests and never answers (a hung database); ``reached`` is
    set when the first request came in."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self._never = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._take, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _take(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        if await reader.read(1):
            self.reached.set()
        await self._never.wait()

    async def stop(self) -> None:
        self._never.set()  # the handlers end
        for writer in self._writers:
            writer.close()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


async def test_a_second_ctrl_c_spools_at_once_what_a_hung_database_did_not_take(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Unanswering()
    url = await database.start()
    monkeypatch.setenv("TWIN_STOP_TIMEOUT_S", str(DEADLINE_S))
    monkeypatch.setenv("TWIN_WRITE_TIMEOUT_S", str(DEADLINE_S))  # a write waits that long too
    out = tmp_path / "out"
    try:
        twin = await start_cli(
            str(SCENARIOS / "default.toml"),
            *("--port", "0", "--speed", "60", "--insecure-dev", "--out", str(out)),
            *("--telemetry", "influx", "--influx-url", url, "--influx-token", "t"),
            *("--users", str(tmp_path / "users.toml"), "--pki", str(tmp_path / "pki")),
            *("--history", str(tmp_path / "h.sqlite")),
        )
        proc, stdout = twin.proc, twin.proc.stdout
        assert stdout is not None
        try:
            await asyncio.wait_for(database.reached.wait(), 30)  # a write hangs there now
            proc.send_signal(signal.SIGINT)
            said = ""
            while "shutting down" not in said:
                said += (await asyncio.wait_for(stdout.readline(), 30)).decode()
            proc.send_signal(signal.SIGINT)
            said += (await asyncio.wait_for(stdout.read(), HURRIED_S)).decode()
            assert await asyncio.wait_for(proc.wait(), 10) == 0, said  # kept for later
        finally:
            await twin.kill()
    finally:
        await database.stop()
    spool = out / "telemetry-spool"
    assert (
        "Ctrl-C again: telemetry no longer waits for the database; what it has not delivered"
        f" goes to {spool} now, for the next run to send"
    ) in said
    assert "Traceback" not in said
    status = json.loads((spool / "status.json").read_text())
    assert status["lines_produced"] > 0
    assert status["lines_written"] == status["lines_dropped"] == 0
    assert status["spool_lines"] == status["lines_produced"]  # every line kept
    assert "stopped at simulated time" in said


@pytest.mark.parametrize("when", ["during the stop", "before it"])
async def test_hurry_spools_the_batches_in_flight_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    sink = FakeSink()
    sink.mode = "hang"
    p = make(tmp_path, sink, max_in_flight=4)
    await p.start()
    p.write_lines(lines(0, 25))
    await sink.entered.wait()  # a write reached the database, which does not answer
    waits = asyncio.Event()  # set when the stop waits for the writes
    first = p._first

    async def watched(tasks: list[asyncio.Future[Any]], within_s: float | None) -> None:
        if asyncio.current_task() is stopping:
            waits.set()
        await first(tasks, within_s)

    monkeypatch.setattr(p, "_first", watched)
    if when == "before it":
        assert p.hurry()
    stopping = asyncio.create_task(p.stop(DEADLINE_S))
    if when == "during the stop":
        await asyncio.wait_for(waits.wait(), HURRIED_S)  # the hurry has a waiting stop to wake
        assert not stopping.done()
        assert p.hurry()
    stats = await asyncio.wait_for(stopping, HURRIED_S)
    assert stats.lines_written == stats.lines_dropped == 0
    assert stats.spool_lines == stats.lines_produced == 25
    assert stats.balanced()


async def test_hurry_without_a_spool_changes_nothing(tmp_path: Path) -> None:
    """Without a spool (the file sink) a cancelled write would lose its lines: the stop
    still waits for the writes in flight (here a disk that does not answer until released)."""
    sink = FakeSink()
    sink.mode = "hang"
    p = make(tmp_path, sink, spool=None, max_in_flight=4)
    await p.start()
    p.write_lines(lines(0, 25))
    await sink.entered.wait()
    stopping = asyncio.create_task(p.stop(DEADLINE_S))
    assert not p.hurry()
    done, _ = await asyncio.wait([stopping], timeout=0.2)
    assert not done  # still waiting for the writes
    assert sink.active == 3  # none of them cancelled
    sink.release.set()
    stats = await asyncio.wait_for(stopping, HURRIED_S)
    assert stats.lines_written == stats.lines_produced == 25
    assert sorted(sink.lines) == sorted(lines(0, 25))
    assert stats.lines_dropped == 0
    assert stats.balanced()
