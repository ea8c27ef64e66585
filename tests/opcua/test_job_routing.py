"""What an MES reads of a job order in JobOrderList it can send back: an order with an explicit
routing (machine and duration per operation, listed as JSON text in ``operations``) stored,
updated and echoed through ISA-95 Job Control is the same order; a routing that is no JSON, of
the wrong shape, on a machine the cell does not have or with a negative or non-finite duration
is refused naming the parameter, as is an EndTime before the twin's simulated start."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from asyncua import ua

from tests.opcua.conftest import Twin, job_order, last_result, mes_comment
from tests.opcua.jobs_client import control_call, job_orders, send
from twin.model import ExplicitSpec

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROUTING = [
    {"machine": "cnc1", "duration": 600.0},
    {"machine": "printer1", "duration": 1800.0, "name": "print"},
    {"machine": "vision1", "duration": 90.5},
]


def explicit(twin: Twin, job_id: str, operations: str) -> Any:
    """A job order of an explicit routing, its operations as the JSON text ``operations``."""
    order = job_order(twin, job_id)
    order.JobOrderParameters = [
        ua.ISA95ParameterDataType(ID="type", Value=ua.Variant("explicit")),
        ua.ISA95ParameterDataType(ID="operations", Value=ua.Variant(operations)),
    ]
    return order


def operations_of(order: Any) -> list[dict[str, Any]]:
    """The routing of a job order read from JobOrderList."""
    listed = {p.ID: p.Value for p in order.JobOrderParameters}
    assert listed["type"].Value == "explicit"
    assert listed["operations"].VariantType == ua.VariantType.String
    decoded: list[dict[str, Any]] = json.loads(listed["operations"].Value)
    return decoded


async def test_a_listed_explicit_order_sent_back_is_the_same_order(twin: Twin) -> None:
    """An order of another source (``twin.api``), read from JobOrderList and sent back as it
    is: Update leaves it the same order (its weight too, which ISA-95 does not carry), Store
    under another id stores the same product and due date; a duration changed in the JSON
    text is the only change an Update makes."""
    product = {"type": "explicit", "operations": ROUTING}
    original = twin.api.store_order(
        {"id": "API-EXP-1", "due": 90000.0, "weight": 3.0, "product": product}
    )
    before = twin.engine.stored[original].model_dump()
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        listed = (await job_orders(client, twin))["API-EXP-1"].JobOrder
        assert operations_of(listed) == ROUTING

        await send(client, twin, "Update", listed)
        assert twin.engine.stored["API-EXP-1"].model_dump() == before

        again = copy.deepcopy(listed)
        again.JobOrderID = "MES-EXP-COPY"
        await send(client, twin, "Store", again)
        copied = {**before, "id": "MES-EXP-COPY", "weight": 1.0}
        assert twin.engine.stored["MES-EXP-COPY"].model_dump() == copied

        changed = copy.deepcopy(ROUTING)
        changed[2]["duration"] = 120.0
        params = {p.ID: p for p in listed.JobOrderParameters}
        params["operations"].Value = ua.Variant(json.dumps(changed))
        await send(client, twin, "Update", listed)
        updated = twin.engine.stored["API-EXP-1"]
        assert isinstance(updated.product, ExplicitSpec)
        assert [op.model_dump(exclude_unset=True) for op in updated.product.operations] == changed
        assert (updated.due, updated.weight) == (before["due"], 3.0)
        # the MES's own structure is listed back as it sent it
        echoed = (await job_orders(client, twin))["API-EXP-1"].JobOrder
        assert operations_of(echoed) == changed
        for job_id in ("API-EXP-1", "MES-EXP-COPY"):
            cancelled = await control_call(client, twin, "Cancel", ua.Variant(job_id))
            assert cancelled.StatusCode.is_good()


async def test_an_explicit_order_started_runs_its_routing(
    twin: Twin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """StoreAndStart of an explicit routing: the job has the operations sent, machine by
    machine (durations as the scenario format takes them, a number or a text such as "5m");
    listed AllowedToStart, it can be echoed in an Update while it waits: the same order."""
    monkeypatch.setattr(twin.engine, "max_wip", twin.engine.wip)  # started orders wait
    routing = [{"machine": "cnc1", "duration": "5m"}, {"machine": "vision1", "duration": 60}]
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        order = explicit(twin, "MES-EXP-RUN", json.dumps(routing))
        await send(client, twin, "StoreAndStart", order)
        job = twin.engine.jobs["MES-EXP-RUN"]
        assert job.state == "backlog"
        assert isinstance(job.spec, ExplicitSpec)
        assert [op.machine for op in job.spec.operations] == ["cnc1", "vision1"]
        assert [op.duration for op in job.spec.operations] == [300.0, 60.0]
        spec, due = job.spec.model_dump(), job.due
        listed = (await job_orders(client, twin))["MES-EXP-RUN"].JobOrder
        await send(client, twin, "Update", listed)
        assert (job.spec.model_dump(), job.due) == (spec, due)
        aborted = await control_call(client, twin, "Abort", ua.Variant("MES-EXP-RUN"))
        assert aborted.StatusCode.is_good()


_WHERE = "JobOrder: JobOrderParameters[1]"
_SHAPE = (
    'expected a JSON array of operations, each {"machine": "<machine id>", "duration":'
    ' <seconds, or a duration such as "5m">}'
)


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        pytest.param(
            '[{"machine": "cnc1", "duration": 60}',
            f"{_WHERE} (operations): not valid JSON (Expecting ',' delimiter at 36); {_SHAPE}",
            id="bad-json",
        ),
        pytest.param(
            '[{"machine": "lathe9", "duration": 60}]',
            # in the cell's order, as the Python API's errors (inject_fault) list them
            f"{_WHERE} (operations[0].machine): unknown machine 'lathe9' (cell has: cnc1,"
            " robot1, printer1, vision1)",
            id="unknown-machine",
        ),
        pytest.param(
            '[{"machine": "cnc1", "duration": 60}, {"machine": "vision1", "duration": -5}]',
            f"{_WHERE} (operations[1].duration): duration must not be negative, got -5",
            id="negative-duration",
        ),
        pytest.param(
            '[{"machine": "cnc1", "duration": Infinity}]',
            f"{_WHERE} (operations[0].duration): duration must be a finite number, got inf",
            id="infinite-duration",
        ),
        pytest.param(
            '[{"machine": "cnc1", "duration": NaN}]',
            f"{_WHERE} (operations[0].duration): duration must be a finite number, got nan",
            id="nan-duration",
        ),
        pytest.param(
            '{"machine": "cnc1", "duration": 60}',
            f"{_WHERE} (operations): Input should be a valid list; {_SHAPE}",
            id="object-for-the-array",
        ),
        pytest.param(
            "[60, 120]",
            f"{_WHERE} (operations[0]): Input should be a valid dictionary or instance of"
            f" ExplicitOperation (and 1 more error); {_SHAPE}",
            id="numbers-for-operations",
        ),
        pytest.param(
            "[]",
            f"{_WHERE} (operations): List should have at least 1 item after validation, not 0;"
            f" {_SHAPE}",
            id="no-operations",
        ),
        pytest.param(
            '[{"machine": "cnc1"}]',
            f"{_WHERE} (operations[0].duration): field required",
            id="no-duration",
        ),
        pytest.param(
            ua.Variant(3, ua.VariantType.Int32),
            f"{_WHERE} (operations): expected String (a JSON array of operations, each"
            ' {"machine": "<machine id>", "duration": <seconds, or a duration such as "5m">}),'
            " got Int32",
            id="number-for-the-text",
        ),
    ],
)
async def test_a_bad_routing_is_refused_naming_the_parameter(
    twin: Twin, request: pytest.FixtureRequest, operations: str | ua.Variant, message: str
) -> None:
    """Store, StoreAndStart and Update refuse it with BadInvalidArgument, the message in the
    job order's diagnostic info and in LastCommandResult; nothing is stored, started or
    updated."""
    case = request.node.callspec.id
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        kept = explicit(twin, f"MES-EXP-KEPT-{case}", json.dumps(ROUTING))
        await send(client, twin, "Store", kept)
        stored, received = dict(twin.engine.stored), twin.engine.received
        for method, job_id in (
            ("Store", f"MES-EXP-BAD-{case}"),
            ("StoreAndStart", f"MES-EXP-BAD-{case}"),
            ("Update", kept.JobOrderID),
        ):
            order = explicit(twin, job_id, "[]")
            order.JobOrderParameters[1].Value = (
                operations if isinstance(operations, ua.Variant) else ua.Variant(operations)
            )
            result = await control_call(client, twin, method, ua.Variant(order), mes_comment())
            assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument, method
            assert result.InputArgumentResults[0].value == ua.StatusCodes.BadInvalidArgument
            diagnostic = result.InputArgumentDiagnosticInfos[0].AdditionalInfo
            assert diagnostic == f"{method}: {message}"
            assert await last_result(client, twin) == f"{method}: {message}"
            assert (twin.engine.stored, twin.engine.received) == (stored, received)
            assert f"MES-EXP-BAD-{case}" not in twin.engine.jobs
        cancelled = await control_call(client, twin, "Cancel", ua.Variant(kept.JobOrderID))
        assert cancelled.StatusCode.is_good()


async def test_an_end_time_before_the_simulated_start_is_refused(twin: Twin) -> None:
    """An EndTime before simulated time 0 (an MES clock or time zone off: the twin's
    simulated clock runs ahead of the wall clock) is refused naming EndTime, for Store,
    StoreAndStart and Update, instead of becoming due at the start without a word; at the
    start it is due 0, after it a late order as the twin takes one."""
    start = twin.driver.wall_time(0.0)
    async with twin.session("otto") as client:
        await client.load_data_type_definitions()
        kept = job_order(twin, "MES-END-KEPT", type="printed_housing")
        await send(client, twin, "Store", kept)
        due = twin.engine.stored["MES-END-KEPT"].due
        stored, received = dict(twin.engine.stored), twin.engine.received
        early = start - dt.timedelta(hours=1, milliseconds=500)
        shown = early.isoformat(timespec="milliseconds")
        message = (
            f"JobOrder: EndTime: {shown.replace('+00:00', 'Z')} is before the twin's simulated"
            f" start ({start.isoformat(timespec='milliseconds').replace('+00:00', 'Z')},"
            " simulated time 0); give a later EndTime, or none for a due date from the"
            " order's planned work"
        )
        for method, job_id in (
            ("Store", "MES-END-EARLY"),
            ("StoreAndStart", "MES-END-EARLY"),
            ("Update", "MES-END-KEPT"),
        ):
            order = job_order(twin, job_id, type="printed_housing")
            order.EndTime = early
            result = await control_call(client, twin, method, ua.Variant(order), mes_comment())
            assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument, method
            diagnostic = result.InputArgumentDiagnosticInfos[0].AdditionalInfo
            assert diagnostic == f"{method}: {message}"
            assert await last_result(client, twin) == f"{method}: {message}"
            assert (twin.engine.stored, twin.engine.received) == (stored, received)
        assert twin.engine.stored["MES-END-KEPT"].due == due

        at_start = job_order(twin, "MES-END-ZERO", type="printed_housing")
        at_start.EndTime = start
        await send(client, twin, "Store", at_start)
        assert twin.engine.stored["MES-END-ZERO"].due == 0.0
        assert twin.engine.now > 30.0
        late = job_order(twin, "MES-END-LATE", type="printed_housing")
        late.EndTime = start + dt.timedelta(seconds=30)
        await send(client, twin, "Store", late)
        assert twin.engine.stored["MES-END-LATE"].due == 30.0
        for job_id in ("MES-END-KEPT", "MES-END-ZERO", "MES-END-LATE"):
            cancelled = await control_call(client, twin, "Cancel", ua.Variant(job_id))
            assert cancelled.StatusCode.is_good()
