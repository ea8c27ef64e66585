"""The job management's records of the twin's jobs (``opcua_server.nodes.job_records``) fed from
time 0, as ``twin run --resume`` feeds them through its replay: a server started on a twin
that has run keeps the StartTime of the jobs in the cell and lists the ended orders the MES
had not cleared, with their results; the same records whether fed live or by a replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from opcua_server.nodes.job_records import JobRecords
from tests.conftest import SCENARIOS
from tests.opcua.conftest import start_twin
from tests.opcua.jobs_client import (
    ABORTED,
    ENDED,
    NOT_RUNNING,
    RUNNING,
    job_orders,
    response_data,
    responses,
    states_of,
)
from tests.opcua.test_job_status_events import at_sim_time
from twin import events as tev
from twin.api import TwinAPI
from twin.engine.cell import Engine
from twin.engine.replay import Command, replay
from twin.links import LinkRegistry
from twin.model import load_scenario

PRODUCT = {"type": "printed_housing", "material": "pla", "volume_cm3": 9.0}
_KEPT = ("state", "started", "ended", "ops_done", "good", "scrapped", "stopped", "remake")


def _run(engine: Engine, records: JobRecords, events: list[tev.Event]) -> None:
    """Orders, an abort, a stop and a few simulated hours, ``records`` and ``events``
    following."""
    engine.bus.subscribe(records)
    engine.bus.subscribe(events.append)
    api = TwinAPI(engine)
    for i in range(12):
        api.submit_order({"id": f"REC-{i}", "product": PRODUCT})
    engine.run_through(1800.0)
    processing = next(j for j in engine.jobs.values() if j.state == "processing")
    api.cancel_order(processing.id)  # aborted under way
    api.stop_job(next(j for j in engine.jobs.values() if j.state == "queued").id)
    engine.run_through(6 * 3600.0)


def _kept(records: JobRecords) -> dict[str, dict[str, Any]]:
    every = {**records.backlog, **records.in_cell, **records.ended}
    return {k: {f: getattr(r, f) for f in _KEPT} for k, r in every.items()}


def test_a_replay_feeds_the_records_the_run_had() -> None:
    scenario = load_scenario(SCENARIOS / "default.toml")
    live = JobRecords()
    events: list[tev.Event] = []
    engine = Engine(scenario)
    _run(engine, live, events)
    assert live.ended
    assert live.in_cell
    commands = [Command.from_event(ev) for ev in engine.journal]
    fed = JobRecords()
    bus_engine = Engine(scenario)
    bus_engine.bus.subscribe(fed)
    replay(bus_engine, commands, engine.now)
    assert _kept(fed) == _kept(live)
    assert list(fed.ended) == list(live.ended)  # in order of ending
    assert list(fed.in_cell) == list(live.in_cell)  # in order of release


@pytest.mark.asyncio
async def test_a_server_given_records_fed_from_time_0(tmp_path: Path) -> None:
    records = JobRecords()
    events: list[tev.Event] = []

    def run_first(engine: Engine, api: TwinAPI) -> LinkRegistry:
        _run(engine, records, events)
        return LinkRegistry()

    # the records reach the jobs family as the caller gives them (twin run --resume)
    twin = await start_twin(tmp_path, bind=run_first, job_records=records)
    try:
        released = {ev.job: ev.t for ev in events if isinstance(ev, tev.JobReleased)}
        ended = {ev.job: ev for ev in events if isinstance(ev, tev.JobCompleted | tev.JobStopped)}
        async with twin.session() as client:
            await client.load_data_type_definitions()
            listed = await job_orders(client, twin)
            answered = await responses(client, twin)
        in_cell = [i for i, e in listed.items() if e.State[0].StateNumber == RUNNING]
        assert in_cell
        for job_id in in_cell:  # with their StartTime (the release into the cell)
            assert at_sim_time(twin, answered[job_id].StartTime, released[job_id])
        assert ended
        for job_id, end in ended.items():  # ended, not cleared: still listed, with results
            assert states_of(listed[job_id].State)[0] == (ENDED, "")
            response = answered[job_id]
            assert at_sim_time(twin, response.StartTime, released[job_id])
            assert at_sim_time(twin, response.EndTime, end.t)
            data = response_data(response)
            assert data["LeadTime"] == pytest.approx(end.lead_time)
            assert data["Stopped"] is isinstance(end, tev.JobStopped)
        (cancel,) = (ev for ev in twin.engine.journal if ev.command == "cancel_order")
        job_id = cancel.args["job"]
        assert states_of(listed[job_id].State) == [(ABORTED, "")]
        done = [ev for ev in events if isinstance(ev, tev.OperationFinished) and ev.job == job_id]
        assert response_data(answered[job_id])["OperationsDone"] == sum(
            not ev.aborted and ev.t <= cancel.t for ev in done
        )
        # and they go on following the twin
        twin.engine.run_through(twin.engine.now + 3600.0)
        await twin.server.settle()
        in_cell_now = {
            j.id for j in twin.engine.jobs.values() if j.state not in NOT_RUNNING and not j.leaving
        }
        assert records.in_cell.keys() == in_cell_now
    finally:
        await twin.server.stop()


def test_a_remake_arrives_when_its_order_did() -> None:
    """A scrapped part's remake is the same customer order (its lead time runs from the
    order's arrival): the records from the events say so, as the engine's job does (they
    said the scrap's time, so a resumed twin showed another arrival than a fresh one)."""
    engine, records = Engine(load_scenario(SCENARIOS / "default.toml")), JobRecords()
    engine.bus.subscribe(records)
    engine.run(20 * 86400.0, stop_when_done=False)
    remakes = [
        r
        for r in (*records.backlog.values(), *records.in_cell.values(), *records.ended.values())
        if "-R" in r.id
    ]
    assert remakes
    for rec in remakes:
        job = engine.jobs.get(rec.id)
        original = records.ended.get(rec.id.rsplit("-R", 1)[0])
        if job is not None:
            assert rec.arrival == job.arrival
        if original is not None:
            assert rec.arrival == original.arrival
