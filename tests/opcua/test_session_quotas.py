"""One client cannot take what the server keeps for all: a session holds at most
``Limits.max_subscriptions_per_session`` subscriptions (20) and a user at most
``Limits.max_sessions_per_user`` sessions (10), so an engineer still subscribes and logs in
while a viewer holds all it may. A user's session whose connection was lost (kept by the
server for a reconnect) makes room for the user's next one instead of locking it out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from asyncua import Client, ua

from tests.opcua.conftest import Twin

pytestmark = pytest.mark.asyncio(loop_scope="module")


@contextlib.asynccontextmanager
async def _clients(twin: Twin, user: str, count: int) -> AsyncIterator[list[Client]]:
    clients: list[Client] = []
    try:
        for _ in range(count):
            clients.append(await twin.client(user))
        yield clients
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.disconnect()


async def _status(call: object) -> int:
    try:
        await call  # type: ignore[misc]
    except ua.UaStatusCodeError as exc:
        return exc.code
    return ua.StatusCodes.Good


async def test_a_session_holds_at_most_20_subscriptions(twin: Twin) -> None:
    """The reported case: one viewer session made 498 of the server's 500 and the engineer's
    next one was refused."""
    async with twin.session("vera") as vera, twin.session("erin") as erin:
        for _ in range(20):
            await vera.create_subscription(1000, None)
        refused = vera.create_subscription(1000, None)
        assert await _status(refused) == ua.StatusCodes.BadTooManySubscriptions
        assert await _status(erin.create_subscription(1000, None)) == ua.StatusCodes.Good


async def test_a_user_holds_at_most_10_sessions(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    """The reported case: one viewer opened 98 sessions and the engineer's login failed."""
    async with _clients(twin, "vera", 10):
        with caplog.at_level(logging.WARNING, logger="opcua_server.audit"):
            assert await _status(twin.client("vera")) == ua.StatusCodes.BadTooManySessions
        assert any(
            m.startswith("session refused: 'vera' from 127.0.0.1:")
            and m.endswith(
                ": 10 sessions of that user are open (at most 10, Limits.max_sessions_per_user)"
            )
            for m in caplog.messages
        ), caplog.messages
        async with twin.session("erin") as erin:
            assert await erin.nodes.server.read_browse_name()
    async with twin.session("vera") as vera:  # closed sessions count no more
        assert await vera.nodes.server.read_browse_name()


async def test_a_session_whose_connection_was_lost_makes_room(twin: Twin) -> None:
    """A client that crashed left its session (with a subscription: the server keeps it for a
    reconnect until it times out); the user's next session closes it instead of being
    refused."""
    sessions = twin.server.server.iserver._external_sessions  # type: ignore[union-attr]
    async with _clients(twin, "vera", 9) as clients:
        before = {s.session_id for s in sessions.values()}
        lost = await twin.client("vera")
        await lost.create_subscription(1000, None)
        (lost_id,) = {s.session_id for s in sessions.values()} - before
        assert lost.uaclient.protocol is not None
        lost.uaclient.protocol.transport.abort()  # a crash: no CloseSession
        with contextlib.suppress(Exception):
            await lost.disconnect()
        for _ in range(100):  # the server sees the connection end
            found = [s for s in sessions.values() if s.session_id == lost_id]
            if found and found[0].orphaned:
                break
            await asyncio.sleep(0.01)
        assert found  # kept for a reconnect
        assert found[0].orphaned
        clients.append(await twin.client("vera"))
        for _ in range(100):
            if not any(s.session_id == lost_id for s in sessions.values()):
                break
            await asyncio.sleep(0.01)
        assert not any(s.session_id == lost_id for s in sessions.values())
        assert await _status(twin.client("vera")) == ua.StatusCodes.BadTooManySessions
