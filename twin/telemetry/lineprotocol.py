"""InfluxDB line protocol: escaping, one point at a time, and whole signal frames vectorised.

Rules (InfluxDB line protocol reference): measurement names escape ``,`` and space; tag keys,
tag values and field keys escape ``,``, ``=`` and space; string field values are double-quoted
with ``"`` and ``\\`` escaped. Line protocol cannot carry a newline in a name or tag, so newlines
become spaces (escaped). Tags with empty values are left out (InfluxDB rejects them). Floats are
written with ``repr`` (shortest text that round-trips exactly); NaN and infinities have no line
protocol form, so such fields are left out; integers carry the ``i`` suffix; booleans are
``true``/``false``. A line without any field is not a valid point and is not written.

``frame_lines`` writes a signal frame's status codes: a ``quality`` field per row (the worst
of its signals') and, around samples that are not all Good, one ``<name>_quality`` per signal.
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
    "signal_status",
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


def signal_status(values: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """The status code of each sample of each signal (samples x signals, int64): its
    ``quality``, or ``BAD_NO_DATA`` where the value is missing (NaN/inf) and its quality
    Good (a missing value whose quality is already not Good keeps that status)."""
    quality = np.asarray(quality, dtype=np.int64)
    return np.where(np.isfinite(values) | (quality != 0), quality, BAD_NO_DATA)


def frame_lines(
    series: str,
    names: Sequence[str],
    values: np.ndarray,
    ts_ns: np.ndarray,
    quality: np.ndarray | None = None,
    *,
    after_marked: bool = False,
) -> list[str]:
    """One line per row of ``values`` (samples x signals): float fields ``names``, the integer
    field ``quality`` and the row's timestamp.

    ``quality`` is the status code of each row (a vector), or of each signal of each row
    (samples x signals, as ``values``). Per signal, ``quality`` is the worst (largest) status
    of the row's signals (``signal_status``: a missing value is Bad_NoData), and a row
    carries an integer field ``<name>_quality`` for *every* signal when one of its signals is
    not Good, or the row before was such a row (the row before the first: ``after_marked``):
    so the latest ``<name>_quality`` of a signal is Good again from the first all-Good row
    on, and an all-Good row after all-Good rows, the common case, carries none.

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
    status: np.ndarray | None = None
    if quality is None:
        quality = np.zeros(n, dtype=np.int64)
    elif quality.ndim == 2:
        if quality.shape != values.shape:
            raise ValueError(f"qualities of shape {quality.shape} for values {values.shape}")
        status = quality
        quality = quality.max(axis=1)
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
    every = bool(finite.all())
    if status is not None and (after_marked or quality.any() or not every):
        _mark(out, series, keys, values, signal_status(values, status), stamps, after_marked)
        return out
    # no per-signal fields (every signal Good, the row before too): the common case costs
    # one ``any`` more than a frame without qualities
    if every:
        return out
    rows = values.tolist()
    for i in np.flatnonzero(~finite).tolist():
        q, ts = qualities[i], stamps[i]
        # keys are escaped already, so the body is joined here rather than through line()
        body = [f"{key}={v!r}" for key, v in zip(keys, rows[i], strict=True) if math.isfinite(v)]
        body.append(f"quality={q if q else BAD_NO_DATA}i")
        out[i] = f"{series} {','.join(body)} {ts}"
    return out


def _mark(
    out: list[str],
    series: str,
    keys: Sequence[str],
    values: np.ndarray,
    status: np.ndarray,
    stamps: list[int],
    after_marked: bool,
) -> None:
    """Rewrite the lines of ``out`` that carry per-signal qualities (``frame_lines``):
    ``status`` is ``signal_status``, ``keys`` the escaped field keys."""
    bad: np.ndarray = np.asarray(status.any(axis=1))  # missing values are Bad_NoData too
    marked = bad.copy()
    marked[1:] |= bad[:-1]
    marked[0] |= after_marked
    rows = values.tolist()
    statuses = status.tolist()
    worst = status.max(axis=1).tolist()
    for i in np.flatnonzero(marked).tolist():
        body = [f"{key}={v!r}" for key, v in zip(keys, rows[i], strict=True) if math.isfinite(v)]
        body.append(f"quality={worst[i]}i")
        body += [f"{key}_quality={s}i" for key, s in zip(keys, statuses[i], strict=True)]
        out[i] = f"{series} {','.join(body)} {stamps[i]}"
