"""Every dashboard query returns data from a real InfluxDB 1.x loaded with a simulated run.

A 2-day run of the default scenario (signals every 60 s), as the telemetry file sink writes it,
is loaded through ``/write?db=celltwin&precision=ns``; each panel target and each
template-variable query is then run the way Grafana runs it: with ``$timeFilter``,
``$__interval`` and the template variables substituted (regex-escaped as Grafana's InfluxDB
datasource does inside ``/^...$/``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dashboards import load_dashboards
from dashboards.machine_detail import KIND_ROWS
from tests.conftest import SCENARIOS
from tests.dashboards.influxdb1 import InfluxDB1, influxdb1
from tests.dashboards.telemetry_lines import sink_lines

pytestmark = pytest.mark.services

DB = "celltwin"
SCENARIO = SCENARIOS / "default.toml"
START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)  # the default scenario's start
RANGE = (START, START + timedelta(days=2))
MACHINES = {"cnc": "cnc1", "robot": "robot1", "printer": "printer1", "inspection": "vision1"}
ALL = ".*"  # the variables' allValue
# an operator pauses the first order twice, for about an hour each time (ISA-95 Pause and
# Resume), as a run's recorded commands are replayed: the paused-jobs panels have data, and a
# count of paused jobs differs from a count of pauses
PAUSE = [
    '{"type":"command","t":60.0,"command":"pause_job","args":{"job":"SO-1001"}}',
    '{"type":"command","t":3600.0,"command":"resume_job","args":{"job":"SO-1001"}}',
    '{"type":"command","t":3660.0,"command":"pause_job","args":{"job":"SO-1001"}}',
    '{"type":"command","t":7200.0,"command":"resume_job","args":{"job":"SO-1001"}}',
]


@pytest.fixture(scope="module")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1]:
    server = influxdb1(tmp_path_factory.mktemp("influxdb1"))
    server.start()
    try:
        server.create_database(DB)
        lines = sink_lines(SCENARIO, tmp_path_factory.mktemp("run"), "2d", "60s", PAUSE)
        assert len(lines) > 10_000
        server.write(DB, lines)
        yield server
    finally:
        server.stop()


def _escape_regex(value: str) -> str:
    # Grafana's escapeRegex, applied to variable values inside /.../ in InfluxQL queries
    return re.sub(r"[\\^$*+?.()|\[\]{}/]", lambda m: "\\" + m.group(0), value)


def substitute(query: str, variables: dict[str, str]) -> str:
    """The query as Grafana sends it: macros and template variables replaced."""
    start_ms = int(RANGE[0].timestamp() * 1000)
    end_ms = int(RANGE[1].timestamp() * 1000)
    q = query.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
    q = q.replace("$__interval", "5m").replace("$interval", "5m")
    for name, value in sorted(variables.items(), key=lambda kv: -len(kv[0])):
        v = value if value == ALL else _escape_regex(value)
        q = q.replace(f"${{{name}}}", v).replace(f"${name}", v)
    assert "$" not in q.replace("$/", "").replace("^", ""), f"unsubstituted macro in {q}"
    return q


def has_data(result: dict[str, Any]) -> bool:
    """True when the result has a series with at least one non-null value column."""
    assert "error" not in result, result["error"]
    for series in result.get("series", []):
        for row in series["values"]:
            if any(v is not None for v in row[1:]) or (len(row) == 1 and row[0] is not None):
                return True
    return False


def targets(d: dict[str, Any]) -> Iterator[tuple[str | None, str, str]]:
    """(row title, panel title, query) of every panel target, in dashboard order."""
    row: str | None = None
    for p in d["panels"]:
        if p["type"] == "row":
            row = p["title"]
            nested = p.get("panels", [])
        else:
            nested = [p]
        for panel in nested:
            for t in panel.get("targets", []):
                yield row, panel["title"], t["query"]


def variable_queries(d: dict[str, Any]) -> list[tuple[str, str]]:
    return [(v["name"], v["query"]) for v in d["templating"]["list"] if v["type"] == "query"]


ALL_VARS = {"cell": "cell-1", "machine": ALL, "family": ALL}
DASHBOARDS = load_dashboards()


def _cases() -> list[Any]:
    cases = []
    for name, d in DASHBOARDS.items():
        for row, title, query in targets(d):
            cases.append(pytest.param(query, id=f"{name}:{row}:{title}"))
        for var, query in variable_queries(d):
            cases.append(pytest.param(query, id=f"{name}:variable:{var}"))
    return cases


@pytest.mark.parametrize("query", _cases())
def test_query_returns_data(influx: InfluxDB1, query: str) -> None:
    """Each query, with all machines and families selected, returns data."""
    for cell in ("cell-1", ALL):
        result = influx.query(substitute(query, {**ALL_VARS, "cell": cell}), DB)
        assert has_data(result), f"no data for cell={cell}: {query}"


def test_machine_detail_per_machine(influx: InfluxDB1) -> None:
    """With one machine selected, the common panels and that machine's kind row have data."""
    kind_of_row = {title: kind for title, (kind, _) in KIND_ROWS.items()}
    for row, title, query in targets(DASHBOARDS["machine-detail"]):
        kind = kind_of_row.get(row or "")
        machines = [MACHINES[kind]] if kind else list(MACHINES.values())
        for machine in machines:
            result = influx.query(substitute(query, {**ALL_VARS, "machine": machine}), DB)
            assert has_data(result), f"{title}: no data for machine={machine}"
        if kind:
            # and only that machine's series: the kind filter keeps other machines out
            other = next(m for k, m in MACHINES.items() if k != kind)
            result = influx.query(substitute(query, {**ALL_VARS, "machine": other}), DB)
            assert not has_data(result), f"{title}: data for {other} in the {row} row"


def test_values_are_the_runs(influx: InfluxDB1) -> None:
    """Spot checks that the loaded data and the queries agree with the run, not just exist."""
    d = DASHBOARDS["cell-overview"]
    by_title = {title: q for _, title, q in targets(d)}
    completed = influx.query(substitute(by_title["Jobs completed (in range)"], ALL_VARS), DB)
    late = influx.query(substitute(by_title["Late jobs (in range)"], ALL_VARS), DB)
    n_completed = completed["series"][0]["values"][0][1]
    n_late = late["series"][0]["values"][0][1]
    assert 0 < n_late < n_completed
    # the last cumulative KPI report agrees with the job events
    kpi = influx.query(
        "SELECT last(jobs_completed), last(jobs_late) FROM kpi WHERE scope = 'cell'", DB
    )
    _, kpi_completed, kpi_late = kpi["series"][0]["values"][0]
    assert kpi_completed <= n_completed
    assert kpi_late <= n_late
    # the paused-jobs table lists the operator's pauses and resumes, newest first; the job
    # paused twice is one paused job
    jobs = {title: q for _, title, q in targets(DASHBOARDS["jobs"])}
    paused = influx.query(substitute(jobs["Pauses and resumes (newest first)"], ALL_VARS), DB)
    rows = [row[1:] for row in paused["series"][0]["values"]]
    assert rows == 2 * [
        ["SO-1001", "machined_bracket", "job_resumed"],
        ["SO-1001", "machined_bracket", "job_paused"],
    ]
    n_paused = influx.query(substitute(jobs["Jobs paused (in range)"], ALL_VARS), DB)
    assert n_paused["series"][0]["values"][0][1] == 1
    # each job held by a fault is on a machine a fault took out of service at that instant
    held = influx.query(substitute(jobs["Jobs held by a fault (newest first)"], ALL_VARS), DB)
    rows = held["series"][0]["values"]
    assert rows
    raised = influx.query("SELECT severity, machine FROM fault WHERE active = true", DB)
    faults = {(t, machine) for t, _, machine in raised["series"][0]["values"]}
    for t, job, machine, state, _mode in rows:
        assert job
        assert state in ("OutOfService", "NotAvailable")
        assert (t, machine) in faults, (t, job, machine)
    # the state timeline has one lane per machine of the scenario
    states = influx.query(substitute(by_title["Machine states"], ALL_VARS), DB)
    assert sorted(s["tags"]["machine"] for s in states["series"]) == sorted(MACHINES.values())


def test_substitute_escapes_like_grafana() -> None:
    q = 'SELECT x FROM m WHERE "machine" =~ /^$machine$/ AND $timeFilter GROUP BY time($__interval)'
    out = substitute(q, {"machine": "a.b/c"})
    assert r"/^a\.b\/c$/" in out
    assert "time >= 1767592800000ms and time <= 1767765600000ms" in out
    assert out.endswith("GROUP BY time(5m)")
    assert Path(SCENARIO).is_file()
