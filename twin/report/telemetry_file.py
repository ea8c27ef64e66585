"""Reading back the numeric series of a run's ``telemetry.lp.gz`` (the embedded store).

Only what the report plots: ``machine_signal`` and ``kpi`` points, whose fields are all
numeric (so a line splits at its last two unescaped spaces). Other measurements are skipped.

A line of those measurements that is not such a point (too few parts, a field that is not a
number, a timestamp that is not a whole number of nanoseconds from 1970 up to the end of
int64 in 2262) is refused with a ``ConfigError`` naming the file and the line, as is a file
that is not gzip or whose gzip data is corrupt. A file cut off by a run killed while writing
(its gzip stream or its last line ends early) is read up to the cut: what is lost is said by
a ``CutShort`` warning, which the CLI prints as a note.
"""

from __future__ import annotations

import gzip
import re
import warnings
import zlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin.errors import ConfigError
from twin.telemetry.schema import LAST_TIMESTAMP

__all__ = ["CutShort", "Series", "read_numeric_series"]

_UNESCAPED_COMMA = re.compile(r"(?<!\\),")
_ESCAPE = re.compile(r"\\(.)")
_INT64_MAX = 2**63 - 1
_LAST = f"{LAST_TIMESTAMP:%Y-%m-%dT%H:%M:%SZ}"
_AWAY = " move the file away to report the run without it"


class CutShort(UserWarning):
    """A file of the run, ``source``, ends early (a run killed while writing it), or the run
    itself did (interrupted, killed or still running: no summary): what comes before the
    cut is used; ``reason`` says where it is cut and what was left out. Warned by the
    readers of the telemetry file, of the event log and of the run; ``twin report`` prints
    it as a note."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(source, reason)

    @classmethod
    def killed(cls, source: str, cut: str) -> CutShort:
        """The warning for ``source`` cut off where ``cut`` says."""
        return cls(source, f"the file is cut off (a run killed while writing it?): {cut}")

    @classmethod
    def last_line(cls, source: str, number: int) -> CutShort:
        """The warning for ``source`` whose last line, ``number``, has no end of line."""
        return cls.killed(source, f"line {number} is cut off (no end of line), so it is skipped")

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


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


def _point(line: str) -> tuple[str, str, int, dict[str, float]]:
    """(measurement, key tag, timestamp, fields) of one line of a numeric measurement;
    ValueError for a malformed one (``_what_is_wrong`` says why: this is the fast path)."""
    if not line.isascii():
        line.encode()  # UnicodeEncodeError (a ValueError) for bytes that were not UTF-8
    head, body, ts = line.rsplit(" ", 2)
    measurement, tags = _tags(head)
    values = {}
    for item in body.split(","):
        name, _, text = item.partition("=")
        values[name] = float(text[:-1] if text.endswith("i") else text)
    t = int(ts)
    if not 0 <= t <= _INT64_MAX:
        raise ValueError(ts)
    return measurement, tags.get("machine") or tags.get("scope") or "", t, values


def _what_is_wrong(line: str) -> str:
    """Why ``_point`` refused ``line``."""
    try:
        line.encode()
    except UnicodeEncodeError as exc:  # surrogates: undecodable bytes (see ``_lines``)
        return f"not UTF-8 text (column {exc.start + 1})"
    parts = line.rsplit(" ", 2)
    if len(parts) != 3 or not all(parts):
        return "not a line-protocol point ('measurement,tags fields timestamp')"
    for item in parts[1].split(","):
        name, _, text = item.partition("=")
        try:
            float(text[:-1] if text.endswith("i") else text)
        except ValueError:
            return f"field {name!r}: {text!r} is not a number"
    ts = parts[2]
    try:
        t = int(ts)
    except ValueError:
        return f"timestamp {ts!r} is not a whole number of nanoseconds since 1970"
    if t < 0:
        return (
            f"timestamp {ts} is before 1970, where no run starts (an older cell-twin let times"
            f" after {_LAST} overflow to such numbers;{_AWAY})"
        )
    return (
        f"timestamp {ts} is after {_LAST}, the last time telemetry timestamps (nanoseconds"
        f" since 1970 in 64 bits) can hold (an older cell-twin wrote such runs;{_AWAY})"
    )


def _lines(path: Path, prefixes: tuple[str, ...]) -> Iterator[tuple[int, str]]:
    """(line number, text without its end of line) of the lines starting with one of
    ``prefixes``; a last line cut off is left out, with a ``CutShort`` warning."""
    number = 0
    cut: CutShort | None = None
    try:
        # undecodable bytes reach the parser as lone surrogates: an error naming the line
        with gzip.open(path, "rt", encoding="utf-8", errors="surrogateescape") as fh:
            for number, line in enumerate(fh, 1):
                if not line.endswith("\n"):  # every batch ends its last line: cut off here
                    cut = CutShort.last_line(str(path), number)
                    break
                if line.startswith(prefixes):
                    yield number, line[:-1]
    except EOFError:  # the gzip stream ends early: the lines read so far are whole
        where = f"its gzip data ends early, after line {number}; the lines up to it are used"
        cut = CutShort.killed(str(path), where)
    except (gzip.BadGzipFile, zlib.error) as exc:
        if number == 0 and str(exc).startswith("Not a gzipped file"):
            raise ConfigError(str(path), None, "not a gzip file") from exc
        raise ConfigError(str(path), None, f"corrupt gzip data after line {number}: {exc}") from exc
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot read it: {exc.strerror or exc}") from exc
    if cut is not None:
        warnings.warn(cut, stacklevel=2)


def read_numeric_series(
    path: Path, measurements: tuple[str, ...] = ("machine_signal", "kpi")
) -> dict[str, dict[str, Series]]:
    """``{measurement: {key: Series}}`` keyed by ``machine`` (signals) or ``scope`` (KPIs),
    sorted by time. Fields missing from a point (NaN samples) are NaN in the arrays.

    Raises ConfigError naming the file (and the line) when it cannot be read or a line of
    ``measurements`` is malformed; warns ``CutShort`` when it ends early (see the module).
    """
    rows: dict[str, dict[str, list[tuple[int, dict[str, float]]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    prefixes = tuple(f"{m}," for m in measurements)
    for number, line in _lines(path, prefixes):
        try:
            measurement, key, ts, values = _point(line)
        except ValueError:
            raise ConfigError(str(path), f"line {number}", _what_is_wrong(line)) from None
        rows[measurement][key].append((ts, values))
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
