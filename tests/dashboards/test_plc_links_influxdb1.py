"""The cell overview's PLC link panels on a real InfluxDB 1.x: each link's state over time and
the latest state of each, of the selected run (``link_lines``: the runs' links)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from dashboards import load_dashboards
from dashboards.cell_overview import LINK_STATES, LINK_TABLE
from tests.dashboards.grafana_queries import (
    ALL,
    ALL_VARS,
    DB,
    START,
    Loaded,
    panel_query,
    substitute,
)
from tests.dashboards.link_lines import BAD_TAG, CLOSED, LINKS, MODBUS, ODD, OPCUA

pytestmark = pytest.mark.services

DASHBOARD = load_dashboards()["cell-overview"]
MS = 1000
START_MS = int(START.timestamp() * MS)
# a range in the run in which no link changed (the table shows the latest all the same)
QUIET = (START + timedelta(hours=5), START + timedelta(hours=6))


def _series(loaded: Loaded, title: str, **kwargs: Any) -> list[dict[str, Any]]:
    variables = {**ALL_VARS, "run": kwargs.pop("run", loaded.run), "cell": kwargs.pop("cell")}
    query = substitute(panel_query(DASHBOARD, title), variables, **kwargs)
    result = loaded.server.query(query, DB)
    assert "error" not in result, result
    return list(result.get("series", []))


@pytest.mark.parametrize("cell", ["cell-1", ALL])
def test_the_state_timeline_has_each_links_changes(loaded: Loaded, cell: str) -> None:
    series = _series(loaded, LINK_STATES, cell=cell)
    lanes = {s["tags"]["link"]: [(t, v) for t, v in s["values"]] for s in series}
    assert set(lanes) == {"cell-plc", ODD}  # the run's links, not the earlier run's
    # each link's state when registered (not connected), then its changes
    expected: dict[str, list[tuple[int, bool]]] = {n: [(START_MS, False)] for n in lanes}
    for r in LINKS[1]:
        expected[r.name].append((START_MS + int(r.t * MS), r.connected))
    assert lanes == expected
    panel = next(p for p in DASHBOARD["panels"] if p.get("title") == LINK_STATES)
    assert panel["type"] == "state-timeline"
    assert panel["targets"][0]["alias"] == "$tag_link"
    options = panel["fieldConfig"]["defaults"]["mappings"][0]["options"]
    # InfluxDB answers JSON booleans; Grafana looks them up as "true" and "false"
    assert {v for _, values in lanes.items() for _, v in values} == {True, False}
    assert {k: o["text"] for k, o in options.items()} == {"true": "connected", "false": "down"}


def _table(loaded: Loaded, **kwargs: Any) -> dict[str, dict[str, Any]]:
    rows = {}
    for s in _series(loaded, LINK_TABLE, **kwargs):
        (values,) = s["values"]  # one row per link: its latest point
        rows[s["tags"]["link"]] = dict(zip(s["columns"], values, strict=True))
    return rows


@pytest.mark.parametrize("time_range", ["whole run", "quiet hour"])
def test_the_table_shows_each_links_latest_state(loaded: Loaded, time_range: str) -> None:
    kwargs = {"time_range": QUIET} if time_range == "quiet hour" else {}
    rows = _table(loaded, cell="cell-1", **kwargs)
    assert rows == {
        "cell-plc": {
            "time": START_MS + 72000 * MS,  # its last change: a tag refused
            "connected": True,
            "since": "2026-01-05T10:00:00.000Z",  # connected again after an hour down
            "failures": 0,
            "total_failures": 3,
            "bad_tags": 1,
            "last_error": BAD_TAG,
            "kind": "modbus",
            "endpoint": MODBUS,
        },
        ODD: {
            "time": START_MS + 108120 * MS,
            "connected": False,
            "since": "2026-01-06T12:00:00.000Z",  # down since, and still
            "failures": 2,
            "total_failures": 2,
            "bad_tags": 0,
            "last_error": CLOSED,  # quotes and a backslash, as the PLC said them
            "kind": "opcua",
            "endpoint": OPCUA,
        },
    }


def test_the_table_shows_the_selected_runs_links_only(loaded: Loaded) -> None:
    rows = _table(loaded, cell="cell-1", run=loaded.earlier)
    assert list(rows) == ["old-plc"]
    assert rows["old-plc"]["connected"] is True
    assert _table(loaded, cell="cell-2") == {}  # another cell: the panel's "no PLC linked"
    panel = next(p for p in DASHBOARD["panels"] if p.get("title") == LINK_TABLE)
    assert panel["fieldConfig"]["defaults"]["noValue"] == "no PLC linked in this run"
