"""Simulated runs with telemetry, for the tests: the pipeline built from settings, as the CLI
builds it."""

from __future__ import annotations

from pathlib import Path

from twin.model.scenario import Scenario
from twin.telemetry import TelemetrySettings, build_pipeline, simulate_with_telemetry


def simulate_run(
    scenario: Scenario,
    settings: TelemetrySettings,
    out: Path,
    until: float,
    signal_period: float | None = None,
) -> None:
    """Run ``scenario`` to ``until`` with telemetry per ``settings``, writing to ``out``."""
    pipeline = build_pipeline(settings, scenario, out, scenario.start)
    assert pipeline is not None
    simulate_with_telemetry(
        pipeline,
        scenario,
        kpi_period_s=3600.0,
        stop_timeout_s=10.0,
        until=until,
        signal_period=signal_period,
        out_dir=out,
        plots=False,
    )
