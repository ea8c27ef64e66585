"""Process planning formulas and dispatching rules."""

from __future__ import annotations

import math

import pytest

from twin.engine.dispatch import make_rule
from twin.engine.jobs import Job, QueueEntry
from twin.model import BracketSpec, CncConfig, HousingSpec, InspectionConfig, PrinterConfig
from twin.planning import PlannedOp, Planner, PlanningError


def test_bracket_milling_time_formula() -> None:
    cnc = CncConfig(id="c", removal_rate_cm3_min={"aluminium": 50.0})
    spec = BracketSpec(
        length_mm=100,
        width_mm=50,
        height_mm=20,
        stock_allowance_mm=0,
        holes=4,
        hole_diameter_mm=10,
        pockets=2,
        pocket_volume_cm3=5,
        surfaces=1,
    )
    ops = Planner([cnc, InspectionConfig(id="v")]).plan(spec)
    assert [op.req.process for op in ops] == ["milling", "inspection"]
    removal = 4 * math.pi * 25 * 20 / 1000 + 2 * 5  # holes + pockets, no stock allowance
    expected = removal / 50 * 60 + 4 * 20 + 2 * 90 + 1 * 45 + 2 * 8  # 3 tools -> 2 changes
    assert ops[0].durations["c"] == pytest.approx(expected)
    assert ops[1].durations["v"] == pytest.approx(30 + 6 * (4 + 2 + 1 + 1))


def test_print_time_formula_and_setups() -> None:
    printer = PrinterConfig(
        id="p", deposition_rate_cm3_h={"pla": 36.0}, layer_overhead=2, heatup_time=120
    )
    spec = HousingSpec(material="pla", volume_cm3=18, height_mm=10, layer_height_mm=0.2)
    (op,) = Planner([printer]).plan(spec)
    assert op.durations["p"] == pytest.approx(120 + 18 / 36 * 3600 + 50 * 2)
    from twin.machines import REGISTRY

    assert REGISTRY["printer"].setup_time(printer, "pla", "petg") == printer.material_change_setup
    cnc = CncConfig(id="c")
    cnc_model = REGISTRY["cnc"]
    assert cnc_model.setup_time(cnc, "steel|vise", "steel|vise") == 0
    assert cnc_model.setup_time(cnc, "steel|vise", "aluminium|vise") == cnc.material_change_setup
    assert cnc_model.setup_time(cnc, "steel|vise", "aluminium|clamp") == (
        cnc.material_change_setup + cnc.fixture_change_setup
    )


def test_unplannable_names_operation_and_reason() -> None:
    printer = PrinterConfig(id="p", deposition_rate_cm3_h={"pla": 36.0})
    with pytest.raises(PlanningError, match="cannot print material 'abs'"):
        Planner([printer]).plan(HousingSpec(material="abs"))
    with pytest.raises(PlanningError, match="no machine for milling"):
        Planner([printer]).plan(BracketSpec())


def _entry(job_id: str, planned: float, due: float, seq: int, weight: float = 1.0) -> QueueEntry:
    op = PlannedOp(req=None, durations={"m": planned})  # type: ignore[arg-type]
    job = Job(job_id, seq, HousingSpec(), [op], 0.0, due, weight)
    return QueueEntry(job, op, planned, float(seq), seq)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [("FIFO", "a"), ("SPT", "b"), ("EDD", "c"), ("CR", "c"), ("ATC", "c")],
)
def test_dispatching_rules(rule: str, expected: str) -> None:
    # ATC by hand (k=2, p_mean=103.3): a 0.01*e^-3.87, b 0.1*e^-3.82, c 0.005*e^-0.48 -> c
    queue = [_entry("a", 100, 900, 0), _entry("b", 10, 800, 1), _entry("c", 200, 300, 2)]
    chosen = queue[make_rule(rule).select(queue, now=0.0)]
    assert chosen.job.id == expected


def test_atc_with_loose_due_dates_behaves_like_weighted_spt() -> None:
    queue = [_entry("a", 100, 2000, 0), _entry("b", 10, 2000, 1), _entry("c", 5, 2000, 2, 0.1)]
    assert queue[make_rule("ATC").select(queue, now=0.0)].job.id == "b"


def test_unknown_rule() -> None:
    with pytest.raises(ValueError, match="unknown dispatching rule 'LIFO'"):
        make_rule("LIFO")
