"""Faults on a machine's state and parts: overlapping faults (the state follows the set of
faults on, planned maintenance first), a tool breakage (a new tool, a spoilt part) and the
remake of a part scrapped (the same customer order)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import step_until, watched
from twin.api import TwinAPI
from twin.engine.cell import Engine
from twin.events import (
    Event,
    InspectionDone,
    JobCompleted,
    JobScrapped,
    MachineStateChanged,
    OperationFinished,
    OrderReceived,
    ToolChanged,
)
from twin.kpi import KpiCollector
from twin.model import parse_scenario, read_toml

BRACKET = {
    "type": "machined_bracket",
    "material": "steel",
    "length_mm": 150,
    "width_mm": 80,
    "height_mm": 25,
    "holes": 6,
    "pockets": 2,
    "surfaces": 3,
}


def _twin(
    path: Path, faults: Sequence[dict[str, Any]] = (), **inspection: Any
) -> tuple[Engine, list[Event], KpiCollector]:
    data = read_toml(path)
    data.pop("arrivals")
    data.pop("orders")
    data["faults"] = list(faults)
    for m in data["cell"]["machines"]:
        m.pop("breakdowns", None)
        if m["kind"] == "inspection":
            m.update(inspection)
        elif m["kind"] == "cnc":
            m.update(defect_probability=0.0, wear_defect_gain=0.0)
    return watched(parse_scenario(data))


def _states(seen: list[Event], machine: str) -> list[tuple[float, str]]:
    return [
        (e.t, e.state) for e in seen if isinstance(e, MachineStateChanged) and e.machine == machine
    ]


@pytest.mark.parametrize(
    ("faults", "states", "down", "planned"),
    [
        (  # maintenance starts during a breakdown and outlives it: planned from its start
            [("breakdown", 100, 1000), ("maintenance", 300, 14400)],
            [(100, "OutOfService"), (300, "NotAvailable"), (14700, "NotExecuting")],
            200,
            14400,
        ),
        (  # a breakdown during maintenance that outlives it: unplanned from the end of it
            [("maintenance", 100, 500), ("breakdown", 300, 1000)],
            [(100, "NotAvailable"), (600, "OutOfService"), (1300, "NotExecuting")],
            700,
            500,
        ),
        (  # a breakdown within a maintenance: planned down all along
            [("maintenance", 100, 5000), ("breakdown", 300, 1000)],
            [(100, "NotAvailable"), (5100, "NotExecuting")],
            0,
            5000,
        ),
    ],
)
def test_the_state_follows_the_faults_on_planned_maintenance_first(
    default_scenario_path: Path,
    faults: list[tuple[str, float, float]],
    states: list[tuple[float, str]],
    down: float,
    planned: float,
) -> None:
    engine, seen, kpi = _twin(
        default_scenario_path,
        [{"machine": "cnc1", "kind": k, "at": at, "duration": d} for k, at, d in faults],
    )
    engine.run(20000, stop_when_done=False)
    assert _states(seen, "cnc1") == states
    cnc = kpi.report(20000)["machines"]["cnc1"]
    assert (cnc["down_s"], cnc["planned_down_s"]) == (down, planned)


def _break_mid_cut(
    path: Path, received: float, into_cut: float
) -> tuple[Engine, list[Event], KpiCollector]:
    """Order B (a bracket) comes at ``received``; the tool breaks ``into_cut`` seconds into
    its milling; every defect found is scrapped."""
    engine, seen, kpi = _twin(path, detection_probability=1.0, max_rework=0, rework_fraction=0.0)
    api = TwinAPI(engine)
    engine.run(received, stop_when_done=False)
    api.submit_order({"id": "B", "product": BRACKET})
    cnc = engine.machines["cnc1"]
    step_until(engine, "B", lambda j: cnc.mode == "Processing" and cnc.job == "B")
    engine.run(engine.now + into_cut, stop_when_done=False)
    api.inject_fault("cnc1", "tool_breakage", 900.0)
    return engine, seen, kpi


def test_a_breakage_mid_cut_replaces_the_tool_and_spoils_the_part(
    default_scenario_path: Path,
) -> None:
    engine, seen, _ = _break_mid_cut(default_scenario_path, 0, 600)  # 10 min into the cut
    cnc = engine.machines["cnc1"]
    start = engine.now
    assert cnc.dyn.tools_replaced == 1
    assert [e.tools_replaced for e in seen if isinstance(e, ToolChanged)] == [1]
    step_until(engine, "B", lambda j: cnc.job is None)
    finished = [e for e in seen if isinstance(e, OperationFinished) and e.machine == "cnc1"]
    assert [e.good for e in finished] == [False]
    # the new tool wore only by the rest of the cut (the broken one took the first 600 s)
    assert cnc.dyn.wear == pytest.approx((finished[0].actual - 600) / cnc.cfg.tool_life)
    engine.run(start + 86400)
    decisions = [e.decision for e in seen if isinstance(e, InspectionDone) and e.job == "B"]
    assert decisions == ["scrap"]
    assert [e.good for e in seen if isinstance(e, JobCompleted)] == [True]  # B-R1, remade


def test_a_breakage_while_idle_replaces_the_tool_and_spoils_nothing(
    default_scenario_path: Path,
) -> None:
    engine, seen, _ = _twin(default_scenario_path, detection_probability=1.0)
    cnc = engine.machines["cnc1"]
    cnc.dyn.wear = 0.5
    api = TwinAPI(engine)
    api.inject_fault("cnc1", "tool_breakage", 60.0)
    assert (cnc.dyn.wear, cnc.dyn.tools_replaced) == (0.0, 1)
    api.submit_order({"id": "B", "product": BRACKET})
    engine.run(86400)
    assert [e.decision for e in seen if isinstance(e, InspectionDone)] == ["pass"]


def test_a_breakage_while_a_fault_stops_the_cut_spoils_nothing(
    default_scenario_path: Path,
) -> None:
    engine, seen, _ = _twin(default_scenario_path, detection_probability=1.0)
    api = TwinAPI(engine)
    api.submit_order({"id": "B", "product": BRACKET})
    cnc = engine.machines["cnc1"]
    step_until(engine, "B", lambda j: cnc.mode == "Processing" and cnc.job == "B")
    engine.run(engine.now + 600, stop_when_done=False)
    api.inject_fault("cnc1", "breakdown", 300.0)
    api.inject_fault("cnc1", "tool_breakage", 60.0)  # found while the machine is down
    assert cnc.dyn.tools_replaced == 1
    step_until(engine, "B", lambda j: cnc.job is None)
    (finished,) = [e for e in seen if isinstance(e, OperationFinished)]
    assert finished.good
    assert cnc.dyn.wear == pytest.approx((finished.actual - 600) / cnc.cfg.tool_life)
    engine.run(86400)
    assert [e.decision for e in seen if isinstance(e, InspectionDone)] == ["pass"]


def test_a_remake_is_the_same_order_its_lead_time_from_the_orders_arrival(
    default_scenario_path: Path,
) -> None:
    # the part is spoilt: scrapped, remade
    engine, seen, kpi = _break_mid_cut(default_scenario_path, 1000, 60)
    engine.run()
    (scrapped,) = [e for e in seen if isinstance(e, JobScrapped)]
    (remade,) = [e for e in seen if isinstance(e, OrderReceived) and e.source == "remake"]
    (done,) = [e for e in seen if isinstance(e, JobCompleted)]
    assert (remade.job, remade.t, done.job) == ("B-R1", scrapped.t, "B-R1")
    assert done.lead_time == done.t - 1000  # from the order, not from the scrap
    assert engine.jobs["B-R1"].arrival == 1000
    assert kpi.report(engine.now)["cell"]["lead_time_mean_s"] == done.t - 1000
    assert (engine.received, engine.remade) == (1, 1)  # one customer order, made twice
