"""NodeIds and values of the ``opcua`` adapter: resolve the mapped nodes on a server, check
their data types (and the outputs' write access) in one Read, convert values both ways. A node
the server does not have as a usable variable is that mapping's problem, said in words, not
an error of the link. No state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asyncua import Client, ua

from adapters.bridge import TagValue, int_range, saturate
from adapters.opcua.config import parse_node

__all__ = ["INT_RANGES", "VALUE", "Usable", "check_nodes", "decode", "encode", "refused"]

_VT = ua.VariantType
_NUMBERS = ("Boolean", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64")
#: DataType (ns=0) -> the variant written (Duration is a Double on the wire)
_TYPES = {ua.NodeId(getattr(ua.ObjectIds, t)): _VT[t] for t in (*_NUMBERS, "Float", "Double")}
_TYPES[ua.NodeId(ua.ObjectIds.Duration)] = _VT.Double
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
    and, in one Read, each node's DataType and each output's UserAccessLevel. Raises only
    when a request fails (the link's problem, not a node's)."""
    nodes, problems = await _resolve(client, [*inputs, *outputs])
    texts = [t for t in dict.fromkeys([*inputs, *outputs]) if t in nodes]
    writes = [t for t in dict.fromkeys(outputs) if t in nodes]
    read = [(t, ua.AttributeIds.DataType) for t in texts]
    read += [(t, ua.AttributeIds.UserAccessLevel) for t in writes]
    params = ua.ReadParameters(
        NodesToRead=[ua.ReadValueId(NodeId=nodes[t], AttributeId=a) for t, a in read]
    )
    results = await client.uaclient.read(params) if read else []  # none: BadNothingToDo
    types: dict[str, ua.VariantType] = {}
    unwritable: dict[str, str] = {}  # outputs only: the node may still be read
    for (text, attribute), dv in zip(read, results, strict=True):
        value = dv.Value.Value if dv.Value is not None else None
        if dv.StatusCode is not None and not dv.StatusCode.is_good():
            why = refused(f"node {text!r}", dv.StatusCode)
            (unwritable if attribute == ua.AttributeIds.UserAccessLevel else problems)[text] = why
        elif attribute == ua.AttributeIds.UserAccessLevel:
            if not (value or 0) & ua.AccessLevel.CurrentWrite.mask:
                unwritable[text] = f"node {text!r}: not writable (for this user)"
        elif value in _TYPES:
            types[text] = _TYPES[value]
        else:
            problems[text] = f"node {text!r}: data type {_name(value)} is not a number or boolean"

    def usable(text: str, output: bool) -> Usable | str:
        why = problems.get(text) or (unwritable.get(text) if output else None)
        return why if why is not None else (nodes[text], types[text])

    return [usable(t, False) for t in inputs], [usable(t, True) for t in outputs]


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


def encode(value: float, vt: ua.VariantType) -> ua.DataValue:
    """What to write for ``value`` (never NaN) to a variable of type ``vt``: integers rounded
    and saturated to the type's range, booleans true for non-zero."""
    raw: float | int | bool = value
    if vt is _VT.Boolean:
        raw = value != 0
    elif vt in INT_RANGES:
        raw = saturate(value, INT_RANGES[vt])
    # the value only: some PLCs refuse writes that carry a status or timestamps
    return ua.DataValue(ua.Variant(raw, vt), StatusCode=None)


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
