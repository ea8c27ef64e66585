"""What the committed dashboards show where a value is missing, above 1, a code, or ahead of now.

Rules from an operator's walk-through, checked on the generated JSON (the queries' results are
checked against a real InfluxDB in ``test_panel_values_influxdb1``):

- a value that is not there never reads as 0: stats show ``-`` without rows, and an event
  count is 0 only where the cell has telemetry (table format, rows added up);
- OEE can exceed 1 (SCHEMA.md): no OEE axis or gauge ends at 100 %, and above 100 % is blue
  where the panels say so;
- codes, layer numbers, set points and counts are never averaged over ``$__interval``;
- at speed > 1 the data runs ahead of the wall clock: every dashboard says so, offers ranges
  ahead of now and shows where the data ends;
- runs sharing a database stay apart: every query but the cell's and the run's own shows the
  selected run.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from dashboards import load_dashboards
from dashboards.common import LATEST_DATA_QUERY, RUN_FILTER, TIME_AXIS_NOTE
from dashboards.machine_detail import KIND_ROWS
from dashboards.panels import LATEST_DATA, OEE_GAUGE_MAX

DASHBOARDS = load_dashboards()
STATS = [
    pytest.param(name, p, id=f"{name}:{p['title']}")
    for name, d in DASHBOARDS.items()
    for p in d["panels"]
    if p["type"] == "stat"
]
EVENT_COUNTS = {
    "cell-overview": {
        "Jobs completed (in range)",
        "Late jobs (in range)",
        "Faults raised (in range)",
    },
    "jobs": {"Jobs completed", "Late jobs", "Good jobs", "Jobs paused (in range)"},
}
# signals that are codes, numbers or set points (last) or per-part counts (max), not measured
DISCRETE = {"result": "last", "layer": "last", "speed_override": "last", "features_checked": "max"}


def _panel(dashboard: str, title: str) -> dict[str, Any]:
    return next(p for p in DASHBOARDS[dashboard]["panels"] if p.get("title") == title)


@pytest.mark.parametrize(("name", "panel"), STATS)
def test_no_missing_value_reads_as_zero(name: str, panel: dict[str, Any]) -> None:
    assert panel["fieldConfig"]["defaults"]["noValue"] not in ("0", "0 s", "0 %")
    query = panel["targets"][0]["query"]
    if panel["title"] in EVENT_COUNTS.get(name, set()):
        # rows per measurement: Grafana puts them in one table, the stat adds them up
        assert panel["targets"][0]["resultFormat"] == "table"
        assert panel["options"]["reduceOptions"]["calcs"] == ["sum"]
        assert query.count("* 0 AS") == 2, query
    else:
        assert "* 0 AS" not in query


def test_undefined_job_kpis_show_a_dash() -> None:
    for title in ("Mean lead time", "Mean tardiness", "Max tardiness"):
        panel = _panel("jobs", title)
        assert panel["fieldConfig"]["defaults"]["noValue"] == "-", title
        assert "no job finished" in panel["description"]
    for title in ("Throughput", "WIP (mean)", "Cell OEE"):
        assert _panel("cell-overview", title)["fieldConfig"]["defaults"]["noValue"] == "-"


def test_no_count_is_filled_with_zeros() -> None:
    """An hour without data is no hour without jobs: bars are not zero-filled (a range ahead of
    the data would read as hours of nothing completed)."""
    for name, d in DASHBOARDS.items():
        for p in d["panels"]:
            for t in p.get("targets", []):
                assert "fill(0)" not in t["query"], (name, p["title"])


def test_oee_is_not_clipped_at_100_percent() -> None:
    oee_panels = [
        (name, p)
        for name, d in DASHBOARDS.items()
        for p in d["panels"]
        if any('"oee"' in t["query"] for t in p.get("targets", []))
    ]
    assert len(oee_panels) == 4
    gauge_maxima: list[float] = []
    for name, p in oee_panels:
        defaults = p["fieldConfig"]["defaults"]
        if p["type"] == "timeseries":
            assert "max" not in defaults, (name, p["title"])
            assert defaults["custom"]["axisSoftMax"] == 1  # 0..100 % at least, more when above
        elif p["type"] == "bargauge":
            assert defaults["max"] == OEE_GAUGE_MAX >= 1.2, p["title"]
            gauge_maxima.append(defaults["max"])
        if p["type"] != "timeseries":
            steps = [s["value"] for s in defaults["thresholds"]["steps"]]
            assert steps == [None, 0.4, 0.65, 1.0], p["title"]  # above 100 %: its own colour
        assert "exceed 100 %" in p["description"], p["title"]
    # SCHEMA.md's example of a machine faster than planned fits the gauge
    assert gauge_maxima
    assert min(gauge_maxima) > 1.069


def test_codes_and_counts_are_not_averaged() -> None:
    panels = {p.title: p for _, (_, ps) in KIND_ROWS.items() for p in ps}
    for field, aggregate in DISCRETE.items():
        panel = next(p for p in panels.values() if field in p.fields)
        assert panel.aggregate == aggregate, field
        drawn = _panel("machine-detail", panel.title)["fieldConfig"]["defaults"]
        assert drawn["custom"]["lineInterpolation"] == "stepAfter", field  # no slope via 1.5
    for name, d in DASHBOARDS.items():
        for p in d["panels"]:
            for t in p.get("targets", []):
                for field in [*DISCRETE, "state_code"]:
                    assert not re.search(rf'mean\("{field}"\)', t["query"]), (name, p["title"])


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_time_axis_note_and_latest_data(name: str) -> None:
    d = DASHBOARDS[name]
    assert d["time"] == {"from": "now-6h", "to": "now"}  # live at speed 1 (the compose stack)
    assert d["description"].endswith(TIME_AXIS_NOTE)
    assert "speed > 1" in d["description"]
    assert "now+" in d["description"]
    ahead = [r for r in d["timepicker"]["quick_ranges"] if r["to"].startswith("now+")]
    assert len(ahead) >= 3
    latest = _panel(name, LATEST_DATA)
    query = latest["targets"][0]["query"]
    assert query == LATEST_DATA_QUERY
    assert "$timeFilter" not in query  # where the data is, whatever the range
    assert latest["options"]["reduceOptions"] == {
        "calcs": ["max"],
        "fields": "/^Time$/",
        "values": False,
    }
    assert latest["fieldConfig"]["defaults"]["unit"] == "dateTimeFromNow"
    assert latest["description"] == TIME_AXIS_NOTE


def test_state_stat_says_it_is_the_last_state_in_range() -> None:
    panel = _panel("machine-detail", "Last state in range")
    assert 'last("state_code")' in panel["targets"][0]["query"]
    assert "$timeFilter" in panel["targets"][0]["query"]
    assert "end of the time range" in panel["description"]
    assert all(p.get("title") != "Current state" for p in DASHBOARDS["machine-detail"]["panels"])


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_query_shows_the_selected_run(name: str) -> None:
    d = DASHBOARDS[name]
    variables = [v for v in d["templating"]["list"] if v["type"] == "query"]
    assert [v["name"] for v in variables][:2] == ["cell", "run"]  # the run of the cell
    for v in variables[2:]:
        assert RUN_FILTER in v["query"], (name, v["name"])
    for p in d["panels"]:
        for t in p.get("targets", []):
            # in every WHERE clause: each subquery of an event count keeps to the run too
            query = t["query"]
            assert query.count(RUN_FILTER) == query.count("WHERE") >= 1, (name, p["title"])


def test_above_100_percent_is_blue_where_the_description_says_so() -> None:
    """A panel saying OEE above 100 % is blue colours it so: a threshold at 1.0 in blue, and a
    time series draws its thresholds (the lines keep their series' colours)."""
    said = [
        (name, p)
        for name, d in DASHBOARDS.items()
        for p in d["panels"]
        if "blue" in p.get("description", "")
    ]
    assert {(name, p["title"]) for name, p in said} >= {
        ("cell-overview", "OEE over time"),
        ("machine-detail", "Availability, utilisation and OEE (since start)"),
        ("cell-overview", "Cell OEE"),
        ("cell-overview", "OEE per machine (since start)"),
    }
    for name, p in said:
        defaults = p["fieldConfig"]["defaults"]
        steps = defaults.get("thresholds", {}).get("steps", [])
        assert {"value": 1.0, "color": "blue"} in steps, (name, p["title"])
        assert steps[-1]["value"] == 1.0, (name, p["title"])  # blue is all above 100 %
        if p["type"] == "timeseries":
            style = defaults["custom"].get("thresholdsStyle", {}).get("mode", "off")
            assert style in ("area", "line+area", "dashed+area"), (name, p["title"])
            assert "dashed line at 100 %" in p["description"]
        else:
            assert defaults.get("color", {}).get("mode", "thresholds") == "thresholds"
