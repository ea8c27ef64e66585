"""Events of our namespace types, HistoryRead of values and events, bounded retention."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua
from asyncua.common.ua_utils import get_node_supertype

from opcua_server.history import SqliteHistory
from opcua_server.nodesets import NS
from tests.opcua.conftest import Twin

pytestmark = pytest.mark.asyncio(loop_scope="module")


class _Events:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def event_notification(self, event: Any) -> None:
        self.queue.put_nowait(event)


async def test_fault_events_derive_from_standard_types_and_carry_severity(twin: Twin) -> None:
    async with twin.session() as client:
        etype = await client.nodes.base_event_type.get_child(
            ["0:SystemEventType", "0:DeviceFailureEventType"]
        )
        fault_type = await etype.get_child(f"{twin.ns(NS.TWIN)}:MachineFaultEventType")
        assert (await get_node_supertype(fault_type)).nodeid == etype.nodeid
        handler = _Events()
        sub = await client.create_subscription(50, handler)
        await sub.subscribe_events(client.nodes.server, fault_type)
        # a robot fault takes effect when the robot's current move ends: let time run
        twin.api.inject_fault("robot1", "emergency_stop", 600)
        await twin.step(0.5)
        event = await asyncio.wait_for(handler.queue.get(), 10)
        assert event.MachineId == "robot1"
        assert event.FaultKind == "emergency_stop"
        assert event.Severity == 900
        assert event.FaultDuration == 600.0
        # on the run's time axis, as the values' source timestamps
        at = twin.driver.wall_time(event.SimTime).replace(tzinfo=None)
        assert abs(event.Time.replace(tzinfo=None) - at) < dt.timedelta(milliseconds=1)
        assert event.SourceNode == twin.server.machine_nodes["robot1"]
        await sub.delete()
        twin.api.clear_fault("robot1")
        await twin.step(1.0)


async def test_machine_events_are_sent_from_the_machine_node(twin: Twin) -> None:
    async with twin.session() as client:
        handler = _Events()
        sub = await client.create_subscription(50, handler)
        state_type = await client.nodes.base_event_type.get_child(
            f"{twin.ns(NS.TWIN)}:MachineStateChangedEventType"
        )
        machine = client.get_node(twin.server.machine_nodes["vision1"])
        await sub.subscribe_events(machine, state_type)
        twin.api.inject_fault("vision1", "maintenance", None)
        event = await asyncio.wait_for(handler.queue.get(), 10)
        assert (event.MachineId, event.ItemState, event.OperationMode) == (
            "vision1",
            "NotAvailable",
            "Maintenance",
        )
        await sub.delete()
        twin.api.clear_fault("vision1")
        await twin.step(1.0)


async def test_history_read_of_process_values(twin: Twin) -> None:
    index = twin.engine.store.index("cnc1.coolant_temp")
    seen = []
    for _ in range(5):
        await twin.step(2.0)
        seen.append(float(twin.engine.store.values[index]))
    async with twin.session() as client:
        node = client.get_node(twin.server.signal_nodes[index])
        access = await node.read_attribute(ua.AttributeIds.AccessLevel)
        assert access.Value.Value & ua.AccessLevel.HistoryRead.mask
        assert await node.read_attribute(ua.AttributeIds.Historizing)
        values = await node.read_raw_history(numvalues=0)
        history = [dv.Value.Value for dv in values]
        assert history[-1] == pytest.approx(seen[-1])
        stamps = [dv.SourceTimestamp for dv in values]
        assert stamps == sorted(stamps)
        # a window and a limit
        last_two = await node.read_raw_history(
            starttime=stamps[-2], endtime=stamps[-1] + dt.timedelta(microseconds=1), numvalues=0
        )
        assert [dv.Value.Value for dv in last_two] == pytest.approx(history[-2:])


async def test_history_read_of_events(twin: Twin) -> None:
    twin.api.inject_fault("cnc1", "tool_breakage", 120)
    await twin.step(5.0)
    async with twin.session() as client:
        fault_type = await client.nodes.base_event_type.get_child(
            [
                "0:SystemEventType",
                "0:DeviceFailureEventType",
                f"{twin.ns(NS.TWIN)}:MachineFaultEventType",
            ]
        )
        # asyncua's read_event_history sends "EventType InList [the type, its subtypes]": only
        # fault events come back (the where clause used to be ignored: every event did)
        events = await client.nodes.server.read_event_history(evtypes=[fault_type])
        assert events
        assert {e.EventType for e in events} == {fault_type.nodeid}
        assert ("cnc1", "tool_breakage") in [(e.MachineId, e.FaultKind) for e in events]
        machine = client.get_node(twin.server.machine_nodes["cnc1"])
        own = await machine.read_event_history(evtypes=[fault_type])
        assert own
        assert {(e.EventType, e.MachineId) for e in own} == {(fault_type.nodeid, "cnc1")}


async def test_retention_is_bounded(tmp_path: Path) -> None:
    history = SqliteHistory(
        tmp_path / "h.sqlite", retention_s=3600.0, max_values=10, max_events=5, flush_s=60.0
    )
    await history.init()
    try:
        node = ua.NodeId("x", 2)
        now = dt.datetime.now(dt.UTC)
        old = now - dt.timedelta(hours=2)
        history.record_value(node, ua.Variant(-1.0, ua.VariantType.Double), old)
        for i in range(40):
            stamp = now + dt.timedelta(milliseconds=i)
            history.record_value(node, ua.Variant(float(i), ua.VariantType.Double), stamp)
        history.flush()  # time bound: the 2 h old value is gone
        values, _ = await history.read_node_history(node, None, None, 0)
        assert -1.0 not in [dv.Value.Value for dv in values]
        for _ in range(30):  # the count bound is enforced periodically
            history.flush()
        assert history.count_values(node) == 10
        values, _ = await history.read_node_history(node, None, None, 0)
        assert [dv.Value.Value for dv in values] == [float(i) for i in range(30, 40)]
        page, cont = await history.read_node_history(node, None, None, 4)
        assert len(page) == 4
        assert cont is not None
    finally:
        await history.stop()


async def test_faults_are_alarms_with_condition_refresh(twin: Twin) -> None:
    async with twin.session() as client:
        alarm_type = client.get_node(twin.server.ctx.event_types["MachineFaultAlarmType"])  # type: ignore[union-attr]
        offnormal = await get_node_supertype(alarm_type)
        assert offnormal.nodeid == ua.NodeId(ua.ObjectIds.OffNormalAlarmType)
        handler = _Events()
        sub = await client.create_subscription(50, handler)
        await sub.subscribe_events(client.nodes.server, alarm_type)
        twin.api.inject_fault("printer1", "breakdown", None)
        raised = await asyncio.wait_for(handler.queue.get(), 10)
        assert (raised.MachineId, raised.ConditionName, raised.Retain) == (
            "printer1",
            "breakdown",
            True,
        )
        assert getattr(raised, "ActiveState/Id") is True
        # a client opening its alarm view asks for the active conditions
        await client.get_node(ua.ObjectIds.ConditionType).call_method(
            ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh),
            ua.Variant(sub.subscription_id, ua.VariantType.UInt32),
        )
        replayed = await asyncio.wait_for(handler.queue.get(), 10)
        assert replayed.NodeId == raised.NodeId
        twin.api.clear_fault("printer1")
        await twin.step(1.0)
        cleared = await asyncio.wait_for(handler.queue.get(), 10)
        assert cleared.Retain is False
        assert getattr(cleared, "ActiveState/Id") is False
        await sub.delete()
