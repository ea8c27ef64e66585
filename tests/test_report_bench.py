"""``bench/report_speed.py`` reports what it measured (a short run, not a measurement); its
stdout is the results alone, a failed step shows the step's error, and the run it built is
removed whatever happened."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from bench import report_speed


def test_report_speed_measures_the_report_with_and_without_telemetry(tmp_path: Path) -> None:
    run = tmp_path / "run"
    report_speed.build_run(run, days=0.02, signals="1m")  # 29 minutes
    results = report_speed.measure_all(run, tmp_path)
    assert list(results) == ["report", "report without telemetry", "read telemetry"]
    for result in results.values():
        assert result["wall_s"] > 0
        assert result["peak_rss_mb"] > 0
    read = results["read telemetry"]
    assert read["points"] > 6 * 28  # a sample a minute of each machine, and the KPIs
    assert 0 < read["series_mb"] < read["traced_peak_mb"]
    assert (run / "telemetry.lp.gz").is_file()  # the run is left as it was
    assert not (run / "report").exists()


def test_a_failed_step_exits_with_its_error_output(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        report_speed.measure("read", tmp_path / "no-run")
    message = str(exited.value.code)
    assert message.startswith(f"the 'read' step of {tmp_path / 'no-run'} failed with exit code 1:")
    assert "Traceback (most recent call last)" in message
    assert "telemetry.lp.gz: cannot read it" in message  # the child's ConfigError


RESULTS = {"read telemetry": {"wall_s": 1.0}}


@pytest.fixture
def bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``main`` building its run in ``tmp_path`` (returned), the build a stand-in."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def build(out: Path, days: float, signals: str) -> float:
        out.mkdir()
        return 0.5

    monkeypatch.setattr(report_speed, "build_run", build)
    return tmp_path


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["report_speed.py", *args])
    report_speed.main()


def test_with_json_stdout_is_the_json_alone(
    bench: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(report_speed, "measure_all", lambda run, scratch: RESULTS)
    _main(monkeypatch, "--json", "--small")
    out, err = capsys.readouterr()
    assert json.loads(out) == RESULTS
    assert err.startswith("built 2 days, signals every 10s, in 0.5 s: ")
    assert list(bench.iterdir()) == []  # the run built is removed


def test_the_run_built_is_removed_when_a_step_fails(
    bench: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(run: Path, scratch: Path) -> Any:
        raise SystemExit("the 'report' step failed")

    monkeypatch.setattr(report_speed, "measure_all", failing)
    with pytest.raises(SystemExit):
        _main(monkeypatch, "--small")
    assert list(bench.iterdir()) == []
