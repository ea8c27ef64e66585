"""Pieces shared by the dashboards: datasource, template variables, panel helpers, schema names.

The telemetry schema the queries rely on (written by ``twin/telemetry``):

- ``machine_signal`` tags cell, machine, kind; one float field per process signal, ``quality``
- ``machine_state`` tags cell, machine, kind; fields state, mode, state_code, job
- ``job_event`` tags cell, event, family, machine; fields job, op, lead_time, tardiness, late,
  good
- ``fault`` tags cell, machine, kind; fields severity, active, source
- ``kpi`` tags cell, scope (machine id or ``cell``); KPI fields, periodic

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
    "DATASOURCE",
    "DATASOURCE_NAME",
    "DATASOURCE_UID",
    "MACHINE_FILTER",
    "STATE_MAPPINGS",
    "TAGS",
    "UNDEFINED_OEE",
    "cell_variable",
    "datasource_variable",
    "machine_variable",
    "new_dashboard",
    "q",
]

DATASOURCE_UID = "celltwin-influxql"
DATASOURCE_NAME = "cell-twin InfluxQL"
DATASOURCE = model.DataSourceRef(type_val="influxdb", uid="${datasource}")
TAGS = ["cell-twin"]

# Grafana substitutes single-valued variables as-is inside /^...$/ (regex-escaped since v7),
# so a regex match keeps the queries valid for "All"/multi-value selections too.
CELL_FILTER = '"cell" =~ /^$cell$/'
MACHINE_FILTER = '"machine" =~ /^$machine$/'

# a KPI with nothing to rate is left out of its point (SCHEMA.md): the panels say what shows
UNDEFINED_OEE = (
    "No OEE until a machine (or the cell) finishes its first operation: nothing produced to"
    " rate, so its KPI points carry no oee field."
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


def q(query: str, ref_id: str = "A") -> InfluxQL:
    """A raw InfluxQL target on the dashboard's datasource."""
    return InfluxQL(query).ref_id(ref_id).datasource(DATASOURCE)


def datasource_variable() -> dash.DatasourceVariable:
    """The InfluxDB datasource to query; defaults to the provisioned one."""
    return (
        dash.DatasourceVariable("datasource")
        .label("Data source")
        .type("influxdb")
        .current(model.VariableOption(selected=True, text=DATASOURCE_NAME, value=DATASOURCE_UID))
    )


def tag_variable(
    name: str, label: str, query: str, *, multi: bool, include_all: bool, all_selected: bool
) -> dash.QueryVariable:
    """A template variable over the values of a tag (``SHOW TAG VALUES ...``); "All" matches
    every value (``.*``) and, with ``all_selected``, is what the dashboard opens with."""
    variable = (
        dash.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .include_all(include_all)
        .all_value(".*")
        .multi(multi)
    )
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


def machine_variable(*, multi: bool) -> dash.QueryVariable:
    """The machine(s) of the selected cell, from the ``machine`` tag of ``machine_state``."""
    return tag_variable(
        "machine",
        "Machine",
        f'SHOW TAG VALUES FROM "machine_state" WITH KEY = "machine" WHERE {CELL_FILTER}',
        multi=multi,
        include_all=multi,
        all_selected=True,
    )


def new_dashboard(uid: str, title: str, description: str) -> dash.Dashboard:
    """A dashboard with the shared settings: tags, live time range, refresh, cursor sync."""
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .editable()
        .timezone("browser")
        .time("now-6h", "now")
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
