"""Historical access backed by SQLite, with bounded retention.

Values and events are buffered in memory and written in one transaction per flush (every
``flush_s``), not one commit per value. Retention is bounded twice: rows older than
``retention_s`` are deleted at each flush, and each variable keeps at most ``max_values`` rows
(events: ``max_events``), enforced periodically. Timestamps are wall-clock UTC.

Implements asyncua's ``HistoryStorageInterface``; the server records values and events
directly (``record_value`` / ``record_event``) rather than through internal subscriptions.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.common.events import Event
from asyncua.common.utils import Buffer
from asyncua.server.history import HistoryStorageInterface
from asyncua.ua.ua_binary import variant_from_binary, variant_to_binary

from opcua_server.folders import private_folders
from twin.aio import cancel_and_wait

__all__ = ["SqliteHistory"]

_log = logging.getLogger(__name__)
_EPOCH = ua.get_win_epoch()
_ALL_SOURCES = "*"
_COUNT_PRUNE_EVERY = 30  # flushes


def _ts(value: datetime | None) -> float | None:
    if value is None or value <= _EPOCH:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class SqliteHistory(HistoryStorageInterface):
    """SQLite history of variable values and events (see module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        retention_s: float,
        max_values: int,
        max_events: int,
        flush_s: float = 1.0,
        max_response: int = 10_000,
    ) -> None:
        self.max_history_data_response_size = max_response
        self._path = path
        self._retention_s = retention_s
        self._max_values = max_values
        self._max_events = max_events
        self._flush_s = flush_s
        self._db: sqlite3.Connection | None = None
        self._values: list[tuple[str, float, float, int, bytes]] = []
        self._events: list[tuple[str, float, str, bytes]] = []
        self._task: asyncio.Task[None] | None = None
        self._flushes = 0
        self._event_sources: dict[str, str] = {}  # emitter node -> source filter

    # -- lifecycle ------------------------------------------------------------------------------
    async def init(self) -> None:
        private_folders(self._path.parent, [])  # 0700, as the pki and the users file
        db = sqlite3.connect(self._path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS value_history (node TEXT NOT NULL, source_ts REAL NOT NULL,"
            " server_ts REAL NOT NULL, status INTEGER NOT NULL, variant BLOB NOT NULL)"
        )
        db.execute(
            "CREATE INDEX IF NOT EXISTS value_history_node_ts ON value_history (node, source_ts)"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS event_history (source TEXT NOT NULL, ts REAL NOT NULL,"
            " event_type TEXT NOT NULL, fields BLOB NOT NULL)"
        )
        db.execute("CREATE INDEX IF NOT EXISTS event_history_ts ON event_history (ts)")
        self._db = db
        self._prune(counts=True)
        self._task = asyncio.create_task(self._run(), name="opcua-history-flush")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self._db is not None:
            self.flush()
            self._db.close()
            self._db = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            try:
                self.flush()
            except sqlite3.Error:
                _log.exception("history flush failed")

    # -- recording ------------------------------------------------------------------------------
    def record_value(self, node: ua.NodeId, value: ua.Variant, source: datetime) -> None:
        """Buffer one value (written at the next flush)."""
        t = source.timestamp()
        self._values.append((node.to_string(), t, t, 0, variant_to_binary(value)))

    def record_values(self, rows: list[tuple[str, float, bytes, int]]) -> None:
        """Buffer many values: (node id string, source timestamp seconds, variant binary,
        StatusCode value)."""
        self._values.extend((n, t, t, status, b) for n, t, b, status in rows)

    def record_event(self, source: ua.NodeId, event: Event) -> None:
        fields = {
            key: ua.Variant(value, event.data_types[key])
            for key, value in vars(event).items()
            if value is not None
            and not key.startswith("__")
            and key in event.data_types
            and key not in event.internal_properties
        }
        blob = bytearray()
        for name in sorted(fields):
            encoded = name.encode()
            body = variant_to_binary(fields[name])
            blob += len(encoded).to_bytes(2, "little") + encoded
            blob += len(body).to_bytes(4, "little") + body
        t = _ts(getattr(event, "Time", None)) or datetime.now(UTC).timestamp()
        etype = getattr(event, "EventType", ua.NodeId())
        self._events.append((source.to_string(), t, etype.to_string(), bytes(blob)))

    def flush(self) -> None:
        """Write buffered rows in one transaction, then apply the retention bounds."""
        db = self._db
        if db is None:
            return
        values, self._values = self._values, []
        events, self._events = self._events, []
        if values or events:
            with db:
                db.execute("BEGIN")
                db.executemany("INSERT INTO value_history VALUES (?, ?, ?, ?, ?)", values)
                db.executemany("INSERT INTO event_history VALUES (?, ?, ?, ?)", events)
        self._flushes += 1
        self._prune(counts=self._flushes % _COUNT_PRUNE_EVERY == 0)

    def _prune(self, counts: bool) -> None:
        db = self._db
        assert db is not None
        limit = datetime.now(UTC).timestamp() - self._retention_s
        with db:
            db.execute("BEGIN")
            db.execute("DELETE FROM value_history WHERE source_ts < ?", (limit,))
            db.execute("DELETE FROM event_history WHERE ts < ?", (limit,))
            if counts:
                over = db.execute(
                    "SELECT node FROM value_history GROUP BY node HAVING COUNT(*) > ?",
                    (self._max_values,),
                ).fetchall()
                for (node,) in over:
                    db.execute(
                        "DELETE FROM value_history WHERE node = ? AND rowid <= (SELECT rowid FROM"
                        " value_history WHERE node = ? ORDER BY rowid DESC LIMIT 1 OFFSET ?)",
                        (node, node, self._max_values),
                    )
                db.execute(
                    "DELETE FROM event_history WHERE rowid <= (SELECT rowid FROM event_history"
                    " ORDER BY rowid DESC LIMIT 1 OFFSET ?)",
                    (self._max_events,),
                )

    def set_event_scope(self, emitter: ua.NodeId, source: ua.NodeId | None) -> None:
        """HistoryRead of events on ``emitter`` returns events of ``source`` (None: all)."""
        self._event_sources[emitter.to_string()] = source.to_string() if source else _ALL_SOURCES

    def count_values(self, node: ua.NodeId) -> int:
        self.flush()
        assert self._db is not None
        row = self._db.execute(
            "SELECT COUNT(*) FROM value_history WHERE node = ?", (node.to_string(),)
        ).fetchone()
        return int(row[0])

    # -- HistoryStorageInterface ----------------------------------------------------------------
    async def new_historized_node(self, node_id: ua.NodeId, period: Any, count: int = 0) -> None:
        return None

    async def save_node_value(self, node_id: ua.NodeId, datavalue: ua.DataValue) -> None:
        src = datavalue.SourceTimestamp or datetime.now(UTC)
        self.record_value(node_id, datavalue.Value, src)

    async def new_historized_event(
        self, source_id: ua.NodeId, evtypes: Any, period: Any, count: int = 0
    ) -> None:
        return None

    async def save_event(self, event: Event) -> None:
        self.record_event(event.SourceNode, event)

    @staticmethod
    def _bounds(
        start: datetime | None, end: datetime | None, nb_values: int, cap: int
    ) -> tuple[float, float, bool, int]:
        s, e = _ts(start), _ts(end)
        backward = (s is None and e is not None) or (s is not None and e is not None and s > e)
        if s is not None and e is not None and s > e:
            s, e = e, s
        limit = min(nb_values, cap) if nb_values > 0 else cap
        return (s if s is not None else 0.0), (e if e is not None else 1e18), backward, limit

    async def read_node_history(
        self, node_id: ua.NodeId, start: datetime | None, end: datetime | None, nb_values: int
    ) -> tuple[list[ua.DataValue], datetime | None]:
        self.flush()
        assert self._db is not None
        lo, hi, backward, limit = self._bounds(
            start, end, nb_values, self.max_history_data_response_size
        )
        order = "DESC" if backward else "ASC"
        # only fixed keywords are formatted in; values are bound parameters
        rows = self._db.execute(
            "SELECT source_ts, server_ts, status, variant FROM value_history WHERE node = ?"  # noqa: S608
            f" AND source_ts BETWEEN ? AND ? ORDER BY source_ts {order}, rowid {order} LIMIT ?",
            (node_id.to_string(), lo, hi, limit + 1),
        ).fetchall()
        out = [
            ua.DataValue(
                variant_from_binary(Buffer(blob)),
                StatusCode=ua.StatusCode(status),
                SourceTimestamp=_dt(src),
                ServerTimestamp=_dt(srv),
            )
            for src, srv, status, blob in rows[:limit]
        ]
        cont = _dt(rows[limit][0]) if len(rows) > limit else None
        return out, cont

    async def read_event_history(
        self,
        source_id: ua.NodeId,
        start: datetime | None,
        end: datetime | None,
        nb_values: int,
        evfilter: Any,
    ) -> tuple[list[Event], datetime | None]:
        self.flush()
        assert self._db is not None
        lo, hi, backward, limit = self._bounds(
            start, end, nb_values, self.max_history_data_response_size
        )
        order = "DESC" if backward else "ASC"
        scope = self._event_sources.get(source_id.to_string(), source_id.to_string())
        where = "" if scope == _ALL_SOURCES else "source = ? AND "
        args: tuple[Any, ...] = () if scope == _ALL_SOURCES else (scope,)
        # only fixed clauses are formatted in; values are bound parameters
        rows = self._db.execute(
            f"SELECT ts, fields FROM event_history WHERE {where}ts BETWEEN ? AND ?"  # noqa: S608
            f" ORDER BY ts {order}, rowid {order} LIMIT ?",
            (*args, lo, hi, limit + 1),
        ).fetchall()
        events = [Event.from_field_dict(_decode_fields(blob)) for _, blob in rows[:limit]]
        cont = _dt(rows[limit][0]) if len(rows) > limit else None
        return events, cont


def _decode_fields(blob: bytes) -> dict[str, ua.Variant]:
    out: dict[str, ua.Variant] = {}
    i = 0
    while i < len(blob):
        n = int.from_bytes(blob[i : i + 2], "little")
        name = blob[i + 2 : i + 2 + n].decode()
        i += 2 + n
        m = int.from_bytes(blob[i : i + 4], "little")
        out[name] = variant_from_binary(Buffer(blob[i + 4 : i + 4 + m]))
        i += 4 + m
    return out
