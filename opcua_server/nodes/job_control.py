"""The ISA-95 JobOrderControl methods of the cell's job management (OPC 10031-4
ISA95JobOrderReceiverObjectType), each delegating to ``twin.api``.

==============  =============================================  ===============================
method          from state                                     to state
==============  =============================================  ===============================
Store           (new)                                          NotAllowedToStart
StoreAndStart   (new)                                          AllowedToStart (or Running)
Update          NotAllowedToStart, AllowedToStart              the same, with the new order
Start           NotAllowedToStart                              AllowedToStart (or Running)
RevokeStart     AllowedToStart                                 NotAllowedToStart
Pause           Running, Interrupted/Held                      Interrupted/Suspended
Resume          Interrupted/Suspended                          Running (Held if its machine
                                                               is still down)
Stop            Running, Interrupted                           Ended/Completed, once the step
                                                               under way ends (with Stopped)
Abort           NotAllowedToStart ... Interrupted              Aborted (at once; a job in
                                                               the cell ends its step under
                                                               way, then leaves)
Cancel          NotAllowedToStart, AllowedToStart              (removed from the lists)
Clear           Ended, Aborted                                 (removed from the lists)
==============  =============================================  ===============================

A call in another state is refused with BadInvalidState naming the order's state; an unknown
order or a bad job order with BadInvalidArgument (also a JobOrderParameters ID given twice, a
parameter whose variant type does not fit its product field, an explicit routing's
``operations`` that are no JSON text of operations on the cell's machines:
``isa95.product_fields``; a value the order model refuses, named by its JobOrderParameters
entry and the field within it: ``isa95.order_error``; an EndTime before the twin's simulated
start; a StartTime still to come, which the twin would not wait for; EquipmentRequirements
naming equipment the cell does not have). Nothing changes on a refused call. Update keeps the
order's weight (a job order carries none).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from opcua_server.nodes import isa95
from opcua_server.nodes.job_records import JobRecords
from opcua_server.nodes.job_results import JobOrderRecords
from twin.engine.jobs import ENDED_STATES
from twin.errors import CommandError, InvalidStateError
from twin.model.scenario import OrderConfig

__all__ = ["METHODS", "JobOrderControl"]


def _given(t: object) -> bool:
    """Whether a DateTime field was given: not the null DateTime (1601-01-01)."""
    return isinstance(t, datetime) and t.year > 1601


def _iso(t: datetime) -> str:
    """2026-01-05T05:59:59.5Z: a DateTime as an MES developer compares it with the one sent."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ISA95JobOrderReceiverObjectType methods (instance declarations in the ISA-95 namespace)
METHODS = {
    "Store": 7001,
    "StoreAndStart": 7004,
    "Start": 7005,
    "Stop": 7006,
    "Pause": 7007,
    "Resume": 7008,
    "Update": 7009,
    "Abort": 7010,
    "Cancel": 7011,
    "Clear": 7012,
    "RevokeStart": 7013,
}


class JobOrderControl(JobOrderRecords):
    """Handlers of the JobOrderControl methods (a base of ``JobsFamily``, which keeps the
    lists: ``_orders``, the job orders received here, and the twin's jobs' ``records``)."""

    _orders: dict[str, Any]
    records: JobRecords

    def control_handlers(self) -> dict[str, Callable[..., Any]]:
        return {
            "Store": self._store,
            "StoreAndStart": self._store_and_start,
            "Start": self._start,
            "Stop": self._stop,
            "Pause": self._pause,
            "Resume": self._resume,
            "Update": self._update,
            "Abort": self._abort,
            "Cancel": self._cancel,
            "Clear": self._clear,
            "RevokeStart": self._revoke_start,
        }

    def _order(self, job_order: Any) -> OrderConfig:
        # an ISA95JobOrderDataType (the call checked it against the declaration)
        if not job_order.JobOrderID:
            raise CommandError("JobOrder: JobOrderID is required")
        product = isa95.product_fields(job_order.JobOrderParameters, self.ctx.engine.machines)
        data: dict[str, Any] = {"id": job_order.JobOrderID, "product": product}
        end = job_order.EndTime
        if _given(end):  # not the null DateTime (no due)
            data["due"] = self._due(end.astimezone(UTC))
        if _given(job_order.StartTime):
            self._check_start(job_order.StartTime.astimezone(UTC))
        self._check_equipment(job_order.EquipmentRequirements)
        try:
            return OrderConfig.model_validate(data)
        except ValidationError as exc:  # named as sent: JobOrderParameters[1] (material)
            raise isa95.order_error(exc, job_order.JobOrderParameters) from exc

    def _check_start(self, start: datetime) -> None:
        """Refuse a StartTime the twin would not keep: it releases an order when it is
        started (StoreAndStart, Start), not at a time given. A StartTime already come is
        kept by starting now; it has come once the twin's time or the wall clock passed it
        (the twin's time axis lags the wall clock while paused)."""
        now = max(self.ctx.now(), self.ctx.clock.wall().astimezone(UTC))
        if start > now:
            raise CommandError(
                f"JobOrder: StartTime: {_iso(start)} is later than the twin's time now"
                f" ({_iso(now)}); the twin starts an order when StoreAndStart or Start is"
                " called, not at a StartTime: Store it now and call Start when it is due, or"
                " send it then (a StartTime already come, or none, starts it at once)"
            )

    def _check_equipment(self, requirements: list[Any] | None) -> None:
        """Refuse EquipmentRequirements naming equipment the cell does not have (its
        machines, or the cell itself). The twin's dispatching chooses the machine of each
        operation among those its routing allows: a requirement is not a restriction."""
        engine = self.ctx.engine
        known = [*engine.machines, engine.scenario.cell.name]
        for i, requirement in enumerate(requirements or []):
            if requirement.ID not in known:
                raise CommandError(
                    f"JobOrder: EquipmentRequirements[{i}] (ID): {requirement.ID!r} is no"
                    f" equipment of the cell (its machines: {', '.join(engine.machines)}; the"
                    f" cell: {engine.scenario.cell.name})"
                )

    def _due(self, end: datetime) -> float:
        """The due date (simulated seconds) of an EndTime; refused before the twin's
        simulated start, which no due date can be (taking it as the start would make the
        order late at once without a word). An EndTime already past, but after the start,
        is a late order, as the twin takes it."""
        start = self.ctx.at(0.0)
        if end < start:
            raise CommandError(
                f"JobOrder: EndTime: {_iso(end)} is before the twin's simulated start"
                f" ({_iso(start)}, simulated time 0); give a later EndTime, or none for a"
                " due date from the order's planned work"
            )
        return (end - start).total_seconds()

    def _check_new(self, order: OrderConfig) -> None:
        # before the twin's own check (Engine._check_new, an InvalidStateError answered
        # BadInvalidState): an id in use is a bad argument to Store, not a state of an order;
        # and an ended order not cleared (e.g. a stored one cancelled) is no longer the twin's
        engine = self.ctx.engine
        ended = self.records.ended
        if order.id in engine.stored or order.id in ended or order.id in engine.jobs:
            raise CommandError(f"JobOrder: JobOrderID {order.id!r} already exists")

    def _in_state(
        self, job_order_id: str, allowed: tuple[int | isa95.State, ...], what: str
    ) -> None:
        """Refuse unless the order is in one of ``allowed``: a top-level StateNumber (any
        substate) or a (state, substate) pair."""
        state = self.state_of(job_order_id)
        if state is None:
            raise CommandError(f"JobOrderID: no job order {job_order_id!r} in JobOrderList")
        if state[0] not in allowed and state not in allowed:
            names = " or ".join(
                isa95.STATE_TEXT[s] if isinstance(s, int) else isa95.state_text(s) for s in allowed
            )
            raise InvalidStateError(
                f"JobOrderID: job order {job_order_id!r} is {isa95.state_text(state)}; only"
                f" {names} job orders can be {what}"
            )
        job = self.ctx.engine.jobs.get(job_order_id)
        # stopped: Running until its step ends; once it has left, it is Ended like any other
        # (an aborted one is Aborted at once, and can be cleared)
        if job is not None and job.leaving == "stopped" and job.state not in ENDED_STATES:
            raise InvalidStateError(
                f"JobOrderID: job order {job_order_id!r} is {isa95.state_text(state)} until its"
                f" step under way ends (Stop); it can no longer be {what}"
            )

    def _store(self, job_order: Any, comment: Any = None) -> None:
        order = self._order(job_order)
        self._check_new(order)
        # kept by the twin (planned now, so a product the cell cannot make is refused at
        # Store, not at Start) and in its event log: a restored twin still has it
        self.ctx.api.store_order(order)
        self._orders[order.id] = job_order

    def _store_and_start(self, job_order: Any, comment: Any = None) -> None:
        order = self._order(job_order)
        self._check_new(order)
        self.ctx.api.submit_order(order)
        self._orders[order.id] = job_order

    def _update(self, job_order: Any, comment: Any = None) -> None:
        order = self._order(job_order)
        waiting = (isa95.NOT_ALLOWED_TO_START, isa95.ALLOWED_TO_START)
        self._in_state(order.id, waiting, "updated")
        # an ISA-95 job order carries no weight (the dispatching rules'): the order keeps its
        # own, so a job order read from JobOrderList and sent back is the same order
        engine = self.ctx.engine
        stored = engine.stored.get(order.id)
        weight = stored.weight if stored is not None else engine.jobs[order.id].weight
        self.ctx.api.update_order(order.model_copy(update={"weight": weight}))
        self._orders[order.id] = job_order  # listed with it: the update's event reset the entry

    def _start(self, job_order_id: str, comment: Any = None) -> None:
        self._in_state(job_order_id, (isa95.NOT_ALLOWED_TO_START,), "started")
        self.ctx.api.start_order(job_order_id)

    def _revoke_start(self, job_order_id: str, comment: Any = None) -> None:
        self._in_state(job_order_id, (isa95.ALLOWED_TO_START,), "revoked")
        self.ctx.api.revoke_start(job_order_id)

    def _pause(self, job_order_id: str, comment: Any = None) -> None:
        # Running or Held -> Suspended: the step under way ends (a held one: once repaired),
        # then the part waits in the storage
        held = (isa95.INTERRUPTED, isa95.HELD)
        self._in_state(job_order_id, (isa95.RUNNING, held), "paused")
        self.ctx.api.pause_job(job_order_id)

    def _resume(self, job_order_id: str, comment: Any = None) -> None:
        suspended = (isa95.INTERRUPTED, isa95.SUSPENDED)
        self._in_state(job_order_id, (suspended,), "resumed")
        self.ctx.api.resume_job(job_order_id)

    def _stop(self, job_order_id: str, comment: Any = None) -> None:
        # Running or Interrupted -> Ended (OPC 10031-4 FromRunningToEnded,
        # FromInterruptedToEnded): ended early but normally, its response says what was done
        self._in_state(job_order_id, (isa95.RUNNING, isa95.INTERRUPTED), "stopped")
        self.ctx.api.stop_job(job_order_id)

    def _abort(self, job_order_id: str, comment: Any = None) -> None:
        # from every state but Ended and Aborted (OPC 10031-4 transitions to Aborted)
        live = (isa95.NOT_ALLOWED_TO_START, isa95.ALLOWED_TO_START, isa95.RUNNING)
        self._in_state(job_order_id, (*live, isa95.INTERRUPTED), "aborted")
        self.ctx.api.cancel_order(job_order_id)

    def _cancel(self, job_order_id: str, comment: Any = None) -> None:
        # OPC 10031-4 6.2.1.12: cancels a job order not started yet and removes what is stored
        # of it: no entry is left in JobOrderList (a started one is aborted with Abort)
        waiting = (isa95.NOT_ALLOWED_TO_START, isa95.ALLOWED_TO_START)
        self._in_state(job_order_id, waiting, "cancelled (Abort ends a started one)")
        self.ctx.api.cancel_order(job_order_id)  # the twin records it as cancelled
        self.records.ended.pop(job_order_id, None)
        self._orders.pop(job_order_id, None)

    def _clear(self, job_order_id: str, comment: Any = None) -> None:
        self._in_state(job_order_id, (isa95.ENDED, isa95.ABORTED), "cleared (Abort it first)")
        del self.records.ended[job_order_id]
        self._orders.pop(job_order_id, None)
