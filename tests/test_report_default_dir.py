"""``twin report`` without a run directory reports the run written last, ``twin run``'s
(runs/live) or ``twin simulate``'s (runs/latest), as ``twin telemetry status`` shows its
telemetry; it took runs/latest always, so after ``make run`` it reported an older simulation
or said there was no run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from twin.cli import main
from twin.cli.report import default_run_dir


def _run(directory: Path, mtime: float) -> None:
    directory.mkdir(parents=True)
    log = directory / "events.jsonl"
    log.write_text("", encoding="utf-8")
    os.utime(log, (mtime, mtime))


def test_the_run_whose_event_log_changed_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _run(tmp_path / "runs" / "latest", 1_000_000.0)
    assert default_run_dir() == Path("runs/latest")
    _run(tmp_path / "runs" / "live", 2_000_000.0)
    assert default_run_dir() == Path("runs/live")
    os.utime(tmp_path / "runs" / "latest" / "events.jsonl", (3e6, 3e6))
    assert default_run_dir() == Path("runs/latest")


def test_no_run_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "live").mkdir(parents=True)  # a directory without a run
    assert main(["report"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: command line: RUN_DIR: not given, and none of runs/live (twin run),"
        " runs/latest (twin simulate) has a run"
    )
