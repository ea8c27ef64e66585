"""The server follows the twin's events through ``BuildContext.follow``: a failure in the
server's view of an event is logged and stops neither the engine's change nor its record."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from opcua_server.nodes.base import BuildContext
from twin.api import TwinAPI
from twin.engine.cell import Engine
from twin.events import CommandApplied, Event, EventBus, OrderReceived
from twin.model import load_scenario


def test_a_failing_view_is_logged_and_the_command_is_still_applied_and_recorded(
    default_scenario_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bus = EventBus()
    seen: list[Event] = []
    engine = Engine(load_scenario(default_scenario_path), bus=bus)
    ctx = BuildContext.__new__(BuildContext)  # only the engine is needed to follow it
    ctx.engine = engine

    def view(ev: Event) -> None:
        if isinstance(ev, OrderReceived) and ev.job.startswith("MES-"):
            raise OverflowError("date value out of range")

    stop = ctx.follow(view)
    bus.subscribe(seen.append)  # after the failing view: still reached
    api = TwinAPI(engine)
    with caplog.at_level(logging.ERROR, logger="opcua_server.nodes.base"):
        assert api.submit_order({"id": "MES-V1", "product": {"type": "printed_housing"}}) == (
            "MES-V1"
        )
    assert "MES-V1" in engine.jobs
    kinds = [type(ev) for ev in seen if getattr(ev, "job", None) == "MES-V1"]
    assert kinds[0] is OrderReceived
    assert any(isinstance(ev, CommandApplied) and ev.args["job"] == "MES-V1" for ev in seen)
    (record,) = caplog.records
    assert "order_received event" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is OverflowError
    stop()
    api.submit_order({"id": "MES-V2", "product": {"type": "printed_housing"}})
    assert len(caplog.records) == 1  # unsubscribed
