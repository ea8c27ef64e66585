"""The lifecycle every kind shares, with kinds that do no I/O: stop keeps its deadline even
when closing the link hangs; the backoff grows while connects do not lead to a working cycle
and starts again once one has worked."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from adapters import Adapter, Bridge
from adapters.bridge import TagValue
from adapters.modbus import ModbusConfig
from tests.adapters.conftest import Twin
from twin.clock import ManualClock


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

    async def _write(self, items: Sequence[tuple[int, float]]) -> Sequence[tuple[int, float]]:
        return items


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
    assert [r.getMessage() for r in caplog.records] == ["adapter p: did not stop within 0.2 s"]


class Flaky(Adapter):
    """Connects at once; each cycle's read does what ``script`` says next (raise: the link is
    lost; a value: read), then fails for good."""

    kind: ClassVar[str] = "flaky"
    config_model: ClassVar[type[ModbusConfig]] = ModbusConfig
    endpoint = "flaky://"

    def __init__(self, *args: Any, script: list[Exception | float]) -> None:
        super().__init__(*args)
        self.script = script

    async def _open(self) -> None:
        pass

    async def _close(self) -> None:
        pass

    async def _read(self) -> Sequence[TagValue]:
        step = self.script.pop(0) if self.script else ConnectionResetError("reset by peer")
        if isinstance(step, Exception):
            raise step
        if step == SLOW:
            await asyncio.Event().wait()  # a PLC that no longer answers
        return [step]

    async def _write(self, items: Sequence[tuple[int, float]]) -> Sequence[tuple[int, float]]:
        return items


SLOW = -1.0  # in a Flaky script: the read gets no answer


class Naps(ManualClock):
    """Keeps the length of every sleep; each returns at once, but the ``after``-th."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.naps: list[float] = []
        self.after = after

    async def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        if len(self.naps) >= self.after:
            await asyncio.Event().wait()
        await asyncio.sleep(0)


def flaky(twin: Twin, script: list[Exception | float], clock: Naps, **fields: Any) -> Flaky:
    cfg = ModbusConfig.model_validate(
        {
            "name": "p",
            "kind": "modbus",
            "host": "h",
            "period_s": 0.5,
            "backoff_s": 1.0,
            "backoff_max_s": 8.0,
            "read": [{"signal": "cnc1.power", "table": "holding", "address": 0}],
            **fields,
        }
    )
    return Flaky(
        cfg, Bridge(cfg, twin.engine, twin.api, "plc.toml", "adapter[0]"), clock, script=script
    )


def nominal(naps: list[float]) -> list[float]:
    """The backoffs without their +-20 % jitter (each a power of two here)."""
    return [2 ** round(math.log2(n / 1.0)) for n in naps]


async def test_a_link_that_connects_and_fails_backs_off_to_backoff_max(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Naps(after=6)
    a = flaky(twin, [], clock)
    caplog.set_level(logging.DEBUG, logger="adapters.p")
    await a.start()
    try:
        st = await a.wait_until(lambda st: st.failures >= 6)
        assert nominal(clock.naps) == [1, 2, 4, 8, 8, 8]
        assert (st.connects, st.cycles) == (6, 0)
        assert a.bridge.links.get("p").failures == 6  # none worked: consecutive
    finally:
        await a.stop()
    news = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert news == [
        ("INFO", "adapter p: connected to flaky://"),
        (
            "WARNING",
            "adapter p: link lost (flaky://): ConnectionResetError: reset by peer; retrying",
        ),
    ]


async def test_the_backoff_starts_again_once_a_cycle_has_worked(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    lost = ConnectionResetError("reset by peer")
    clock = Naps(after=7)
    # fails twice, works (one cycle, then the period's sleep), fails three times
    a = flaky(twin, [lost, lost, 1.0, lost, lost, lost], clock)
    await a.start()
    try:
        st = await a.wait_until(lambda st: st.failures >= 5)
        assert st.cycles == 1
        naps = [n for n in clock.naps if n != 0.5]  # the period's sleep after the cycle
        assert nominal(naps) == [1, 2, 1, 2, 4]
        assert a.bridge.links.get("p").failures == 3  # since it worked
        assert a.bridge.links.get("p").total_failures == 5
    finally:
        await a.stop()
    # stopped while a failing read ended (Python 3.11's wait_for then swallows the cancel)
    assert not [m for m in caplog.messages if "did not stop within" in m]


async def test_a_link_down_again_is_a_warning_and_a_long_streak_is_summarised(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    """A slow PLC: the link works, then every read times out. The last line never says
    'connected' while the link is down; the 10th failure in a row is summarised."""
    a = flaky(twin, [1.0, *[SLOW] * 12], Naps(after=1000), timeout_s=0.02)
    caplog.set_level(logging.DEBUG, logger="adapters.p")
    await a.start()
    try:
        await a.wait_until(lambda st: st.failures >= 11)
    finally:
        await a.stop()
    news = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    lost = "adapter p: link lost (flaky://): read of 1 tag: no answer within timeout_s = 0.02 s"
    assert news == [
        ("INFO", "adapter p: connected to flaky://"),
        ("WARNING", f"{lost}; retrying"),  # after it worked
        ("INFO", "adapter p: connected to flaky://"),
        ("WARNING", f"{lost}; retrying"),  # down again: said, not only at debug
        (
            "WARNING",
            "adapter p: link lost (flaky://): still failing after 10 attempts: read of 1 tag:"
            " no answer within timeout_s = 0.02 s; retrying",
        ),
    ]
