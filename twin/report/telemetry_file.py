"""Reading back the numeric series of a run's ``telemetry.lp.gz`` (the embedded store).

Only what the report plots: ``machine_signal`` and ``kpi`` points, whose fields are all
numeric (so a line splits at its last two unescaped spaces). Other measurements are skipped
by their first bytes, before any parsing.

The file is read as a stream, a chunk of about ``CHUNK_BYTES`` decompressed at a time, and
each chunk's points are parsed at once with numpy (``twin.report.lp_chunks``) into arrays
per series: what is held is one chunk and 8 bytes per value, never the text or a Python
object per line or field (which took ~1.3 KB per line: 2 GB for a month of signals every
10 s). A chunk with a line that fast path does not take is read line by line, which names a
malformed line or reads a rarer number form; both give the same values.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin.errors import ConfigError
from twin.report.lp_chunks import Piece, parse_chunk
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


def _named(head: str) -> tuple[str, str]:
    """The measurement and key of a series key: its ``machine`` tag, else ``scope``."""
    measurement, tags = _tags(head)
    return measurement, tags.get("machine") or tags.get("scope") or ""


def _tags(head: str) -> tuple[str, dict[str, str]]:
    measurement, *pairs = _UNESCAPED_COMMA.split(head)
    tags = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        tags[_ESCAPE.sub(r"\1", key)] = _ESCAPE.sub(r"\1", value)
    return measurement, tags


def _point(line: str) -> tuple[str, str, int, dict[str, float]]:
    """(measurement, key tag, timestamp, fields) of one line of a numeric measurement;
    ValueError for a malformed one (``_what_is_wrong`` says why). The line-by-line reading
    of a chunk ``parse_chunk`` does not take."""
    if not line.isascii():
        line.encode()  # UnicodeEncodeError (a ValueError) for bytes that were not UTF-8
    head, body, ts = line.rsplit(" ", 2)
    measurement, key = _named(head)
    values = {}
    for item in body.split(","):
        name, _, text = item.partition("=")
        values[name] = float(text[:-1] if text.endswith("i") else text)
    t = int(ts)
    if not 0 <= t <= _INT64_MAX:
        raise ValueError(ts)
    return measurement, key, t, values


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


#: how much of the decompressed file is parsed at once (whole lines: a little more)
CHUNK_BYTES = 1 << 20
_READ_BYTES = 1 << 16


def _chunks(path: Path) -> Iterator[tuple[int, bytes]]:
    """(number of its first line, whole lines) of ``path`` decompressed, ``CHUNK_BYTES`` or a
    little more at a time (each line ended by its newline); a last line cut off is left out,
    with a ``CutShort`` warning. Raises ConfigError for a file that is not gzip, corrupt or
    unreadable; the whole lines before a corrupt part are handed out first (a malformed line
    among them is the error then, as it comes first)."""
    lines = 0  # whole lines read
    handed = 0  # whole lines handed out
    parts: list[bytes] = []
    held = 0  # bytes in parts

    def whole() -> Iterator[tuple[int, bytes]]:
        nonlocal handed, held
        data = b"".join(parts)
        end = data.rfind(b"\n") + 1
        parts[:] = [data[end:]] if end < len(data) else []
        held = len(data) - end
        if end:
            yield handed + 1, data[:end]
            handed = lines

    cut: CutShort | None = None
    try:
        with gzip.open(path, "rb") as fh:
            while data := fh.read1(_READ_BYTES):
                new = data.count(b"\n")
                lines += new
                parts.append(data)
                held += len(data)
                if held >= CHUNK_BYTES and new:
                    yield from whole()
        yield from whole()
        if parts:  # every batch ends its last line: cut off here
            cut = CutShort.last_line(str(path), lines + 1)
    except EOFError:  # the gzip stream ends early: the lines read so far are whole
        yield from whole()
        where = f"its gzip data ends early, after line {lines}; the lines up to it are used"
        cut = CutShort.killed(str(path), where)
    except (gzip.BadGzipFile, zlib.error) as exc:
        if lines == 0 and str(exc).startswith("Not a gzipped file"):
            raise ConfigError(str(path), None, "not a gzip file") from exc
        yield from whole()
        raise ConfigError(str(path), None, f"corrupt gzip data after line {lines}: {exc}") from exc
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot read it: {exc.strerror or exc}") from exc
    if cut is not None:
        warnings.warn(cut, stacklevel=2)


def _read_lines(
    path: Path, chunk: bytes, first: int, prefixes: tuple[str, ...]
) -> list[tuple[str, str, Piece]]:
    """The points of ``chunk`` read line by line (``_point``), as ``parse_chunk`` gives them:
    for a chunk it does not take. Raises ConfigError naming the first malformed line."""
    rows: dict[tuple[str, str, tuple[str, ...]], list[tuple[int, int, list[float]]]] = {}
    for number, raw in enumerate(chunk.split(b"\n")[:-1], first):
        # undecodable bytes reach the parser as lone surrogates: an error naming the line
        line = raw.decode("utf-8", "surrogateescape").removesuffix("\r")
        if not line.startswith(prefixes):
            continue
        try:
            measurement, key, ts, values = _point(line)
        except ValueError:
            raise ConfigError(str(path), f"line {number}", _what_is_wrong(line)) from None
        group = (measurement, key, tuple(values))
        rows.setdefault(group, []).append((number, ts, list(values.values())))
    return [
        (measurement, key, Piece(b"", names, *(np.array(c) for c in zip(*points, strict=True))))
        for (measurement, key, names), points in rows.items()
    ]


class _Collector:
    """The pieces of each series, read chunk by chunk, made into ``Series`` at the end.

    A series' pieces of one field layout are joined into a block every ``_JOIN`` pieces: a
    few large arrays rather than thousands of small ones, which the allocator could not give
    back once the series are made (~100 MB more resident for a month of signals). Only the
    new pieces are joined, each value copied once: joining them to the block before would
    copy it again every ``_JOIN`` pieces (a year of signals: ~43 times the series' bytes)."""

    def __init__(self) -> None:
        # per measurement, key and field layout: its blocks, then the pieces since the last
        self.pieces: dict[str, dict[str, dict[tuple[str, ...], _Blocks]]] = {}

    def add(self, measurement: str, key: str, piece: Piece) -> None:
        layouts = self.pieces.setdefault(measurement, {}).setdefault(key, {})
        same = layouts.setdefault(piece.names, _Blocks([], []))
        same.fresh.append(piece)
        if len(same.fresh) >= _JOIN:
            same.blocks.append(_joined(same.fresh))
            same.fresh.clear()

    def series(self) -> dict[str, dict[str, Series]]:
        """Every series, sorted by time (points at the same time in file order), its fields
        in the order of their first point; the pieces are let go one series at a time."""
        out: dict[str, dict[str, Series]] = {}
        for measurement, keyed in self.pieces.items():
            out[measurement] = {}
            for key in list(keyed):
                layouts = keyed.pop(key)
                pieces = [p for same in layouts.values() for p in (*same.blocks, *same.fresh)]
                out[measurement][key] = _series(pieces)
        return out


@dataclass
class _Blocks:
    """A series' pieces of one field layout, in file order: ``blocks`` of ``_JOIN`` pieces
    joined (never copied again until the series is made), then the ``fresh`` pieces."""

    blocks: list[Piece]
    fresh: list[Piece]


_JOIN = 64


def _joined(pieces: list[Piece]) -> Piece:
    """Pieces of one series and layout as one."""
    return Piece(
        pieces[0].head,
        pieces[0].names,
        np.concatenate([p.lines for p in pieces]),
        np.concatenate([p.times_ns for p in pieces]),
        np.concatenate([p.values for p in pieces]),
    )


def _series(pieces: list[Piece]) -> Series:
    """One series from its pieces: as ``read_numeric_series`` returns it."""
    lines = np.concatenate([p.lines for p in pieces])
    times = np.concatenate([p.times_ns for p in pieces])
    ordered = bool((np.diff(lines) > 0).all() and (np.diff(times) >= 0).all())
    order = np.arange(len(times)) if ordered else np.lexsort((lines, times))
    rank = np.empty_like(order)  # where each point goes: its place by time
    rank[order] = np.arange(len(order))
    bounds = np.cumsum([0, *(len(p.lines) for p in pieces)])
    first_seen: dict[str, tuple[int, int]] = {}  # a field's first point and place in it
    for piece, lo, hi in zip(pieces, bounds[:-1], bounds[1:], strict=True):
        first = int(rank[lo:hi].min())
        for place, name in enumerate(piece.names):
            first_seen[name] = min(first_seen.get(name, (first, place)), (first, place))
    series = Series(times[order])
    for name in sorted(first_seen, key=first_seen.__getitem__):
        column = np.full(len(times), np.nan)
        for piece, lo, hi in zip(pieces, bounds[:-1], bounds[1:], strict=True):
            if name in piece.names:
                at = slice(lo, hi) if ordered else rank[lo:hi]
                column[at] = piece.values[:, piece.names.index(name)]
        series.fields[name] = column
    return series


def read_numeric_series(
    path: Path, measurements: tuple[str, ...] = ("machine_signal", "kpi")
) -> dict[str, dict[str, Series]]:
    """``{measurement: {key: Series}}`` keyed by ``machine`` (signals) or ``scope`` (KPIs),
    sorted by time (points at the same time in file order), in the order of their first line.
    Fields missing from a point (NaN samples) are NaN in the arrays.

    The file is read a chunk (``CHUNK_BYTES``) at a time, each parsed at once with numpy
    (``twin.report.lp_chunks``), line by line when that cannot: what is held is the chunk
    and the arrays, 8 bytes per point and field, never the text or an object per line.

    Raises ConfigError naming the file (and the line) when it cannot be read or a line of
    ``measurements`` is malformed; warns ``CutShort`` when it ends early (see the module).
    """
    prefixes = tuple(f"{m}," for m in measurements)
    encoded = tuple(p.encode() for p in prefixes)
    heads: dict[bytes, tuple[str, str]] = {}  # series key -> measurement, key
    collector = _Collector()
    for first, chunk in _chunks(path):
        points = _parsed(chunk, first, encoded, heads)
        if points is None:
            points = _read_lines(path, chunk, first, prefixes)
        for measurement, key, piece in points:
            collector.add(measurement, key, piece)
    return collector.series()


def _parsed(
    chunk: bytes, first: int, prefixes: tuple[bytes, ...], heads: dict[bytes, tuple[str, str]]
) -> list[tuple[str, str, Piece]] | None:
    """``parse_chunk``'s pieces with their measurement and key (``heads`` caches those of
    each series key); None when it does not take the chunk or a series key is not UTF-8."""
    pieces = parse_chunk(chunk, first, prefixes)
    if pieces is None:
        return None
    out = []
    for piece in pieces:
        named = heads.get(piece.head)
        if named is None:
            try:
                named = heads[piece.head] = _named(piece.head.decode())
            except UnicodeDecodeError:
                return None
        out.append((*named, piece))
    return out
