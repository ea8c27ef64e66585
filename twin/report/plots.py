"""Matplotlib plots of a run: jobs on machines over time (Gantt), machine states over time,
KPI bars with each machine's time split, OEE over time and process signals."""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from twin.events import MachineStateChanged, OperationFinished, OperationStarted, read_events
from twin.kpi import defined
from twin.model.units import as_real
from twin.report.envelope import envelope
from twin.report.telemetry_file import Series

__all__ = [
    "JOB_COLOURS",
    "MAX_SIGNALS",
    "REWORK_COLOUR",
    "SIGNAL_SLICES",
    "STATE_COLOURS",
    "TIME_SPLIT",
    "Segment",
    "StateSegments",
    "gantt_bars",
    "job_colour",
    "plot_gantt",
    "plot_kpis",
    "plot_oee",
    "plot_signals",
    "plot_states",
    "signal_figure",
    "signal_names",
    "time_split",
]

#: a machine's state (MachineryItemState, or "Setup": Executing in the Setup mode) as every
#: plot of a run draws it: the Gantt's outages and setups, the state timeline, the time split
STATE_COLOURS = {
    "Executing": "#2ca02c",
    "Setup": "#9467bd",
    "NotExecuting": "#d9d9d9",
    "OutOfService": "#d62728",
    "NotAvailable": "#7f7f7f",
}
#: the most process signals of a machine drawn (``plot_signals``)
MAX_SIGNALS = 6
_SIGNAL_WIDTH, _SIGNAL_DPI = 14, 90  # inches, dots per inch
#: the time slices of a long signal drawn from its extremes (``signal_figure``): 8 per pixel
#: column, where its image differs from one of every sample in under 0.1% of its pixels
#: (fewer leave dense stretches lighter: fewer antialiased strokes overlap in a column)
SIGNAL_SLICES = 8 * _SIGNAL_WIDTH * _SIGNAL_DPI
#: an operation done again after inspection (the Gantt)
REWORK_COLOUR = "#ff7f0e"
# segments drawn over the operations of the Gantt: a state, or the operation mode Setup
_GANTT_STATES = ("OutOfService", "NotAvailable", "Setup")
#: the colours of the jobs in the Gantt: blues, cyans and greens, none of them red, orange,
#: violet or grey, which the Gantt draws outages, setups and rework in
JOB_COLOURS = (
    "#1f77b4",
    "#6baed6",
    "#17becf",
    "#9edae5",
    "#2ca02c",
    "#98df8a",
    "#637939",
    "#08519c",
    "#006d2c",
    "#3182bd",
)


#: a segment of a machine's timeline: start, duration, state (or "Setup")
Segment = tuple[float, float, str]


class StateSegments:
    """Each machine's states over time as segments (``Segment``) from its machine_state
    events, given in order (``add``): Executing in the Setup mode is "Setup", a machine is
    NotExecuting from 0 until its first event, and a segment of no length is left out.
    ``close`` ends the segments still open at the end of the run (a machine down at the end
    is down until then)."""

    def __init__(self, machines: Iterable[str] = ()) -> None:
        self.segments: dict[str, list[Segment]] = {m: [] for m in machines}
        self._open: dict[str, tuple[float, str]] = dict.fromkeys(
            self.segments, (0.0, "NotExecuting")
        )

    def add(self, ev: MachineStateChanged) -> None:
        """The machine's state changes at ``ev.t``: the segment open until then ends."""
        t0, state = self._open.get(ev.machine, (0.0, "NotExecuting"))
        if ev.t > t0:
            self.segments.setdefault(ev.machine, []).append((t0, ev.t - t0, state))
        label = "Setup" if ev.state == "Executing" and ev.mode == "Setup" else ev.state
        self._open[ev.machine] = (ev.t, label)

    def close(self, t_end: float) -> dict[str, list[Segment]]:
        """The segments per machine, those still open ended at ``t_end``."""
        for m, (t0, state) in self._open.items():
            if t_end > t0:
                self.segments.setdefault(m, []).append((t0, t_end - t0, state))
        self._open.clear()
        return self.segments


def gantt_bars(
    events_path: Path, t_end: float | None = None, *, limit_bytes: int | None = None
) -> tuple[dict[str, list[tuple[float, float, str, bool]]], dict[str, list[Segment]]]:
    """Operation bars (start, duration, job, rework) and segment bars per machine (out of
    service, not available, setup: ``StateSegments`` of those states, ended at ``t_end``,
    by default the last event), from the event log's first ``limit_bytes`` bytes when given
    (``twin.events.read_events``).

    Raises ConfigError naming the line of the event log that is not an event (an incomplete
    last line, a run killed while writing it, is left out)."""
    ops: dict[str, list[tuple[float, float, str, bool]]] = {}
    started: dict[tuple[str, str], tuple[float, bool]] = {}
    states = StateSegments()
    last = 0.0
    for ev in read_events(events_path, torn_tail=True, limit_bytes=limit_bytes):
        last = max(last, ev.t)
        if isinstance(ev, OperationStarted):
            started[(ev.machine, ev.job)] = (ev.t, ev.rework)
        elif isinstance(ev, OperationFinished):
            t0, rework = started.pop((ev.machine, ev.job), (ev.t, False))
            ops.setdefault(ev.machine, []).append((t0, ev.t - t0, ev.job, rework))
        elif isinstance(ev, MachineStateChanged):
            states.add(ev)
    segments = states.close(last if t_end is None else t_end)
    drawn = {m: [s for s in segs if s[2] in _GANTT_STATES] for m, segs in segments.items()}
    return ops, drawn


def plot_gantt(
    events_path: Path,
    machines: list[str],
    out: Path,
    t_end: float,
    max_hours: float | None = None,
    *,
    limit_bytes: int | None = None,
) -> None:
    """Write a Gantt chart of operations (coloured by job, ``job_colour``; rework orange) and,
    over them, outages (red, grey) and setups (violet), of the event log's first
    ``limit_bytes`` bytes when given (a log a running twin appends to). Rows in the order
    of ``machines``."""
    ops, outages = gantt_bars(events_path, t_end, limit_bytes=limit_bytes)
    scale = 3600.0 if t_end > 7200 else 1.0
    unit = "h" if scale == 3600.0 else "s"
    fig, ax = plt.subplots(figsize=(14, 1.0 + 0.6 * len(machines)))
    for row, m in enumerate(machines):
        bars = ops.get(m, [])
        colours = [REWORK_COLOUR if rework else job_colour(job) for _, _, job, rework in bars]
        ax.broken_barh(
            [(s / scale, d / scale) for s, d, _, _ in bars],
            (row - 0.4, 0.8),
            facecolors=colours,
            edgecolor="none",
        )
        down = outages.get(m, [])
        # opaque: see-through, red over a blue job would read as violet (a setup)
        ax.broken_barh(
            [(s / scale, d / scale) for s, d, _ in down],
            (row - 0.4, 0.8),
            facecolors=[STATE_COLOURS[s] for _, _, s in down],
            edgecolor="none",
        )
    ax.set_yticks(range(len(machines)), machines)
    ax.set_ylim(-0.6, len(machines) - 0.4)
    _set_xlim(ax, (max_hours * 3600 if max_hours else t_end) / scale)
    ax.invert_yaxis()
    ax.set_xlabel(f"simulated time [{unit}]")
    ax.set_title(
        "Jobs on machines (red: out of service, grey: not available, violet: setup, orange: rework)"
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def job_colour(job: str) -> str:
    """The colour of ``job``'s bars in the Gantt: one of ``JOB_COLOURS``, the same for the
    job in every run and plot (a CRC of its id, not Python's salted hash)."""
    return JOB_COLOURS[zlib.crc32(job.encode()) % len(JOB_COLOURS)]


def _set_xlim(ax: Axes, right: float) -> None:
    """The x axis from 0 to ``right``; left to matplotlib for a run of no length (0 to 0
    is a singular axis, which it warns of)."""
    if right > 0:
        ax.set_xlim(0, right)


#: the parts of a machine's time in the time split, with the KPIs' time element of each
#: (``twin.kpi``: APT, AUST, ADOT, PDT and the rest) and its colour
TIME_SPLIT: tuple[tuple[str, str, str], ...] = (
    ("processing", "apt_s", STATE_COLOURS["Executing"]),
    ("setup", "setup_s", STATE_COLOURS["Setup"]),
    ("down", "down_s", STATE_COLOURS["OutOfService"]),
    ("planned down", "planned_down_s", STATE_COLOURS["NotAvailable"]),
    ("idle", "idle_s", STATE_COLOURS["NotExecuting"]),
)


def time_split(row: dict[str, Any]) -> dict[str, float] | None:
    """The shares of a KPI row's time (a machine's period, the cell's machines' periods
    added) spent processing, in setup, down, planned down and idle (``TIME_SPLIT``): they
    add up to 1. None when the row lacks one of the times (a summary of an older run) or
    has no time."""
    real = [as_real(row.get(key)) for _, key, _ in TIME_SPLIT]
    seconds = [s for s in real if s is not None and math.isfinite(s) and s >= 0]
    if len(seconds) < len(TIME_SPLIT) or sum(seconds) <= 0:
        return None
    total = sum(seconds)
    return {name: s / total for (name, _, _), s in zip(TIME_SPLIT, seconds, strict=True)}


def plot_kpis(kpis: dict[str, Any], out: Path) -> None:
    """Bar chart of availability, effectiveness, quality and OEE per machine and the cell,
    over the time split of each (``time_split``: processing, setup, down, planned down,
    idle), machines in the order of ``kpis["machines"]``.

    ``kpis`` is a report (undefined KPIs NaN) or one read back from ``summary.json`` (None):
    an undefined KPI gets no bar but a ``-`` at its place, so it does not pass for 0."""
    names = [*kpis["machines"], "cell"]
    rows = [*kpis["machines"].values(), kpis["cell"]]
    metrics = ["availability", "effectiveness", "quality_ratio", "oee"]
    fig, (ax, split) = plt.subplots(
        2,
        1,
        figsize=(max(8.0, 1.6 * len(names)), 4.5 + 0.35 * len(names)),
        gridspec_kw={"height_ratios": [4, 1.2 + 0.35 * len(names)]},
    )
    width = 0.2
    for k, metric in enumerate(metrics):
        xs = [i + (k - 1.5) * width for i in range(len(names))]
        values = [r[metric] if defined(r[metric]) else math.nan for r in rows]
        ax.bar(xs, values, width, label=metric)
        for x, v in zip(xs, values, strict=True):
            if math.isnan(v):
                ax.text(x, 0.01, "-", ha="center", va="bottom")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("ratio")
    ax.set_title("ISO 22400 KPIs (- = nothing produced to rate)")
    ax.legend(ncols=4, fontsize="small", loc="upper center")
    _plot_time_split(split, names, rows)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def _plot_time_split(ax: Axes, names: list[str], rows: list[dict[str, Any]]) -> None:
    """One horizontal bar per row, its time split in percent (no bar: no times to split)."""
    shares = [time_split(r) for r in rows]
    left = [0.0] * len(rows)
    for name, _, colour in TIME_SPLIT:
        widths = [100.0 * s[name] if s else 0.0 for s in shares]
        ax.barh(range(len(rows)), widths, 0.7, left=left, color=colour, label=name)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("time per machine: share of its time [%] (cell: of all its machines' time)")
    ax.legend(
        ncols=len(TIME_SPLIT), fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.1)
    )


def plot_states(segments: dict[str, list[Segment]], t_end: float, out: Path) -> None:
    """Machine state timeline: one row per machine, coloured by MachineryItemState."""
    machines = list(segments)
    scale, unit = (3600.0, "h") if t_end > 7200 else (1.0, "s")
    fig, ax = plt.subplots(figsize=(14, 1.2 + 0.55 * len(machines)))
    for row, m in enumerate(machines):
        segs = segments[m]
        ax.broken_barh(
            [(s / scale, d / scale) for s, d, _ in segs],
            (row - 0.4, 0.8),
            facecolors=[STATE_COLOURS.get(st, "#000000") for _, _, st in segs],
            edgecolor="none",
        )
    ax.set_yticks(range(len(machines)), machines)
    ax.invert_yaxis()
    _set_xlim(ax, t_end / scale)
    ax.set_xlabel(f"simulated time [{unit}]")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in STATE_COLOURS.values()]
    ax.legend(handles, list(STATE_COLOURS), ncols=5, fontsize="small", loc="upper right")
    ax.set_title("Machine states")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def _times(series: Series) -> np.ndarray:
    return series.times_ns.astype("datetime64[ns]")  # UTC: matplotlib plots datetime64


def plot_oee(
    kpi_series: dict[str, Series] | None,
    fallback: dict[str, tuple[np.ndarray, np.ndarray]] | None,
    out: Path,
) -> None:
    """OEE over time per machine and for the cell (from telemetry, else the event log)."""
    fig, ax = plt.subplots(figsize=(14, 4))
    if kpi_series:  # a scope with no OEE yet (nothing produced to rate) has no line
        for scope, s in kpi_series.items():
            if "oee" in s.fields:
                ax.plot(_times(s), s.fields["oee"], label=scope, lw=2.5 if scope == "cell" else 1)
        ax.set_xlabel("time (UTC)")
    elif fallback:
        for scope, (hours, oee) in fallback.items():
            ax.plot(hours, oee, label=scope, lw=2.5 if scope == "cell" else 1)
        ax.set_xlabel("simulated time [h]")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("OEE (cumulative)")
    ax.set_title("OEE over time")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # no line at all: no legend (matplotlib warns)
        ax.legend(ncols=6, fontsize="small", loc="lower right")
    else:
        no_oee = "no OEE yet: nothing produced to rate"
        ax.text(0.5, 0.5, no_oee, ha="center", va="center", transform=ax.transAxes)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def signal_names(series: Series) -> list[str]:
    """The process signals of a machine's ``machine_signal`` series, in the file's order: its
    fields but the status codes (``quality``, and ``<signal>_quality`` of a signal)."""
    fields = series.fields
    return [
        n
        for n in fields
        if n != "quality" and not (n.endswith("_quality") and n[: -len("_quality")] in fields)
    ]


def plot_signals(machine: str, series: Series, out: Path) -> None:
    """Write ``signal_figure`` of the machine's series to ``out``."""
    fig = signal_figure(machine, series)
    fig.savefig(out, dpi=_SIGNAL_DPI)
    plt.close(fig)


def signal_figure(machine: str, series: Series) -> Figure:
    """The machine's first ``MAX_SIGNALS`` process signals, one panel each; a sample whose own
    quality (``<signal>_quality``) is not Good (e.g. a PLC's value while its link is lost) is
    marked, every one of them.

    A long series is drawn from fewer samples that look the same (``envelope``: per time
    slice its first, lowest, highest and last sample, ``SIGNAL_SLICES`` slices), which the x
    axis's label says: a line of 260,000 points holds matplotlib's memory and time and
    shows no more."""
    names = signal_names(series)[:MAX_SIGNALS]
    fig, axes = plt.subplots(
        len(names), 1, figsize=(_SIGNAL_WIDTH, 1.6 * len(names) + 0.8), sharex=True
    )
    axes = np.atleast_1d(axes)
    times = _times(series)
    reduced = False
    for ax, name in zip(axes, names, strict=True):
        values = series.fields[name]
        kept = envelope(series.times_ns, values, SIGNAL_SLICES)
        reduced |= len(kept) < len(times)
        ax.plot(times[kept], values[kept], lw=0.8)
        status = series.fields.get(f"{name}_quality")
        if status is not None:
            shown = status > 0  # NaN (a sample without it: all its machine's signals Good)
            if shown.any():
                ax.plot(times[shown], values[shown], ".", color="#ff7f0e", ms=3)
                ax.text(
                    0.01,
                    0.85,
                    "· not Good",
                    color="#ff7f0e",
                    transform=ax.transAxes,
                    fontsize="x-small",
                )
        ax.set_ylabel(name, rotation=0, ha="right", fontsize="small")
        ax.grid(alpha=0.3)
    axes[0].set_title(f"Process signals: {machine}")
    label = "time (UTC)"
    if reduced:
        label += (
            f" - {len(times):,} samples per signal, drawn as the first, lowest, highest and"
            f" last of each of {SIGNAL_SLICES:,} time slices: every peak stays"
        )
    axes[-1].set_xlabel(label)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig
