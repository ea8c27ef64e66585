"""Commands through twin.api: accepted ones act, rejected ones name the problem and change
nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import HOUSING, scrapping_cell, step_until
from twin.api import TwinAPI
from twin.engine.cell import Engine
from twin.engine.jobs import Job
from twin.errors import (
    CommandError,
    ConfigError,
    InvalidStateError,
    UnknownJobError,
    UnknownMachineError,
)
from twin.events import (
    EventBus,
    JobCancelled,
    JobCompleted,
    JobScrapped,
    OperationStarted,
    TransferStarted,
)
from twin.model import BracketSpec, load_scenario, parse_scenario, read_toml


@pytest.fixture
def setup(default_scenario_path: Path) -> tuple[Engine, TwinAPI, list[object]]:
    bus = EventBus()
    seen: list[object] = []
    bus.subscribe(seen.append)
    engine = Engine(load_scenario(default_scenario_path), bus=bus)
    return engine, TwinAPI(engine), seen


def test_submit_runs_to_completion(setup: tuple[Engine, TwinAPI, list[object]]) -> None:
    engine, api, seen = setup
    engine.run(600, stop_when_done=False)
    job = api.submit_order(
        {"id": "MES-42", "due": "3d", "product": {"type": "printed_housing", "volume_cm3": 10}}
    )
    assert job == "MES-42"
    engine.run(3 * 86400, stop_when_done=False)
    done = [e for e in seen if isinstance(e, JobCompleted) and e.job == "MES-42"]
    assert len(done) == 1
    assert done[0].lead_time > 0


def test_order_after_all_work_is_done_runs(tmp_path: Path) -> None:
    # a scenario of explicit orders only: once they are done, a run stops early; an order
    # submitted then must still be made by the next run (and by a forecast)
    sc = load_scenario(Path(__file__).parent / "cases" / "two_jobs_one_machine" / "scenario.toml")
    engine = Engine(sc)
    api = TwinAPI(engine)
    engine.run(86400)
    assert engine.all_done.triggered
    assert engine.wip == 0
    machine = next(iter(engine.machines))
    api.submit_order(
        {
            "id": "LATE-1",
            "product": {"type": "explicit", "operations": [{"machine": machine, "duration": 100}]},
        }
    )
    predicted = api.forecast("1h")["jobs"]["LATE-1"]
    assert predicted["state"] == "done"
    start = engine.now
    end = engine.run(start + 86400)
    assert engine.jobs["LATE-1"].state == "done"
    assert engine.all_done.triggered
    assert end < start + 86400
    assert predicted["completed_at"] == engine.makespan


@pytest.mark.parametrize(
    ("order", "message"),
    [
        ({"id": "X", "product": {"type": "laser_part"}}, "product"),
        (
            {"id": "X", "product": {"type": "printed_housing", "volume_cm3": -1}},
            "product.volume_cm3",
        ),
        ({"product": {"type": "printed_housing"}}, "id: field required"),
        ({"id": "SO-1001", "product": {"type": "printed_housing"}}, "exists already"),
        # once accepted and logged, but never read: the order ran at once
        (
            {"id": "X", "product": {"type": "printed_housing"}, "release": "100d"},
            r"^order X: release: 8,640,000 s is later than now \(60 s\); the twin releases",
        ),
        (
            {
                "id": "X",
                "product": {"type": "explicit", "operations": [{"machine": "nope", "duration": 1}]},
            },
            "unknown machine 'nope'",
        ),
    ],
)
def test_bad_order_rejected_state_unchanged(
    setup: tuple[Engine, TwinAPI, list[object]], order: dict[str, object], message: str
) -> None:
    engine, api, seen = setup
    engine.run(60, stop_when_done=False)
    jobs_before, events_before = dict(engine.jobs), len(seen)
    with pytest.raises(CommandError, match=message):
        api.submit_order(order)
    assert engine.jobs == jobs_before
    assert len(seen) == events_before


def test_cancel(setup: tuple[Engine, TwinAPI, list[object]]) -> None:
    engine, api, seen = setup
    engine.run(1, stop_when_done=False)
    api.submit_order({"id": "C1", "product": {"type": "printed_housing"}})
    api.cancel_order("C1")
    engine.run(3 * 86400, stop_when_done=False)
    assert next(e for e in seen if isinstance(e, JobCancelled)).job == "C1"
    assert not any(isinstance(e, JobCompleted) and e.job == "C1" for e in seen)
    with pytest.raises(InvalidStateError):
        api.cancel_order("C1")
    with pytest.raises(UnknownJobError):
        api.cancel_order("nope")


def test_stored_order_waits_for_start(setup: tuple[Engine, TwinAPI, list[object]]) -> None:
    engine, api, _ = setup
    engine.run(600, stop_when_done=False)
    assert api.store_order({"id": "ST-1", "product": HOUSING}) == "ST-1"
    assert "ST-1" not in engine.jobs
    assert api.status()["stored"] == 1
    engine.run(86400, stop_when_done=False)
    assert "ST-1" not in engine.jobs  # a day later: still waiting for Start
    assert api.start_order("ST-1") == "ST-1"
    assert engine.stored == {}
    job = engine.jobs["ST-1"]
    assert job.arrival == engine.now == 86400
    assert job.due > engine.now  # no due date given: it counts from the start
    engine.run(4 * 86400, stop_when_done=False)
    assert engine.jobs["ST-1"].state == "done"
    with pytest.raises(UnknownJobError, match="no stored order 'ST-1'"):
        api.start_order("ST-1")


def test_store_refuses_like_submit(setup: tuple[Engine, TwinAPI, list[object]]) -> None:
    engine, api, seen = setup
    engine.run(60, stop_when_done=False)
    api.store_order({"id": "ST-2", "product": HOUSING})
    jobs_before, stored_before, events_before = dict(engine.jobs), dict(engine.stored), len(seen)
    with pytest.raises(InvalidStateError, match="'ST-2' exists already"):
        api.store_order({"id": "ST-2", "product": HOUSING})
    with pytest.raises(InvalidStateError, match="'ST-2' exists already"):
        api.submit_order({"id": "ST-2", "product": HOUSING})
    with pytest.raises(InvalidStateError, match="'SO-1001' exists already"):
        api.store_order({"id": "SO-1001", "product": HOUSING})
    bad = {"type": "explicit", "operations": [{"machine": "nope", "duration": 1}]}
    with pytest.raises(CommandError, match="unknown machine 'nope'"):
        api.store_order({"id": "ST-3", "product": bad})
    with pytest.raises(UnknownJobError, match="no stored order 'ST-9'"):
        api.start_order("ST-9")
    assert engine.jobs == jobs_before
    assert engine.stored == stored_before
    assert len(seen) == events_before


def test_cancel_stored_order(setup: tuple[Engine, TwinAPI, list[object]]) -> None:
    engine, api, seen = setup
    engine.run(60, stop_when_done=False)
    api.store_order({"id": "ST-4", "product": HOUSING})
    api.cancel_order("ST-4")
    assert engine.stored == {}
    assert engine.cancelled == 1
    assert "ST-4" not in engine.jobs  # it never reached the cell
    (cancelled,) = [e for e in seen if isinstance(e, JobCancelled)]
    assert (cancelled.job, cancelled.t) == ("ST-4", 60)
    with pytest.raises(UnknownJobError):
        api.cancel_order("ST-4")
    with pytest.raises(UnknownJobError):
        api.start_order("ST-4")


@pytest.mark.parametrize("until_cleared", [None, 0, "", "0s", "0h"])
def test_inject_and_clear_fault(
    setup: tuple[Engine, TwinAPI, list[object]], until_cleared: float | str | None
) -> None:
    engine, api, _ = setup
    engine.run(100, stop_when_done=False)
    api.inject_fault("cnc1", "emergency_stop", until_cleared)
    engine.run(200, stop_when_done=False)
    assert engine.machines["cnc1"].state == "OutOfService"
    assert api.status()["machines"]["cnc1"]["faults"] == ["emergency_stop"]
    assert api.clear_fault("cnc1") == 1
    engine.run(201, stop_when_done=False)
    assert engine.machines["cnc1"].state != "OutOfService"
    with pytest.raises(InvalidStateError, match="no injected fault"):
        api.clear_fault("cnc1")


def test_timed_fault_on_robot_ends_by_itself(setup: tuple[Engine, TwinAPI, list[object]]) -> None:
    engine, api, _ = setup
    engine.run(50, stop_when_done=False)
    api.inject_fault("robot1", "breakdown", "10m")
    engine.run(700, stop_when_done=False)
    assert engine.machines["robot1"].faults == []


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("laser9",), UnknownMachineError, "unknown machine 'laser9'"),
        (("cnc1", "meteor"), CommandError, "kind: unknown fault kind 'meteor'"),
        (
            ("cnc1", "breakdown", -5),
            CommandError,
            "^duration: must be > 0 seconds, or 0 or none for a fault until it is cleared, got -5$",
        ),
        (("cnc1", "breakdown", "soon"), CommandError, "duration: invalid duration"),
        (
            ("printer1", "tool_breakage"),
            CommandError,
            "^kind: a tool_breakage happens on a cnc machine only; 'printer1' is of kind printer$",
        ),
        (("vision1", "print_failure"), CommandError, "^kind: a print_failure happens on a printer"),
    ],
)
def test_bad_fault_arguments(
    setup: tuple[Engine, TwinAPI, list[object]],
    args: tuple[object, ...],
    error: type[Exception],
    message: str,
) -> None:
    engine, api, seen = setup
    n = len(seen)
    with pytest.raises(error, match=message):
        api.inject_fault(*args)  # type: ignore[arg-type]
    engine.run(10, stop_when_done=False)
    assert not any(m.faults for m in engine.machines.values())
    assert not any(getattr(e, "type", "") == "command" for e in seen[n:])


def test_realtime_commands_need_a_driver(setup: tuple[Engine, TwinAPI, list[object]]) -> None:
    _, api, _ = setup
    with pytest.raises(InvalidStateError, match="real-time"):
        api.pause()
    with pytest.raises(CommandError, match="speed"):
        api.set_speed(-1)


def test_cancel_in_every_state_leaves_the_cell(
    setup: tuple[Engine, TwinAPI, list[object]],
) -> None:
    """Cancel jobs while they are queued or processing (transfer and waiting: see
    ``test_cancel_while``): each leaves the cell exactly once and no slot stays reserved."""
    engine, api, seen = setup
    engine.run(3600, stop_when_done=False)
    states: set[str] = set()
    for n in range(40):  # due before the arrivals': under EDD released before them
        api.submit_order({"id": f"X{n}", "due": "2h", "product": {"type": "printed_housing"}})
    t = 3600.0
    for n in range(40):
        t += 97.0
        engine.run(t, stop_when_done=False)
        job = engine.jobs[f"X{n}"]
        if job.state not in ("done", "scrapped", "cancelled"):
            states.add(job.state)
            api.cancel_order(job.id)
    engine.run(t + 5 * 86400, stop_when_done=False)
    assert {"queued", "processing"} <= states, states
    cancelled = [e.job for e in seen if isinstance(e, JobCancelled)]
    assert len(cancelled) == len(set(cancelled))
    assert all(engine.jobs[f"X{n}"].state in ("done", "cancelled", "scrapped") for n in range(40))
    for m in engine.machines.values():
        assert m.reserved == 0


@pytest.mark.parametrize("state", ["transfer", "processing", "waiting"])
def test_cancel_while(state: str, setup: tuple[Engine, TwinAPI, list[object]]) -> None:
    engine, api, seen = setup
    engine.run(1, stop_when_done=False)
    if state == "waiting":  # the printer is down: nowhere to go
        api.inject_fault("printer1", "breakdown")
    api.submit_order({"id": "Y", "product": {"type": "printed_housing"}})
    job = engine.jobs["Y"]
    step_until(engine, "Y", state)
    api.cancel_order("Y")
    if state == "waiting":
        api.clear_fault("printer1")
    engine.run(engine.now + 2 * 86400, stop_when_done=False)
    assert job.state == "cancelled"
    assert [e.job for e in seen if isinstance(e, JobCancelled)] == ["Y"]
    assert all(m.reserved == 0 and job not in m.output for m in engine.machines.values())


def test_timed_fault_over_leaves_nothing_to_clear(
    setup: tuple[Engine, TwinAPI, list[object]],
) -> None:
    engine, api, _ = setup
    engine.run(10, stop_when_done=False)
    api.inject_fault("cnc1", "breakdown", "5m")
    api.inject_fault("cnc1", "maintenance", "1m")
    assert engine.injected_faults("cnc1") == 2
    engine.run(100, stop_when_done=False)
    assert engine.injected_faults("cnc1") == 1
    engine.run(400, stop_when_done=False)
    assert engine.machines["cnc1"].faults == []
    assert engine.injected_faults("cnc1") == 0
    with pytest.raises(InvalidStateError, match="no injected fault"):
        api.clear_fault("cnc1")


@pytest.mark.parametrize("state", ["transfer", "queued", "processing", "waiting"])
def test_pause_job_parks_it_until_resumed(
    state: str, setup: tuple[Engine, TwinAPI, list[object]]
) -> None:
    """A job paused in any state in the cell finishes the step under way, waits in the
    storage (no machine holds it, no operation starts) and, resumed, completes its routing."""
    engine, api, seen = setup
    engine.run(1, stop_when_done=False)
    if state == "waiting":  # the printer is down: nowhere to go
        api.inject_fault("printer1", "breakdown")
    if state == "queued":  # one ahead of it on the printer
        api.submit_order({"id": "AHEAD", "product": HOUSING})
    api.submit_order({"id": "P", "product": HOUSING})
    step_until(engine, "P", state)
    api.pause_job("P")
    assert engine.jobs["P"].snapshot()["paused"] is True
    if state == "waiting":  # held where it waits; resumed and paused while it still waits
        assert engine.jobs["P"].state == "held"
        api.resume_job("P")
        assert engine.jobs["P"].state == "waiting"
        api.pause_job("P")
        api.clear_fault("printer1")
    started_before = [e for e in seen if isinstance(e, OperationStarted) and e.job == "P"]
    engine.run(engine.now + 2 * 86400, stop_when_done=False)
    job = engine.jobs["P"]
    assert (job.state, job.location) == ("held", None)
    assert [e for e in seen if isinstance(e, OperationStarted) and e.job == "P"] == started_before
    assert all(m.job != "P" and "P" not in m.snapshot()["queue"] for m in engine.machines.values())
    assert all(m.reserved == 0 and job not in m.output for m in engine.machines.values())
    assert engine.wip >= 1  # it keeps its place in the WIP
    api.resume_job("P")
    engine.run(engine.now + 3 * 86400, stop_when_done=False)
    assert job.state == "done"
    assert job.op_index == len(job.ops)
    assert [e.job for e in seen if isinstance(e, JobCompleted)].count("P") == 1


def test_a_job_paused_on_its_way_out_waits_in_the_storage(
    setup: tuple[Engine, TwinAPI, list[object]],
) -> None:
    """Paused during the transfer after its last operation, a job is put in the storage and
    waits there (not completed) until resumed; then it completes."""
    engine, api, seen = setup
    engine.run(1, stop_when_done=False)
    api.submit_order({"id": "P", "product": HOUSING})
    job = engine.jobs["P"]

    def leaving(job: Job) -> bool:
        return job.op_index == len(job.ops) and any(
            isinstance(e, TransferStarted) and e.job == "P" and e.target == "storage" for e in seen
        )

    step_until(engine, "P", leaving)
    assert job.state == "transfer"
    api.pause_job("P")
    engine.run(engine.now + 2 * 86400, stop_when_done=False)
    assert (job.state, job.location) == ("held", None)
    assert job.snapshot()["paused"] is True
    assert not any(isinstance(e, JobCompleted) and e.job == "P" for e in seen)
    assert engine.wip >= 1
    api.resume_job("P")
    engine.run(engine.now + 86400, stop_when_done=False)
    assert job.state == "done"
    assert job.held is None
    assert [e.job for e in seen if isinstance(e, JobCompleted)].count("P") == 1


def test_a_fault_on_its_machine_interrupts_a_job(
    setup: tuple[Engine, TwinAPI, list[object]],
) -> None:
    """A job whose machine breaks down during its operation is interrupted (ISA-95 Held) until
    the repair; a fault on another machine, or on its machine once it has left, is not its."""
    engine, api, _ = setup
    engine.run(1, stop_when_done=False)
    api.submit_order({"id": "P", "product": HOUSING})
    step_until(engine, "P", "processing")
    job = engine.jobs["P"]
    machine = job.location
    assert machine is not None
    assert engine.machines[machine].job == "P"

    def interrupted() -> bool:
        return next(j for j in engine.snapshot()["jobs"] if j["id"] == "P")["interrupted"]

    assert not interrupted()
    api.inject_fault("cnc1", "breakdown")  # not its machine
    assert not interrupted()
    api.inject_fault(machine, "breakdown")
    assert interrupted()
    assert engine.interrupted(job)
    engine.run(engine.now + 3600, stop_when_done=False)
    assert interrupted()
    assert job.state == "processing"
    api.clear_fault(machine)
    engine.run_through(engine.now)  # the repair takes effect at once, in simulated time
    assert not interrupted()
    step_until(engine, "P", "transfer")  # its operation ended: it left the machine
    api.inject_fault(machine, "breakdown")
    assert not engine.interrupted(job)


def test_pause_job_refusals_change_nothing(setup: tuple[Engine, TwinAPI, list[object]]) -> None:
    engine, api, seen = setup
    engine.run(60, stop_when_done=False)
    api.store_order({"id": "S", "product": HOUSING})
    api.submit_order({"id": "R", "product": HOUSING})
    step_until(engine, "R", "processing")
    for n in range(int(engine.max_wip) + 1):  # enough to fill the WIP: the last waits for release
        api.submit_order({"id": f"B{n}", "product": HOUSING})
    waiting = list(engine.backlog)[-1]
    before = (len(seen), engine.snapshot())
    with pytest.raises(UnknownJobError, match="unknown job 'nope'"):
        api.pause_job("nope")
    with pytest.raises(InvalidStateError, match="'S' is stored, not started"):
        api.pause_job("S")
    with pytest.raises(InvalidStateError, match="waits for release"):
        api.pause_job(waiting.id)
    with pytest.raises(InvalidStateError, match="'R' is not paused"):
        api.resume_job("R")
    assert (len(seen), engine.snapshot()) == before
    api.pause_job("R")
    with pytest.raises(InvalidStateError, match="'R' is paused already"):
        api.pause_job("R")
    api.cancel_order("R")  # a paused job can be cancelled: it leaves from where it waits
    engine.run(engine.now + 86400, stop_when_done=False)
    assert engine.jobs["R"].state == "cancelled"
    with pytest.raises(InvalidStateError, match="'R' is cancelled"):
        api.resume_job("R")
    assert [e.job for e in seen if isinstance(e, JobCancelled)] == ["R"]


def test_stored_orders_are_bounded(setup: tuple[Engine, TwinAPI, list[object]]) -> None:
    engine, api, seen = setup
    engine.max_stored = 2
    api.store_order({"id": "L1", "product": HOUSING})
    api.store_order({"id": "L2", "product": HOUSING})
    before = (dict(engine.stored), len(seen), len(engine.journal))
    with pytest.raises(InvalidStateError, match="2 orders are stored already"):
        api.store_order({"id": "L3", "product": HOUSING})
    assert (dict(engine.stored), len(seen), len(engine.journal)) == before
    api.start_order("L1")  # room again
    api.store_order({"id": "L3", "product": HOUSING})
    assert list(engine.stored) == ["L2", "L3"]


def _fill_wip(engine: Engine, api: TwinAPI) -> None:
    """Orders enough to fill the WIP: the later ones wait for release in the backlog."""
    for n in range(int(engine.max_wip)):
        api.submit_order({"id": f"F{n}", "product": HOUSING})


def test_revoke_start_takes_a_waiting_order_back(
    setup: tuple[Engine, TwinAPI, list[object]],
) -> None:
    engine, api, seen = setup
    engine.run(60, stop_when_done=False)
    _fill_wip(engine, api)
    api.submit_order({"id": "RV", "due": "5d", "product": HOUSING})
    assert engine.jobs["RV"].state == "backlog"
    received = engine.received
    assert api.revoke_start("RV") == "RV"
    assert "RV" not in engine.jobs
    assert "RV" not in [j.id for j in engine.backlog]
    stored = engine.stored["RV"]
    assert (stored.product.type, stored.due) == ("printed_housing", 5 * 86400)
    assert engine.received == received - 1
    with pytest.raises(InvalidStateError, match="'RV' is stored already"):
        api.revoke_start("RV")
    running = next(j.id for j in engine.jobs.values() if j.state not in ("backlog", "done"))
    before = (len(seen), engine.snapshot())
    with pytest.raises(InvalidStateError, match="only an order waiting for release"):
        api.revoke_start(running)
    with pytest.raises(UnknownJobError):
        api.revoke_start("nope")
    assert (len(seen), engine.snapshot()) == before
    api.start_order("RV")
    engine.run(engine.now + 6 * 86400, stop_when_done=False)
    assert engine.jobs["RV"].state == "done"
    assert engine.jobs["RV"].due == 5 * 86400  # the due date it had


def test_update_replaces_a_stored_or_waiting_order(
    setup: tuple[Engine, TwinAPI, list[object]],
) -> None:
    engine, api, seen = setup
    engine.run(60, stop_when_done=False)
    api.store_order({"id": "U1", "product": HOUSING})
    bracket = {"type": "machined_bracket", "material": "steel"}
    assert api.update_order({"id": "U1", "due": "2d", "product": bracket}) == "U1"
    assert engine.stored["U1"].product.type == "machined_bracket"
    _fill_wip(engine, api)
    api.submit_order({"id": "U2", "product": HOUSING})
    api.submit_order({"id": "U3", "product": HOUSING})
    arrival = (engine.jobs["U2"].arrival, engine.jobs["U2"].index)
    api.update_order({"id": "U2", "product": bracket, "weight": 3})
    job = engine.jobs["U2"]
    assert isinstance(job.spec, BracketSpec)
    assert (job.family, job.weight, job.spec.material) == ("machined_bracket", 3.0, "steel")
    assert job.ops[0].req.process == "milling"
    assert job.due == pytest.approx(job.arrival + engine.due_factor * job.remaining_work())
    assert (job.arrival, job.index) == arrival  # keeps its arrival (its place among equals)
    # the default scenario's rule, EDD, ranks it by its new due date (the bracket's is earlier)
    waiting = list(engine.backlog)
    assert waiting == sorted(waiting, key=lambda j: (j.due, j.index))
    assert waiting[0].id == "U2"
    before = (len(seen), engine.snapshot())
    bad = {"type": "explicit", "operations": [{"machine": "nope", "duration": 1}]}
    with pytest.raises(CommandError, match="unknown machine 'nope'"):
        api.update_order({"id": "U3", "product": bad})
    running = next(j.id for j in engine.jobs.values() if j.state not in ("backlog", "done"))
    with pytest.raises(InvalidStateError, match="only an order waiting for release"):
        api.update_order({"id": running, "product": HOUSING})
    with pytest.raises(UnknownJobError):
        api.update_order({"id": "U9", "product": HOUSING})
    assert (len(seen), engine.snapshot()) == before
    engine.run(engine.now + 8 * 86400, stop_when_done=False)
    assert engine.jobs["U2"].state == "done"


def test_an_order_may_not_take_an_id_the_scenario_will_give(
    setup: tuple[Engine, TwinAPI, list[object]],
) -> None:
    """Ids of the scenario's orders not yet released and of its arrivals are refused: the
    generated job would replace the accepted one (and dropping it later failed)."""
    engine, api, seen = setup
    engine.keep_ended = 5
    engine.run(60, stop_when_done=False)
    before = (dict(engine.jobs), dict(engine.stored), len(seen), len(engine.journal))
    with pytest.raises(InvalidStateError, match="'SO-1002' is reserved for the scenario's order"):
        api.submit_order({"id": "SO-1002", "product": HOUSING})  # released at 10 min
    for arrival in ("A000003", "A1234567"):
        for command in (api.submit_order, api.store_order):
            with pytest.raises(InvalidStateError, match="reserved for the arrival process"):
                command({"id": arrival, "product": HOUSING})
    assert (dict(engine.jobs), dict(engine.stored), len(seen), len(engine.journal)) == before
    api.submit_order({"id": "A00003", "product": HOUSING})  # not an arrival's id
    engine.run(5 * 86400, stop_when_done=False)  # ends and drops many jobs
    assert any(isinstance(e, JobCompleted) and e.job == "A00003" for e in seen)
    assert engine.received > engine.keep_ended + 10


def test_dropping_an_ended_job_keeps_a_newer_job_of_its_id(
    setup: tuple[Engine, TwinAPI, list[object]],
) -> None:
    engine, api, _ = setup
    engine.keep_ended = 0
    api.submit_order({"id": "X", "product": HOUSING})
    live = engine.jobs["X"]
    engine._ended_job(Job("X", -1, None, None, 0.0, 0.0, 1.0))  # an earlier job named X ends
    assert engine.jobs["X"] is live


def test_a_remake_is_named_after_its_scrapped_job(default_scenario_path: Path) -> None:
    """``-R<n>`` at the end of an id counts the remakes; anything else is part of the id, and
    an id in use is skipped."""
    bus = EventBus()
    scrapped: list[JobScrapped] = []
    bus.subscribe(lambda e: scrapped.append(e) if isinstance(e, JobScrapped) else None)
    engine = Engine(scrapping_cell(default_scenario_path), bus=bus)
    api = TwinAPI(engine)
    api.submit_order({"id": "PO-RED-1", "product": HOUSING})
    api.submit_order({"id": "PO-RED-1-R2", "product": HOUSING})
    engine.run(3 * 86400, stop_when_done=False)
    remakes = {e.job: e.remake for e in scrapped}
    assert remakes["PO-RED-1"] == "PO-RED-1-R1"
    assert remakes["PO-RED-1-R2"] == "PO-RED-1-R3"  # the MES order, scrapped second
    assert remakes["PO-RED-1-R1"] == "PO-RED-1-R4"  # R2 and R3 are in use
    assert remakes["PO-RED-1-R3"] == "PO-RED-1-R5"


def test_a_scenario_order_may_not_take_an_arrival_id(default_scenario_path: Path) -> None:
    """A rule of the scenario alone: validating it refuses the id, as running it would."""
    data = read_toml(default_scenario_path)
    data["orders"][1]["id"] = "A000001"
    with pytest.raises(ConfigError, match=r"orders\[1\]\.id: 'A000001' is reserved for the arr"):
        parse_scenario(data)
    del data["arrivals"]
    Engine(parse_scenario(data))  # no arrival process: any id
