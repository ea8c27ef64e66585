"""The numeric points of a chunk of line protocol as columns, parsed with numpy at once.

``parse_chunk`` reads the lines of a chunk of ``telemetry.lp.gz`` (about a megabyte of whole
lines) that start with a measurement's prefix, and returns them grouped by series and field
layout: each group one array of times and one lines x fields array of values. No Python
object is made per line or per field: the chunk is one ``uint8`` array, lines, spaces, ``=``
and ``,`` are found with vectorised comparisons, the values of the whole chunk are parsed by
one ``numpy.fromstring`` and the timestamps by digit arithmetic. That is ~20 times faster than
splitting each line in Python and holds no more than the chunk and its columns.

It is a fast path for the lines the twin writes, not a second parser: it takes only what it
can prove the per-line parser (``twin.report.telemetry_file``) reads the same (exactly one
``=`` in each field, a value of digits, ``.``, signs and exponents with an optional integer
``i``, a timestamp of 1 to 19 digits within int64, no field named twice) and answers None for
any chunk with another line, which the caller then reads line by line: that path names what
is wrong with a malformed line, or reads the rarer number forms Python's ``float`` takes
(``inf``, ``1_000``). Numbers are parsed by Python's own correctly rounded conversion, which
``numpy.fromstring`` uses, so both paths give the same floats.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["Piece", "parse_chunk"]

_NL, _SPACE, _EQ, _COMMA, _I = (ord(c) for c in "\n =,i")
_INT64_MAX = np.uint64(2**63 - 1)
_TS_DIGITS = 19  # int64 holds every number of up to 18 digits and some of 19
_POW10 = np.array([10**k for k in range(_TS_DIGITS - 1, -1, -1)], dtype=np.uint64)
# the bytes of the values the fast path takes (and ``,`` between them)
_VALUE_BYTES = np.zeros(256, dtype=bool)
_VALUE_BYTES[np.frombuffer(b"0123456789.+-eE,", dtype=np.uint8)] = True


@dataclass
class Piece:
    """Lines of one chunk with one series key (``head``: the measurement and tags, as written)
    and the same fields in the same order (``names``), in file order: their line numbers in
    the file, their times and their values (lines x names)."""

    head: bytes
    names: tuple[str, ...]
    lines: np.ndarray  # int64
    times_ns: np.ndarray  # int64
    values: np.ndarray  # float64, len(lines) x len(names)


def _selected(
    buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, prefixes: tuple[bytes, ...]
) -> np.ndarray:
    """The indices of the lines that start with one of ``prefixes``, in order."""
    keep = np.zeros(len(starts), dtype=bool)
    for prefix in prefixes:
        want = np.frombuffer(prefix, dtype=np.uint8)
        cand = np.flatnonzero((ends - starts >= len(want)) & (buf[starts] == want[0]))
        if cand.size:
            window = buf[starts[cand, None] + np.arange(len(want))]
            keep[cand[(window == want).all(axis=1)]] = True
    return np.flatnonzero(keep)


def _timestamps(buf: np.ndarray, first: np.ndarray, end: np.ndarray) -> np.ndarray | None:
    """The whole numbers written in ``buf[first:end]`` of each line; None when one is not 1 to
    19 digits or is past int64."""
    length = end - first
    if length.min() < 1 or length.max() > _TS_DIGITS:
        return None
    # right-aligned in 19 columns: the missing leading digits are zeros
    at = end[:, None] - _TS_DIGITS + np.arange(_TS_DIGITS)
    digits = buf[np.maximum(at, 0)].astype(np.int16) - ord("0")
    digits[at < first[:, None]] = 0
    if ((digits < 0) | (digits > 9)).any():
        return None
    ts = digits.astype(np.uint64) @ _POW10  # < 10**19 < 2**64: no overflow
    if (ts > _INT64_MAX).any():
        return None
    return ts.astype(np.int64)


def _numbers(text: bytes, count: int) -> np.ndarray | None:
    """The ``count`` numbers of ``text`` (comma-separated, the last followed by a comma);
    None when it holds anything else."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # numpy < 2: a partial read warns
        try:
            values = np.fromstring(text, dtype=np.float64, sep=",")
        except (ValueError, DeprecationWarning):
            return None
    return values if len(values) == count else None


def parse_chunk(chunk: bytes, first: int, prefixes: tuple[bytes, ...]) -> list[Piece] | None:
    """The points of the lines of ``chunk`` that start with one of ``prefixes`` (``chunk``:
    whole lines, each ended by a newline, the first of them line ``first`` of the file), as
    ``Piece``s in the order of their first line; None when one of those lines is not one the
    fast path reads (see the module), e.g. a malformed one: read the chunk line by line."""
    buf = np.frombuffer(chunk, dtype=np.uint8)
    ends = np.flatnonzero(buf == _NL)
    starts = np.concatenate(([0], ends[:-1] + 1))
    sel = _selected(buf, starts, ends, prefixes)
    if not sel.size:
        return []
    start, end = starts[sel], ends[sel]
    # 'head body timestamp': the last two spaces of the line (a tag may hold an escaped one)
    spaces = np.flatnonzero(buf == _SPACE)
    before_end = np.searchsorted(spaces, end)
    if before_end.min() < 2:
        return None
    body0, body1 = spaces[before_end - 2] + 1, spaces[before_end - 1]
    if (body0 <= start).any() or (body1 <= body0).any():
        return None
    times = _timestamps(buf, body1 + 1, end)
    if times is None:
        return None

    # '=' and ',' in the bodies: 'name=value' fields, separated by single commas
    marks = np.flatnonzero((buf == _EQ) | (buf == _COMMA))
    line = np.searchsorted(body0, marks, side="right") - 1
    inside = line >= 0
    inside[inside] = marks[inside] < body1[line[inside]]
    marks, line = marks[inside], line[inside]
    count = np.bincount(line, minlength=len(sel))
    if (count % 2 == 0).any():
        return None
    nth = np.arange(len(marks)) - (np.cumsum(count) - count)[line]
    if ((buf[marks] == _EQ) != (nth % 2 == 0)).any():
        return None
    fields = (count + 1) // 2
    # each value: from after its '=' to the next ',' or the end of the body
    eq = marks[nth % 2 == 0]
    last_field = np.cumsum(fields) - 1
    value_end = np.empty_like(eq)
    value_end[last_field] = body1
    not_last = np.ones(len(eq), dtype=bool)
    not_last[last_field] = False
    value_end[not_last] = marks[nth % 2 == 1]  # the commas, in the same order
    if (value_end <= eq + 1).any():
        return None

    # what each byte is, by one running sum of steps: 0 a line's head, field names and
    # separators (its key), 1 a value, 2 a timestamp, 4 a line not read (and its newline)
    step = np.zeros(len(buf) + 1, dtype=np.int8)
    step[eq + 1] += 1
    step[value_end] -= 1
    step[body1 + 1] += 2
    step[end] -= 2
    other = np.ones(len(starts), dtype=bool)
    other[sel] = False
    step[starts[other]] += 4
    step[ends[other] + 1] -= 4
    kind = np.cumsum(step[:-1], dtype=np.int8)

    # the values: their bytes, an integer's 'i' left out, each followed by a comma
    text_mask = kind == 1
    suffix = value_end - 1
    text_mask[suffix[buf[suffix] == _I]] = False
    text_mask[value_end] = True
    text = buf[text_mask]
    text[text == _SPACE] = _COMMA  # the end of a body
    if not _VALUE_BYTES[text].all():
        return None
    values = _numbers(text.tobytes(), int(fields.sum()))
    if values is None:
        return None

    # a key per line, 'head name=,name=,... ': lines with the same are one series and layout
    keys = buf[kind == 0].tobytes().split(b"\n")[:-1]
    codes: dict[bytes, int] = {}
    group = np.array([codes.setdefault(key, len(codes)) for key in keys], dtype=np.int64)
    value_at = np.cumsum(fields) - fields
    pieces: list[Piece] = []
    order = np.argsort(group, kind="stable")  # each group's lines together, in file order
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    for key, rows in zip(codes, np.split(order, bounds), strict=True):
        head, fields_text, _ = key.rsplit(b" ", 2)
        try:
            names = tuple(n[:-1].decode() for n in fields_text.split(b","))
        except UnicodeDecodeError:
            return None
        if len(set(names)) != len(names):
            return None  # a field named twice: the line parser keeps its last value
        at = value_at[rows, None] + np.arange(len(names))
        pieces.append(Piece(head, names, first + sel[rows], times[rows], values[at]))
    return pieces
