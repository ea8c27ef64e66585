"""Typed events and the EventBus that fans them out to subscribers.

Every event carries ``t`` (simulated seconds since scenario start) and its ``type`` name.
Subscribers are plain callables; the event log (JSON lines), the KPI collector and the
servers are all subscribers. Publication is synchronous and in order, so what a subscriber
sees is deterministic.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from typing import IO, Any, ClassVar

import orjson

__all__ = [
    "EVENT_TYPES",
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


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all events; ``type`` is the stable name written to the log."""

    type: ClassVar[str] = "event"
    t: float

    def to_dict(self) -> dict[str, Any]:
        names, getter = _GETTERS[type(self)]
        d: dict[str, Any] = dict(zip(names, getter(self), strict=True))
        d["type"] = self.type
        return d


@dataclass(frozen=True, slots=True)
class OrderReceived(Event):
    type: ClassVar[str] = "order_received"
    job: str
    product: str
    due: float
    weight: float
    operations: int
    source: str  # "scenario" | "arrivals" | "api" | "remake"


@dataclass(frozen=True, slots=True)
class JobReleased(Event):
    type: ClassVar[str] = "job_released"
    job: str


@dataclass(frozen=True, slots=True)
class JobCompleted(Event):
    type: ClassVar[str] = "job_completed"
    job: str
    lead_time: float
    tardiness: float
    good: bool


@dataclass(frozen=True, slots=True)
class JobScrapped(Event):
    type: ClassVar[str] = "job_scrapped"
    job: str
    remake: str | None


@dataclass(frozen=True, slots=True)
class JobCancelled(Event):
    type: ClassVar[str] = "job_cancelled"
    job: str


@dataclass(frozen=True, slots=True)
class OperationStarted(Event):
    type: ClassVar[str] = "operation_started"
    job: str
    op: int
    name: str
    machine: str
    planned: float
    rework: bool


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class InspectionDone(Event):
    type: ClassVar[str] = "inspection_done"
    job: str
    machine: str
    passed: bool
    deviation: float
    decision: str  # "pass" | "rework" | "scrap"


@dataclass(frozen=True, slots=True)
class MachineStateChanged(Event):
    """A machine's MachineryItemState (NotAvailable, OutOfService, NotExecuting, Executing)
    and MachineryOperationMode (None, Maintenance, Setup, Processing)."""

    type: ClassVar[str] = "machine_state"
    machine: str
    state: str
    mode: str
    job: str | None


@dataclass(frozen=True, slots=True)
class FaultRaised(Event):
    type: ClassVar[str] = "fault_raised"
    machine: str
    kind: str
    severity: int  # OPC UA severity 1..1000
    source: str  # "random" | "scenario" | "api"
    duration: float | None


@dataclass(frozen=True, slots=True)
class FaultCleared(Event):
    type: ClassVar[str] = "fault_cleared"
    machine: str
    kind: str


@dataclass(frozen=True, slots=True)
class ToolChanged(Event):
    type: ClassVar[str] = "tool_changed"
    machine: str
    tools_replaced: int


@dataclass(frozen=True, slots=True)
class TransferStarted(Event):
    type: ClassVar[str] = "transfer_started"
    job: str
    source: str
    target: str
    robot: str


@dataclass(frozen=True, slots=True)
class TransferFinished(Event):
    type: ClassVar[str] = "transfer_finished"
    job: str
    source: str
    target: str
    robot: str


@dataclass(frozen=True, slots=True)
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
    """Subscriber writing each event as one JSON line to a binary stream (sorted keys, so the
    bytes are stable: same scenario, seed and commands give the same file)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._buffer: list[bytes] = []

    def __call__(self, event: Event) -> None:
        # orjson serialises the dataclass natively (fields in declaration order, so the bytes
        # are stable); the type name goes in front: ~1.6 us a line instead of ~3.3 us
        self._buffer.append(_PREFIX[type(event)] + orjson.dumps(event)[1:])
        if len(self._buffer) >= 4096:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._stream.write(b"\n".join(self._buffer) + b"\n")
            self._buffer.clear()
        self._stream.flush()
