"""``twin report`` on a malformed ``events.jsonl``: one line naming the file, the line and what
is wrong, exit code 2, no traceback; a last line cut off by a killed run is left out, with a
note, as ``twin run --resume`` leaves it out. On a ``summary.json`` lacking what the report
reads, or holding it in another form: one line naming the file and the field. Each case is a
run directory whose event log or summary was changed afterwards."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from twin.cli import main


@pytest.fixture
def run_dir(six_hour_run: Callable[..., Path]) -> Path:
    return six_hour_run("--telemetry", "none")


def _report(
    run_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[list[bytes]], bytes],
    name: str = "events.jsonl",
) -> tuple[Path, int, str, str]:
    """(changed file, exit code, stdout, stderr) of ``twin report`` of a copy of the run whose
    file ``name`` (its event log unless told) is ``change(its lines)``."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    changed = run / name
    changed.write_bytes(change(changed.read_bytes().splitlines(keepends=True)))
    capsys.readouterr()
    code = main(["report", str(run)])
    captured = capsys.readouterr()
    return changed, code, captured.out, captured.err


def _state_change(lines: list[bytes]) -> int:
    """The index of the first machine_state line after the first ten."""
    return next(i for i, line in enumerate(lines) if i >= 10 and b'"machine_state"' in line)


def _edited(**fields: Any) -> Callable[[bytes], bytes]:
    def edit(line: bytes) -> bytes:
        event = json.loads(line)
        for name, value in fields.items():
            if value is _DROP:
                del event[name]
            else:
                event[name] = value
        return json.dumps(event).encode() + b"\n"

    return edit


_DROP = object()

BAD_LINES: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "garbage": (
        lambda line: b"garbage\n",
        "not a JSON event: unexpected character, expected a JSON value (column 1)",
    ),
    "JSON cut off mid-file": (
        lambda line: line[:30] + b"\n",
        "not a JSON event: unexpected end of data (column 31)",
    ),
    "not an object": (lambda line: b"[1, 2]\n", "not an event (no type)"),
    "unknown type": (
        _edited(type="machine_exploded"),
        "unknown event type 'machine_exploded' (a log of another cell-twin?)",
    ),
    "time not a number": (
        _edited(t="soon"),
        "machine_state event: t: expected a time >= 0, got 'soon'",
    ),
    "negative time": (_edited(t=-5), "machine_state event: t: expected a time >= 0, got -5"),
    "machine not a string": (
        _edited(machine=7),
        "machine_state event: machine: expected a string, got 7",
    ),
    "job neither a string nor null": (
        _edited(job=["a"]),
        "machine_state event: job: expected a string or null, got ['a']",
    ),
    "field missing": (_edited(state=_DROP), "machine_state event: state: missing"),
}


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_a_malformed_line_is_named_in_one_line(
    case: str, run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, reason = BAD_LINES[case]
    changed: list[int] = []

    def bad_line(lines: list[bytes]) -> bytes:
        at = _state_change(lines)
        lines[at] = change(lines[at])
        changed.append(at + 1)
        return b"".join(lines)

    events, code, _, err = _report(run_dir, tmp_path, capsys, bad_line)
    assert (code, err) == (2, f"error: {events}: line {changed[0]}: {reason}\n")


def test_a_bad_last_line_with_its_end_of_line_is_an_error(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only a line the writer did not finish (no end of line) is a killed run's."""

    kept: list[bytes] = []

    def bad_last(lines: list[bytes]) -> bytes:
        kept.append(lines[-1].rstrip(b"}\n"))  # its object not closed
        return b"".join([*lines[:-1], kept[0] + b"\n"])

    events, code, _, err = _report(run_dir, tmp_path, capsys, bad_last)
    lines = events.read_bytes().count(b"\n")
    reason = f"not a JSON event: unexpected end of data (column {len(kept[0]) + 1})"
    assert (code, err) == (2, f"error: {events}: line {lines}: {reason}\n")


def test_a_last_line_cut_off_is_skipped_with_a_note(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def cut(lines: list[bytes]) -> bytes:
        return b"".join([*lines[:-1], lines[-1][: len(lines[-1]) // 2]])

    events, code, out, err = _report(run_dir, tmp_path, capsys, cut)
    lines = events.read_bytes().count(b"\n") + 1
    assert (code, err) == (0, "")
    assert out.startswith(
        f"{events}: note: the file is cut off (a run killed while writing it?): line {lines}"
        " is cut off (no end of line), so it is skipped\n"
    )
    assert (events.parent / "report" / "report.html").is_file()


def test_blank_lines_are_skipped(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def blank(lines: list[bytes]) -> bytes:
        lines.insert(_state_change(lines), b"\n")
        return b"".join(lines)

    _, code, out, err = _report(run_dir, tmp_path, capsys, blank)
    assert (code, err) == (0, "")
    assert "note:" not in out


def _summary_set(path: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    """A change of the summary: the field at dotted ``path`` set to ``value`` (or removed)."""

    def change(summary: dict[str, Any]) -> Any:
        *parents, name = path.split(".")
        at = summary
        for parent in parents:
            at = at[parent]
        if value is _DROP:
            del at[name]
        else:
            at[name] = value
        return summary

    return change


SUMMARIES: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "not an object": (lambda summary: [summary], "not a JSON object"),
    "no end time": (_summary_set("end_time", _DROP), "end_time: expected a time >= 0, got None"),
    "end time not a number": (
        _summary_set("end_time", "6h"),
        "end_time: expected a time >= 0, got '6h'",
    ),
    "no KPIs": (_summary_set("kpis", _DROP), "kpis: expected an object, got None"),
    "no machines": (_summary_set("kpis.machines", []), "kpis.machines: expected an object, got []"),
    "a machine not an object": (
        _summary_set("kpis.machines.cnc1", 0.5),
        "kpis.machines.cnc1: expected an object, got 0.5",
    ),
    "a KPI missing": (_summary_set("kpis.cell.oee", _DROP), "kpis.cell.oee: missing"),
    "a KPI not a number": (
        _summary_set("kpis.machines.printer1.availability", "high"),
        "kpis.machines.printer1.availability: expected a number or null, got 'high'",
    ),
    "excluded machines not a list": (
        _summary_set("kpis.cell_excludes", "robot1"),
        "kpis.cell_excludes: expected a list of machines, got 'robot1'",
    ),
}


@pytest.mark.parametrize("case", list(SUMMARIES))
def test_a_malformed_summary_is_named_in_one_line(
    case: str, run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    change, reason = SUMMARIES[case]

    def changed(lines: list[bytes]) -> bytes:
        return json.dumps(change(json.loads(b"".join(lines)))).encode()

    summary, code, _, err = _report(run_dir, tmp_path, capsys, changed, "summary.json")
    assert (code, err) == (2, f"error: {summary}: {reason}\n")
    assert not (summary.parent / "report").exists()
