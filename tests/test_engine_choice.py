"""Choosing between eligible machines (``twin.engine.choice``): where the operation would end
first as planned, setups included; a machine down is not chosen while another has room. And
a planned maintenance known ahead: no work starts that would run into it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from tests.conftest import SCENARIOS, step_until
from twin.api import TwinAPI
from twin.engine.cell import Engine
from twin.events import Event, EventBus, MachineStateChanged, OperationStarted
from twin.model import parse_scenario, read_toml
from twin.model.scenario import OrderConfig


def _bracket(material: str, fixture: str = "vise") -> dict[str, Any]:
    return {
        "type": "machined_bracket",
        "material": material,
        "fixture": fixture,
        "length_mm": 100,
        "width_mm": 60,
        "height_mm": 20,
        "holes": 4,
        "pockets": 1,
        "surfaces": 2,
    }  # milling as planned: 460 s on cnc1 (5-axis), 529 s on cnc2 (3-axis)


def _twin(
    maintenance: Iterable[tuple[str, float, float]] = (),
) -> tuple[Engine, TwinAPI, list[Event]]:
    """The large cell (two CNCs) with only the orders a test gives, and no faults but the
    planned ``maintenance`` (machine, at, duration) of its scenario."""
    data = read_toml(SCENARIOS / "large.toml")
    for key in ("arrivals", "orders"):
        data.pop(key, None)
    data["faults"] = [
        {"machine": m, "kind": "maintenance", "at": at, "duration": d} for m, at, d in maintenance
    ]
    for m in data["cell"]["machines"]:
        m.pop("breakdowns", None)
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    engine = Engine(parse_scenario(data), bus=bus)
    return engine, TwinAPI(engine), seen


@pytest.fixture
def twin() -> tuple[Engine, TwinAPI, list[Event]]:
    return _twin()


def _set_up(engine: Engine, api: TwinAPI, cnc1: str, cnc2: str) -> None:
    """cnc1 set up for ``cnc1`` (a material), cnc2 for ``cnc2``, both idle again."""
    api.submit_order({"id": "P1", "product": _bracket(cnc1)})  # both free: the faster one
    api.submit_order({"id": "P2", "product": _bracket(cnc2)})  # cnc1 taken: the other one
    engine.run(engine.now + 7200, stop_when_done=False)
    assert (engine.machines["cnc1"].setup_key, engine.machines["cnc2"].setup_key) == (
        f"{cnc1}|vise",
        f"{cnc2}|vise",
    )


def _started(seen: list[Event], job: str) -> tuple[float, str]:
    (started,) = [e for e in seen if isinstance(e, OperationStarted) and e.job == job and e.op == 0]
    return started.t, started.machine


def _setups(seen: list[Event], machine: str, since: float) -> int:
    return sum(
        isinstance(e, MachineStateChanged) and e.machine == machine and e.mode == "Setup"
        for e in seen
        if e.t >= since
    )


@pytest.mark.parametrize(
    "orders",
    [
        ["S"],  # idle cnc2: no setup + 529 s; idle cnc1: 1,200 s material change + 460 s
        ["A", "B"],  # B waits for A on cnc2 (ends at 1,058 s) rather than 1,660 s on cnc1
    ],
)
def test_a_machine_set_up_for_the_part_beats_a_faster_one_to_set_up(
    orders: list[str], twin: tuple[Engine, TwinAPI, list[Event]]
) -> None:
    engine, api, seen = twin
    _set_up(engine, api, "titanium", "steel")
    since = engine.now
    for job in orders:
        api.submit_order({"id": job, "product": _bracket("steel")})
    engine.run(since + 7200, stop_when_done=False)
    assert [_started(seen, job)[1] for job in orders] == ["cnc2"] * len(orders)
    assert _setups(seen, "cnc1", since) == _setups(seen, "cnc2", since) == 0


def test_the_setup_counted_is_the_one_after_the_work_booked(
    twin: tuple[Engine, TwinAPI, list[Event]],
) -> None:
    engine, api, _ = twin
    _set_up(engine, api, "steel", "steel")
    cnc1, cnc2 = engine.machines["cnc1"], engine.machines["cnc2"]
    api.submit_order({"id": "C", "product": _bracket("steel", "clamp-plate")})
    api.submit_order({"id": "C2", "product": _bracket("steel", "clamp-plate")})
    step_until(engine, "C2", "queued")  # C under way on cnc1, C2 booked on cnc2
    (mill, _) = engine.planner.plan(
        OrderConfig.model_validate({"id": "S", "product": _bracket("steel")}).product
    )
    now = engine.now
    # back from the clamp plate to the vise (600 s) after the work there, then 460 s or 529 s
    assert cnc1.finish_estimate(mill, mill.durations["cnc1"], now) == pytest.approx(
        cnc1.busy_until + 600 + 460.02, abs=0.01
    )
    assert cnc2.booked == pytest.approx(600 + 528.53, abs=0.01)
    assert cnc2.finish_estimate(mill, mill.durations["cnc2"], now) == pytest.approx(
        now + 2 * (600 + 528.53), abs=0.01
    )


def test_a_machine_down_is_not_chosen_while_another_has_room(
    twin: tuple[Engine, TwinAPI, list[Event]],
) -> None:
    engine, api, seen = twin
    _set_up(engine, api, "steel", "titanium")
    for kind in ("breakdown", "maintenance"):
        api.inject_fault("cnc1", kind)
        job = f"S-{kind}"
        api.submit_order({"id": job, "product": _bracket("steel")})
        engine.run(engine.now + 7200, stop_when_done=False)
        assert _started(seen, job)[1] == "cnc2"
        api.clear_fault("cnc1")


def _interrupted(seen: list[Event], job: str) -> bool:
    return any(
        isinstance(e, MachineStateChanged) and e.job == job and e.mode == "Maintenance"
        for e in seen
    )


def test_no_work_starts_that_would_run_into_a_planned_maintenance() -> None:
    engine, api, seen = _twin([("cnc1", 300, 3600), ("cnc2", 300, 3600)])
    api.submit_order({"id": "S", "product": _bracket("steel")})  # 460 s on cnc1
    engine.run(7200, stop_when_done=False)
    assert _started(seen, "S") == (3900, "cnc1")  # when the maintenance is over
    assert not _interrupted(seen, "S")


def test_a_planned_maintenance_ahead_sends_the_part_to_another_machine() -> None:
    engine, api, seen = _twin([("cnc1", 300, 3600)])
    api.submit_order({"id": "S", "product": _bracket("steel")})
    engine.run(7200, stop_when_done=False)
    t, machine = _started(seen, "S")
    assert (t < 300, machine) == (True, "cnc2")  # slower, but free of the maintenance
    assert not _interrupted(seen, "S")


def test_work_that_fits_no_gap_between_maintenances_starts_at_once() -> None:
    windows = [("cnc1", 300, 100), ("cnc1", 500, 100), ("cnc2", 300, 100), ("cnc2", 500, 100)]
    engine, api, seen = _twin(windows)
    api.submit_order({"id": "S", "product": _bracket("steel")})  # 460 s: no 100 s gap holds it
    engine.run(7200, stop_when_done=False)
    t, machine = _started(seen, "S")
    assert (t < 300, machine) == (True, "cnc1")
    assert _interrupted(seen, "S")
