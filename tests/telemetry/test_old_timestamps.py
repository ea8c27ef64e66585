"""A run stamped long ago, sent to a database: a warning that a retention period may drop its
points silently (the README's own example, with the default scenario's 2026-01-05 start, sent
to a database keeping a month, stored nothing and said nothing)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.telemetry.runs import simulate_run
from tests.telemetry.servers import VictoriaMetrics
from twin.model import load_scenario
from twin.telemetry import TelemetrySettings

SCENARIO = Path("scenarios/default.toml")


def _run(tmp_path: Path, start: datetime, telemetry: str, url: str) -> None:
    scenario = load_scenario(SCENARIO).model_copy(update={"start": start})
    settings = TelemetrySettings(telemetry=telemetry, influx_url=url)
    simulate_run(scenario, settings, tmp_path / f"run-{start:%Y%m%d}-{telemetry}", 3600.0)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "twin.telemetry" and r.levelno == logging.WARNING
    ]


@pytest.mark.services
def test_a_run_stamped_months_ago_is_sent_with_a_retention_warning(
    victoria: VictoriaMetrics, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime.now(UTC)
    _run(tmp_path, now - timedelta(days=90), "influx", victoria.url)
    (warning,) = _warnings(caplog)
    day = (now - timedelta(days=90) + timedelta(hours=1)).strftime("%Y-%m-%d")
    assert warning.startswith(f"telemetry: this run's timestamps end on {day} ")
    assert "more than 30 days ago" in warning
    assert "retention" in warning
    caplog.clear()
    _run(tmp_path, now - timedelta(days=2), "influx", victoria.url)  # recent: nothing to say
    _run(tmp_path, now - timedelta(days=90), "file", victoria.url)  # a file keeps everything
    assert _warnings(caplog) == []
