"""The backlog KPI (orders received, not yet released) and Little's law: lead time runs from
the order's arrival, so over a long run throughput x lead time = WIP + backlog. Without the
backlog a max_wip-bound cell read 7.80 against a WIP of 2.85 (a planner's check)."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.api import TwinAPI
from twin.engine.cell import Engine
from twin.events import Event, JobCancelled, JobCompleted, JobReleased, OrderReceived
from twin.kpi import KpiCollector, compute_kpis
from twin.model import load_scenario
from twin.simulation import run_simulation

ROOT = Path(__file__).resolve().parent.parent


def _order(t: float, job: str) -> OrderReceived:
    return OrderReceived(t, job, "explicit", 1e9, 1.0, 1, "api")


def test_backlog_by_hand() -> None:
    # A and B arrive at 0; A enters at once, B waits until 60 s; C arrives at 30 s and is
    # cancelled in the backlog at 90 s. Backlog: 1 over [0, 30), 2 over [30, 60), 1 over
    # [60, 90), 0 after: area 30 + 60 + 30 = 120 over 120 s.
    events: list[Event] = [
        _order(0.0, "A"),
        JobReleased(0.0, "A"),
        _order(0.0, "B"),
        _order(30.0, "C"),
        JobCompleted(60.0, "A", 60.0, 0.0, True),
        JobReleased(60.0, "B"),
        JobCancelled(90.0, "C"),
        JobCompleted(120.0, "B", 120.0, 0.0, True),
    ]
    cell = compute_kpis(events, [], 120.0)["cell"]
    assert cell["backlog_mean"] == pytest.approx(120 / 120)
    assert cell["backlog_max"] == 2
    assert cell["backlog_end"] == 0
    assert cell["wip_mean"] == pytest.approx(1.0)
    # Little: 2 jobs / 120 s x mean lead time 90 s = 1.5 = WIP 1 + backlog of the done ones
    # 0.5 (C's 60 s in the backlog is the other 0.5: it left without being done)


def test_littles_law_holds_with_the_backlog_when_max_wip_binds() -> None:
    sc = load_scenario(ROOT / "scenarios" / "default.toml")
    sc = sc.model_copy(update={"max_wip": 3})
    result = run_simulation(sc, until=60 * 86400.0, seed=3)
    cell = result.kpis["cell"]
    assert cell["backlog_mean"] > 0.5  # the cap binds: orders wait
    in_system = cell["wip_mean"] + cell["backlog_mean"]
    little = cell["throughput_per_h"] / 3600.0 * cell["lead_time_mean_s"]
    assert little == pytest.approx(in_system, rel=0.05)
    assert little > cell["wip_mean"] * 1.1  # the WIP alone would not do


def test_revoke_start_takes_the_order_out_of_the_backlog() -> None:
    # RevokeStart sends a waiting order back to the stored ones with no event of its own:
    # the backlog counted it on for good, and again at each start (a reviewer's finding)
    sc = load_scenario(ROOT / "scenarios" / "default.toml")
    engine = Engine(sc.model_copy(update={"max_wip": 1, "orders": [], "arrivals": None}))
    kpi = KpiCollector.for_cell(sc.cell)
    engine.bus.subscribe(kpi)
    api = TwinAPI(engine)
    for i in range(3):
        api.submit_order({"id": f"J{i}", "product": {"type": "printed_housing", "material": "pla"}})
    engine.run_through(1.0)
    assert kpi.backlog == len(engine.backlog) == 2
    for _ in range(3):
        api.revoke_start("J2")
        engine.run_through(engine.now + 1.0)
        assert kpi.backlog == len(engine.backlog) == 1
        api.start_order("J2")
        engine.run_through(engine.now + 1.0)
        assert kpi.backlog == len(engine.backlog) == 2
    api.revoke_start("J1")
    engine.run(stop_when_done=True)
    assert kpi.backlog == len(engine.backlog) == 0
