"""InfluxDB line protocol: escaping, one point at a time, and whole signal frames vectorised.

Rules (InfluxDB line protocol reference): measurement names escape ``,`` and space; tag keys,
tag values and field keys escape ``,``, ``=`` and space; string field values are double-quoted
with ``"`` and ``\\`` escaped. Line protocol cannot carry a newline in a name or tag, so newlines
become spaces (escaped). Tags with empty values are left out (InfluxDB rejects them). Floats are
written with ``repr`` (shortest text that round-trips exactly); NaN and infinities have no line
protocol form, so such fields are left out; integers carry the ``i`` suffix; booleans are
``true``/``false``. A line without any field is not a valid point and is not written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import orjson

__all__ = [
    "BAD_NO_DATA",
    "FieldValue",
    "escape_key",
    "escape_measurement",
    "field_value",
    "frame_lines",
    "line",
    "series_key",
]

FieldValue = bool | int | float | str

#: OPC UA status code Bad_NoData: a sample in which some values were missing (NaN/inf).
BAD_NO_DATA = 0x809B0000

_MEASUREMENT = str.maketrans({",": "\\,", " ": "\\ ", "\n": "\\ ", "\r": "\\ "})
_KEY = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\ ", "\r": "\\ "})
_STRING = str.maketrans({'"': '\\"', "\\": "\\\\"})


def escape_measurement(name: str) -> str:
    """Escape a measurement name."""
    return name.translate(_MEASUREMENT)


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key."""
    return text.translate(_KEY)


def field_value(value: object) -> str | None:
    """Line-protocol text of one field value; None when it has none (NaN, inf, None).

    Raises TypeError for a value that is not bool, int, float or str.
    """
    # bool before int: bool is a subclass of int
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return f"{int(value)}i"
    if isinstance(value, float | np.floating):
        f = float(value)
        return repr(f) if math.isfinite(f) else None
    if isinstance(value, str):
        return f'"{value.translate(_STRING)}"'
    if value is None:
        return None
    raise TypeError(f"unsupported field value {value!r} ({type(value).__name__})")


def series_key(measurement: str, tags: Mapping[str, str | None]) -> str:
    """``measurement,tag=value,...`` with tags sorted by key and empty tags left out."""
    parts = [escape_measurement(measurement)]
    for key in sorted(tags):
        value = tags[key]
        if value:
            parts.append(f"{escape_key(key)}={escape_key(value)}")
    return ",".join(parts)


def line(series: str, fields: Mapping[str, object], ts_ns: int) -> str | None:
    """One line from an escaped ``series`` key, fields and a nanosecond timestamp.

    Fields without a line-protocol value are left out; None when no field remains.
    """
    body = []
    for key, value in fields.items():
        text = field_value(value)
        if text is not None:
            body.append(f"{escape_key(key)}={text}")
    if not body:
        return None
    return f"{series} {','.join(body)} {int(ts_ns)}"


def frame_lines(
    series: str,
    names: Sequence[str],
    values: np.ndarray,
    ts_ns: np.ndarray,
    quality: np.ndarray | None = None,
) -> list[str]:
    """One line per row of ``values`` (samples x signals): float fields ``names``, the integer
    field ``quality`` and the row's timestamp.

    Floats are formatted a column at a time by orjson (shortest text that round-trips, the
    same digits as ``repr``, about 4x faster than formatting each float in Python), then
    each line is one ``%``-format of ready strings. Rows with NaN or inf leave those fields
    out and carry ``BAD_NO_DATA`` unless their quality is already not Good.
    """
    n, k = values.shape
    if k != len(names):
        raise ValueError(f"{k} value columns for {len(names)} names")
    if n == 0:
        return []
    if quality is None:
        quality = np.zeros(n, dtype=np.int64)
    keys = [escape_key(name) for name in names]
    fmt = (
        series.replace("%", "%%")
        + " "
        + ",".join(f"{key.replace('%', '%%')}=%s" for key in keys)
        + ",quality=%di %d"
    )
    columns = np.ascontiguousarray(values.T, dtype=np.float64)
    texts = [
        orjson.dumps(col, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode().split(",")
        for col in columns
    ]
    qualities = quality.tolist()
    stamps = ts_ns.tolist()
    out = [fmt % row for row in zip(*texts, qualities, stamps, strict=True)]
    finite = np.isfinite(values).all(axis=1)
    if finite.all():
        return out
    rows = values.tolist()
    for i in np.flatnonzero(~finite).tolist():
        q, ts = qualities[i], stamps[i]
        # keys are escaped already, so the body is joined here rather than through line()
        body = [f"{key}={v!r}" for key, v in zip(keys, rows[i], strict=True) if math.isfinite(v)]
        body.append(f"quality={q if q else BAD_NO_DATA}i")
        out[i] = f"{series} {','.join(body)} {ts}"
    return out
