"""One client address cannot take every connection the server allows: the connections of an
address that have no activated session are capped (``Limits.max_pending_per_address``), the
newest beyond the cap closed at once. The flood comes from 127.0.0.2 (Linux routes all of
127/8 to the loopback interface), the clients that log in from 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from asyncua import Client

from opcua_server import Limits
from tests.opcua.conftest import start_twin

pytestmark = pytest.mark.asyncio(loop_scope="module")

_FLOODER = "127.0.0.2"


async def test_idle_connections_of_one_address_do_not_keep_others_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The reported case: 205 TCP connections from one address that send nothing (no Hello).
    The old server took 200 (Limits.max_connections) and refused every other client until
    the deadline for a session (Limits.pending_activation_s, here long enough not to come)
    closed them. Now the address keeps 10, the server closes the others at once, and clients
    of another address log in, more than 10 at a time: a connection whose session is activated
    no longer counts."""
    limits = Limits(pending_activation_s=600.0, max_sessions_per_user=12)
    twin = await start_twin(tmp_path, limits=limits)
    port = twin.server.port
    flood: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    clients: list[Client] = []
    try:
        for _ in range(205):
            flood.append(await asyncio.open_connection("127.0.0.1", port, local_addr=(_FLOODER, 0)))
        for _ in range(12):
            clients.append(await twin.client("vera"))
        # the server accepted the clients' connections after the flood's: it has seen them all
        assert twin.server.server is not None
        connected = twin.server.server.bserver.clients
        kept = {c.peer_name[1] for c in connected if c.peer_name[0] == _FLOODER}
        assert len(kept) == 10
        refused = [r for r, w in flood if w.get_extra_info("sockname")[1] not in kept]
        for reader in refused:  # closed by the server, nothing sent
            assert await asyncio.wait_for(reader.read(), 10) == b""
        lines = [
            m for m in caplog.messages if m.startswith(f"refused a connection from {_FLOODER}:")
        ]
        assert len(lines) == 195
        assert lines[0].endswith(
            ": 10 connections from that address have no activated session (at most 10)"
        )
        assert await clients[-1].nodes.server.read_browse_name()
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.disconnect()
        for _, writer in flood:
            writer.close()
        await twin.server.stop()
