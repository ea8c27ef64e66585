"""Machine behaviour over a long run: tool wear and replacement, print failures, breakdowns,
setups, and inspection outcomes (pass, rework, scrap and remake)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SCENARIOS
from twin.events import (
    Event,
    FaultRaised,
    InspectionDone,
    JobScrapped,
    MachineStateChanged,
    OrderReceived,
    ToolChanged,
)
from twin.machines import REGISTRY, Dynamics, OpRequest
from twin.model import CncConfig, load_scenario
from twin.simulation import run_simulation


@pytest.fixture(scope="module")
def events() -> list[Event]:
    seen: list[Event] = []
    sc = load_scenario(SCENARIOS / "large.toml")
    run_simulation(sc, until=60 * 86400, seed=3, subscribers=[seen.append], plots=False)
    return seen


def test_tools_wear_out_and_are_replaced(events: list[Event]) -> None:
    changes = [e for e in events if isinstance(e, ToolChanged)]
    assert changes
    assert {e.machine for e in changes} <= {"cnc1", "cnc2"}


def test_faults_of_every_random_kind(events: list[Event]) -> None:
    kinds = Counter((e.kind, e.source) for e in events if isinstance(e, FaultRaised))
    assert kinds[("print_failure", "random")] > 0
    assert kinds[("breakdown", "random")] > 0
    assert kinds[("tool_breakage", "scenario")] == 1


def test_setups_happen(events: list[Event]) -> None:
    setups = [e for e in events if isinstance(e, MachineStateChanged) and e.mode == "Setup"]
    assert {e.machine for e in setups} >= {"cnc1", "printer1"}


def test_inspection_decisions_and_remakes(events: list[Event]) -> None:
    decisions = Counter(e.decision for e in events if isinstance(e, InspectionDone))
    assert decisions["pass"] > decisions["rework"] > 0
    assert decisions["scrap"] > 0
    scrapped = [e for e in events if isinstance(e, JobScrapped)]
    remakes = {e.job for e in events if isinstance(e, OrderReceived) and e.source == "remake"}
    assert {e.remake for e in scrapped} == remakes


def test_wear_raises_defect_rate_and_slows_cutting() -> None:
    cfg = CncConfig(id="c", defect_probability=0.0, wear_defect_gain=0.5, duration_cv=0.0)
    model = REGISTRY["cnc"]
    req = OpRequest("milling", "mill", material="aluminium")
    rng = np.random.default_rng(0)
    fresh = [model.outcome(cfg, Dynamics(wear=0.0), req, 100.0, rng) for _ in range(2000)]
    worn = [model.outcome(cfg, Dynamics(wear=0.9), req, 100.0, rng) for _ in range(2000)]
    assert sum(o.defect for o in fresh) == 0
    assert 0.3 < sum(o.defect for o in worn) / 2000 < 0.5  # 0.5 * 0.9^2 = 0.405
    assert worn[0].actual == pytest.approx(109.0)  # 10 % slower at 90 % wear
    dyn = Dynamics(wear=0.99)
    assert model.maintenance_before(cfg, dyn, 600.0) == cfg.tool_replace_time
    assert dyn.wear == 0.0
    assert dyn.tools_replaced == 1


def test_scenario_file_default_is_valid(default_scenario_path: Path) -> None:
    sc = load_scenario(default_scenario_path)
    kinds = {m.kind for m in sc.cell.machines}
    assert kinds >= {"cnc", "robot", "printer", "inspection"}
    assert sc.cell.transport_robot == "robot1"
