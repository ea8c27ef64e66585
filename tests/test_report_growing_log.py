"""``twin report`` of a run whose event log grows while the report is built: ``twin report
runs/live`` while the twin runs, its log flusher appending every second. The report is of the
log as it was when the report started, every KPI the one ``twin simulate --until`` that time
reports, however much is appended meanwhile. And the OEE over time taken from the event log
has at most ``MAX_OEE_POINTS`` points, whatever the run's length."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import twin.report.plots
import twin.report.run_report
from tests.test_report_unfinished_run import _kpi_rows, _shown
from twin.cli import main
from twin.errors import ConfigError
from twin.events import Event, read_events
from twin.model import parse_scenario, read_toml
from twin.report.run_report import MAX_OEE_POINTS
from twin.simulation import run_simulation

HOUR = 3600.0


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """The lines of the event log of the default scenario simulated for a day."""
    out = tmp_path_factory.mktemp("day") / "run"
    args = ["simulate", "scenarios/default.toml", "--until", "1d", "-q", "--out", str(out)]
    assert main([*args, "--no-plots", "--telemetry", "none"]) == 0
    return (out / "events.jsonl").read_bytes().splitlines(keepends=True)


def _time(line: bytes) -> float:
    return float(json.loads(line)["t"])


def _written_after(lines: list[bytes], t: float) -> int:
    """How many lines the twin has written when it has logged every event up to the first
    after ``t`` (all of that time: what ``twin simulate --until`` that time reports on)."""
    first = next(i for i, line in enumerate(lines) if _time(line) > t)
    last = _time(lines[first])
    return next(i for i in range(first, len(lines)) if _time(lines[i]) > last)


def _growing(monkeypatch: pytest.MonkeyPatch, chunks: list[bytes]) -> list[int]:
    """Has the log grow by the next of ``chunks`` each time the report has read it to its end
    (as far as the report reads it), as a running twin appends to it meanwhile; returns the
    sizes of the log each reading began with."""
    read = read_events
    sizes: list[int] = []

    def reading(path: Path, **options: Any) -> Iterator[Event]:
        sizes.append(Path(path).stat().st_size)
        yield from read(path, **options)
        if chunks:
            with Path(path).open("ab") as fh:
                fh.write(chunks.pop(0))

    monkeypatch.setattr(twin.report.run_report, "read_events", reading)
    monkeypatch.setattr(twin.report.plots, "read_events", reading)
    return sizes


def _values(rows: dict[str, list[str]], column: str) -> list[float]:
    """A column of the report's KPI table as ratios (it shows them in percent)."""
    at = ["availability", "effectiveness", "quality_ratio", "oee"].index(column)
    return [float(row[at].removesuffix("%")) / 100 for row in rows.values() if row[at] != "-"]


def test_a_log_growing_while_reported_is_reported_as_it_was(
    day: list[bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A twin run directory after six simulated hours, the twin writing a line when the report
    starts: the report ends at the last whole line, however much the twin appends while the
    report is built (the rest of the day, in parts cut anywhere, one after each reading of
    the log)."""
    live = tmp_path / "live"
    live.mkdir()
    (live / "run.json").write_text(json.dumps({"scenario": "default", "seed": 42, "rule": "EDD"}))
    n = _written_after(day, 6 * HOUR)
    last = _time(day[n - 1])
    half = len(day[n]) // 2
    (live / "events.jsonl").write_bytes(b"".join(day[:n]) + day[n][:half])  # the twin mid-line
    rest = day[n][half:] + b"".join(day[n + 1 :])
    # three quarters of it while the log is first read (a twin running fast), then the rest
    cuts = [0, *(len(rest) * k // 16 for k in (12, 13, 14, 15)), len(rest)]
    chunks = [rest[a:b] for a, b in itertools.pairwise(cuts)]
    sizes = _growing(monkeypatch, chunks)

    assert main(["report", str(live)]) == 0
    captured = capsys.readouterr()
    page = (live / "report" / "report.html").read_text(encoding="utf-8")
    rows = _kpi_rows(page)
    for ratio in ("availability", "quality_ratio"):
        assert all(0.0 <= v <= 1.0 for v in _values(rows, ratio)), (ratio, rows)
    # the KPIs of the same run simulated to the last event the report read
    whole = tmp_path / "whole"
    args = ["simulate", "scenarios/default.toml", "--until", f"{last!r}s", "-q"]
    assert main([*args, "--telemetry", "none", "--no-plots", "--out", str(whole)]) == 0
    kpis = json.loads((whole / "summary.json").read_text(encoding="utf-8"))["kpis"]
    expected = {m: _shown(k) for m, k in kpis["machines"].items()}
    assert rows == {**expected, "cell": _shown(kpis["cell"])}
    assert f"<td>{last:.3f}</td>" in page  # its end time
    assert captured.err == ""
    # only the note that the run did not stop: the line being written is not cut off
    assert captured.out == (
        f"{live}: note: the run did not stop (it still runs, or was killed); reported up to its"
        f" last event, at simulated time {last:.1f} s, its KPIs computed from the event log\n"
        f"report: {live / 'report' / 'report.html'}\n"
    )
    assert len(sizes) >= 4
    assert len(set(sizes)) == len(sizes)  # the log grew before every reading


def test_an_event_log_is_read_up_to_a_limit(day: list[bytes], tmp_path: Path) -> None:
    """``read_events(limit_bytes=n)``: the events of the log's first n bytes, a line running
    past them cut off there (left out with ``torn_tail``, else an error naming it)."""
    log = tmp_path / "events.jsonl"
    log.write_bytes(b"".join(day))
    ten = len(b"".join(day[:10]))
    first = list(read_events(log))[:10]
    assert list(read_events(log, limit_bytes=ten)) == first
    assert list(read_events(log, torn_tail=True, limit_bytes=ten + 5)) == first
    assert list(read_events(log, limit_bytes=0)) == []
    with pytest.raises(ConfigError, match="line 11"):
        list(read_events(log, limit_bytes=ten + 5))


def test_the_oee_over_time_of_a_long_run_has_at_most_max_points(
    default_scenario_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run of 30 years (the default cell, an order a year) without telemetry: its OEE over
    time is taken from the event log every so many whole hours, not every hour (262,800 KPI
    reports), and at its end."""
    data = read_toml(default_scenario_path)
    data.pop("faults", None)
    data["arrivals"]["mean_interarrival"] = "365d"
    for m in data["cell"]["machines"]:
        m.pop("breakdowns", None)
    end = 30 * 365 * 24 * HOUR
    out = tmp_path / "long"
    run_simulation(parse_scenario(data), until=end, out_dir=out, plots=False)
    drawn: list[dict[str, tuple[Any, Any]]] = []
    plot = twin.report.run_report.plot_oee

    def plot_oee(series: Any, fallback: Any, path: Path) -> None:
        drawn.append(fallback)
        plot(series, fallback, path)

    monkeypatch.setattr(twin.report.run_report, "plot_oee", plot_oee)
    assert main(["report", str(out)]) == 0
    [fallback] = drawn
    hours, oee = fallback["cell"]
    assert 1000 < len(hours) <= MAX_OEE_POINTS
    assert hours[-1] == end / HOUR
    steps = set((hours[1:-1] - hours[:-2]).tolist())
    assert len(steps) == 1  # evenly spaced, in whole hours
    assert steps.pop() % 1 == 0
    assert hours[0] == hours[1] - hours[0]
    assert math.isclose(
        oee[-1], json.loads((out / "summary.json").read_text())["kpis"]["cell"]["oee"]
    )
