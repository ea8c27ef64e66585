"""``twin scenario show`` prints each machine's effective process parameters (its kind's
defaults included, a rate table as given, durations in short form), one line per machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SCENARIOS
from twin.cli import main

CELL = """
[cell]
[[cell.machines]]
id = "cnc2"
kind = "cnc"
axes = 3
removal_rate_cm3_min = { steel = 10.0, pa12 = 70.5 }
tool_life = "2h30m"
[[cell.machines]]
id = "robot1"
kind = "robot"
"""


def test_show_prints_each_machines_effective_parameters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(CELL, encoding="utf-8")
    assert main(["scenario", "show", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    cnc = next(line for line in out if line.startswith("  cnc2: "))
    assert cnc.startswith(
        "  cnc2: axes 3, max_spindle_rpm 18000, removal_rate_cm3_min {steel 10, pa12 70.5},"
        " hole_time 20s, pocket_time 1m30s, surface_time 45s, tool_change_time 8s,"
        " tool_life 2h30m, tool_replace_time 5m, material_change_setup 20m,"
        " fixture_change_setup 10m, defect_probability 0.01,"
    )
    robot = next(line for line in out if line.startswith("  robot1: "))
    assert robot == (
        "  robot1: speed_m_s 1, pick_time 4s, place_time 4s, fasten_time 12s, payload_kg 10,"
        " output_buffer 1, duration_cv 0.05"
    )


def test_show_prints_a_printers_rates_and_an_inspection_stations_times(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["scenario", "show", str(SCENARIOS / "default.toml")]) == 0
    out = capsys.readouterr().out
    assert "  printer1: deposition_rate_cm3_h {pla 40, petg 32, abs 30, pa12 22}," in out
    assert "failure_rate_per_h 0.02," in out
    assert "  vision1: base_time 30s, time_per_feature 6s," in out
