"""Fixtures of the adapter tests: a twin of the default cell (signals on) and free ports; an
OPC UA client's view of a link (``Watch``, ``link_values``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from asyncua import Client, ua

from tests.conftest import SCENARIOS
from twin.api import TwinAPI
from twin.engine.cell import Engine
from twin.model import load_scenario


@dataclass
class Twin:
    engine: Engine
    api: TwinAPI

    def step(self, seconds: float) -> None:
        """Run the twin on by ``seconds`` and sample its signals (as ``twin run`` does)."""
        self.engine.run_through(self.engine.now + seconds)
        self.engine.sample_signals()


@pytest.fixture
def twin() -> Twin:
    engine = Engine(load_scenario(SCENARIOS / "default.toml"), signals=True)
    engine.sample_signals()
    return Twin(engine, TwinAPI(engine))


UNCERTAIN = ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue)
FAILSAFE = 30.0  # seconds: only bounds a failing wait


class Watch:
    """Subscription handler keeping each node's latest DataValue; ``until`` waits for one."""

    def __init__(self) -> None:
        self.latest: dict[ua.NodeId, ua.DataValue] = {}
        self._changed = asyncio.Condition()

    async def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        async with self._changed:
            self.latest[node.nodeid] = data.monitored_item.Value
            self._changed.notify_all()

    async def until(
        self, node: ua.NodeId, predicate: Callable[[ua.DataValue], bool]
    ) -> ua.DataValue:
        def seen() -> bool:
            dv = self.latest.get(node)
            return dv is not None and predicate(dv)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(seen), FAILSAFE)
        return self.latest[node]


async def link_values(client: Client, ns: int, name: str = "plc1") -> dict[str, Any]:
    """The values of adapter ``name``'s link object by browse name, browsed as SCADA would
    (``ns``: the twin's namespace index)."""
    obj = await client.nodes.objects.get_child([f"{ns}:Cell", f"{ns}:Adapters", f"{ns}:{name}"])
    return {
        (await var.read_browse_name()).Name: await var.read_value()
        for var in await obj.get_variables()
    }
