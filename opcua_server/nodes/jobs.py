"""Job orders from an MES through ISA-95 Job Control (OPC 10031-4) as Machinery Jobs
(OPC 40001-3): ``Objects/Cell/JobManagement`` (JobManagementType).

``JobOrderControl`` (ISA95JobOrderReceiverObjectType) offers Store, StoreAndStart, Update,
Start, RevokeStart, Pause, Resume, Stop, Abort, Cancel and Clear (``job_control``, delegating to
``twin.api``), and lists in ``JobOrderList``, in this order,
the stored job orders, every twin job released into the cell (whatever its source, in order
of release), the first ``MAX_LISTED_BACKLOG`` jobs of the backlog (in the order they will be
released: the dispatching rule's, urgent remakes first; for CR and ATC, whose ranks change
with time, as the twin would release them now) and the ended ones not yet cleared (the most
recent ``MAX_ENDED``; older ones drop out). The list is bounded so that an overloaded cell
with tens of thousands of backlog jobs does not rebuild, encode and send them all on every
change (with 20,000 backlog jobs a read of the full list took about a second, and a write with
one subscriber about two seconds). An MES learns that more orders wait from ``Cell/Backlog``
(the twin's backlog count) exceeding the AllowedToStart entries of the list, and
``RequestJobResponseByJobOrderID`` answers for any job in the cell, listed or not.
(``MaxDownloadableJobOrders`` is not used for this: it is how many job orders can be stored,
``engine.max_stored``, not how many are listed.) A job order (ISA95JobOrderDataType) becomes a
twin order: ``JobOrderID`` is the order id,
``JobOrderParameters`` are the product fields (``type`` names the product family, the other
IDs its parameters, e.g. ``material``, ``volume_cm3``; an explicit routing's ``operations`` as
JSON text), ``EndTime`` is the due date (mapped to simulated time like every timestamp of the
twin: wall origin + simulated seconds; refused before simulated time 0). Orders
that did not come through this interface (or came before a restart) are listed with their
id, due date and product parameters.

States (ISA95StateDataType[], numbers of the ISA95JobOrderReceiverObjectType state machine):

=========================  ======================================  ==========================
state (StateNumber)        job order                               twin job state
=========================  ======================================  ==========================
NotAllowedToStart (1)      stored, waiting for Start               stored (``engine.stored``)
AllowedToStart (2)         started, waiting for release            backlog
Running (3)                in the cell                             released ... processing
Interrupted (4) + Held     its machine is down (breakdown,         processing, with a fault on
(1)                        maintenance, failed print), until        its machine
                           repaired                                 (``Engine.interrupted``)
Interrupted (4) +          paused (Pause), until Resume            held (``Job.held`` set)
Suspended (2)
Ended (5) + Completed (1)  finished, or stopped early (Stop)       done, stopped
Aborted (6)                cancelled, or scrapped at inspection    cancelled, scrapped
=========================  ======================================  ==========================

A substate is the second entry of the state array, with the browse path of its substate
machine (``InterruptedSubstates``, ``EndedSubstates``). A paused job whose machine is down is
Suspended (the operator's decision counts over the constraint, as Pause takes Held to
Suspended); once resumed it is Held again until the repair, then Running.

Store keeps the order in the twin until Start (``TwinAPI.store_order``: planned at once, in the
event log, so ``twin run --resume`` keeps it); StoreAndStart releases it at once; Cancel
withdraws an order not started yet (NotAllowedToStart or AllowedToStart) and removes it from
the lists, as OPC 10031-4 says; Abort ends an order in any state but Ended and Aborted and
lists it as Aborted at once (FromRunningToAborted), with its status event: its response is the
one of that moment (an operation under way when it was aborted, which the cell still finishes
before the part leaves, is not among its OperationsDone); Stop ends a Running
or Interrupted order after its step under way, listed as Ended; Clear removes an
Ended or Aborted order from the list and refuses any other. An order cancelled through ``twin.api``
(not this interface) is listed as Aborted until cleared. ``JobOrderResults``
(ISA95JobResponseProviderObjectType) answers ``RequestJobResponseByJobOrderID`` for every job
order of the cell (backlog jobs beyond the list included) and
``RequestJobResponseByJobOrderState`` for the listed orders (so a request for AllowedToStart is
bounded like the list), and lists in ``JobOrderResponseList`` a response for every listed
order that has started (Running, Interrupted, Ended, Aborted), as OPC 40001-3 asks. A response
(ISA95JobResponseDataType) has ``StartTime`` (release into the cell), ``EndTime``, ``JobState``
and ``JobResponseData`` (the parameters ``job_results`` lists).

The lists follow the engine's events (order received, released, operation finished, job
completed, scrapped, cancelled, stopped, a fault holding a job): each event updates one record
(``opcua_server.nodes.job_records``: given by the caller, fed from time 0, a restored twin's
through its replay, so its responses keep their StartTime and ended orders not cleared stay
listed; else the family's own, from the engine's state when it starts), and one coalesced
write of both lists is queued through the outbox, so a burst of events costs one rebuild
(and a list that did not change, e.g. after an order joined the backlog behind the
listed ones, is not written again, so subscribers get nothing to encode). ReturnStatus is 1 on
success (bit 0, No Error, OPC 10031-4 B.2); a rejected call answers a Bad status code with the
twin's message in the diagnostic info and in ``Cell/LastCommandResult`` (as the Cell methods'),
and changes nothing. The arguments are checked against each method's declared InputArguments
first (``calls.argument_error``; the Comment may be left out). A control method's success is
reported in LastCommandResult too; an answered request for responses is no command. The
control methods need an operator; reading the lists and requesting responses needs a viewer.
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from asyncua import ua

from opcua_server.nodes import isa95
from opcua_server.nodes.base import BuildContext, child, instantiate_type
from opcua_server.nodes.calls import (
    access_denied,
    argument_error,
    refusal_code,
    refuse,
    report_result,
)
from opcua_server.nodes.job_control import METHODS, JobOrderControl
from opcua_server.nodes.job_events import JobStatusEvents
from opcua_server.nodes.job_records import MAX_ENDED, JobRecords
from opcua_server.nodes.job_results import OK, JobOrderResults, Record, ended_state
from opcua_server.nodesets import NS
from opcua_server.users import Role
from twin import events as tev
from twin.errors import TwinError

__all__ = ["MAX_ENDED", "MAX_LISTED_BACKLOG", "JobsFamily"]

MAX_LISTED_BACKLOG = 1000  # backlog jobs in JobOrderList: the next ones to be released

_JOB_MANAGEMENT_TYPE = 1003  # Machinery Jobs: JobManagementType
_RESPONSE_PROVIDER_TYPE = 1003  # ISA-95: ISA95JobResponseProviderObjectType
_RESPONSE_LIST = 6050  # its JobOrderResponseList (optional, so not instantiated with the type)
_STORED: isa95.State = (isa95.NOT_ALLOWED_TO_START, None)
_STARTED: isa95.State = (isa95.ALLOWED_TO_START, None)
_RUNNING: isa95.State = (isa95.RUNNING, None)
_HELD: isa95.State = (isa95.INTERRUPTED, isa95.HELD)
_SUSPENDED: isa95.State = (isa95.INTERRUPTED, isa95.SUSPENDED)
# events that change the lists (the records follow them); the others' handlers say when
_CHANGES = (tev.OrderReceived, tev.JobReleased, tev.JobCompleted, tev.JobScrapped, tev.JobStopped)


class JobsFamily(JobOrderControl, JobOrderResults, JobStatusEvents):
    """JobManagement of the cell: stored job orders, the list of orders and their results."""

    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx
        self.nodes: list[ua.NodeId] = []
        self.methods: dict[str, ua.NodeId] = {}
        self._stored_records: dict[str, Record] = {}  # of stored orders, for their entries
        self.control: ua.NodeId | None = None
        self.results: ua.NodeId | None = None
        self.job_order_list: ua.NodeId | None = None
        self.response_list: ua.NodeId | None = None
        self._orders: dict[str, Any] = {}  # job orders received here, while listed
        # the twin's jobs: fed from time 0 by the caller (a restored twin's through its
        # replay), else the family's own, from the engine's state when it starts
        self._own_records = ctx.job_records is None
        self.records = ctx.job_records or JobRecords()
        self._pending = False
        self._dirty = False  # a change not written yet
        self._written: dict[ua.NodeId, list[Any]] = {}  # the values last written to each list
        self._unsubscribe: Callable[[], None] | None = None
        self._handlers: dict[type[tev.Event], Callable[[Any], None]] = {
            tev.OperationFinished: self._on_operation,
            tev.JobCancelled: self._on_cancelled,
            tev.CommandApplied: self._on_command,
            tev.MachineStateChanged: self._on_machine,
            **dict.fromkeys(_CHANGES, lambda _: self._touch()),
        }

    async def build(self) -> None:
        ctx = self.ctx
        cell = ctx.node(ctx.nid("Cell"))
        created = await instantiate_type(
            ctx,
            cell,
            ua.NodeId(_JOB_MANAGEMENT_TYPE, ctx.ns[NS.MACHINERY_JOBS]),
            "Cell.JobManagement",
            ctx.qn(NS.MACHINERY_JOBS, "JobManagement"),
        )
        self.nodes.extend(n.nodeid for n in created)
        control = await child(created[0], ctx.qn(NS.MACHINERY_JOBS, "JobOrderControl"))
        assert control is not None
        self.control = control.nodeid
        isa95 = ctx.ns[NS.ISA95_JOBCONTROL]
        listed = await child(control, ua.QualifiedName("JobOrderList", isa95))
        assert listed is not None
        self.job_order_list = listed.nodeid
        handlers = self.control_handlers()
        for name, decl in METHODS.items():
            made = await instantiate_type(
                ctx,
                control,
                ua.NodeId(decl, isa95),
                f"Cell.JobManagement.JobOrderControl.{name}",
                ua.QualifiedName(name, isa95),
            )
            method = made[0]
            handler = await self._wrapped(method, name, handlers[name], Role.OPERATOR)
            ctx.server.link_method(method, handler)
            self.methods[name] = method.nodeid
            self.nodes.extend(n.nodeid for n in made)
        limit = await child(control, ua.QualifiedName("MaxDownloadableJobOrders", isa95))
        assert limit is not None
        await limit.write_value(ua.Variant(ctx.engine.max_stored, ua.VariantType.UInt16))
        await self._build_results(created[0], isa95)
        await self._build_status_events()

    async def _build_results(self, management: Any, isa95: int) -> None:
        """JobOrderResults is mandatory in JobManagementType (with both request methods);
        its optional JobOrderResponseList is added from the ISA-95 declaration."""
        ctx = self.ctx
        results = await child(management, ctx.qn(NS.MACHINERY_JOBS, "JobOrderResults"))
        if results is None:
            made = await instantiate_type(
                ctx,
                management,
                ua.NodeId(_RESPONSE_PROVIDER_TYPE, isa95),
                "Cell.JobManagement.JobOrderResults",
                ctx.qn(NS.MACHINERY_JOBS, "JobOrderResults"),
            )
            self.nodes.extend(n.nodeid for n in made)
            results = made[0]
        self.results = results.nodeid
        made = await instantiate_type(
            ctx,
            results,
            ua.NodeId(_RESPONSE_LIST, isa95),
            "Cell.JobManagement.JobOrderResults.JobOrderResponseList",
            ua.QualifiedName("JobOrderResponseList", isa95),
        )
        self.response_list = made[0].nodeid
        self.nodes.extend(n.nodeid for n in made)
        # the declaration says read/write; here only the twin changes it
        read = ua.DataValue(ua.Variant(ua.AccessLevel.CurrentRead.mask, ua.VariantType.Byte))
        for attribute in (ua.AttributeIds.AccessLevel, ua.AttributeIds.UserAccessLevel):
            await made[0].write_attribute(attribute, read)
        requests: dict[str, Callable[..., Any]] = {
            "RequestJobResponseByJobOrderID": self._by_id,
            "RequestJobResponseByJobOrderState": self._by_state,
        }
        for name, handler in requests.items():
            method = await child(results, ua.QualifiedName(name, isa95))
            assert method is not None, name
            ctx.server.link_method(method, await self._wrapped(method, name, handler, Role.VIEWER))
            self.methods[name] = method.nodeid

    def start(self) -> None:
        engine = self.ctx.engine
        if self._own_records:  # jobs from before the server started, as the engine has them
            self.records = JobRecords.of(engine)
        records = self.records
        self._know_states([*engine.stored, *records.backlog, *records.in_cell, *records.ended])
        self._unsubscribe = self.ctx.follow(self._on_event)
        self._touch()

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # -- following the twin ---------------------------------------------------------------------
    def _on_event(self, ev: tev.Event) -> None:
        if self._own_records:
            self.records(ev)  # (records given by the caller follow the twin on their own)
        handler = self._handlers.get(type(ev))
        if handler is not None:
            handler(ev)
            # the job order it concerns may have changed state: a status event if so
            if isinstance(ev, tev.CommandApplied):
                job = ev.args.get("job")
            else:
                job = getattr(ev, "job", None)
            if job is not None:
                self._tell(job)

    def _on_operation(self, ev: tev.OperationFinished) -> None:
        if ev.job in self.records.in_cell and not ev.aborted:  # its response changed
            self._touch()

    def _on_cancelled(self, ev: tev.JobCancelled) -> None:
        self._stored_records.pop(ev.job, None)
        self._touch()

    def _on_command(self, ev: tev.CommandApplied) -> None:
        if "job" not in ev.args:  # faults, the clock: what a held job shows follows the machine
            return
        if ev.command == "update_order":
            # the structure received here is stale (Update through this interface sets the
            # new one after the command)
            self._orders.pop(ev.args["job"], None)
            stored = self._stored_records.get(ev.args["job"])
            if stored is not None:
                stored.entry = None  # rebuilt with the new job order
        elif ev.command == "start_order":
            self._stored_records.pop(ev.args["job"], None)
        # Running <-> Interrupted, aborted, revoked, stored, started, updated: the lists change
        self._touch()

    def _on_machine(self, ev: tev.MachineStateChanged) -> None:
        # a fault on the machine of a running job holds it (Interrupted/Held); the repair ends it
        rec = self.records.in_cell.get(ev.job) if ev.job is not None else None
        if rec is not None and rec.key != self._running(rec.id):
            self._touch()

    def _touch(self) -> None:
        """Queue one write of both lists unless one is already queued (it will see this
        change too: the lists are built when the write is applied)."""
        self._dirty = True
        if not self._pending:
            # a full outbox drops the write: the next change must queue one again
            self._pending = self.ctx.outbox.put(self._flush)

    async def _flush(self) -> None:
        self._pending = False
        if self._dirty:  # not written since the change already (a method call writes at once)
            await self._write_lists()

    async def _write_lists(self) -> None:
        self._dirty = False
        # ended orders beyond the bound drop out here, after a method call is complete (an
        # ISA-95 Cancel removes its order after the twin ended it: nothing else drops out)
        for dropped in self.records.trim(MAX_ENDED):
            self._orders.pop(dropped, None)
        ctx = self.ctx
        now = ctx.now()
        ext = ua.VariantType.ExtensionObject
        lists = zip((self.job_order_list, self.response_list), self._lists(), strict=True)
        for nodeid, values in lists:
            assert nodeid is not None
            # Entries and responses are cached per record, so an unchanged list holds the same
            # objects: skip it (no encoding for subscribers, the timestamp stays that of the
            # change). An order arriving behind the listed head of a long backlog is such a case.
            last = self._written.get(nodeid)
            if (
                last is not None
                and len(last) == len(values)
                and all(map(operator.is_, last, values))
            ):
                continue
            dv = ua.DataValue(ua.Variant(values, ext), SourceTimestamp=now, ServerTimestamp=now)
            await ctx.server.write_attribute_value(nodeid, dv)
            self._written[nodeid] = values

    # -- building the structures ----------------------------------------------------------------
    def _find(self, job_id: str) -> tuple[Record, isa95.State] | None:
        """The record of a job order of the cell with its state (stored, in the cell, in the
        backlog, ended: where ``_listed`` lists it); None for an unknown or cleared one."""
        if job_id in self.ctx.engine.stored:
            return self._stored_record(job_id), _STORED
        records = self.records
        rec = records.in_cell.get(job_id)
        if rec is not None:
            return rec, self._running(job_id)
        rec = records.backlog.get(job_id)
        if rec is not None:
            return rec, _STARTED
        rec = records.ended.get(job_id)
        return (rec, ended_state(rec)) if rec is not None else None

    def _stored_record(self, job_id: str) -> Record:
        """The record of a stored order (made when first needed, dropped when it starts)."""
        rec = self._stored_records.get(job_id)
        if rec is None:
            rec = self._stored_records[job_id] = Record(job_id)
        return rec

    def _running(self, job_id: str) -> isa95.State:
        """Running; Interrupted/Suspended while the twin holds the job paused (ISA-95 Pause);
        Interrupted/Held while a fault on its machine stops its operation."""
        engine = self.ctx.engine
        job = engine.jobs.get(job_id)
        if job is None:
            return _RUNNING
        if job.held is not None:
            return _SUSPENDED
        return _HELD if engine.interrupted(job) else _RUNNING

    def _job_order(self, job_id: str) -> Any:
        """The job order as received here, or else what the twin knows of it: its id, due
        date and product parameters (orders from other sources, and orders received before
        a restart: ``twin run --resume`` restores the orders, not the structures sent)."""
        order = self._orders.get(job_id)
        if order is not None:
            return order
        order = isa95.structure("ISA95JobOrderDataType")()
        order.JobOrderID = job_id
        engine = self.ctx.engine
        stored = engine.stored.get(job_id)
        job = engine.jobs.get(job_id)
        if stored is not None:
            if stored.due is not None:
                order.EndTime = self.ctx.at(stored.due)
            order.JobOrderParameters = isa95.parameters(stored.product)
        elif job is not None:
            order.EndTime = self.ctx.at(job.due)
            order.JobOrderParameters = isa95.parameters(job.spec)
        return order

    def _entry(self, job_id: str, state: isa95.State) -> Any:
        entry = isa95.structure("ISA95JobOrderAndStateDataType")()
        entry.JobOrder = self._job_order(job_id)
        entry.State = self._states(state)
        return entry

    def _listed(self) -> Iterator[tuple[Record, isa95.State]]:
        """The records of JobOrderList with their state: stored, in the cell (in order
        of release), the first ``MAX_LISTED_BACKLOG`` of the backlog (in the twin's release
        order, urgent orders first), then ended."""
        records = self.records
        for job_id in self.ctx.engine.stored:
            yield self._stored_record(job_id), _STORED
        for rec in records.in_cell.values():
            yield rec, self._running(rec.id)
        # the twin's release order (the scenario's rule; CR and ATC: as it would release now);
        # only the head is taken, whatever the backlog's length
        for job in self.ctx.engine.backlog.head(MAX_LISTED_BACKLOG):
            waiting = records.backlog.get(job.id)
            if waiting is not None:
                yield waiting, _STARTED
        for rec in records.ended.values():
            yield rec, ended_state(rec)

    def _lists(self) -> tuple[list[Any], list[Any]]:
        """JobOrderList (see the module docstring for what it holds and in which order) and
        JobOrderResponseList, in one pass: a response for every listed order that has
        started (OPC 40001-3), in list order (in the cell by release, then ended)."""
        entries, responses = [], []
        for rec, state in self._listed():
            if rec.entry is None or rec.key != state:
                rec.entry, rec.key = self._entry(rec.id, state), state
            entries.append(rec.entry)
            if state[0] > isa95.ALLOWED_TO_START:
                responses.append(self._response(rec, state))
        return entries, responses

    # -- methods --------------------------------------------------------------------------------
    async def _wrapped(
        self, method: Any, name: str, handler: Callable[..., Any], role: Role
    ) -> Callable[..., Awaitable[Any]]:
        """The handler of ``method`` (its node) for sessions of ``role`` and above, checked
        against its InputArguments and its object."""
        declared = await child(method, ua.QualifiedName("InputArguments", 0))
        assert declared is not None, name
        owner = (await method.get_parent()).nodeid
        return self._wrap(name, handler, await declared.read_value(), role, owner)

    def _wrap(
        self,
        name: str,
        handler: Callable[..., Any],
        inputs: list[ua.Argument],
        role: Role,
        owner: ua.NodeId,
    ) -> Callable[..., Awaitable[Any]]:
        names = [a.Name for a in inputs]
        # the Comment of the control methods may be left out (the twin does not keep it)
        optional = 1 if names[-1:] == ["Comment"] else 0

        async def call(parent: ua.NodeId, *args: ua.Variant) -> Any:
            denied = access_denied(name, role, len(args), parent, owner)
            if denied is not None:
                return denied
            bad = argument_error(args, inputs, names, optional=optional)
            if bad is not None:
                code, message, index = bad
                return self._refuse(name, code, message, index, len(args))
            try:
                out = handler(*(a.Value for a in args))
            except TwinError as exc:
                # the first argument is the job order or its id (the Comment is never wrong)
                return self._refuse(name, refusal_code(exc), str(exc), 0, len(args))
            if name in METHODS:  # a control method: a read right after the call sees the change
                report_result(self.ctx, f"{name}: ok")  # a request for responses is no command
                await self._write_lists()
            return out if out is not None else OK

        return call

    def _refuse(
        self, name: str, code: int, message: str, index: int | None, given: int
    ) -> ua.CallMethodResult:
        # the diagnostic info names the method too (what an MES logs of a refused call)
        diagnostic = f"{name}: {message}"
        return refuse(self.ctx, name, code, message, index, given, diagnostic=diagnostic)
