"""The SQLite side of the OPC UA history: schema, batched writes, bounded pruning, paged reads.

Everything here is synchronous and runs on one of ``SqliteHistory``'s worker threads, each with
its own connection (WAL: a reader runs beside the writer), never on the event loop. Pages are
bounded in rows and in time, and continue from a ``Cursor`` (timestamp, rowid): unique even
when thousands of rows share a timestamp, and stable while rows are added or pruned.
Pruning deletes in chunks of ``CHUNK`` rows through indexes on the timestamps, at most
``MAX_CHUNKS`` chunks per flush (the rest at the next flush), so the write lock is held briefly.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from asyncua import ua
from asyncua.common.utils import Buffer
from asyncua.ua.ua_binary import variant_from_binary

__all__ = [
    "CHUNK",
    "MAX_CHUNKS",
    "Cursor",
    "Page",
    "Writer",
    "decode_fields",
    "open_db",
    "read_events",
    "read_values",
]

CHUNK = 2_000  # rows per delete transaction
MAX_CHUNKS = 50  # delete transactions per flush
_CHECK_EVERY = 64  # rows between checks of a page's time budget

_R = TypeVar("_R")
ValueRow = tuple[str, float, float, int, bytes]
EventRow = tuple[str, float, str, bytes]


@dataclass(frozen=True)
class Cursor:
    """Where the next page of a read starts: just after the row (``ts``, ``rowid``) in the
    read's order (``backward``: newest first)."""

    ts: float
    rowid: int
    backward: bool


@dataclass(frozen=True)
class Page:
    """What one page of a read covers: rows between ``lo`` and ``hi`` (epoch seconds) after
    ``cursor`` (None: from the start), newest first when ``backward``, at most ``limit`` of them
    and what is decoded in ``budget_s`` seconds."""

    lo: float
    hi: float
    cursor: Cursor | None
    backward: bool
    limit: int
    budget_s: float


def open_db(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode (readers do not wait for the writer), autocommit."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS value_history (node TEXT NOT NULL, source_ts REAL NOT NULL,"
    " server_ts REAL NOT NULL, status INTEGER NOT NULL, variant BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS value_history_node_ts ON value_history (node, source_ts)",
    # retention deletes by time (added later: created on first open of an older database)
    "CREATE INDEX IF NOT EXISTS value_history_ts ON value_history (source_ts)",
    "CREATE TABLE IF NOT EXISTS event_history (source TEXT NOT NULL, ts REAL NOT NULL,"
    " event_type TEXT NOT NULL, fields BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS event_history_ts ON event_history (ts)",
    "CREATE INDEX IF NOT EXISTS event_history_source_ts ON event_history (source, ts)",
)


class Writer:
    """The write connection and the retention bounds; used from one thread only.

    Keeps the row count of every variable and of the events in memory (counted once at open),
    so the count bound costs nothing until a variable is over it."""

    def __init__(self, path: Path, *, retention_s: float, max_values: int, max_events: int):
        self.retention_s = retention_s
        self.max_values = max_values
        self.max_events = max_events
        self.db = open_db(path)
        for statement in _SCHEMA:
            self.db.execute(statement)
        self.counts: Counter[str] = Counter(
            dict(self.db.execute("SELECT node, COUNT(*) FROM value_history GROUP BY node"))
        )
        self.events = int(self.db.execute("SELECT COUNT(*) FROM event_history").fetchone()[0])

    def close(self) -> None:
        self.db.close()

    def write(self, values: list[ValueRow], events: list[EventRow], now: float | None) -> int:
        """Insert the rows in one transaction, then prune (``now``: the twin's time in epoch
        seconds, None: no time bound this flush); returns ``prune``'s count."""
        if values or events:
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany("INSERT INTO value_history VALUES (?, ?, ?, ?, ?)", values)
                self.db.executemany("INSERT INTO event_history VALUES (?, ?, ?, ?)", events)
            self.counts.update(row[0] for row in values)
            self.events += len(events)
        return self.prune(now)

    def prune(self, now: float | None) -> int:
        """Apply both bounds, at most ``MAX_CHUNKS`` deletes of ``CHUNK`` rows; returns how many
        deletes ran (``MAX_CHUNKS``: there may be more to delete)."""
        budget = MAX_CHUNKS
        if now is not None:
            limit = now - self.retention_s
            budget = self._prune_old_values(limit, budget)
            budget = self._delete_events("WHERE ts < ?", (limit,), budget)
        for node in [n for n, c in self.counts.items() if c > self.max_values]:
            budget = self._prune_node(node, budget)
        excess = self.events - self.max_events
        if excess > 0:
            budget = self._delete_events("ORDER BY ts, rowid", (), budget, excess)
        return MAX_CHUNKS - budget

    def _prune_old_values(self, limit: float, budget: int) -> int:
        while budget > 0:
            rows = self.db.execute(
                "SELECT rowid, node FROM value_history WHERE source_ts < ? LIMIT ?", (limit, CHUNK)
            ).fetchall()
            if not rows:
                break
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany(
                    "DELETE FROM value_history WHERE rowid = ?", [(r,) for r, _ in rows]
                )
            self.counts.subtract(node for _, node in rows)
            budget -= 1
            if len(rows) < CHUNK:
                break
        return budget

    def _prune_node(self, node: str, budget: int) -> int:
        while budget > 0 and self.counts[node] > self.max_values:
            n = min(self.counts[node] - self.max_values, CHUNK)
            with self.db:
                self.db.execute("BEGIN")
                deleted = self.db.execute(
                    "DELETE FROM value_history WHERE rowid IN (SELECT rowid FROM value_history"
                    " WHERE node = ? ORDER BY source_ts, rowid LIMIT ?)",
                    (node, n),
                ).rowcount
            self.counts[node] -= deleted
            budget -= 1
            if deleted < n:  # the count was off (another writer?): trust the table
                self.counts[node] = int(
                    self.db.execute(
                        "SELECT COUNT(*) FROM value_history WHERE node = ?", (node,)
                    ).fetchone()[0]
                )
        return budget

    def _delete_events(
        self, clause: str, args: tuple[float, ...], budget: int, total: int | None = None
    ) -> int:
        while budget > 0 and (total is None or total > 0):
            n = CHUNK if total is None else min(total, CHUNK)
            with self.db:
                self.db.execute("BEGIN")
                # only the fixed clauses above are formatted in; values are bound parameters
                deleted = self.db.execute(
                    "DELETE FROM event_history WHERE rowid IN (SELECT rowid"  # noqa: S608
                    f" FROM event_history {clause} LIMIT ?)",
                    (*args, n),
                ).rowcount
            self.events -= deleted
            budget -= 1
            if total is not None:
                total -= deleted
            if deleted < n:
                break
        return budget


def _page_sql(table: str, ts: str, key: str | None, page: Page) -> str:
    where = f"{key} = ? AND " if key else ""
    order = "DESC" if page.backward else "ASC"
    after = ""
    if page.cursor is not None:
        after = (
            f" AND ({ts} < ? OR rowid < ?)" if page.backward else f" AND ({ts} > ? OR rowid > ?)"
        )
    return (
        f"SELECT rowid, * FROM {table} WHERE {where}{ts} BETWEEN ? AND ?{after}"  # noqa: S608
        f" ORDER BY {ts} {order}, rowid {order} LIMIT ?"
    )


def _page_args(key: str | None, page: Page) -> tuple[object, ...]:
    head: tuple[object, ...] = (key,) if key is not None else ()
    cursor, limit = page.cursor, page.limit
    if cursor is None:
        return (*head, page.lo, page.hi, limit + 1)
    if page.backward:  # the cursor's timestamp bounds the range: the index is used from there
        return (*head, page.lo, cursor.ts, cursor.ts, cursor.rowid, limit + 1)
    return (*head, cursor.ts, page.hi, cursor.ts, cursor.rowid, limit + 1)


def _paged(
    rows: sqlite3.Cursor,
    page: Page,
    monotonic: Callable[[], float],
    convert: Callable[[tuple[Any, ...]], _R | None],
) -> tuple[list[_R], Cursor | None]:
    """Up to ``page.limit`` rows converted (those ``convert`` returns None for left out), fewer
    once ``page.budget_s`` has passed on ``monotonic`` (the server's clock); the cursor after
    the last row looked at when there are more (rows are (rowid, ..., ts at index 2, ...))."""
    deadline = monotonic() + page.budget_s
    out: list[_R] = []
    last: tuple[Any, ...] | None = None
    for seen, row in enumerate(rows):
        if last is not None and (
            len(out) >= page.limit or (seen % _CHECK_EVERY == 0 and monotonic() > deadline)
        ):
            return out, Cursor(float(last[2]), int(last[0]), page.backward)
        item = convert(row)
        if item is not None:  # None: a row the read's filter leaves out
            out.append(item)
        last = row
    return out, None


def _value(row: tuple[Any, ...]) -> ua.DataValue:
    _, _, src, srv, status, blob = row
    return ua.DataValue(
        variant_from_binary(Buffer(blob)),
        StatusCode=ua.StatusCode(status),
        SourceTimestamp=_dt(src),
        ServerTimestamp=_dt(srv),
    )


def read_values(
    db: sqlite3.Connection, page: Page, monotonic: Callable[[], float], *, node: str
) -> tuple[list[ua.DataValue], Cursor | None]:
    """One page of a variable's values."""
    rows = db.execute(_page_sql("value_history", "source_ts", "node", page), _page_args(node, page))
    return _paged(rows, page, monotonic, _value)


def read_events(
    db: sqlite3.Connection,
    page: Page,
    monotonic: Callable[[], float],
    *,
    source: str | None,
    names: list[str | None],
    where: tuple[set[str], Callable[[dict[str, ua.Variant]], bool] | None] = (set(), None),
) -> tuple[list[list[ua.Variant]], Cursor | None]:
    """One page of events (of ``source``, None: all) as their field lists for ``names`` (the
    select clauses' attribute names; None or absent: a null Variant), those ``where`` keeps
    (the fields its predicate reads and the predicate, ``history_filter.compile_where``; a
    page may then hold fewer rows than its limit and still continue). Only the selected and
    filtered fields are decoded."""
    sql = _page_sql("event_history", "ts", source and "source", page)
    filtered, keep = where
    args = _page_args(source, page)
    if keep is not None:  # the page's limit counts the rows kept: no bound on those looked at
        args = (*args[:-1], -1)
    rows = db.execute(sql, args)
    wanted = {n for n in names if n is not None} | filtered

    def convert(row: tuple[Any, ...]) -> list[ua.Variant] | None:
        fields = decode_fields(row[-1], wanted)
        if keep is not None and not keep(fields):
            return None
        return [fields[n] if n is not None and n in fields else _null() for n in names]

    return _paged(rows, page, monotonic, convert)


def _null() -> ua.Variant:
    return ua.Variant(None)


def decode_fields(blob: bytes, wanted: set[str] | None = None) -> dict[str, ua.Variant]:
    """The fields of a stored event (``wanted``: only those)."""
    out: dict[str, ua.Variant] = {}
    i = 0
    while i < len(blob):
        n = int.from_bytes(blob[i : i + 2], "little")
        name = blob[i + 2 : i + 2 + n].decode()
        i += 2 + n
        m = int.from_bytes(blob[i : i + 4], "little")
        if wanted is None or name in wanted:
            out[name] = variant_from_binary(Buffer(blob[i + 4 : i + 4 + m]))
        i += 4 + m
    return out


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
