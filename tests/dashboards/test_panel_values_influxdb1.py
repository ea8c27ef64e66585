"""What the panels show, on the 2-day run in a real InfluxDB 1.x, where the rules matter.

The queries run as Grafana runs them (``grafana_queries.substitute``) over ranges chosen for
each rule: a range with no telemetry of the cell (a month before the run), the run's first 10
minutes (telemetry, but no job finished yet), the whole run, and one that reaches a day past
its end, as a range ahead of now does while a fast run is still going.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashboards import load_dashboards
from dashboards.machine_detail import KIND_ROWS
from dashboards.panels import LATEST_DATA
from tests.dashboards.grafana_queries import (
    DB,
    RANGE,
    START,
    Loaded,
    panel_query,
    stat_sum,
    substitute,
)

pytestmark = pytest.mark.services

DASHBOARDS = load_dashboards()
NO_TELEMETRY = (START - timedelta(days=30), START - timedelta(days=29))
FIRST_10_MIN = (START, START + timedelta(minutes=10))
PAST_THE_END = (RANGE[1] - timedelta(days=1), RANGE[1] + timedelta(days=1))
EVENT_COUNTS = [
    ("cell-overview", "Jobs completed (in range)"),
    ("cell-overview", "Late jobs (in range)"),
    ("cell-overview", "Faults raised (in range)"),
    ("jobs", "Jobs completed"),
    ("jobs", "Late jobs"),
    ("jobs", "Good jobs"),
    ("jobs", "Jobs paused (in range)"),
]


def _run(loaded: Loaded, dashboard: str, title: str, **kwargs: Any) -> dict[str, Any]:
    query = substitute(panel_query(DASHBOARDS[dashboard], title), loaded.variables, **kwargs)
    result = loaded.server.query(query, DB)
    assert "error" not in result, result
    return result


def _values(result: dict[str, Any]) -> list[Any]:
    return [v for s in result.get("series", []) for row in s["values"] for v in row[1:]]


@pytest.mark.parametrize(("dashboard", "title"), EVENT_COUNTS)
def test_event_count_is_zero_only_where_the_cell_has_telemetry(
    loaded: Loaded, dashboard: str, title: str
) -> None:
    assert stat_sum(_run(loaded, dashboard, title, time_range=NO_TELEMETRY)) is None  # "-"
    early = stat_sum(_run(loaded, dashboard, title, time_range=FIRST_10_MIN))
    assert early is not None
    if "paused" not in title:  # the operator paused SO-1001 at 60 s; nothing else happened yet
        assert early == 0
    assert stat_sum(_run(loaded, dashboard, title)) is not None


def test_event_counts_count_the_events(loaded: Loaded) -> None:
    completed = loaded.server.query(
        "SELECT count(job) FROM job_event WHERE event = 'job_completed' AND late = true "
        f"AND run = '{loaded.run}'",
        DB,
    )
    n_late = completed["series"][0]["values"][0][1]
    assert stat_sum(_run(loaded, "jobs", "Late jobs")) == n_late
    assert stat_sum(_run(loaded, "jobs", "Jobs paused (in range)", time_range=FIRST_10_MIN)) == 1


def test_undefined_kpis_have_no_rows(loaded: Loaded) -> None:
    """No job finished in the first 10 minutes: mean and max lead time and tardiness have no
    value (the panels' '-'), not 0 s; nor have the cell's KPIs where it has no telemetry."""
    for title in ("Mean lead time", "Mean tardiness", "Max tardiness"):
        assert not _values(_run(loaded, "jobs", title, time_range=FIRST_10_MIN)), title
        assert _values(_run(loaded, "jobs", title)), title
    for title in ("Throughput", "WIP (mean)", "Cell OEE"):
        assert not _values(_run(loaded, "cell-overview", title, time_range=NO_TELEMETRY)), title


def test_codes_and_counts_are_values_the_machine_had(loaded: Loaded) -> None:
    """Over a wide range ($__interval 1 h, 60 samples a bucket) a result is still 0, 1 or 2,
    and layers and features checked are whole numbers."""
    panels = {p.title: (kind, p) for _, (kind, ps) in KIND_ROWS.items() for p in ps}
    for title in ("Result (0 none, 1 pass, 2 fail)", "Features checked", "Layer"):
        kind, panel = panels[title]
        query = substitute(panel.query(kind), loaded.variables, interval="1h")
        result = loaded.server.query(query, DB)
        values = [v for v in _values(result) if v is not None]
        assert values, title
        assert all(float(v).is_integer() for v in values), (title, values)
        if title.startswith("Result"):
            assert set(values) <= {0, 1, 2}


def test_latest_data_is_found_from_any_range(loaded: Loaded) -> None:
    newest = max(
        loaded.server.query(f"SELECT last({field}) FROM {m} WHERE run = '{loaded.run}'", DB)[
            "series"
        ][0]["values"][0][0]
        for m, field in (("machine_signal", "quality"), ("kpi", "produced"))
    )
    for name in DASHBOARDS:
        result = _run(loaded, name, LATEST_DATA, time_range=NO_TELEMETRY)
        times = [row[0] for s in result["series"] for row in s["values"]]
        assert max(times) == newest == int(RANGE[1].timestamp() * 1000), name  # Grafana: max


def test_last_state_in_range_is_the_state_at_the_end_of_the_range(loaded: Loaded) -> None:
    """Over the first day of the run, each machine's last state change in that day, not the
    state it started with."""
    day = (START, START + timedelta(days=1))
    end_ms = int(day[1].timestamp() * 1000)
    result = _run(loaded, "machine-detail", "Last state in range", time_range=day)
    shown = {s["tags"]["machine"]: s["values"][0][1] for s in result["series"]}
    assert len(shown) == 4
    first: dict[str, Any] = {}
    for machine, code in shown.items():
        rows = loaded.server.query(
            f"SELECT state_code FROM machine_state WHERE machine = '{machine}' "
            f"AND run = '{loaded.run}' "
            f"AND time >= {int(day[0].timestamp() * 1000)}ms AND time <= {end_ms}ms",
            DB,
        )["series"][0]["values"]
        assert code == rows[-1][1], machine
        first[machine] = rows[0][1]
    assert shown != first


def test_a_range_inside_one_state_shows_it(loaded: Loaded) -> None:
    """A range within a machine's state, without a change, longer than the KPI period (1 h):
    the state timelines, the last state and the mode and job show that state (from the
    points that state it again with each KPI report), not no data."""
    run = f"run = '{loaded.run}'"
    changes = loaded.server.query(
        f"SELECT state, mode, job, state_code FROM machine_state WHERE {run} "
        "AND restated != 'true' GROUP BY machine",
        DB,
    )["series"]
    # the longest state of any machine in the run, between two of its changes
    (gap, machine, (t0, state, mode, job, code)) = max(
        (rows[k + 1][0] - rows[k][0], s["tags"]["machine"], rows[k])
        for s in changes
        for rows in [s["values"]]
        for k in range(len(rows) - 1)
    )
    assert gap > 3 * 3600 * 1000, gap
    start = datetime.fromtimestamp(t0 / 1000, UTC) + timedelta(minutes=30)
    inside = (start, start + timedelta(minutes=90))
    end_ms = int(inside[1].timestamp() * 1000)
    for dashboard, title in (("cell-overview", "Machine states"), ("machine-detail", "State")):
        result = _run(loaded, dashboard, title, time_range=inside)
        lane = next(s for s in result["series"] if s["tags"]["machine"] == machine)
        assert {v for _, v in lane["values"]} == {state}, (title, lane)
        assert lane["values"][0][0] <= int(start.timestamp() * 1000) + 3600 * 1000
    shown = _run(loaded, "machine-detail", "Last state in range", time_range=inside)
    assert {s["tags"]["machine"]: s["values"][0][1] for s in shown["series"]}[machine] == code
    table = _run(loaded, "machine-detail", "Mode and job (end of range)", time_range=inside)
    row = next(s["values"][0] for s in table["series"] if s["tags"]["machine"] == machine)
    assert row[1:] == [state, mode, job]
    assert row[0] <= end_ms


def test_hours_past_the_data_have_no_bars(loaded: Loaded) -> None:
    """A range ahead of the data (a fast run seen to now+1d) shows no 0 bars where the twin
    has not been yet: there the count is unknown, not 0."""
    for dashboard, title in (
        ("cell-overview", "Jobs completed per hour"),
        ("jobs", "Operations finished per hour and machine"),
    ):
        result = _run(loaded, dashboard, title, time_range=PAST_THE_END)
        rows = [row for s in result["series"] for row in s["values"]]
        assert rows, title
        end_ms = int(RANGE[1].timestamp() * 1000)
        assert all(t <= end_ms for t, *_ in rows), title
        assert all(v for _, v in rows), title
