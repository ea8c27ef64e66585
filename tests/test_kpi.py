"""KPIs against a hand-computed small case.

One generic machine; job A (100 s) then job B (50 s), FIFO, both released at 0; a scenario
fault puts the machine out of service from 120 s to 150 s, interrupting B, which resumes and
ends at 180 s. By hand: APT = 150 s, down = 30 s, PBT = 180 s -> availability 150/180,
effectiveness 150/150, quality 1, OEE 150/180. Due = 3 x work: A 300 s, B 150 s, so B is
30 s late. WIP: 2 jobs for 100 s, 1 job for 80 s -> mean 280/180. Throughput 2 / (180/3600).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.events import read_events
from twin.kpi import compute_kpis
from twin.model import load_scenario
from twin.simulation import run_simulation

CASE = Path(__file__).parent / "cases" / "two_jobs_one_machine" / "scenario.toml"


def test_kpis_match_hand_computation(tmp_path: Path) -> None:
    result = run_simulation(load_scenario(CASE), out_dir=tmp_path, plots=False)
    assert result.engine.makespan == 180.0
    m = result.kpis["machines"]["m0"]
    assert m["apt_s"] == pytest.approx(150.0)
    assert m["down_s"] == pytest.approx(30.0)
    assert m["pbt_s"] == pytest.approx(180.0)
    assert m["availability"] == pytest.approx(150 / 180)
    assert m["effectiveness"] == pytest.approx(1.0)
    assert m["quality_ratio"] == pytest.approx(1.0)
    assert m["oee"] == pytest.approx(150 / 180)
    cell = result.kpis["cell"]
    assert cell["oee"] == pytest.approx(150 / 180)
    assert cell["jobs_completed"] == 2
    assert cell["jobs_late"] == 1
    assert cell["tardiness_max_s"] == pytest.approx(30.0)
    assert cell["lead_time_mean_s"] == pytest.approx((100 + 180) / 2)
    assert cell["wip_mean"] == pytest.approx(280 / 180)
    assert cell["wip_max"] == 2
    assert cell["throughput_per_h"] == pytest.approx(2 / (180 / 3600))

    # the same KPIs follow from the event log alone
    again = compute_kpis(read_events(str(tmp_path / "events.jsonl")), ["m0"], 180.0)
    assert again == result.kpis


def test_state_changes_follow_machinery_model(tmp_path: Path) -> None:
    run_simulation(load_scenario(CASE), out_dir=tmp_path, plots=False)
    states = [
        (e.t, e.state, e.mode)
        for e in read_events(str(tmp_path / "events.jsonl"))
        if e.type == "machine_state"
    ]
    assert states == [
        (0.0, "Executing", "Processing"),
        (100.0, "NotExecuting", "Processing"),
        (100.0, "Executing", "Processing"),
        (120.0, "OutOfService", "Maintenance"),
        (150.0, "Executing", "Processing"),
        (180.0, "NotExecuting", "Processing"),
    ]


def test_bad_period_is_rejected_before_anything_is_written(tmp_path: Path) -> None:
    from twin.errors import ConfigError

    with pytest.raises(ConfigError, match="period: must be > 0"):
        run_simulation(load_scenario(CASE), out_dir=tmp_path / "run", signal_period=0.0)
    assert not (tmp_path / "run").exists()
