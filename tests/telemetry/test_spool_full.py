"""A full spool (``TWIN_SPOOL_MAX_BYTES``) while the database is away: the first batch that
does not fit leaves its first lines in the spool, the rest of it and every batch after it
are dropped until a replay makes room (one gap in the data, not holes), and the messages name
the bound, the room left and the lines dropped with their time range. A whole 5,000-line
batch was dropped with 29 KB of a 64 KB spool used, small later batches were kept (gaps fell
mid-run), and the error gave the connection failure as its reason."""

from __future__ import annotations

import asyncio
import gzip
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.telemetry.fakes import FakeSink, Told, make
from twin.telemetry import Spool, TelemetryPipeline
from twin.telemetry.sinks import gzip_batch

T0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
T0_NS = int(T0.timestamp()) * 10**9


def lines(start: int, n: int) -> list[str]:
    """``n`` lines numbered from ``start``, a minute apart."""
    return [f"m,t=a v={i}i {T0_NS + i * 60 * 10**9}" for i in range(start, start + n)]


def at(i: int) -> str:
    """The time of line ``i``, as messages give it."""
    return f"{T0 + timedelta(minutes=i):%Y-%m-%dT%H:%M:%SZ}"


def size(part: list[str]) -> int:
    return len(gzip_batch(("\n".join(part) + "\n").encode(), 1))


async def produced(p: TelemetryPipeline, start: int, n: int) -> None:
    """Lines ``start`` to ``start + n - 1`` sent from a producer thread (as twin simulate
    does: one batch in flight at a time, in order) and delivered or spooled."""
    await asyncio.to_thread(p.write_lines, lines(start, n))
    await p.flush()


def spooled(directory: Path) -> list[str]:
    files = sorted(directory.glob("*.lp.gz"))  # names sort by sequence
    return [ln for f in files for ln in gzip.decompress(f.read_bytes()).decode().splitlines()]


async def test_a_full_spool_takes_what_fits_then_drops_one_gap_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # room for the batches of lines 0-9 and 10-19 and for 20-24 of the next, batches of 10
    bound = size(lines(0, 10)) + size(lines(10, 10)) + size(lines(20, 5))
    sink = FakeSink()
    sink.mode = "down"
    p = make(tmp_path, sink, spool=Spool(tmp_path / "spool", bound), max_in_flight=1)
    await p.start()
    with caplog.at_level(logging.WARNING, logger="twin.telemetry"):
        await produced(p, 0, 50)
        await produced(p, 50, 1)  # a small batch would fit in the room left: dropped too
        assert spooled(tmp_path / "spool") == lines(0, 25)  # in order, up to the gap
        assert p.stats.lines_dropped == 26
        assert p.stats.last_error.startswith(
            f"spool full (TWIN_SPOOL_MAX_BYTES {bound} bytes, {bound - p.stats.spool_bytes}"
            f" bytes left): 26 lines dropped since 2026-"
        )
        assert f" stamped {at(25)} to {at(50)}; spooling because: database unavailable" in (
            p.stats.last_error
        )
        (told,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert told.startswith(
            f"telemetry: spool full ({tmp_path / 'spool'}: TWIN_SPOOL_MAX_BYTES {bound} bytes,"
        )
        assert (
            f"dropped 5 lines of a batch of 10 (its first 5 spooled) stamped {at(25)} to"
            f" {at(29)}, and drops what comes next until a replay makes room" in told
        )
        assert told.endswith("the lines were being spooled because: database unavailable")
        sink.mode = "ok"  # the spool is replayed: room again, later lines are kept
        stats = await p.stop(5)
    assert sink.lines == lines(0, 25)
    assert stats.lines_dropped == 26
    assert stats.balanced()
    (gap,) = [r.getMessage() for r in caplog.records if "the spool was full" in r.getMessage()]
    assert gap.endswith(f": 26 lines stamped {at(25)} to {at(50)} dropped (a gap in the database)")


async def test_a_replay_that_makes_room_ends_the_gap(tmp_path: Path, told: Told) -> None:
    bound = size(lines(0, 10)) + size(lines(10, 10))
    sink = FakeSink()
    sink.mode = "down"
    p = make(tmp_path, sink, spool=Spool(tmp_path / "spool", bound), max_in_flight=1)
    await p.start()
    await produced(p, 0, 30)  # the third batch does not fit at all: dropped whole
    assert p.stats.lines_dropped == 10
    sink.mode = "ok"  # replayed: the spool has room, and the sink takes the next batches
    await told.wait_for("the spool was full from")
    await produced(p, 30, 10)
    stats = await p.stop(5)
    assert sink.lines == lines(0, 20) + lines(30, 10)
    assert stats.lines_dropped == 10
    assert stats.balanced()
