"""Pipeline behaviour against a scriptable sink: batching, back-pressure, spool, 4xx, stop."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import shutil
from pathlib import Path

import pytest

from tests.telemetry.fakes import FakeSink, lines, make
from twin.cli.telemetry import read_status
from twin.errors import ServiceError
from twin.telemetry import Spool


async def test_batches_are_written_in_full(tmp_path: Path) -> None:
    sink = FakeSink()
    p = make(tmp_path, sink)
    await p.start()
    p.write_lines(lines(0, 25))  # cut into batches of 10, 10 and 5
    await p.flush()
    stats = await p.stop(5)
    assert sorted(sink.lines) == sorted(lines(0, 25))
    assert stats.batches_written == 3
    assert stats.balanced()


async def test_outage_spools_then_replays_every_line_once(tmp_path: Path) -> None:
    sink = FakeSink()
    p = make(tmp_path, sink)
    await p.start()
    p.write_lines(lines(0, 20))
    await p.flush()
    sink.mode = "down"
    p.write_lines(lines(20, 30))
    await p.flush()
    assert p.stats.lines_spooled == 30
    assert len(p.spool or []) == 3
    status = json.loads((tmp_path / "spool" / "status.json").read_text())
    assert status["spool_lines"] == 30
    # kept in its spool, the status names no directory: a moved run directory (twin simulate
    # writes aside, then moves in) is still read right
    assert "spool_dir" not in status
    shutil.copytree(tmp_path / "spool", tmp_path / "moved" / "telemetry-spool")
    assert read_status(tmp_path / "moved")["spool_batches"] == 3
    sink.mode = "ok"
    p.write_lines(lines(50, 10))
    stats = await p.stop(5)
    assert sorted(sink.lines) == sorted(lines(0, 60))  # nothing lost, nothing twice
    # while the sink counts as down, new batches go straight to the spool too
    assert stats.lines_replayed == stats.lines_spooled >= 30
    assert stats.spool_lines == 0
    assert stats.balanced()


async def test_spool_survives_restart_and_is_replayed_oldest_first(tmp_path: Path) -> None:
    sink = FakeSink()
    sink.mode = "down"
    first = make(tmp_path, sink)
    await first.start()
    first.write_lines(lines(0, 30))
    stats = await first.stop(0.05)
    assert stats.spool_lines == 30
    assert stats.lines_written == 0
    assert stats.balanced()

    spooled = sorted((tmp_path / "spool").glob("*.lp.gz"))  # names sort by sequence
    expected = [ln for f in spooled for ln in gzip.decompress(f.read_bytes()).decode().split()]
    expected = [" ".join(expected[i : i + 3]) for i in range(0, len(expected), 3)]
    sink2 = FakeSink()
    second = make(tmp_path, sink2)
    await second.start()
    stats2 = await second.stop(5)
    assert sink2.lines == expected  # oldest batch first
    assert sorted(sink2.lines) == sorted(lines(0, 30))
    assert stats2.lines_replayed == 30
    assert stats2.balanced()


async def test_rejected_batch_is_counted_and_logged_with_a_sample(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = FakeSink()
    sink.mode = "reject"
    p = make(tmp_path, sink)
    await p.start()
    with caplog.at_level(logging.ERROR, logger="twin.telemetry"):
        p.write_lines(lines(0, 10))
        stats = await p.stop(5)
    assert stats.lines_rejected == 10
    assert stats.batches_rejected == 1
    assert stats.spool_lines == 0  # a 4xx is not retried
    assert stats.last_rejected_sample == "m,t=a v=0i 0"
    assert "sample line: m,t=a v=0i 0" in caplog.text
    assert stats.balanced()


async def test_spool_bound_drops_are_counted_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = FakeSink()
    sink.mode = "down"
    spool = Spool(tmp_path / "spool", 120)  # room for about two gzip'd batches
    p = make(tmp_path, sink, spool=spool)
    await p.start()
    with caplog.at_level(logging.ERROR, logger="twin.telemetry"):
        p.write_lines(lines(0, 100))
        stats = await p.stop(0.05)
    assert stats.lines_dropped > 0
    assert stats.lines_spooled + stats.lines_dropped == 100
    assert stats.balanced()
    assert "spool full" in caplog.text
    status = json.loads((tmp_path / "spool" / "status.json").read_text())
    assert status["lines_dropped"] == stats.lines_dropped


async def test_stop_deadline_spools_batches_in_flight(tmp_path: Path) -> None:
    sink = FakeSink()
    sink.mode = "hang"
    p = make(tmp_path, sink)
    await p.start()
    p.write_lines(lines(0, 10))
    await sink.entered.wait()
    stats = await p.stop(0.05)
    assert stats.lines_spooled == 10
    assert stats.spool_lines == 10
    assert stats.balanced()


async def test_producer_thread_is_held_back_when_all_slots_are_busy(tmp_path: Path) -> None:
    sink = FakeSink()
    sink.mode = "hang"
    p = make(tmp_path, sink)
    await p.start()
    producer = asyncio.create_task(asyncio.to_thread(p.write_lines, lines(0, 50)))
    await sink.entered.wait()
    await asyncio.sleep(0.05)  # give a runaway producer the chance to get ahead
    assert not producer.done()  # 5 batches, 2 slots: the producer thread waits
    assert sink.active == 2
    sink.mode = "ok"
    sink.release.set()
    await producer
    stats = await p.stop(5)
    assert sink.max_active == 2
    assert sorted(sink.lines) == sorted(lines(0, 50))
    assert stats.balanced()


async def test_stop_lets_a_replay_in_progress_finish_and_returns_promptly(
    tmp_path: Path,
) -> None:
    sink = FakeSink()
    sink.mode = "down"
    p = make(tmp_path, sink)
    await p.start()
    p.write_lines(lines(0, 10))
    await p.flush()
    assert p.stats.spool_lines == 10
    sink.mode = "hang"  # the next replay attempt reaches the server and waits there
    await sink.entered.wait()
    t0 = asyncio.get_running_loop().time()
    stopper = asyncio.create_task(p.stop(10))
    await asyncio.sleep(0.01)
    assert not stopper.done()  # not cancelled: it would be sent a second time later
    sink.mode = "ok"
    sink.release.set()
    stats = await stopper
    assert asyncio.get_running_loop().time() - t0 < 2
    assert sink.lines == lines(0, 10)  # exactly once
    assert stats.spool_lines == 0
    assert stats.balanced()


def test_one_owner_of_a_spool_at_a_time(tmp_path: Path) -> None:
    """Two owners of one spool (a twin and a `twin telemetry replay` of its directory) both
    numbered their batches from the same sequence and wrote origins.json with only their own
    origins: the other's batches lost theirs."""
    first, second = Spool(tmp_path / "spool", 10**6), Spool(tmp_path / "spool", 10**6)
    first.open()
    with pytest.raises(ServiceError, match=r"telemetry spool .*spool is in use by another"):
        second.open()
    first.close()
    second.open()  # released: the next owner takes it
    second.close()


async def test_batches_queued_on_the_loop_at_the_stop_are_spooled_gzipped(
    tmp_path: Path,
) -> None:
    """As twin run queues them (its producers are on the loop) behind a database that hangs:
    the queued batch was spooled as plain text under a .lp.gz name, which the replay sent as
    gzip and the server refused ("gzip: invalid header"), keeping it for ever."""
    sink = FakeSink()
    sink.mode = "hang"
    p = make(tmp_path, sink, max_in_flight=1)
    await p.start()
    for start in (0, 10, 20):  # one in flight, one queued, one spooled (no free slot)
        p.write_lines(lines(start, 10))
    await sink.entered.wait()
    stats = await p.stop(0.05)
    assert stats.spool_lines == 30
    sink2 = FakeSink()
    second = make(tmp_path, sink2)
    await second.start()
    stats2 = await second.stop(5)
    assert sorted(sink2.lines) == sorted(lines(0, 30))
    assert stats2.refused == ""
    assert stats2.spool_lines == 0
