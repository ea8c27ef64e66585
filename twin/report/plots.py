"""Matplotlib plots of a run: jobs on machines over time (Gantt) and KPI bars."""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from twin.events import MachineStateChanged, OperationFinished, OperationStarted, read_events
from twin.kpi import defined

__all__ = ["gantt_bars", "plot_gantt", "plot_kpis"]

# segments drawn under the operations: a state, or the operation mode Setup
_STATE_COLOURS = {"OutOfService": "#d62728", "NotAvailable": "#7f7f7f", "Setup": "#9467bd"}


def gantt_bars(
    events_path: Path, *, limit_bytes: int | None = None
) -> tuple[
    dict[str, list[tuple[float, float, str, bool]]], dict[str, list[tuple[float, float, str]]]
]:
    """Operation bars (start, duration, job, rework) and segment bars per machine (out of
    service, not available, setup: start, duration, which), from the event log's first
    ``limit_bytes`` bytes when given (``twin.events.read_events``).

    Raises ConfigError naming the line of the event log that is not an event (an incomplete
    last line, a run killed while writing it, is left out)."""
    ops: dict[str, list[tuple[float, float, str, bool]]] = {}
    outages: dict[str, list[tuple[float, float, str]]] = {}
    started: dict[tuple[str, str], tuple[float, bool]] = {}
    down: dict[str, tuple[float, str]] = {}
    for ev in read_events(events_path, torn_tail=True, limit_bytes=limit_bytes):
        if isinstance(ev, OperationStarted):
            started[(ev.machine, ev.job)] = (ev.t, ev.rework)
        elif isinstance(ev, OperationFinished):
            t0, rework = started.pop((ev.machine, ev.job), (ev.t, False))
            ops.setdefault(ev.machine, []).append((t0, ev.t - t0, ev.job, rework))
        elif isinstance(ev, MachineStateChanged):
            m = ev.machine
            if m in down:
                t0, state = down.pop(m)
                outages.setdefault(m, []).append((t0, ev.t - t0, state))
            which = "Setup" if ev.mode == "Setup" else ev.state
            if which in _STATE_COLOURS:
                down[m] = (ev.t, which)
    return ops, outages


def plot_gantt(
    events_path: Path,
    machines: list[str],
    out: Path,
    t_end: float,
    max_hours: float | None = None,
    *,
    limit_bytes: int | None = None,
) -> None:
    """Write a Gantt chart of operations (coloured by job) and outages (red/grey), of the
    event log's first ``limit_bytes`` bytes when given (a log a running twin appends to)."""
    ops, outages = gantt_bars(events_path, limit_bytes=limit_bytes)
    scale = 3600.0 if t_end > 7200 else 1.0
    unit = "h" if scale == 3600.0 else "s"
    fig, ax = plt.subplots(figsize=(14, 1.0 + 0.6 * len(machines)))
    cmap = plt.get_cmap("tab20")
    for row, m in enumerate(machines):
        bars = ops.get(m, [])
        colours = [
            cmap(zlib.crc32(job.encode()) % 20) if not rework else "#ff7f0e"
            for _, _, job, rework in bars
        ]
        ax.broken_barh(
            [(s / scale, d / scale) for s, d, _, _ in bars],
            (row - 0.4, 0.8),
            facecolors=colours,
            edgecolor="none",
        )
        down = outages.get(m, [])
        ax.broken_barh(
            [(s / scale, d / scale) for s, d, _ in down],
            (row - 0.4, 0.8),
            facecolors=[_STATE_COLOURS[s] for _, _, s in down],
            alpha=0.6,
        )
    ax.set_yticks(range(len(machines)), machines)
    ax.set_ylim(-0.6, len(machines) - 0.4)
    ax.set_xlim(0, (max_hours * 3600 if max_hours else t_end) / scale)
    ax.invert_yaxis()
    ax.set_xlabel(f"simulated time [{unit}]")
    ax.set_title(
        "Jobs on machines (red: out of service, grey: not available, violet: setup, orange: rework)"
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def plot_kpis(kpis: dict[str, Any], out: Path) -> None:
    """Bar chart of availability, effectiveness, quality and OEE per machine and the cell.

    ``kpis`` is a report (undefined KPIs NaN) or one read back from ``summary.json`` (None):
    an undefined KPI gets no bar but a ``-`` at its place, so it does not pass for 0."""
    names = [*kpis["machines"], "cell"]
    rows = [*kpis["machines"].values(), kpis["cell"]]
    metrics = ["availability", "effectiveness", "quality_ratio", "oee"]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(names)), 4))
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
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
