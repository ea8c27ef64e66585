"""``read_numeric_series`` reads a telemetry file chunk by chunk, parsing the twin's lines with
numpy at once (``twin.report.lp_chunks``) and others line by line: it gives what reading each
line into a dict gives (``_reference``: the reader before), cut anywhere into chunks, and
holds a few bytes per value, not the text or an object per line."""

from __future__ import annotations

import gzip
import re
import tracemalloc
import warnings
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from twin.errors import ConfigError
from twin.report import telemetry_file
from twin.report.lp_chunks import Piece, parse_chunk
from twin.report.telemetry_file import CutShort, Series, read_numeric_series
from twin.signals import STATUS_CODE, SignalSpec, SignalStore
from twin.telemetry import LineEncoder

ORIGIN = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
T0 = 1_767_592_800_000_000_000  # ORIGIN in nanoseconds
UNCERTAIN = int(STATUS_CODE[1])


def _reference(text: str) -> dict[str, dict[str, Series]]:
    """The points of ``text`` as read before: a dict per line, then sorted into arrays."""
    rows: dict[str, dict[str, list[tuple[int, dict[str, float]]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for line in text.splitlines():
        if not line.startswith(("machine_signal,", "kpi,")):
            continue
        head, body, ts = line.rsplit(" ", 2)
        measurement, *pairs = re.split(r"(?<!\\),", head)
        tags = dict(re.sub(r"\\(.)", r"\1", p).partition("=")[::2] for p in pairs)
        values = {}
        for item in body.split(","):
            name, _, value = item.partition("=")
            values[name] = float(value.removesuffix("i"))
        key = tags.get("machine") or tags.get("scope") or ""
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


def _assert_same(got: dict[str, dict[str, Series]], want: dict[str, dict[str, Series]]) -> None:
    assert list(got) == list(want)
    for measurement, keyed in want.items():
        assert list(got[measurement]) == list(keyed)
        for key, series in keyed.items():
            mine = got[measurement][key]
            assert mine.times_ns.dtype == np.int64
            assert mine.times_ns.tolist() == series.times_ns.tolist()
            assert list(mine.fields) == list(series.fields)
            for name, column in series.fields.items():
                assert mine.fields[name].dtype == np.float64
                assert np.array_equal(mine.fields[name], column, equal_nan=True), (key, name)


def _signal_lines(samples: int, seed: int = 0) -> list[str]:
    """The twin's ``machine_signal`` lines of two machines, some samples with a signal that
    is not Good (per-signal qualities) or missing (NaN: its field left out)."""
    store = SignalStore()
    store.register_block("cnc1", [SignalSpec(n, "", 0, 1) for n in ("speed", "load", "x")])
    store.register_block("Fräse 2", [SignalSpec(n, "", 0, 1) for n in ("temp", "Drehzahl")])
    encoder = LineEncoder("cell-1", {"cnc1": "cnc", "Fräse 2": "cnc"}, ORIGIN)
    layout = encoder.layout(store)
    rng = np.random.default_rng(seed)
    times = np.arange(samples, dtype=np.float64) * 10.0
    values = rng.normal(size=(samples, len(store))) * 10.0 ** rng.integers(-8, 8, len(store))
    values[rng.random(values.shape) < 0.01] = np.nan
    quality = np.zeros(values.shape, dtype=np.int64)
    quality[rng.random(values.shape) < 0.02] = UNCERTAIN
    lines: list[str] = []
    for frame in np.array_split(np.arange(samples), 4):  # frames: each machine's rows together
        lines += encoder.signal_lines(layout, times[frame], values[frame], quality[frame])
    return lines


OTHER_LINES = [
    'job_event,cell=cell-1,event=done job="J,1 a=b",op=2i,late=false 1767592800000000000',
    'machine_state,cell=cell-1,machine=cnc1 state="Executing",job="kpi, x=1" 1767592800000000001',
]
KPI_LINES = [
    f"kpi,cell=cell-1,in_cell=true,scope=cell availability=0.5,produced=3i {T0 + 5}",
    f"kpi,cell=cell-1,scope=cnc1 availability=1.0,oee=0.25,produced=0i {T0 + 5}",
    f"kpi,cell=cell-1,in_cell=true,scope=cell availability=0.75,oee=0.5,produced=4i {T0 + 9}",
]
# lines only the line-by-line path reads, as Python reads them
ODD_LINES = [
    f"machine_signal,machine=cnc1 speed=inf,load=1_000,x=-0.0 {T0 + 1}",
    f"machine_signal,machine=cnc1 speed=1e400,x=.5 +{T0 + 2}",
    f"machine_signal,machine=cnc1 speed=1,speed=2 {T0 + 3}",  # named twice: the last value
    f"kpi,scope=my\\ cell\\,2 oee=5. 00{T0 + 4}",
]


def _write(path: Path, lines: list[str], members: int = 1) -> str:
    """``lines`` as a telemetry file of ``members`` gzip members (a resumed run's parts)."""
    text = "".join(f"{line}\n" for line in lines)
    parts = np.array_split(np.array(lines, dtype=object), members)
    path.write_bytes(
        b"".join(gzip.compress("".join(f"{x}\n" for x in p).encode(), 1) for p in parts)
    )
    return text


FILES = {
    "the twin's signals": (_signal_lines(300), 1),
    "signals, KPIs and other measurements": (
        [*_signal_lines(100)[:150], *OTHER_LINES, *KPI_LINES, *_signal_lines(100, 1)[150:]],
        1,
    ),
    # a resumed run's parts: a second gzip member, its times from before the first one's
    "parts with times out of order": (_signal_lines(120, 2) + _signal_lines(60, 3), 3),
    "lines only Python's float reads": (_signal_lines(40) + ODD_LINES + KPI_LINES, 2),
}


def _chunked(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """Chunks of ``chunk`` bytes or a little more, from reads of at most ``chunk`` bytes (so
    that a chunk ends anywhere in a line: a line goes on in the next read)."""
    monkeypatch.setattr(telemetry_file, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(telemetry_file, "_READ_BYTES", chunk)


CHUNKS = [1 << 20, 997, 61]  # the default, a few lines, less than a line


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("case", list(FILES))
def test_read_as_each_line_into_a_dict(
    case: str, chunk: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _chunked(monkeypatch, chunk)
    lines, members = FILES[case]
    text = _write(tmp_path / "t.lp.gz", lines, members)
    _assert_same(read_numeric_series(tmp_path / "t.lp.gz"), _reference(text))


def test_crlf_lines_are_read_as_before(tmp_path: Path) -> None:
    lines = [*_signal_lines(50), *KPI_LINES]
    (tmp_path / "t.lp.gz").write_bytes(gzip.compress("".join(f"{x}\r\n" for x in lines).encode()))
    _assert_same(read_numeric_series(tmp_path / "t.lp.gz"), _reference("\n".join(lines)))


def test_the_twins_lines_take_the_fast_path() -> None:
    lines = [*_signal_lines(200), *OTHER_LINES, *KPI_LINES]
    chunk = "".join(f"{x}\n" for x in lines).encode()
    pieces = parse_chunk(chunk, 1, (b"machine_signal,", b"kpi,"))
    assert pieces is not None
    assert sum(len(p.lines) for p in pieces) == len(lines) - len(OTHER_LINES)
    layouts = {p.names for p in pieces if p.head.startswith(b"machine_signal,cell=cell-1,kind")}
    assert ("speed", "load", "x", "quality") in layouts  # all Good
    assert ("speed", "load", "x", "quality", "speed_quality", "load_quality", "x_quality") in (
        layouts
    )
    for odd in ODD_LINES:
        assert parse_chunk(f"{odd}\n".encode(), 1, (b"machine_signal,", b"kpi,")) is None


def _with_a_bad_field(n: int, after: int) -> tuple[list[str], int]:
    """``n`` signal lines, the first line with a ``load`` field after line ``after`` given a
    field that is not a number; the lines and that line's index."""
    lines = _signal_lines(n)
    at = next(i for i in range(after, len(lines)) if "load=" in lines[i])
    lines[at] = lines[at].replace("load=", "load=n/a,y=", 1)
    return lines, at


@pytest.mark.parametrize("chunk", CHUNKS)
def test_a_malformed_line_in_a_later_chunk_is_named(
    chunk: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _chunked(monkeypatch, chunk)
    lines, at = _with_a_bad_field(200, after=150)
    _write(tmp_path / "t.lp.gz", lines)
    with pytest.raises(ConfigError) as caught:
        read_numeric_series(tmp_path / "t.lp.gz")
    assert str(caught.value) == (
        f"{tmp_path / 't.lp.gz'}: line {at + 1}: field 'load': 'n/a' is not a number"
    )


def test_a_malformed_line_before_corrupt_gzip_data_is_the_error(tmp_path: Path) -> None:
    lines, at = _with_a_bad_field(100, after=50)
    good = gzip.compress("".join(f"{x}\n" for x in lines).encode())
    corrupt = bytearray(gzip.compress(b"kpi,scope=cell oee=1 1\n"))
    corrupt[-6] ^= 0xFF  # in its CRC-32
    (tmp_path / "t.lp.gz").write_bytes(good + bytes(corrupt))
    with pytest.raises(ConfigError, match=f": line {at + 1}: field 'load'"):
        read_numeric_series(tmp_path / "t.lp.gz")


@pytest.mark.parametrize("chunk", CHUNKS)
def test_a_cut_off_last_line_and_gzip_stream_are_read_up_to_the_cut(
    chunk: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _chunked(monkeypatch, chunk)
    lines = _signal_lines(1000)
    path = tmp_path / "t.lp.gz"
    whole = "".join(f"{x}\n" for x in lines)
    path.write_bytes(gzip.compress(whole[:-30].encode()))  # the last line without its end
    with pytest.warns(CutShort, match=f"line {len(lines)} is cut off"):
        got = read_numeric_series(path)
    _assert_same(got, _reference("\n".join(lines[:-1])))

    member = gzip.compress(whole.encode())
    path.write_bytes(gzip.compress(whole.encode()) + member[: len(member) // 2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = read_numeric_series(path)
    [note] = [w.message for w in caught]
    assert isinstance(note, CutShort)
    read = int(re.search(r"after line (\d+);", note.reason)[1])  # type: ignore[index]
    assert len(lines) < read < 2 * len(lines)
    _assert_same(got, _reference("\n".join((lines + lines)[:read])))


def _peak(path: Path) -> int:
    tracemalloc.start()
    try:
        read_numeric_series(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_grows_by_the_values_not_the_text(tmp_path: Path) -> None:
    """A file twice as long takes, per line more, less than twice what the series hold per
    line (8 bytes a value), and less than the line's text (the reader before held ~1 KB a
    line: its text split into a dict of floats)."""
    small, large = tmp_path / "small.lp.gz", tmp_path / "large.lp.gz"
    lines = _signal_lines(40_000)  # 80,000 lines
    _write(small, lines[: len(lines) // 2])
    text = _write(large, lines)
    series = read_numeric_series(large)["machine_signal"].values()
    held = sum(s.times_ns.nbytes + sum(f.nbytes for f in s.fields.values()) for s in series)
    per_line = (_peak(large) - _peak(small)) / (len(lines) // 2)
    assert per_line < 2 * held / len(lines)
    assert per_line < len(text) / len(lines)


def _nbytes(piece: Piece) -> int:
    return piece.lines.nbytes + piece.times_ns.nbytes + piece.values.nbytes


def test_each_value_is_joined_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces are joined into blocks as they come (few large arrays), each value copied
    once: joining the block before with the new pieces every ``_JOIN`` pieces copied it
    again each time (quadratic in the pieces: ~43 times the series' bytes for a year)."""
    path = tmp_path / "t.lp.gz"
    text = _write(path, _signal_lines(3000))
    _chunked(monkeypatch, 997)  # ~700 chunks: ~10 blocks of each series' main layout
    read, joined = [], []
    add, join = telemetry_file._Collector.add, telemetry_file._joined

    def counted_add(self: telemetry_file._Collector, m: str, k: str, piece: Piece) -> None:
        read.append(_nbytes(piece))
        add(self, m, k, piece)

    def counted_join(pieces: list[Piece]) -> Piece:
        joined.append(sum(_nbytes(p) for p in pieces))
        return join(pieces)

    monkeypatch.setattr(telemetry_file._Collector, "add", counted_add)
    monkeypatch.setattr(telemetry_file, "_joined", counted_join)
    got = read_numeric_series(path)
    assert len(joined) >= 8  # blocks were made
    assert sum(joined) <= sum(read), f"{sum(joined) / sum(read):.1f} times what was read"
    _assert_same(got, _reference(text))
