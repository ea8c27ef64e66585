"""Twin events as OPC UA events of our namespace, deriving from the standard event types.

=============================  =====================  =======================================
event type (twin namespace)    derives from           sent for
=============================  =====================  =======================================
MachineStateChangedEventType   BaseEventType          MachineryItemState / OperationMode change
MachineFaultEventType          DeviceFailureEventType fault raised (Severity from the twin)
FaultClearedEventType          SystemEventType        fault cleared
OperationEventType             BaseEventType          operation started / finished / aborted
JobEventType                   BaseEventType          order received, job released, completed,
                                                      scrapped, cancelled, stopped
=============================  =====================  =======================================

Each event is sent from the Server object (subscribe there for all) and from the machine it
concerns, and recorded in the history (HistoryRead of events on either node).

Faults are also alarms, as far as asyncua supports conditions: ``MachineFaultAlarmType``
(from OffNormalAlarmType) events with one condition per machine and fault kind (ConditionId
``<machine>.Alarms.<kind>``), ActiveState and Retain set while the fault lasts, and
ConditionRefresh replaying the active ones. Acknowledge/Confirm are not offered: a fault
ends when the twin clears it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from typing import Any

from asyncua import ua
from asyncua.common.event_objects import BaseEvent
from asyncua.server.event_generator import EventGenerator

from opcua_server.nodes.base import BuildContext
from twin import events as tev

__all__ = ["EVENT_TYPES", "NOTIFIER", "SERVER", "EventsFamily", "trigger_on"]

_S, _D, _U, _B = (
    ua.VariantType.String,
    ua.VariantType.Double,
    ua.VariantType.UInt32,
    ua.VariantType.Boolean,
)
_COMMON = [("SimTime", _D)]
EVENT_TYPES: dict[str, tuple[int, list[tuple[str, ua.VariantType]]]] = {
    "MachineStateChangedEventType": (
        ua.ObjectIds.BaseEventType,
        [("MachineId", _S), ("ItemState", _S), ("OperationMode", _S), ("JobId", _S)],
    ),
    "MachineFaultEventType": (
        ua.ObjectIds.DeviceFailureEventType,
        [("MachineId", _S), ("FaultKind", _S), ("FaultSource", _S), ("FaultDuration", _D)],
    ),
    "FaultClearedEventType": (
        ua.ObjectIds.SystemEventType,
        [("MachineId", _S), ("FaultKind", _S)],
    ),
    "OperationEventType": (
        ua.ObjectIds.BaseEventType,
        [
            ("MachineId", _S),
            ("JobId", _S),
            ("Operation", _S),
            ("OperationNumber", _U),
            ("Milestone", _S),
            ("Good", _B),
        ],
    ),
    "JobEventType": (
        ua.ObjectIds.BaseEventType,
        [("JobId", _S), ("Milestone", _S), ("Product", _S)],
    ),
}

ALARM_TYPE = "MachineFaultAlarmType"
SERVER = ua.NodeId(ua.ObjectIds.Server)
NOTIFIER = ua.EventNotifier.SubscribeToEvents.mask | ua.EventNotifier.HistoryRead.mask


def _describe(ev: tev.Event) -> tuple[str, str | None, int, dict[str, Any], str] | None:
    """(event type, machine or None, severity, fields, message) for a twin event."""
    if isinstance(ev, tev.MachineStateChanged):
        return (
            "MachineStateChangedEventType",
            ev.machine,
            100,
            {"ItemState": ev.state, "OperationMode": ev.mode, "JobId": ev.job or ""},
            f"{ev.machine}: {ev.state} / {ev.mode}",
        )
    if isinstance(ev, tev.FaultRaised):
        return (
            "MachineFaultEventType",
            ev.machine,
            ev.severity,
            {
                "FaultKind": ev.kind,
                "FaultSource": ev.source,
                "FaultDuration": float(ev.duration or 0.0),
            },
            f"{ev.machine}: fault {ev.kind} ({ev.source})",
        )
    if isinstance(ev, tev.FaultCleared):
        return (
            "FaultClearedEventType",
            ev.machine,
            100,
            {"FaultKind": ev.kind},
            f"{ev.machine}: fault {ev.kind} cleared",
        )
    if isinstance(ev, tev.OperationStarted | tev.OperationFinished):
        finished = isinstance(ev, tev.OperationFinished)
        milestone = "started"
        good = True
        if isinstance(ev, tev.OperationFinished):
            milestone = "aborted" if ev.aborted else "finished"
            good = ev.good
        return (
            "OperationEventType",
            ev.machine,
            300 if finished and not good else 100,
            {
                "JobId": ev.job,
                "Operation": ev.name,
                "OperationNumber": ev.op,
                "Milestone": milestone,
                "Good": good,
            },
            f"{ev.machine}: {ev.job} operation {ev.op} {ev.name} {milestone}",
        )
    job_milestones: dict[type[tev.Event], str] = {
        tev.OrderReceived: "received",
        tev.JobReleased: "released",
        tev.JobCompleted: "completed",
        tev.JobScrapped: "scrapped",
        tev.JobCancelled: "cancelled",
        tev.JobStopped: "stopped",
    }
    job_milestone = job_milestones.get(type(ev))
    if job_milestone is not None:
        job = str(getattr(ev, "job", ""))
        product = str(getattr(ev, "product", ""))
        return (
            "JobEventType",
            None,
            300 if job_milestone == "scrapped" else 100,
            {"JobId": job, "Milestone": job_milestone, "Product": product},
            f"job {job} {job_milestone}",
        )
    return None


async def trigger_on(
    ctx: BuildContext, gen: EventGenerator, source: ua.NodeId | None, sim_t: float, message: str
) -> None:
    """Send ``gen``'s event (its fields set) from the Server object and from ``source``, timed
    when it happened on the run's time axis, and record it in the history."""
    event = gen.event
    now = ctx.at(sim_t)  # when it happened (the outbox may apply it later)
    event.emitting_node = SERVER
    await gen.trigger(time_attr=now, message=message)
    if ctx.history is not None:
        ctx.history.record_event(event.SourceNode, event)
    if source is not None:
        event.emitting_node = source
        await gen.trigger(time_attr=now, message=message)


class EventsFamily:
    """Event types, their generators, and the bridge from the twin's EventBus."""

    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx
        self.nodes: list[ua.NodeId] = []
        self._generators: dict[str, EventGenerator] = {}
        self._alarm: EventGenerator | None = None
        self._alarm_template: BaseEvent | None = None
        self._unsubscribe: Callable[[], None] | None = None

    async def build(self) -> None:
        ctx = self.ctx
        server = ctx.server
        for name, (base, props) in EVENT_TYPES.items():
            etype = await server.create_custom_event_type(
                ctx.twin, name, base, properties=[*props, *_COMMON]
            )
            ctx.event_types[name] = etype.nodeid
            self.nodes.append(etype.nodeid)
            self._generators[name] = await server.get_event_generator(etype, SERVER)
        alarm = await server.create_custom_event_type(
            ctx.twin,
            ALARM_TYPE,
            ua.ObjectIds.OffNormalAlarmType,
            properties=[("MachineId", _S), ("FaultKind", _S), *_COMMON],
        )
        ctx.event_types[ALARM_TYPE] = alarm.nodeid
        self.nodes.append(alarm.nodeid)
        self._alarm = await server.get_event_generator(alarm, SERVER)
        self._alarm_template = copy.deepcopy(self._alarm.event)
        # ConditionRefresh (and the RefreshStart/End events) for clients with an alarm view
        server.iserver.bind_condition_methods = 100
        await server.iserver.setup_condition_methods()
        server_node = server.get_node(SERVER)
        await server_node.write_attribute(
            ua.AttributeIds.EventNotifier, ua.DataValue(ua.Variant(NOTIFIER, ua.VariantType.Byte))
        )
        for nodeid in ctx.machine_nodes.values():
            await server.get_node(nodeid).write_attribute(
                ua.AttributeIds.EventNotifier,
                ua.DataValue(ua.Variant(NOTIFIER, ua.VariantType.Byte)),
            )
            await server_node.add_reference(nodeid, ua.ObjectIds.HasNotifier)
            if ctx.history is not None:
                ctx.history.set_event_scope(nodeid, nodeid)
        if ctx.history is not None:
            ctx.history.set_event_scope(SERVER, None)

    def start(self) -> None:
        self._unsubscribe = self.ctx.follow(self._on_event)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_event(self, ev: tev.Event) -> None:
        put = self.ctx.outbox.put
        if isinstance(ev, tev.FaultRaised | tev.FaultCleared):
            active = isinstance(ev, tev.FaultRaised)
            severity = ev.severity if isinstance(ev, tev.FaultRaised) else 100
            put(partial(self._send_alarm, ev.machine, ev.kind, active, severity, ev.t))
        described = _describe(ev)
        if described is not None:
            put(partial(self._send, *described, ev.t))

    async def _send(
        self,
        name: str,
        machine: str | None,
        severity: int,
        fields: dict[str, Any],
        message: str,
        sim_t: float,
    ) -> None:
        ctx = self.ctx
        gen = self._generators[name]
        event: BaseEvent = gen.event
        source = ctx.machine_nodes.get(machine) if machine else None
        event.SourceNode = source or SERVER
        event.SourceName = machine or "cell"
        event.Severity = severity
        event.SimTime = sim_t
        if machine is not None:
            event.MachineId = machine
        for key, value in fields.items():
            setattr(event, key, value)
        await trigger_on(ctx, gen, source, sim_t, message)

    async def _send_alarm(
        self, machine: str, kind: str, active: bool, severity: int, sim_t: float
    ) -> None:
        ctx = self.ctx
        gen = self._alarm
        assert gen is not None
        # asyncua keeps the triggered object of a retained condition for ConditionRefresh:
        # every trigger gets its own copy, or one condition would overwrite the others
        event: BaseEvent = copy.deepcopy(self._alarm_template)
        gen.event = event
        source = ctx.machine_nodes[machine]
        lt, b = ua.VariantType.LocalizedText, ua.VariantType.Boolean
        fields: list[tuple[str, Any, ua.VariantType]] = [
            ("NodeId", ctx.nid(f"{machine}.Alarms.{kind}"), ua.VariantType.NodeId),
            ("ConditionName", kind, ua.VariantType.String),
            ("Retain", active, b),
            ("ActiveState", ua.LocalizedText("Active" if active else "Inactive", "en"), lt),
            ("ActiveState/Id", active, b),
            ("EnabledState", ua.LocalizedText("Enabled", "en"), lt),
            ("EnabledState/Id", True, b),
            ("AckedState", ua.LocalizedText("Acknowledged", "en"), lt),
            ("AckedState/Id", True, b),
            ("MachineId", machine, _S),
            ("FaultKind", kind, _S),
            ("SimTime", sim_t, _D),
        ]
        for name, value, vtype in fields:
            event.add_property(name, value, vtype)
        event.SourceNode = source
        event.SourceName = machine
        event.Severity = severity
        state = "active" if active else "cleared"
        await gen.trigger(time_attr=ctx.at(sim_t), message=f"{machine}: {kind} {state}")
