"""Machines under ``Objects/Machines`` (OPC 40001-1), each an instance of its companion-spec
type, with Identification, the MachineryItemState and MachineryOperationMode state machines
(CurrentState follows the twin), operation counters and the kind's process values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asyncua import Node, ua

from opcua_server.nodes.base import (
    BuildContext,
    add_items,
    analog_items,
    child,
    instantiate_type,
    property_item,
    remove_subtrees,
)
from opcua_server.nodes.placement import MACHINE_TYPES, placement
from opcua_server.nodesets import NS
from twin.engine.machine import MachineRuntime
from twin.events import Event, MachineStateChanged, OperationFinished, OperationStarted

__all__ = ["MachinesFamily"]

_ITEM_STATES = ("NotAvailable", "OutOfService", "NotExecuting", "Executing")
_MODES = ("None", "Maintenance", "Setup", "Processing")
_MACHINES_FOLDER = 1001  # Machinery: Objects/Machines
_ITEM_STATE_TYPE = 1002  # Machinery: MachineryItemState_StateMachineType
_MODE_TYPE = 1008  # Machinery: MachineryOperationModeStateMachineType
_IDENTIFICATION_TYPE = 1012  # Machinery: MachineIdentificationType
_COUNTER_TYPE = 1009  # Machinery: MachineryOperationCounterType
_PROGRAM_TYPE = 15  # MachineTool: ProductionProgramStateMachineType
_PROGRAM_STATES = ("Initializing", "Running", "Ended", "Interrupted", "Aborted")
_AUTOMATIC = 1  # MachineTool: MachineOperationMode.Automatic


class _MachineNodes:
    """Node ids of one machine that follow the twin."""

    def __init__(self, node: ua.NodeId) -> None:
        self.node = node
        self.item_state: tuple[ua.NodeId, ua.NodeId] | None = None
        self.mode: tuple[ua.NodeId, ua.NodeId] | None = None
        self.cycles: ua.NodeId | None = None
        self.program: ua.NodeId | None = None
        self.job: ua.NodeId | None = None
        self.cycle_count = 0
        self.durations: dict[str, ua.NodeId] = {}  # OperationDuration, PowerOnDuration
        self.executing_s = 0.0  # simulated seconds in Executing, up to ``since``
        self.since = 0.0
        self.executing = False
        self.program_state: tuple[ua.NodeId, ua.NodeId] | None = None
        self.safety: dict[str, ua.NodeId] = {}  # robots: EmergencyStop, ProtectiveStop


class MachinesFamily:
    """Builds the machines and keeps their state machines and counters current."""

    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx
        self.nodes: list[ua.NodeId] = []
        self.machines: dict[str, _MachineNodes] = {}
        self._state_ids: dict[tuple[int, str], ua.NodeId] = {}
        self._unsubscribe: Callable[[], None] | None = None

    # -- build ----------------------------------------------------------------------------------
    async def build(self) -> None:
        ctx = self.ctx
        await self._twin_types()
        for uri, type_id, names in (
            (NS.MACHINERY, _ITEM_STATE_TYPE, _ITEM_STATES),
            (NS.MACHINERY, _MODE_TYPE, _MODES),
            (NS.MACHINE_TOOL, _PROGRAM_TYPE, _PROGRAM_STATES),
        ):
            type_node = ctx.node(ua.NodeId(type_id, ctx.ns[uri]))
            for name in names:
                state = await type_node.get_child(ctx.qn(uri, name))
                self._state_ids[(type_id, name)] = state.nodeid
        folder = ctx.node(ua.NodeId(_MACHINES_FOLDER, ctx.ns[NS.MACHINERY]))
        for m in ctx.engine.machines.values():
            await self._machine(folder, m)

    async def _twin_types(self) -> None:
        ctx = self.ctx
        mt = ctx.node(ua.NodeId(13, ctx.ns[NS.MACHINE_TOOL]))
        for name in ("AdditiveManufacturingType", "InspectionStationType"):
            await mt.add_object_type(ctx.nid(f"types.{name}"), ctx.qn(NS.TWIN, name))
        await ctx.server.nodes.base_object_type.add_object_type(
            ctx.nid("types.GenericMachineType"), ctx.qn(NS.TWIN, "GenericMachineType")
        )

    def _type_id(self, kind: str) -> ua.NodeId:
        uri, ident = MACHINE_TYPES.get(kind, MACHINE_TYPES["generic"])
        if isinstance(ident, str):
            return self.ctx.nid(f"types.{ident}")
        return ua.NodeId(ident, self.ctx.ns[uri])

    async def _instantiate(
        self,
        parent: Node,
        type_id: ua.NodeId,
        ident: str,
        name: ua.QualifiedName,
        reference: int | None = None,
        optional: bool = False,
    ) -> Node:
        created = await instantiate_type(
            self.ctx, parent, type_id, ident, name, reference=reference, optional=optional
        )
        self.nodes.extend(n.nodeid for n in created)
        return created[0]

    async def _child(self, parent: Node, name: ua.QualifiedName) -> Node | None:
        return await child(parent, name)

    async def _machine(self, folder: Node, m: MachineRuntime) -> None:
        ctx = self.ctx
        mid = m.id
        node = await self._instantiate(folder, self._type_id(m.kind), mid, ctx.qn(NS.TWIN, mid))
        ctx.machine_nodes[mid] = node.nodeid
        if m.cfg.name:
            await node.write_attribute(
                ua.AttributeIds.Description,
                ua.DataValue(
                    ua.Variant(ua.LocalizedText(m.cfg.name), ua.VariantType.LocalizedText)
                ),
            )
        nodes = _MachineNodes(node.nodeid)
        self.machines[mid] = nodes
        await self._identification(node, m)
        blocks = await node.add_folder(
            ctx.nid(f"{mid}.MachineryBuildingBlocks"),
            ctx.qn(NS.MACHINERY, "MachineryBuildingBlocks"),
        )
        self.nodes.append(blocks.nodeid)
        ident = await node.get_child(ctx.qn(NS.DI, "Identification"))
        await blocks.add_reference(ident, ua.ObjectIds.HasAddIn)
        for type_id, name in (
            (_ITEM_STATE_TYPE, "MachineryItemState"),
            (_MODE_TYPE, "MachineryOperationMode"),
        ):
            sm = await self._instantiate(
                blocks,
                ua.NodeId(type_id, ctx.ns[NS.MACHINERY]),
                f"{mid}.MachineryBuildingBlocks.{name}",
                ctx.qn(NS.MACHINERY, name),
                reference=ua.ObjectIds.HasAddIn,
            )
            current = await sm.get_child(ua.QualifiedName("CurrentState", 0))
            cid = await current.get_child(ua.QualifiedName("Id", 0))
            pair = (current.nodeid, cid.nodeid)
            if type_id == _ITEM_STATE_TYPE:
                nodes.item_state = pair
            else:
                nodes.mode = pair
        counters = await self._instantiate(
            blocks,
            ua.NodeId(_COUNTER_TYPE, ctx.ns[NS.MACHINERY]),
            f"{mid}.MachineryBuildingBlocks.OperationCounters",
            ctx.qn(NS.DI, "OperationCounters"),
            reference=ua.ObjectIds.HasAddIn,
            optional=True,
        )
        cycles = await self._child(counters, ctx.qn(NS.DI, "OperationCycleCounter"))
        nodes.cycles = cycles.nodeid if cycles is not None else None
        for name in ("OperationDuration", "PowerOnDuration"):
            var = await self._child(counters, ctx.qn(NS.DI, name))
            if var is not None:
                nodes.durations[name] = var.nodeid
        production = await self._child(node, ctx.qn(NS.MACHINE_TOOL, "Production"))
        if production is not None:
            program = await production.get_child(ctx.qn(NS.MACHINE_TOOL, "ActiveProgram"))
            nodes.program = (await program.get_child(ctx.qn(NS.MACHINE_TOOL, "Name"))).nodeid
            job_id = ctx.nid(f"{mid}.Production.ActiveProgram.JobIdentifier")
            await add_items(
                ctx.server,
                [
                    property_item(
                        program.nodeid,
                        job_id,
                        ctx.qn(NS.MACHINE_TOOL, "JobIdentifier"),
                        "",
                        ua.VariantType.String,
                        ua.NodeId(ua.ObjectIds.String),
                    )
                ],
            )
            nodes.job = job_id
            sm = await program.get_child(ctx.qn(NS.MACHINE_TOOL, "State"))
            current = await sm.get_child(ua.QualifiedName("CurrentState", 0))
            cid = await current.get_child(ua.QualifiedName("Id", 0))
            nodes.program_state = (current.nodeid, cid.nodeid)
            monitoring = await node.get_child(ctx.qn(NS.MACHINE_TOOL, "Monitoring"))
            tool = await monitoring.get_child(ctx.qn(NS.MACHINE_TOOL, "MachineTool"))
            mode = await tool.get_child(ctx.qn(NS.MACHINE_TOOL, "OperationMode"))
            await mode.write_value(ctx.value(_AUTOMATIC, ua.VariantType.Int32))
        if m.kind == "robot":
            await self._safety(node, m, nodes)
        await self._signals(node, m)
        if m.kind == "robot":
            await self._motion_device(node, m)

    async def _motion_device(self, node: Node, m: MachineRuntime) -> None:
        """The arm's mandatory nameplate (MotionDeviceType, OPC 40010-1) from the config."""
        ctx = self.ctx
        arm = await self._child(node, ctx.qn(NS.ROBOTICS, "MotionDevices"))
        arm = await self._child(arm, ctx.qn(NS.TWIN, "Arm")) if arm is not None else None
        if arm is None:
            return
        cfg = m.cfg
        lt, s = ua.VariantType.LocalizedText, ua.VariantType.String
        articulated = 1  # MotionDeviceCategoryEnumeration.ARTICULATED_ROBOT
        for uri, name, value, vtype in (
            (NS.DI, "Manufacturer", ua.LocalizedText(cfg.manufacturer), lt),
            (NS.DI, "Model", ua.LocalizedText(cfg.model or m.kind), lt),
            (NS.DI, "SerialNumber", cfg.serial_number or m.id, s),
            (NS.DI, "ProductCode", cfg.model or m.kind, s),
            (NS.ROBOTICS, "MotionDeviceCategory", articulated, ua.VariantType.Int32),
        ):
            child = await self._child(arm, ctx.qn(uri, name))
            if child is not None:
                await child.write_value(ua.DataValue(ua.Variant(value, vtype)))

    async def _safety(self, node: Node, m: MachineRuntime, nodes: _MachineNodes) -> None:
        """SafetyStates/SafetyState (OPC 40010-1): EmergencyStop and ProtectiveStop follow the
        robot's faults, OperationalMode is AUTOMATIC (the cell runs unattended)."""
        ctx = self.ctx
        folder = await self._child(node, ctx.qn(NS.ROBOTICS, "SafetyStates"))
        if folder is None:
            return
        state = await self._instantiate(
            folder,
            ua.NodeId(1013, ctx.ns[NS.ROBOTICS]),  # SafetyStateType
            f"{m.id}.SafetyStates.SafetyState",
            ctx.qn(NS.TWIN, "SafetyState"),
        )
        params = await self._child(state, ctx.qn(NS.DI, "ParameterSet"))
        if params is None:
            return
        for name in ("EmergencyStop", "ProtectiveStop"):
            var = await self._child(params, ctx.qn(NS.ROBOTICS, name))
            if var is not None:
                nodes.safety[name] = var.nodeid
                await var.write_value(ctx.value(False, ua.VariantType.Boolean))
        mode = await self._child(params, ctx.qn(NS.ROBOTICS, "OperationalMode"))
        if mode is not None:
            automatic = 3  # OperationalModeEnumeration.AUTOMATIC
            await mode.write_value(ctx.value(automatic, ua.VariantType.Int32))

    async def _identification(self, node: Node, m: MachineRuntime) -> None:
        ctx = self.ctx
        cfg = m.cfg
        ident = await self._child(node, ctx.qn(NS.DI, "Identification"))
        if ident is None:
            ident = await self._instantiate(
                node,
                ua.NodeId(_IDENTIFICATION_TYPE, ctx.ns[NS.MACHINERY]),
                f"{m.id}.Identification",
                ctx.qn(NS.DI, "Identification"),
                reference=ua.ObjectIds.HasAddIn,
            )
        uri = f"urn:cell-twin:{ctx.engine.scenario.cell.name}:{m.id}:{cfg.serial_number or m.id}"
        lt, s = ua.VariantType.LocalizedText, ua.VariantType.String
        values: list[tuple[str, str, Any, ua.VariantType, int]] = [
            (
                NS.DI,
                "Manufacturer",
                ua.LocalizedText(cfg.manufacturer),
                lt,
                ua.ObjectIds.LocalizedText,
            ),
            (NS.DI, "SerialNumber", cfg.serial_number or m.id, s, ua.ObjectIds.String),
            (NS.DI, "ProductInstanceUri", uri, s, ua.ObjectIds.String),
            (NS.DI, "Model", ua.LocalizedText(cfg.model or m.kind), lt, ua.ObjectIds.LocalizedText),
            (
                NS.MACHINERY,
                "YearOfConstruction",
                cfg.year_of_construction,
                ua.VariantType.UInt16,
                ua.ObjectIds.UInt16,
            ),
            (NS.DI, "AssetId", m.id, s, ua.ObjectIds.String),
            (
                NS.DI,
                "ComponentName",
                ua.LocalizedText(cfg.name or m.id),
                lt,
                ua.ObjectIds.LocalizedText,
            ),
        ]
        missing = []
        for uri_, name, value, vtype, dtype in values:
            qn = ctx.qn(uri_, name)
            child = await self._child(ident, qn)
            if child is None:
                missing.append(
                    property_item(
                        ident.nodeid,
                        ctx.nid(f"{m.id}.Identification.{name}"),
                        qn,
                        value,
                        vtype,
                        ua.NodeId(dtype),
                    )
                )
            else:
                await child.write_value(ua.DataValue(ua.Variant(value, vtype)))
        if missing:
            await add_items(ctx.server, missing)

    async def _signals(self, node: Node, m: MachineRuntime) -> None:
        ctx = self.ctx
        store = ctx.engine.store
        if not ctx.engine.signals_enabled:
            return
        items: list[ua.AddNodesItem] = []
        historizing = ctx.history is not None
        cache: dict[tuple[str, str], Node] = {}
        for index in range(m.block.start, m.block.stop):
            spec = store.spec(index)
            where = placement(m.kind, spec.name)
            parent = node
            ident = m.id
            for step in where.path:
                qn = ctx.qn(step.uri, step.name)
                ident = f"{ident}.{step.name}"
                key = (parent.nodeid.to_string(), qn.to_string())
                child = cache.get(key) or await self._child(parent, qn)
                if child is None:
                    type_ns = ctx.ns[step.type_uri] if step.type_uri else 0
                    child = await self._instantiate(
                        parent, ua.NodeId(step.type_id, type_ns), ident, qn
                    )
                cache[key] = child
                parent = child
            leaf_qn = ctx.qn(where.uri, where.name)
            existing = await self._child(parent, leaf_qn)
            if existing is not None:
                # a variable the companion type already declares (e.g. the Robotics axes'
                # ActualPosition): replace it by ours, same browse name, with range, units and
                # history access like every process value
                remove_subtrees(ctx, [existing.nodeid])
            leaf = ctx.nid(f"{ident}.{where.name}")
            items += analog_items(parent.nodeid, leaf, leaf_qn, spec, historizing)
            ctx.signal_nodes[index] = leaf
            self.nodes.append(leaf)
        await add_items(ctx.server, items)

    # -- run ------------------------------------------------------------------------------------
    def start(self) -> None:
        engine, kpi = self.ctx.engine, self.ctx.kpi
        for m in engine.machines.values():
            self._state(m.id, m.state, m.mode, "Running" if m.job else "Initializing")
            nodes = self.machines[m.id]
            if kpi is None:
                nodes.since = engine.now
                nodes.executing = m.state == "Executing"
            else:
                # the run's KPIs are fed from time 0 (a restored twin's through its replay):
                # the counters go on from what they counted, not from 0
                times = kpi.times[m.id]
                nodes.executing_s = times.processing + times.setup  # Executing, up to since
                nodes.since = times.since
                nodes.executing = times.state == "Executing"
                nodes.cycle_count = times.produced
            self._write_durations(m.id, engine.now)
            if nodes.cycles is not None:
                self.ctx.write(nodes.cycles, nodes.cycle_count, ua.VariantType.UInt32)
        self._unsubscribe = self.ctx.follow(self._on_event)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _durations(self, ev: MachineStateChanged) -> None:
        """OperationCounters durations (Duration: milliseconds of simulated time): time in
        Executing, and time powered (the twin's machines are on from the start)."""
        nodes = self.machines[ev.machine]
        if nodes.executing:
            nodes.executing_s += ev.t - nodes.since
        nodes.since = ev.t
        nodes.executing = ev.state == "Executing"
        self._write_durations(ev.machine, ev.t)

    def _write_durations(self, machine: str, t: float) -> None:
        """The OperationCounters durations of ``machine`` as of ``t`` (not before its last
        state change)."""
        nodes = self.machines[machine]
        executing = nodes.executing_s + (t - nodes.since if nodes.executing else 0.0)
        values = {"OperationDuration": executing * 1000.0, "PowerOnDuration": t * 1000.0}
        for name, nodeid in nodes.durations.items():
            self.ctx.write(nodeid, values[name], ua.VariantType.Double)

    def _safety_states(self, machine: str) -> None:
        nodes = self.machines[machine]
        if not nodes.safety:
            return
        m = self.ctx.engine.machines[machine]
        values = {
            "EmergencyStop": any(kind == "emergency_stop" for kind, _ in m.faults),
            "ProtectiveStop": m.state == "OutOfService",
        }
        for name, nodeid in nodes.safety.items():
            self.ctx.write(nodeid, values[name], ua.VariantType.Boolean)

    def _state(self, machine: str, state: str, mode: str, program: str | None = None) -> None:
        nodes = self.machines[machine]
        ctx = self.ctx
        lt, nid = ua.VariantType.LocalizedText, ua.VariantType.NodeId
        for pair, type_id, value in (
            (nodes.item_state, _ITEM_STATE_TYPE, state),
            (nodes.mode, _MODE_TYPE, mode),
            (nodes.program_state, _PROGRAM_TYPE, program),
        ):
            if value is None:
                continue
            if pair is None:
                continue
            ctx.write(pair[0], ua.LocalizedText(value, "en"), lt)
            state_id = self._state_ids.get((type_id, value))
            if state_id is not None:
                ctx.write(pair[1], state_id, nid)

    def _on_event(self, ev: Event) -> None:
        if isinstance(ev, MachineStateChanged):
            self._state(ev.machine, ev.state, ev.mode, _program_state(ev))
            self._durations(ev)
            self._safety_states(ev.machine)
        elif isinstance(ev, OperationStarted):
            nodes = self.machines[ev.machine]
            if nodes.program is not None:
                self.ctx.write(nodes.program, ev.name, ua.VariantType.String)
            if nodes.job is not None:
                self.ctx.write(nodes.job, ev.job, ua.VariantType.String)
        elif isinstance(ev, OperationFinished) and ev.aborted:
            m = self.ctx.engine.machines[ev.machine]
            self._state(ev.machine, m.state, m.mode, "Aborted")
        elif isinstance(ev, OperationFinished):
            nodes = self.machines[ev.machine]
            nodes.cycle_count += 1
            if nodes.cycles is not None:
                self.ctx.write(nodes.cycles, nodes.cycle_count, ua.VariantType.UInt32)


def _program_state(ev: MachineStateChanged) -> str | None:
    """ProductionProgramStateMachine state (OPC 40501-1) implied by a machine state change."""
    if ev.state == "Executing":
        return "Running"
    if ev.state in ("OutOfService", "NotAvailable"):
        return "Interrupted" if ev.job else None
    return "Ended" if ev.job is None else None
