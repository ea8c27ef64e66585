"""The cell object: the twin's own state (sim time, speed, counters, KPIs) and its controls.

Methods delegate to ``twin.api``; a rejected command answers with a Bad status code (the bad
argument marked in InputArgumentResults, the twin's message in the diagnostic info and in
``LastCommandResult``) and leaves the twin unchanged. Roles: SubmitOrder and CancelOrder need
an operator; SetSpeed, Pause, Resume, InjectFault and ClearFault need an engineer. Forecast
(operator: it costs a run of the twin from time 0) answers, as JSON, what a fork of the twin
predicts ``Until`` ahead for every job not finished (``TwinAPI.forecast``), without blocking
the server: the fork runs in a worker thread; a Forecast answered leaves LastCommandResult as
it was.

The job counters (WorkInProgress, Stored, Backlog, Completed, Scrapped, Cancelled, Stopped)
follow the twin's events: an order received, released, completed, scrapped, cancelled or
stopped, or a command, queues a write of the counters that changed through the outbox, applied
right after the engine step or command with the job order lists of ``JobManagement`` queued
for the same events, so a subscriber gets them in one publishing cycle (an MES compares Backlog
with the lists). A burst of events costs one write, and the engine a set lookup per event: the
counters are read from the twin when the write is applied, after the burst. SimTime, Speed,
Paused, SimDateTime and the KPIs are refreshed every ``kpi_interval_s`` and after each command
through these methods; SimTime and SimDateTime every ``publish_interval_s`` too.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from asyncua import Node, ua

from opcua_server.nodes.base import BuildContext
from opcua_server.nodes.calls import (
    LAST_COMMAND_RESULT,
    access_denied,
    argument_error,
    refusal_code,
    refuse,
    report_result,
)
from opcua_server.nodesets import NS
from opcua_server.users import Role
from twin import events as tev
from twin.aio import cancel_and_wait
from twin.errors import CommandError, InvalidStateError, TwinError, UnknownMachineError
from twin.kpi import KpiCollector, defined

__all__ = ["CellFamily"]

_D, _S, _U, _B = (
    ua.VariantType.Double,
    ua.VariantType.String,
    ua.VariantType.UInt32,
    ua.VariantType.Boolean,
)
_KPIS: tuple[tuple[str, str, ua.VariantType], ...] = (
    ("OEE", "oee", _D),
    ("Availability", "availability", _D),
    ("Effectiveness", "effectiveness", _D),
    ("QualityRatio", "quality_ratio", _D),
    ("Utilisation", "utilisation", _D),
    ("Produced", "produced", _U),
    ("Good", "good", _U),
)
# a KPI with nothing to rate yet (a machine that has produced nothing): null, with the status
# the OPC UA LADS spec uses for an estimate it cannot compute yet; once defined, it stays so
_NOTHING_TO_RATE = ua.StatusCode(ua.StatusCodes.BadWaitingForInitialData)
#: the run's status (name, key of ``api.status()``, type): written at every refresh
_RUN_STATUS: tuple[tuple[str, str, ua.VariantType], ...] = (
    ("SimTime", "sim_time", _D),
    ("Speed", "speed", _D),
    ("Paused", "paused", _B),
)
#: the job counters: written when they change (``CellFamily._on_event``)
_COUNTERS: tuple[tuple[str, str, ua.VariantType], ...] = (
    ("WorkInProgress", "wip", _U),
    ("Stored", "stored", _U),
    ("Backlog", "backlog", _U),
    ("Completed", "completed", _U),
    ("Scrapped", "scrapped", _U),
    ("Cancelled", "cancelled", _U),
    ("Stopped", "stopped", _U),
)
#: the events that can change them (a command: Store, Start, RevokeStart, Cancel...)
_COUNTED: frozenset[type[tev.Event]] = frozenset(
    {
        tev.OrderReceived,
        tev.JobReleased,
        tev.JobCompleted,
        tev.JobScrapped,
        tev.JobCancelled,
        tev.JobStopped,
        tev.CommandApplied,
    }
)


def _arg(name: str, dtype: int, description: str) -> ua.Argument:
    a = ua.Argument()
    a.Name = name
    a.DataType = ua.NodeId(dtype)
    a.ValueRank = -1
    a.Description = ua.LocalizedText(description)
    return a


_Handler = Callable[..., Any]
# methods that change nothing in the twin: LastCommandResult keeps the last command's result
# (a refused query is still reported there, like a refused command)
_QUERIES = frozenset({"Forecast"})


class CellFamily:
    """Builds ``Objects/Cell`` and keeps its values current."""

    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx
        self.nodes: list[ua.NodeId] = []
        self.cell: ua.NodeId | None = None
        self.methods: dict[str, ua.NodeId] = {}
        self._values: dict[str, tuple[ua.NodeId, ua.VariantType]] = {}
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._counts: dict[str, int] = {}  # the job counters as last written
        self._pending = False  # a write of the job counters is queued
        engine = ctx.engine
        self._own_kpi = ctx.kpi is None  # followed here, from the engine's time on
        self.kpi = ctx.kpi or KpiCollector.for_cell(engine.scenario.cell, start=engine.now)

    async def build(self) -> None:
        ctx = self.ctx
        objects = ctx.server.nodes.objects
        cell_type = await ctx.server.nodes.base_object_type.add_object_type(
            ctx.nid("types.CellType"), ctx.qn(NS.TWIN, "CellType")
        )
        cell = await objects.add_object(ctx.nid("Cell"), ctx.qn(NS.TWIN, "Cell"), cell_type.nodeid)
        self.cell = cell.nodeid
        self.nodes.append(cell.nodeid)
        await cell.write_attribute(
            ua.AttributeIds.Description,
            ua.DataValue(ua.Variant(ua.LocalizedText(ctx.engine.scenario.cell.name))),
        )
        for name, _, vtype in (*_RUN_STATUS, *_COUNTERS):
            await self._variable(cell, f"Cell.{name}", name, vtype)
        await self._variable(cell, "Cell.SimDateTime", "SimDateTime", ua.VariantType.DateTime)
        await self._variable(cell, LAST_COMMAND_RESULT, "LastCommandResult", _S)
        kpis = await cell.add_folder(ctx.nid("Cell.KPIs"), ctx.qn(NS.TWIN, "KPIs"))
        for owner in ("Cell", *ctx.engine.machines):
            obj = await kpis.add_object(ctx.nid(f"Cell.KPIs.{owner}"), ctx.qn(NS.TWIN, owner))
            for name, _, vtype in _KPIS:
                await self._variable(obj, f"Cell.KPIs.{owner}.{name}", name, vtype)
        await self._methods(cell)

    async def _variable(self, parent: Node, ident: str, name: str, vtype: ua.VariantType) -> None:
        ctx = self.ctx
        initial: Any = {
            _D: 0.0,
            _U: 0,
            _B: False,
            _S: "",
            ua.VariantType.DateTime: ctx.now(),
        }[vtype]
        var = await parent.add_variable(ctx.nid(ident), ctx.qn(NS.TWIN, name), initial, vtype)
        self._values[ident] = (var.nodeid, vtype)
        self.nodes.append(var.nodeid)

    async def _methods(self, cell: Node) -> None:
        ctx = self.ctx
        s, d = ua.ObjectIds.String, ua.ObjectIds.Double
        specs: list[tuple[str, _Handler, list[ua.Argument], list[ua.Argument], Role]] = [
            (
                "SubmitOrder",
                self._submit,
                [_arg("Order", s, "job order as JSON (id, due, product: {type, ...})")],
                [_arg("JobId", s, "id of the accepted job")],
                Role.OPERATOR,
            ),
            ("CancelOrder", self._cancel, [_arg("JobId", s, "job to cancel")], [], Role.OPERATOR),
            (
                "Forecast",
                self._forecast,
                [_arg("Until", s, 'how far ahead: seconds or a duration such as "8h"')],
                [_arg("Forecast", s, "JSON: predicted state and completion of every open job")],
                Role.OPERATOR,
            ),
            (
                "SetSpeed",
                self._set_speed,
                [_arg("Speed", d, "simulated seconds per wall second, > 0")],
                [],
                Role.ENGINEER,
            ),
            ("Pause", self._pause, [], [], Role.ENGINEER),
            ("Resume", self._resume, [], [], Role.ENGINEER),
            (
                "InjectFault",
                self._inject,
                [
                    _arg("Machine", s, "machine id"),
                    _arg("Kind", s, "fault kind, e.g. breakdown"),
                    _arg("Duration", d, "seconds of simulated time; 0 until ClearFault"),
                ],
                [],
                Role.ENGINEER,
            ),
            (
                "ClearFault",
                self._clear,
                [_arg("Machine", s, "machine id")],
                [_arg("Cleared", ua.ObjectIds.UInt32, "faults cleared")],
                Role.ENGINEER,
            ),
        ]
        for name, handler, inputs, outputs, role in specs:
            method = await cell.add_method(
                ctx.nid(f"Cell.{name}"),
                ctx.qn(NS.TWIN, name),
                self._wrap(name, handler, inputs, role, cell.nodeid),
                inputs,
                outputs,
            )
            self.methods[name] = method.nodeid
            self.nodes.append(method.nodeid)

    def _wrap(
        self, name: str, handler: _Handler, inputs: list[ua.Argument], role: Role, owner: ua.NodeId
    ) -> Callable[..., Awaitable[Any]]:
        names = [a.Name.lower() for a in inputs]

        async def call(parent: ua.NodeId, *args: ua.Variant) -> Any:
            denied = access_denied(name, role, len(args), parent, owner)
            if denied is not None:
                return denied
            bad = argument_error(args, inputs, names)
            if bad is not None:
                code, message, index = bad
                return refuse(self.ctx, name, code, message, index, len(names))
            values = [arg.Value for arg in args]
            try:
                out = handler(*values)
                if inspect.isawaitable(out):
                    out = await out
            except TwinError as exc:
                culprit = self._culprit(exc, names)
                code = refusal_code(exc)
                return refuse(self.ctx, name, code, str(exc), culprit, len(names), arguments=values)
            if name not in _QUERIES:  # a query changed nothing: no result, nothing to refresh
                report_result(self.ctx, f"{name}: ok")
                self.refresh()
            result = ua.CallMethodResult()
            result.StatusCode = ua.StatusCode()
            result.InputArgumentResults = [ua.StatusCode() for _ in args]
            result.OutputArguments = out
            return result

        return call

    @staticmethod
    def _culprit(exc: TwinError, names: list[str]) -> int | None:
        """The input argument a refusal names: for a state that does not allow the command,
        the first (what the command is about: the order, the job, the machine), so that the
        message is in its diagnostic info; the machine for an unknown machine; else the
        argument the message starts with ("speed: ..."), or the only one."""
        if isinstance(exc, InvalidStateError):
            return 0 if names else None
        if isinstance(exc, UnknownMachineError):
            return names.index("machine") if "machine" in names else None
        head = str(exc).split(":", 1)[0].strip().lower()
        return names.index(head) if head in names else (0 if len(names) == 1 else None)

    # -- handlers (through the API; a coroutine, Forecast's, is awaited) -------------------------
    def _submit(self, order: str) -> list[ua.Variant]:
        try:
            data = json.loads(order)
        except json.JSONDecodeError as exc:
            raise CommandError(f"order: not valid JSON ({exc.msg} at {exc.pos})") from exc
        except RecursionError:  # [[[[...: Python's parser gives up after ~1,000 levels
            raise CommandError("order: JSON nested too deeply") from None
        except ValueError as exc:  # e.g. a number of more than 4,300 digits
            raise CommandError(f"order: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise CommandError("order: must be a JSON object")
        return [ua.Variant(self.ctx.api.submit_order(data), _S)]

    def _cancel(self, job: str) -> list[ua.Variant]:
        self.ctx.api.cancel_order(job)
        return []

    async def _forecast(self, until: str) -> list[ua.Variant]:
        # the fork runs in a worker thread: the server and the clock go on meanwhile
        predicted = await self.ctx.api.forecast_async(until)
        return [ua.Variant(json.dumps(predicted), _S)]

    def _set_speed(self, speed: float) -> list[ua.Variant]:
        self.ctx.api.set_speed(float(speed))
        return []

    def _pause(self) -> list[ua.Variant]:
        self.ctx.api.pause()
        return []

    def _resume(self) -> list[ua.Variant]:
        self.ctx.api.resume()
        return []

    def _inject(self, machine: str, kind: str, duration: float) -> list[ua.Variant]:
        self.ctx.api.inject_fault(machine, kind, float(duration) if duration else None)
        return []

    def _clear(self, machine: str) -> list[ua.Variant]:
        return [ua.Variant(self.ctx.api.clear_fault(machine), _U)]

    # -- run ------------------------------------------------------------------------------------
    def start(self) -> None:
        self._unsubscribe = [self.ctx.follow(self._on_event)]
        if self._own_kpi:
            self._unsubscribe.append(self.ctx.follow(self.kpi))
        self.refresh()
        self._task = asyncio.create_task(self._run(), name="opcua-cell-refresh")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    def _on_event(self, ev: tev.Event) -> None:
        # on the engine's path: a set lookup per event, and one write queued per burst
        if not self._pending and type(ev) in _COUNTED:
            self._queue_counts()

    def _queue_counts(self) -> None:
        """Queue a write of the job counters unless one is queued (it will see this change
        too); a full outbox drops it, and the next event or refresh queues one again."""
        if not self._pending:
            self._pending = self.ctx.outbox.put(self._write_counts)

    async def _write_counts(self) -> None:
        """Write the job counters that changed since last written, as the twin has them now:
        after every event of the burst that queued this (at an event, the engine is half-way
        through the change: an order is announced before it joins the backlog, a job ends
        before it leaves the WIP)."""
        self._pending = False
        status = self.ctx.api.status()
        now = self.ctx.now()
        for name, key, vtype in _COUNTERS:
            value = status[key]
            if self._counts.get(name) != value:
                self._counts[name] = value
                nodeid, _ = self._values[f"Cell.{name}"]
                variant = ua.Variant(value, vtype)
                dv = ua.DataValue(variant, SourceTimestamp=now, ServerTimestamp=now)
                await self.ctx.server.write_attribute_value(nodeid, dv)

    async def _run(self) -> None:
        """SimTime and SimDateTime every ``publish_interval_s`` (at speed 10⁵ a second of
        steps would be a day of simulated time), the rest every ``kpi_interval_s``."""
        settings = self.ctx.settings
        tick = min(settings.publish_interval_s, settings.kpi_interval_s)
        loop = asyncio.get_running_loop()
        due = loop.time() + settings.kpi_interval_s
        while True:
            await asyncio.sleep(tick)
            if loop.time() >= due:
                due = loop.time() + settings.kpi_interval_s
                self.refresh()
            else:
                self._refresh_time()

    def _refresh_time(self) -> None:
        """Queue the twin's time for the address space."""
        self._set("Cell.SimTime", float(self.ctx.engine.now))
        self._set("Cell.SimDateTime", self.ctx.now())

    def _set(self, ident: str, value: Any) -> None:
        nodeid, vtype = self._values[ident]
        self.ctx.write(nodeid, value, vtype)

    def refresh(self) -> None:
        """Queue the current status and KPIs for the address space."""
        ctx = self.ctx
        status = ctx.api.status()
        status["speed"] = status["speed"] or 0.0
        for name, key, vtype in _RUN_STATUS:
            value = status[key]
            self._set(f"Cell.{name}", float(value) if vtype == _D else value)
        self._queue_counts()  # the job counters: written when they change, on one path
        self._set("Cell.SimDateTime", ctx.now())  # the run's time axis, as every timestamp
        report = self.kpi.report(ctx.engine.now)
        for owner, values in (("Cell", report["cell"]), *report["machines"].items()):
            for name, key, vtype in _KPIS:
                value = values.get(key, 0)
                ident = f"Cell.KPIs.{owner}.{name}"
                if vtype == _D and not defined(value):  # nothing to rate yet: no value
                    self.ctx.write(self._values[ident][0], None, vtype, _NOTHING_TO_RATE)
                else:
                    self._set(ident, float(value) if vtype == _D else int(value))
