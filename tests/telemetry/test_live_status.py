"""``status.json`` follows a running pipeline's writes (``twin telemetry status`` while the
twin runs): a healthy ``twin run`` showed lines_produced 0 and lines_written 0 with 2,500
lines in the database, and a run that had an outage showed the counters of the moment
delivery recovered until it stopped. Saved at most once a second after writes (time driven
by hand), at once when the spool changes, always at the stop."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.telemetry.fakes import FakeSink, lines, make
from twin.clock import ManualClock
from twin.telemetry import TelemetryPipeline


def saved(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "spool" / "status.json").read_text())
    return data


async def written(p: TelemetryPipeline, n: int) -> None:
    """``n`` more lines sent and written."""
    start = p.stats.lines_produced
    p.write_lines(lines(start, n))
    await p.flush()


async def saved_with(tmp_path: Path, lines_written: int) -> None:
    """Let the loop run (no time passes: the clock is the test's) until the status says
    ``lines_written``."""
    for _ in range(100):
        if saved(tmp_path)["lines_written"] == lines_written:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"status.json says {saved(tmp_path)['lines_written']} lines written")


async def test_the_status_follows_writes_at_most_once_a_second(tmp_path: Path) -> None:
    clock = ManualClock()
    p = make(tmp_path, FakeSink(), clock=clock)
    await p.start()  # saves the status: the next save is a second later
    await written(p, 10)
    assert saved(tmp_path)["lines_written"] == 0
    clock.advance(1.0)
    await saved_with(tmp_path, 10)
    assert saved(tmp_path)["lines_produced"] == 10
    await written(p, 20)
    clock.advance(0.5)
    await written(p, 10)
    assert saved(tmp_path)["lines_written"] == 10  # within the second: not yet
    clock.advance(0.5)  # the second has passed: the writes of it are saved, once
    await saved_with(tmp_path, 40)
    assert saved(tmp_path)["lines_produced"] == 40
    clock.advance(5.0)  # a quiet pipeline: nothing more to save
    await written(p, 5)
    assert saved(tmp_path)["lines_written"] == 45  # a second after the last save: at once
    await written(p, 5)
    stats = await p.stop(5)  # within the second, but the stop saves
    assert saved(tmp_path)["lines_written"] == stats.lines_written == 50
    assert saved(tmp_path)["lines_produced"] == 50


async def caught_up(p: TelemetryPipeline, clock: ManualClock) -> None:
    """Time passes (the replay's back-off) until the spool is caught up."""
    for _ in range(1000):
        if p.stats.lines_written == p.stats.lines_produced:
            return
        clock.advance(0.01)
        await asyncio.sleep(0)
    raise AssertionError(f"not caught up: {p.stats}")


async def test_after_an_outage_the_status_goes_on_following_the_writes(tmp_path: Path) -> None:
    clock = ManualClock()
    sink = FakeSink()
    p = make(tmp_path, sink, clock=clock)
    await p.start()
    sink.mode = "down"
    await written(p, 30)
    assert saved(tmp_path)["spool_lines"] == 30  # the spool changed: saved at once
    sink.mode = "ok"
    await caught_up(p, clock)
    assert (saved(tmp_path)["lines_written"], saved(tmp_path)["spool_lines"]) == (30, 0)
    for _ in range(3):  # live writes, a second apart
        await written(p, 10)
        clock.advance(1.0)
        await saved_with(tmp_path, p.stats.lines_written)
    assert saved(tmp_path)["lines_written"] == 60
    await p.stop(5)
