"""Matplotlib plots of a run: jobs on machines over time (Gantt) and KPI bars."""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from twin.events import MachineStateChanged, OperationFinished, OperationStarted, read_events
from twin.kpi import defined

__all__ = ["Segment", "StateSegments", "gantt_bars", "plot_gantt", "plot_kpis"]

# segments drawn under the operations: a state, or the operation mode Setup
_STATE_COLOURS = {"OutOfService": "#d62728", "NotAvailable": "#7f7f7f", "Setup": "#9467bd"}


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
    drawn = {m: [s for s in segs if s[2] in _STATE_COLOURS] for m, segs in segments.items()}
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
    """Write a Gantt chart of operations (coloured by job) and outages (red/grey), of the
    event log's first ``limit_bytes`` bytes when given (a log a running twin appends to)."""
    ops, outages = gantt_bars(events_path, t_end, limit_bytes=limit_bytes)
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
