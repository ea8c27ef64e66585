"""Continuation points of HistoryRead: the open reads of each session, and how they travel.

OPC 10000-4 7.9: a continuation point belongs to the session that got it; a server keeps a
number of them per session (``MaxHistoryContinuationPoints``, Server/ServerCapabilities) and,
when a new request of a session needs one beyond, frees that session's oldest; the points of
a closed session are freed. Before, the server kept 1,024 points for all sessions together,
so one client making points (a request that has used its row or time budget makes one for
each node left) pushed out the others', and any session could read on with a point another
had got.

``ContinuationPoints`` keeps them so: a point of another session is unknown to a session
(BadContinuationPointInvalid, as a point never issued); a session's points beyond
``per_session`` push out its own oldest; a closed session's are dropped when the next point
is kept. The session is ``sessions.SESSION``, set while a session's HistoryRead is served;
reads from inside the server (no session) share one set.

A point travels as a DateTime (asyncua's HistoryManager packs what the storage returns):
the n-th point is ``_BASE`` + n microseconds, a range no read of real data starts in (reads
from "the end of time" use 9999-12-31).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime, timedelta

from asyncua import ua
from asyncua.common.utils import Buffer
from asyncua.server.internal_session import SessionState

from opcua_server.history_store import Page
from opcua_server.sessions import SESSION

__all__ = ["ContinuationPoints", "unpack_point"]

_BASE = datetime(9998, 1, 1, tzinfo=UTC)
_SPAN_US = timedelta(days=365) // timedelta(microseconds=1)
_NO_SESSION = object()  # the owner of reads from inside the server


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _key(at: datetime) -> int | None:
    """The number of the point a DateTime ``at`` is (None: ``at`` is a time, not a point)."""
    offset = (_aware(at) - _BASE) // timedelta(microseconds=1)
    return offset if 0 <= offset < _SPAN_US else None


def unpack_point(point: bytes) -> datetime | None:
    """The DateTime a continuation point of this server packs (8 bytes), None for any other
    bytes (asyncua would read any 8 bytes of a longer one as a start time)."""
    if len(point) != 8:
        return None
    try:
        return _aware(ua.ua_binary.Primitives.DateTime.unpack(Buffer(point)))
    except (ValueError, OverflowError, OSError):
        return None


def _owner() -> object:
    session = SESSION.get()
    return _NO_SESSION if session is None else session


class ContinuationPoints:
    """The open reads (their next ``Page``) of each session, at most ``per_session`` each."""

    def __init__(self, per_session: int) -> None:
        if per_session < 1:
            raise ValueError(f"per_session: at least 1, not {per_session}")
        self.per_session = per_session
        self._pages: dict[int, tuple[object, Page]] = {}
        self._owned: dict[object, OrderedDict[int, None]] = {}
        self._last = 0

    def __len__(self) -> int:
        return len(self._pages)

    def keep(self, page: Page) -> datetime:
        """A new point of the calling session, reading ``page`` next."""
        self._drop_closed()
        owner = _owner()
        self._last = (self._last + 1) % _SPAN_US
        key = self._last
        self._forget(key)  # a point a year of microseconds old: the numbers went round
        self._pages[key] = (owner, page)
        owned = self._owned.setdefault(owner, OrderedDict())
        owned[key] = None
        while len(owned) > self.per_session:
            self._forget(next(iter(owned)))
        return _BASE + timedelta(microseconds=key)

    def get(self, at: datetime) -> Page | None:
        """The page the calling session's point ``at`` reads next, left open (None: not a
        point of this session, or no longer kept)."""
        key = _key(at)
        entry = None if key is None else self._pages.get(key)
        return entry[1] if entry is not None and entry[0] is _owner() else None

    def take(self, start: datetime | None) -> Page | None:
        """The page of the point ``start``, freed (None: ``start`` is a time or None).
        Raises ``ua.UaStatusCodeError`` (BadContinuationPointInvalid) for a point the calling
        session does not hold."""
        if start is None or (key := _key(start)) is None:
            return None
        page = self.get(start)
        if page is None:
            raise ua.UaStatusCodeError(ua.StatusCodes.BadContinuationPointInvalid)
        self._forget(key)
        return page

    def _forget(self, key: int) -> None:
        entry = self._pages.pop(key, None)
        if entry is not None:
            owned = self._owned[entry[0]]
            del owned[key]
            if not owned:
                del self._owned[entry[0]]

    def _drop_closed(self) -> None:
        closed = [
            owner for owner in self._owned if getattr(owner, "state", None) == SessionState.Closed
        ]
        for owner in closed:
            for key in list(self._owned[owner]):
                self._forget(key)
