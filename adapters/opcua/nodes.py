"""NodeIds and values of the ``opcua`` adapter: resolve the mapped nodes on a server, check
their data types in one Read, convert values both ways. No state.
"""

from __future__ import annotations

from typing import Any

from asyncua import Client, ua

from adapters.bridge import TagValue, int_range, saturate
from adapters.opcua.config import parse_node
from twin.errors import ServiceError

__all__ = ["VALUE", "decode", "encode", "resolve", "types_of"]

_VT = ua.VariantType
_NUMBERS = ("Boolean", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64")
#: DataType (ns=0) -> the variant written (Duration is a Double on the wire)
_TYPES = {ua.NodeId(getattr(ua.ObjectIds, t)): _VT[t] for t in (*_NUMBERS, "Float", "Double")}
_TYPES[ua.NodeId(ua.ObjectIds.Duration)] = _VT.Double
_BITS = {"SByte": 8, "Byte": 8, "Int16": 16, "UInt16": 16, "Int32": 32, "UInt32": 32}
#: integer variant -> (min, max): written values saturate, as a PLC's conversions do
_INT_RANGES = {
    _VT[t]: int_range(n, signed=not t.startswith(("Byte", "UInt")))
    for t, n in {**_BITS, "Int64": 64, "UInt64": 64}.items()
}
VALUE = ua.AttributeIds.Value


async def resolve(client: Client, texts: list[str]) -> dict[str, ua.NodeId]:
    """Each NodeId text's node on this server (``nsu=`` through its namespace array)."""
    parsed = {t: parse_node(t) for t in texts}
    expanded = any(isinstance(n, ua.ExpandedNodeId) for n in parsed.values())
    table = await client.get_namespace_array() if expanded else []
    nodes: dict[str, ua.NodeId] = {}
    for text, node in parsed.items():
        ns = node.NamespaceIndex
        if isinstance(node, ua.ExpandedNodeId):
            if node.NamespaceUri not in table:
                raise ServiceError(
                    f"node {text!r}: the server has no namespace {node.NamespaceUri!r}"
                )
            ns = table.index(node.NamespaceUri)
        nodes[text] = ua.NodeId(node.Identifier, ns, node.NodeIdType)
    return nodes


async def types_of(
    client: Client, nodes: dict[str, ua.NodeId], inputs: list[str], outputs: list[str]
) -> dict[str, ua.VariantType]:
    """Each node's variant type, in one Read that also checks the outputs are writable;
    ServiceError naming the node otherwise."""
    texts = list(dict.fromkeys([*inputs, *outputs]))
    read = [(t, ua.AttributeIds.DataType) for t in texts]
    read += [(t, ua.AttributeIds.UserAccessLevel) for t in outputs]
    params = ua.ReadParameters(
        NodesToRead=[ua.ReadValueId(NodeId=nodes[t], AttributeId=a) for t, a in read]
    )
    types: dict[str, ua.VariantType] = {}
    for (text, attribute), dv in zip(read, await client.uaclient.read(params), strict=True):
        if dv.StatusCode is not None and not dv.StatusCode.is_good():
            raise ServiceError(f"node {text!r}: {dv.StatusCode.name}")
        value = dv.Value.Value if dv.Value is not None else None
        if attribute == ua.AttributeIds.UserAccessLevel:
            if not (value or 0) & ua.AccessLevel.CurrentWrite.mask:
                raise ServiceError(f"node {text!r}: not writable (for this user)")
        elif value in _TYPES:
            types[text] = _TYPES[value]
        else:
            raise ServiceError(
                f"node {text!r}: data type {_name(value)} is not a number or boolean"
            )
    return types


def encode(value: float, vt: ua.VariantType) -> ua.DataValue:
    """What to write for ``value`` (never NaN) to a variable of type ``vt``: integers rounded
    and saturated to the type's range, booleans true for non-zero."""
    raw: float | int | bool = value
    if vt is _VT.Boolean:
        raw = value != 0
    elif vt in _INT_RANGES:
        raw = saturate(value, _INT_RANGES[vt])
    # the value only: some PLCs refuse writes that carry a status or timestamps
    return ua.DataValue(ua.Variant(raw, vt), StatusCode=None)


def decode(dv: ua.DataValue | None) -> TagValue:
    """A number or flag from a DataValue; None for a bad status or another type."""
    if dv is None or (dv.StatusCode is not None and dv.StatusCode.is_bad()) or dv.Value is None:
        return None
    v = dv.Value.Value
    return v if isinstance(v, bool | int | float) else None


def _name(data_type: Any) -> str:
    if not isinstance(data_type, ua.NodeId):
        return repr(data_type)
    name = ua.ObjectIdNames.get(data_type.Identifier) if data_type.NamespaceIndex == 0 else None
    return f"{name} ({data_type.to_string()})" if name else data_type.to_string()
