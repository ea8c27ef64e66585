"""Where ``twin report`` writes: a report that fails (bad input, Ctrl-C) leaves the older
report as it was and no partial one; one that succeeds replaces the older report's files,
those of machines it has no signals of included, and keeps files that are not a report's. A
report that cannot be written (a file in the way, a directory refusing new files, a full
disk) is one line naming the path, exit code 2."""

from __future__ import annotations

import errno
import gzip
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.figure
import pytest

import twin.report.run_report
from tests.test_simulate_rundir import _refusing_entries
from twin.cli import main


@pytest.fixture
def run(six_hour_run: Callable[..., Path], tmp_path: Path) -> Path:
    """A copy of a run with its signals in its telemetry file, for this test to change."""
    run_dir = six_hour_run("--signals", "10m", "--telemetry", "file")
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("report"))
    return copy


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every file and directory under ``root`` with its bytes (None for a directory)."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


def _older_report(run: Path) -> Path:
    """A report of ``run`` made before, told apart from a new one by its files' bytes."""
    assert main(["report", str(run)]) == 0
    report = run / "report"
    for path in report.iterdir():
        path.write_bytes(b"older report: " + path.name.encode())
    return report


def _break_telemetry(run: Path) -> None:
    """A line of the telemetry file that is no point: found after the event log is read."""
    telemetry = run / "telemetry.lp.gz"
    lines = gzip.decompress(telemetry.read_bytes()).splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith(b"kpi,"))
    lines[at] = b"kpi,scope=cell garbage\n"
    telemetry.write_bytes(gzip.compress(b"".join(lines)))


def test_a_failed_report_leaves_no_partial_report(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _break_telemetry(run)
    before = _tree(run)
    assert main(["report", str(run)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {run / 'telemetry.lp.gz'}: line ")
    assert _tree(run) == before  # no report/, no stage left beside it


def test_a_failed_report_leaves_the_older_one_as_it_was(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _older_report(run)
    _break_telemetry(run)
    before = _tree(run)
    assert main(["report", str(run)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {run / 'telemetry.lp.gz'}: line ")
    assert _tree(run) == before


def test_an_interrupted_report_leaves_the_older_one_as_it_was(
    run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C once some plots are written: exit code 130, the older report untouched."""
    _older_report(run)
    before = _tree(run)

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(twin.report.run_report, "plot_oee", interrupted)
    assert main(["report", str(run)]) == 130
    assert _tree(run) == before


@pytest.mark.parametrize("where", ["report", "--out"])
def test_a_report_replaces_all_files_of_the_older_one(
    where: str, run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The signal plot of a machine this run has no signals of goes; files not a report's
    stay; no stage is left beside the report (in the run directory, or at --out)."""
    report = _older_report(run) if where == "report" else tmp_path / "elsewhere"
    report.mkdir(exist_ok=True)
    (report / "signals-gone.png").write_bytes(b"older report: a machine since removed")
    (report / "notes.txt").write_text("mine\n", encoding="utf-8")
    capsys.readouterr()
    out = ["--out", str(report)] if where == "--out" else []
    assert main(["report", str(run), *out]) == 0
    assert capsys.readouterr().out == f"report: {report / 'report.html'}\n"
    assert sorted(p.name for p in report.iterdir()) == [
        "gantt.png",
        "kpis.png",
        "notes.txt",
        "oee.png",
        "report.html",
        "signals-cnc1.png",
        "signals-printer1.png",
        "signals-robot1.png",
        "signals-vision1.png",
        "states.png",
    ]
    assert not any(p.read_bytes().startswith(b"older report") for p in report.iterdir())
    assert [p.name for p in report.parent.iterdir() if p.name.startswith(".")] == []


def test_a_file_where_the_report_goes_is_named(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (run / "report").write_text("not a directory")
    before = _tree(run)
    assert main(["report", str(run)]) == 2
    reason = f"cannot write its report: {run / 'report'} is not a directory"
    assert capsys.readouterr().err == f"error: {run}: {reason}\n"
    assert _tree(run) == before


def test_an_out_that_cannot_be_made_is_named(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(run), "--out", "/proc/cell-twin-report"]) == 2
    assert capsys.readouterr().err == (
        "error: command line: --out: cannot create /proc/cell-twin-report: /proc does not"
        " allow new entries\n"
    )


@pytest.mark.parametrize("older", [False, True])
def test_a_run_directory_refusing_new_files_is_named(
    older: bool, run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A read-only run directory (a run kept in an archive): the report directory cannot be
    made in it, or, when an older report is there, written in."""
    refusing = _older_report(run) if older else run
    before = _tree(run)
    with _refusing_entries(refusing):
        assert main(["report", str(run)]) == 2
    where = f"cannot write in {refusing}" if older else f"cannot create {run / 'report'}: {run}"
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run}: cannot write its report: {where}: "), err
    assert err.count("\n") == 1
    assert _tree(run) == before


def test_a_full_disk_is_named(
    run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The disk fills up while a plot is written: the older report stays, no stage is left."""
    _older_report(run)
    before = _tree(run)
    written: list[Path] = []

    def disk_full(figure: Any, path: Path, **kwargs: Any) -> None:
        written.append(path)
        with path.open("wb") as fh:
            fh.write(b"\x89PNG")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as write(2) fails

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", disk_full)
    capsys.readouterr()
    assert main(["report", str(run)]) == 2
    assert written  # in the stage
    reason = f"cannot write the report: {os.strerror(errno.ENOSPC)}"
    assert capsys.readouterr().err == f"error: {run / 'report'}: {reason}\n"
    assert _tree(run) == before
