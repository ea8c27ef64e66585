"""ISA-95 JobOrderControl on the cell: an MES stores, starts, updates, revokes, pauses,
resumes, aborts and cancels job orders; each method refuses the states it does not apply to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, ua

from opcua_server.nodesets import NS
from tests.opcua.conftest import Twin, job_order, mes_comment, start_twin
from tests.opcua.jobs_client import (
    ABORTED,
    ALLOWED_TO_START,
    COMPLETED,
    ENDED,
    HELD,
    INTERRUPTED,
    NOT_ALLOWED_TO_START,
    NOT_RUNNING,
    RUNNING,
    SUSPENDED,
    Watch,
    by_state,
    control_call,
    drive,
    job_orders,
    response_data,
    responses,
    send,
    states_of,
    step_until,
)
from twin import events as tev
from twin.model import HousingSpec

pytestmark = pytest.mark.asyncio(loop_scope="module")

SUSPENDED_STATES = [(INTERRUPTED, ""), (SUSPENDED, "InterruptedSubstates")]
HELD_STATES = [(INTERRUPTED, ""), (HELD, "InterruptedSubstates")]


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


async def test_store_start_and_cancel_as_operator(
    twin: Twin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Store, Start, and Cancel as OPC 10031-4 6.2.1.12 has it: an order not started yet is
    withdrawn and no entry is left in the lists; a running one is refused (Abort ends it)."""
    monkeypatch.setattr(twin.engine, "max_wip", twin.engine.wip)  # started orders wait
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        order = job_order(
            twin,
            "MES-JC-1",
            type="printed_housing",
            material="petg",
            volume_cm3=18.0,
            height_mm=25.0,
            layer_height_mm=0.2,
            openings=2,
        )
        stored = await control_call(client, twin, "Store", ua.Variant(order), mes_comment())
        assert stored.StatusCode.is_good()
        assert stored.OutputArguments[0].Value == 1  # ReturnStatus bit 0: No Error
        assert "MES-JC-1" not in twin.engine.jobs  # stored, not started
        assert "MES-JC-1" in twin.engine.stored  # by the twin: in its event log
        assert await stored_count(client, twin) == len(twin.engine.stored) >= 1
        again = await control_call(client, twin, "Store", ua.Variant(order), mes_comment())
        assert again.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        assert "already exists" in again.InputArgumentDiagnosticInfos[0].AdditionalInfo
        started = await control_call(client, twin, "Start", ua.Variant("MES-JC-1"), mes_comment())
        assert started.StatusCode.is_good()
        job = twin.engine.jobs["MES-JC-1"]
        # EndTime maps to simulated time like every timestamp: wall origin + simulated seconds
        expected = (order.EndTime - twin.driver.wall_time(0.0)).total_seconds()
        assert job.due == pytest.approx(expected, abs=1e-3)
        assert (job.state, states_of((await job_orders(client, twin))["MES-JC-1"].State)) == (
            "backlog",
            [(ALLOWED_TO_START, "")],
        )
        twice = await control_call(client, twin, "Start", ua.Variant("MES-JC-1"), mes_comment())
        assert twice.StatusCode.value == ua.StatusCodes.BadInvalidState
        message = twice.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert (
            "'MES-JC-1' is AllowedToStart; only NotAllowedToStart job orders can be started"
            in message
        )
        cancelled = await control_call(
            client, twin, "Cancel", ua.Variant("MES-JC-1"), mes_comment()
        )
        assert cancelled.StatusCode.is_good()
        assert job.state == "cancelled"
        assert "MES-JC-1" not in await job_orders(client, twin)
        assert "MES-JC-1" not in await responses(client, twin)
        gone = await control_call(client, twin, "Clear", ua.Variant("MES-JC-1"), mes_comment())
        assert gone.StatusCode.value == ua.StatusCodes.BadInvalidArgument

        running = next(j for j in twin.engine.jobs.values() if j.state not in NOT_RUNNING)
        refused = await control_call(client, twin, "Cancel", ua.Variant(running.id), mes_comment())
        assert refused.StatusCode.value == ua.StatusCodes.BadInvalidState
        message = refused.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert f"{running.id!r} is Running; only NotAllowedToStart or AllowedToStart" in message
        assert "Abort ends a started one" in message
        assert running.leaving is None
        direct = job_order(twin, "MES-JC-2", type="printed_housing", material="pla", volume_cm3=9.0)
        await send(client, twin, "StoreAndStart", direct)
        assert "MES-JC-2" in twin.engine.jobs
        withdrawn = await control_call(
            client, twin, "Cancel", ua.Variant("MES-JC-2"), mes_comment()
        )
        assert withdrawn.StatusCode.is_good()


async def stored_count(client: Client, twin: Twin) -> int:
    """Cell/Stored once every queued write is applied."""
    await twin.server.settle()
    value: int = await client.get_node(ua.NodeId("Cell.Stored", twin.ns(NS.TWIN))).read_value()
    return value


async def test_cell_stored_follows_the_stored_orders_at_once(tmp_path: Path) -> None:
    """Cell/Stored changes with the stored orders, not at the periodic refresh of the cell's
    counters (an hour here): right after a burst of Stores, a Start, a RevokeStart and a
    Cancel, and an order stored through ``twin.api``."""
    twin = await start_twin(tmp_path, kpi_interval_s=3600.0)
    twin.engine.max_wip = twin.engine.wip  # a started order waits (RevokeStart applies)
    try:
        async with twin.session("otto") as client:
            await client.load_data_type_definitions()
            assert await stored_count(client, twin) == 0
            for i in range(5):
                order = job_order(twin, f"MES-BURST-{i}", type="printed_housing")
                await send(client, twin, "Store", order)
            assert await stored_count(client, twin) == 5
            for method, job_id, count in (
                ("Start", "MES-BURST-0", 4),
                ("RevokeStart", "MES-BURST-0", 5),
                ("Cancel", "MES-BURST-1", 4),
            ):
                result = await control_call(client, twin, method, ua.Variant(job_id))
                assert result.StatusCode.is_good(), method
                assert await stored_count(client, twin) == count, method
            twin.api.store_order({"id": "API-BURST", "product": {"type": "printed_housing"}})
            assert await stored_count(client, twin) == 5
    finally:
        await twin.server.stop()


async def test_bad_job_orders_are_refused(twin: Twin) -> None:
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        unknown = job_order(twin, "MES-JC-3", type="spaceship")
        result = await control_call(
            client, twin, "StoreAndStart", ua.Variant(unknown), mes_comment()
        )
        assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        message = result.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert message.startswith(
            "StoreAndStart: JobOrder: JobOrderParameters[0] (type): unknown type 'spaceship'"
            " (known:"
        )
        assert "MES-JC-3" not in twin.engine.jobs
        start = await control_call(client, twin, "Start", ua.Variant("nope"), mes_comment())
        assert start.StatusCode.value == ua.StatusCodes.BadInvalidArgument
        message = start.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert "no job order 'nope' in JobOrderList" in message


async def test_viewer_cannot_control_jobs(twin: Twin) -> None:
    async with twin.session("vera") as client:
        start = await control_call(client, twin, "Start", ua.Variant("x"), mes_comment())
        assert start.StatusCode.value == ua.StatusCodes.BadUserAccessDenied


async def test_pause_resume_and_abort(twin: Twin) -> None:
    """ISA-95 Pause, Resume and Abort: Running -> Interrupted/Suspended -> Running -> Aborted, each
    seen in JobOrderList and by state; calls in the wrong state are refused, changing nothing."""
    async with twin.session("otto") as client:
        with Watch(twin, "MES-PR-1") as watch:
            await client.load_data_type_definitions()
            control = client.get_node(
                ua.NodeId("Cell.JobManagement.JobOrderControl", twin.ns(NS.TWIN))
            )
            limit = await control.get_child(
                f"{twin.ns(NS.ISA95_JOBCONTROL)}:MaxDownloadableJobOrders"
            )
            assert await limit.read_value() == twin.engine.max_stored > 0
            order = job_order(
                twin, "MES-PR-1", type="printed_housing", material="pla", volume_cm3=30.0
            )
            await send(client, twin, "StoreAndStart", order)
            await step_until(twin, watch, tev.JobReleased)
            job = twin.engine.jobs["MES-PR-1"]

            async def state() -> list[tuple[int, str]]:
                return states_of((await job_orders(client, twin))["MES-PR-1"].State)

            paused = await control_call(
                client, twin, "Pause", ua.Variant("MES-PR-1"), mes_comment()
            )
            assert paused.StatusCode.is_good()
            assert job.held is not None
            assert await state() == SUSPENDED_STATES
            entry = (await job_orders(client, twin))["MES-PR-1"]
            texts = [s.StateText.Text for s in entry.State]
            assert texts == ["Interrupted", "Suspended"]
            assert await by_state(client, twin, INTERRUPTED) == ["MES-PR-1"]
            assert await by_state(client, twin, INTERRUPTED, SUSPENDED) == ["MES-PR-1"]
            assert await by_state(client, twin, INTERRUPTED, HELD) == []
            again = await control_call(client, twin, "Pause", ua.Variant("MES-PR-1"), mes_comment())
            assert again.StatusCode.value == ua.StatusCodes.BadInvalidState
            message = again.InputArgumentDiagnosticInfos[0].AdditionalInfo
            assert (
                "'MES-PR-1' is Interrupted/Suspended; only Running or Interrupted/Held job orders"
                " can be paused" in message
            )
            # the step under way ends, then it waits in the storage
            await drive(twin, lambda: job.state == "held", "MES-PR-1 held")
            assert job.location is None
            assert await state() == SUSPENDED_STATES

            resumed = await control_call(
                client, twin, "Resume", ua.Variant("MES-PR-1"), mes_comment()
            )
            assert resumed.StatusCode.is_good()
            assert job.held is None
            assert await state() == [(RUNNING, "")]
            not_paused = await control_call(
                client, twin, "Resume", ua.Variant("MES-PR-1"), mes_comment()
            )
            assert not_paused.StatusCode.value == ua.StatusCodes.BadInvalidState

            aborted = await control_call(
                client, twin, "Abort", ua.Variant("MES-PR-1"), mes_comment()
            )
            assert aborted.StatusCode.is_good()
            await step_until(twin, watch, tev.JobCancelled)
            assert await state() == [(ABORTED, "")]
            late = await control_call(client, twin, "Abort", ua.Variant("MES-PR-1"), mes_comment())
            assert late.StatusCode.value == ua.StatusCodes.BadInvalidState
            message = late.InputArgumentDiagnosticInfos[0].AdditionalInfo
            assert "'MES-PR-1' is Aborted; only NotAllowedToStart or" in message

            # a stored order cannot be paused, but can be aborted
            stored = job_order(
                twin, "MES-PR-2", type="printed_housing", material="pla", volume_cm3=9.0
            )
            await send(client, twin, "Store", stored)
            refused = await control_call(
                client, twin, "Pause", ua.Variant("MES-PR-2"), mes_comment()
            )
            assert refused.StatusCode.value == ua.StatusCodes.BadInvalidState
            message = refused.InputArgumentDiagnosticInfos[0].AdditionalInfo
            assert "'MES-PR-2' is NotAllowedToStart; only Running" in message
            assert "MES-PR-2" in twin.engine.stored
            assert (
                await control_call(client, twin, "Abort", ua.Variant("MES-PR-2"), mes_comment())
            ).StatusCode.is_good()
            assert "MES-PR-2" not in twin.engine.stored
            unknown = await control_call(client, twin, "Pause", ua.Variant("nope"), mes_comment())
            assert unknown.StatusCode.value == ua.StatusCodes.BadInvalidArgument


async def test_a_breakdown_holds_the_running_job(twin: Twin) -> None:
    """A fault on the machine of a running job order interrupts it (Interrupted/Held) until the
    repair. Resume cannot end a breakdown: it is refused. Pause takes Held to Suspended, and
    Resume takes Suspended back to Held while the machine is still down."""
    async with twin.session("otto") as client:
        with Watch(twin, "MES-HD-1") as watch:
            await client.load_data_type_definitions()
            order = job_order(
                twin, "MES-HD-1", type="printed_housing", material="pla", volume_cm3=30.0
            )
            await send(client, twin, "StoreAndStart", order)
            started = await step_until(twin, watch, tev.OperationStarted)

            async def state() -> list[tuple[int, str]]:
                await twin.server.settle()
                return states_of((await job_orders(client, twin))["MES-HD-1"].State)

            async def call(method: str) -> Any:
                return await control_call(
                    client, twin, method, ua.Variant("MES-HD-1"), mes_comment()
                )

            assert await state() == [(RUNNING, "")]
            twin.api.inject_fault(started.machine, "breakdown", None)
            assert await state() == HELD_STATES
            entry = (await job_orders(client, twin))["MES-HD-1"]
            assert [s.StateText.Text for s in entry.State] == ["Interrupted", "Held"]
            assert await by_state(client, twin, INTERRUPTED, HELD) == ["MES-HD-1"]
            assert "MES-HD-1" not in await by_state(client, twin, RUNNING)
            refused = await call("Resume")
            assert refused.StatusCode.value == ua.StatusCodes.BadInvalidState
            message = refused.InputArgumentDiagnosticInfos[0].AdditionalInfo
            assert "is Interrupted/Held; only Interrupted/Suspended job orders" in message
            assert await state() == HELD_STATES

            assert (await call("Pause")).StatusCode.is_good()
            assert await state() == SUSPENDED_STATES
            assert (await call("Resume")).StatusCode.is_good()
            assert await state() == HELD_STATES  # the machine is still down

            twin.api.clear_fault(started.machine)
            await twin.step(1.0)  # the repair takes effect at the twin's next step
            assert await state() == [(RUNNING, "")]
            assert twin.engine.jobs["MES-HD-1"].state == "processing"
            assert (await call("Abort")).StatusCode.is_good()
            await step_until(twin, watch, tev.JobCancelled)


async def test_update_and_revoke_start(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> None:
    """ISA-95 Update changes a stored or waiting order in place; RevokeStart takes a waiting
    one back to NotAllowedToStart; both refuse an order in the cell."""
    monkeypatch.setattr(twin.engine, "max_wip", twin.engine.wip)  # started orders wait
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()

        async def entry(job_id: str) -> tuple[int, dict[str, Any]]:
            listed = (await job_orders(client, twin))[job_id]
            params = {p.ID: p.Value.Value for p in listed.JobOrder.JobOrderParameters}
            return listed.State[0].StateNumber, params

        first = job_order(twin, "MES-UR-1", type="printed_housing", material="pla", volume_cm3=9.0)
        await send(client, twin, "Store", first)
        # due 8 h ahead of the twin's clock, however far the tests before drove it
        assert twin.engine.stored["MES-UR-1"].due == pytest.approx(twin.engine.now + 8 * 3600)
        changed = job_order(twin, "MES-UR-1", type="machined_bracket", material="steel")
        updated = await control_call(client, twin, "Update", ua.Variant(changed), mes_comment())
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

        waiting = job_order(
            twin, "MES-UR-2", type="printed_housing", material="pla", volume_cm3=9.0
        )
        await send(client, twin, "StoreAndStart", waiting)
        assert (await entry("MES-UR-2"))[0] == ALLOWED_TO_START
        bigger = job_order(
            twin, "MES-UR-2", type="printed_housing", material="petg", volume_cm3=40.0
        )
        assert (
            await control_call(client, twin, "Update", ua.Variant(bigger), mes_comment())
        ).StatusCode.is_good()
        job = twin.engine.jobs["MES-UR-2"]
        assert isinstance(job.spec, HousingSpec)
        assert (job.spec.material, job.spec.volume_cm3) == ("petg", 40.0)
        assert (await entry("MES-UR-2"))[1]["volume_cm3"] == 40.0
        revoked = await control_call(
            client, twin, "RevokeStart", ua.Variant("MES-UR-2"), mes_comment()
        )
        assert revoked.StatusCode.is_good()
        assert "MES-UR-2" not in twin.engine.jobs
        stored = twin.engine.stored["MES-UR-2"].product
        assert isinstance(stored, HousingSpec)
        assert stored.volume_cm3 == 40.0
        assert (await entry("MES-UR-2"))[0] == NOT_ALLOWED_TO_START
        again = await control_call(
            client, twin, "RevokeStart", ua.Variant("MES-UR-2"), mes_comment()
        )
        assert again.StatusCode.value == ua.StatusCodes.BadInvalidState
        message = again.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert "is NotAllowedToStart; only AllowedToStart job orders can be revoked" in message

        running = next(j for j in twin.engine.jobs.values() if j.state not in NOT_RUNNING)
        spec, due = running.spec, running.due
        other = job_order(twin, running.id, type="printed_housing")
        refused = await control_call(client, twin, "Update", ua.Variant(other), mes_comment())
        assert refused.StatusCode.value == ua.StatusCodes.BadInvalidState
        assert "only NotAllowedToStart or AllowedToStart" in (
            refused.InputArgumentDiagnosticInfos[0].AdditionalInfo
        )
        assert (running.spec, running.due) == (spec, due)
        for job_id in ("MES-UR-1", "MES-UR-2"):  # leave the twin as it was
            assert (
                await control_call(client, twin, "Abort", ua.Variant(job_id), mes_comment())
            ).StatusCode.is_good()


async def test_stop_ends_a_running_or_interrupted_order(twin: Twin) -> None:
    """ISA-95 Stop: Running (after the operation under way) or Interrupted -> Ended/Completed,
    the response saying Stopped with the operations done; refused in any other state."""
    ended = [(ENDED, ""), (COMPLETED, "EndedSubstates")]
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()

        async def call(method: str, job_id: str) -> Any:
            return await control_call(client, twin, method, ua.Variant(job_id), mes_comment())

        stored = job_order(twin, "MES-STOP-0", type="printed_housing", volume_cm3=9.0)
        await send(client, twin, "Store", stored)
        refused = await call("Stop", "MES-STOP-0")
        assert refused.StatusCode.value == ua.StatusCodes.BadInvalidState
        message = refused.InputArgumentDiagnosticInfos[0].AdditionalInfo
        assert (
            "'MES-STOP-0' is NotAllowedToStart; only Running or Interrupted job orders can be"
            " stopped" in message
        )
        assert "MES-STOP-0" in twin.engine.stored

        with Watch(twin, "MES-STOP-1") as watch:
            order = job_order(twin, "MES-STOP-1", type="printed_housing", volume_cm3=20.0)
            await send(client, twin, "StoreAndStart", order)
            started = await step_until(twin, watch, tev.OperationStarted)
            stop = await call("Stop", "MES-STOP-1")
            assert stop.StatusCode.is_good()
            assert [v.Value for v in stop.OutputArguments] == [1]  # ReturnStatus: no error
            entry = (await job_orders(client, twin))["MES-STOP-1"]
            assert states_of(entry.State) == [(RUNNING, "")]  # its operation goes on
            for method in ("Stop", "Pause", "Abort"):  # it is ending: refused in ISA-95 terms
                refused = await call(method, "MES-STOP-1")
                assert refused.StatusCode.value == ua.StatusCodes.BadInvalidState
                assert (
                    "'MES-STOP-1' is Running until its step under way ends (Stop); it can no"
                    " longer be" in refused.InputArgumentDiagnosticInfos[0].AdditionalInfo
                )
            end = await step_until(twin, watch, tev.JobStopped)
            assert watch.first(tev.OperationFinished).op == started.op
            assert watch.first(tev.JobCompleted) is None
            entry = (await job_orders(client, twin))["MES-STOP-1"]
            assert states_of(entry.State) == ended
            data = response_data((await responses(client, twin))["MES-STOP-1"])
            assert data["Stopped"] is True
            assert data["Good"] is False
            assert data["OperationsDone"] == end.operations == 1 < data["Operations"]
            again = await call("Stop", "MES-STOP-1")
            assert again.StatusCode.value == ua.StatusCodes.BadInvalidState
            assert "is Ended/Completed" in again.InputArgumentDiagnosticInfos[0].AdditionalInfo

        with Watch(twin, "MES-STOP-2") as watch:
            order = job_order(twin, "MES-STOP-2", type="printed_housing", volume_cm3=8.0)
            await send(client, twin, "StoreAndStart", order)
            await step_until(twin, watch, tev.JobReleased)
            paused = await call("Pause", "MES-STOP-2")
            assert paused.StatusCode.is_good()
            job = twin.engine.jobs["MES-STOP-2"]
            await drive(twin, lambda: job.state == "held", "MES-STOP-2 held")
            stop = await call("Stop", "MES-STOP-2")
            assert stop.StatusCode.is_good()
            t = twin.engine.now
            end = await step_until(twin, watch, tev.JobStopped)
            assert end.t == t  # from the storage, at once
            entry = (await job_orders(client, twin))["MES-STOP-2"]
            assert states_of(entry.State) == ended
        assert twin.engine.stopped == 2


async def test_clear_removes_an_order_ended_by_stop(twin: Twin) -> None:
    """An order told to Stop while Running cannot be cleared while its step under way goes
    on; once it has ended (Ended/Completed) Clear removes it like any other ended order (it
    was refused as 'Running until its step under way ends' for good). An aborted one is
    Aborted at once, and can be cleared then (``test_job_abort``)."""
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()

        async def call(method: str, job_id: str) -> Any:
            return await control_call(client, twin, method, ua.Variant(job_id), mes_comment())

        ends = (("Stop", tev.JobStopped, ENDED),)
        for method, ending, state in ends:
            job_id = f"MES-CLR-{method}"
            with Watch(twin, job_id) as watch:
                order = job_order(twin, job_id, type="printed_housing", volume_cm3=20.0)
                await send(client, twin, "StoreAndStart", order)
                await step_until(twin, watch, tev.OperationStarted)
                assert (await call(method, job_id)).StatusCode.is_good()
                early = await call("Clear", job_id)
                assert early.StatusCode.value == ua.StatusCodes.BadInvalidState
                assert (
                    f"{job_id!r} is Running; only Ended or Aborted job orders can be cleared"
                    in early.InputArgumentDiagnosticInfos[0].AdditionalInfo
                )
                assert job_id in await job_orders(client, twin)
                await step_until(twin, watch, ending)
                entry = (await job_orders(client, twin))[job_id]
                assert entry.State[0].StateNumber == state
                cleared = await call("Clear", job_id)
                assert cleared.StatusCode.is_good(), cleared.InputArgumentDiagnosticInfos
                assert job_id not in await job_orders(client, twin)
                assert job_id not in await responses(client, twin)
                again = await call("Clear", job_id)
                assert again.StatusCode.value == ua.StatusCodes.BadInvalidArgument
