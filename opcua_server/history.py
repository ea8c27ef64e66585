"""Historical access backed by SQLite, with bounded retention, served off the event loop.

Values and events are buffered in memory and written in one transaction per flush (every
``flush_s``), not one commit per value. All SQLite work runs on two worker threads with their
own connections (``history_store``): a writer (inserts, pruning) and a reader (HistoryRead
pages), so a large read or a prune never stalls the server's other clients. A page holds at
most ``max_response`` rows and what the reader decodes in ``page_s`` seconds; its continuation
point names a unique (timestamp, rowid) position, so rows sharing a timestamp are neither
repeated nor lost across pages.

Retention is bounded twice: rows older than ``retention_s`` *on the twin's time axis* (its
source timestamps run ahead of the wall clock at speed > 1, behind it below 1 or after a
pause; see ``now``) and more than
``max_values`` rows per variable (events: ``max_events``) are deleted after each flush, in
bounded chunks through indexes.

A HistoryRead request is bounded as a whole too (``serve``): at most ``max_nodes`` nodes
(BadTooManyOperations beyond, OPC 10000-4 5.10.3), and at most ``max_response`` rows and
``request_s`` seconds of reading for all of them; a node the request has no rows or time
left for gets no values and a continuation point to read them from.

Implements asyncua's ``HistoryStorageInterface``; the server records values and events
directly (``record_value`` / ``record_event``) rather than through internal subscriptions.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from asyncua import ua
from asyncua.common.events import Event
from asyncua.server.history import HistoryStorageInterface
from asyncua.server.internal_session import ServiceError
from asyncua.ua.ua_binary import variant_to_binary

from opcua_server.folders import private_folders
from opcua_server.history_filter import compile_where
from opcua_server.history_points import ContinuationPoints, unpack_point
from opcua_server.history_store import Cursor, Page, Writer, open_db, read_events, read_values
from twin.aio import cancel_and_wait
from twin.clock import Clock, SystemClock

__all__ = ["SqliteHistory"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_EPOCH = ua.get_win_epoch()
_ALL_SOURCES = "*"


@dataclass(slots=True)
class _Budget:
    """What the HistoryRead request being served may still read."""

    rows: int
    deadline: float  # clock.monotonic()


#: the budget of the HistoryRead request being served (None: no request, e.g. a test)
_BUDGET: ContextVar[_Budget | None] = ContextVar("_BUDGET", default=None)


def _ts(value: datetime | None) -> float | None:
    if value is None or value <= _EPOCH:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _attribute(aspace: Any, node: ua.NodeId, attribute: ua.AttributeIds) -> Any:
    value = aspace.read_attribute_value(node, attribute)
    return value.Value.Value if value.Value is not None else None


class _Prepared(Event):
    """An event read back from the history as the field list of its read's select clauses,
    computed on the reader thread (the HistoryManager then only asks for that list)."""

    def __init__(self, fields: list[ua.Variant]) -> None:  # no Event state needed
        self._fields = fields

    def to_event_fields(self, select_clauses: list[ua.SimpleAttributeOperand]) -> list[ua.Variant]:
        return self._fields


def _clause_name(clause: ua.SimpleAttributeOperand) -> str | None:
    if clause.BrowsePath:
        return "/".join(q.Name for q in clause.BrowsePath)
    try:
        return ua.AttributeIds(clause.AttributeId).name
    except ValueError:
        return None


class SqliteHistory(HistoryStorageInterface):
    """SQLite history of variable values and events (see module docstring).

    ``now``: the twin's current time in epoch seconds (the source timestamps' axis), which
    retention counts back from; by default the wall clock (``clock.wall``), right only for a
    history recorded in real time. ``clock``: its ``monotonic`` times a page's decoding
    (default: the machine's, as the server leaves it: a real-time bound, which a test's
    hand-driven clock would lift). ``subtypes(t)``: the event type ``t`` and its subtypes, for
    the OfType of a read's where clause (default: ``t`` alone; the server passes its address
    space's, ``lookups.subtypes_of``); the where clause is applied (``history_filter``).
    ``page_s`` and ``max_history_data_response_size`` apply from the next page on.
    ``max_nodes`` and ``request_s`` bound a request (``serve``). A session keeps at most
    ``points_per_session`` continuation points (at least ``max_nodes``: one request may need
    one per node), its oldest freed beyond (``history_points``). Raises
    ``ua.UaStatusCodeError`` (BadContinuationPointInvalid) for a continuation point it no
    longer knows (forgotten, another session's, or from before a restart)."""

    def __init__(
        self,
        path: Path,
        *,
        retention_s: float,
        max_values: int,
        max_events: int,
        flush_s: float = 1.0,
        max_response: int = 10_000,
        page_s: float = 0.05,
        max_nodes: int = 100,
        points_per_session: int = 100,
        request_s: float = 0.25,
        now: Callable[[], float] | None = None,
        clock: Clock | None = None,
        subtypes: Callable[[ua.NodeId], frozenset[ua.NodeId]] | None = None,
    ) -> None:
        self.max_history_data_response_size = max_response
        self._path = path
        self._retention_s = retention_s
        self._max_values = max_values
        self._max_events = max_events
        self._flush_s = flush_s
        self.page_s = page_s
        self.max_nodes = max_nodes
        self.request_s = request_s
        self._clock: Clock = clock or SystemClock()
        self._now = now or (lambda: self._clock.wall().timestamp())
        self._subtypes = subtypes or (lambda base: frozenset((base,)))
        self._writer: Writer | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_thread: ThreadPoolExecutor | None = None
        self._read_thread: ThreadPoolExecutor | None = None
        self._values: list[tuple[str, float, float, int, bytes]] = []
        self._events: list[tuple[str, float, str, bytes]] = []
        self._task: asyncio.Task[None] | None = None
        self._event_sources: dict[str, str] = {}  # emitter node -> source filter
        self.points = ContinuationPoints(max(points_per_session, max_nodes))

    # -- lifecycle ------------------------------------------------------------------------------
    async def init(self) -> None:
        private_folders(self._path.parent, [])  # 0700, as the pki and the users file
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="opcua-history-write")
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="opcua-history-read")
        make = partial(
            Writer,
            self._path,
            retention_s=self._retention_s,
            max_values=self._max_values,
            max_events=self._max_events,
        )
        # an older database gets its new indexes here, once, before the server serves
        self._writer = await self._on(self._write_thread, make)
        self._reader = await self._on(self._read_thread, partial(open_db, self._path))
        await self._flush()  # prunes what the bounds exclude now (no rows are buffered yet)
        self._task = asyncio.create_task(self._run(), name="opcua-history-flush")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        writer, reader = self._writer, self._reader
        if writer is not None and self._write_thread is not None:
            await self._flush()
            await self._on(self._write_thread, writer.close)
            self._write_thread.shutdown()
        if reader is not None and self._read_thread is not None:
            await self._on(self._read_thread, reader.close)
            self._read_thread.shutdown()
        self._writer = self._reader = None
        self._write_thread = self._read_thread = None

    @staticmethod
    async def _on(thread: ThreadPoolExecutor, call: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(thread, call)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            try:
                await self._flush()
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

    def _take(self) -> Callable[[], int] | None:
        writer = self._writer
        if writer is None:
            return None
        values, self._values = self._values, []
        events, self._events = self._events, []
        return partial(writer.write, values, events, self._now())

    async def _flush(self) -> int:
        """Write the buffered rows and prune, on the writer thread; returns how many chunks
        were pruned (``MAX_CHUNKS``: there may be more, left to the next flush)."""
        call = self._take()
        if call is not None and self._write_thread is not None:
            return await self._on(self._write_thread, call)
        return 0

    def flush(self) -> None:
        """``_flush``, waited for synchronously, blocking the event loop (tests only)."""
        call = self._take()
        if call is not None and self._write_thread is not None:
            self._write_thread.submit(call).result()

    def _reading(self) -> tuple[sqlite3.Connection, ThreadPoolExecutor]:
        if self._reader is None or self._read_thread is None:
            raise RuntimeError("history read before init() or after stop()")
        return self._reader, self._read_thread

    def set_event_scope(self, emitter: ua.NodeId, source: ua.NodeId | None) -> None:
        """HistoryRead of events on ``emitter`` returns events of ``source`` (None: all)."""
        self._event_sources[emitter.to_string()] = source.to_string() if source else _ALL_SOURCES

    async def mark_notifiers(self, aspace: Any) -> None:
        """Every node whose events are read here (``set_event_scope``) says so: the
        HistoryRead bit of its EventNotifier, beside SubscribeToEvents (asyncua's event
        generators set that bit alone on their emitters, the Server object included)."""
        bits = ua.EventNotifier.SubscribeToEvents.mask | ua.EventNotifier.HistoryRead.mask
        value = ua.DataValue(ua.Variant(bits, ua.VariantType.Byte))
        for emitter in self._event_sources:
            await aspace.write_attribute_value(
                ua.NodeId.from_string(emitter), ua.AttributeIds.EventNotifier, value
            )

    def count_values(self, node: ua.NodeId) -> int:
        """How many values of ``node`` are stored (after a flush)."""
        self.flush()
        reader, thread = self._reading()
        sql = "SELECT COUNT(*) FROM value_history WHERE node = ?"
        call = partial(reader.execute, sql, (node.to_string(),))
        return int(thread.submit(lambda: call().fetchone()[0]).result())

    def serve(self, manager: Any) -> None:
        """Serve the HistoryRead requests of asyncua's history ``manager``: bounded (see the
        module), node by node through its ``_read_history`` (asyncua 1.1-2.x), each node's
        error in its own result (``_read_one``)."""

        async def bounded(params: ua.HistoryReadParameters) -> list[ua.HistoryReadResult]:
            nodes = len(params.NodesToRead)
            if nodes > self.max_nodes:
                _log.warning(
                    "refused a HistoryRead of %d nodes (at most %d per request)",
                    nodes,
                    self.max_nodes,
                )
                raise ServiceError(ua.StatusCodes.BadTooManyOperations)
            # at least one page's time: a node is never cut shorter than it would be alone
            deadline = self._clock.monotonic() + max(self.request_s, self.page_s)
            token = _BUDGET.set(_Budget(self.max_history_data_response_size, deadline))
            try:
                return [await self._read_one(manager, params, rv) for rv in params.NodesToRead]
            finally:
                _BUDGET.reset(token)

        manager.read_history = bounded

    async def _read_one(
        self, manager: Any, params: ua.HistoryReadParameters, rv: ua.HistoryReadValueId
    ) -> ua.HistoryReadResult:
        """One node of a HistoryRead, its errors in its own result (OPC 10000-4, 5.10.3: an
        operation-level status), never a fault of the whole request: a continuation point
        this server did not issue (or no longer knows, e.g. after a restart), a node with no
        history, a where clause it cannot evaluate."""
        details = params.HistoryReadDetails
        status = self._refusal(manager, details, rv)
        if status is not None:
            return ua.HistoryReadResult(StatusCode=ua.StatusCode(status))
        if params.ReleaseContinuationPoints and rv.ContinuationPoint:
            # the client is done with that read: released, nothing read (a node with no point
            # is read: asyncua's HistoryReadParameters release by default, and a first read
            # has nothing to release)
            self.points.take(unpack_point(rv.ContinuationPoint))
            return ua.HistoryReadResult()
        try:
            result: ua.HistoryReadResult = await manager._read_history(details, rv)
        except ua.UaStatusCodeError as exc:
            return ua.HistoryReadResult(StatusCode=ua.StatusCode(exc.code))
        return result

    def _refusal(self, manager: Any, details: Any, rv: ua.HistoryReadValueId) -> int | None:
        """Why ``rv`` cannot be read (a status code), or None."""
        if rv.ContinuationPoint:
            at = unpack_point(rv.ContinuationPoint)
            if at is None or self.points.get(at) is None:
                return ua.StatusCodes.BadContinuationPointInvalid
        aspace = manager.iserver.aspace
        if aspace.get(rv.NodeId) is None:
            return ua.StatusCodes.BadNodeIdUnknown
        if isinstance(details, ua.ReadEventDetails):
            notifier = _attribute(aspace, rv.NodeId, ua.AttributeIds.EventNotifier)
            if not isinstance(notifier, int) or not notifier & ua.EventNotifier.HistoryRead.mask:
                return ua.StatusCodes.BadHistoryOperationUnsupported
        elif isinstance(details, ua.ReadRawModifiedDetails):
            access = _attribute(aspace, rv.NodeId, ua.AttributeIds.AccessLevel)
            if not isinstance(access, int) or not access & ua.AccessLevel.HistoryRead.mask:
                return ua.StatusCodes.BadHistoryOperationUnsupported
        return None

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

    def _continuation(self, page: Page, after: Cursor | None) -> datetime | None:
        return None if after is None else self.points.keep(replace(page, cursor=after))

    def _bounds(self, start: datetime | None, end: datetime | None, nb_values: int) -> Page:
        cap = self.max_history_data_response_size
        limit = min(nb_values, cap) if nb_values > 0 else cap
        found = self.points.take(start)
        if found is not None:  # the read's own bounds, as its first page had them
            return replace(found, limit=limit)
        s, e = _ts(start), _ts(end)
        backward = (s is None and e is not None) or (s is not None and e is not None and s > e)
        if s is not None and e is not None and s > e:
            s, e = e, s
        lo, hi = (s if s is not None else 0.0), (e if e is not None else 1e18)
        return Page(lo, hi, None, backward, limit, self.page_s)

    async def _page(
        self,
        start: datetime | None,
        end: datetime | None,
        nb_values: int,
        read: Callable[
            [sqlite3.Connection, Page, Callable[[], float]], tuple[list[_T], Cursor | None]
        ],
    ) -> tuple[list[_T], datetime | None]:
        """One page of ``read`` (``read_values`` or ``read_events``) on the reader thread, with
        the continuation point of the next one; within the request's budget (``serve``): none
        left, no rows and a continuation point of the same page."""
        page = self._bounds(start, end, nb_values)
        budget, part = _BUDGET.get(), page
        if budget is not None:
            left_s = budget.deadline - self._clock.monotonic()
            if budget.rows <= 0 or left_s <= 0:
                return [], self.points.keep(page)
            part = replace(
                page, limit=min(page.limit, budget.rows), budget_s=min(page.budget_s, left_s)
            )
        await self._flush()
        reader, thread = self._reading()
        rows, after = await self._on(thread, partial(read, reader, part, self._clock.monotonic))
        if budget is not None:
            budget.rows -= len(rows)
        return rows, self._continuation(page, after)  # the next page: the read's own bounds

    async def read_node_history(
        self, node_id: ua.NodeId, start: datetime | None, end: datetime | None, nb_values: int
    ) -> tuple[list[ua.DataValue], datetime | None]:
        read = partial(read_values, node=node_id.to_string())
        return await self._page(start, end, nb_values, read)

    async def read_event_history(
        self,
        source_id: ua.NodeId,
        start: datetime | None,
        end: datetime | None,
        nb_values: int,
        evfilter: Any,
    ) -> tuple[list[Event], datetime | None]:
        scope = self._event_sources.get(source_id.to_string(), source_id.to_string())
        clauses = list(getattr(evfilter, "SelectClauses", None) or [])
        where = compile_where(getattr(evfilter, "WhereClause", None), self._subtypes)
        read = partial(
            read_events,
            source=None if scope == _ALL_SOURCES else scope,
            names=[_clause_name(c) for c in clauses],
            where=where,
        )
        rows, after = await self._page(start, end, nb_values, read)
        events: list[Event] = [_Prepared(fields) for fields in rows]
        return events, after
