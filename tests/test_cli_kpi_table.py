"""The KPI table ``twin simulate`` prints is readable at 80 columns (``make simulate > log``):
no header or value is cut or wrapped."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from tests.conftest import SCENARIOS
from twin.cli import main
from twin.cli.simulate import kpi_table

HEADERS = ("machine", "avail.", "effect.", "quality", "OEE", "util.", "produced")


def _kpis(value: float, produced: int) -> dict[str, object]:
    names = ("availability", "effectiveness", "quality_ratio", "oee", "utilisation")
    return {**dict.fromkeys(names, value), "produced": produced}


def test_simulate_prints_whole_headers_at_80_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    args = ["simulate", str(SCENARIOS / "default.toml"), "--until", "2d", "-q", "--no-plots"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = lines[lines.index(next(x for x in lines if "ISO 22400 KPIs" in x)) :][:11]
    assert table[2].split() == ["┃", *" ┃ ".join(HEADERS).split(), "┃"]
    assert "…" not in "".join(table)
    assert max(len(line) for line in table) <= 80


def test_long_machine_ids_fold_but_values_stay_whole() -> None:
    long_id = "inspection_station_with_a_very_long_identifier_01"
    kpis = {"machines": {long_id: _kpis(1.0, 12345)}, "cell": _kpis(0.5, 12345)}
    console = Console(file=io.StringIO(), width=80)
    console.print(kpi_table(kpis))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in out
    assert out.count("100.0%") == 5
    assert out.count("12345") == 2
    assert all(h in out for h in HEADERS)


def test_nothing_produced_is_not_rated() -> None:
    """The robot produces nothing itself: its quality and OEE are not 0 %, there is nothing
    to rate; availability, effectiveness and utilisation still are rated."""
    kpis = {"machines": {"robot1": _kpis(0.25, 0)}, "cell": _kpis(0.5, 3)}
    console = Console(file=io.StringIO(), width=80)
    console.print(kpi_table(kpis))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    robot = next(line for line in out.splitlines() if "robot1" in line)
    assert [c.strip() for c in robot.split("│")[2:7]] == ["25.0%", "25.0%", "-", "-", "25.0%"]
    assert out.count("50.0%") == 5  # the cell, which produced
