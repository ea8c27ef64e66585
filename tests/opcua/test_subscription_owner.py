"""A session serves only its own subscriptions: a viewer naming an engineer's subscription id
(ids are counted up, easy to guess) gets BadSubscriptionIdInvalid from every subscription
service and from ConditionRefresh, and TransferSubscriptions moves a subscription only to a
session of the same user (BadUserAccessDenied otherwise). The engineer's subscription goes on
publishing throughout."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from asyncua import Client, ua
from asyncua.common.subscription import Subscription
from asyncua.ua.ua_binary import struct_from_binary

from opcua_server.nodesets import NS
from tests.conftest import assert_public_surface_is_all
from tests.opcua.conftest import Twin

ASYNC = pytest.mark.asyncio(loop_scope="module")

INVALID = ua.StatusCodes.BadSubscriptionIdInvalid


def test_public_surface_is_all() -> None:
    assert_public_surface_is_all("opcua_server.sessions")


class _Changes:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue()

    def datachange_notification(self, node: Any, value: Any, data: Any) -> None:
        self.queue.put_nowait(value)


@dataclass
class _Owned:
    """The engineer's session, its subscription and the id of its monitored item."""

    client: Client
    sub: Subscription
    item: int
    changes: _Changes

    @property
    def id(self) -> int:
        return int(self.sub.subscription_id)

    async def alive(self, twin: Twin) -> None:
        """The subscription still publishes (SimTime changes at each step)."""
        while not self.changes.queue.empty():
            self.changes.queue.get_nowait()
        await twin.step(1.0)
        await twin.refresh_cell()
        await asyncio.wait_for(self.changes.queue.get(), 10)


@pytest_asyncio.fixture(loop_scope="module")
async def erin(twin: Twin) -> AsyncIterator[_Owned]:
    async with twin.session("erin") as client:
        changes = _Changes()
        sub = await client.create_subscription(50, changes)
        ns = twin.ns(NS.TWIN)
        sim_time = await client.nodes.objects.get_child([f"{ns}:Cell", f"{ns}:SimTime"])
        item = await sub.subscribe_data_change(sim_time)
        await asyncio.wait_for(changes.queue.get(), 10)  # the initial value
        yield _Owned(client, sub, int(item), changes)


async def _status(call: Any) -> int:
    """The service result of awaiting ``call`` (Good: 0)."""
    try:
        await call
    except ua.UaStatusCodeError as exc:
        return exc.code
    return ua.StatusCodes.Good


@ASYNC
async def test_a_viewer_cannot_touch_another_sessions_subscription(
    twin: Twin, erin: _Owned
) -> None:
    async with twin.session("vera") as vera:
        ua_client = vera.uaclient
        assert await ua_client.delete_subscriptions([erin.id]) == [ua.StatusCode(INVALID)]
        off = ua.SetPublishingModeParameters(PublishingEnabled=False, SubscriptionIds=[erin.id])
        assert await ua_client.set_publishing_mode(off) == [ua.StatusCode(INVALID)]
        modify = ua.ModifySubscriptionParameters(SubscriptionId=erin.id)
        assert await _status(ua_client.update_subscription(modify)) == INVALID
        create = ua.CreateMonitoredItemsParameters(SubscriptionId=erin.id, ItemsToCreate=[])
        assert await _status(ua_client.create_monitored_items(create)) == INVALID
        change = ua.ModifyMonitoredItemsParameters(SubscriptionId=erin.id, ItemsToModify=[])
        assert await _status(ua_client.modify_monitored_items(change)) == INVALID
        delete = ua.DeleteMonitoredItemsParameters(
            SubscriptionId=erin.id, MonitoredItemIds=[erin.item]
        )
        assert await _status(ua_client.delete_monitored_items(delete)) == INVALID
        mode = ua.SetMonitoringModeParameters(
            SubscriptionId=erin.id,
            MonitoringMode=ua.MonitoringMode.Disabled,
            MonitoredItemIds=[erin.item],
        )
        assert await _status(ua_client.set_monitoring_mode(mode)) == INVALID
        assert await _status(ua_client.session.republish(erin.id, 1)) == INVALID
        assert await _set_triggering(vera, erin) == INVALID
        ack = ua.SubscriptionAcknowledgement(SubscriptionId=erin.id, SequenceNumber=1)
        publish = asyncio.wait_for(ua_client.publish([ack]), 5)  # none of its own
        assert await _status(publish) == ua.StatusCodes.BadNoSubscription
        for method in (
            ua.ObjectIds.ConditionType_ConditionRefresh,
            ua.ObjectIds.ConditionType_ConditionRefresh2,
        ):
            assert await _refresh(vera, erin, method) == INVALID
    await erin.alive(twin)
    assert await erin.client.uaclient.delete_monitored_items(delete) == [ua.StatusCode()]


@ASYNC
async def test_refresh_and_acknowledgements_of_its_own_subscription_still_work(
    twin: Twin,
) -> None:
    async with twin.session("vera") as vera:
        sub = await vera.create_subscription(50, _Changes())
        assert await _refresh_own(vera, sub) == ua.StatusCodes.Good
        other = await vera.create_subscription(50, _Changes())
        both = ua.SetPublishingModeParameters(
            PublishingEnabled=True, SubscriptionIds=[sub.subscription_id, 10**6]
        )
        results = await vera.uaclient.set_publishing_mode(both)
        assert results == [ua.StatusCode(), ua.StatusCode(INVALID)]
        assert await vera.uaclient.delete_subscriptions(
            [other.subscription_id, 10**6, sub.subscription_id]
        ) == [ua.StatusCode(), ua.StatusCode(INVALID), ua.StatusCode()]


@ASYNC
async def test_a_subscription_moves_only_to_a_session_of_the_same_user(
    twin: Twin, erin: _Owned
) -> None:
    """OPC 10000-4 5.13.7: another user's session gets BadUserAccessDenied; the engineer's
    second session (e.g. its client reconnecting with a new session) takes it over."""
    params = ua.TransferSubscriptionsParameters(SubscriptionIds=[erin.id])
    async with twin.session("vera") as vera:
        (refused,) = await vera.uaclient.transfer_subscriptions(params)
        assert refused.StatusCode.value == ua.StatusCodes.BadUserAccessDenied
    await erin.alive(twin)
    async with twin.session("erin") as again:
        (moved,) = await again.uaclient.transfer_subscriptions(params)
        assert moved.StatusCode.is_good()
        # the first session no longer owns it
        assert await erin.client.uaclient.delete_subscriptions([erin.id]) == [
            ua.StatusCode(INVALID)
        ]
        assert await again.uaclient.delete_subscriptions([erin.id]) == [ua.StatusCode()]


async def _set_triggering(vera: Client, erin: _Owned) -> int:
    request = ua.SetTriggeringRequest()
    request.Parameters = ua.SetTriggeringParameters(
        SubscriptionId=erin.id, TriggeringItemId=erin.item, LinksToAdd=[erin.item]
    )
    try:
        data = await vera.uaclient._send_request(request)
    except ua.UaStatusCodeError as exc:
        return exc.code
    response = struct_from_binary(ua.SetTriggeringResponse, data)
    return int(response.ResponseHeader.ServiceResult.value)


async def _refresh(vera: Client, erin: _Owned, method: int) -> int:
    request = ua.CallMethodRequest()
    request.ObjectId = ua.NodeId(ua.ObjectIds.ConditionType)
    request.MethodId = ua.NodeId(method)
    request.InputArguments = [ua.Variant(erin.id, ua.VariantType.UInt32)]
    if method == ua.ObjectIds.ConditionType_ConditionRefresh2:
        request.InputArguments.append(ua.Variant(erin.item, ua.VariantType.UInt32))
    (result,) = await vera.uaclient.call([request])
    return int(result.StatusCode.value)


async def _refresh_own(vera: Client, sub: Subscription) -> int:
    request = ua.CallMethodRequest()
    request.ObjectId = ua.NodeId(ua.ObjectIds.ConditionType)
    request.MethodId = ua.NodeId(ua.ObjectIds.ConditionType_ConditionRefresh)
    request.InputArguments = [ua.Variant(sub.subscription_id, ua.VariantType.UInt32)]
    (result,) = await vera.uaclient.call([request])
    return int(result.StatusCode.value)
