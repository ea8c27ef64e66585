"""Runtime records of jobs and queue entries (the domain state the engine mutates)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import simpy

    from twin.engine.arrivals import DrawnGroup
    from twin.machines import Outcome
    from twin.model.products import ProductSpec
    from twin.planning import PlannedOp

__all__ = ["ENDED_STATES", "Job", "QueueEntry"]

ENDED_STATES = frozenset({"done", "scrapped", "cancelled", "stopped"})  # a job in these has left


class Job:
    """One order in the cell: a unique product and its (possibly extended) routing.

    ``state`` is one of backlog, released, waiting, transfer, queued, processing, held, done,
    scrapped, cancelled, stopped. ``leaving`` is set when a command ends the job early
    ("cancelled" or "stopped"): the step under way ends, then the part leaves the cell.
    ``defects`` lists machines whose operation left a hidden defect.
    ``remake`` is True for the job that replaces a scrapped one: the same customer order, so
    its ``arrival`` is the order's (lead times run from it) and its due date the order's.
    ``held`` is set while the job is paused (``Engine.pause_job``): the event that resumes it.
    ``work`` is the planned work of its routing as ordered: the sum over its operations of the
    fastest eligible machine's planned seconds (what ``remaining_work`` gives before the first
    operation; the backlog ranks by it without planning a drawn job's routing).

    A drawn arrival (``Job.drawn``) gets its validated spec and routing on first use: most
    orders of an overloaded cell wait in the backlog, where neither is needed.
    """

    __slots__ = (
        "_drawn",
        "_ops",
        "_spec",
        "arrival",
        "defects",
        "done",
        "due",
        "family",
        "held",
        "id",
        "index",
        "last",
        "leaving",
        "location",
        "op_index",
        "remake",
        "reworks",
        "state",
        "weight",
        "work",
    )

    def __init__(
        self,
        job_id: str,
        index: int,
        spec: ProductSpec | None,
        ops: list[PlannedOp] | None,
        arrival: float,
        due: float,
        weight: float,
        family: str = "",
    ) -> None:
        self.id = job_id
        self.index = index
        self._spec = spec
        self.family = spec.type if spec is not None else family
        self._ops = ops
        self._drawn: tuple[DrawnGroup, int] | None = None
        self.op_index = 0
        self.arrival = arrival
        self.due = due
        self.weight = weight
        self.state = "backlog"
        self.location: str | None = None
        self.defects: list[str] = []
        self.reworks = 0
        self.remake = False
        self.leaving: str | None = None
        self.done: simpy.Event | None = None
        self.held: simpy.Event | None = None
        self.last: Outcome | None = None
        self.work: float = sum(op.min_duration for op in ops) if ops is not None else 0.0

    @classmethod
    def drawn(
        cls, job_id: str, index: int, group: DrawnGroup, row: int, arrival: float, due: float
    ) -> Job:
        """A job for row ``row`` of a block of drawn arrivals (spec and routing on demand)."""
        job = cls(job_id, index, None, None, arrival, due, 1.0, group.family.type)
        job._drawn = (group, row)
        job.work = group.work[row]  # the same sum, over the group's planned columns
        return job

    def replace_order(
        self, spec: ProductSpec, ops: list[PlannedOp], due: float, weight: float
    ) -> None:
        """A new product, routing, due date and weight for a job not yet released (the
        backlog must rank it again: ``Backlog.rekey``)."""
        self._spec, self._ops, self._drawn = spec, ops, None
        self.family = spec.type
        self.due, self.weight = due, weight
        self.work = sum(op.min_duration for op in ops)

    def configuration(self) -> tuple[str | None, dict[str, Any]]:
        """The catalogue entry of a drawn arrival and what was drawn for it (the rest of its
        spec is the entry's), or None and the whole spec but ``type`` for any other order."""
        if self._spec is None and self._drawn is not None:
            group, row = self._drawn
            return group.family.id, group.params(row)
        return None, self.spec.model_dump(mode="json", exclude={"type"})

    @property
    def spec(self) -> ProductSpec:
        if self._spec is None:
            assert self._drawn is not None
            group, row = self._drawn
            self._spec = group.spec(row)  # validated only when asked for (remake, API)
        return self._spec

    @property
    def ops(self) -> list[PlannedOp]:
        if self._ops is None:
            assert self._drawn is not None
            group, row = self._drawn
            self._ops = group.routing(row)
        return self._ops

    @property
    def operations(self) -> int:
        """Number of operations in the routing (without materialising a drawn job)."""
        if self._ops is None and self._drawn is not None:
            return self._drawn[0].operations
        return len(self.ops)

    def remaining_work(self) -> float:
        """Planned seconds of the operations not yet finished (fastest eligible machine)."""
        return sum(op.min_duration for op in self.ops[self.op_index :])

    def snapshot(self) -> dict[str, Any]:
        catalogue, params = self.configuration()
        return {
            "id": self.id,
            "state": self.state,
            "op_index": self.op_index,
            "operations": (
                self._drawn[0].op_names()
                if self._ops is None and self._drawn is not None
                else [op.req.name for op in self.ops]
            ),
            "location": self.location,
            "arrival": self.arrival,
            "due": self.due,
            "reworks": self.reworks,
            "paused": self.held is not None,
            "defects": list(self.defects),
            "catalogue": catalogue,
            "params": params,
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
