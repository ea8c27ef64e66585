"""On the dashboards, a machine with nothing produced to rate has no OEE, not 0 %.

Twenty minutes of the default scenario, as the telemetry file sink writes them, loaded into a
real InfluxDB 1.x: the printer is on its first part and the robot has only moved parts, so
their KPI points carry no ``oee`` (``twin.kpi``: undefined), while the CNC and the inspection
finished a part each. The dashboards' OEE queries, run as Grafana runs them, then return the
twin's OEE for those two and nothing for the printer and the robot: no bar, no line, instead
of a 0 % that reads as a machine doing badly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from dashboards import load_dashboards
from tests.dashboards.grafana_queries import ALL_VARS, DB, SCENARIO, panel_query, substitute
from tests.dashboards.influxdb1 import InfluxDB1, influxdb1
from tests.dashboards.telemetry_lines import run_of, sink_lines

pytestmark = pytest.mark.services

DASHBOARDS = load_dashboards()
# the server, the variables as Grafana sets them (the run's), the run's KPIs (summary.json)
OneRun = tuple[InfluxDB1, dict[str, str], dict[str, Any]]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OneRun]:
    server = influxdb1(tmp_path_factory.mktemp("influxdb1"))
    server.start()
    try:
        server.create_database(DB)
        run = tmp_path_factory.mktemp("run")
        lines = sink_lines(SCENARIO, run, "20m", "10m")
        server.write(DB, lines)
        summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
        yield server, {**ALL_VARS, "run": run_of(lines)}, summary["kpis"]
    finally:
        server.stop()


def _series(
    influx: InfluxDB1, query: str, variables: dict[str, str], **values: str
) -> dict[str, list[Any]]:
    """Series name (the scope tag) -> its rows, of the query as Grafana sends it."""
    result = influx.query(substitute(query, {**variables, **values}), DB)
    assert "error" not in result, result
    return {s["tags"]["scope"]: s["values"] for s in result.get("series", [])}


def test_oee_per_machine_has_no_bar_for_what_produced_nothing(
    loaded: OneRun,
) -> None:
    influx, variables, kpis = loaded
    series = _series(
        influx, panel_query(DASHBOARDS["cell-overview"], "OEE per machine (since start)"), variables
    )
    assert sorted(series) == ["cnc1", "vision1"]  # not printer1 or robot1 at 0 %
    for scope, rows in series.items():
        assert rows[0][1] == pytest.approx(kpis["machines"][scope]["oee"])


def test_cell_oee_and_machine_detail(
    loaded: OneRun,
) -> None:
    influx, variables, kpis = loaded
    cell = influx.query(
        substitute(panel_query(DASHBOARDS["cell-overview"], "Cell OEE"), variables), DB
    )
    assert cell["series"][0]["values"][0][1] == pytest.approx(kpis["cell"]["oee"])
    # the printer's availability and utilisation are there, its OEE column is empty
    detail = panel_query(
        DASHBOARDS["machine-detail"], "Availability, utilisation and OEE (since start)"
    )
    rows = _series(influx, detail, variables, machine="printer1")["printer1"]
    assert rows
    assert all(
        row[1] == pytest.approx(kpis["machines"]["printer1"]["availability"]) for row in rows
    )
    assert all(row[3] is None for row in rows)
