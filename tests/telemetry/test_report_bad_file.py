"""``twin report`` on a malformed ``telemetry.lp.gz``: one line naming the file, the line and
what is wrong, exit code 2, no traceback; a file cut off by a killed run is reported up to the
cut, with a note. Each case is a run directory whose telemetry file was changed afterwards."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from twin.cli import main
from twin.telemetry.schema import datetime_ns

# what an older cell-twin wrote for a run going on past 2262-04-11T23:47:16Z
PAST_2262 = datetime_ns(datetime(2262, 4, 12, tzinfo=UTC))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "run"
    args = ["simulate", "scenarios/default.toml", "--until", "6h", "--signals", "10m"]
    assert main([*args, "--telemetry", "file", "--out", str(out), "-q", "--no-plots"]) == 0
    return out


@dataclass
class Reported:
    telemetry: Path  # the changed file
    code: int  # twin report's exit code
    out: str
    err: str


def _report(
    run_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[list[bytes]], bytes],
) -> Reported:
    """``twin report`` of a copy of the run whose telemetry file is ``change(its lines)``."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("report"))
    telemetry = run / "telemetry.lp.gz"
    lines = gzip.decompress(telemetry.read_bytes()).splitlines(keepends=True)
    telemetry.write_bytes(change(lines))
    capsys.readouterr()
    code = main(["report", str(run)])
    captured = capsys.readouterr()
    return Reported(telemetry, code, captured.out, captured.err)


def _with_timestamp(ts: str) -> Callable[[bytes], bytes]:
    return lambda line: line.rsplit(b" ", 1)[0] + b" " + ts.encode() + b"\n"


def _field(line: bytes) -> bytes:
    return line.replace(b"oee=", b"oee=n/a,x=", 1)


BAD_LINES: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "timestamp past 2262": (
        _with_timestamp(str(PAST_2262)),
        f"timestamp {PAST_2262} is after 2262-04-11T23:47:16Z, the last time telemetry"
        " timestamps (nanoseconds since 1970 in 64 bits) can hold (an older cell-twin wrote such"
        " runs; move the file away to report the run without it)",
    ),
    "negative timestamp": (
        _with_timestamp("-9223286073427751616"),
        "timestamp -9223286073427751616 is before 1970, where no run starts (an older cell-twin"
        " let times after 2262-04-11T23:47:16Z overflow to such numbers; move the file away to"
        " report the run without it)",
    ),
    "timestamp not an integer": (
        _with_timestamp("1.7675964e18"),
        "timestamp '1.7675964e18' is not a whole number of nanoseconds since 1970",
    ),
    "garbage": (
        lambda line: b"kpi,scope=cell\x07garbage\n",
        "not a line-protocol point ('measurement,tags fields timestamp')",
    ),
    "field not a number": (_field, "field 'oee': 'n/a' is not a number"),
    "not UTF-8": (
        lambda line: line.replace(b"kpi,cell=cell-1,", b"kpi,cell=cell-1,\xff", 1),
        "not UTF-8 text (column 17)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_a_malformed_line_is_named_in_one_line(
    case: str, run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, reason = BAD_LINES[case]
    changed: list[int] = []

    def bad_line(lines: list[bytes]) -> bytes:
        at = next(i for i, line in enumerate(lines) if line.startswith(b"kpi,cell=cell-1,"))
        lines[at] = change(lines[at])
        changed.append(at + 1)
        return gzip.compress(b"".join(lines))

    got = _report(run_dir, tmp_path, capsys, bad_line)
    assert (got.code, got.err) == (2, f"error: {got.telemetry}: line {changed[0]}: {reason}\n")


def test_a_file_that_is_not_gzip_is_named(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    got = _report(run_dir, tmp_path, capsys, b"".join)  # line protocol, not compressed
    assert (got.code, got.err) == (2, f"error: {got.telemetry}: not a gzip file\n")


def test_corrupt_gzip_data_is_named(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def bad_crc(lines: list[bytes]) -> bytes:
        data = bytearray(gzip.compress(b"".join(lines)))
        data[-6] ^= 0xFF  # in the CRC-32 of the data
        return bytes(data)

    got = _report(run_dir, tmp_path, capsys, bad_crc)
    assert got.code == 2
    assert got.err.startswith(f"error: {got.telemetry}: corrupt gzip data after line ")
    assert ": CRC check failed" in got.err
    assert got.err.count("\n") == 1


def test_a_last_line_cut_off_is_skipped_with_a_note(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cut_at: list[int] = []

    def cut(lines: list[bytes]) -> bytes:
        last = max(i for i, line in enumerate(lines) if line.startswith(b"machine_signal,"))
        cut_at.append(last + 1)
        kept = [*lines[:last], lines[last][: len(lines[last]) // 2]]  # cut in its fields
        return gzip.compress(b"".join(kept))

    got = _report(run_dir, tmp_path, capsys, cut)
    assert got.code == 0
    assert got.out.startswith(
        f"{got.telemetry}: note: the file is cut off (a run killed while writing it?): line"
        f" {cut_at[0]} is cut off (no end of line), so it is skipped\n"
    )
    report = got.telemetry.parent / "report"
    assert (report / "report.html").is_file()
    assert (report / "signals-cnc1.png").is_file()


def test_a_gzip_stream_cut_off_is_read_up_to_the_cut_with_a_note(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As a run killed while it wrote a batch leaves it (the batch's gzip member unfinished)."""

    def killed(lines: list[bytes]) -> bytes:
        whole = gzip.compress(b"".join(lines))
        return whole[: len(whole) * 2 // 3]

    got = _report(run_dir, tmp_path, capsys, killed)
    assert got.code == 0
    assert got.out.startswith(
        f"{got.telemetry}: note: the file is cut off (a run killed while writing it?): its gzip"
        " data ends early, after line "
    )
    assert (got.telemetry.parent / "report" / "report.html").is_file()
