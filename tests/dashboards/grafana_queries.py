"""The dashboards' queries as Grafana sends them, and the simulated runs they are tested on.

A 2-day run of the default scenario (signals every 60 s), as the telemetry file sink writes it,
is loaded through ``/write?db=celltwin&precision=ns`` (``load_run``), after an earlier run of
the same scenario with another seed over its first day (with a planned maintenance and a
breakdown of the printer): the same timestamps, told apart only by their ``run`` tag, as two
runs into one bucket are. Each run also has PLC links (``link_lines``: a simulation has none).
Each panel target is run the way
Grafana runs it: with ``$timeFilter``, ``$__interval`` and the template variables substituted
(regex-escaped as Grafana's InfluxDB datasource does inside ``/^...$/``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import SCENARIOS
from tests.dashboards.influxdb1 import InfluxDB1
from tests.dashboards.link_lines import EARLIER_LINKS, LINKS, link_lines
from tests.dashboards.telemetry_lines import run_of, sink_lines

__all__ = [
    "ALL",
    "ALL_VARS",
    "DB",
    "EARLIER_COMMANDS",
    "EARLIER_SEED",
    "MACHINES",
    "PAUSE",
    "RANGE",
    "SCENARIO",
    "START",
    "Loaded",
    "has_data",
    "load_run",
    "panel_query",
    "stat_sum",
    "substitute",
    "targets",
    "variable_queries",
    "variable_values",
]

DB = "celltwin"
SCENARIO = SCENARIOS / "default.toml"
START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)  # the default scenario's start
RANGE = (START, START + timedelta(days=2))
MACHINES = {"cnc": "cnc1", "robot": "robot1", "printer": "printer1", "inspection": "vision1"}
ALL = ".*"  # the variables' allValue
# every variable but the run, which the loaded data decides (``Loaded.variables``)
ALL_VARS = {"cell": "cell-1", "machine": ALL, "family": ALL}
EARLIER_SEED = 7  # the earlier run's (the scenario's is 42)
# in the earlier run, the printer (busy most of the time) goes into a planned maintenance
# (NotAvailable: no fault) and later breaks down (OutOfService), each time with a job on it
EARLIER_COMMANDS = [
    '{"type":"command","t":10800.0,"command":"inject_fault",'
    '"args":{"machine":"printer1","kind":"maintenance","duration":3600.0}}',
    '{"type":"command","t":25200.0,"command":"inject_fault",'
    '"args":{"machine":"printer1","kind":"breakdown","duration":1800.0}}',
]
# an operator pauses the first order twice, for about an hour each time (ISA-95 Pause and
# Resume), as a run's recorded commands are replayed: the paused-jobs panels have data, and a
# count of paused jobs differs from a count of pauses
PAUSE = [
    '{"type":"command","t":60.0,"command":"pause_job","args":{"job":"SO-1001"}}',
    '{"type":"command","t":3600.0,"command":"resume_job","args":{"job":"SO-1001"}}',
    '{"type":"command","t":3660.0,"command":"pause_job","args":{"job":"SO-1001"}}',
    '{"type":"command","t":7200.0,"command":"resume_job","args":{"job":"SO-1001"}}',
]


@dataclass(frozen=True)
class Loaded:
    """The database holding the runs: ``run``, the 2-day run, loaded last (the latest), and
    ``earlier``, a run of the other seed over the first day; each run's ``kpis`` as its
    ``summary.json`` has them, by run id."""

    server: InfluxDB1
    run: str
    earlier: str
    kpis: dict[str, dict[str, Any]]

    @property
    def variables(self) -> dict[str, str]:
        """Every variable at "All", the run at the 2-day run."""
        return {**ALL_VARS, "run": self.run}


def load_run(server: InfluxDB1, run_dir: Path) -> Loaded:
    """Create the database and write the earlier run, then the 2-day run into it."""
    server.create_database(DB)
    runs = []
    kpis = {}
    for name, until, signals, commands, options, links in (
        ("earlier", "1d", "10m", EARLIER_COMMANDS, ("--seed", str(EARLIER_SEED)), EARLIER_LINKS),
        ("run", "2d", "60s", PAUSE, (), LINKS),
    ):
        out = run_dir / name
        out.mkdir()
        lines = sink_lines(SCENARIO, out, until, signals, commands, *options)
        runs.append(run_of(lines))
        # its PLC links, as twin run --adapters writes them (link_lines)
        server.write(DB, lines + link_lines("cell-1", runs[-1], START, links))
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        kpis[runs[-1]] = summary["kpis"]
    assert len(lines) > 10_000
    earlier, run = runs
    return Loaded(server, run, earlier, kpis)


def _escape_regex(value: str) -> str:
    # Grafana's escapeRegex, applied to variable values inside /.../ in InfluxQL queries
    return re.sub(r"[\\^$*+?.()|\[\]{}/]", lambda m: "\\" + m.group(0), value)


def substitute(
    query: str,
    variables: dict[str, str],
    *,
    time_range: tuple[datetime, datetime] = RANGE,
    interval: str = "5m",
) -> str:
    """The query as Grafana sends it: macros and template variables replaced."""
    start_ms = int(time_range[0].timestamp() * 1000)
    end_ms = int(time_range[1].timestamp() * 1000)
    q = query.replace("$timeFilter", f"time >= {start_ms}ms and time <= {end_ms}ms")
    q = q.replace("$__interval", interval).replace("$interval", interval)
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


def stat_sum(result: dict[str, Any]) -> float | None:
    """What a stat panel of a table-format target with the ``sum`` calculation shows: Grafana
    puts the rows of every series in one table and adds up its number column; None (the
    panel's no-value text) when there are no rows."""
    assert "error" not in result, result["error"]
    values = [row[1] for s in result.get("series", []) for row in s["values"]]
    return sum(values) if values else None


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


def panel_query(d: dict[str, Any], title: str) -> str:
    """The query of the panel titled ``title`` (its first target)."""
    return next(q for _, t, q in targets(d) if t == title)


def variable_queries(d: dict[str, Any]) -> list[tuple[str, str]]:
    return [(v["name"], v["query"]) for v in d["templating"]["list"] if v["type"] == "query"]


def variable_values(
    server: InfluxDB1, d: dict[str, Any], name: str, variables: dict[str, str]
) -> list[str]:
    """The values Grafana offers for template variable ``name`` of dashboard ``d`` (a tag
    query) with the other ``variables`` set: in the variable's sort order (1: ascending, 2:
    descending; Grafana selects the first when the dashboard sets none)."""
    variable = next(v for v in d["templating"]["list"] if v["name"] == name)
    result = server.query(substitute(variable["query"], variables), DB)
    assert "error" not in result, result
    values = [str(row[1]) for s in result.get("series", []) for row in s["values"]]
    assert variable["sort"] in (1, 2), variable["sort"]
    return sorted(set(values), reverse=variable["sort"] == 2)
