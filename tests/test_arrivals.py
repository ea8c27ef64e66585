"""Arrivals drawn and planned in blocks: the same routings as planning each spec alone."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SCENARIOS
from twin.engine.arrivals import BLOCK, ProductSampler, interarrivals
from twin.engine.cell import Engine
from twin.errors import ConfigError
from twin.model import HousingSpec, load_scenario
from twin.model.scenario import Scenario
from twin.planning import Planner, PlanningError


def _sampler(sc: Scenario, seed: int = 7) -> tuple[ProductSampler, Planner]:
    assert sc.arrivals is not None
    planner = Planner(sc.cell.machines)
    rng = np.random.Generator(np.random.PCG64(seed))
    return ProductSampler(sc.catalogue, sc.arrivals.mix, rng, planner), planner


@pytest.mark.parametrize("name", ["default.toml", "large.toml"])
def test_block_planning_equals_planning_each_spec(name: str) -> None:
    sc = load_scenario(SCENARIOS / name)
    sampler, planner = _sampler(sc)
    families = set()
    for _ in range(2 * BLOCK + 5):  # across block boundaries
        group, row, work = sampler.next()
        spec, ops = group.spec(row), group.routing(row)
        families.add(spec.type)
        assert ops == planner.plan(spec)  # exact: same formulas, same floats
        assert work == sum(op.min_duration for op in ops)
        assert group.op_names() == [op.req.name for op in ops]
    assert families == {c.family for c in sc.catalogue}


def _with_printers(heights: list[float], catalogue_height: tuple[float, float]) -> Scenario:
    sc = load_scenario(SCENARIOS / "default.toml")
    printer = next(m for m in sc.cell.machines if m.kind == "printer")
    printers = [
        printer.model_copy(update={"id": f"printer{i + 1}", "build_volume_mm": (250.0, 210.0, h)})
        for i, h in enumerate(heights)
    ]
    machines = [m for m in sc.cell.machines if m.kind != "printer"] + printers
    housing = next(c for c in sc.catalogue if c.id == "housing")
    housing = housing.model_copy(
        update={"ranges": {**housing.ranges, "height_mm": catalogue_height}}
    )
    assert sc.arrivals is not None
    return sc.model_copy(
        update={
            "cell": sc.cell.model_copy(update={"machines": machines}),
            "catalogue": [housing],
            "arrivals": sc.arrivals.model_copy(update={"mix": {}}),
            "orders": [],
            "faults": [],
        }
    )


def test_specs_only_some_machines_can_make_are_planned_one_by_one() -> None:
    # printer1 takes parts up to 30 mm high, printer2 up to 60 mm: tall parts go to printer2
    sc = _with_printers([30.0, 60.0], (15.0, 60.0))
    sampler, planner = _sampler(sc)
    eligible = set()
    for _ in range(300):
        group, row, work = sampler.next()
        spec, ops = group.spec(row), group.routing(row)
        assert ops == planner.plan(spec)
        assert work == sum(op.min_duration for op in ops)
        assert isinstance(spec, HousingSpec)
        expect = {"printer2"} if spec.height_mm > 30.0 else {"printer1", "printer2"}
        assert set(ops[0].durations) == expect
        eligible.add(frozenset(ops[0].durations))
    assert len(eligible) == 2  # both cases were drawn


def test_a_catalogue_the_cell_cannot_make_is_rejected_before_the_run() -> None:
    sc = _with_printers([30.0], (15.0, 60.0))
    with pytest.raises(ConfigError) as info:
        Engine(sc)
    assert info.value.field == "catalogue[0]"
    assert "exceeds build height" in info.value.reason


def test_a_drawn_spec_no_machine_can_make_fails_when_it_is_drawn() -> None:
    # the sampler's own guard, for constraints the catalogue's corners do not reveal
    sc = _with_printers([30.0], (15.0, 60.0))
    sampler, planner = _sampler(sc)
    made, errors = 0, []
    for _ in range(300):
        try:
            group, row, _work = sampler.next()
        except PlanningError as exc:
            errors.append(str(exc))
            continue
        spec, ops = group.spec(row), group.routing(row)
        assert isinstance(spec, HousingSpec)
        assert spec.height_mm <= 30.0
        assert ops == planner.plan(spec)
        made += 1
    assert made > 0
    assert errors
    assert all("exceeds build height" in e and "printed_housing" in e for e in errors)


def test_backlog_orders_get_spec_and_routing_on_demand() -> None:
    sc = load_scenario(SCENARIOS / "default.toml")
    assert sc.arrivals is not None
    sc = sc.model_copy(
        update={"arrivals": sc.arrivals.model_copy(update={"mean_interarrival": 60.0})}
    )
    engine = Engine(sc)
    engine.run(86400.0, stop_when_done=False)
    waiting = [j for j in engine.jobs.values() if j.state == "backlog"]
    assert len(waiting) > 500  # a minute between orders overloads the cell
    lazy = [j for j in waiting if j._ops is None]
    assert len(lazy) == len(waiting)  # nothing planned for jobs still in the backlog
    snap = {j["id"]: j for j in engine.snapshot()["jobs"]}
    job = lazy[0]
    names = snap[job.id]["operations"]
    assert job._ops is None  # the snapshot did not need the routing
    assert names == [op.req.name for op in job.ops]
    assert job.operations == len(names)
    assert job.spec.type == job.family
    assert job.ops == Planner(sc.cell.machines).plan(job.spec)


def test_block_interarrivals_are_the_single_draws() -> None:
    sc = load_scenario(SCENARIOS / "default.toml")
    assert sc.arrivals is not None
    for dist in ("exponential", "uniform", "fixed"):
        arr = sc.arrivals.model_copy(update={"distribution": dist})
        a = np.random.Generator(np.random.PCG64(3))
        b = np.random.Generator(np.random.PCG64(3))
        block = interarrivals(arr, a, 10).tolist()
        singles = [float(interarrivals(arr, b, 1)[0]) for _ in range(10)]
        assert block == singles
        assert all(g > 0 for g in block)
        assert len(set(block)) == (1 if dist == "fixed" else 10)
