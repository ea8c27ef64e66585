"""The Gantt chart shows setups (violet), as it shows outages: a process engineer looking for
why a CNC was busy found no trace of its 16 setups of 20 minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.events import EventLogWriter, MachineStateChanged
from twin.model import load_scenario
from twin.report.plots import gantt_bars
from twin.simulation import run_simulation


def test_setup_bars_add_up_to_the_setup_time(default_scenario_path: Path, tmp_path: Path) -> None:
    result = run_simulation(
        load_scenario(default_scenario_path), until=2 * 86400.0, out_dir=tmp_path, plots=False
    )
    _, segments = gantt_bars(tmp_path / "events.jsonl")
    for machine, kpis in result.kpis["machines"].items():
        setups = sum(d for _, d, which in segments.get(machine, []) if which == "Setup")
        # a setup still running at the end is drawn until the last event: at most one short
        assert setups == pytest.approx(kpis["setup_s"], abs=1800.0), machine
    assert any(which == "Setup" for bars in segments.values() for _, _, which in bars)


def test_an_outage_open_at_the_end_is_drawn_until_the_end(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with path.open("wb") as fh:
        write = EventLogWriter(fh)
        write(MachineStateChanged(10.0, "cnc1", "Executing", "Setup", "J1"))
        write(MachineStateChanged(30.0, "cnc1", "OutOfService", "Maintenance", "J1"))
        write.flush()
    _, segments = gantt_bars(path, 100.0)
    assert segments["cnc1"] == [(10.0, 20.0, "Setup"), (30.0, 70.0, "OutOfService")]
    _, segments = gantt_bars(path)  # by default until the last event
    assert segments["cnc1"] == [(10.0, 20.0, "Setup")]
