"""``twin run`` keeps its event log current while it runs (a killed twin resumes close to
where it was, not at the last batch of 4,096 lines), and its clock ends, cleanly, at the last
time telemetry can stamp (2262-04-11T23:47:16Z)."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.opcua.conftest import CliTwin, run_args, start_cli
from twin.cli import main
from twin.cli.rundir import (
    DURABLE,
    END,
    EVENTS,
    FLUSH_S,
    PREVIOUS,
    LogFlusher,
    run_info,
    write_info,
)
from twin.clock import ManualClock
from twin.engine.cell import Engine
from twin.engine.replay import read_log
from twin.events import Event, EventLogWriter
from twin.model import load_scenario
from twin.telemetry.schema import datetime_ns

# fast, and slow enough that the old batches (4,096 lines: minutes of the default cell at this
# speed) cannot pass for the periodic flush
SPEED = 2000.0
FAILSAFE_S = 30.0  # only bounds a failing wait
MARGIN_S = 1.0  # wall seconds a loaded machine may add to FLUSH_S (the driver's tick included)


def _args(tmp_path: Path, out: Path, *extra: str) -> list[str]:
    return ["--insecure-dev", *run_args(tmp_path, out), *extra]


def _complete(log: bytes) -> bytes:
    """The complete lines of ``log``: a kill may leave the last one torn."""
    return log[: log.rfind(b"\n") + 1]


def _last_time(path: Path) -> float | None:
    lines = _complete(path.read_bytes()).splitlines() if path.exists() else []
    return float(orjson.loads(lines[-1])["t"]) if lines else None


async def _logged_past(path: Path, t: float, deadline_s: float) -> float:
    """Poll the event log until its last complete line is at ``t`` or later."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    while (last := _last_time(path)) is None or last < t:
        assert loop.time() < deadline, f"after {deadline_s} s the event log stops at t={last}"
        await asyncio.sleep(0.05)
    return last


def _published(scenario: Path, until: float) -> list[float]:
    """The times of the events the twin publishes up to ``until`` without commands (the
    engine is deterministic: the live twin publishes the same ones)."""
    times: list[float] = []
    engine = Engine(load_scenario(scenario), signals=True)
    engine.bus.subscribe(lambda event: times.append(event.t))
    engine.run(until, stop_when_done=False)
    return times


async def test_a_killed_twin_resumes_close_to_where_it_was(
    default_scenario_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = _args(tmp_path, out, "--telemetry", "none", "--speed", str(SPEED))
    twin = await start_cli(str(default_scenario_path), *args)
    served_at = dt.datetime.now(dt.UTC)  # its clock started before it said it serves
    try:
        await _logged_past(out / EVENTS, 5 * SPEED, deadline_s=30)
        killed_at = dt.datetime.now(dt.UTC)
    finally:
        await twin.kill()
    info = orjson.loads((out / "run.json").read_bytes())
    sim_start = dt.datetime.fromisoformat(info["sim_start"])
    # the twin's clock at the kill: its start-up counted once (the clock starts with the
    # run), at most x SPEED; the time since it served at least x SPEED
    reached = (killed_at - sim_start).total_seconds() * SPEED
    least = (killed_at - served_at).total_seconds() * SPEED
    killed = (out / EVENTS).read_bytes()
    complete = _complete(killed)
    log = read_log(out / EVENTS, torn_tail=True)
    assert log.size == len(complete)
    assert not log.commands  # nothing was synced for a command: the flushes wrote it all
    # every event published up to a flush interval (and a margin) before the kill is on disk
    flushed = least - (FLUSH_S + MARGIN_S) * SPEED
    published = _published(default_scenario_path, reached)
    assert max(t for t in published if t <= flushed) <= log.resume_at <= reached

    resumed = await start_cli(str(default_scenario_path), *args, "--resume")
    try:
        found = re.search(r"resuming at simulated time ([\d.]+) s", resumed.banner)
        assert found is not None, resumed.banner
        assert float(found.group(1)) == round(log.resume_at, 1)
    finally:
        await resumed.stop()
    assert (out / PREVIOUS).read_bytes() == killed
    after = (out / EVENTS).read_bytes()
    assert after.startswith(complete)  # continued from its last complete line
    assert read_log(out / EVENTS).resume_at >= log.resume_at  # every line whole
    assert orjson.loads(after.splitlines()[-1])["command"] == "stop"


async def _finished(twin: CliTwin, deadline_s: float) -> str:
    """Wait for ``twin`` to stop by itself; returns what it printed after its banner."""
    assert twin.proc.stdout is not None
    try:
        rest = (await asyncio.wait_for(twin.proc.stdout.read(), deadline_s)).decode()
        assert await asyncio.wait_for(twin.proc.wait(), 30) == 0, rest
    finally:
        await twin.kill()
    return rest


async def test_the_clock_of_twin_run_ends_in_2262(
    default_scenario_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a run directory as a twin started 5,000 s (of its time) before the end leaves it: its
    # clock is the wall clock's axis from sim_start, as a two-hour run at speed 1e6 reaches
    out, left = tmp_path / "out", 5000.0
    out.mkdir()
    sc = load_scenario(default_scenario_path)
    sim_start = END - dt.timedelta(seconds=left)
    write_info(out, run_info(default_scenario_path, sc), sim_start)
    (out / EVENTS).write_bytes(b"")
    args = _args(tmp_path, out, "--telemetry", "file", "--speed", "1000", "--resume")
    twin = await start_cli(str(default_scenario_path), *args)
    rest = await _finished(twin, deadline_s=60)
    assert (
        "reached 2262-04-11T23:47:16Z, where the clock of twin run ends (the last time telemetry"
        " timestamps, nanoseconds since 1970 in 64 bits, can hold); a new run (without --resume)"
        " starts at the wall clock's time\n"
        f"stopped at simulated time {left:.1f} s; event log and snapshot in {out}\n"
    ) in rest
    assert "Traceback" not in rest
    events = [orjson.loads(line) for line in (out / EVENTS).read_bytes().splitlines()]
    assert events[-1] == {"type": "command", "t": left, "command": "stop", "args": {}}
    assert max(e["t"] for e in events) == left
    with gzip.open(out / "telemetry.lp.gz", "rt") as f:
        stamps = [int(line.rsplit(" ", 1)[1]) for line in f]
    assert datetime_ns(sim_start) <= min(stamps)  # none wrapped round
    # stamped up to the end (the KPIs at the stop), none past it (1 ns steps keep them unique)
    assert datetime_ns(END) <= max(stamps) <= datetime_ns(END) + 1000

    # a run that reached the end is not resumed (without telemetry either): nothing changes
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    for telemetry in ("file", "none"):
        argv = ["run", str(default_scenario_path), *args, "--telemetry", telemetry]
        assert main(argv) == 2
        assert capsys.readouterr().err == (
            f"error: {out / EVENTS}: the run reached 2262-04-11T23:47:16Z (simulated time"
            f" {left:.1f} s), where the clock of twin run ends (the last time telemetry"
            " timestamps, nanoseconds since 1970 in 64 bits, can hold); start afresh without"
            " --resume\n"
        )
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


async def _turns(until: Callable[[], bool] | None = None, turns: int = 100) -> None:
    """Let the event loop turn ``turns`` times (nothing due meanwhile shows), or until
    ``until()``: then as many turns as that takes (a worker thread's fsync may need more
    under load), failing after FAILSAFE_S of wall time, which never synchronises."""
    deadline = time.monotonic() + FAILSAFE_S
    n = 0
    while until is not None or n < turns:
        await asyncio.sleep(0)
        n += 1
        if until is not None and until():
            return
        assert time.monotonic() < deadline, f"not done after {n} turns of the event loop"


async def test_the_flusher_writes_and_syncs_every_interval(
    default_scenario_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    synced: list[int] = []
    one_synced = asyncio.Event()
    fsync = os.fsync

    def done(fd: int) -> None:
        synced.append(fd)
        one_synced.set()

    def spy(fd: int) -> None:  # in the flusher's worker thread
        fsync(fd)
        loop.call_soon_threadsafe(done, fd)

    monkeypatch.setattr(os, "fsync", spy)
    clock = ManualClock()
    path = tmp_path / EVENTS
    with path.open("wb") as fh:
        writer = EventLogWriter(fh, durable=DURABLE)
        seen: list[Event] = []
        engine = Engine(load_scenario(default_scenario_path))
        engine.bus.subscribe(writer)
        engine.bus.subscribe(seen.append)
        flusher = LogFlusher(writer, fh, clock, interval=2.0)
        task = flusher.start()
        await _turns(lambda: clock.sleepers == 1)
        engine.run(3600, stop_when_done=False)
        clock.advance(1.9)
        await _turns()
        assert path.read_bytes() == b""  # not yet
        clock.advance(0.1)
        await _turns(lambda: path.stat().st_size > 0)
        assert len(path.read_bytes().splitlines()) == len(seen)  # every line, whole
        await asyncio.wait_for(one_synced.wait(), 30)
        assert synced == [fh.fileno()]
        one_synced.clear()
        await _turns(lambda: clock.sleepers == 1)
        clock.advance(2.0)  # nothing new: no fsync
        await _turns(lambda: clock.sleepers == 1)
        assert synced == [fh.fileno()]
        engine.run(7200, stop_when_done=False)
        clock.advance(2.0)
        await asyncio.wait_for(one_synced.wait(), 30)
        assert len(path.read_bytes().splitlines()) == len(seen)
        assert synced == [fh.fileno()] * 2
        await flusher.stop()
        assert task.cancelled()
        with pytest.raises(ValueError, match="interval: must be > 0"):
            LogFlusher(writer, fh, clock, interval=0)
