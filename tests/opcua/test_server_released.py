"""The server and the garbage collector: no automatic collection during its start (each
scanned what was built so far: 1.3 s of a 3 s start); what the start built is left out of
full collections while it runs (each scanned ~690,000 objects, a pause of the event loop of
0.2-0.3 s, seconds on a loaded machine); a stopped server is freed: nothing of it (address
space, engine) stays reachable after its clients browsed it. A server kept alive by a cache
beside it stayed in memory for the life of the process, and every full collection walked
all the servers ever started (in a long test run, collections of 10 s; clients timed out)."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest
from asyncua import ua

from opcua_server.app import _collections_paused
from tests.opcua.conftest import start_twin


def _collected(obj: object) -> bool:
    """Whether ``obj`` is among the objects collections scan (frozen ones are not)."""
    return any(o is obj for o in gc.get_objects())


@pytest.mark.asyncio(loop_scope="module")
async def test_a_running_server_is_left_out_of_collections_and_freed_once_stopped(
    tmp_path: Path,
) -> None:
    full: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(1)

    gc.callbacks.append(count)
    try:
        twin = await start_twin(tmp_path)
    finally:
        gc.callbacks.remove(count)
    # the start's one collection, before the build; none during it (there were 8) nor after
    assert len(full) == 1
    assert gc.isenabled()
    space = twin.server.server.iserver.aspace  # type: ignore[union-attr]
    assert not _collected(space)  # frozen at the start: no collection scans it
    await twin.step(1.0)
    async with twin.session("otto") as client:
        # Browse with subtypes (the cached type hierarchies), as a client loading types does
        await client.load_data_type_definitions()
        objects = client.get_node(ua.ObjectIds.ObjectsFolder)
        assert await objects.get_children()
    await twin.server.stop()
    assert gc.get_freeze_count() == 0
    assert _collected(space)  # given back to the collector
    freed = weakref.ref(space), weakref.ref(twin.engine)
    del twin, client, objects, space
    gc.collect()
    assert [ref() for ref in freed] == [None, None]


def test_collections_paused_keeps_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with _collections_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
    with _collections_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
