"""Typed events and the EventBus that fans them out to subscribers.

Every event carries ``t`` (simulated seconds since scenario start) and its ``type`` name.
Subscribers are plain callables; the event log (JSON lines), the KPI collector and the
servers are all subscribers. Publication is synchronous and in order, so what a subscriber
sees is deterministic.
"""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from typing import IO, Any, ClassVar

import orjson

__all__ = [
    "EVENT_TYPES",
    "STATE_CODES",
    "CommandApplied",
    "Event",
    "EventBus",
    "EventLogWriter",
    "FaultCleared",
    "FaultRaised",
    "InspectionDone",
    "JobCancelled",
    "JobCompleted",
    "JobReleased",
    "JobScrapped",
    "JobStopped",
    "MachineStateChanged",
    "OperationFinished",
    "OperationStarted",
    "OrderReceived",
    "ToolChanged",
    "TransferFinished",
    "TransferStarted",
    "event_from_dict",
    "read_events",
]


@dataclass
class Event:
    """Base of all events; ``type`` is the stable name written to the log.

    Events are plain (dict-backed) dataclasses, treated as immutable by convention: a frozen
    slots dataclass costs ~1.2 us to create against ~0.25 us, and orjson serialises the
    dict-backed form ~5x faster. Subscribers must not modify the events they receive.
    """

    type: ClassVar[str] = "event"
    t: float

    def to_dict(self) -> dict[str, Any]:
        names, getter = _GETTERS[type(self)]
        d: dict[str, Any] = dict(zip(names, getter(self), strict=True))
        d["type"] = self.type
        return d


@dataclass
class OrderReceived(Event):
    type: ClassVar[str] = "order_received"
    job: str
    product: str
    due: float
    weight: float
    operations: int
    source: str  # "scenario" | "arrivals" | "api" | "remake"


@dataclass
class JobReleased(Event):
    type: ClassVar[str] = "job_released"
    job: str


@dataclass
class JobCompleted(Event):
    type: ClassVar[str] = "job_completed"
    job: str
    lead_time: float
    tardiness: float
    good: bool


@dataclass
class JobScrapped(Event):
    type: ClassVar[str] = "job_scrapped"
    job: str
    remake: str | None


@dataclass
class JobCancelled(Event):
    type: ClassVar[str] = "job_cancelled"
    job: str


@dataclass
class JobStopped(Event):
    """A job ended early by a command (ISA-95 Stop) after its step under way: ``operations``
    of its routing were done; it is not a finished product."""

    type: ClassVar[str] = "job_stopped"
    job: str
    lead_time: float
    operations: int


@dataclass
class OperationStarted(Event):
    type: ClassVar[str] = "operation_started"
    job: str
    op: int
    name: str
    machine: str
    planned: float
    rework: bool


@dataclass
class OperationFinished(Event):
    type: ClassVar[str] = "operation_finished"
    job: str
    op: int
    name: str
    machine: str
    planned: float
    actual: float
    good: bool
    aborted: bool


@dataclass
class InspectionDone(Event):
    type: ClassVar[str] = "inspection_done"
    job: str
    machine: str
    passed: bool
    deviation: float
    decision: str  # "pass" | "rework" | "scrap"


#: MachineryItemState -> state code (telemetry ``state_code``, adapters' state outputs);
#: orderable: higher is "more productive".
STATE_CODES = {"NotAvailable": 0, "OutOfService": 1, "NotExecuting": 2, "Executing": 3}


@dataclass
class MachineStateChanged(Event):
    """A machine's MachineryItemState (NotAvailable, OutOfService, NotExecuting, Executing)
    and MachineryOperationMode (None, Maintenance, Setup, Processing)."""

    type: ClassVar[str] = "machine_state"
    machine: str
    state: str
    mode: str
    job: str | None


@dataclass
class FaultRaised(Event):
    type: ClassVar[str] = "fault_raised"
    machine: str
    kind: str
    severity: int  # OPC UA severity 1..1000
    source: str  # "random" | "scenario" | "api"
    duration: float | None


@dataclass
class FaultCleared(Event):
    type: ClassVar[str] = "fault_cleared"
    machine: str
    kind: str


@dataclass
class ToolChanged(Event):
    type: ClassVar[str] = "tool_changed"
    machine: str
    tools_replaced: int


@dataclass
class TransferStarted(Event):
    type: ClassVar[str] = "transfer_started"
    job: str
    source: str
    target: str
    robot: str


@dataclass
class TransferFinished(Event):
    type: ClassVar[str] = "transfer_finished"
    job: str
    source: str
    target: str
    robot: str


@dataclass
class CommandApplied(Event):
    type: ClassVar[str] = "command"
    command: str
    args: dict[str, Any]


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        OrderReceived,
        JobReleased,
        JobCompleted,
        JobScrapped,
        JobCancelled,
        JobStopped,
        OperationStarted,
        OperationFinished,
        InspectionDone,
        MachineStateChanged,
        FaultRaised,
        FaultCleared,
        ToolChanged,
        TransferStarted,
        TransferFinished,
        CommandApplied,
    )
}
_FIELDS: dict[type[Event], tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls) if f.name != "t") for cls in EVENT_TYPES.values()
}
# one attrgetter per class: to_dict is on the hot path of every run
_GETTERS: dict[type[Event], tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {
    cls: (("t", *names), operator.attrgetter("t", *names)) for cls, names in _FIELDS.items()
}


_PREFIX: dict[type[Event], bytes] = {
    cls: b'{"type":' + orjson.dumps(cls.type) + b"," for cls in EVENT_TYPES.values()
}


def event_from_dict(d: dict[str, Any]) -> Event:
    """Rebuild an event from its logged dict; raises KeyError for an unknown type."""
    cls = EVENT_TYPES[d["type"]]
    return cls(t=d["t"], **{k: d[k] for k in _FIELDS[cls]})


def read_events(path: str) -> Iterator[Event]:
    """Events from a JSON-lines event log, in order."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield event_from_dict(json.loads(line))


class EventBus:
    """Synchronous, ordered fan-out of events to subscribers."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[Event], None]] = []

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def publish(self, event: Event) -> None:
        for cb in self._subscribers:
            cb(event)

    def publish_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.publish(event)


class EventLogWriter:
    """Subscriber writing each event as one JSON line to a binary stream (fields in declaration
    order, so the bytes are stable: same scenario, seed and commands give the same file).

    orjson serialises a dict-backed dataclass in ~0.2 us; the type name goes in front. Lines
    are written in batches of 4,096 and on ``flush`` (serialising at once, rather than keeping
    the events until the batch is written, measured ~3 % faster on a long run).

    An event whose type is in ``durable`` (e.g. ``{"command"}``) is written with the lines
    before it, flushed and fsync'd before the publication returns: a command the twin
    accepted is on disk before the caller hears so. ``durable`` needs a stream with a file
    descriptor; an unknown type name raises ValueError.
    """

    def __init__(self, stream: IO[bytes], durable: frozenset[str] = frozenset()) -> None:
        self._stream = stream
        self._buffer: list[bytes] = []
        unknown = durable - EVENT_TYPES.keys()
        if unknown:
            raise ValueError(f"durable: unknown event types {sorted(unknown)}")
        self._durable = frozenset(EVENT_TYPES[name] for name in durable)

    def __call__(self, event: Event) -> None:
        buf = self._buffer
        cls = type(event)
        buf.append(_PREFIX[cls] + orjson.dumps(event)[1:])
        if cls in self._durable:
            self.sync()
        elif len(buf) >= 4096:
            self.flush()

    def flush(self) -> None:
        buf = self._buffer
        if buf:
            buf.append(b"")
            self._stream.write(b"\n".join(buf))
            buf.clear()
        self._stream.flush()

    def sync(self) -> None:
        """Flush, then have the operating system write the file to disk (``os.fsync``)."""
        self.flush()
        os.fsync(self._stream.fileno())
