"""Every dashboard query returns data from a real InfluxDB 1.x loaded with a simulated run.

A 2-day run of the default scenario (signals every 60 s), as the telemetry file sink writes it,
is loaded through ``/write?db=celltwin&precision=ns`` (``grafana_queries``, by the ``influx``
fixture of this package's conftest); each panel target and each
template-variable query is then run the way Grafana runs it: with ``$timeFilter``,
``$__interval`` and the template variables substituted (regex-escaped as Grafana's InfluxDB
datasource does inside ``/^...$/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dashboards import load_dashboards
from dashboards.machine_detail import KIND_ROWS
from tests.dashboards.grafana_queries import (
    ALL,
    DB,
    MACHINES,
    SCENARIO,
    has_data,
    stat_sum,
    substitute,
    targets,
    variable_queries,
)
from tests.dashboards.influxdb1 import InfluxDB1

pytestmark = pytest.mark.services

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
def test_query_returns_data(influx: InfluxDB1, variables: dict[str, str], query: str) -> None:
    """Each query, with all machines and families selected, returns data."""
    for cell in ("cell-1", ALL):
        result = influx.query(substitute(query, {**variables, "cell": cell}), DB)
        assert has_data(result), f"no data for cell={cell}: {query}"


def test_machine_detail_per_machine(influx: InfluxDB1, variables: dict[str, str]) -> None:
    """With one machine selected, the common panels and that machine's kind row have data."""
    kind_of_row = {title: kind for title, (kind, _) in KIND_ROWS.items()}
    for row, title, query in targets(DASHBOARDS["machine-detail"]):
        kind = kind_of_row.get(row or "")
        machines = [MACHINES[kind]] if kind else list(MACHINES.values())
        for machine in machines:
            result = influx.query(substitute(query, {**variables, "machine": machine}), DB)
            assert has_data(result), f"{title}: no data for machine={machine}"
        if kind:
            # and only that machine's series: the kind filter keeps other machines out
            other = next(m for k, m in MACHINES.items() if k != kind)
            result = influx.query(substitute(query, {**variables, "machine": other}), DB)
            assert not has_data(result), f"{title}: data for {other} in the {row} row"


def test_values_are_the_runs(influx: InfluxDB1, variables: dict[str, str]) -> None:
    """Spot checks that the loaded data and the queries agree with the run, not just exist."""
    d = DASHBOARDS["cell-overview"]
    by_title = {title: q for _, title, q in targets(d)}
    n_completed = stat_sum(
        influx.query(substitute(by_title["Jobs completed (in range)"], variables), DB)
    )
    n_late = stat_sum(influx.query(substitute(by_title["Late jobs (in range)"], variables), DB))
    assert n_completed is not None
    assert n_late is not None
    assert 0 < n_late < n_completed
    # the last cumulative KPI report agrees with the job events
    run = f"run = '{variables['run']}'"
    kpi = influx.query(
        f"SELECT last(jobs_completed), last(jobs_late) FROM kpi WHERE scope = 'cell' AND {run}", DB
    )
    _, kpi_completed, kpi_late = kpi["series"][0]["values"][0]
    assert kpi_completed <= n_completed
    assert kpi_late <= n_late
    # the paused-jobs table lists the operator's pauses and resumes, newest first; the job
    # paused twice is one paused job
    jobs = {title: q for _, title, q in targets(DASHBOARDS["jobs"])}
    paused = influx.query(substitute(jobs["Pauses and resumes (newest first)"], variables), DB)
    rows = [row[1:] for row in paused["series"][0]["values"]]
    assert rows == 2 * [
        ["SO-1001", "machined_bracket", "job_resumed"],
        ["SO-1001", "machined_bracket", "job_paused"],
    ]
    n_paused = influx.query(substitute(jobs["Jobs paused (in range)"], variables), DB)
    assert stat_sum(n_paused) == 1
    # each job held by a fault is on a machine a fault took out of service at that instant
    held = influx.query(substitute(jobs["Jobs held by a fault (newest first)"], variables), DB)
    rows = held["series"][0]["values"]
    assert rows
    raised = influx.query(f"SELECT severity, machine FROM fault WHERE active = true AND {run}", DB)
    faults = {(t, machine) for t, _, machine in raised["series"][0]["values"]}
    for t, job, _family, machine, state, _mode in rows:
        assert job
        assert state == "OutOfService"
        assert (t, machine) in faults, (t, job, machine)
    # the state timeline has one lane per machine of the scenario
    states = influx.query(substitute(by_title["Machine states"], variables), DB)
    assert sorted(s["tags"]["machine"] for s in states["series"]) == sorted(MACHINES.values())


def test_substitute_escapes_like_grafana() -> None:
    q = 'SELECT x FROM m WHERE "machine" =~ /^$machine$/ AND $timeFilter GROUP BY time($__interval)'
    out = substitute(q, {"machine": "a.b/c"})
    assert r"/^a\.b\/c$/" in out
    assert "time >= 1767592800000ms and time <= 1767765600000ms" in out
    assert out.endswith("GROUP BY time(5m)")
    assert Path(SCENARIO).is_file()
