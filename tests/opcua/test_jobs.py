"""ISA-95 Job Control (Machinery Jobs) on the cell: an MES stores, starts and cancels orders."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from asyncua import Client, ua

from opcua_server.nodes import jobs
from opcua_server.nodes.cell import CellFamily
from opcua_server.nodesets import NS
from tests.opcua.conftest import Twin, job_order, mes_comment, raw_call
from twin import events as tev

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _call(client: Client, twin: Twin, method: str, *args: ua.Variant) -> Any:
    control = client.get_node(ua.NodeId("Cell.JobManagement.JobOrderControl", twin.ns(NS.TWIN)))
    return await raw_call(client, control, f"{twin.ns(NS.ISA95_JOBCONTROL)}:{method}", *args)


async def test_browse_path_and_types(twin: Twin) -> None:
    async with twin.session("vera") as client:
        jobs = twin.ns(NS.MACHINERY_JOBS)
        cell = await client.nodes.objects.get_child(f"{twin.ns(NS.TWIN)}:Cell")
        management = await cell.get_child(f"{jobs}:JobManagement")
        type_node = client.get_node(await management.read_type_definition())
        assert (await type_node.read_browse_name()).Name == "JobManagementType"
        control = await management.get_child(f"{jobs}:JobOrderControl")
        names = {(await c.read_browse_name()).Name for c in await control.get_methods()}
        assert {"Store", "StoreAndStart", "Start", "Cancel", "Clear"} <= names
        assert {"Pause", "Resume", "Abort"} <= names


async def test_store_start_and_cancel_as_operator(twin: Twin) -> None:
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        order = job_order(
            "MES-JC-1",
            type="printed_housing",
            material="petg",
            volume_cm3=18.0,
            height_mm=25.0,
            layer_height_mm=0.2,
            openings=2,
        )
        stored = await _call(client, twin, "Store", ua.Variant(order), mes_comment())
        assert stored.StatusCode.is_good()
        assert stored.OutputArguments[0].Value == 0
        assert "MES-JC-1" not in twin.engine.jobs  # stored, not started
        assert "MES-JC-1" in twin.engine.stored  # by the twin: in its event log
        cell = next(f for f in twin.server.families if isinstance(f, CellFamily))
        cell.refresh()  # Cell/Stored is refreshed on a wall-clock period: now instead
        await twin.server.settle()
        count = client.get_node(ua.NodeId("Cell.Stored", twin.ns(NS.TWIN)))
        assert await count.read_value() == len(twin.engine.stored) >= 1
        again = await _call(client, twin, "Store", ua.Variant(order), mes_comment())
        assert again.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        assert "already exists" in again.InputArgumentDiagnosticInfos[0].AdditionalInfo
        started = await _call(client, twin, "Start", ua.Variant("MES-JC-1"), mes_comment())
        assert started.StatusCode.is_good()
        job = twin.engine.jobs["MES-JC-1"]
        # EndTime maps to simulated time like every timestamp: wall origin + simulated seconds
        expected = (order.EndTime - twin.driver.wall_time(0.0)).total_seconds()
        assert job.due == pytest.approx(expected, abs=1e-3)
        cancelled = await _call(client, twin, "Cancel", ua.Variant("MES-JC-1"), mes_comment())
        assert cancelled.StatusCode.is_good()
        direct = job_order("MES-JC-2", type="printed_housing", material="pla", volume_cm3=9.0)
        result = await _call(client, twin, "StoreAndStart", ua.Variant(direct), mes_comment())
        assert result.StatusCode.is_good()
        assert "MES-JC-2" in twin.engine.jobs


async def test_bad_job_orders_are_refused(twin: Twin) -> None:
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        unknown = job_order("MES-JC-3", type="spaceship")
        result = await _call(client, twin, "StoreAndStart", ua.Variant(unknown), mes_comment())
        assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        assert "MES-JC-3" not in twin.engine.jobs
        start = await _call(client, twin, "Start", ua.Variant("nope"), mes_comment())
        assert start.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        assert "no stored job order 'nope'" in start.InputArgumentDiagnosticInfos[0].AdditionalInfo


async def test_viewer_cannot_control_jobs(twin: Twin) -> None:
    async with twin.session("vera") as client:
        with pytest.raises(ua.UaStatusCodeError) as err:
            await _call(client, twin, "Start", ua.Variant("x"), mes_comment())
        assert err.value.code == ua.StatusCodes.BadUserAccessDenied


# -- JobOrderList and job responses --------------------------------------------------------------
# StateNumbers of ISA95JobOrderReceiverObjectType (OPC 10031-4 nodeset), checked independently
NOT_ALLOWED_TO_START, ALLOWED_TO_START, RUNNING, INTERRUPTED, ENDED, ABORTED = 1, 2, 3, 4, 5, 6
COMPLETED = 1  # ISA95EndedStateMachineType, below EndedSubstates
ENDED_EVENTS = (tev.JobCompleted, tev.JobScrapped, tev.JobCancelled)
_ENDED_STATES = ("done", "scrapped", "cancelled")
_NOT_RUNNING = ("backlog", *_ENDED_STATES)


async def _results_call(client: Client, twin: Twin, method: str, *args: ua.Variant) -> Any:
    results = client.get_node(ua.NodeId("Cell.JobManagement.JobOrderResults", twin.ns(NS.TWIN)))
    return await raw_call(client, results, f"{twin.ns(NS.ISA95_JOBCONTROL)}:{method}", *args)


async def _job_orders(client: Client, twin: Twin) -> dict[str, Any]:
    """JobOrderList by JobOrderID."""
    node = client.get_node(
        ua.NodeId("Cell.JobManagement.JobOrderControl.JobOrderList", twin.ns(NS.TWIN))
    )
    return {entry.JobOrder.JobOrderID: entry for entry in await node.read_value()}


async def _responses(client: Client, twin: Twin) -> dict[str, Any]:
    node = client.get_node(
        ua.NodeId("Cell.JobManagement.JobOrderResults.JobOrderResponseList", twin.ns(NS.TWIN))
    )
    return {r.JobOrderID: r for r in await node.read_value()}


def _states(entry_states: list[Any]) -> list[tuple[int, str]]:
    """(StateNumber, BrowsePath) of each state entry, the path as its browse names."""
    return [
        (
            s.StateNumber,
            "/".join(e.TargetName.Name for e in (s.BrowsePath.Elements or [])),
        )
        for s in entry_states
    ]


class _Watch:
    """Records the twin's events for one job (the test's own bus subscriber)."""

    def __init__(self, twin: Twin, job_id: str) -> None:
        self.job_id = job_id
        self.events: list[tev.Event] = []
        self._unsubscribe = twin.engine.bus.subscribe(self._on_event)

    def _on_event(self, ev: tev.Event) -> None:
        if getattr(ev, "job", None) == self.job_id:
            self.events.append(ev)

    def first(self, kind: type[tev.Event] | tuple[type[tev.Event], ...]) -> Any:
        return next((ev for ev in self.events if isinstance(ev, kind)), None)

    def close(self) -> None:
        self._unsubscribe()


async def _step_until(
    twin: Twin, watch: _Watch, kind: Any, seen: list[int] | None = None, client: Any = None
) -> Any:
    """Drive the twin five simulated minutes at a time until ``watch`` sees ``kind``
    (bounded: two simulated days), recording the job order's state after each step."""
    for _ in range(12 * 24 * 2):
        if (ev := watch.first(kind)) is not None:
            return ev
        await twin.step(5.0)  # 5 wall seconds at speed 60: five simulated minutes
        if seen is not None:
            entry = (await _job_orders(client, twin)).get(watch.job_id)
            if entry is not None and entry.State[0].StateNumber != seen[-1]:
                seen.append(entry.State[0].StateNumber)
    raise AssertionError(f"{watch.job_id}: no {kind} within two simulated days")


def _data(response: Any) -> dict[str, Any]:
    return {p.ID: p.Value.Value for p in response.JobResponseData}


async def test_job_order_list_follows_an_order_to_its_response(twin: Twin) -> None:
    client = await twin.client("otto")
    watch = _Watch(twin, "MES-JR-1")
    try:
        await client.load_data_type_definitions()
        order = job_order("MES-JR-1", type="printed_housing", material="pla", volume_cm3=9.0)
        assert (
            await _call(client, twin, "Store", ua.Variant(order), mes_comment())
        ).StatusCode.is_good()
        listed = (await _job_orders(client, twin))["MES-JR-1"]
        assert _states(listed.State) == [(NOT_ALLOWED_TO_START, "")]
        assert listed.State[0].StateText.Text == "NotAllowedToStart"
        params = {p.ID: p.Value.Value for p in listed.JobOrder.JobOrderParameters}
        assert params == {"type": "printed_housing", "material": "pla", "volume_cm3": 9.0}

        started = await _call(client, twin, "Start", ua.Variant("MES-JR-1"), mes_comment())
        assert started.StatusCode.is_good()
        now = (await _job_orders(client, twin))["MES-JR-1"].State[0].StateNumber
        assert now == (ALLOWED_TO_START if watch.first(tev.JobReleased) is None else RUNNING)
        seen = [NOT_ALLOWED_TO_START, now]
        end = await _step_until(twin, watch, ENDED_EVENTS, seen, client)
        await twin.server.settle()
        job = twin.engine.jobs["MES-JR-1"]
        entry = (await _job_orders(client, twin))["MES-JR-1"]
        if isinstance(end, tev.JobCompleted):
            expected = [(ENDED, ""), (COMPLETED, "EndedSubstates")]
            assert [s.StateText.Text for s in entry.State] == ["Ended", "Completed"]
        else:
            expected = [(ABORTED, "")]
        assert _states(entry.State) == expected
        # the state machine's order: stored, (allowed to start,) running, ended or aborted
        assert seen[-1] == expected[0][0]
        assert seen == sorted(set(seen))
        assert RUNNING in seen

        result = await _results_call(
            client, twin, "RequestJobResponseByJobOrderID", ua.Variant("MES-JR-1")
        )
        assert result.StatusCode.is_good()
        response, status = (a.Value for a in result.OutputArguments)
        assert status == 0
        assert response.JobOrderID == "MES-JR-1"
        assert response.JobResponseID
        assert _states(response.JobState) == expected
        released = watch.first(tev.JobReleased)
        wall = twin.driver.wall_time
        assert response.StartTime == pytest.approx(wall(released.t), abs=dt.timedelta(seconds=1e-3))
        assert response.EndTime == pytest.approx(wall(end.t), abs=dt.timedelta(seconds=1e-3))
        data = _data(response)
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

        assert "MES-JR-1" in await _responses(client, twin)
        state = _ua_state(expected[0][0])
        by_state = await _results_call(
            client, twin, "RequestJobResponseByJobOrderState", ua.Variant([state])
        )
        assert by_state.StatusCode.is_good()
        assert "MES-JR-1" in {r.JobOrderID for r in by_state.OutputArguments[0].Value}
        running = await _results_call(
            client, twin, "RequestJobResponseByJobOrderState", ua.Variant([_ua_state(RUNNING)])
        )
        ids = {r.JobOrderID for r in running.OutputArguments[0].Value}
        assert "MES-JR-1" not in ids
        assert ids == {j.id for j in twin.engine.jobs.values() if j.state not in _NOT_RUNNING}

        cleared = await _call(client, twin, "Clear", ua.Variant("MES-JR-1"), mes_comment())
        assert cleared.StatusCode.is_good()
        assert "MES-JR-1" not in await _job_orders(client, twin)
        assert "MES-JR-1" not in await _responses(client, twin)
        again = await _results_call(
            client, twin, "RequestJobResponseByJobOrderID", ua.Variant("MES-JR-1")
        )
        assert again.StatusCode.value == ua.StatusCodes.BadInvalidArgument
    finally:
        watch.close()
        await client.disconnect()


def _ua_state(number: int) -> Any:
    state = ua.ISA95StateDataType()
    state.StateNumber = number
    return state


async def test_unknown_job_order_id_is_refused(twin: Twin) -> None:
    async with twin.session("vera") as client:
        await client.load_data_type_definitions()
        result = await _results_call(
            client, twin, "RequestJobResponseByJobOrderID", ua.Variant("no-such-order")
        )
        assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        message = result.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert "no job order 'no-such-order'" in message


async def test_clear_refuses_a_running_order_and_clears_an_aborted_one(twin: Twin) -> None:
    client = await twin.client("otto")
    watch = _Watch(twin, "MES-JR-2")
    try:
        await client.load_data_type_definitions()
        order = job_order("MES-JR-2", type="printed_housing", material="petg", volume_cm3=12.0)
        stored = await _call(client, twin, "StoreAndStart", ua.Variant(order), mes_comment())
        assert stored.StatusCode.is_good()
        await _step_until(twin, watch, tev.OperationStarted)
        await twin.server.settle()
        before = twin.engine.jobs["MES-JR-2"].state
        refused = await _call(client, twin, "Clear", ua.Variant("MES-JR-2"), mes_comment())
        assert refused.StatusCode.value == ua.StatusCodes.BadInvalidState
        message = refused.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert "'MES-JR-2' is Running" in message
        assert "only Ended or Aborted" in message
        assert twin.engine.jobs["MES-JR-2"].state == before
        entry = (await _job_orders(client, twin))["MES-JR-2"]
        assert _states(entry.State) == [(RUNNING, "")]

        # a stored order that is cancelled is aborted without reaching the twin
        later = job_order("MES-JR-3", type="printed_housing", material="pla", volume_cm3=9.0)
        assert (
            await _call(client, twin, "Store", ua.Variant(later), mes_comment())
        ).StatusCode.is_good()
        cancel = await _call(client, twin, "Cancel", ua.Variant("MES-JR-3"), mes_comment())
        assert cancel.StatusCode.is_good()
        assert "MES-JR-3" not in twin.engine.jobs
        assert _states((await _job_orders(client, twin))["MES-JR-3"].State) == [(ABORTED, "")]
        assert (
            await _call(client, twin, "Clear", ua.Variant("MES-JR-3"), mes_comment())
        ).StatusCode.is_good()
        assert "MES-JR-3" not in await _job_orders(client, twin)
    finally:
        watch.close()
        await client.disconnect()


async def test_viewer_reads_the_lists_but_cannot_clear(twin: Twin) -> None:
    async with twin.session("vera") as client:
        await client.load_data_type_definitions()
        orders = await _job_orders(client, twin)
        in_cell = {j.id for j in twin.engine.jobs.values() if j.state not in _ENDED_STATES}
        assert in_cell <= set(orders)
        some = twin.engine.jobs[sorted(in_cell)[0]]
        entry = orders[some.id]
        assert {p.ID: p.Value.Value for p in entry.JobOrder.JobOrderParameters}[
            "type"
        ] == some.family
        assert entry.JobOrder.EndTime == pytest.approx(
            twin.driver.wall_time(some.due), abs=dt.timedelta(seconds=1e-3)
        )
        assert isinstance(await _responses(client, twin), dict)
        listed = client.get_node(
            ua.NodeId("Cell.JobManagement.JobOrderResults.JobOrderResponseList", twin.ns(NS.TWIN))
        )
        access = await listed.read_attribute(ua.AttributeIds.UserAccessLevel)
        assert access.Value.Value == ua.AccessLevel.CurrentRead.mask
        with pytest.raises(ua.UaStatusCodeError) as err:
            await _call(client, twin, "Clear", ua.Variant(some.id), mes_comment())
        assert err.value.code == ua.StatusCodes.BadUserAccessDenied
        assert some.id in await _job_orders(client, twin)


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
        orders = await _job_orders(client, twin)
        listed = {i for i, e in orders.items() if e.State[0].StateNumber in (ENDED, ABORTED)}
        assert listed == set(ended[-2:])
        assert set(await _responses(client, twin)) == set(ended[-2:])
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
        # Cell/Backlog is refreshed on a wall-clock period; refresh it now instead of waiting
        cell = next(f for f in twin.server.families if isinstance(f, CellFamily))
        cell.refresh()
        await twin.server.settle()
        backlog = [job.id for job in twin.engine.backlog]
        assert len(backlog) > bound + 400  # the cell is full: nearly all of them wait
        node = client.get_node(
            ua.NodeId("Cell.JobManagement.JobOrderControl.JobOrderList", twin.ns(NS.TWIN))
        )
        entries = await node.read_value()
        by_state: dict[int, list[str]] = {}
        for entry in entries:
            by_state.setdefault(entry.State[0].StateNumber, []).append(entry.JobOrder.JobOrderID)
        # the head of the backlog, in the order the twin will release it
        assert by_state[ALLOWED_TO_START] == backlog[:bound]
        in_cell = {j.id for j in twin.engine.jobs.values() if j.state not in _NOT_RUNNING}
        assert set(by_state[RUNNING]) == in_cell
        assert len(entries) == sum(len(ids) for ids in by_state.values())
        count = client.get_node(ua.NodeId("Cell.Backlog", twin.ns(NS.TWIN)))
        assert await count.read_value() == len(backlog) > len(by_state[ALLOWED_TO_START])

        # one more order joins the end of the backlog: the list is not written again
        before = await node.read_data_value()
        submitted.append(twin.api.submit_order({"id": "BL-LAST", "product": product}))
        await twin.server.settle()
        after = await node.read_data_value()
        assert after.SourceTimestamp == before.SourceTimestamp
        assert len(after.Value.Value) == len(entries)

        beyond = backlog[-1]
        assert beyond not in {e.JobOrder.JobOrderID for e in entries}
        result = await _results_call(
            client, twin, "RequestJobResponseByJobOrderID", ua.Variant(beyond)
        )
        assert result.StatusCode.is_good()
        response = result.OutputArguments[0].Value
        assert response.JobOrderID == beyond
        assert _states(response.JobState) == [(ALLOWED_TO_START, "")]
        job = twin.engine.jobs[beyond]
        data = _data(response)
        assert data["OperationsDone"] == 0
        assert data["Operations"] == len(job.ops)
        assert data["ProductType"] == "printed_housing"
        waiting = await _results_call(
            client,
            twin,
            "RequestJobResponseByJobOrderState",
            ua.Variant([_ua_state(ALLOWED_TO_START)]),
        )
        ids = [r.JobOrderID for r in waiting.OutputArguments[0].Value]
        assert ids == backlog[:bound]  # bounded like the list
    finally:
        await client.disconnect()
        for job_id in submitted:  # leave the module's twin as it was
            if twin.engine.jobs[job_id].state == "backlog":
                twin.api.cancel_order(job_id)
        await twin.server.settle()


async def test_pause_resume_and_abort(twin: Twin) -> None:
    """ISA-95 Pause, Resume and Abort: Running -> Interrupted -> Running -> Aborted, each
    seen in JobOrderList and by state; calls in the wrong state are refused, changing nothing."""
    client = await twin.client("otto")
    watch = _Watch(twin, "MES-PR-1")
    try:
        await client.load_data_type_definitions()
        control = client.get_node(ua.NodeId("Cell.JobManagement.JobOrderControl", twin.ns(NS.TWIN)))
        limit = await control.get_child(f"{twin.ns(NS.ISA95_JOBCONTROL)}:MaxDownloadableJobOrders")
        assert await limit.read_value() == twin.engine.max_stored > 0
        order = job_order("MES-PR-1", type="printed_housing", material="pla", volume_cm3=30.0)
        assert (
            await _call(client, twin, "StoreAndStart", ua.Variant(order), mes_comment())
        ).StatusCode.is_good()
        await _step_until(twin, watch, tev.JobReleased)
        job = twin.engine.jobs["MES-PR-1"]

        async def state() -> list[tuple[int, str]]:
            return _states((await _job_orders(client, twin))["MES-PR-1"].State)

        paused = await _call(client, twin, "Pause", ua.Variant("MES-PR-1"), mes_comment())
        assert paused.StatusCode.is_good()
        assert job.held is not None
        assert await state() == [(INTERRUPTED, "")]
        entry = (await _job_orders(client, twin))["MES-PR-1"]
        assert entry.State[0].StateText.Text == "Interrupted"
        by_state = await _results_call(
            client, twin, "RequestJobResponseByJobOrderState", ua.Variant([_ua_state(INTERRUPTED)])
        )
        assert [r.JobOrderID for r in by_state.OutputArguments[0].Value] == ["MES-PR-1"]
        again = await _call(client, twin, "Pause", ua.Variant("MES-PR-1"), mes_comment())
        assert again.StatusCode.value == ua.StatusCodes.BadInvalidState
        message = again.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert "'MES-PR-1' is Interrupted; only Running job orders can be paused" in message
        for _ in range(12):  # an hour: the step under way ends, then it waits in the storage
            await twin.step(5.0)
        assert (job.state, job.location) == ("held", None)
        assert await state() == [(INTERRUPTED, "")]

        resumed = await _call(client, twin, "Resume", ua.Variant("MES-PR-1"), mes_comment())
        assert resumed.StatusCode.is_good()
        assert job.held is None
        assert await state() == [(RUNNING, "")]
        not_paused = await _call(client, twin, "Resume", ua.Variant("MES-PR-1"), mes_comment())
        assert not_paused.StatusCode.value == ua.StatusCodes.BadInvalidState

        aborted = await _call(client, twin, "Abort", ua.Variant("MES-PR-1"), mes_comment())
        assert aborted.StatusCode.is_good()
        await _step_until(twin, watch, tev.JobCancelled)
        await twin.server.settle()
        assert await state() == [(ABORTED, "")]
        late = await _call(client, twin, "Abort", ua.Variant("MES-PR-1"), mes_comment())
        assert late.StatusCode.value == ua.StatusCodes.BadInvalidState
        message = late.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert "'MES-PR-1' is Aborted; only NotAllowedToStart or" in message

        # a stored order cannot be paused, but can be aborted
        stored = job_order("MES-PR-2", type="printed_housing", material="pla", volume_cm3=9.0)
        assert (
            await _call(client, twin, "Store", ua.Variant(stored), mes_comment())
        ).StatusCode.is_good()
        refused = await _call(client, twin, "Pause", ua.Variant("MES-PR-2"), mes_comment())
        assert refused.StatusCode.value == ua.StatusCodes.BadInvalidState
        message = refused.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert "'MES-PR-2' is NotAllowedToStart; only Running" in message
        assert "MES-PR-2" in twin.engine.stored
        assert (
            await _call(client, twin, "Abort", ua.Variant("MES-PR-2"), mes_comment())
        ).StatusCode.is_good()
        assert "MES-PR-2" not in twin.engine.stored
        unknown = await _call(client, twin, "Pause", ua.Variant("nope"), mes_comment())
        assert unknown.StatusCode.value == ua.StatusCodes.BadInvalidArgument
    finally:
        watch.close()
        await client.disconnect()


async def test_update_and_revoke_start(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> None:
    """ISA-95 Update changes a stored or waiting order in place; RevokeStart takes a waiting
    one back to NotAllowedToStart; both refuse an order in the cell."""
    client = await twin.client("otto")
    monkeypatch.setattr(twin.engine, "max_wip", twin.engine.wip)  # started orders wait
    try:
        await client.load_data_type_definitions()

        async def entry(job_id: str) -> tuple[int, dict[str, Any]]:
            listed = (await _job_orders(client, twin))[job_id]
            params = {p.ID: p.Value.Value for p in listed.JobOrder.JobOrderParameters}
            return listed.State[0].StateNumber, params

        first = job_order("MES-UR-1", type="printed_housing", material="pla", volume_cm3=9.0)
        assert (
            await _call(client, twin, "Store", ua.Variant(first), mes_comment())
        ).StatusCode.is_good()
        changed = job_order("MES-UR-1", type="machined_bracket", material="steel")
        updated = await _call(client, twin, "Update", ua.Variant(changed), mes_comment())
        assert updated.StatusCode.is_good()
        assert twin.engine.stored["MES-UR-1"].product.type == "machined_bracket"
        assert await entry("MES-UR-1") == (
            NOT_ALLOWED_TO_START,
            {"type": "machined_bracket", "material": "steel"},
        )
        # updated by another source (the API): the list shows that order, not the MES's
        twin.api.update_order({"id": "MES-UR-1", "product": {"type": "module_assembly"}})
        await twin.server.settle()
        assert (await entry("MES-UR-1"))[1]["type"] == "module_assembly"

        waiting = job_order("MES-UR-2", type="printed_housing", material="pla", volume_cm3=9.0)
        assert (
            await _call(client, twin, "StoreAndStart", ua.Variant(waiting), mes_comment())
        ).StatusCode.is_good()
        assert (await entry("MES-UR-2"))[0] == ALLOWED_TO_START
        bigger = job_order("MES-UR-2", type="printed_housing", material="petg", volume_cm3=40.0)
        assert (
            await _call(client, twin, "Update", ua.Variant(bigger), mes_comment())
        ).StatusCode.is_good()
        job = twin.engine.jobs["MES-UR-2"]
        assert (job.spec.material, job.spec.volume_cm3) == ("petg", 40.0)
        assert (await entry("MES-UR-2"))[1]["volume_cm3"] == 40.0
        revoked = await _call(client, twin, "RevokeStart", ua.Variant("MES-UR-2"), mes_comment())
        assert revoked.StatusCode.is_good()
        assert "MES-UR-2" not in twin.engine.jobs
        assert twin.engine.stored["MES-UR-2"].product.volume_cm3 == 40.0
        assert (await entry("MES-UR-2"))[0] == NOT_ALLOWED_TO_START
        again = await _call(client, twin, "RevokeStart", ua.Variant("MES-UR-2"), mes_comment())
        assert again.StatusCode.value == ua.StatusCodes.BadInvalidState
        message = again.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert "is NotAllowedToStart; only AllowedToStart job orders can be revoked" in message

        running = next(j for j in twin.engine.jobs.values() if j.state not in _NOT_RUNNING)
        spec, due = running.spec, running.due
        other = job_order(running.id, type="printed_housing")
        refused = await _call(client, twin, "Update", ua.Variant(other), mes_comment())
        assert refused.StatusCode.value == ua.StatusCodes.BadInvalidState
        assert "only NotAllowedToStart or AllowedToStart" in (
            refused.InputArgumentDiagnosticInfos[0].AdditionalInfo
        )
        assert (running.spec, running.due) == (spec, due)
        for job_id in ("MES-UR-1", "MES-UR-2"):  # leave the twin as it was
            assert (
                await _call(client, twin, "Abort", ua.Variant(job_id), mes_comment())
            ).StatusCode.is_good()
    finally:
        await client.disconnect()
