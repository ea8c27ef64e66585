"""``twin telemetry status`` without a directory shows the run whose telemetry changed last
of ``runs/live`` (``twin run``'s directory, and the compose stack's) and ``runs/latest``
(``twin simulate``'s); it read ``runs/latest`` whatever ran, and ``--help`` did not say."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from twin.cli import main
from twin.telemetry import SPOOL_DIR
from twin.telemetry.spool import STATUS_FILE


def run_dir(name: str, written: int, mtime: float) -> Path:
    """``runs/<name>`` with a status of ``written`` lines, last changed at ``mtime``."""
    spool = Path("runs", name, SPOOL_DIR)
    spool.mkdir(parents=True)
    status = spool / STATUS_FILE
    status.write_text(json.dumps({"sink": "influx", "lines_written": written}))
    os.utime(status, (mtime, mtime))
    return status


def shown(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["telemetry", "status", "--json"]) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def test_the_run_whose_telemetry_changed_last_is_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    live = run_dir("live", 2500, 2_000_000_000)  # twin run, writing its status every second
    latest = run_dir("latest", 7, 1_900_000_000)  # an older twin simulate
    assert shown(capsys)["lines_written"] == 2500
    assert shown(capsys)["status_file"] == str(live)
    os.utime(latest, (2_100_000_000, 2_100_000_000))  # a simulation since
    assert shown(capsys)["lines_written"] == 7


def test_only_a_simulated_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    run_dir("latest", 7, 1_900_000_000)
    Path("runs", "live").mkdir()  # a twin run without telemetry, later: no status to show
    os.utime(Path("runs", "live"), (2_000_000_000, 2_000_000_000))
    assert shown(capsys)["lines_written"] == 7


def test_no_run_is_one_line_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["telemetry", "status"]) == 2
    assert capsys.readouterr().err == (
        "error: command line: PATH: not given, and none of runs/live (twin run), runs/latest"
        " (twin simulate) exists\n"
    )


def test_help_says_what_the_default_is(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # one line
    assert main(["telemetry", "status", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "(default: runs/live, where twin run writes, or runs/latest, where twin" in help_text
