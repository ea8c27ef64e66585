"""Browse paths per companion spec, types, Identification, state machines, process values."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from asyncua import Client, Node, ua
from asyncua.common.ua_utils import get_node_supertype

from opcua_server.nodes.base import eu_information
from opcua_server.nodesets import NS
from tests.opcua.conftest import Twin

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _path(client: Client, twin: Twin, *steps: tuple[str, str]) -> Node:
    node = client.nodes.objects
    return await node.get_child([f"{twin.ns(uri)}:{name}" for uri, name in steps])


async def _type_name(client: Client, node: Node) -> str:
    return (await client.get_node(await node.read_type_definition()).read_browse_name()).Name


async def test_machines_are_instances_of_their_companion_types(twin: Twin) -> None:
    async with twin.session() as client:
        machines = await _path(client, twin, (NS.MACHINERY, "Machines"))
        children = {
            (await c.read_browse_name()).Name: c
            for c in await machines.get_children(refs=ua.ObjectIds.Organizes)
        }
        assert set(children) == {"cnc1", "robot1", "printer1", "vision1"}
        assert await _type_name(client, children["cnc1"]) == "MachineToolType"
        assert await _type_name(client, children["robot1"]) == "MotionDeviceSystemType"
        assert await _type_name(client, children["printer1"]) == "AdditiveManufacturingType"
        assert await _type_name(client, children["vision1"]) == "InspectionStationType"
        # the twin's machine-tool-based types derive from MachineToolType (OPC 40501-1)
        am_type = client.get_node(await children["printer1"].read_type_definition())
        supertype = await get_node_supertype(am_type)
        assert supertype is not None
        assert (await supertype.read_browse_name()).Name == "MachineToolType"


async def test_identification(twin: Twin) -> None:
    async with twin.session() as client:
        ident = await _path(
            client, twin, (NS.MACHINERY, "Machines"), (NS.TWIN, "cnc1"), (NS.DI, "Identification")
        )
        assert await _type_name(client, ident) == "MachineToolIdentificationType"

        async def value(uri: str, name: str) -> object:
            return await (await ident.get_child(f"{twin.ns(uri)}:{name}")).read_value()

        async def text(uri: str, name: str) -> str | None:
            localized = await value(uri, name)
            assert isinstance(localized, ua.LocalizedText)
            return localized.Text

        assert await text(NS.DI, "Manufacturer") == "cell-twin Machine Works"
        assert await value(NS.DI, "SerialNumber") == "MC5-0001"
        assert await text(NS.DI, "Model") == "MC-500 5X"
        assert await value(NS.MACHINERY, "YearOfConstruction") == 2024
        uri = await value(NS.DI, "ProductInstanceUri")
        assert isinstance(uri, str)
        assert uri.startswith("urn:cell-twin:")
        assert "MC5-0001" in uri


async def _state(client: Client, twin: Twin, machine: str, block: str) -> tuple[str, ua.NodeId]:
    sm = await _path(
        client,
        twin,
        (NS.MACHINERY, "Machines"),
        (NS.TWIN, machine),
        (NS.MACHINERY, "MachineryBuildingBlocks"),
        (NS.MACHINERY, block),
    )
    current = await sm.get_child("0:CurrentState")
    text = (await current.read_value()).Text
    state_id = await (await current.get_child("0:Id")).read_value()
    return text, state_id


async def test_state_machines_follow_the_twin(twin: Twin) -> None:
    async with twin.session() as client:
        machine = twin.engine.machines["vision1"]
        state, _ = await _state(client, twin, "vision1", "MachineryItemState")
        assert state == machine.state
        twin.api.inject_fault("vision1", "breakdown", None)
        await twin.server.settle()
        state, state_id = await _state(client, twin, "vision1", "MachineryItemState")
        mode, _ = await _state(client, twin, "vision1", "MachineryOperationMode")
        assert (state, mode) == ("OutOfService", "Maintenance")
        # CurrentState.Id names the state object of MachineryItemState_StateMachineType
        state_type = client.get_node(ua.NodeId(1002, twin.ns(NS.MACHINERY)))
        expected = await state_type.get_child(f"{twin.ns(NS.MACHINERY)}:OutOfService")
        assert state_id == expected.nodeid
        twin.api.clear_fault("vision1")
        await twin.step(1.0)  # the repair completes in the simulation
        state, _ = await _state(client, twin, "vision1", "MachineryItemState")
        assert state == machine.state != "OutOfService"


async def test_process_values_carry_units_and_range(twin: Twin) -> None:
    async with twin.session() as client:
        speed = await _path(
            client,
            twin,
            (NS.MACHINERY, "Machines"),
            (NS.TWIN, "cnc1"),
            (NS.MACHINE_TOOL, "Monitoring"),
            (NS.MACHINE_TOOL, "Spindle"),
            (NS.TWIN, "ActualSpeed"),
        )
        assert await _type_name(client, speed) == "AnalogUnitType"
        eu = await (await speed.get_child("0:EngineeringUnits")).read_value()
        expected = eu_information("rpm")
        assert expected is not None
        assert eu.UnitId == expected.UnitId
        assert eu.DisplayName.Text == "r/min"
        rng = await (await speed.get_child("0:EURange")).read_value()
        assert (rng.Low, rng.High) == (0.0, 18000.0)
        joint = await _path(
            client,
            twin,
            (NS.MACHINERY, "Machines"),
            (NS.TWIN, "robot1"),
            (NS.ROBOTICS, "MotionDevices"),
            (NS.TWIN, "Arm"),
            (NS.ROBOTICS, "Axes"),
            (NS.TWIN, "Axis1"),
            (NS.DI, "ParameterSet"),
            (NS.ROBOTICS, "ActualPosition"),
        )
        arm = await _path(
            client,
            twin,
            (NS.MACHINERY, "Machines"),
            (NS.TWIN, "robot1"),
            (NS.ROBOTICS, "MotionDevices"),
            (NS.TWIN, "Arm"),
        )
        assert await _type_name(client, arm) == "MotionDeviceType"
        di = twin.ns(NS.DI)
        assert (await (await arm.get_child(f"{di}:Manufacturer")).read_value()).Text == (
            "cell-twin Robotics"
        )
        assert await (await arm.get_child(f"{di}:SerialNumber")).read_value() == "R6-0001"
        await twin.step(5.0)
        index = twin.engine.store.index("robot1.joint_1")
        assert await joint.read_value() == pytest.approx(twin.engine.store.values[index])
        unit = await (await joint.get_child("0:EngineeringUnits")).read_value()
        assert unit.DisplayName.Text == "°"


async def test_every_signal_is_served(twin: Twin) -> None:
    store = twin.engine.store
    assert set(twin.server.signal_nodes) == set(range(len(store)))
    async with twin.session() as client:
        await twin.step(2.0)
        nodes = [client.get_node(twin.server.signal_nodes[i]) for i in range(len(store))]
        values = await client.read_values(nodes)
        assert values == pytest.approx(store.values[: len(store)].tolist())


class _Changes:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[ua.NodeId, float]] = asyncio.Queue()

    def datachange_notification(self, node: Node, val: float, data: object) -> None:
        self.queue.put_nowait((node.nodeid, val))


async def test_subscribe_to_process_values(twin: Twin) -> None:
    async with twin.session() as client:
        handler = _Changes()
        sub = await client.create_subscription(50, handler)
        index = twin.engine.store.index("cnc1.power")
        node = client.get_node(twin.server.signal_nodes[index])
        await sub.subscribe_data_change(node)
        _, initial = await asyncio.wait_for(handler.queue.get(), 10)
        assert initial == pytest.approx(twin.engine.store.values[index])
        twin.api.inject_fault("cnc1", "breakdown", None)  # out of service: standby power only
        await twin.step(1.0)
        assert twin.engine.store.values[index] == pytest.approx(0.4)
        while True:
            _, value = await asyncio.wait_for(handler.queue.get(), 10)
            if value == pytest.approx(0.4):
                break
        twin.api.clear_fault("cnc1")
        await twin.step(1.0)
        await sub.delete()


async def test_robot_safety_states_follow_faults(twin: Twin) -> None:
    async with twin.session() as client:
        params = await _path(
            client,
            twin,
            (NS.MACHINERY, "Machines"),
            (NS.TWIN, "robot1"),
            (NS.ROBOTICS, "SafetyStates"),
            (NS.TWIN, "SafetyState"),
            (NS.DI, "ParameterSet"),
        )
        robotics = twin.ns(NS.ROBOTICS)
        estop = await params.get_child(f"{robotics}:EmergencyStop")
        protective = await params.get_child(f"{robotics}:ProtectiveStop")
        mode = await params.get_child(f"{robotics}:OperationalMode")
        assert await mode.read_value() == 3  # AUTOMATIC
        assert await estop.read_value() is False
        for node in (mode, estop, protective):  # values of the twin's, stamped with its time
            assert (await node.read_data_value()).SourceTimestamp is not None
        twin.api.inject_fault("robot1", "emergency_stop", None)
        await twin.step(1.0)  # a robot fault takes effect when its current move ends
        assert twin.engine.machines["robot1"].state == "OutOfService"
        assert await estop.read_value() is True
        assert await protective.read_value() is True
        twin.api.clear_fault("robot1")
        await twin.step(1.0)
        assert await estop.read_value() is False
        assert await protective.read_value() is False


async def test_machine_tool_production_and_operation_mode(twin: Twin) -> None:
    async with twin.session() as client:
        cnc = await _path(client, twin, (NS.MACHINERY, "Machines"), (NS.TWIN, "cnc1"))
        mt = twin.ns(NS.MACHINE_TOOL)
        mode = await cnc.get_child([f"{mt}:Monitoring", f"{mt}:MachineTool", f"{mt}:OperationMode"])
        assert await mode.read_value() == 1  # Automatic
        assert (await mode.read_data_value()).SourceTimestamp is not None  # an ops user's find
        program = await cnc.get_child([f"{mt}:Production", f"{mt}:ActiveProgram"])
        state = await program.get_child([f"{mt}:State", "0:CurrentState"])
        machine = twin.engine.machines["cnc1"]
        for _ in range(60):  # until the CNC runs a job (the default scenario starts with one)
            if machine.state == "Executing" and machine.mode == "Processing":
                break
            await twin.step(5.0)
        assert machine.state == "Executing"
        assert (await state.read_value()).Text == "Running"
        job = await program.get_child(f"{mt}:JobIdentifier")
        assert await job.read_value() == machine.job
        name = await (await program.get_child(f"{mt}:Name")).read_value()
        assert name
        machinery, di = twin.ns(NS.MACHINERY), twin.ns(NS.DI)
        counters = await cnc.get_child(
            [f"{machinery}:MachineryBuildingBlocks", f"{di}:OperationCounters"]
        )
        powered = await (await counters.get_child(f"{di}:PowerOnDuration")).read_value()
        working = await (await counters.get_child(f"{di}:OperationDuration")).read_value()
        assert 0 < working <= powered <= twin.engine.now * 1000.0


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


async def test_source_timestamps_are_on_the_run_time_axis(twin: Twin) -> None:
    """Cell values, like signals and events, are stamped on the run's time axis (the wall
    time aligned to simulated time 0, plus simulated time) and SimDateTime is that time; not
    the wall clock, which at speed 60 falls behind by 59 s every wall second."""
    await twin.step(60.0)  # one wall minute, one simulated hour
    await twin.refresh_cell()
    async with twin.session() as client:
        ns = twin.ns(NS.TWIN)
        sim = await client.get_node(ua.NodeId("Cell.SimTime", ns)).read_data_value()
        when = await client.get_node(ua.NodeId("Cell.SimDateTime", ns)).read_value()
        index = twin.engine.store.index("cnc1.coolant_temp")
        signal = await client.get_node(twin.server.signal_nodes[index]).read_data_value()
    assert sim.SourceTimestamp is not None
    assert sim.Value.Value == twin.engine.now
    axis = twin.driver.wall_time(sim.Value.Value)
    assert abs(_utc(sim.SourceTimestamp) - axis) < dt.timedelta(milliseconds=1)
    assert abs(_utc(when) - axis) < dt.timedelta(milliseconds=1)
    assert _utc(twin.clock.wall()) < axis - dt.timedelta(minutes=30)
    assert signal.SourceTimestamp is not None
    assert _utc(signal.SourceTimestamp) <= axis
