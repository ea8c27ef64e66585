"""What node families share: the build context, the family interface and batch helpers (what
their methods share is in ``calls``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from asyncua import Node, Server, ua
from asyncua.common.instantiate_util import instantiate

from opcua_server.nodesets import NS
from twin.events import guarded
from twin.links import LinkRegistry
from twin.signals import SignalSpec

if TYPE_CHECKING:
    from opcua_server.history import SqliteHistory
    from opcua_server.nodes.job_records import JobRecords
    from opcua_server.outbox import Outbox
    from opcua_server.settings import ServerSettings
    from twin.api import TwinAPI
    from twin.clock import Clock
    from twin.engine.cell import Engine
    from twin.events import Event
    from twin.kpi import KpiCollector

__all__ = [
    "BuildContext",
    "NodeFamily",
    "add_items",
    "analog_items",
    "child",
    "eu_information",
    "instantiate_type",
    "property_item",
    "remove_subtrees",
]

_log = logging.getLogger(__name__)

# UNECE Recommendation 20 common codes for the units the machine models use
_UNECE = {
    "rpm": ("RPM", "r/min", "revolutions per minute"),
    "%": ("P1", "%", "percent"),
    "mm/min": ("H81", "mm/min", "millimetre per minute"),
    "mm": ("MMT", "mm", "millimetre"),
    "deg": ("DD", "°", "degree"),
    "degC": ("CEL", "°C", "degree Celsius"),
    "kW": ("KWT", "kW", "kilowatt"),
    "m/s": ("MTS", "m/s", "metre per second"),
    "g": ("GRM", "g", "gram"),
    "s": ("SEC", "s", "second"),
    "h": ("HUR", "h", "hour"),
}
_UNECE_URI = "http://www.opcfoundation.org/UA/units/un/cefact"


def eu_information(unit: str) -> ua.EUInformation | None:
    """EUInformation (UNECE code) for a unit symbol; None for dimensionless signals."""
    if not unit:
        return None
    code, symbol, text = _UNECE.get(unit, ("", unit, unit))
    unit_id = -1
    if code:
        unit_id = 0
        for c in code:
            unit_id = (unit_id << 8) | ord(c)
    return ua.EUInformation(
        NamespaceUri=_UNECE_URI,
        UnitId=unit_id,
        DisplayName=ua.LocalizedText(symbol),
        Description=ua.LocalizedText(text),
    )


@dataclass
class BuildContext:
    """Everything a node family may use while building and running."""

    server: Server
    engine: Engine
    api: TwinAPI
    settings: ServerSettings
    ns: dict[str, int]
    outbox: Outbox
    history: SqliteHistory | None
    clock: Clock
    origin: datetime  # simulated time 0 on the run's time axis (TwinServer.epoch)
    machine_nodes: dict[str, ua.NodeId] = field(default_factory=dict)
    signal_nodes: dict[int, ua.NodeId] = field(default_factory=dict)
    event_types: dict[str, ua.NodeId] = field(default_factory=dict)
    links: LinkRegistry = field(default_factory=LinkRegistry)  # the PLC links (adapters)
    kpi: KpiCollector | None = None  # the run's KPIs, fed by the caller (else the Cell's own)
    # the twin's jobs for the job management, fed by the caller from time 0 (else the jobs
    # family's own, from the engine's state when the server starts)
    job_records: JobRecords | None = None

    @property
    def twin(self) -> int:
        return self.ns[NS.TWIN]

    def qn(self, uri: str, name: str) -> ua.QualifiedName:
        return ua.QualifiedName(name, self.ns[uri])

    def nid(self, ident: str) -> ua.NodeId:
        return ua.NodeId(ident, self.twin)

    def node(self, nodeid: ua.NodeId) -> Node:
        return self.server.get_node(nodeid)

    def now(self) -> datetime:
        """The twin's time now on the run's time axis (``at``)."""
        return self.at(self.engine.now)

    def at(self, sim_t: float) -> datetime:
        """Simulated time ``sim_t`` on the run's time axis, as every source timestamp:
        ``origin`` plus ``sim_t``."""
        return (self.origin + timedelta(seconds=sim_t)).astimezone(UTC)

    def follow(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Subscribe ``callback`` to the twin's events; returns the function that ends it.
        Guarded (``twin.events.guarded``): the server's view failing does not reach the
        engine."""
        view = guarded(callback, _log, "OPC UA server", "the address space may not show it")
        return self.engine.bus.subscribe(view)

    def value(self, value: Any, vtype: ua.VariantType) -> ua.DataValue:
        """A value of the twin's, stamped with its time now (source and server timestamp)."""
        now = self.now()
        return ua.DataValue(ua.Variant(value, vtype), SourceTimestamp=now, ServerTimestamp=now)

    def write(
        self,
        nodeid: ua.NodeId,
        value: Any,
        vtype: ua.VariantType,
        status: ua.StatusCode | None = None,
    ) -> None:
        """Queue a value write (applied in order by the outbox worker); with a Bad ``status``
        the value is null (OPC 10000-4 7.11: a Bad value shall be null)."""
        if status is None:
            dv = self.value(value, vtype)
        else:
            dv = ua.DataValue(ua.Variant(), StatusCode=status, SourceTimestamp=self.now())
            dv.ServerTimestamp = dv.SourceTimestamp
        server = self.server
        self.outbox.put(lambda: server.write_attribute_value(nodeid, dv))


class NodeFamily(Protocol):
    """One family of nodes: adds them, then follows the twin while the server runs."""

    nodes: list[ua.NodeId]

    def __init__(self, ctx: BuildContext) -> None: ...

    async def build(self) -> None:
        """Add the family's nodes to the address space (server not yet serving)."""
        ...

    def start(self) -> None:
        """Attach to the running twin (subscribe to events, schedule updates)."""
        ...

    async def stop(self) -> None:
        """Detach from the twin."""
        ...


def property_item(
    parent: ua.NodeId,
    nodeid: ua.NodeId,
    name: ua.QualifiedName,
    value: Any,
    vtype: ua.VariantType,
    datatype: ua.NodeId,
) -> ua.AddNodesItem:
    """An AddNodesItem for a read-only property (HasProperty, PropertyType)."""
    item = ua.AddNodesItem()
    item.RequestedNewNodeId = nodeid
    item.BrowseName = name
    item.NodeClass = ua.NodeClass.Variable
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasProperty)
    item.TypeDefinition = ua.NodeId(ua.ObjectIds.PropertyType)
    attrs = ua.VariableAttributes()
    attrs.DisplayName = ua.LocalizedText(name.Name)
    attrs.Value = ua.Variant(value, vtype)
    attrs.DataType = datatype
    attrs.ValueRank = -1
    attrs.AccessLevel = ua.AccessLevel.CurrentRead.mask
    attrs.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
    item.NodeAttributes = attrs
    return item


def analog_items(
    parent: ua.NodeId,
    nodeid: ua.NodeId,
    name: ua.QualifiedName,
    spec: SignalSpec,
    historizing: bool,
) -> list[ua.AddNodesItem]:
    """AddNodesItems for one process value: an AnalogUnitType variable (AnalogItemType when
    dimensionless) with its EURange and EngineeringUnits properties."""
    eu = eu_information(spec.unit)
    item = ua.AddNodesItem()
    item.RequestedNewNodeId = nodeid
    item.BrowseName = name
    item.NodeClass = ua.NodeClass.Variable
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasComponent)
    item.TypeDefinition = ua.NodeId(
        ua.ObjectIds.AnalogUnitType if eu is not None else ua.ObjectIds.AnalogItemType
    )
    attrs = ua.VariableAttributes()
    attrs.DisplayName = ua.LocalizedText(name.Name)
    attrs.Description = ua.LocalizedText(spec.description)
    attrs.Value = ua.Variant(0.0, ua.VariantType.Double)
    attrs.DataType = ua.NodeId(ua.ObjectIds.Double)
    attrs.ValueRank = -1
    access = ua.AccessLevel.CurrentRead.mask
    if historizing:
        access |= ua.AccessLevel.HistoryRead.mask
    attrs.AccessLevel = access
    attrs.UserAccessLevel = access
    attrs.Historizing = historizing
    item.NodeAttributes = attrs
    ident = nodeid.Identifier
    ns = nodeid.NamespaceIndex
    items = [
        item,
        property_item(
            nodeid,
            ua.NodeId(f"{ident}.EURange", ns),
            ua.QualifiedName("EURange", 0),
            ua.Range(Low=spec.low, High=spec.high),
            ua.VariantType.ExtensionObject,
            ua.NodeId(ua.ObjectIds.Range),
        ),
    ]
    if eu is not None:
        items.append(
            property_item(
                nodeid,
                ua.NodeId(f"{ident}.EngineeringUnits", ns),
                ua.QualifiedName("EngineeringUnits", 0),
                eu,
                ua.VariantType.ExtensionObject,
                ua.NodeId(ua.ObjectIds.EUInformation),
            )
        )
    return items


async def add_items(server: Server, items: Sequence[ua.AddNodesItem]) -> None:
    """Add nodes in one batch through the server's internal session; raises on any failure."""
    results = await server.iserver.isession.add_nodes(list(items))
    for item, res in zip(items, results, strict=True):
        if not res.StatusCode.is_good():
            raise RuntimeError(f"cannot add node {item.BrowseName.to_string()}: {res.StatusCode}")


async def child(parent: Node, name: ua.QualifiedName) -> Node | None:
    """``parent``'s child with browse name ``name``, or None."""
    try:
        return await parent.get_child(name)
    except ua.UaStatusCodeError:
        return None


async def instantiate_type(
    ctx: BuildContext,
    parent: Node,
    type_id: ua.NodeId,
    ident: str,
    name: ua.QualifiedName,
    *,
    reference: int | None = None,
    optional: bool = False,
) -> list[Node]:
    """Instantiate a type (or an instance declaration) below ``parent`` with string node ids
    ``<ident>.<child>...``; drops the placeholders (``<Name>`` children) asyncua copies
    literally and, with ``reference``, links the new node from ``parent`` by that reference
    type instead. Returns the created nodes, the new node first.

    From an instance declaration (a Method or Variable of a type, e.g. an optional one the
    type's instances leave out), the new node's type definition is the declaration's own:
    none for a Method (OPC 10000-3: Methods have no type definition), the VariableType of a
    Variable (asyncua makes it point at the declaration, which is no type)."""
    created = await instantiate(
        parent,
        ctx.node(type_id),
        ctx.nid(ident),
        bname=name,
        dname=ua.LocalizedText(name.Name),
        instantiate_optional=optional,
    )

    # children get string ids "<parent id>.<browse name>": a placeholder's subtree is every
    # id below the first "<Name>" segment; delete each subtree once, from its root
    def is_root_placeholder(n: Node) -> bool:
        parts = str(n.nodeid.Identifier).split(".")
        return parts[-1].startswith("<") and not any(p.startswith("<") for p in parts[:-1])

    placeholders = [n for n in created if "<" in str(n.nodeid.Identifier)]
    roots = [n for n in placeholders if is_root_placeholder(n)]
    if roots:
        remove_subtrees(ctx, [n.nodeid for n in roots])
    node = created[0]
    await _declared_type_definition(ctx, parent, node, type_id)
    if reference is not None:
        for ref in await parent.get_references(refs=ua.ObjectIds.HierarchicalReferences):
            if ref.NodeId == node.nodeid:
                await parent.delete_reference(node, ref.ReferenceTypeId)
        await parent.add_reference(node, reference)
    return [n for n in created if n not in placeholders]


async def _declared_type_definition(
    ctx: BuildContext, parent: Node, node: Node, declaration: ua.NodeId
) -> None:
    """Give ``node``, instantiated from ``declaration``, the type definition of the
    declaration (none unless it is a type itself), also in ``parent``'s reference to it (what
    Browse returns as TypeDefinition)."""
    aspace = ctx.server.iserver.aspace
    if await ctx.node(declaration).read_node_class() in _TYPES:
        return
    declared = [replace(r) for r in aspace[declaration].references if _is_type_definition(r)]
    data = aspace[node.nodeid]
    data.references = [r for r in data.references if not _is_type_definition(r)] + declared
    target = declared[0].NodeId if declared else ua.NodeId()
    for ref in aspace[parent.nodeid].references:
        if ref.NodeId == node.nodeid:
            ref.TypeDefinition = target


_TYPES = (ua.NodeClass.ObjectType, ua.NodeClass.VariableType)
_HAS_TYPE_DEFINITION = ua.NodeId(ua.ObjectIds.HasTypeDefinition)


def _is_type_definition(ref: ua.ReferenceDescription) -> bool:
    return ref.ReferenceTypeId == _HAS_TYPE_DEFINITION and ref.IsForward


def remove_subtrees(ctx: BuildContext, roots: list[ua.NodeId]) -> None:
    """Delete nodes we instantiated (string ids ``<parent>.<name>``) with everything below.

    asyncua's DeleteNodes scans the whole address space for references to each deleted node
    (seconds for a few hundred nodes once the companion specs are loaded); a subtree of ours
    is referenced from outside only by its parent, so that one reference is dropped directly
    and the nodes are deleted without the scan.
    """
    aspace = ctx.server.iserver.aspace
    doomed: set[ua.NodeId] = set(roots)
    prefixes = tuple(f"{r.Identifier}." for r in roots)
    namespaces = {r.NamespaceIndex for r in roots}
    for nodeid in list(aspace.keys()):
        ident = nodeid.Identifier
        if (
            nodeid.NamespaceIndex in namespaces
            and isinstance(ident, str)
            and ident.startswith(prefixes)
        ):
            doomed.add(nodeid)
    for root in roots:
        parent = ua.NodeId(str(root.Identifier).rsplit(".", 1)[0], root.NamespaceIndex)
        if parent in aspace:
            data = aspace[parent]
            data.references = [r for r in data.references if r.NodeId != root]
    items = [ua.DeleteNodesItem(NodeId=n, DeleteTargetReferences=False) for n in doomed]
    results = ctx.server.iserver.node_mgt_service.delete_nodes(
        ua.DeleteNodesParameters(NodesToDelete=items)
    )
    for item, res in zip(items, results, strict=True):
        if not res.is_good():
            raise RuntimeError(f"cannot delete {item.NodeId.to_string()}: {res}")
