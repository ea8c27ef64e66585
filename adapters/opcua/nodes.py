"""NodeIds and values of the ``opcua`` adapter: resolve the mapped nodes on a server, check
their data types (and the outputs' write access) in one Read, convert values both ways. A node
the server does not have as a usable variable is that mapping's problem, said in words, not
an error of the link. No state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asyncua import Client, ua

from adapters.bridge import TagValue, as_float32, int_range, saturate
from adapters.opcua.config import parse_node

__all__ = [
    "INT_RANGES",
    "VALUE",
    "Usable",
    "as_written",
    "check_nodes",
    "decode",
    "encode",
    "refused",
]

_VT = ua.VariantType
_NUMBERS = ("Boolean", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64")
#: DataType (ns=0) -> the variant written; their subtypes are written as they are (Duration
#: is a Double on the wire, an Enumeration's subtype an Int32)
_TYPES = {ua.NodeId(getattr(ua.ObjectIds, t)): _VT[t] for t in (*_NUMBERS, "Float", "Double")}
_TYPES[ua.NodeId(ua.ObjectIds.Duration)] = _VT.Double
_TYPES[ua.NodeId(ua.ObjectIds.Enumeration)] = _VT.Int32
#: abstract: the variant of the value the variable holds says which type it is
_BY_VALUE = _VT.Variant
_TYPES |= {
    ua.NodeId(getattr(ua.ObjectIds, t)): _BY_VALUE for t in ("Number", "Integer", "UInteger")
}
_WRITABLE = frozenset(v for v in _TYPES.values() if v is not _BY_VALUE)
_DEPTH = 16  # supertypes followed at most (a server's hierarchy is shallow, never a loop)
_BITS = {"SByte": 8, "Byte": 8, "Int16": 16, "UInt16": 16, "Int32": 32, "UInt32": 32}
#: integer variant -> (min, max): written values saturate, as a PLC's conversions do
INT_RANGES = {
    _VT[t]: int_range(n, signed=not t.startswith(("Byte", "UInt")))
    for t, n in {**_BITS, "Int64": 64, "UInt64": 64}.items()
}
VALUE = ua.AttributeIds.Value


#: A mapped node as the server has it: its NodeId and the variant type to write to it.
Usable = tuple[ua.NodeId, ua.VariantType]
_HINTS = {
    ua.StatusCodes.BadNodeIdUnknown: "no such node: check the NodeId",
    ua.StatusCodes.BadNodeIdInvalid: "check the NodeId",
    ua.StatusCodes.BadAttributeIdInvalid: "not a variable: check the NodeId",
    ua.StatusCodes.BadUserAccessDenied: "check the user's rights on the PLC",
    ua.StatusCodes.BadNotWritable: "read-only on the PLC",
}


async def check_nodes(
    client: Client, inputs: Sequence[str], outputs: Sequence[str]
) -> tuple[list[Usable | str], list[Usable | str]]:
    """Each mapped node (NodeId texts of the inputs and of the outputs, in mapping order) as
    this server has it, or why it cannot be used, naming it (``node 'ns=2;s=X': ...``): a
    namespace the server lacks, a Bad status for the node, a type that is not a number or
    boolean, an output this user may not write. Reads the namespace array (for ``nsu=``)
    and, in one Read, each node's DataType and each output's UserAccessLevel; browses the
    supertypes of a DataType that is no built-in number (a subtype of one is one, an
    Enumeration's is an Int32); reads the value of an output of an abstract type (Number,
    Integer, UInteger) for the type to write. Raises only when a request fails (the link's
    problem, not a node's)."""
    nodes, problems = await _resolve(client, [*inputs, *outputs])
    texts = [t for t in dict.fromkeys([*inputs, *outputs]) if t in nodes]
    writes = [t for t in dict.fromkeys(outputs) if t in nodes]
    read = [(t, ua.AttributeIds.DataType) for t in texts]
    read += [(t, ua.AttributeIds.UserAccessLevel) for t in writes]
    params = ua.ReadParameters(
        NodesToRead=[ua.ReadValueId(NodeId=nodes[t], AttributeId=a) for t, a in read]
    )
    results = await client.uaclient.read(params) if read else []  # none: BadNothingToDo
    data_types: dict[str, Any] = {}
    unwritable: dict[str, str] = {}  # outputs only: the node may still be read
    for (text, attribute), dv in zip(read, results, strict=True):
        value = dv.Value.Value if dv.Value is not None else None
        if dv.StatusCode is not None and not dv.StatusCode.is_good():
            why = refused(f"node {text!r}", dv.StatusCode)
            (unwritable if attribute == ua.AttributeIds.UserAccessLevel else problems)[text] = why
        elif attribute == ua.AttributeIds.UserAccessLevel:
            if not (value or 0) & ua.AccessLevel.CurrentWrite.mask:
                unwritable[text] = f"node {text!r}: not writable (for this user)"
        else:
            data_types[text] = value
    known = await _variants(client, {t for t in data_types.values() if isinstance(t, ua.NodeId)})
    types: dict[str, ua.VariantType] = {}
    for text, data_type in data_types.items():
        vt = known.get(data_type) if isinstance(data_type, ua.NodeId) else None
        if vt is None:
            why = f"data type {_name(data_type)} is not a number or boolean"
            problems[text] = f"node {text!r}: {why}"
        else:
            types[text] = vt
    abstract = [t for t in writes if types.get(t) is _BY_VALUE]
    await _by_value(client, {t: nodes[t] for t in abstract}, data_types, types, problems)

    def usable(text: str, output: bool) -> Usable | str:
        why = problems.get(text) or (unwritable.get(text) if output else None)
        return why if why is not None else (nodes[text], types[text])

    return [usable(t, False) for t in inputs], [usable(t, True) for t in outputs]


async def _by_value(
    client: Client,
    nodes: dict[str, ua.NodeId],
    data_types: dict[str, Any],
    types: dict[str, ua.VariantType],
    problems: dict[str, str],
) -> None:
    """Outputs of an abstract type (Number, Integer, UInteger: ``nodes``) are written as the
    variant of the value they hold (read in one request) into ``types``; one holding no
    number is a problem."""
    if not nodes:
        return
    values = await client.uaclient.read_attributes(list(nodes.values()), VALUE)
    for text, dv in zip(nodes, values, strict=True):
        vt = dv.Value.VariantType if dv.Value is not None and dv.Value.Value is not None else None
        if vt in _WRITABLE:
            types[text] = vt
        else:
            held = f"a {vt.name}" if vt is not None else "no value"
            problems[text] = (
                f"node {text!r}: data type {_name(data_types[text])} is abstract and the"
                f" variable holds {held}: cannot tell which number type to write"
            )


async def _variants(client: Client, data_types: set[ua.NodeId]) -> dict[ua.NodeId, ua.VariantType]:
    """The variant to write for each of ``data_types`` that is a number or boolean: its
    own, or its nearest supertype's in ``_TYPES`` (``_BY_VALUE`` for an abstract one),
    following HasSubtype up, one Browse a level for all of them (a PLC's ENUM is a subtype
    of Enumeration, an Int32 on the wire). The others are left out."""
    found: dict[ua.NodeId, ua.VariantType] = {}
    at = {t: t for t in data_types}  # each type -> the supertype reached so far
    for _ in range(_DEPTH):
        for t, s in list(at.items()):
            if s in _TYPES:
                found[t] = _TYPES[s]
            if s in _TYPES or _builtin(s):  # a built-in type has no number among its supers
                del at[t]
        if not at:
            break
        supers = await _supertypes(client, list(set(at.values())))
        at = {t: supers[s] for t, s in at.items() if s in supers}
    return found


def _builtin(data_type: ua.NodeId) -> bool:
    """One of the namespace 0 types with ids up to 29 (built-in types, BaseDataType,
    Structure, Enumeration, Number ...)."""
    ident = data_type.Identifier
    return data_type.NamespaceIndex == 0 and isinstance(ident, int) and ident < 30


async def _supertypes(client: Client, data_types: list[ua.NodeId]) -> dict[ua.NodeId, ua.NodeId]:
    """The supertype of each of ``data_types`` that has one (by its inverse HasSubtype)."""
    params = ua.BrowseParameters()
    params.NodesToBrowse = [
        ua.BrowseDescription(
            NodeId=t,
            BrowseDirection=ua.BrowseDirection.Inverse,
            ReferenceTypeId=ua.NodeId(ua.ObjectIds.HasSubtype),
            IncludeSubtypes=False,
            ResultMask=ua.BrowseResultMask.All,
        )
        for t in data_types
    ]
    results = await client.uaclient.browse(params)
    supers: dict[ua.NodeId, ua.NodeId] = {}
    for t, result in zip(data_types, results, strict=True):
        if result.StatusCode.is_good() and result.References:
            n = result.References[0].NodeId
            supers[t] = ua.NodeId(n.Identifier, n.NamespaceIndex, n.NodeIdType)
    return supers


def refused(what: str, status: ua.StatusCode) -> str:
    """``what``: the PLC answers ``status`` (and what to check, for the common ones)."""
    hint = _HINTS.get(status.value)
    return f"{what}: the PLC answers {status.name}" + (f": {hint}" if hint else "")


async def _resolve(client: Client, texts: list[str]) -> tuple[dict[str, ua.NodeId], dict[str, str]]:
    """Each NodeId text's node on this server (``nsu=`` through its namespace array), and
    why each other one has none (the server lacks its namespace)."""
    parsed = {t: parse_node(t) for t in texts}
    expanded = any(isinstance(n, ua.ExpandedNodeId) for n in parsed.values())
    table = await client.get_namespace_array() if expanded else []
    nodes: dict[str, ua.NodeId] = {}
    problems: dict[str, str] = {}
    for text, node in parsed.items():
        ns = node.NamespaceIndex
        if isinstance(node, ua.ExpandedNodeId):
            if node.NamespaceUri not in table:
                problems[text] = f"node {text!r}: the server has no namespace {node.NamespaceUri!r}"
                continue
            ns = table.index(node.NamespaceUri)
        nodes[text] = ua.NodeId(node.Identifier, ns, node.NodeIdType)
    return nodes, problems


def _raw(value: float, vt: ua.VariantType) -> float | int | bool:
    """``value`` (never NaN) as written to a variable of type ``vt``: integers rounded and
    saturated to the type's range, booleans true for non-zero."""
    if vt is _VT.Boolean:
        return value != 0
    if vt in INT_RANGES:
        return saturate(value, INT_RANGES[vt])
    return value


def encode(value: float, vt: ua.VariantType) -> ua.DataValue:
    """What to write for ``value`` (never NaN) to a variable of type ``vt`` (``_raw``)."""
    # the value only: some PLCs refuse writes that carry a status or timestamps
    return ua.DataValue(ua.Variant(_raw(value, vt), vt), StatusCode=None)


def as_written(value: float, vt: ua.VariantType) -> float:
    """``value`` (never NaN) as a variable of type ``vt`` holds it once ``encode`` wrote it:
    0 or 1 for a boolean, rounded and saturated for an integer, a float32's precision."""
    return as_float32(value) if vt is _VT.Float else float(_raw(value, vt))


def decode(dv: ua.DataValue) -> TagValue:
    """A number or flag from a DataValue; None for a bad status or another type."""
    if (dv.StatusCode is not None and dv.StatusCode.is_bad()) or dv.Value is None:
        return None
    v = dv.Value.Value
    return v if isinstance(v, bool | int | float) else None


def _name(data_type: Any) -> str:
    if not isinstance(data_type, ua.NodeId):
        return repr(data_type)
    name = ua.ObjectIdNames.get(data_type.Identifier) if data_type.NamespaceIndex == 0 else None
    return f"{name} ({data_type.to_string()})" if name else data_type.to_string()
