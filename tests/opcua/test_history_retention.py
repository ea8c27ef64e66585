"""History retention on the twin's time axis, and pruning that never stalls the event loop."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import time
from pathlib import Path

import pytest
from asyncua import ua

from opcua_server.history import SqliteHistory
from opcua_server.history_store import MAX_CHUNKS
from tests.opcua.conftest import start_twin

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def test_retention_counts_back_from_the_twins_time_at_speed_60(tmp_path: Path) -> None:
    twin = await start_twin(tmp_path, history_retention_s=60.0, history_sample_s=0.5)
    try:
        for _ in range(10):  # 10 wall seconds: 600 simulated seconds
            await twin.step(1.0)
        history = twin.server.history
        assert history is not None
        index = twin.engine.store.index("cnc1.coolant_temp")
        node = twin.server.signal_nodes[index]
        values, _ = await history.read_node_history(node, None, None, 0)
        oldest = min(dv.SourceTimestamp for dv in values)
        twin_now = twin.driver.wall_time(twin.engine.now)
        # the twin's time is ~9 min ahead of the wall clock: only its last minute is kept
        assert twin_now - oldest <= dt.timedelta(seconds=61), (oldest, twin_now)
    finally:
        await twin.server.stop()


async def test_retention_counts_back_from_the_twins_time_behind_the_wall_clock(
    tmp_path: Path,
) -> None:
    twin_now = [dt.datetime.now(dt.UTC).timestamp() - 3 * 3600.0]  # slow, or paused for 3 h
    history = SqliteHistory(
        tmp_path / "h.sqlite",
        retention_s=3600.0,
        max_values=100,
        max_events=10,
        flush_s=60.0,
        now=lambda: twin_now[0],
    )
    await history.init()
    try:
        node = ua.NodeId("x", 2)
        for minutes in (90, 30, 0):
            at = dt.datetime.fromtimestamp(twin_now[0] - minutes * 60.0, dt.UTC)
            history.record_value(node, ua.Variant(float(minutes)), at)
        values, _ = await history.read_node_history(node, None, None, 0)
        assert [dv.Value.Value for dv in values] == [30.0, 0.0]  # the wall clock: none kept
        twin_now[0] += 45 * 60.0
        values, _ = await history.read_node_history(node, None, None, 0)
        assert [dv.Value.Value for dv in values] == [0.0]
    finally:
        await history.stop()


def _old_database(path: Path, rows: int, nodes: int, now: float) -> None:
    """A history as the first schema left it (no index on source_ts), two hours of values of
    ``nodes`` variables: the older hour past a one-hour retention."""
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE value_history (node TEXT NOT NULL, source_ts REAL NOT NULL,"
        " server_ts REAL NOT NULL, status INTEGER NOT NULL, variant BLOB NOT NULL)"
    )
    db.execute("CREATE INDEX value_history_node_ts ON value_history (node, source_ts)")
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)"
        " INSERT INTO value_history SELECT 'ns=2;i=' || (i % ?), ? - 7200.0 + i * 7200.0 / ?,"
        " 0, 0, x'0b000000000000f03f' FROM n",
        (rows, nodes, now, rows),
    )
    db.commit()
    db.close()


async def test_pruning_a_large_history_never_stalls_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    now = float(int(dt.datetime.now(dt.UTC).timestamp()))  # whole: the cut is exact
    rows, nodes = 600_000, 50
    _old_database(path, rows, nodes, now)
    history = SqliteHistory(
        path,
        retention_s=3600.0,
        max_values=rows // nodes,
        max_events=10,
        flush_s=0.02,
        now=lambda: now,
    )
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.002)
            t = time.monotonic()
            gaps.append(t - last)
            last = t

    ticking = asyncio.create_task(ticker())
    recorded = 0
    try:
        await history.init()  # adds the index, prunes (MAX_CHUNKS chunks)
        node = ua.NodeId("1", 2)
        while True:  # the background task flushes every 20 ms too, each with new values
            history.record_value(node, ua.Variant(1.0), dt.datetime.now(dt.UTC))
            recorded += 1
            if await history._flush() < MAX_CHUNKS:  # nothing left to prune
                break
    finally:
        stop.set()
        await ticking
        await history.stop()
    # the loop keeps turning while the chunks are pruned on the writer's thread: a loaded CI
    # machine may pause a process now and then, so most turns, not every one, within 50 ms
    gaps.sort()
    assert gaps[int(0.95 * len(gaps))] < 0.05, gaps[int(0.95 * len(gaps)) :]
    assert gaps[-1] < 0.5, gaps[-1]
    db = sqlite3.connect(path)
    oldest = db.execute("SELECT MIN(source_ts) FROM value_history").fetchone()[0]
    plan = db.execute(
        "EXPLAIN QUERY PLAN SELECT rowid FROM value_history WHERE source_ts < ?", (now,)
    ).fetchall()
    old = db.execute("SELECT COUNT(*) FROM value_history WHERE node LIKE 'ns=2;i=%'").fetchone()
    left = db.execute(
        "SELECT COUNT(*) FROM value_history WHERE node = ?", (node.to_string(),)
    ).fetchone()
    db.close()
    assert oldest >= now - 3600.0  # the old hour is gone, chunk by chunk
    assert "value_history_ts" in str(plan)
    assert recorded > 1  # more than one flush's chunks to prune
    assert old[0] == rows // 2  # the recent hour, whole
    assert left[0] == recorded
