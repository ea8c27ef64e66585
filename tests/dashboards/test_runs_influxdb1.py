"""Two runs in one database stay apart on the dashboards: each shows one run, the latest first.

An operator ran ``twin simulate --seed 42`` and then ``--seed 7`` into one bucket (and a
restarted ``twin run`` does the same on the wall clock): the same timestamps, and without a
run identity the jobs dashboard counted both runs' jobs (65 = 35 + 30) while the cell OEE
showed the last run's, and KPI points of one run overwrote the other's at the same times. The
package's database holds two such runs (``grafana_queries``): an earlier one of seed 7 over a
day, and the 2-day run of the scenario's seed over the same start.
"""

from __future__ import annotations

from collections import Counter

import pytest

from dashboards import load_dashboards
from tests.dashboards.grafana_queries import (
    ALL_VARS,
    DB,
    Loaded,
    panel_query,
    stat_sum,
    substitute,
    variable_values,
)

pytestmark = pytest.mark.services

DASHBOARDS = load_dashboards()
MEASUREMENTS = ("machine_signal", "machine_state", "job_event", "fault", "kpi", "plc_link")


def _query(loaded: Loaded, dashboard: str, title: str, run: str) -> dict:
    query = substitute(panel_query(DASHBOARDS[dashboard], title), {**ALL_VARS, "run": run})
    result = loaded.server.query(query, DB)
    assert "error" not in result, result
    return result


def test_every_point_carries_its_run(loaded: Loaded) -> None:
    """One run tag value per run in every measurement, and no point without one."""
    for measurement in MEASUREMENTS:
        result = loaded.server.query(f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "run"', DB)
        values = {row[1] for row in result["series"][0]["values"]}
        assert values == {loaded.run, loaded.earlier}, measurement
        untagged = loaded.server.query(f"SELECT count(*) FROM \"{measurement}\" WHERE run = ''", DB)
        assert "series" not in untagged, measurement


def test_the_run_variable_lists_the_latest_run_first(loaded: Loaded) -> None:
    assert loaded.earlier < loaded.run  # ids sort by the time the run started
    for name, d in DASHBOARDS.items():
        variable = next(v for v in d["templating"]["list"] if v["name"] == "run")
        assert variable["multi"] is False, name
        assert variable["includeAll"] is False, name
        assert "current" not in variable, name  # Grafana selects the first: the latest
        values = variable_values(loaded.server, d, "run", ALL_VARS)
        assert values == [loaded.run, loaded.earlier], name


@pytest.mark.parametrize("which", ["run", "earlier"])
def test_each_run_shows_its_own_jobs_and_kpis(loaded: Loaded, which: str) -> None:
    run = getattr(loaded, which)
    cell = loaded.kpis[run]["cell"]
    other = loaded.kpis[loaded.earlier if which == "run" else loaded.run]["cell"]
    assert cell["jobs_completed"] != other["jobs_completed"]  # the runs differ
    for dashboard, title in (
        ("cell-overview", "Jobs completed (in range)"),
        ("jobs", "Jobs completed"),
    ):
        assert stat_sum(_query(loaded, dashboard, title, run)) == cell["jobs_completed"], title
    # the last KPI point of each run is its own, not the other's at the same time
    (oee,) = [
        row[1] for row in _query(loaded, "cell-overview", "Cell OEE", run)["series"][0]["values"]
    ]
    assert oee == pytest.approx(cell["oee"])
    completed = _query(loaded, "cell-overview", "Completed and late jobs (cumulative)", run)
    assert (
        max(r[1] for r in completed["series"][0]["values"] if r[1] is not None)
        == (cell["jobs_completed"])
    )
    # each job finished once in its run (SO-1001 is in both runs: once on each run's table)
    finished = _query(loaded, "jobs", "Finished jobs (newest first)", run)
    jobs = Counter(row[1] for row in finished["series"][0]["values"])
    assert jobs["SO-1001"] == 1
    assert max(jobs.values()) == 1


def test_machine_and_family_variables_are_the_runs(loaded: Loaded) -> None:
    """A run's variables list what that run wrote: the earlier run, one day long, has the
    same machines; both list the scenario's families."""
    overview = DASHBOARDS["machine-detail"]
    jobs = DASHBOARDS["jobs"]
    for run in (loaded.run, loaded.earlier):
        variables = {**ALL_VARS, "run": run}
        assert variable_values(loaded.server, overview, "machine", variables)
        assert variable_values(loaded.server, jobs, "family", variables)
    missing = {**ALL_VARS, "run": "1970-01-01T00:00:00Z-000000"}
    assert variable_values(loaded.server, overview, "machine", missing) == []
    assert variable_values(loaded.server, jobs, "family", missing) == []
