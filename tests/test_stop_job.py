"""Stop a job (ISA-95 Stop) through twin.api: the step under way ends, then the part leaves
the cell with what was done, and the job ends as stopped, not as a finished product. Cancel
and stop leave at once from the storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import HOUSING, quiet_cell, scrapping_cell, step_until, watched
from twin.api import TwinAPI
from twin.engine.cell import Engine
from twin.errors import InvalidStateError, UnknownJobError
from twin.events import (
    Event,
    EventBus,
    JobCancelled,
    JobCompleted,
    JobScrapped,
    JobStopped,
    OperationFinished,
    OperationStarted,
)
from twin.kpi import KpiCollector


@pytest.fixture
def twin(default_scenario_path: Path) -> tuple[Engine, TwinAPI, list[Event], KpiCollector]:
    engine, seen, kpi = watched(quiet_cell(default_scenario_path))
    engine.run(1, stop_when_done=False)
    return engine, TwinAPI(engine), seen, kpi


def _of(seen: list[Event], kind: type[Event], job: str) -> list[Event]:
    return [e for e in seen if isinstance(e, kind) and getattr(e, "job", None) == job]


@pytest.mark.parametrize("state", ["transfer", "queued", "processing", "waiting", "paused"])
def test_a_stopped_job_ends_after_its_step_under_way(
    state: str, twin: tuple[Engine, TwinAPI, list[Event], KpiCollector]
) -> None:
    engine, api, seen, kpi = twin
    if state == "waiting":  # the printer is down, and stays down: nowhere to go
        api.inject_fault("printer1", "breakdown")
    if state == "queued":  # one ahead of it on the printer
        api.submit_order({"id": "AHEAD", "product": HOUSING})
    api.submit_order({"id": "S", "product": HOUSING})
    job = engine.jobs["S"]
    step_until(engine, "S", "processing" if state == "paused" else state)
    if state == "paused":
        api.pause_job("S")
        engine.run(engine.now + 86400, stop_when_done=False)
        assert job.state == "held"
    completed, wip = engine.completed, engine.wip
    started = len(_of(seen, OperationStarted, "S"))
    stopped_at = engine.now
    api.stop_job("S")
    engine.run(engine.now + 2 * 86400, stop_when_done=False)

    assert (job.state, job.location, job.held) == ("stopped", None, None)
    assert len(_of(seen, OperationStarted, "S")) == started  # nothing new started
    finished = [e for e in _of(seen, OperationFinished, "S") if not e.aborted]  # type: ignore[attr-defined]
    assert len(finished) == started  # the operation under way, if any, ended
    assert started >= (state in ("processing", "paused"))
    (end,) = _of(seen, JobStopped, "S")
    assert isinstance(end, JobStopped)
    assert end.operations == job.op_index == len(finished) < len(job.ops)
    assert end.lead_time == end.t - job.arrival
    if state in ("waiting", "paused"):  # in the storage already: it leaves at once
        assert end.t == stopped_at
    assert not _of(seen, JobCompleted, "S")
    assert not _of(seen, JobCancelled, "S")
    assert (engine.stopped, engine.completed) == (1, completed + (state == "queued"))
    assert engine.wip == wip - 1 - (state == "queued") == 0  # it left the WIP (and AHEAD)
    assert all(m.reserved == 0 and job not in m.output for m in engine.machines.values())
    assert all(m.job != "S" for m in engine.machines.values())
    report = kpi.report(engine.now)["cell"]
    assert report["jobs_stopped"] == 1
    assert report["jobs_completed"] == engine.completed  # a stopped job is not a product
    assert api.status()["stopped"] == 1


def test_cancel_of_a_job_waiting_for_room_leaves_at_once(
    twin: tuple[Engine, TwinAPI, list[Event], KpiCollector],
) -> None:
    """It used to wait in the storage (in the WIP) until its machine had room again."""
    engine, api, seen, _ = twin
    api.inject_fault("printer1", "breakdown")
    api.submit_order({"id": "C", "product": HOUSING})
    step_until(engine, "C", "waiting")
    t = engine.now
    api.cancel_order("C")
    engine.run(engine.now + 3600, stop_when_done=False)
    (end,) = _of(seen, JobCancelled, "C")
    assert end.t == t
    assert engine.jobs["C"].state == "cancelled"


def test_stop_refusals_change_nothing(
    twin: tuple[Engine, TwinAPI, list[Event], KpiCollector],
) -> None:
    engine, api, seen, _ = twin
    api.store_order({"id": "ST", "product": HOUSING})
    for n in range(int(engine.max_wip) + 1):  # a full WIP: the last one waits for release
        api.submit_order({"id": f"F{n}", "product": HOUSING})
    waiting = list(engine.backlog)[-1].id
    running = "F0"  # released first
    api.stop_job(running)
    journal, events = len(engine.journal), len(seen)
    refusals: list[tuple[str, type[Exception], str]] = [
        ("nope", UnknownJobError, "unknown job 'nope'"),
        ("ST", InvalidStateError, "order 'ST' is stored, not started; it cannot be stopped"),
        (waiting, InvalidStateError, "waits for release into the cell; only a released job"),
        (running, InvalidStateError, f"job '{running}' is stopped; it cannot be stopped"),
    ]
    for job_id, error, message in refusals:
        with pytest.raises(error, match=message):
            api.stop_job(job_id)
    with pytest.raises(InvalidStateError, match="is stopped; it cannot be paused"):
        api.pause_job(running)
    with pytest.raises(InvalidStateError, match="is stopped; it cannot be cancelled"):
        api.cancel_order(running)
    assert (len(engine.journal), len(seen)) == (journal, events)
    assert "ST" in engine.stored
    assert list(engine.backlog)[-1].id == waiting
    engine.run(engine.now + 2 * 86400, stop_when_done=False)
    with pytest.raises(InvalidStateError, match=f"job '{running}' is stopped; it cannot be"):
        api.stop_job(running)


@pytest.mark.parametrize("command", ["pause_job", "stop_job", "cancel_order"])
def test_a_job_scrapped_at_inspection_meanwhile(command: str, default_scenario_path: Path) -> None:
    """Paused, stopped or cancelled while inspected, a part found defective is scrapped all
    the same; a paused one is not left paused and is remade, a stopped or cancelled one (the
    MES wants no more of it) is not."""
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    engine = Engine(scrapping_cell(default_scenario_path), bus=bus)
    api = TwinAPI(engine)
    api.submit_order({"id": "S", "product": HOUSING})
    job = engine.jobs["S"]
    step_until(engine, "S", lambda j: j.state == "processing" and j.location == "vision1")
    getattr(api, command)("S")
    engine.run(engine.now + 3600, stop_when_done=False)
    (end,) = _of(seen, JobScrapped, "S")
    assert isinstance(end, JobScrapped)
    assert job.state == "scrapped"
    assert job.held is None
    assert not _of(seen, JobStopped, "S")
    assert not _of(seen, JobCancelled, "S")
    if command == "pause_job":
        assert end.remake == "S-R1"
        assert engine.jobs["S-R1"].held is None  # its remake goes on
    else:
        assert end.remake is None
        assert "S-R1" not in engine.jobs
        assert engine.wip == 0
