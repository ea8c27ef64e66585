"""Pieces shared by the dashboards: datasource, template variables, panel helpers, schema names.

The telemetry schema the queries rely on (written by ``twin/telemetry``):

- ``machine_signal`` tags cell, machine, kind; one float field per process signal, ``quality``
- ``machine_state`` tags cell, machine, kind; fields state, mode, state_code, job
- ``job_event`` tags cell, event, family, machine; fields job, op, lead_time, tardiness, late,
  good
- ``fault`` tags cell, machine, kind; fields severity, active, source
- ``kpi`` tags cell, scope (machine id or ``cell``); KPI fields, periodic
- ``plc_link`` tags cell, link, kind; fields connected, failures, total_failures, bad_tags,
  last_error, since, endpoint (``twin run --adapters`` only)
- every point also has the tag run (the run that wrote it): runs sharing a database stay
  apart, so every panel and variable (but the run's own) shows one run, ``$run``

Every panel and variable queries through the ``datasource`` template variable, so pushed
dashboards work with whatever InfluxDB (InfluxQL) datasource a Grafana has; the provisioned one
has the uid ``DATASOURCE_UID``.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import dashboard as model

from dashboards.influxql import InfluxQL

__all__ = [
    "CELL_FILTER",
    "CELL_RUN_FILTER",
    "DATASOURCE",
    "DATASOURCE_NAME",
    "DATASOURCE_UID",
    "LATEST_DATA_QUERY",
    "LINK_MAPPINGS",
    "MACHINE_FILTER",
    "QUALITY_CODES",
    "QUALITY_MAPPINGS",
    "QUICK_RANGES",
    "RUN_FILTER",
    "STATE_MAPPINGS",
    "TAGS",
    "TIME_AXIS_NOTE",
    "UNDEFINED_OEE",
    "cell_variable",
    "count_in_range",
    "datasource_variable",
    "machine_variable",
    "new_dashboard",
    "q",
    "run_variable",
]

DATASOURCE_UID = "celltwin-influxql"
DATASOURCE_NAME = "cell-twin InfluxQL"
DATASOURCE = model.DataSourceRef(type_val="influxdb", uid="${datasource}")
TAGS = ["cell-twin"]

# Grafana substitutes single-valued variables as-is inside /^...$/ (regex-escaped since v7),
# so a regex match keeps the queries valid for "All"/multi-value selections too.
CELL_FILTER = '"cell" =~ /^$cell$/'
MACHINE_FILTER = '"machine" =~ /^$machine$/'
# one run: a single value, compared as it is (run ids hold no regex metacharacter, so a
# Grafana that regex-escapes the value leaves it alone)
RUN_FILTER = "\"run\" = '$run'"
# what every panel shows: the selected cell in the selected run
CELL_RUN_FILTER = f"{CELL_FILTER} AND {RUN_FILTER}"
# a state's changes only: not the points that state it again with each KPI report
# (``restated=true``, SCHEMA.md); data written before the tag existed passes too
CHANGES_ONLY = "\"restated\" != 'true'"
# what the state timelines say of the points they show
RESTATED_NOTE = (
    "Each change, and each state again with each KPI report (by default every hour of"
    " simulated time in twin simulate, every 10 wall seconds in twin run: 10 s x the speed on"
    " this time axis), so a lane begins at the range's start once the range is longer than"
    " that."
)

# a KPI with nothing to rate is left out of its point (SCHEMA.md): the panels say what shows
UNDEFINED_OEE = (
    "No OEE until a machine (or the cell) finishes its first operation: nothing produced to"
    " rate, so its KPI points carry no oee field."
)

# the dashboards cannot know the run's speed: the default range stays the last 6 hours (live at
# speed 1, the compose stack's speed) and every dashboard says where the data is otherwise
TIME_AXIS_NOTE = (
    "Time axis: the twin stamps its telemetry with the run's start plus simulated time. At speed"
    " 1 that is the wall clock and the default range, the last 6 hours, is live. At speed > 1 the"
    " data runs ahead of the wall clock: after H hours at speed S it reaches now + (S - 1) x H"
    " hours (make run, x60: about 2.5 days per hour), and now-6h..now shows only the first"
    " minutes of the run. Then end the range at now+Nd (e.g. now-6h to now+7d, or a quick range"
    " of the time picker); Latest data shows how far the data of the cell reaches."
)
# (display, from, to): offered by Grafana versions that read a dashboard's quick ranges
QUICK_RANGES = (
    ("Last 6 hours (speed 1)", "now-6h", "now"),
    ("Speed > 1: last 6 hours to 1 day ahead", "now-6h", "now+1d"),
    ("Speed > 1: last 6 hours to 7 days ahead", "now-6h", "now+7d"),
    ("Speed > 1: last day to 30 days ahead", "now-1d", "now+30d"),
    ("Speed > 1: last day to 1 year ahead", "now-1d", "now+1y"),
)

# where the data of the cell ends, whatever the time range: the newest point of the
# measurements the twin writes while it runs (state changes, KPI reports, signal samples)
LATEST_DATA_QUERY = (
    'SELECT "state_code", "produced", "quality" FROM "machine_state", "kpi", "machine_signal" '
    f"WHERE {CELL_RUN_FILTER} ORDER BY time DESC LIMIT 1"
)

# a running twin writes state changes and KPI reports of the cell: a range with either has
# telemetry of the cell, so an event count of nothing there is a true 0
_REPORTED = (
    f'(SELECT count("state_code") * 0 AS "n" FROM "machine_state" WHERE {CELL_RUN_FILTER} '
    "AND $timeFilter)",
    f'(SELECT count("produced") * 0 AS "n" FROM "kpi" WHERE {CELL_RUN_FILTER} AND $timeFilter)',
)

# OPC UA Machinery MachineryItemState values with the colours operators expect; keyed by the
# state name (``state`` field) and by its code (``state_code`` field: 0..3 in this order)
_STATES = [
    ("NotAvailable", "gray"),
    ("OutOfService", "red"),
    ("NotExecuting", "yellow"),
    ("Executing", "green"),
]
STATE_MAPPINGS: list[model.ValueMapping] = [
    model.ValueMap(
        options={
            key: model.ValueMappingResult(text=name, color=color, index=i)
            for i, (name, color) in enumerate(_STATES)
            for key in (name, str(i))
        }
    )
]

# a PLC link's ``connected`` field (a boolean; Grafana looks booleans up as "true"/"false")
LINK_MAPPINGS: list[model.ValueMapping] = [
    model.ValueMap(
        options={
            "true": model.ValueMappingResult(text="connected", color="green", index=0),
            "false": model.ValueMappingResult(text="down", color="red", index=1),
        }
    )
]


# the OPC UA status codes the ``quality`` field of ``machine_signal`` holds (SCHEMA.md), by
# name, with a colour; other codes by their severity bits (Uncertain 01, Bad 10)
QUALITY_CODES = {
    "Good": (0x00000000, "green"),
    "Uncertain_LastUsableValue": (0x40900000, "orange"),  # a PLC link lost: the last value
    "Bad_NoData": (0x809B0000, "red"),  # a value missing from the sample
}
QUALITY_MAPPINGS: list[model.ValueMapping] = [
    model.ValueMap(
        options={
            str(code): model.ValueMappingResult(text=name, color=color, index=i)
            for i, (name, (code, color)) in enumerate(QUALITY_CODES.items())
        }
    ),
    model.RangeMap(
        options=model.DashboardRangeMapOptions(
            from_val=0x40000000,
            to=0x7FFFFFFF,
            result=model.ValueMappingResult(text="Uncertain", color="orange", index=3),
        )
    ),
    model.RangeMap(
        options=model.DashboardRangeMapOptions(
            from_val=0x80000000,
            to=0xFFFFFFFF,
            result=model.ValueMappingResult(text="Bad", color="red", index=4),
        )
    ),
]


def q(query: str, ref_id: str = "A") -> InfluxQL:
    """A raw InfluxQL target on the dashboard's datasource."""
    return InfluxQL(query).ref_id(ref_id).datasource(DATASOURCE)


def count_in_range(aggregate: str, source: str) -> str:
    """A count of events in the time range that is 0 only where the cell has telemetry.

    ``aggregate`` (e.g. ``count("job")``) over ``source`` (``"measurement" WHERE ... AND
    $timeFilter``), plus 0 for each measurement the twin writes for the cell while it runs:
    the rows (one per measurement with points in range) add up to the count, or to 0 when no
    such event happened while the twin reported; no rows at all where the cell has no
    telemetry in the range (a range before the run, or ahead of it), so the panel shows
    ``-`` there instead of a 0 that reads as "nothing happened". InfluxQL keeps the
    measurements apart, so the panel adds the rows up (table format, ``sum``).
    """
    return f'SELECT sum("n") FROM (SELECT {aggregate} AS "n" FROM {source}), ' + ", ".join(
        _REPORTED
    )


def datasource_variable() -> dash.DatasourceVariable:
    """The InfluxDB datasource to query; defaults to the provisioned one."""
    return (
        dash.DatasourceVariable("datasource")
        .label("Data source")
        .type("influxdb")
        .current(model.VariableOption(selected=True, text=DATASOURCE_NAME, value=DATASOURCE_UID))
    )


def tag_variable(
    name: str,
    label: str,
    query: str,
    *,
    multi: bool,
    include_all: bool,
    all_selected: bool,
    sort: model.VariableSort = model.VariableSort.ALPHABETICAL_ASC,
) -> dash.QueryVariable:
    """A template variable over the values of a tag (``SHOW TAG VALUES ...``); "All" matches
    every value (``.*``) and, with ``all_selected``, is what the dashboard opens with."""
    variable = (
        dash.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(sort)
        .include_all(include_all)
        .multi(multi)
    )
    if include_all:
        variable = variable.all_value(".*")
    if all_selected:
        variable = variable.current(model.VariableOption(selected=True, text="All", value="$__all"))
    return variable


def cell_variable() -> dash.QueryVariable:
    """The cell(s) to show, from the ``cell`` tag of ``machine_state``."""
    return tag_variable(
        "cell",
        "Cell",
        'SHOW TAG VALUES FROM "machine_state" WITH KEY = "cell"',
        multi=False,
        include_all=True,
        all_selected=False,
    )


def run_variable() -> dash.QueryVariable:
    """The run to show, from the ``run`` tag of ``machine_state`` of the selected cell: one
    run, newest first (run ids begin with the UTC time the run started), so a dashboard
    opens on the latest run (Grafana selects the first value when none is set)."""
    return tag_variable(
        "run",
        "Run",
        f'SHOW TAG VALUES FROM "machine_state" WITH KEY = "run" WHERE {CELL_FILTER}',
        multi=False,
        include_all=False,
        all_selected=False,
        sort=model.VariableSort.ALPHABETICAL_DESC,
    )


def machine_variable(*, multi: bool) -> dash.QueryVariable:
    """The machine(s) of the selected cell and run, from the ``machine`` tag of
    ``machine_state``."""
    return tag_variable(
        "machine",
        "Machine",
        f'SHOW TAG VALUES FROM "machine_state" WITH KEY = "machine" WHERE {CELL_RUN_FILTER}',
        multi=multi,
        include_all=multi,
        all_selected=True,
    )


def new_dashboard(uid: str, title: str, description: str) -> dash.Dashboard:
    """A dashboard with the shared settings: tags, live time range (and quick ranges ahead of
    now, for runs at speed > 1), refresh, cursor sync; the description ends with the note on
    the time axis."""
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(f"{description} {TIME_AXIS_NOTE}")
        .tags(TAGS)
        .editable()
        .timezone("browser")
        .time("now-6h", "now")
        .timepicker(
            dash.TimePicker().quick_ranges(
                [dash.TimeOption().display(d).from_val(f).to(t) for d, f, t in QUICK_RANGES]
            )
        )
        .refresh("10s")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .link(
            dash.DashboardLink("cell-twin dashboards")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags(TAGS)
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
