"""An order's life cycle by command (``twin.engine.commands`` records each): store, start,
revoke the start, update, cancel, and pause, resume or stop a job in the cell.

The ISA-95 Job Control states follow: a stored order is NotAllowedToStart, a job in the
backlog AllowedToStart, a released one Running (Interrupted while paused), an ended one Ended
(done or stopped) or Aborted (scrapped or cancelled). Each function raises before it changes
anything (UnknownJobError, InvalidStateError naming the state, or the planner's PlanningError).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twin.engine.jobs import ENDED_STATES, Job
from twin.errors import InvalidStateError, UnknownJobError
from twin.model.scenario import OrderConfig

if TYPE_CHECKING:
    from twin.engine.cell import Engine

__all__ = ["cancel", "pause", "resume", "revoke_start", "start", "stop", "store", "update"]


def _room(engine: Engine) -> None:
    if len(engine.stored) >= engine.max_stored:
        raise InvalidStateError(
            f"{engine.max_stored} orders are stored already (the most the twin keeps before"
            " Start): start or cancel one first"
        )


def store(engine: Engine, order: OrderConfig) -> None:
    """Keep an order without starting it (``start`` puts it in the backlog); raises as
    ``Engine.submit`` does, or InvalidStateError when ``engine.max_stored`` orders are stored
    already."""
    _room(engine)
    engine._check_new(order)
    engine.stored[order.id] = order


def start(engine: Engine, order_id: str, source: str = "api") -> Job:
    """Accept the stored order ``order_id`` now (a due date not given counts from now)."""
    order = engine.stored.get(order_id)
    if order is None:
        raise UnknownJobError(f"no stored order {order_id!r}")
    ops = engine.planner.plan(order.product)  # as when it was stored: the planner is pure
    del engine.stored[order_id]
    return engine._accept(order, ops, source)


def _job(engine: Engine, job_id: str) -> Job:
    job = engine.jobs.get(job_id)
    if job is None:
        raise UnknownJobError(f"unknown job {job_id!r}")
    return job


def _going_on(job: Job, verb: str) -> None:
    """Raise unless ``job`` has neither ended nor been told to leave."""
    if job.state in ENDED_STATES or job.leaving is not None:
        raise InvalidStateError(
            f"job {job.id!r} is {job.leaving or job.state}; it cannot be {verb}"
        )


def _waiting(engine: Engine, job_id: str, verb: str) -> Job:
    """The job ``job_id`` waiting in the backlog for release."""
    job = _job(engine, job_id)
    if job.state != "backlog":
        raise InvalidStateError(
            f"job {job_id!r} is {job.leaving or job.state}; only an order waiting for release"
            f" can be {verb}"
        )
    return job


def revoke_start(engine: Engine, job_id: str) -> None:
    """Take a started order that still waits for release back to the stored orders, with its
    product, due date and weight (ISA-95 RevokeStart); ``start`` receives it again."""
    if job_id in engine.stored:
        raise InvalidStateError(f"order {job_id!r} is stored already (not started)")
    job = _waiting(engine, job_id, "revoked")
    _room(engine)
    order = OrderConfig(id=job.id, product=job.spec, due=job.due, weight=job.weight)
    engine.backlog.remove(job)
    del engine.jobs[job_id]
    if job.remake:  # counted again when it is started (an order then)
        engine.remade -= 1
    else:
        engine.received -= 1
    engine.stored[job_id] = order
    engine._check_all_done()


def update(engine: Engine, order: OrderConfig) -> None:
    """Replace a stored order, or the order of a job waiting for release (it keeps its arrival
    in the backlog, and the rule ranks it by its new order; a due date not given counts from
    when it was started)."""
    if order.id in engine.stored:
        engine.planner.plan(order.product)  # raises for a product the cell cannot make
        engine.stored[order.id] = order
        return
    job = _waiting(engine, order.id, "updated")
    ops = engine.planner.plan(order.product)
    job.replace_order(order.product, ops, engine.due_of(order, ops, job.arrival), order.weight)
    engine.backlog.rekey(job)  # ranked by its new due date, work or weight


def cancel(engine: Engine, job_id: str) -> None:
    """Cancel a stored order or a job (a running operation finishes first)."""
    if engine.stored.pop(job_id, None) is not None:  # withdrawn before it started
        engine.count_cancelled(job_id)
        return
    job = _job(engine, job_id)
    _going_on(job, "cancelled")
    job.leaving = "cancelled"
    if job.state == "backlog":
        engine.backlog.remove(job)
        job.state = "cancelled"
        engine.count_cancelled(job.id)
        engine._ended_job(job)
        engine._check_all_done()
        return
    _leave_now(engine, job)


def _leave_now(engine: Engine, job: Job) -> None:
    """A job told to leave (cancel, stop) goes once its step under way ends: paused, from
    the storage; queued at a machine, taken out of the queue; waiting in the storage for room
    at a machine, at once (the other jobs waiting for that room look again and wait on)."""
    waiting = job.state in ("waiting", "held")  # held: parked, or paused waiting for room
    _unhold(job)
    _unqueue(engine, job)
    if waiting and job.op_index < len(job.ops):
        for machine in job.ops[job.op_index].durations:
            engine.machines[machine].notify_space()


def _unqueue(engine: Engine, job: Job) -> None:
    """Take a job waiting in a machine's queue out of it (cancel, pause): the robot takes it
    from the machine's place."""
    if job.state == "queued" and job.location is not None:
        m = engine.machines[job.location]
        if m.remove(job):
            m.output.append(job)
            assert job.done is not None
            job.done.succeed()


def _in_cell(engine: Engine, job_id: str, verb: str) -> Job:
    """The job ``job_id``, released and not ended (``verb``: what was asked, for the
    message)."""
    if job_id in engine.stored:
        raise InvalidStateError(f"order {job_id!r} is stored, not started; it cannot be {verb}")
    job = _job(engine, job_id)
    _going_on(job, verb)
    if job.state == "backlog":
        raise InvalidStateError(
            f"job {job_id!r} waits for release into the cell; only a released job can be {verb}"
        )
    return job


def pause(engine: Engine, job_id: str) -> None:
    """Pause a job in the cell: the step under way (an operation, a transfer) ends, then the
    part goes to the central storage and waits there for ``resume``; it keeps its place in
    the WIP."""
    job = _in_cell(engine, job_id, "paused")
    if job.held is not None:
        raise InvalidStateError(f"job {job_id!r} is paused already")
    job.held = engine.env.event()
    if job.state == "waiting":  # in the storage already, waiting for room: held there
        job.state = "held"
    _unqueue(engine, job)


def resume(engine: Engine, job_id: str) -> None:
    """Let a paused job go on with its routing."""
    job = _in_cell(engine, job_id, "resumed")
    if job.held is None:
        raise InvalidStateError(f"job {job_id!r} is not paused")
    _unhold(job)


def _unhold(job: Job) -> None:
    """End a job's pause, if any: its flow goes on (or, cancelled, leaves)."""
    held = job.held
    if held is not None:
        job.held = None
        if job.state == "held":  # in the storage: waits for its next step (or room) again
            job.state = "waiting"
        held.succeed()


def stop(engine: Engine, job_id: str) -> None:
    """End a job in the cell early (ISA-95 Stop): the step under way (an operation, a
    transfer) ends, then the part leaves the cell with the operations done so far and the job
    ends as stopped, not as a finished product. A paused job leaves from the storage; an order
    not released yet is cancelled instead (``cancel``)."""
    job = _in_cell(engine, job_id, "stopped")
    job.leaving = "stopped"
    _leave_now(engine, job)
