"""An accepted job order is never lost: ``twin run`` is killed (SIGKILL) after an MES sent it
orders over OPC UA, ``twin run --resume`` restores them and the cell processes them, orders
only stored (ISA-95 Store, not started) included."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
from asyncua import Client, Node, ua
from asyncua.common.subscription import Subscription

from opcua_server.nodesets import NS
from tests.conftest import SCENARIOS
from tests.opcua.conftest import job_order, mes_comment, raw_call, run_args, start_cli
from tests.opcua.jobs_client import ABORTED, ENDED, NOT_ALLOWED_TO_START
from twin.engine.replay import read_log

SCENARIO = SCENARIOS / "default.toml"
PLA = {"type": "printed_housing", "material": "pla", "volume_cm3": 9.0}
T = TypeVar("T")


def _commands(out: Path) -> list[dict[str, Any]]:
    """The command lines on disk now (read by another handle than the twin's)."""
    lines = (out / "events.jsonl").read_bytes().splitlines()
    return [e for e in map(orjson.loads, lines) if e["type"] == "command"]


@contextlib.asynccontextmanager
async def _mes(url: str) -> AsyncIterator[tuple[Client, int, int, Node]]:
    """An MES session on the twin at ``url``: the client, the twin's and the ISA-95
    namespace indexes, and JobOrderControl."""
    async with Client(url, timeout=10) as client:
        await client.load_data_type_definitions()
        twin_ns = await client.get_namespace_index(NS.TWIN)
        isa95 = await client.get_namespace_index(NS.ISA95_JOBCONTROL)
        control = client.get_node(ua.NodeId("Cell.JobManagement.JobOrderControl", twin_ns))
        yield client, twin_ns, isa95, control


class _Changes:
    """Subscription handler: every new value of the node, in order."""

    def __init__(self) -> None:
        self.values: asyncio.Queue[Any] = asyncio.Queue()

    def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
        self.values.put_nowait(value)


async def _watch(client: Client, node: Node) -> tuple[_Changes, Subscription]:
    """Every new value of ``node``, in order, from a subscription (delete it when done)."""
    changes = _Changes()
    subscription = await client.create_subscription(50, changes)
    await subscription.subscribe_data_change(node)
    return changes, subscription


def _job_list(client: Client, twin_ns: int) -> Node:
    return client.get_node(ua.NodeId("Cell.JobManagement.JobOrderControl.JobOrderList", twin_ns))


async def _before_and_after_resume(
    tmp_path: Path, run: Callable[[str], Awaitable[T]], read: Callable[[str], Awaitable[T]]
) -> tuple[T, T]:
    """What ``run(url)`` returned on a ``twin run`` of the default scenario at speed 3000
    (anonymous sessions, files in ``tmp_path``), stopped cleanly after it, and what
    ``read(url)`` returned on its ``twin run --resume`` at speed 1."""
    args = ["--insecure-dev", *run_args(tmp_path), "--telemetry", "none"]
    first = await start_cli(str(SCENARIO), "--speed", "3000", *args)
    try:
        before = await run(first.url)
        await first.stop()
    finally:
        await first.kill()
    second = await start_cli(str(SCENARIO), "--resume", "--speed", "1", *args)
    try:
        after = await read(second.url)
        await second.stop()
    finally:
        await second.kill()
    return before, after


def _ended(states: dict[str, int], *jobs: str) -> bool:
    return all(states.get(job) in (ENDED, ABORTED) for job in jobs)


async def test_orders_survive_a_kill(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # --insecure-dev without a users file: anonymous sessions may control the twin
    args = ["--insecure-dev", *run_args(tmp_path, out), "--telemetry", "none"]
    first = await start_cli(str(SCENARIO), "--resume", "--speed", "60", *args)
    try:
        assert f"--resume: no event log in {out}, starting afresh" in first.banner
        async with _mes(first.url) as (client, twin_ns, isa95, control):
            cell = client.get_node(ua.NodeId("Cell", twin_ns))
            order = json.dumps({"id": "MES-K1", "due": "8h", "product": PLA})
            submitted = await raw_call(client, cell, f"{twin_ns}:SubmitOrder", ua.Variant(order))
            assert submitted.StatusCode.is_good()
            assert [c["args"]["job"] for c in _commands(out)] == ["MES-K1"]  # on disk already
            for method, job in (("StoreAndStart", "MES-K2"), ("Store", "MES-K3")):
                isa = ua.Variant(job_order(None, job, **PLA))
                result = await raw_call(client, control, f"{isa95}:{method}", isa, mes_comment())
                assert result.StatusCode.is_good(), method
        commands = [(c["command"], c["args"]["job"]) for c in _commands(out)]
        assert commands == [
            ("submit_order", "MES-K1"),
            ("submit_order", "MES-K2"),
            ("store_order", "MES-K3"),
        ]
    finally:
        await first.kill()  # SIGKILL: no clean shutdown
    old = (out / "events.jsonl").read_bytes()
    complete = old[: old.rindex(b"\n") + 1]
    info = json.loads((out / "run.json").read_text())
    assert info["scenario"] == str(SCENARIO)
    assert info["scenario_sha256"] == hashlib.sha256(SCENARIO.read_bytes()).hexdigest()
    assert (info["seed"], info["rule"]) == (42, "EDD")
    assert dt.datetime.fromisoformat(info["sim_start"]) < dt.datetime.now(dt.UTC)

    second = await start_cli(str(SCENARIO), "--resume", "--port", "0", "--speed", "10000", *args)
    try:
        last_t = orjson.loads(complete.splitlines()[-1])["t"]
        assert f"resuming at simulated time {last_t:.1f} s" in second.banner
        assert f"restored 3 commands from {out / 'events.jsonl'}" in second.banner
        async with _mes(second.url) as (client, twin_ns, isa95, control):
            changes, subscription = await _watch(client, _job_list(client, twin_ns))
            first_list = await changes.values.get()
            seen = [{e.JobOrder.JobOrderID: e.State[0].StateNumber for e in first_list}]
            # restored, listed from the start; the stored one still waits for Start, with
            # the parameters the MES sent (and the product's defaults for the others)
            assert {"MES-K1", "MES-K2"} <= seen[0].keys()
            assert seen[0]["MES-K3"] == NOT_ALLOWED_TO_START
            (k3,) = (e.JobOrder for e in first_list if e.JobOrder.JobOrderID == "MES-K3")
            params = {p.ID: p.Value.Value for p in k3.JobOrderParameters}
            assert PLA.items() <= params.items()
            assert params["layer_height_mm"] == 0.2
            start = await raw_call(
                client, control, f"{isa95}:Start", ua.Variant("MES-K3"), mes_comment()
            )
            assert start.StatusCode.is_good()
            async with asyncio.timeout(180):  # about 20 simulated days at this speed
                while not _ended(seen[-1], "MES-K1", "MES-K2", "MES-K3"):
                    entries = await changes.values.get()
                    seen.append({e.JobOrder.JobOrderID: e.State[0].StateNumber for e in entries})
            await subscription.delete()
        rest = await second.stop()
    finally:
        await second.kill()
    assert "stopped at simulated time" in rest
    assert (out / "events.prev.jsonl").read_bytes() == old
    new = (out / "events.jsonl").read_bytes()
    assert new.startswith(complete)
    events = [orjson.loads(line) for line in new[len(complete) :].splitlines()]
    ended = {e["job"] for e in events if e["type"] in ("job_completed", "job_scrapped")}
    assert {"MES-K1", "MES-K2", "MES-K3"} <= ended
    # a clean stop is logged where the twin stopped: a later --resume goes on from there
    stop = events[-1]
    assert stop["type"] == "command"
    assert stop["command"] == "stop"
    snapshot = orjson.loads((out / "snapshot.json").read_bytes())
    assert stop["t"] == snapshot["t"]
    assert read_log(out / "events.jsonl").resume_at == snapshot["t"]
