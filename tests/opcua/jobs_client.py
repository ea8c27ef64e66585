"""An ISA-95 Job Control client's view of the cell, shared by the job tests: calls on
JobOrderControl and JobOrderResults, the lists by JobOrderID, the states of an entry, and a
watch on one job's events while the test drives the twin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asyncua import Client, ua

from opcua_server.nodesets import NS
from tests.opcua.conftest import Twin, mes_comment, raw_call
from twin import events as tev
from twin.engine.jobs import ENDED_STATES


async def control_call(client: Client, twin: Twin, method: str, *args: ua.Variant) -> Any:
    control = client.get_node(ua.NodeId("Cell.JobManagement.JobOrderControl", twin.ns(NS.TWIN)))
    return await raw_call(client, control, f"{twin.ns(NS.ISA95_JOBCONTROL)}:{method}", *args)


# StateNumbers of ISA95JobOrderReceiverObjectType (OPC 10031-4 nodeset), checked independently
NOT_ALLOWED_TO_START, ALLOWED_TO_START, RUNNING, INTERRUPTED, ENDED, ABORTED = 1, 2, 3, 4, 5, 6
COMPLETED = 1  # ISA95EndedStateMachineType, below EndedSubstates
HELD, SUSPENDED = 1, 2  # ISA95InterruptedStateMachineType, below InterruptedSubstates
ENDED_EVENTS = (tev.JobCompleted, tev.JobScrapped, tev.JobCancelled, tev.JobStopped)
NOT_RUNNING = ("backlog", *ENDED_STATES)


async def send(client: Client, twin: Twin, method: str, order: Any) -> None:
    """Store or StoreAndStart the job order ``order``: the call must succeed."""
    result = await control_call(client, twin, method, ua.Variant(order), mes_comment())
    assert result.StatusCode.is_good(), result.InputArgumentDiagnosticInfos


async def results_call(client: Client, twin: Twin, method: str, *args: ua.Variant) -> Any:
    results = client.get_node(ua.NodeId("Cell.JobManagement.JobOrderResults", twin.ns(NS.TWIN)))
    return await raw_call(client, results, f"{twin.ns(NS.ISA95_JOBCONTROL)}:{method}", *args)


async def job_orders(client: Client, twin: Twin) -> dict[str, Any]:
    """JobOrderList by JobOrderID."""
    node = client.get_node(
        ua.NodeId("Cell.JobManagement.JobOrderControl.JobOrderList", twin.ns(NS.TWIN))
    )
    return {entry.JobOrder.JobOrderID: entry for entry in await node.read_value()}


async def responses(client: Client, twin: Twin) -> dict[str, Any]:
    node = client.get_node(
        ua.NodeId("Cell.JobManagement.JobOrderResults.JobOrderResponseList", twin.ns(NS.TWIN))
    )
    return {r.JobOrderID: r for r in await node.read_value()}


def states_of(entry_states: list[Any]) -> list[tuple[int, str]]:
    """(StateNumber, BrowsePath) of each state entry, the path as its browse names."""
    return [
        (
            s.StateNumber,
            "/".join(e.TargetName.Name for e in (s.BrowsePath.Elements or [])),
        )
        for s in entry_states
    ]


class Watch:
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

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StateLog:
    """The top-level states (StateNumber) one job order went through in JobOrderList, as a
    client reading the list after each step sees them (each change once)."""

    def __init__(self, client: Client, twin: Twin, job_id: str, seen: list[int]) -> None:
        self.client, self.twin, self.job_id = client, twin, job_id
        self.seen = seen  # the states so far, the current one last

    async def record(self) -> None:
        entry = (await job_orders(self.client, self.twin)).get(self.job_id)
        if entry is not None and entry.State[0].StateNumber != self.seen[-1]:
            self.seen.append(entry.State[0].StateNumber)


async def drive(
    twin: Twin, done: Callable[[], bool], what: str, log: StateLog | None = None
) -> None:
    """Drive the twin five simulated minutes at a time until ``done()`` (bounded: two
    simulated days; ``what`` names the awaited change in the failure), then apply every
    address-space update; ``log`` records the job order's state after each step."""
    for _ in range(12 * 24 * 2):
        if done():
            await twin.server.settle()  # also when nothing was stepped
            return
        await twin.step(5.0)  # 5 wall seconds at speed 60: five simulated minutes
        if log is not None:
            await log.record()
    raise AssertionError(f"{what} not within two simulated days")


async def step_until(twin: Twin, watch: Watch, kind: Any, log: StateLog | None = None) -> Any:
    """``drive`` until ``watch`` sees an event of ``kind``; returns the first one."""
    await drive(twin, lambda: watch.first(kind) is not None, f"{watch.job_id}: {kind}", log)
    return watch.first(kind)


def response_data(response: Any) -> dict[str, Any]:
    return {p.ID: p.Value.Value for p in response.JobResponseData}


def ua_state(number: int) -> Any:
    state = ua.ISA95StateDataType()
    state.StateNumber = number
    return state


async def by_state(client: Client, twin: Twin, *numbers: int) -> list[str]:
    """JobOrderIDs answered by RequestJobResponseByJobOrderState for a state (and substates)."""
    states = ua.Variant([ua_state(n) for n in numbers])
    result = await results_call(client, twin, "RequestJobResponseByJobOrderState", states)
    assert result.StatusCode.is_good()
    return [r.JobOrderID for r in result.OutputArguments[0].Value]
