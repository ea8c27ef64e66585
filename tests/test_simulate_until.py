"""``twin simulate --until`` runs that long, so variants are compared over one period; without
it a run ends when all work is done, and says so.

A process engineer comparing one printer with two got runs ending at 43.0 h and 36.9 h for
``--until 3d``, each with KPIs over its own period (the cell's OEE "dropped" with the second
printer), and no word of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twin.cli import main


def _simulate(jsp_dir: Path, tmp_path: Path, *until: str) -> dict[str, object]:
    scenario, out = tmp_path / "ft06.toml", tmp_path / "run"
    assert main(["scenario", "from-jsp", str(jsp_dir / "ft06.txt"), "-o", str(scenario)]) == 0
    args = ["simulate", str(scenario), "--out", str(out), "--quiet", "--no-plots", *until]
    assert main(args) == 0
    summary: dict[str, object] = json.loads((out / "summary.json").read_text())
    return summary


def test_until_runs_to_that_time(
    jsp_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = _simulate(jsp_dir, tmp_path, "--until", "1000s")
    assert summary["end_time"] == 1000  # not the makespan: every run over [0, 1000 s]
    assert summary["jobs_completed"] == 6
    assert "all work done" not in capsys.readouterr().out
    kpis = summary["kpis"]
    assert isinstance(kpis, dict)
    # the idle time after the last job is in the period: availability over 1000 s
    assert kpis["cell"]["availability"] < 0.5


def test_without_until_a_run_ends_when_all_work_is_done_and_says_so(
    jsp_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = _simulate(jsp_dir, tmp_path)
    assert summary["end_time"] == summary["makespan"]
    out = capsys.readouterr().out
    makespan = summary["makespan"]
    assert isinstance(makespan, int | float)
    assert f"all work done at simulated time {makespan:.1f} s" in out
    assert "--until runs to a fixed time" in out
