"""Runtime records of jobs and queue entries (the domain state the engine mutates)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import simpy

    from twin.machines import Outcome
    from twin.model.products import ProductSpec
    from twin.planning import PlannedOp

__all__ = ["Job", "QueueEntry"]


class Job:
    """One order in the cell: a unique product and its (possibly extended) routing.

    ``state`` is one of backlog, released, waiting, transfer, queued, processing, done,
    scrapped, cancelled. ``defects`` lists machines whose operation left a hidden defect.
    """

    __slots__ = (
        "arrival",
        "cancelled",
        "defects",
        "done",
        "due",
        "family",
        "id",
        "index",
        "last",
        "location",
        "op_index",
        "ops",
        "reworks",
        "spec",
        "state",
        "weight",
    )

    def __init__(
        self,
        job_id: str,
        index: int,
        spec: ProductSpec,
        ops: list[PlannedOp],
        arrival: float,
        due: float,
        weight: float,
    ) -> None:
        self.id = job_id
        self.index = index
        self.spec = spec
        self.family = spec.type
        self.ops = ops
        self.op_index = 0
        self.arrival = arrival
        self.due = due
        self.weight = weight
        self.state = "backlog"
        self.location: str | None = None
        self.defects: list[str] = []
        self.reworks = 0
        self.cancelled = False
        self.done: simpy.Event | None = None
        self.last: Outcome | None = None

    def remaining_work(self) -> float:
        """Planned seconds of the operations not yet finished (fastest eligible machine)."""
        return sum(op.min_duration for op in self.ops[self.op_index :])

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "op_index": self.op_index,
            "operations": [op.req.name for op in self.ops],
            "location": self.location,
            "arrival": self.arrival,
            "due": self.due,
            "reworks": self.reworks,
            "defects": list(self.defects),
        }


class QueueEntry:
    """A job waiting at a machine for one operation; ``seq`` breaks ties deterministically."""

    __slots__ = ("arrived", "job", "op", "planned", "seq")

    def __init__(self, job: Job, op: PlannedOp, planned: float, arrived: float, seq: int) -> None:
        self.job = job
        self.op = op
        self.planned = planned
        self.arrived = arrived
        self.seq = seq
