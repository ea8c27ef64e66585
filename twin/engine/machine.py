"""One machine at runtime: input queue, output slots, state, faults, and its SimPy process.

States follow the OPC UA Machinery model: MachineryItemState (NotAvailable, OutOfService,
NotExecuting, Executing) and MachineryOperationMode (None, Maintenance, Setup, Processing).
Invariant: at most one operation runs at a time; ``len(queue) + reserved <= input capacity``;
``output <= output capacity``.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from twin.engine.jobs import Job, QueueEntry
from twin.events import (
    FaultCleared,
    FaultRaised,
    MachineStateChanged,
    OperationFinished,
    OperationStarted,
    ToolChanged,
)
from twin.machines import REGISTRY, Dynamics, MachineModel, Outcome, Segment

if TYPE_CHECKING:
    from twin.engine.cell import Engine
    from twin.planning import PlannedOp

__all__ = ["FAULT_SEVERITY", "MachineRuntime", "fault_severity"]

FAULT_SEVERITY = {
    "breakdown": 700,
    "tool_breakage": 600,
    "emergency_stop": 900,
    "print_failure": 400,
    "maintenance": 200,
}
_INF = float("inf")


def fault_severity(kind: str) -> int:
    """The OPC UA severity (1..1000) of a fault of ``kind``."""
    return FAULT_SEVERITY.get(kind, 500)


class MachineRuntime:
    """Runtime of one machine; the engine owns it and drives it through SimPy."""

    def __init__(self, engine: Engine, cfg: Any, index: int, rng: np.random.Generator) -> None:
        self.engine = engine
        self.env: simpy.Environment = engine.env
        self.cfg = cfg
        self.id: str = cfg.id
        self.index = index
        self.kind: str = cfg.kind
        self.model: MachineModel = REGISTRY[cfg.kind]
        self.rng = rng
        self.dyn = Dynamics()
        self.position: tuple[float, float] = cfg.position
        self.capacity: float = cfg.input_buffer or _INF
        self.output_capacity: int = cfg.output_buffer
        self.queue: list[QueueEntry] = []
        self.reserved = 0
        # estimates for choosing between eligible machines (``twin.engine.choice``): the work
        # booked here and not started (jobs on their way or queued: planned setup after the
        # one booked before + planned duration), the setup after it, and when the setup and
        # operation under way end as planned
        self.booked = 0.0
        self._booked: dict[Job, float] = {}
        self.booked_key: str | None = None
        self.current_key: str | None = None  # the setup after the operation under way
        self.busy_until = 0.0
        self.windows: list[tuple[float, float]] = []  # planned maintenance (start, end) ahead
        self.output: list[Job] = []
        self.sequence: deque[str] | None = None
        self.setup_key: str | None = None
        self.state = "NotExecuting"
        self.mode = "Processing"
        self.job: str | None = None
        self.faults: list[tuple[str, str]] = []
        self.working = False
        self.uses_robot = False
        self._wake: simpy.Event | None = None
        self._up: simpy.Event | None = None
        self._space: simpy.Event | None = None
        self._before: tuple[str, str, str | None] = ("NotExecuting", "Processing", None)
        self._outcome: Outcome | None = None  # of the operation under way (a fault may spoil it)
        self._work_end = 0.0  # when the work under way ends unless interrupted
        self._left = 0.0  # the work left when a fault interrupted it
        self.process: simpy.Process | None = None
        self.segment: Segment | None = None
        self.block = slice(0, 0)
        self._publish: Callable[[Any], None] = engine.bus.publish

    # -- capacity -------------------------------------------------------------------------
    def has_space(self) -> bool:
        return len(self.queue) + self.reserved < self.capacity and not self.faults

    def reserve(self, job: Job, op: PlannedOp) -> None:
        """Book an input slot for ``job`` (on its way here) and the planned time of ``op``:
        its duration here and the setup it needs after the work booked before it."""
        self.reserved += 1
        key = op.req.setup_key
        planned = self.model.setup_time(self.cfg, self.booked_key, key) + op.durations[self.id]
        self._booked[job] = planned
        self.booked += planned
        if key is not None:
            self.booked_key = key

    def _unbook(self, job: Job) -> None:
        self.booked -= self._booked.pop(job)
        if not self._booked:  # exact again (no rounding left over), set up as it will be
            self.booked, self.booked_key = 0.0, self.current_key

    def finish_estimate(self, op: PlannedOp, duration: float, now: float) -> float:
        """When ``op`` (``duration`` here) would end if booked now, as planned: after the
        operation under way and the work booked, with the setup it needs after them."""
        start = max(self.busy_until, now) + self.booked
        need = self.model.setup_time(self.cfg, self.booked_key, op.req.setup_key) + duration
        return (self.begin(start, need) if self.windows else start) + need

    def space_event(self) -> simpy.Event:
        """An event that fires the next time an input slot frees up or the machine recovers."""
        if self._space is None:
            self._space = self.env.event()
        return self._space

    def notify_space(self) -> None:
        """Wake the jobs waiting for room here (they look again, and wait on if none)."""
        ev = self._space
        if ev is not None:
            self._space = None
            ev.succeed()

    def wake(self) -> None:
        ev = self._wake
        if ev is not None:
            self._wake = None
            ev.succeed()

    # -- queue and output ---------------------------------------------------------------------
    def enqueue(self, job: Job, op: PlannedOp) -> None:
        """Put an arrived job into the input queue (its slot was reserved before the move)."""
        self.reserved -= 1
        job.state = "queued"
        job.location = self.id
        job.done = self.env.event()
        self.queue.append(
            QueueEntry(job, op, op.durations[self.id], self.env.now, self.engine.next_seq())
        )
        self.wake()

    def release_reservation(self, job: Job) -> None:
        """A job that reserved a slot will not be queued (cancelled on the way): it waits in
        the output place for the robot to take it away."""
        self.reserved -= 1
        self._unbook(job)
        job.location = self.id
        self.output.append(job)
        self.notify_space()

    def remove(self, job: Job) -> bool:
        """Take a waiting job out of the queue (cancel); True if it was there."""
        for i, e in enumerate(self.queue):
            if e.job is job:
                del self.queue[i]
                self._unbook(job)
                self.notify_space()
                return True
        return False

    def take_output(self, job: Job) -> None:
        """The robot picked ``job`` from the output slot: the machine may go on."""
        self.output.remove(job)
        self.wake()

    # -- state --------------------------------------------------------------------------------
    def set_state(self, state: str, mode: str, job: str | None) -> None:
        if state == self.state and mode == self.mode and job == self.job:
            return
        now = self.env.now
        if self.segment is not None:
            init = self.model.evaluate(self.cfg, self.segment, now)
            self.segment = Segment(state, mode, now, _INF, None, init, self.dyn.wear)
        self.state, self.mode, self.job = state, mode, job
        self._publish(MachineStateChanged(now, self.id, state, mode, job))

    def begin_segment(self, op: PlannedOp | None, duration: float) -> None:
        seg = self.segment
        if seg is not None:
            seg.op = op.req if op is not None else None
            seg.t1 = self.env.now + duration
            seg.wear0 = self.dyn.wear

    # -- faults -------------------------------------------------------------------------------
    def fault_begin(self, kind: str, source: str, duration: float | None) -> None:
        """A fault starts now: the work stops (resumed by ``fault_end`` of the last fault)."""
        now = self.env.now
        self.faults.append((kind, source))
        self._publish(FaultRaised(now, self.id, kind, fault_severity(kind), source, duration))
        if kind == "tool_breakage":
            self._break_tool()
        if len(self.faults) == 1:
            self._before = (self.state, self.mode, self.job)
            self._up = self.env.event()
            if self.working and self.process is not None:
                self.process.interrupt(kind)
        self._fault_state()

    def fault_end(self, kind: str, source: str) -> None:
        """A fault is over: the state follows the faults still on; with none, the machine
        goes back to what it was doing."""
        self.faults.remove((kind, source))
        self._publish(FaultCleared(self.env.now, self.id, kind))
        if self.faults:
            self._fault_state()
            return
        state, mode, job = self._before
        self.set_state(state, mode, job)
        up, self._up = self._up, None
        if up is not None:
            up.succeed()
        self.wake()
        self.notify_space()

    def _break_tool(self) -> None:
        """A broken tool is replaced (counted as a tool change) in the repair; the part it was
        cutting, if it was cutting, is spoilt: a hidden defect of this operation, found (or
        not) at inspection like any other. The operation's outcome was drawn when its cut began
        (the wear to its end included): the new tool wears by the rest of the cut only."""
        dyn, outcome = self.dyn, self._outcome
        if outcome is None:  # not in an operation (idle, blocked, or in a setup)
            rest = 0.0
        elif self.working:
            rest = self._work_end - self.env.now
            outcome.defect = True
        else:  # its cut stopped by an earlier fault: the part is not spoilt, the rest is to do
            rest = self._left
        dyn.wear = min(1.0, rest / getattr(self.cfg, "tool_life", _INF))
        dyn.tools_replaced += 1
        self._publish(ToolChanged(self.env.now, self.id, dyn.tools_replaced))

    def _fault_state(self) -> None:
        """The state while faults are on, whichever came first: NotAvailable while a planned
        maintenance is among them (ISO 22400: planned down time takes precedence over
        unplanned), else OutOfService."""
        planned = any(kind == "maintenance" for kind, _ in self.faults)
        self.set_state("NotAvailable" if planned else "OutOfService", "Maintenance", self.job)

    # -- the process --------------------------------------------------------------------------
    def _next(self) -> int | None:
        if self.faults or not self.queue or len(self.output) >= self.output_capacity:
            return None
        queue, now = self.queue, self.env.now
        if self.sequence is not None:
            if not self.sequence:
                return None
            want = self.sequence[0]
            for i, e in enumerate(queue):
                if e.job.id == want:
                    return i if not self.windows or self._fits(e) else None
            return None
        i = self.engine.rule.select(queue, now)
        if not self.windows or self._fits(queue[i]):
            return i
        # a planned maintenance comes before the rule's choice would end: the rule's choice
        # among the jobs that would end before it, else wait (the maintenance wakes it)
        fitting = [e for e in queue if self._fits(e)]
        return queue.index(fitting[self.engine.rule.select(fitting, now)]) if fitting else None

    # -- planned maintenance known ahead ------------------------------------------------------
    def plan_maintenance(self, start: float, end: float) -> None:
        """A planned maintenance from ``start`` to ``end`` is scheduled: no setup or operation
        starts that would not end before it as planned (``begin``)."""
        bisect.insort(self.windows, (start, end))

    def begin(self, t: float, need: float) -> float:
        """When work of ``need`` planned seconds, ready at ``t``, can begin: at ``t``, unless
        a planned maintenance starts before it would end: then after that maintenance, except
        when it would not fit in the gap before the next one either (no use waiting)."""
        windows = self.windows
        while windows and windows[0][1] <= self.env.now:  # over: forgotten
            del windows[0]
        for k, (start, end) in enumerate(windows):
            if end <= t:  # over by then
                continue
            if t < start:
                if t + need <= start:  # ends before it (and so before the later ones)
                    return t
                following = windows[k + 1][0] if k + 1 < len(windows) else _INF
                if need > following - end:
                    return t
            t = end  # after this maintenance
        return t

    def _fits(self, entry: QueueEntry) -> bool:
        setup = self.model.setup_time(self.cfg, self.setup_key, entry.op.req.setup_key)
        now = self.env.now
        return self.begin(now, setup + entry.planned) == now

    def _work(self, duration: float) -> Generator[simpy.Event, Any, None]:
        """Spend ``duration`` working; a fault interrupts and the rest resumes after repair
        (its signals too: the segment after the repair is the rest of this work, ``done`` of
        it behind, e.g. a print's layers going on from where they stopped)."""
        env = self.env
        remaining = duration
        op = self.segment.op if self.segment is not None else None
        while remaining > 0:
            if remaining < duration and self.segment is not None:  # resumed after a repair
                seg = self.segment
                seg.op, seg.t1, seg.wear0 = op, env.now + remaining, self.dyn.wear
                seg.info["done"] = 1.0 - remaining / duration
            start = env.now
            self.working = True
            self._work_end = start + remaining
            try:
                yield env.timeout(remaining)
                remaining = 0.0
            except simpy.Interrupt:
                remaining -= env.now - start
                self._left = remaining
            finally:
                self.working = False
            if self._up is not None:
                yield self._up

    def run(self) -> Generator[simpy.Event, Any, None]:
        env = self.env
        engine = self.engine
        publish = self._publish
        cfg, model, dyn = self.cfg, self.model, self.dyn
        while True:
            i = self._next()
            while i is None:
                self._wake = env.event()
                yield self._wake
                i = self._next()
            entry = self.queue.pop(i)
            key = entry.op.req.setup_key
            self.current_key = self.setup_key if key is None else key
            self._unbook(entry.job)
            if self.sequence is not None:
                self.sequence.popleft()
            self.notify_space()
            job, op, planned = entry.job, entry.op, entry.planned
            job.state = "processing"
            robot_req = None
            if self.uses_robot:
                robot_req = engine.robot_resource.request(1)
                yield robot_req
            setup = model.setup_time(cfg, self.setup_key, op.req.setup_key)
            maintenance = model.maintenance_before(cfg, dyn, planned)
            self.busy_until = env.now + setup + maintenance + planned
            if maintenance:
                publish(ToolChanged(env.now, self.id, dyn.tools_replaced))
            if setup + maintenance > 0:
                self.set_state("Executing", "Setup", job.id)
                self.begin_segment(op, setup + maintenance)
                yield from self._work(setup + maintenance)
            if op.req.setup_key is not None:
                self.setup_key = op.req.setup_key
            op_no = job.op_index
            while True:
                outcome = self._outcome = model.outcome(cfg, dyn, op.req, planned, self.rng)
                self.set_state("Executing", "Processing", job.id)
                run_for = outcome.actual if outcome.fail_at is None else outcome.fail_at
                self.begin_segment(op, outcome.actual)
                publish(
                    OperationStarted(
                        env.now, job.id, op_no, op.req.name, self.id, planned, op.rework
                    )
                )
                yield from self._work(run_for)
                if outcome.fail_at is None:
                    break
                publish(
                    OperationFinished(
                        env.now, job.id, op_no, op.req.name, self.id, planned, run_for, False, True
                    )
                )
                # a failed print: clear the bed (out of service), then print again
                self.fault_begin("print_failure", "random", cfg.clear_time)
                yield env.timeout(cfg.clear_time)
                self.fault_end("print_failure", "random")
            publish(
                OperationFinished(
                    env.now,
                    job.id,
                    op_no,
                    op.req.name,
                    self.id,
                    planned,
                    outcome.actual,
                    not outcome.defect,
                    False,
                )
            )
            self._outcome = None
            if outcome.defect:
                job.defects.append(self.id)
            job.last = outcome
            self.output.append(job)
            if robot_req is not None:
                engine.robot_resource.release(robot_req)
            self.set_state("NotExecuting", "Processing", None)
            assert job.done is not None
            job.done.succeed()

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "mode": self.mode,
            "job": self.job,
            "queue": [e.job.id for e in self.queue],
            "output": [j.id for j in self.output],
            "reserved": self.reserved,
            "setup": self.setup_key,
            "wear": self.dyn.wear,
            "tools_replaced": self.dyn.tools_replaced,
            "operations": self.dyn.operations,
            "faults": [list(f) for f in self.faults],
        }
