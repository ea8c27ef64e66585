"""Panel factories with the house style (sizes, legends, units), over grafana-foundation-sdk.

Each factory takes InfluxQL targets and returns an SDK panel builder that callers can refine
(unit, min/max, mappings) before adding it to a dashboard.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as model

from dashboards.common import (
    DATASOURCE,
    LATEST_DATA_QUERY,
    STATE_MAPPINGS,
    TIME_AXIS_NOTE,
    count_in_range,
    q,
)
from dashboards.influxql import InfluxQL

__all__ = [
    "LATEST_DATA",
    "OEE_ABOVE_1",
    "OEE_ABOVE_1_LINE",
    "OEE_GAUGE_MAX",
    "OEE_THRESHOLDS",
    "bars",
    "event_count",
    "gauge_bars",
    "latest_data",
    "oee_over_time",
    "points",
    "row",
    "stat_value",
    "state_stat",
    "state_timeline",
    "table_panel",
    "thresholds",
    "timeseries_panel",
]


def thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    """Absolute thresholds; the first step's value is ``None`` (the base colour)."""
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=v, color=c) for v, c in steps])
    )


# effectiveness, and so OEE, can exceed 1 (operations faster than planned, SCHEMA.md): above
# 100 % is its own colour, and OEE axes and gauges leave room above 1 instead of clipping it
OEE_THRESHOLDS = thresholds((None, "red"), (0.4, "orange"), (0.65, "green"), (1.0, "blue"))
OEE_ABOVE_1 = (
    "OEE can exceed 100 % when operations run faster than planned (ISO 22400 effectiveness"
    " above 1): shown in blue, a hint to check the planned times."
)
# a time series colours its lines by series (which machine, which KPI), so above 100 % is a
# blue area behind them, from a dashed line at 100 %; below it nothing is drawn
OEE_ABOVE_1_LINE = (
    "OEE can exceed 100 % when operations run faster than planned (ISO 22400 effectiveness"
    " above 1): above the dashed line at 100 %, in the blue area, a hint to check the planned"
    " times."
)
_OEE_ABOVE_1_AREA = thresholds((None, "transparent"), (1.0, "blue"))
# a bar gauge needs a fixed maximum to compare machines: 125 % leaves room above 100 %; a
# value above it fills the bar and its number is still exact
OEE_GAUGE_MAX = 1.25
LATEST_DATA = "Latest data"


def _legend(*, table_mode: bool = False) -> cb.VizLegendOptions:
    return (
        cb.VizLegendOptions()
        .display_mode(cm.LegendDisplayMode.TABLE if table_mode else cm.LegendDisplayMode.LIST)
        .placement(cm.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def row(title: str) -> dash.Row:
    """An expanded row heading."""
    return dash.Row(title).collapsed(False)


def state_timeline(
    title: str,
    *targets: InfluxQL,
    height: int = 8,
    mappings: list[model.ValueMapping] = STATE_MAPPINGS,
) -> statetimeline.Panel:
    """States as coloured bands, one lane per series: machine states by default, others by
    their ``mappings`` (value -> name and colour)."""
    panel = (
        statetimeline.Panel()
        .datasource(DATASOURCE)
        .title(title)
        .height(height)
        .span(24)
        .mappings(mappings)
        .show_value(cm.VisibilityMode.AUTO)
        .merge_values(True)
        .row_height(0.8)
        .fill_opacity(80)
        .legend(_legend())
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .thresholds(thresholds((None, "gray")))
    )
    for t in targets:
        panel.with_target(t)
    return panel


def timeseries_panel(
    title: str, *targets: InfluxQL, span: int = 12, height: int = 8, unit: str | None = None
) -> timeseries.Panel:
    """Lines over time, with a list legend."""
    panel = (
        timeseries.Panel()
        .datasource(DATASOURCE)
        .title(title)
        .span(span)
        .height(height)
        .legend(_legend())
        .line_width(1)
        .fill_opacity(10)
        .span_nulls(True)
        .show_points(cm.VisibilityMode.NEVER)
    )
    if unit is not None:
        panel.unit(unit)
    for t in targets:
        panel.with_target(t)
    return panel


def oee_over_time(panel: timeseries.Panel) -> timeseries.Panel:
    """``panel`` (fractions) with OEE's scale: from 0, at least to 100 % and further when a
    value is above it (no maximum), the part above 100 % in blue (``OEE_ABOVE_1_LINE``)."""
    return (
        panel.min(0)
        .axis_soft_max(1)
        .thresholds(_OEE_ABOVE_1_AREA)
        .thresholds_style(
            cb.GraphThresholdsStyleConfig().mode(cm.GraphThresholdsStyleMode.DASHED_AND_AREA)
        )
    )


def bars(
    title: str, *targets: InfluxQL, span: int = 12, height: int = 8, stacked: bool = False
) -> timeseries.Panel:
    """Counts per time bucket as (optionally stacked) bars."""
    panel = (
        timeseries_panel(title, *targets, span=span, height=height)
        .draw_style(cm.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .decimals(0)
    )
    if stacked:
        panel.stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
    return panel


def stat_value(
    title: str, target: InfluxQL, *, unit: str | None = None, span: int = 4, height: int = 4
) -> stat.Panel:
    """One big number (last non-null value); ``-`` when the query returns no rows: a value that
    is not there (a KPI with nothing to rate, no data in the range) never reads as 0."""
    panel = (
        stat.Panel()
        .datasource(DATASOURCE)
        .title(title)
        .span(span)
        .height(height)
        .with_target(target)
        .no_value("-")
        .graph_mode(cm.BigValueGraphMode.NONE)
        .color_mode(cm.BigValueColorMode.VALUE)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if unit is not None:
        panel.unit(unit)
    return panel


def event_count(
    title: str, aggregate: str, source: str, *, span: int = 4, height: int = 4
) -> stat.Panel:
    """The number of events in the time range (``count_in_range``): 0 when none happened
    while the cell had telemetry, ``-`` when the range holds no telemetry of the cell."""
    return (
        stat_value(title, q(count_in_range(aggregate, source)).table(), span=span, height=height)
        .reduce_options(cb.ReduceDataOptions().calcs(["sum"]).values(False))
        .decimals(0)
        .description(
            "Counted from the events in the time range: 0 when none happened while the twin"
            " reported on the cell, - when the range holds no telemetry of the cell."
        )
    )


def latest_data(*, span: int = 6, height: int = 4) -> stat.Panel:
    """The time of the newest point of the cell, whatever the time range, relative to now
    ("in 2 days" at speed > 1): where to move the range when the panels are empty."""
    target = q(LATEST_DATA_QUERY).table()
    return (
        stat_value(LATEST_DATA, target, unit="dateTimeFromNow", span=span, height=height)
        .description(TIME_AXIS_NOTE)
        .no_value("no data of this cell")
        .color_mode(cm.BigValueColorMode.NONE)
        # the value shown is the time column: the newest of the rows, one per measurement
        .reduce_options(cb.ReduceDataOptions().calcs(["max"]).fields("/^Time$/").values(False))
    )


def state_stat(title: str, target: InfluxQL, *, span: int = 12, height: int = 4) -> stat.Panel:
    """The current ``state_code`` of each series, shown as the state's name and colour."""
    return (
        stat_value(title, target, span=span, height=height)
        .no_value("no data")
        .mappings(STATE_MAPPINGS)
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
    )


def gauge_bars(
    title: str,
    target: InfluxQL,
    *,
    unit: str = "percentunit",
    max_value: float | None = None,
    colours: dash.ThresholdsConfig = OEE_THRESHOLDS,
    span: int = 12,
    height: int = 8,
) -> bargauge.Panel:
    """One horizontal gauge per series (last value), e.g. OEE per machine as percent; without
    ``max_value`` the bars scale to the largest value."""
    panel = (
        bargauge.Panel()
        .datasource(DATASOURCE)
        .title(title)
        .span(span)
        .height(height)
        .with_target(target)
        .unit(unit)
        .min(0)
        .thresholds(colours)
        .orientation(cm.VizOrientation.HORIZONTAL)
        .display_mode(cm.BarGaugeDisplayMode.GRADIENT)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if max_value is not None:
        panel.max(max_value)
    return panel


def points(title: str, *targets: InfluxQL, unit: str | None = None) -> timeseries.Panel:
    """One dot per point (events such as completed jobs), no lines."""
    return (
        timeseries_panel(title, *targets, unit=unit)
        .draw_style(cm.GraphDrawStyle.POINTS)
        .show_points(cm.VisibilityMode.ALWAYS)
        .point_size(6)
    )


def table_panel(title: str, target: InfluxQL, *, span: int = 24, height: int = 10) -> table.Panel:
    """Rows as returned by the query (newest first), filterable columns."""
    return (
        table.Panel()
        .datasource(DATASOURCE)
        .title(title)
        .span(span)
        .height(height)
        .with_target(target.table())
        .filterable(True)
    )
