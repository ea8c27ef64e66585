"""Publisher: published signals are readable and reach subscriptions, with their timestamps.

An asyncua server on a free loopback port (port 0), an asyncua client, a handful of variables.
Synchronisation is by awaiting the notifications themselves (``asyncio.wait_for`` only bounds a
failure); server timestamps come from a ManualClock so they are exact.

One server serves the whole module (starting one costs over a second, stopping it as much
again); each test gets a namespace of its own with fresh nodes, its own store, clock and
publisher, and leaves no nodes, subscription or publisher hook behind.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from asyncua import Client, Node, Server, ua
from asyncua.ua.ua_binary import struct_to_binary

from opcua_server._publish_encode import ENCODABLE, cast_values, encode_items, unix_to_ticks
from opcua_server._publish_phase import PhaseKeeper
from opcua_server.publisher import Publisher
from twin.clock import ManualClock
from twin.signals import GOOD, STALE, SignalSpec, SignalStore

EPOCH = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
TYPES = [ua.VariantType.Double] * 4 + [ua.VariantType.Int32, ua.VariantType.Boolean]
INITIAL = {ua.VariantType.Double: 0.0, ua.VariantType.Int32: 0, ua.VariantType.Boolean: False}
FAILSAFE = 10.0  # seconds: only bounds a failing wait, never used to synchronise


@dataclass
class Rig:
    server: Server
    url: str
    store: SignalStore
    block: slice
    publisher: Publisher
    nodes: list[ua.NodeId]
    plain: ua.NodeId
    clock: ManualClock


class Collector:
    """Subscription handler: every data change into a queue as (nodeid, DataValue)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[ua.NodeId, ua.DataValue]] = asyncio.Queue()

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        self.queue.put_nowait((node.nodeid, data.monitored_item.Value))

    async def take(self, n: int) -> dict[ua.NodeId, ua.DataValue]:
        out: dict[ua.NodeId, ua.DataValue] = {}
        for _ in range(n):
            nid, dv = await asyncio.wait_for(self.queue.get(), FAILSAFE)
            out[nid] = dv
        return out


#: the tests on the module's server: its event loop lives as long as the server
SHARED = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Shared:
    server: Server
    url: str
    spaces: Iterator[int]  # numbers the tests' namespaces


@dataclass
class Space:
    """One test's part of the shared server: a namespace new to it and a folder there."""

    server: Server
    ns: int
    folder: Node


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared() -> AsyncIterator[Shared]:
    server = Server()
    await server.init()
    server.set_endpoint("opc.tcp://127.0.0.1:0")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    async with server:
        assert server.bserver is not None
        yield Shared(server, f"opc.tcp://127.0.0.1:{server.bserver.port}", itertools.count())


@pytest_asyncio.fixture(loop_scope="module")
async def space(shared: Shared) -> AsyncIterator[Space]:
    """A namespace new to the shared server and a Signals folder there, for one test.

    Afterwards the folder goes, with everything the test added in it, and so does every
    subscription still on the server (a server-side one of a failed test, say).
    """
    server = shared.server
    ns = await server.register_namespace(f"urn:cell-twin:test:publisher:{next(shared.spaces)}")
    folder = await server.nodes.objects.add_folder(ua.NodeId("Signals", ns), "Signals")
    yield Space(server, ns, folder)
    subscriptions = server.iserver.subscription_service
    await subscriptions.delete_subscriptions(list(subscriptions.subscriptions))
    await server.delete_nodes([folder], recursive=True)


@pytest_asyncio.fixture(loop_scope="module")
async def rig(shared: Shared, space: Space) -> AsyncIterator[Rig]:
    server, ns, folder = space.server, space.ns, space.folder
    nodes = []
    for i, vt in enumerate(TYPES):
        var = await folder.add_variable(ua.NodeId(f"s{i}", ns), f"s{i}", INITIAL[vt], vt)
        nodes.append(var.nodeid)
    plain = (await folder.add_variable(ua.NodeId("plain", ns), "plain", 0.0)).nodeid
    store = SignalStore()
    store.register("unmapped", SignalSpec("unmapped", "", 0, 1))
    block = store.register_block("m", [SignalSpec(f"s{i}", "", 0, 100) for i in range(len(TYPES))])
    clock = ManualClock(wall_start=datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    mapping = {block.start + i: nid for i, nid in enumerate(nodes)}
    publisher = Publisher(server, store, mapping, epoch=EPOCH, clock=clock)
    await publisher.start()
    try:
        yield Rig(server, shared.url, store, block, publisher, nodes, plain, clock)
    finally:
        await publisher.stop()
        # the next test's publisher must find asyncua's own methods, not this one's wrappers
        assert not hooks_left(server), "publisher hooks left behind"


#: what a publisher puts on the address space while it runs (its subscription tracker)
HOOKS = {"add_datachange_callback", "delete_datachange_callback"}


def hooks_left(server: Server) -> set[str]:
    """The publisher's hooks still on ``server``'s address space."""
    return HOOKS & vars(server.iserver.aspace).keys()


def publish(rig: Rig, values: list[float], t: float) -> int:
    """Write the block at sim time ``t`` and publish what changed; returns the batch size."""
    version = rig.store.version
    rig.store.write_block(rig.block, np.asarray(values, dtype=np.float64), t)
    batch = rig.store.changes_since(version)
    rig.publisher.publish(batch)
    return len(batch)


def publish_quality(rig: Rig, positions: list[int], quality: int, t: float | None = None) -> int:
    """Set the quality of block signals ``positions`` and publish what changed."""
    version = rig.store.version
    rig.store.set_quality(np.array(positions) + rig.block.start, quality, t)
    batch = rig.store.changes_since(version)
    rig.publisher.publish(batch)
    return len(batch)


UNCERTAIN = ua.StatusCodes.UncertainLastUsableValue


def expected(vt: ua.VariantType, value: float) -> Any:
    return {ua.VariantType.Int32: round(value), ua.VariantType.Boolean: value != 0}.get(vt, value)


async def subscribe(client: Client, nodes: list[ua.NodeId], **kwargs: Any) -> tuple[Collector, Any]:
    handler = Collector()
    sub = await client.create_subscription(50, handler)
    await sub.subscribe_data_change([client.get_node(n) for n in nodes], queuesize=1, **kwargs)
    return handler, sub


@SHARED
async def test_reads_return_published_values_and_timestamps(rig: Rig) -> None:
    rig.clock.advance(12.5)
    assert publish(rig, [1.5, 2.5, 3.5, 4.5, 41.6, 1.0], t=30.123457) == 6
    async with Client(rig.url) as client:
        for nid, vt, v in zip(rig.nodes, TYPES, [1.5, 2.5, 3.5, 4.5, 41.6, 1.0], strict=True):
            dv = await client.get_node(nid).read_data_value()
            assert dv.Value is not None
            assert dv.Value.VariantType == vt
            assert dv.Value.Value == expected(vt, v)
            assert dv.SourceTimestamp == EPOCH + timedelta(seconds=30.123457)
            assert dv.ServerTimestamp == rig.clock.wall()


@SHARED
async def test_subscriptions_receive_published_values_with_source_timestamps(rig: Rig) -> None:
    async with Client(rig.url) as client:
        handler, _ = await subscribe(client, rig.nodes)
        initial = await handler.take(len(rig.nodes))  # each item's initial value
        assert set(initial) == set(rig.nodes)

        values = [10.0, 20.0, 30.0, 40.0, -7.0, 0.0]  # the Boolean stays False: no change
        publish(rig, values, t=60.0)
        got = await handler.take(len(rig.nodes) - 1)
        assert set(got) == set(rig.nodes[:-1])
        for nid, vt, v in zip(rig.nodes[:-1], TYPES, values, strict=False):
            assert got[nid].Value is not None
            assert got[nid].Value.Value == expected(vt, v)
            assert got[nid].SourceTimestamp == EPOCH + timedelta(seconds=60.0)
            assert got[nid].ServerTimestamp == rig.clock.wall()

        # two steps with no await between them fall into one publishing cycle: each changed
        # item is reported once, with its latest value
        publish(rig, [11.0, 20.0, 30.0, 40.0, -7.0, 0.0], t=61.0)
        publish(rig, [12.0, 20.0, 30.0, 40.0, -7.0, 1.0], t=62.0)
        got = await handler.take(2)
        assert set(got) == {rig.nodes[0], rig.nodes[5]}
        assert got[rig.nodes[0]].Value is not None
        assert got[rig.nodes[0]].Value.Value == 12.0
        assert got[rig.nodes[5]].Value is not None
        assert got[rig.nodes[5]].Value.Value is True
        assert got[rig.nodes[0]].SourceTimestamp == EPOCH + timedelta(seconds=62.0)
        assert handler.queue.empty()


@SHARED
async def test_batch_without_changes_writes_nothing(rig: Rig) -> None:
    publish(rig, [1.0, 2.0, 3.0, 4.0, 5.0, 1.0], t=1.0)
    async with Client(rig.url) as client:
        handler, _ = await subscribe(client, rig.nodes)
        await handler.take(len(rig.nodes))
        before = rig.publisher.published
        read_before = await client.get_node(rig.nodes[0]).read_data_value()

        assert publish(rig, [1.0, 2.0, 3.0, 4.0, 5.0, 1.0], t=2.0) == 0  # same values: empty batch
        rig.publisher.publish(rig.store.changes_since(rig.store.version))  # explicitly empty
        assert rig.publisher.published == before
        assert await client.get_node(rig.nodes[0]).read_data_value() == read_before

        # the next real change of one signal is the only thing any cycle delivers: had the empty
        # batches notified anything, it would arrive first (or in the same message)
        publish(rig, [1.0, 2.0, 3.0, 9.0, 5.0, 1.0], t=3.0)
        got = await handler.take(1)
        assert list(got) == [rig.nodes[3]]
        assert handler.queue.empty()
        assert got[rig.nodes[3]].SourceTimestamp == EPOCH + timedelta(seconds=3.0)


@SHARED
async def test_published_and_plain_changes_are_both_reported(rig: Rig) -> None:
    async with Client(rig.url) as client:
        handler, _ = await subscribe(client, [*rig.nodes, rig.plain])
        await handler.take(len(rig.nodes) + 1)
        await rig.server.get_node(rig.plain).write_value(99.0)
        publish(rig, [5.0, 0.0, 0.0, 0.0, 0.0, 0.0], t=5.0)
        got = await handler.take(2)
        assert got[rig.plain].Value is not None
        assert got[rig.plain].Value.Value == 99.0
        assert got[rig.nodes[0]].Value is not None
        assert got[rig.nodes[0]].Value.Value == 5.0


@SHARED
async def test_deadband_and_disabled_items_are_respected(rig: Rig) -> None:
    publish(rig, [10.0, 0.0, 0.0, 0.0, 0.0, 0.0], t=1.0)
    async with Client(rig.url) as client:
        handler = Collector()
        sub = await client.create_subscription(50, handler)
        node = client.get_node
        await sub.deadband_monitor(node(rig.nodes[0]), 1.0, queuesize=1)  # absolute deadband 1.0
        await sub.subscribe_data_change(node(rig.nodes[1]), queuesize=1)
        await sub.subscribe_data_change(
            node(rig.nodes[2]), queuesize=1, monitoring=ua.MonitoringMode.Disabled
        )
        await handler.take(2)  # initial values of the two enabled items

        # node 0 moves within its deadband, node 2 is disabled: only node 1 is reported
        publish(rig, [10.5, 1.0, 5.0, 0.0, 0.0, 0.0], t=2.0)
        assert list(await handler.take(1)) == [rig.nodes[1]]
        assert handler.queue.empty()

        publish(rig, [11.5, 1.0, 6.0, 0.0, 0.0, 0.0], t=3.0)  # 1.5 from the last reported 10.0
        got = await handler.take(1)
        assert list(got) == [rig.nodes[0]]
        assert got[rig.nodes[0]].Value is not None
        assert got[rig.nodes[0]].Value.Value == 11.5
        assert handler.queue.empty()


@SHARED
async def test_server_side_subscription_receives_objects(rig: Rig) -> None:
    handler = Collector()
    sub = await rig.server.create_subscription(50, handler)
    await sub.subscribe_data_change([rig.server.get_node(rig.nodes[2])], queuesize=1)
    await handler.take(1)
    publish(rig, [0.0, 0.0, 7.25, 0.0, 0.0, 0.0], t=4.0)
    got = await handler.take(1)
    assert got[rig.nodes[2]].Value is not None
    assert got[rig.nodes[2]].Value.Value == 7.25
    assert got[rig.nodes[2]].SourceTimestamp == EPOCH + timedelta(seconds=4.0)
    await sub.delete()


@SHARED
async def test_stop_leaves_last_values_as_plain_attributes(rig: Rig) -> None:
    publish(rig, [3.0, 0.0, 0.0, 0.0, 0.0, 0.0], t=8.0)
    assert hooks_left(rig.server) == HOOKS  # it follows the subscriptions while it runs
    await rig.publisher.stop()
    assert not hooks_left(rig.server)  # and stops following them
    publish(rig, [5.0, 0.0, 0.0, 0.0, 0.0, 0.0], t=9.0)  # stopped: no longer followed
    node = rig.server.get_node(rig.nodes[0])
    dv = await node.read_data_value()
    assert dv.Value is not None
    assert dv.Value.Value == 3.0
    assert dv.SourceTimestamp == EPOCH + timedelta(seconds=8.0)
    await node.write_value(4.0)  # asyncua's own path works again
    assert await node.read_value() == 4.0


@SHARED
async def test_a_stale_signal_is_uncertain_with_its_last_value_and_notified(rig: Rig) -> None:
    publish(rig, [1.5, 2.5, 0.0, 0.0, 7.0, 1.0], t=10.0)
    async with Client(rig.url) as client:
        handler, _ = await subscribe(client, rig.nodes)
        await handler.take(len(rig.nodes))

        rig.clock.advance(3.0)
        assert publish_quality(rig, [0, 4, 5], STALE) == 3  # the PLC link is lost
        got = await handler.take(3)
        assert set(got) == {rig.nodes[0], rig.nodes[4], rig.nodes[5]}  # status alone changed
        for p, value in ((0, 1.5), (4, 7), (5, True)):
            dv = got[rig.nodes[p]]
            assert dv.StatusCode == ua.StatusCode(UNCERTAIN)
            assert dv.Value is not None
            assert dv.Value.Value == value  # the last usable value ...
            assert dv.SourceTimestamp == EPOCH + timedelta(seconds=10.0)  # ... as it was then
            assert dv.ServerTimestamp == rig.clock.wall()
        read = await client.get_node(rig.nodes[0]).read_data_value(raise_on_bad_status=False)
        assert read.StatusCode == ua.StatusCode(UNCERTAIN)
        assert read.SourceTimestamp == EPOCH + timedelta(seconds=10.0)
        assert (await client.get_node(rig.nodes[1]).read_data_value()).StatusCode.is_good()

        # a Good item and a stale one change in the same cycle: one list, each its status
        publish(rig, [1.5, 3.5, 0.0, 0.0, 7.0, 1.0], t=11.0)
        assert publish_quality(rig, [0], STALE) == 0  # still stale: nothing new
        got = await handler.take(1)
        assert list(got) == [rig.nodes[1]]
        assert got[rig.nodes[1]].StatusCode.is_good()

        assert publish_quality(rig, [0, 4, 5], GOOD, t=12.0) == 3  # the link is back
        got = await handler.take(3)
        for p in (0, 4, 5):
            dv = got[rig.nodes[p]]
            assert dv.StatusCode.is_good()
            assert dv.SourceTimestamp == EPOCH + timedelta(seconds=12.0)  # read again then
        assert handler.queue.empty()


@SHARED
async def test_status_trigger_and_deadband_items_see_status_changes(rig: Rig) -> None:
    publish(rig, [10.0, 0.0, 0.0, 0.0, 0.0, 0.0], t=1.0)
    async with Client(rig.url) as client:
        handler = Collector()
        sub = await client.create_subscription(50, handler)
        node = client.get_node
        await sub.deadband_monitor(node(rig.nodes[0]), 5.0, queuesize=1)
        status_only = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.Status)
        await sub._subscribe(node(rig.nodes[1]), mfilter=status_only, queuesize=1)
        await sub.subscribe_data_change(node(rig.nodes[2]), queuesize=1)
        await handler.take(3)

        publish(rig, [11.0, 4.0, 1.0, 0.0, 0.0, 0.0], t=2.0)  # within the deadband; a value
        assert list(await handler.take(1)) == [rig.nodes[2]]  # only the plain item reports
        assert publish_quality(rig, [0, 1], STALE) == 2
        got = await handler.take(2)  # a new status passes the deadband and the Status trigger
        assert set(got) == {rig.nodes[0], rig.nodes[1]}
        assert all(dv.StatusCode == ua.StatusCode(UNCERTAIN) for dv in got.values())
        assert got[rig.nodes[0]].Value.Value == 11.0
        publish_quality(rig, [0, 1], GOOD, t=3.0)
        got = await handler.take(2)
        assert all(dv.StatusCode.is_good() for dv in got.values())
        publish(rig, [11.0, 5.0, 2.0, 0.0, 0.0, 0.0], t=4.0)
        assert list(await handler.take(1)) == [rig.nodes[2]]
        assert handler.queue.empty()


@pytest.mark.parametrize("status", [None, [0, UNCERTAIN, 0, ua.StatusCodes.BadNoCommunication]])
@pytest.mark.parametrize("vt", list(ENCODABLE))
def test_vectorised_encoding_matches_asyncua(vt: ua.VariantType, status: list[int] | None) -> None:
    raw = np.array([0.0, 1.0, 100.4, -3.0 if vt.name[0] != "U" and vt.name != "Byte" else 3.0])
    values = cast_values(vt, raw)
    source = np.array([1.7e9, 1.7e9 + 0.5, 1.8e9, 1.9e9])
    server = source + 0.25  # exact in binary: the test compares encodings, not rounding
    handles = np.array([1, 2, 3, 4_000_000_000], dtype=np.uint32)
    codes = None if status is None else np.array(status, dtype=np.uint32)
    got = encode_items(vt, handles, values, unix_to_ticks(source), unix_to_ticks(server), codes)
    want = b"".join(
        struct_to_binary(
            ua.MonitoredItemNotification(
                ClientHandle=int(h),
                Value=ua.DataValue(
                    Value=ua.Variant(bool(v) if vt == ua.VariantType.Boolean else v.item(), vt),
                    # asyncua leaves out a None status; a list with a status has it in each item
                    StatusCode=None if status is None else ua.StatusCode(int(code)),
                    SourceTimestamp=datetime.fromtimestamp(float(s), UTC),
                    ServerTimestamp=datetime.fromtimestamp(float(sv), UTC),
                ),
            )
        )
        for h, v, s, sv, code in zip(
            handles, values, source, server, status or [0] * 4, strict=True
        )
    )
    assert got == want


@SHARED
async def test_unknown_node_type_is_rejected_at_start(space: Space) -> None:
    var = await space.folder.add_variable(ua.NodeId("text", space.ns), "text", "hello")
    publisher = Publisher(space.server, SignalStore(), {0: var.nodeid})
    with pytest.raises(ValueError, match="only scalar Boolean and numeric"):
        await publisher.start()


@SHARED
async def test_closed_sessions_leave_no_hooks_behind(rig: Rig) -> None:
    for _ in range(3):
        async with Client(rig.url) as client:
            handler, _ = await subscribe(client, rig.nodes[:2])
            await handler.take(2)
            publish(rig, [float(rig.publisher.published + 1), 0.0, 0.0, 0.0, 0.0, 0.0], t=1.0)
            await handler.take(1)
    publish(rig, [100.0, 0.0, 0.0, 0.0, 0.0, 0.0], t=2.0)  # the next batch drops what is gone
    tracker = rig.publisher._tracker
    assert tracker is not None
    assert tracker._subs == {}
    assert tracker._services == {}
    assert tracker._handles == set()


def keeper_with_steps(period: float, n: int = 17, jitter: float = 0.0) -> PhaseKeeper:
    keeper = PhaseKeeper()
    rng = np.random.default_rng(7)
    for k in range(n):
        keeper._steps.append(100.0 + k * period + jitter * rng.uniform(-1, 1))
    return keeper


def test_phase_keeper_moves_only_cycles_that_fall_on_the_steps() -> None:
    p = keeper_with_steps(0.1).period()
    assert p is not None
    assert p == pytest.approx(0.1)
    step = 100.0 + 17 * 0.1
    delay = PhaseKeeper.delay
    assert delay(p, 0.1, cycle=step - 0.005, now=step) == pytest.approx(0.05)  # just before
    assert delay(p, 0.1, cycle=step - 0.095, now=step) == pytest.approx(0.05)  # just after
    assert delay(p, 0.1, cycle=step - 0.05, now=step) is None  # half a period away: fine
    assert delay(p, 0.2, cycle=step - 0.005, now=step) == pytest.approx(0.05)  # 2 steps/cycle
    assert delay(p, 0.15, cycle=step - 0.005, now=step) is None  # not a multiple: drifts
    assert keeper_with_steps(0.1, jitter=0.03).period() is None  # irregular: nothing moves
    assert keeper_with_steps(0.1, n=5).period() is None  # not learnt yet: nothing moves


def test_phase_keeper_learns_steps_without_estimating_when_nothing_subscribes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keeper = keeper_with_steps(0.1)

    def estimated() -> float | None:
        raise AssertionError("period estimated for no subscription")

    monkeypatch.setattr(keeper, "period", estimated)
    keeper.step(101.8, [])
    assert keeper._steps[-1] == 101.8


class FakeSubscription:
    """The parts of asyncua's InternalSubscription the PhaseKeeper touches."""

    def __init__(self) -> None:
        self.data = ua.CreateSubscriptionResult(RevisedPublishingInterval=100.0)
        self._closing = False
        self.loops = 0
        self.started = asyncio.Event()
        self._task: asyncio.Task[None] | None = asyncio.get_running_loop().create_task(
            self._subscription_loop()
        )

    async def _subscription_loop(self) -> None:
        self.loops += 1
        self.started.set()
        await asyncio.Event().wait()  # runs until cancelled, like asyncua's loop


async def test_phase_keeper_restarts_the_publishing_timer() -> None:
    sub = FakeSubscription()
    await asyncio.wait_for(sub.started.wait(), FAILSAFE)
    old = sub._task
    keeper = keeper_with_steps(0.1)
    step = 100.0 + 17 * 0.1
    keeper.cycle(sub, step - 0.005)
    sub.started.clear()
    keeper.step(step, [sub])
    assert sub._task is not old
    await asyncio.wait_for(sub.started.wait(), FAILSAFE)  # the new loop runs...
    assert old is not None
    assert old.cancelled()  # ...after the old one ended
    assert sub.loops == 2
    keeper.cycle(sub, step + 0.095)
    keeper.step(step + 0.1, [sub])
    assert sub.loops == 2  # colliding again, but within the cool-down: left alone
    new = sub._task
    assert new is not None
    new.cancel()  # what InternalSubscription.stop() does
    with pytest.raises(asyncio.CancelledError):
        await new


def test_cast_values_saturate_at_every_integer_width() -> None:
    """Out-of-range values saturate; a 64-bit bound as a float rounds up past the range and
    used to wrap (Int64 1e30 became the most negative value, UInt64 1e30 became 0)."""
    huge = np.array([1e30, -1e30, 7.4])
    for vt, wire in ENCODABLE.items():
        if wire.kind not in "iu" or vt == ua.VariantType.Boolean:
            continue
        info = np.iinfo(wire)
        got = cast_values(vt, huge)
        assert int(got[0]) > info.max // 2, vt
        assert int(got[1]) == info.min, vt
        assert int(got[2]) == 7, vt


def test_the_status_code_of_each_quality_is_opc_uas() -> None:
    """One table (``twin.signals.STATUS_CODE``) for OPC UA values and telemetry lines."""
    from twin.signals import STATUS_CODE

    assert STATUS_CODE[GOOD] == ua.StatusCodes.Good
    assert STATUS_CODE[STALE] == ua.StatusCodes.UncertainLastUsableValue
