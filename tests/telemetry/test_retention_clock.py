"""The retention warning of a simulated run sent to a database is decided at the pipeline's
clock (the ``clock`` it was built with), not the machine's: a run whose timestamps end
``RETENTION_HINT`` before that clock's now is not warned about, a second more is."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.telemetry.fakes import FakeSink
from twin.clock import ManualClock
from twin.model import load_scenario
from twin.telemetry import LineEncoder, TelemetryPipeline, simulate_with_telemetry
from twin.telemetry.destination import Destination
from twin.telemetry.schema import RETENTION_HINT

SCENARIO = Path("scenarios/default.toml")  # starts on 2026-01-05T06:00:00Z
UNTIL = 3600.0


def _warnings(now: datetime, caplog: pytest.LogCaptureFixture) -> list[str]:
    """The telemetry warnings of a run of the default scenario to ``UNTIL`` at ``now``."""
    scenario = load_scenario(SCENARIO)
    kinds = {m.id: m.kind for m in scenario.cell.machines}
    sink = FakeSink()
    sink.destination = Destination("http://db:8086", "org", "bucket")  # taken for a database
    pipeline = TelemetryPipeline(
        sink,
        LineEncoder(scenario.cell.name, kinds, scenario.start),
        flush_interval_s=None,
        clock=ManualClock(wall_start=now),
    )
    caplog.clear()
    simulate_with_telemetry(
        pipeline, scenario, kpi_period_s=UNTIL, stop_timeout_s=10.0, until=UNTIL, plots=False
    )
    assert sink.lines  # the run was sent
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "twin.telemetry" and r.levelno == logging.WARNING
    ]


def test_the_retention_warning_follows_the_injected_now(caplog: pytest.LogCaptureFixture) -> None:
    last = load_scenario(SCENARIO).start + timedelta(seconds=UNTIL)
    assert _warnings(last + RETENTION_HINT, caplog) == []
    (warning,) = _warnings(last + RETENTION_HINT + timedelta(seconds=1), caplog)
    assert warning.startswith("telemetry: this run's timestamps end on 2026-01-05 ")
    assert f"more than {RETENTION_HINT.days} days ago" in warning
    # InfluxDB refuses such points (counted as rejected), it does not drop them silently
    assert "points beyond retention policy" in warning
    assert "rejected (exit code 1)" in warning
