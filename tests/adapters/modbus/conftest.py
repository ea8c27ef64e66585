"""Fixtures of the Modbus adapter tests: a real pymodbus server playing the PLC."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.adapters.modbus.plc import Plc
from tests.conftest import free_port


@pytest.fixture
async def plc() -> AsyncIterator[Plc]:
    p = Plc(free_port())
    await p.start()
    try:
        yield p
    finally:
        await p.stop()
