"""Machine detail: state, mode and job, power, KPIs, and the process signals of each kind.

The ``machine`` variable is multi-valued and defaults to all machines: the common panels show one
series per machine, and each kind's row shows the machines of that kind (a row stays empty when
no machine of its kind is selected).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import table
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dash_model

from dashboards.common import (
    CELL_RUN_FILTER,
    MACHINE_FILTER,
    QUALITY_CODES,
    QUALITY_MAPPINGS,
    RESTATED_NOTE,
    UNDEFINED_OEE,
    cell_variable,
    datasource_variable,
    machine_variable,
    new_dashboard,
    q,
    run_variable,
)
from dashboards.panels import (
    OEE_ABOVE_1_LINE,
    latest_data,
    oee_over_time,
    row,
    state_stat,
    state_timeline,
    table_panel,
    timeseries_panel,
)

__all__ = [
    "KIND_ROWS",
    "SIGNAL_QUALITY",
    "SIGNAL_QUALITY_COLUMNS",
    "SIGNAL_QUALITY_MAPPINGS",
    "UID",
    "SignalPanel",
    "build",
    "latest_values",
]

UID = "celltwin-machine"

_WHERE = f"{CELL_RUN_FILTER} AND {MACHINE_FILTER}"

#: the suffix of a signal's own quality field (``<signal>_quality``, SCHEMA.md)
SIGNAL_QUALITY = "_quality"
#: the columns of the signals' qualities in a latest-values table (a Grafana field regexp)
SIGNAL_QUALITY_COLUMNS = f".+{SIGNAL_QUALITY}"
#: a signal's quality by name: ``QUALITY_MAPPINGS``, and Good where the sample has none (its
#: signals were all Good, and so was the sample before: SCHEMA.md)
SIGNAL_QUALITY_MAPPINGS: list[dash_model.ValueMapping] = [
    *QUALITY_MAPPINGS,
    dash_model.SpecialValueMap(
        options=dash_model.DashboardSpecialValueMapOptions(
            match=dash_model.SpecialValueMatch.NULL,
            result=dash_model.ValueMappingResult(
                # after QUALITY_MAPPINGS' results (0 to 4)
                text="Good",
                color=QUALITY_CODES["Good"][1],
                index=5,
            ),
        )
    ),
]


@dataclass(frozen=True)
class SignalPanel:
    """A time series panel of some signals (fields of ``machine_signal``) of one machine kind.

    ``aggregate`` reduces the samples of each ``$__interval``: ``mean`` for measured values;
    ``last`` for codes, numbers and set points, whose mean is no value the machine had (a
    pass and a fail are no 1.5; layer 12.4 was never printed); ``max`` for counts that
    restart with each part (how far each part got).
    """

    title: str
    fields: tuple[str, ...]
    unit: str | None = None
    aggregate: Literal["mean", "last", "max"] = "mean"

    def query(self, kind: str) -> str:
        """``aggregate`` per interval of each field, one series per machine and field."""
        cols = ", ".join(f'{self.aggregate}("{f}") AS "{f}"' for f in self.fields)
        return (
            f'SELECT {cols} FROM "machine_signal" WHERE {_WHERE} AND "kind" = \'{kind}\' '
            'AND $timeFilter GROUP BY time($__interval), "machine" fill(none)'
        )


# row title -> (machine kind, panels); the order is the order on the dashboard
KIND_ROWS: dict[str, tuple[str, tuple[SignalPanel, ...]]] = {
    "CNC machining": (
        "cnc",
        (
            SignalPanel("Spindle speed", ("spindle_speed",), "rotrpm"),
            SignalPanel("Spindle load", ("spindle_load",), "percent"),
            SignalPanel("Feed rate", ("feed_rate",), "suffix: mm/min"),
            SignalPanel("Linear axes", ("axis_x", "axis_y", "axis_z"), "lengthmm"),
            SignalPanel("Rotary axes (5-axis)", ("axis_a", "axis_c"), "degree"),
            SignalPanel("Tool wear", ("tool_wear",), "percent"),
            SignalPanel("Coolant temperature", ("coolant_temp",), "celsius"),
        ),
    ),
    "Robot": (
        "robot",
        (
            SignalPanel(
                "Joint angles",
                ("joint_1", "joint_2", "joint_3", "joint_4", "joint_5", "joint_6"),
                "degree",
            ),
            SignalPanel("TCP speed", ("tcp_speed",), "velocityms"),
            SignalPanel("Speed override", ("speed_override",), "percent", aggregate="last"),
        ),
    ),
    "3D printing": (
        "printer",
        (
            SignalPanel("Nozzle and bed temperature", ("nozzle_temp", "bed_temp"), "celsius"),
            SignalPanel("Layer", ("layer",), aggregate="last"),
            SignalPanel("Progress", ("progress",), "percent"),
            SignalPanel("Feedstock used", ("feedstock_used",), "massg"),
        ),
    ),
    "Inspection": (
        "inspection",
        (
            SignalPanel("Deviation", ("deviation",), "lengthmm"),
            SignalPanel("Result (0 none, 1 pass, 2 fail)", ("result",), aggregate="last"),
            SignalPanel("Features checked", ("features_checked",), aggregate="max"),
        ),
    ),
}


def latest_values(title: str, kind: str, panels: tuple[SignalPanel, ...]) -> table.Panel:
    """The last sample in range of each machine of ``kind``: one row per machine, a column
    per signal of the kind (its unit) and ``power``, each followed by its own quality
    (``<signal>_quality``, the status code's name), then ``quality`` (the worst of the
    sample's) and the sample's time (a raw point's, not the start of the range).

    A sample carries ``<signal>_quality`` only near signals that are not Good (SCHEMA.md),
    so an empty one is Good: the sample's signals are all Good (its ``quality`` is 0)."""
    units = {f: p.unit for p in panels for f in p.fields} | {"power": "kwatt"}
    fields = [c for f in units for c in (f, f"{f}{SIGNAL_QUALITY}")] + ["quality"]
    cols = ", ".join(f'"{f}"' for f in fields)
    panel = (
        table_panel(
            f"Latest values: {title}",
            q(
                f'SELECT {cols} FROM "machine_signal" WHERE {_WHERE} AND "kind" = \'{kind}\' '
                'AND $timeFilter GROUP BY "machine" ORDER BY time DESC LIMIT 1'
            ),
            height=4,
        )
        .description(
            f"The last sample in the time range of each {kind} machine, at its time. Each"
            " signal's quality is the OPC UA status of its value (Good; Uncertain_LastUsable"
            "Value: the link to the PLC feeding it is lost and the value is its last;"
            " Bad_NoData: the value is missing); quality: the worst of the sample's."
        )
        .override_by_name("Time", [dash_model.DynamicConfigValue("displayName", "Sampled at")])
    )
    for name, mappings in (("quality", QUALITY_MAPPINGS), (None, SIGNAL_QUALITY_MAPPINGS)):
        status = [
            dash_model.DynamicConfigValue("mappings", mappings),
            dash_model.DynamicConfigValue("custom.cellOptions", {"type": "color-text"}),
        ]
        # every signal's quality by one rule (Grafana anchors a pattern without slashes)
        panel = (
            panel.override_by_name(name, status)
            if name
            else panel.override_by_regexp(SIGNAL_QUALITY_COLUMNS, status)
        )
    for field, unit in units.items():
        if unit is not None:
            panel = panel.override_by_name(field, [dash_model.DynamicConfigValue("unit", unit)])
    return panel


def build() -> dash.Dashboard:
    """The machine detail dashboard."""
    d = (
        new_dashboard(
            UID,
            "cell-twin: machine detail",
            "State, job, power, KPIs and process signals of the selected machines.",
        )
        .with_variable(datasource_variable())
        .with_variable(cell_variable())
        .with_variable(run_variable())
        .with_variable(machine_variable(multi=True))
        .with_row(row("State"))
        .with_panel(
            state_timeline(
                "State",
                q(
                    f'SELECT "state" FROM "machine_state" WHERE {_WHERE} AND $timeFilter '
                    'GROUP BY "machine"'
                ).alias("$tag_machine"),
                height=6,
            ).description(f"Each selected machine's state over time. {RESTATED_NOTE}")
        )
        .with_panel(
            state_stat(
                "Last state in range",
                q(
                    f'SELECT last("state_code") FROM "machine_state" WHERE {_WHERE} '
                    'AND $timeFilter GROUP BY "machine"'
                ).alias("$tag_machine"),
                span=9,
            ).description(
                "Each machine's state at the end of the time range (its last change, or its"
                " state written again with a KPI report, in the range), which is now only when"
                " the range ends at the latest data (at speed > 1 the data runs ahead of now:"
                " see Latest data). No data: the range is shorter than the KPI period and the"
                " machine's state did not change in it."
            )
        )
        .with_panel(
            table_panel(
                "Mode and job (end of range)",
                q(
                    'SELECT "state", "mode", "job" FROM "machine_state" '
                    f'WHERE {_WHERE} AND $timeFilter GROUP BY "machine" ORDER BY time DESC LIMIT 1'
                ),
                span=9,
                height=4,
            ).description(
                "Each machine's state, mode and job at the end of the time range, as the last"
                " state in range (its time is that of the last change or KPI report)."
            )
        )
        .with_panel(latest_data(span=6))
        .with_panel(
            timeseries_panel(
                "Power",
                q(
                    f'SELECT mean("power") FROM "machine_signal" WHERE {_WHERE} AND $timeFilter '
                    'GROUP BY time($__interval), "machine" fill(none)'
                ).alias("$tag_machine"),
                unit="kwatt",
            )
        )
        .with_panel(
            oee_over_time(
                timeseries_panel(
                    "Availability, utilisation and OEE (since start)",
                    q(
                        'SELECT mean("availability") AS "availability", '
                        'mean("utilisation") AS "utilisation", mean("oee") AS "OEE" '
                        f'FROM "kpi" WHERE {CELL_RUN_FILTER} AND "scope" =~ /^$machine$/ '
                        "AND \"scope\" != 'cell' "
                        'AND $timeFilter GROUP BY time($__interval), "scope" fill(none)'
                    ).alias("$tag_scope $col"),
                    unit="percentunit",
                )
            ).description(
                f"{UNDEFINED_OEE} Its OEE line starts at its first part. {OEE_ABOVE_1_LINE}"
            )
        )
    )
    for title, (kind, panels) in KIND_ROWS.items():
        d = d.with_row(row(title)).with_panel(latest_values(title, kind, panels))
        span = 24 // len(panels) if len(panels) <= 4 else 6  # one line of up to 4 panels
        for p in panels:
            panel = timeseries_panel(
                p.title, q(p.query(kind)).alias("$tag_machine $col"), span=span, unit=p.unit
            )
            if p.aggregate != "mean":
                # a code or a count holds until it changes: steps, not slopes through values
                # it never had
                panel = panel.line_interpolation(cm.LineInterpolation.STEP_AFTER).decimals(0)
            d = d.with_panel(panel)
    return d
