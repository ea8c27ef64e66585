"""Replaying the optimal job-shop schedules must give the published optimal makespans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from twin.cli import main
from twin.jsp import jsp_scenario
from twin.model import load_sequence, parse_scenario
from twin.simulation import resolve_sequence, run_simulation


@pytest.mark.parametrize("name", ["ft06", "la01"])
def test_replay_gives_optimal_makespan(jsp_dir: Path, name: str) -> None:
    sc = parse_scenario(jsp_scenario(jsp_dir / f"{name}.txt"))
    seq_file = load_sequence(jsp_dir / f"{name}.sequence.json")
    result = run_simulation(sc, sequence=resolve_sequence(sc, seq_file), plots=False)
    assert seq_file.optimal_makespan is not None
    assert result.engine.makespan == seq_file.optimal_makespan
    assert result.engine.completed == len(sc.orders)


def test_cli_from_jsp_then_simulate(jsp_dir: Path, tmp_path: Path) -> None:
    scenario = tmp_path / "ft06.toml"
    assert main(["scenario", "from-jsp", str(jsp_dir / "ft06.txt"), "-o", str(scenario)]) == 0
    out = tmp_path / "run"
    rc = main(
        [
            "simulate",
            str(scenario),
            "--sequence",
            str(jsp_dir / "ft06.sequence.json"),
            "--out",
            str(out),
            "--quiet",
            "--no-plots",
        ]
    )
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["makespan"] == 55
    assert summary["jobs_completed"] == 6


def test_sequence_inconsistent_with_routings(
    jsp_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "ft06.toml"
    main(["scenario", "from-jsp", str(jsp_dir / "ft06.txt"), "-o", str(scenario)])
    seq = json.loads((jsp_dir / "ft06.sequence.json").read_text())
    seq["machine_sequences"]["0"] = seq["machine_sequences"]["0"][:-1]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(seq))
    rc = main(
        ["simulate", str(scenario), "--sequence", str(bad), "--out", str(tmp_path / "r"), "-q"]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "machine_sequences.m0" in err
    assert "Traceback" not in err


def test_sequence_cycle_is_rejected(
    jsp_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "ft06.toml"
    main(["scenario", "from-jsp", str(jsp_dir / "ft06.txt"), "-o", str(scenario)])
    seq = json.loads((jsp_dir / "ft06.sequence.json").read_text())
    for key in seq["machine_sequences"]:
        seq["machine_sequences"][key].reverse()
    bad = tmp_path / "cycle.json"
    bad.write_text(json.dumps(seq))
    rc = main(
        ["simulate", str(scenario), "--sequence", str(bad), "--out", str(tmp_path / "r"), "-q"]
    )
    assert rc == 2
    assert "deadlock" in capsys.readouterr().err
