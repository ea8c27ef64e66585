"""ISA-95 job orders as an MES follows them: JobOrderList (states, bounds) and the job
responses of JobOrderResults, from Store to Clear."""

from __future__ import annotations

import datetime as dt

import pytest
from asyncua import ua

from opcua_server.nodes import jobs
from opcua_server.nodesets import NS
from tests.opcua.conftest import Twin, job_order, mes_comment
from tests.opcua.jobs_client import (
    ABORTED,
    ALLOWED_TO_START,
    COMPLETED,
    ENDED,
    ENDED_EVENTS,
    ENDED_STATES,
    NOT_ALLOWED_TO_START,
    NOT_RUNNING,
    RUNNING,
    StateLog,
    Watch,
    by_state,
    control_call,
    drive,
    job_orders,
    response_data,
    responses,
    results_call,
    send,
    states_of,
    step_until,
)
from twin import events as tev

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_job_order_list_follows_an_order_to_its_response(twin: Twin) -> None:
    async with twin.session("otto") as client:
        with Watch(twin, "MES-JR-1") as watch:
            await client.load_data_type_definitions()
            order = job_order(
                twin, "MES-JR-1", type="printed_housing", material="pla", volume_cm3=9.0
            )
            await send(client, twin, "Store", order)
            listed = (await job_orders(client, twin))["MES-JR-1"]
            assert states_of(listed.State) == [(NOT_ALLOWED_TO_START, "")]
            assert listed.State[0].StateText.Text == "NotAllowedToStart"
            params = {p.ID: p.Value.Value for p in listed.JobOrder.JobOrderParameters}
            assert params == {"type": "printed_housing", "material": "pla", "volume_cm3": 9.0}

            started = await control_call(
                client, twin, "Start", ua.Variant("MES-JR-1"), mes_comment()
            )
            assert started.StatusCode.is_good()
            now = (await job_orders(client, twin))["MES-JR-1"].State[0].StateNumber
            assert now == (ALLOWED_TO_START if watch.first(tev.JobReleased) is None else RUNNING)
            log = StateLog(client, twin, "MES-JR-1", [NOT_ALLOWED_TO_START, now])
            end = await step_until(twin, watch, ENDED_EVENTS, log)
            seen = log.seen
            job = twin.engine.jobs["MES-JR-1"]
            entry = (await job_orders(client, twin))["MES-JR-1"]
            if isinstance(end, tev.JobCompleted):
                expected = [(ENDED, ""), (COMPLETED, "EndedSubstates")]
                assert [s.StateText.Text for s in entry.State] == ["Ended", "Completed"]
            else:
                expected = [(ABORTED, "")]
            assert states_of(entry.State) == expected
            # the state machine's order: stored, (allowed to start,) running, ended or aborted
            assert seen[-1] == expected[0][0]
            assert seen == sorted(set(seen))
            assert RUNNING in seen

            result = await results_call(
                client, twin, "RequestJobResponseByJobOrderID", ua.Variant("MES-JR-1")
            )
            assert result.StatusCode.is_good()
            response, status = (a.Value for a in result.OutputArguments)
            assert status == 1  # ReturnStatus bit 0: No Error (OPC 10031-4 B.2)
            assert response.JobOrderID == "MES-JR-1"
            assert response.JobResponseID
            assert states_of(response.JobState) == expected
            released = watch.first(tev.JobReleased)
            wall = twin.driver.wall_time
            assert response.StartTime == pytest.approx(
                wall(released.t), abs=dt.timedelta(seconds=1e-3)
            )
            assert response.EndTime == pytest.approx(wall(end.t), abs=dt.timedelta(seconds=1e-3))
            data = response_data(response)
            assert data["LeadTime"] == pytest.approx(end.t - job.arrival)
            assert data["Tardiness"] == pytest.approx(max(0.0, end.t - job.due))
            assert data["ProductType"] == "printed_housing"
            assert data["Operations"] == len(job.ops)
            assert data["Reworks"] == job.reworks
            finished = [e for e in watch.events if isinstance(e, tev.OperationFinished)]
            assert data["OperationsDone"] == sum(not e.aborted for e in finished) > 0
            if isinstance(end, tev.JobCompleted):
                assert data["LeadTime"] == pytest.approx(end.lead_time)
                assert data["Good"] is end.good
                assert data["Scrapped"] is False
                assert data["OperationsDone"] == len(job.ops)
            else:
                assert data["Scrapped"] is isinstance(end, tev.JobScrapped)

            assert "MES-JR-1" in await responses(client, twin)
            assert "MES-JR-1" in await by_state(client, twin, expected[0][0])
            ids = set(await by_state(client, twin, RUNNING))
            assert "MES-JR-1" not in ids
            assert ids == {j.id for j in twin.engine.jobs.values() if j.state not in NOT_RUNNING}

            cleared = await control_call(
                client, twin, "Clear", ua.Variant("MES-JR-1"), mes_comment()
            )
            assert cleared.StatusCode.is_good()
            assert "MES-JR-1" not in await job_orders(client, twin)
            assert "MES-JR-1" not in await responses(client, twin)
            again = await results_call(
                client, twin, "RequestJobResponseByJobOrderID", ua.Variant("MES-JR-1")
            )
            assert again.StatusCode.value == ua.StatusCodes.BadInvalidArgument


async def test_unknown_job_order_id_is_refused(twin: Twin) -> None:
    async with twin.session("vera") as client:
        await client.load_data_type_definitions()
        result = await results_call(
            client, twin, "RequestJobResponseByJobOrderID", ua.Variant("no-such-order")
        )
        assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        message = result.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert "no job order 'no-such-order'" in message


async def test_a_stored_order_answers_from_its_listed_record(twin: Twin) -> None:
    """RequestJobResponseByJobOrderID of a stored order answers NotAllowedToStart from the
    record JobOrderList keeps of it, its response cached like any other's."""
    family = next(f for f in twin.server.families if isinstance(f, jobs.JobsFamily))
    product = {"type": "printed_housing", "material": "pla", "volume_cm3": 9.0}
    twin.api.store_order({"id": "MES-JR-S", "product": product})
    try:
        first, again = (family._by_id("MES-JR-S")[0].Value for _ in range(2))
        assert states_of(first.JobState) == [(NOT_ALLOWED_TO_START, "")]
        assert again is first
    finally:
        twin.api.cancel_order("MES-JR-S")
    await twin.server.settle()


async def test_clear_refuses_a_running_order_and_clears_an_aborted_one(twin: Twin) -> None:
    async with twin.session("otto") as client:
        with Watch(twin, "MES-JR-2") as watch:
            await client.load_data_type_definitions()
            order = job_order(
                twin, "MES-JR-2", type="printed_housing", material="petg", volume_cm3=12.0
            )
            await send(client, twin, "StoreAndStart", order)
            await step_until(twin, watch, tev.OperationStarted)
            before = twin.engine.jobs["MES-JR-2"].state
            refused = await control_call(
                client, twin, "Clear", ua.Variant("MES-JR-2"), mes_comment()
            )
            assert refused.StatusCode.value == ua.StatusCodes.BadInvalidState
            message = refused.InputArgumentDiagnosticInfos[0].AdditionalInfo
            assert "'MES-JR-2' is Running" in message
            assert "only Ended or Aborted" in message
            assert twin.engine.jobs["MES-JR-2"].state == before
            entry = (await job_orders(client, twin))["MES-JR-2"]
            assert states_of(entry.State) == [(RUNNING, "")]

            # a stored order that is cancelled is withdrawn without reaching the twin's jobs,
            # and removed from the list (Cancel); one aborted is listed Aborted until cleared
            later = job_order(
                twin, "MES-JR-3", type="printed_housing", material="pla", volume_cm3=9.0
            )
            await send(client, twin, "Store", later)
            cancel = await control_call(
                client, twin, "Cancel", ua.Variant("MES-JR-3"), mes_comment()
            )
            assert cancel.StatusCode.is_good()
            assert "MES-JR-3" not in twin.engine.jobs
            assert "MES-JR-3" not in twin.engine.stored
            assert "MES-JR-3" not in await job_orders(client, twin)
            aborted = job_order(
                twin, "MES-JR-4", type="printed_housing", material="pla", volume_cm3=9.0
            )
            await send(client, twin, "Store", aborted)
            assert (
                await control_call(client, twin, "Abort", ua.Variant("MES-JR-4"), mes_comment())
            ).StatusCode.is_good()
            assert states_of((await job_orders(client, twin))["MES-JR-4"].State) == [(ABORTED, "")]
            assert (
                await control_call(client, twin, "Clear", ua.Variant("MES-JR-4"), mes_comment())
            ).StatusCode.is_good()
            assert "MES-JR-4" not in await job_orders(client, twin)


async def test_viewer_reads_the_lists_but_cannot_clear(twin: Twin) -> None:
    async with twin.session("vera") as client:
        await client.load_data_type_definitions()
        orders = await job_orders(client, twin)
        in_cell = {j.id for j in twin.engine.jobs.values() if j.state not in ENDED_STATES}
        assert in_cell <= set(orders)
        some = twin.engine.jobs[sorted(in_cell)[0]]
        entry = orders[some.id]
        assert {p.ID: p.Value.Value for p in entry.JobOrder.JobOrderParameters}[
            "type"
        ] == some.family
        assert entry.JobOrder.EndTime == pytest.approx(
            twin.driver.wall_time(some.due), abs=dt.timedelta(seconds=1e-3)
        )
        started = {i for i, e in orders.items() if e.State[0].StateNumber > ALLOWED_TO_START}
        assert set(await responses(client, twin)) == started
        listed = client.get_node(
            ua.NodeId("Cell.JobManagement.JobOrderResults.JobOrderResponseList", twin.ns(NS.TWIN))
        )
        access = await listed.read_attribute(ua.AttributeIds.UserAccessLevel)
        assert access.Value.Value == ua.AccessLevel.CurrentRead.mask
        clear = await control_call(client, twin, "Clear", ua.Variant(some.id), mes_comment())
        assert clear.StatusCode.value == ua.StatusCodes.BadUserAccessDenied
        assert some.id in await job_orders(client, twin)


async def test_ended_orders_are_bounded(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "MAX_ENDED", 2)
    ended: list[str] = []

    def on_event(ev: tev.Event) -> None:
        if isinstance(ev, ENDED_EVENTS):
            ended.append(ev.job)

    unsubscribe = twin.engine.bus.subscribe(on_event)
    client = await twin.client("vera")
    try:
        await client.load_data_type_definitions()
        for _ in range(12 * 24 * 2):  # bounded: two simulated days
            if len(ended) >= 3:
                break
            await twin.step(5.0)
        assert len(ended) >= 3
        orders = await job_orders(client, twin)
        listed = {i for i, e in orders.items() if e.State[0].StateNumber in (ENDED, ABORTED)}
        assert listed == set(ended[-2:])
        in_cell = {j.id for j in twin.engine.jobs.values() if j.state not in NOT_RUNNING}
        assert set(await responses(client, twin)) == set(ended[-2:]) | in_cell
        # an ISA-95 Cancel with the ended list full removes its order and drops no other
        async with twin.session("otto") as operator:
            withdrawn = job_order(twin, "MES-EB-1", type="printed_housing", material="pla")
            await send(operator, twin, "Store", withdrawn)
            cancel = await control_call(
                operator, twin, "Cancel", ua.Variant("MES-EB-1"), mes_comment()
            )
            assert cancel.StatusCode.is_good()
        orders = await job_orders(client, twin)
        assert "MES-EB-1" not in orders
        still = {i for i, e in orders.items() if e.State[0].StateNumber in (ENDED, ABORTED)}
        assert still == listed
    finally:
        unsubscribe()
        await client.disconnect()


async def test_job_order_list_bounds_a_large_backlog(twin: Twin) -> None:
    """An overloaded cell: the list holds the next MAX_LISTED_BACKLOG backlog jobs only, the
    rest are still answered by id, and Cell/Backlog tells how many wait."""
    bound = jobs.MAX_LISTED_BACKLOG
    product = {"type": "printed_housing", "material": "pla", "volume_cm3": 9.0}
    submitted = [
        twin.api.submit_order({"id": f"BL-{i:05d}", "product": product}) for i in range(bound + 500)
    ]
    client = await twin.client("vera")
    try:
        await client.load_data_type_definitions()
        await twin.step(1.0)
        await twin.refresh_cell()  # the KPIs and clock values; the counters follow events
        backlog = [job.id for job in twin.engine.backlog]
        assert len(backlog) > bound + 400  # the cell is full: nearly all of them wait
        node = client.get_node(
            ua.NodeId("Cell.JobManagement.JobOrderControl.JobOrderList", twin.ns(NS.TWIN))
        )
        entries = await node.read_value()
        listed: dict[int, list[str]] = {}
        for entry in entries:
            listed.setdefault(entry.State[0].StateNumber, []).append(entry.JobOrder.JobOrderID)
        # the head of the backlog, in the order the twin will release it
        assert listed[ALLOWED_TO_START] == backlog[:bound]
        in_cell = {j.id for j in twin.engine.jobs.values() if j.state not in NOT_RUNNING}
        assert set(listed[RUNNING]) == in_cell
        assert len(entries) == sum(len(ids) for ids in listed.values())
        count = client.get_node(ua.NodeId("Cell.Backlog", twin.ns(NS.TWIN)))
        assert await count.read_value() == len(backlog) > len(listed[ALLOWED_TO_START])

        # one more order joins the end of the backlog: the list is not written again
        before = await node.read_data_value()
        twin.clock.advance(0.001)  # a write now would carry a later timestamp
        submitted.append(twin.api.submit_order({"id": "BL-LAST", "product": product}))
        await twin.server.settle()
        after = await node.read_data_value()
        assert after.SourceTimestamp == before.SourceTimestamp
        assert len(after.Value.Value) == len(entries)

        beyond = backlog[-1]
        assert beyond not in {e.JobOrder.JobOrderID for e in entries}
        result = await results_call(
            client, twin, "RequestJobResponseByJobOrderID", ua.Variant(beyond)
        )
        assert result.StatusCode.is_good()
        response = result.OutputArguments[0].Value
        assert response.JobOrderID == beyond
        assert states_of(response.JobState) == [(ALLOWED_TO_START, "")]
        job = twin.engine.jobs[beyond]
        data = response_data(response)
        assert data["OperationsDone"] == 0
        assert data["Operations"] == len(job.ops)
        assert data["ProductType"] == "printed_housing"
        # bounded like the list
        assert await by_state(client, twin, ALLOWED_TO_START) == backlog[:bound]
    finally:
        await client.disconnect()
        for job_id in submitted:  # leave the module's twin as it was
            if twin.engine.jobs[job_id].state == "backlog":
                twin.api.cancel_order(job_id)
        await twin.server.settle()


async def test_job_order_list_lists_the_backlog_in_release_order(twin: Twin) -> None:
    """The backlog's AllowedToStart entries come in the order the twin will release them: by
    the scenario's rule (the default scenario's EDD: earliest due first), not by arrival."""
    engine = twin.engine
    max_wip = engine.max_wip
    engine.max_wip = engine.wip  # orders wait in the backlog for now
    product = {"type": "printed_housing", "material": "pla", "volume_cm3": 9.0}
    hour = 3600.0
    dues = {"RO-1": 9 * hour, "RO-2": 3 * hour, "RO-3": 7 * hour, "RO-4": 5 * hour}
    try:
        for job_id, due in dues.items():  # the later ones due earlier
            twin.api.submit_order({"id": job_id, "due": engine.now + due, "product": product})
        await twin.server.settle()
        async with twin.session("vera") as client:
            await client.load_data_type_definitions()
            node = client.get_node(
                ua.NodeId("Cell.JobManagement.JobOrderControl.JobOrderList", twin.ns(NS.TWIN))
            )
            waiting = [
                entry.JobOrder.JobOrderID
                for entry in await node.read_value()
                if entry.State[0].StateNumber == ALLOWED_TO_START
            ]
            assert waiting == [job.id for job in engine.backlog][: jobs.MAX_LISTED_BACKLOG]
            assert [i for i in waiting if i in dues] == ["RO-2", "RO-4", "RO-3", "RO-1"]
            assert await by_state(client, twin, ALLOWED_TO_START) == waiting
    finally:
        engine.max_wip = max_wip
        for job_id in dues:  # leave the module's twin as it was
            if engine.jobs[job_id].state == "backlog":
                twin.api.cancel_order(job_id)
        await twin.server.settle()


async def test_response_list_has_every_started_order(twin: Twin) -> None:
    """OPC 40001-3: each JobOrderResponseList entry has its JobOrderList entry, and each
    JobOrderList entry past AllowedToStart has a response, kept current as the job runs."""
    async with twin.session("vera") as client:
        with Watch(twin, "MES-RL-1") as watch:
            await client.load_data_type_definitions()
            product = {"type": "hybrid_part", "material": "pa12", "volume_cm3": 20.0}
            twin.api.submit_order({"id": "MES-RL-1", "product": product})
            await step_until(twin, watch, tev.JobReleased)

            def done() -> int:
                finished = (e for e in watch.events if isinstance(e, tev.OperationFinished))
                return sum(not e.aborted for e in finished)

            async def check() -> int:
                orders, listed = await job_orders(client, twin), await responses(client, twin)
                started = {
                    i
                    for i, e in orders.items()
                    if e.State[0].StateNumber not in (NOT_ALLOWED_TO_START, ALLOWED_TO_START)
                }
                assert started == set(listed)
                response = listed["MES-RL-1"]
                assert states_of(response.JobState) == states_of(orders["MES-RL-1"].State)
                assert response_data(response)["OperationsDone"] == done()
                return done()

            assert await check() == 0  # running, before its first operation ends
            await drive(twin, lambda: done() > 0, "MES-RL-1: an operation done")
            assert await check() >= 1  # the list was written again with the operation done
