"""Jobs: lead time, tardiness, late jobs, operations per machine, the most recent jobs, the
jobs paused and resumed (ISA-95 Pause and Resume) and the jobs a fault on their machine held
(ISA-95 Interrupted/Held: a fault took the machine out of service with the job on it; a
planned maintenance, NotAvailable, is no fault)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards.common import (
    CELL_RUN_FILTER,
    CHANGES_ONLY,
    cell_variable,
    datasource_variable,
    q,
    run_variable,
    tag_variable,
)
from dashboards.common import new_dashboard as _new
from dashboards.panels import (
    bars,
    event_count,
    gauge_bars,
    latest_data,
    points,
    row,
    stat_value,
    table_panel,
    thresholds,
)

__all__ = ["UID", "build"]

UID = "celltwin-jobs"

_FAMILY = '"family" =~ /^$family$/'
_JOBS = f'"job_event" WHERE {CELL_RUN_FILTER} AND {_FAMILY}'
_DONE = f"{_JOBS} AND \"event\" = 'job_completed'"
_IN_RANGE = f"{_DONE} AND $timeFilter"
_NONE_DONE = "Shown as - when no job finished in the time range (not 0 s)."


def _family_variable() -> dash.QueryVariable:
    return tag_variable(
        "family",
        "Product family",
        f'SHOW TAG VALUES FROM "job_event" WITH KEY = "family" WHERE {CELL_RUN_FILTER} '
        "AND \"family\" != 'none'",
        multi=True,
        include_all=True,
        all_selected=True,
    )


def build() -> dash.Dashboard:
    """The jobs dashboard."""
    return (
        _new(
            UID,
            "cell-twin: jobs",
            "Lead time, tardiness, the most recent jobs, and the jobs paused (ISA-95 Pause) or"
            " held by a fault on their machine, of one cell.",
        )
        .with_variable(datasource_variable())
        .with_variable(cell_variable())
        .with_variable(run_variable())
        .with_variable(_family_variable())
        .with_row(row("Summary (time range)"))
        .with_panel(event_count("Jobs completed", 'count("job")', _IN_RANGE, span=3))
        .with_panel(
            event_count("Late jobs", 'count("job")', f'{_IN_RANGE} AND "late" = true', span=3)
        )
        .with_panel(
            event_count("Good jobs", 'count("job")', f'{_IN_RANGE} AND "good" = true', span=3)
        )
        .with_panel(
            stat_value(
                "Mean lead time", q(f'SELECT mean("lead_time") FROM {_IN_RANGE}'), unit="s", span=3
            ).description(_NONE_DONE)
        )
        .with_panel(
            stat_value(
                "Mean tardiness", q(f'SELECT mean("tardiness") FROM {_IN_RANGE}'), unit="s", span=3
            ).description(f"Over every job completed, on time ones counting 0 s. {_NONE_DONE}")
        )
        .with_panel(
            stat_value(
                "Max tardiness", q(f'SELECT max("tardiness") FROM {_IN_RANGE}'), unit="s", span=3
            ).description(_NONE_DONE)
        )
        .with_panel(latest_data(span=6))
        .with_row(row("Lead time and tardiness"))
        .with_panel(
            points(
                "Lead time per completed job",
                q(f'SELECT "lead_time" FROM {_DONE} AND $timeFilter GROUP BY "family"').alias(
                    "$tag_family"
                ),
                unit="s",
            )
        )
        .with_panel(
            points(
                "Tardiness per late job",
                q(
                    f'SELECT "tardiness" FROM {_DONE} AND "late" = true AND $timeFilter '
                    'GROUP BY "family"'
                ).alias("$tag_family"),
                unit="s",
            )
        )
        .with_panel(
            gauge_bars(
                "Mean lead time per family",
                q(f'SELECT mean("lead_time") FROM {_DONE} AND $timeFilter GROUP BY "family"').alias(
                    "$tag_family"
                ),
                unit="s",
                max_value=None,
                colours=thresholds((None, "blue")),
            )
        )
        .with_panel(
            bars(
                "Operations finished per hour and machine",
                q(
                    f'SELECT count("job") FROM {_JOBS} '
                    "AND \"event\" = 'operation_finished' AND $timeFilter "
                    'GROUP BY time(1h), "machine" fill(none)'
                ).alias("$tag_machine"),
                stacked=True,
            )
        )
        .with_row(row("Recent jobs"))
        .with_panel(
            table_panel(
                "Finished jobs (newest first)",
                q(
                    'SELECT "job", "family", "event", "lead_time", "tardiness", "late", "good" '
                    f"FROM {_JOBS} "
                    'AND "event" =~ /^job_(completed|scrapped|cancelled|stopped)$/ AND $timeFilter '
                    "ORDER BY time DESC LIMIT 100"
                ),
                height=12,
            )
        )
        .with_row(row("Paused and held jobs"))
        .with_panel(
            event_count(
                "Jobs paused (in range)",
                # a job paused twice is one job: count the distinct ids, not the pauses
                'count(distinct("job"))',
                f"{_JOBS} AND \"event\" = 'job_paused' AND $timeFilter",
                span=6,
                height=8,
            )
        )
        .with_panel(
            table_panel(
                "Pauses and resumes (newest first)",
                q(
                    f'SELECT "job", "family", "event" FROM {_JOBS} '
                    'AND "event" =~ /^job_(paused|resumed)$/ AND $timeFilter '
                    "ORDER BY time DESC LIMIT 100"
                ),
                span=18,
                height=8,
            )
        )
        .with_panel(
            table_panel(
                "Jobs held by a fault (newest first)",
                q(
                    'SELECT "job", "family", "machine", "state", "mode" FROM "machine_state" '
                    f"WHERE {CELL_RUN_FILTER} AND \"state\" = 'OutOfService' AND \"job\" != '' "
                    f"AND {CHANGES_ONLY} AND {_FAMILY} AND $timeFilter "
                    "ORDER BY time DESC LIMIT 100"
                ),
                height=8,
            ).description(
                "Each time a fault took a machine with a job out of service (OutOfService), at"
                " that instant: one row per hold, not one per KPI report while it lasts."
            )
        )
    )
