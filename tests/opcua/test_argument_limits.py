"""No single call can hold up the server or flood what everyone reads: a method argument holds
at most 64 KiB of text (BadOutOfRange naming the argument and the limit, before anything
parses it), an order at most 1,000 operations (also through the Python API), the twin at most
``TwinAPI.max_waiting`` waiting orders, a JSON order nested too deeply is refused with its
reason (never logged whole), and a long argument echoed in ``Cell/LastCommandResult`` is cut
to 64 characters."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asyncua import ua

from opcua_server.nodes.calls import shown_text
from tests.opcua.conftest import Twin, cell_call, last_result
from twin.api import TwinAPI
from twin.errors import CommandError

ASYNC = pytest.mark.asyncio(loop_scope="module")


def _order(job: str, operations: int) -> dict[str, Any]:
    ops = [{"machine": "cnc1", "duration": 60.0} for _ in range(operations)]
    return {"id": job, "product": {"type": "explicit", "operations": ops}}


def _s(value: str) -> ua.Variant:
    return ua.Variant(value, ua.VariantType.String)


def _refusal(result: ua.CallMethodResult) -> tuple[str, str]:
    """The status of a refused one-argument call and the argument's diagnostic."""
    (marked,) = result.InputArgumentResults
    assert marked == result.StatusCode
    return result.StatusCode.name, str(result.InputArgumentDiagnosticInfos[0].AdditionalInfo)


@ASYNC
async def test_a_huge_order_is_refused_before_it_is_parsed(twin: Twin) -> None:
    """The reported case, scaled down: an explicit routing of 2,000 operations (80 KB of
    JSON) was parsed, validated and accepted; 300,000 of them blocked the server 5 s."""
    order = json.dumps(_order("HUGE-1", 2_000))
    async with twin.session("otto") as otto:
        started = time.perf_counter()
        result = await cell_call(otto, twin, "SubmitOrder", _s(order))
        assert time.perf_counter() - started < 1.0
        assert _refusal(result) == (
            "BadOutOfRange",
            f"order: {len(order):,} characters of text, at most 65,536",
        )
        assert "HUGE-1" not in twin.engine.jobs


@ASYNC
async def test_an_order_of_more_than_1000_operations_is_refused(twin: Twin) -> None:
    order = json.dumps(_order("LONG-1", 1_001))
    assert len(order) < 64 * 1024
    async with twin.session("otto") as otto:
        result = await cell_call(otto, twin, "SubmitOrder", _s(order))
        assert _refusal(result) == (
            "BadInvalidArgument",
            "order: product.operations: 1,001 operations, at most 1,000 per order",
        )


def test_the_python_api_refuses_more_than_1000_operations_too(twin: Twin) -> None:
    api = TwinAPI(twin.engine)
    with pytest.raises(CommandError, match=r"1,001 operations, at most 1,000 per order"):
        api.submit_order(_order("LONG-2", 1_001))
    with pytest.raises(CommandError, match=r"1,001 operations, at most 1,000 per order"):
        api.store_order(_order("LONG-3", 1_001))


@pytest.fixture
def full(twin: Twin) -> Iterator[int]:
    """The twin full of waiting orders: as many as wait now is the most."""
    waiting = len(twin.engine.backlog) + len(twin.engine.stored)
    twin.api.max_waiting = waiting
    yield waiting
    twin.api.max_waiting = 10_000


@ASYNC
async def test_orders_beyond_the_waiting_cap_are_refused(twin: Twin, full: int) -> None:
    async with twin.session("otto") as otto:
        result = await cell_call(otto, twin, "SubmitOrder", _s(json.dumps(_order("FULL-1", 1))))
        assert _refusal(result) == (
            "BadInvalidArgument",
            f"order: {full:,} orders wait in the twin (stored or in the backlog), at most"
            f" {full:,}: cancel some, or wait until some are released",
        )
    assert "FULL-1" not in twin.engine.jobs


@ASYNC
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 30_000 + "]" * 30_000, "order: JSON nested too deeply"),
        ("1" * 5_000, "order: not valid JSON (Exceeds the limit (4300 digits)"),
    ],
)
async def test_json_the_parser_gives_up_on_is_refused_with_its_reason(
    twin: Twin, caplog: pytest.LogCaptureFixture, text: str, reason: str
) -> None:
    """The reported case: 100,000 levels answered BadUnexpectedError, and asyncua logged
    the whole request, its 200 KB argument with it, on stderr."""
    async with twin.session("otto") as otto:
        with caplog.at_level(logging.WARNING):  # what twin run shows
            result = await cell_call(otto, twin, "SubmitOrder", _s(text))
    status, diagnostic = _refusal(result)
    assert status == "BadInvalidArgument"
    assert diagnostic.startswith(reason)
    assert all(len(r.getMessage()) < 2_000 for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records)


@ASYNC
async def test_a_long_argument_is_cut_where_everyone_reads_it(twin: Twin) -> None:
    """The reported case: InjectFault with a 1 MB machine name put all of it into
    LastCommandResult, which every viewer reads (now at most 64 KiB gets that far)."""
    machine = "m" * 60_000
    async with twin.session("erin") as erin:
        result = await cell_call(
            erin, twin, "InjectFault", _s(machine), _s("breakdown"), ua.Variant(0.0)
        )
        assert result.StatusCode.name == "BadInvalidArgument"
        shown = await last_result(erin, twin)
    assert shown.startswith(f"InjectFault: unknown machine '{'m' * 64}...' (cell has: ")
    assert len(shown) < 200


def test_a_message_is_cut_to_1000_characters() -> None:
    """Whatever a refusal's message quotes, LastCommandResult and the log hold at most 1,000
    characters of it."""
    shown = shown_text("order: " + "x" * 5_000)
    assert shown == "order: " + "x" * 993 + "... (5,007 characters)"
