"""Vectorised OPC UA binary encoding of data-change notifications (private to the publisher).

One ``MonitoredItemNotification`` holding a scalar of a fixed-size built-in type has a fixed
size, so a whole notification list is one packed numpy structured array filled column by column
and turned into bytes with one ``tobytes()``: no Python object per value. The layout follows
OPC 10000-6 5.2.2.17 (DataValue) and 5.2.2.16 (Variant):

    ClientHandle  UInt32
    DataValue     Byte mask = Value | SourceTimestamp | ServerTimestamp (StatusCode Good omitted)
      Variant     Byte type id, then the value in its little-endian encoding
      StatusCode  UInt32, only in lists with a status other than Good (mask | StatusCode)
      SourceTimestamp  Int64 (100 ns ticks since 1601-01-01 UTC)
      ServerTimestamp  Int64

A list where every item is Good (the usual case) leaves the status out; a list with any other
status carries it in every item (an explicit Good is valid and keeps the records one size).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import numpy as np
from asyncua import ua

__all__ = [
    "ENCODABLE",
    "Columns",
    "body_with_extra",
    "cast_values",
    "datavalue_at",
    "datetime_to_ticks",
    "encode_items",
    "seconds_to_ticks",
    "ticks_to_datetime",
    "unix_to_ticks",
]

# Seconds between 1601-01-01 and 1970-01-01 (the OPC UA DateTime epoch and the Unix epoch).
_EPOCH_OFFSET_S = 11_644_473_600
_TICKS_PER_S = 10_000_000
_UA_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)

_DV_MASK = 0x01 | 0x04 | 0x08
_DV_STATUS = 0x02
_EMPTY_ARRAY = struct.pack("<i", 0)

# Built-in scalar types the fast path encodes, with their numpy wire type.
ENCODABLE: dict[ua.VariantType, np.dtype] = {
    ua.VariantType.Boolean: np.dtype("u1"),
    ua.VariantType.SByte: np.dtype("i1"),
    ua.VariantType.Byte: np.dtype("u1"),
    ua.VariantType.Int16: np.dtype("<i2"),
    ua.VariantType.UInt16: np.dtype("<u2"),
    ua.VariantType.Int32: np.dtype("<i4"),
    ua.VariantType.UInt32: np.dtype("<u4"),
    ua.VariantType.Int64: np.dtype("<i8"),
    ua.VariantType.UInt64: np.dtype("<u8"),
    ua.VariantType.Float: np.dtype("<f4"),
    ua.VariantType.Double: np.dtype("<f8"),
}


def _item_dtype(wire: np.dtype, status: bool) -> np.dtype:
    # a list of fields without align=True is packed: exactly the wire layout
    head = [("handle", "<u4"), ("mask", "u1"), ("vtype", "u1"), ("value", wire)]
    return np.dtype([*head, *([("status", "<u4")] if status else []), *_STAMPS])


_STAMPS = [("source", "<i8"), ("server", "<i8")]
_ITEM_DTYPES: dict[tuple[ua.VariantType, bool], np.dtype] = {
    (vt, status): _item_dtype(wire, status)
    for vt, wire in ENCODABLE.items()
    for status in (False, True)
}


def seconds_to_ticks(seconds: np.ndarray | float) -> np.ndarray:
    """A duration in seconds (float) to 100 ns ticks (int64).

    Whole and fractional seconds are converted apart: one float product would keep only about
    a microsecond at today's Unix times.
    """
    s = np.asarray(seconds, dtype=np.float64)
    whole = np.floor(s)
    frac = np.rint((s - whole) * _TICKS_PER_S).astype(np.int64)
    return whole.astype(np.int64) * _TICKS_PER_S + frac


def unix_to_ticks(seconds: np.ndarray | float) -> np.ndarray:
    """Unix seconds (float) to OPC UA DateTime ticks (int64), to 100 ns."""
    return seconds_to_ticks(seconds) + _EPOCH_OFFSET_S * _TICKS_PER_S


def datetime_to_ticks(dt: datetime) -> int:
    """An aware (or naive UTC) datetime to OPC UA DateTime ticks, exactly."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return ((dt - _UA_EPOCH) // timedelta(microseconds=1)) * 10


def cast_values(vtype: ua.VariantType, values: np.ndarray) -> np.ndarray:
    """Float64 signal values to ``vtype``'s wire type (integers rounded, booleans as != 0)."""
    if vtype == ua.VariantType.Boolean:
        return (values != 0).astype(np.uint8)
    wire = ENCODABLE[vtype]
    if wire.kind in "iu":
        info = np.iinfo(wire)
        high = float(info.max)
        if high > info.max:  # 64 bits: the float rounds up past the range, and would wrap
            high = float(np.nextafter(high, 0.0))
        return np.clip(np.rint(values), info.min, high).astype(wire)
    return values.astype(wire)


def encode_items(
    vtype: ua.VariantType,
    handles: np.ndarray,
    values: np.ndarray,
    source_ticks: np.ndarray,
    server_ticks: np.ndarray,
    status: np.ndarray | None = None,
) -> bytes:
    """Encode parallel arrays as consecutive MonitoredItemNotifications of one variant type.

    ``values`` must already be in the wire type of ``vtype`` (see ``cast_values``);
    ``status``: StatusCode values (uint32), None or all 0 when every item is Good.
    """
    with_status = status is not None and bool(status.any())
    out = np.empty(handles.size, dtype=_ITEM_DTYPES[vtype, with_status])
    out["handle"] = handles
    out["mask"] = _DV_MASK | (_DV_STATUS if with_status else 0)
    out["vtype"] = int(vtype)
    out["value"] = values
    if with_status:
        out["status"] = status
    out["source"] = source_ticks
    out["server"] = server_ticks
    return out.tobytes()


def body_with_extra(
    count: int, parts: Sequence[bytes], extra: Sequence[ua.MonitoredItemNotification]
) -> bytes:
    """The body of a DataChangeNotification: pre-encoded ``parts`` plus ``extra`` objects.

    ``count`` is the number of items in ``parts``; ``extra`` are ordinary notifications queued
    by asyncua's own path for other nodes of the same subscription, encoded the standard way.
    """
    encoded_extra = [ua.ua_binary.struct_to_binary(item) for item in extra]
    n = count + len(encoded_extra)
    # DiagnosticInfos: an empty array
    return b"".join([struct.pack("<i", n), *parts, *encoded_extra, _EMPTY_ARRAY])


@dataclass
class Columns:
    """The publisher's current state per published node (position), shared with the tracker."""

    vtypes: list[ua.VariantType]
    vcodes: np.ndarray  # int, the variant type id per position
    values: np.ndarray  # float64
    source: np.ndarray  # int64 OPC UA ticks
    server: np.ndarray  # int64 OPC UA ticks
    seq: np.ndarray  # int64: publish sequence number of the last change, 0 = never
    status: np.ndarray  # uint32 StatusCode values, 0 = Good
    seqno: int = 0


def ticks_to_datetime(ticks: int) -> datetime:
    """OPC UA DateTime ticks to an aware UTC datetime (to the microsecond)."""
    return _UA_EPOCH + timedelta(microseconds=int(ticks) // 10)


def datavalue_at(cols: Columns, p: int) -> ua.DataValue:
    """The DataValue of position ``p`` as asyncua objects (reads and internal subscriptions)."""
    vt = cols.vtypes[p]
    raw = cast_values(vt, cols.values[p : p + 1])[0]
    value: object = bool(raw) if vt == ua.VariantType.Boolean else raw.item()
    return ua.DataValue(
        Value=ua.Variant(value, vt),
        StatusCode=ua.StatusCode(int(cols.status[p])),
        SourceTimestamp=cast("ua.DateTime", ticks_to_datetime(int(cols.source[p]))),
        ServerTimestamp=cast("ua.DateTime", ticks_to_datetime(int(cols.server[p]))),
    )
