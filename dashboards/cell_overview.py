"""Cell overview: machine states, OEE per machine, throughput, WIP, late jobs, faults, and the
states of the PLC links (``twin run --adapters``)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import statetimeline, table
from grafana_foundation_sdk.models import dashboard as dash_model

from dashboards.common import (
    CELL_RUN_FILTER,
    LINK_MAPPINGS,
    RESTATED_NOTE,
    UNDEFINED_OEE,
    cell_variable,
    datasource_variable,
    new_dashboard,
    q,
    run_variable,
)
from dashboards.panels import (
    OEE_ABOVE_1,
    OEE_ABOVE_1_LINE,
    OEE_GAUGE_MAX,
    OEE_THRESHOLDS,
    bars,
    event_count,
    gauge_bars,
    latest_data,
    oee_over_time,
    row,
    stat_value,
    state_timeline,
    table_panel,
    thresholds,
    timeseries_panel,
)

__all__ = ["LINK_STATES", "LINK_TABLE", "UID", "build"]

UID = "celltwin-overview"

_CELL_KPI = f'"kpi" WHERE {CELL_RUN_FILTER} AND "scope" = \'cell\' AND $timeFilter'
# the machines the cell's KPIs count: the transport robot's moves are no operations to rate
_IN_CELL = "\"in_cell\" != 'false'"
_MACHINE_KPI = (
    f'"kpi" WHERE {CELL_RUN_FILTER} AND "scope" != \'cell\' AND {_IN_CELL} AND $timeFilter'
)
_NO_ROBOT = (
    "The transport robot is left out, as the cell's OEE leaves it out (moving parts is no"
    " operation to rate); the machine detail dashboard shows its OEE."
)
_JOBS = f'"job_event" WHERE {CELL_RUN_FILTER} AND "event" = \'job_completed\''
_COMPLETED = f"{_JOBS} AND $timeFilter"
_LATE = f'{_JOBS} AND "late" = true AND $timeFilter'
_RAISED = f'"fault" WHERE {CELL_RUN_FILTER} AND "active" = true AND $timeFilter'
_UNDEFINED = "Shown as - when no KPI point of the cell in the time range has it (not 0)."
LINK_STATES = "PLC link states"
LINK_TABLE = "PLC links: latest state"
# the table's columns (fields of plc_link, and its kind tag) with their headings
_LINK_COLUMNS = {
    "connected": "State",
    "since": "Since (wall clock, UTC)",
    "failures": "Failures in a row",
    "total_failures": "Failures (since the twin started)",
    "bad_tags": "Bad tags",
    "last_error": "Last error",
    "kind": "Kind",
    "endpoint": "Endpoint",
}


def build() -> dash.Dashboard:
    """The cell overview dashboard."""
    return (
        new_dashboard(
            UID,
            "cell-twin: cell overview",
            "Machine states, OEE per machine, throughput, WIP and late jobs of one cell.",
        )
        .with_variable(datasource_variable())
        .with_variable(cell_variable())
        .with_variable(run_variable())
        .with_row(row("Now"))
        .with_panel(
            stat_value(
                "Cell OEE",
                q(f'SELECT last("oee") FROM {_CELL_KPI}'),
                unit="percentunit",
                span=3,
            )
            .thresholds(OEE_THRESHOLDS)
            .description(f"{UNDEFINED_OEE} Shown as - then, not 0 %. {OEE_ABOVE_1}")
        )
        .with_panel(
            stat_value(
                "Throughput",
                q(f'SELECT last("throughput_per_h") FROM {_CELL_KPI}'),
                unit="jobs/h",
                span=3,
            )
            .decimals(2)
            .description(f"Jobs completed per hour since the start of the run. {_UNDEFINED}")
        )
        .with_panel(
            stat_value("WIP (mean)", q(f'SELECT last("wip_mean") FROM {_CELL_KPI}'), span=3)
            .decimals(1)
            .description(f"Mean work in progress since the start of the run. {_UNDEFINED}")
        )
        .with_panel(event_count("Jobs completed (in range)", 'count("job")', _COMPLETED, span=3))
        .with_panel(
            event_count("Late jobs (in range)", 'count("job")', _LATE, span=3).thresholds(
                thresholds((None, "green"), (1, "red"))
            )
        )
        .with_panel(
            event_count(
                "Faults raised (in range)", 'count("severity")', _RAISED, span=3
            ).thresholds(thresholds((None, "green"), (1, "orange")))
        )
        .with_panel(latest_data(span=6))
        .with_row(row("Machines"))
        .with_panel(
            state_timeline(
                "Machine states",
                q(
                    f'SELECT "state" FROM "machine_state" WHERE {CELL_RUN_FILTER} AND $timeFilter '
                    'GROUP BY "machine"'
                ).alias("$tag_machine"),
            ).description(f"Each machine's state over time. {RESTATED_NOTE}")
        )
        .with_panel(
            gauge_bars(
                "OEE per machine (since start)",
                q(f'SELECT last("oee") FROM {_MACHINE_KPI} GROUP BY "scope"').alias("$tag_scope"),
                max_value=OEE_GAUGE_MAX,
            ).description(
                f"{UNDEFINED_OEE} Such a machine has no bar (not 0 %). {_NO_ROBOT}"
                f" {OEE_ABOVE_1} The bars"
                f" end at {OEE_GAUGE_MAX:.0%}; the number is exact above that too."
            )
        )
        .with_panel(
            oee_over_time(
                timeseries_panel(
                    "OEE over time",
                    q(
                        f'SELECT mean("oee") FROM "kpi" WHERE {CELL_RUN_FILTER} AND {_IN_CELL} '
                        'AND $timeFilter GROUP BY time($__interval), "scope" fill(none)'
                    ).alias("$tag_scope"),
                    unit="percentunit",
                )
            ).description(
                f"{UNDEFINED_OEE} Its line starts at its first part. {_NO_ROBOT} {OEE_ABOVE_1_LINE}"
            )
        )
        .with_row(row("Production"))
        .with_panel(
            bars(
                "Jobs completed per hour",
                q(f'SELECT count("job") FROM {_COMPLETED} GROUP BY time(1h) fill(none)').alias(
                    "completed"
                ),
            )
        )
        .with_panel(
            timeseries_panel(
                "Throughput and WIP",
                q(
                    'SELECT mean("throughput_per_h") AS "throughput (jobs/h)", '
                    f'mean("wip_mean") AS "WIP (mean)" FROM {_CELL_KPI} '
                    "GROUP BY time($__interval) fill(none)"
                ).alias("$col"),
            )
        )
        .with_panel(
            timeseries_panel(
                "Completed and late jobs (cumulative)",
                q(
                    'SELECT last("jobs_completed") AS "completed", last("jobs_late") AS "late" '
                    f"FROM {_CELL_KPI} GROUP BY time($__interval) fill(none)"
                ).alias("$col"),
            ).decimals(0)
        )
        .with_panel(
            table_panel(
                "Faults raised (newest first)",
                q(
                    'SELECT "machine", "kind", "severity", "source" FROM "fault" '
                    f'WHERE {CELL_RUN_FILTER} AND "active" = true AND $timeFilter '
                    "ORDER BY time DESC LIMIT 50"
                ),
                span=12,
                height=8,
            )
        )
        .with_row(row("PLC links"))
        .with_panel(_link_states())
        .with_panel(_link_table())
    )


def _link_states() -> statetimeline.Panel:
    """Each PLC link's state over time: connected or down."""
    return state_timeline(
        LINK_STATES,
        q(
            f'SELECT "connected" FROM "plc_link" WHERE {CELL_RUN_FILTER} AND $timeFilter '
            'GROUP BY "link"'
        ).alias("$tag_link"),
        height=6,
        mappings=LINK_MAPPINGS,
    ).description(
        "Each PLC link of the run (twin run --adapters): connected (green) or down (red), from"
        f" its state when the telemetry started. {RESTATED_NOTE} Stamped on the run's time"
        " axis, as every panel (at speed > 1 ahead of the wall clock), so it lines up with"
        " the machines' states and signals. No lanes: the run links no PLC."
    )


def _link_table() -> table.Panel:
    """The latest state of each PLC link of the run, whatever the time range."""
    cols = ", ".join(f'"{c}"' for c in _LINK_COLUMNS)
    panel = (
        table_panel(
            LINK_TABLE,
            q(
                f'SELECT {cols} FROM "plc_link" WHERE {CELL_RUN_FILTER} '
                'GROUP BY "link" ORDER BY time DESC LIMIT 1'
            ),
            height=6,
        )
        .no_value("no PLC linked in this run")
        .description(
            "The latest state of each PLC link of the run, whatever the time range: connected"
            " or down and since when (the wall-clock time, UTC, it last connected or went"
            " down), the failed connects and lost links since it last worked and since the"
            " twin started, the tags the PLC refuses now, and the last error of the link or"
            " a tag (kept after a reconnect). Last change: when the latest change was"
            " reported, on the run's time axis."
        )
        .override_by_name("Time", [dash_model.DynamicConfigValue("displayName", "Last change")])
    )
    for column, heading in _LINK_COLUMNS.items():
        properties = [dash_model.DynamicConfigValue("displayName", heading)]
        if column == "connected":  # by name and colour: connected (green), down (red)
            properties += [
                dash_model.DynamicConfigValue("mappings", LINK_MAPPINGS),
                dash_model.DynamicConfigValue("custom.cellOptions", {"type": "color-background"}),
            ]
        panel = panel.override_by_name(column, properties)
    return panel
