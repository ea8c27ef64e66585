"""The lifecycle every kind shares, with a kind that does no I/O: stop keeps its deadline
even when closing the link hangs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import ClassVar

import pytest

from adapters import Adapter, Bridge
from adapters.bridge import TagValue
from adapters.modbus import ModbusConfig
from tests.adapters.conftest import Twin


class Hung(Adapter):
    """Connects at once, then its link neither reads nor closes."""

    kind: ClassVar[str] = "hung"
    config_model: ClassVar[type[ModbusConfig]] = ModbusConfig
    endpoint = "hung://"
    closes = 0

    async def _open(self) -> None:
        pass

    async def _close(self) -> None:
        self.closes += 1
        await asyncio.Event().wait()

    async def _read(self) -> Sequence[TagValue]:
        await asyncio.Event().wait()
        return []

    async def _write(self, items: Sequence[tuple[int, float]]) -> None:
        pass


async def test_stop_keeps_its_deadline_when_closing_hangs(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = ModbusConfig.model_validate(
        {
            "name": "p",
            "kind": "modbus",
            "host": "h",
            "read": [{"signal": "cnc1.power", "table": "holding", "address": 0}],
        }
    )
    a = Hung(cfg, Bridge(cfg, twin.engine, twin.api, "plc.toml", "adapter[0]"))
    await a.start()
    await a.wait_until(lambda st: st.connected)
    with caplog.at_level(logging.WARNING, logger="adapters.p"):
        await asyncio.wait_for(a.stop(within_s=0.2), 5.0)
    assert a.closes == 1
    assert not a.status.connected
    assert [r.getMessage() for r in caplog.records] == ["did not stop within 0.2 s"]
