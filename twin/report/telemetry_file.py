"""Reading back the numeric series of a run's ``telemetry.lp.gz`` (the embedded store).

Only what the report plots: ``machine_signal`` and ``kpi`` points, whose fields are all
numeric (so a line splits at its last two unescaped spaces). Other measurements are skipped.
"""

from __future__ import annotations

import gzip
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Series", "read_numeric_series"]

_UNESCAPED_COMMA = re.compile(r"(?<!\\),")
_ESCAPE = re.compile(r"\\(.)")


@dataclass
class Series:
    """Points of one (measurement, key tag) pair: nanosecond times and one array per field."""

    times_ns: np.ndarray
    fields: dict[str, np.ndarray] = field(default_factory=dict)


def _tags(head: str) -> tuple[str, dict[str, str]]:
    measurement, *pairs = _UNESCAPED_COMMA.split(head)
    tags = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        tags[_ESCAPE.sub(r"\1", key)] = _ESCAPE.sub(r"\1", value)
    return measurement, tags


def read_numeric_series(
    path: Path, measurements: tuple[str, ...] = ("machine_signal", "kpi")
) -> dict[str, dict[str, Series]]:
    """``{measurement: {key: Series}}`` keyed by ``machine`` (signals) or ``scope`` (KPIs),
    sorted by time. Fields missing from a point (NaN samples) are NaN in the arrays."""
    rows: dict[str, dict[str, list[tuple[int, dict[str, float]]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    prefixes = tuple(f"{m}," for m in measurements)
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith(prefixes):
                continue
            head, body, ts = line.rstrip("\n").rsplit(" ", 2)
            measurement, tags = _tags(head)
            key = tags.get("machine") or tags.get("scope") or ""
            values = {}
            for item in body.split(","):
                name, _, text = item.partition("=")
                values[name] = float(text[:-1] if text.endswith("i") else text)
            rows[measurement][key].append((int(ts), values))
    out: dict[str, dict[str, Series]] = {}
    for measurement, keyed in rows.items():
        out[measurement] = {}
        for key, points in keyed.items():
            points.sort(key=lambda p: p[0])
            names = list(dict.fromkeys(n for _, v in points for n in v))
            series = Series(np.array([t for t, _ in points], dtype=np.int64))
            for name in names:
                series.fields[name] = np.array([v.get(name, np.nan) for _, v in points])
            out[measurement][key] = series
    return out
