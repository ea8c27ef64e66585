"""``bench/report_speed.py`` reports what it measured (a short run, not a measurement)."""

from __future__ import annotations

from pathlib import Path

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
