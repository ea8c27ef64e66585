"""A subscriber that only follows the twin (its KPIs, a view of it) cannot break the engine:
its failure is logged, the event goes on to the others (the event log among them). And what
``twin run`` built at its start is left out of the garbage collector's full collections."""

from __future__ import annotations

import logging

import pytest

from twin.cli.run import _followed
from twin.events import Event, EventBus, JobReleased
from twin.kpi import KpiCollector


def test_the_runs_kpis_failing_do_not_reach_the_engine(caplog: pytest.LogCaptureFixture) -> None:
    kpi = KpiCollector(["m1"])

    def broken(_: object) -> None:
        raise RuntimeError("a bug in the KPIs")

    kpi._handlers[JobReleased] = broken
    bus = EventBus()
    logged: list[Event] = []
    bus.subscribe(_followed(kpi))
    bus.subscribe(logged.append)  # the event log, after it
    with caplog.at_level(logging.ERROR):
        bus.publish(JobReleased(5.0, "J1"))  # no exception out of publish
    assert logged == [JobReleased(5.0, "J1")]
    assert "KPIs: following the twin's job_released event at t=5.000 s failed" in caplog.text
    assert "RuntimeError: a bug in the KPIs" in caplog.text
