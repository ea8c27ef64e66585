"""Fixtures and helpers of the ``opcua`` adapter tests: one plain asyncua PLC per test module
(a server takes about a second to build), reset before each test; adapter tables with short
periods; adapters running for the length of a block."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio

from adapters.base import Adapter, AdapterStatus
from adapters.loader import build_adapters, parse_adapters
from adapters.opcua import OpcUaAdapter
from tests.adapters.conftest import Twin
from tests.adapters.opcua.plc import Plc
from tests.conftest import free_port

KINDS: dict[str, type[Adapter]] = {"opcua": OpcUaAdapter}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared_plc() -> AsyncIterator[Plc]:
    plc = await Plc.start(free_port())
    try:
        yield plc
    finally:
        await plc.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def plc(shared_plc: Plc) -> Plc:
    await shared_plc.reset()
    return shared_plc


def entry(url: str, **fields: Any) -> dict[str, Any]:
    """An ``[[adapter]]`` table: plain security, short period, timeout and backoff."""
    return {
        "name": "plc1",
        "kind": "opcua",
        "url": url,
        "security_policy": "None",
        "security_mode": "None",
        "period_s": 0.05,
        "timeout_s": 1.0,
        "backoff_s": 0.05,
        "backoff_max_s": 0.2,
        **fields,
    }


def build(twin: Twin, *entries: dict[str, Any]) -> list[Adapter]:
    file = parse_adapters({"adapter": list(entries)}, "test.toml", KINDS)
    return build_adapters(file, twin.engine, twin.api, KINDS)


@contextlib.asynccontextmanager
async def running(*adapters: Adapter) -> AsyncIterator[None]:
    try:
        for adapter in adapters:
            await adapter.start()
        yield
    finally:
        for adapter in adapters:
            await adapter.stop()


def after(adapter: Adapter, cycles: int) -> Callable[[AdapterStatus], bool]:
    """Predicate: ``cycles`` more cycles than now have completed."""
    target = adapter.status.cycles + cycles
    return lambda st: st.cycles >= target
