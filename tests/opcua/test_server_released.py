"""A stopped server is freed: nothing of it (address space, engine) stays reachable after its
clients browsed it. A server kept alive by a cache beside it stays in memory for the life of
the process, and every full collection walks all the servers ever started (in a long test
run, collections of 10 s stalled the event loop and clients timed out)."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest
from asyncua import ua

from tests.opcua.conftest import start_twin

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_a_stopped_server_is_freed(tmp_path: Path) -> None:
    twin = await start_twin(tmp_path)
    await twin.step(1.0)
    async with twin.session("otto") as client:
        # Browse with subtypes (the cached type hierarchies), as a client loading types does
        await client.load_data_type_definitions()
        objects = client.get_node(ua.ObjectIds.ObjectsFolder)
        assert await objects.get_children()
    iserver = twin.server.server.iserver  # type: ignore[union-attr]
    aspace = weakref.ref(iserver.aspace)
    engine = weakref.ref(twin.engine)
    await twin.server.stop()
    del twin, iserver, client, objects
    gc.collect()
    assert aspace() is None, [type(r).__name__ for r in gc.get_referrers(aspace())]
    assert engine() is None
