"""``twin report``: PNG plots and one self-contained HTML page from a run directory.

Inputs: ``events.jsonl`` and ``summary.json`` and, when present, the embedded telemetry store
``telemetry.lp.gz`` (OEE over time and process signals). A ``twin simulate`` stopped by Ctrl-C
wrote its summary up to where it stopped (``"interrupted": true``): the report says so. A run
without ``summary.json`` (a ``twin run`` directory, a ``twin simulate`` stopped by a second
Ctrl-C or killed) is reported up to the last event of its log, the KPIs computed from it as
the run computes them, and says so. Outputs go to ``<run dir>/report/``: ``gantt.png``,
``states.png``, ``kpis.png`` (with each machine's time split), ``oee.png``,
``signals-<machine>.png`` and ``report.html`` with every image inlined as base64, so the
page can be mailed or archived on its own. Machines are in the scenario's order, as
``twin simulate`` prints and draws them; ratios in percent, as it prints them.

The event log is read as it is when the report starts (``_scan``): a running twin appends to
it while the report is built (``twin report runs/live``), and every later reading of it stops
at the size it had then, so the end time, the KPIs and every plot are of one and the same log.
It is read again rather than kept: its events take ~350 bytes each in memory, ~130 MB per
simulated year of the default scenario, and a horizon may be centuries.
"""

from __future__ import annotations

import base64
import html
import json
import math
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import ConfigError
from twin.events import (
    CommandApplied,
    Event,
    MachineStateChanged,
    TransferStarted,
    read_events,
)
from twin.files import directory_problem, staged
from twin.kpi import KpiCollector, as_json
from twin.model.units import as_real
from twin.report.plots import (
    TIME_SPLIT,
    Segment,
    StateSegments,
    plot_gantt,
    plot_kpis,
    plot_oee,
    plot_signals,
    plot_states,
    time_split,
)
from twin.report.telemetry_file import CutShort, Series, read_numeric_series

__all__ = ["build_report"]

#: the most points of the OEE over time drawn from the event log (a KPI report each)
MAX_OEE_POINTS = 2000


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(str(path), None, f"invalid JSON: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), None, f"cannot read it: {_strerror(exc)}") from exc


#: the KPIs of each row of summary.json that ``plot_kpis`` draws
_PLOTTED = ("availability", "effectiveness", "quality_ratio", "oee")


def _load_summary(path: Path) -> dict[str, Any]:
    """``summary.json``, checked to hold what the report reads: ``end_time``, a time >= 0, and
    ``kpis`` with a row per machine and one for the cell, each with the plotted KPIs (a
    number, or null: undefined), and ``cell_excludes``, when there, a list of machines.
    Raises ConfigError naming the file and the field."""
    summary = _load_json(path)

    def expected(where: str | None, what: str, got: Any) -> ConfigError:
        shown = repr(got) if len(repr(got)) <= 40 else f"{repr(got)[:37]}..."
        return ConfigError(str(path), where, f"expected {what}, got {shown}")

    if not isinstance(summary, dict):
        raise ConfigError(str(path), None, "not a JSON object")
    end = summary.get("end_time")
    if (real := as_real(end)) is None or not math.isfinite(real) or real < 0:
        raise expected("end_time", "a time >= 0", end)
    kpis = summary.get("kpis")
    if not isinstance(kpis, dict) or not isinstance(kpis.get("machines"), dict):
        got = kpis.get("machines") if isinstance(kpis, dict) else kpis
        raise expected("kpis.machines" if isinstance(kpis, dict) else "kpis", "an object", got)
    excluded = kpis.get("cell_excludes", [])
    if not isinstance(excluded, list) or not all(isinstance(m, str) for m in excluded):
        raise expected("kpis.cell_excludes", "a list of machines", excluded)
    rows = {f"kpis.machines.{m}": row for m, row in kpis["machines"].items()}
    for where, row in {**rows, "kpis.cell": kpis.get("cell")}.items():
        if not isinstance(row, dict):
            raise expected(where, "an object", row)
        for name in _PLOTTED:
            if name not in row:
                raise ConfigError(str(path), f"{where}.{name}", "missing")
            if row[name] is not None and as_real(row[name]) is None:
                raise expected(f"{where}.{name}", "a number or null", row[name])
    return summary


def _strerror(exc: Exception) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _load_if_any(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; empty when it is missing or not one (what is read from it
    only labels the report)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class _EventLog:
    """What a pass over a run's event log finds (``_scan``), and its events read again as
    they were then (``events``)."""

    path: Path
    size: int  # its size when scanned: where every reading of it stops
    machines: list[str] = field(default_factory=list)  # in order of their first state change
    robots: set[str] = field(default_factory=set)  # transport robots: out of the cell KPIs
    end: float = 0.0  # the time of the last event
    stopped: bool = False  # the last event is a stop command (twin run stopped)

    def events(self, on_torn: Callable[[int], object] | None = None) -> Iterator[Event]:
        """The events of the log's first ``size`` bytes, those ``_scan`` read, whatever a
        running twin appended since (a line cut off there is left out; ``on_torn`` is called
        with its number when the log ends there: ``read_events``)."""
        return read_events(self.path, torn_tail=True, limit_bytes=self.size, on_torn=on_torn)


def _scan(events_path: Path) -> _EventLog:
    """Every line of the event log, as long as it is now, read before anything is drawn:
    ConfigError naming the first line that is no event; a ``CutShort`` warning when the last
    line is cut off (a run killed while writing it), which every reading leaves out. Lines a
    running twin appends from now on are in no reading (``_EventLog.events``)."""
    try:
        log = _EventLog(events_path, events_path.stat().st_size)
    except OSError as exc:
        raise _unreadable(events_path, exc) from exc
    seen: set[str] = set()
    cut: list[int] = []  # the number of the last line when it has no end of line
    for ev in log.events(on_torn=cut.append):
        log.end = max(log.end, ev.t)
        log.stopped = isinstance(ev, CommandApplied) and ev.command == "stop"
        if isinstance(ev, MachineStateChanged) and ev.machine not in seen:
            seen.add(ev.machine)
            log.machines.append(ev.machine)
        elif isinstance(ev, TransferStarted):
            log.robots.add(ev.robot)
    if cut and not _grown(log):  # grown since: a line a running twin is writing, not cut off
        warnings.warn(CutShort.last_line(str(events_path), cut[0]), stacklevel=2)
    return log


def _grown(log: _EventLog) -> bool:
    """True when the log is longer now than when it was scanned."""
    try:
        return log.path.stat().st_size > log.size
    except OSError as exc:
        raise _unreadable(log.path, exc) from exc


def _unreadable(events_path: Path, exc: OSError) -> ConfigError:
    return ConfigError(str(events_path), None, f"cannot read the event log: {_strerror(exc)}")


def _state_segments(log: _EventLog, machines: list[str], t_end: float) -> dict[str, list[Segment]]:
    """(start, duration, state or "Setup") per machine, from machine_state events."""
    segments = StateSegments(machines)
    for ev in log.events():
        if isinstance(ev, MachineStateChanged):
            segments.add(ev)
    return segments.close(t_end)


def _oee_marks(t_end: float) -> list[float]:
    """When the OEE over time is taken from the event log: every hour, or every so many
    whole hours that there are at most ``MAX_OEE_POINTS`` (a run of centuries would be
    millions of KPI reports), and at ``t_end``."""
    step = 3600.0 * max(1, math.ceil(t_end / 3600.0 / MAX_OEE_POINTS))
    every = (i * step for i in range(1, math.ceil(t_end / step)))
    return [*(t for t in every if t < t_end), t_end]


def _oee_from_events(
    log: _EventLog, machines: list[str], t_end: float
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """OEE per scope over time (``_oee_marks``) by replaying the event log (when there is no
    telemetry file); the transport robots are left out of the cell, as in the run."""
    kpi = KpiCollector(machines, log.robots)
    marks = _oee_marks(t_end)
    out: dict[str, list[float]] = {m: [] for m in [*machines, "cell"]}
    events = log.events()
    pending = next(events, None)
    for mark in marks:
        while pending is not None and pending.t <= mark:
            kpi(pending)
            pending = next(events, None)
        report = kpi.report(mark)
        for m in machines:
            out[m].append(report["machines"][m]["oee"])
        out["cell"].append(report["cell"]["oee"])
    hours = np.asarray(marks) / 3600.0
    return {k: (hours, np.asarray(v)) for k, v in out.items()}


def _table(rows: list[dict[str, Any]], columns: list[str], percent: Iterable[str] = ()) -> str:
    """An HTML table of ``rows``: the ``percent`` columns' ratios in percent, as the CLI's
    KPI table shows them (15.2%), other numbers with three decimals."""
    as_percent = set(percent)

    def cell(column: str, v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"  # an undefined KPI (JSON null): nothing produced to rate
        if column in as_percent and as_real(v) is not None:
            return f"{v:.1%}"
        if isinstance(v, float):
            return f"{v:.3f}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell(c, r.get(c, ''))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


#: the job KPIs of the report's Jobs table: (column, key in the cell KPIs or the summary,
#: divisor: 3600 for seconds shown in hours)
_JOB_COLUMNS: dict[str, tuple[str, float]] = {
    "completed": ("jobs_completed", 1.0),
    "late": ("jobs_late", 1.0),
    "open past due": ("jobs_open_past_due", 1.0),
    "throughput /h": ("throughput_per_h", 1.0),
    "lead time mean": ("lead_time_mean_s", 3600.0),
    "lead time p95": ("lead_time_p95_s", 3600.0),
    "tardiness mean": ("tardiness_mean_s", 3600.0),
    "tardiness max": ("tardiness_max_s", 3600.0),
    "WIP mean": ("wip_mean", 1.0),
    "WIP max": ("wip_max", 1.0),
    "job quality": ("quality_ratio_jobs", 1.0),
}


def _job_row(summary: dict[str, Any]) -> dict[str, Any]:
    """The Jobs table's row: the cell's job KPIs (and the summary's open jobs past due,
    absent from a summary of an older run or one rebuilt from the log)."""
    cell = summary["kpis"]["cell"]
    row: dict[str, Any] = {}
    for column, (key, divisor) in _JOB_COLUMNS.items():
        value = cell.get(key, summary.get(key))
        row[column] = value / divisor if as_real(value) is not None and divisor != 1.0 else value
    return row


def _kpi_notes(kpis: dict[str, Any]) -> str:
    """What the KPI table's ``-`` and cell row mean (as ``twin simulate``'s table says)."""
    notes = "- = nothing produced to rate"
    excluded = kpis.get("cell_excludes") or []  # a summary.json of an older run has none
    if excluded:
        notes += f"; cell = all machines but {', '.join(excluded)} (the transport robot)"
    return notes + "."


def _time_table(kpis: dict[str, Any]) -> str:
    """What each machine (and the cell) spent its time on, in percent: the levers of
    utilisation (``twin.report.plots.time_split``)."""
    names = [name for name, _, _ in TIME_SPLIT]
    scopes = [*kpis["machines"].items(), ("cell", kpis["cell"])]
    rows = [{"machine": m, **(time_split(row) or dict.fromkeys(names))} for m, row in scopes]
    notes = (
        "Share of the run's time; cell: of all its machines' time. Down = out of service"
        " (breakdowns, faults), planned down = not available (planned maintenance)."
    )
    return _table(rows, ["machine", *names], percent=names) + f"<p>{html.escape(notes)}</p>"


def _img(path: Path, title: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    title = html.escape(title)
    return f'<h2>{title}</h2><img alt="{title}" src="data:image/png;base64,{data}">'


#: the files of a report besides its ``signals-<machine>.png``
_FILES = ("gantt.png", "states.png", "kpis.png", "oee.png", "report.html")


@dataclass
class _Run:
    """What the report shows of a run, all read before anything is written (``_read``)."""

    summary: dict[str, Any]  # summary.json, or one made from the event log
    notes: list[str]  # what the page says of where its numbers come from
    log: _EventLog
    machines: list[str]
    t_end: float
    telemetry: bool  # the run has a telemetry file
    series: dict[str, dict[str, Series]]  # its numeric series
    fallback: dict[str, tuple[np.ndarray, np.ndarray]] | None  # OEE from the event log


def _read(run_dir: Path) -> _Run:
    if not run_dir.is_dir():
        reason = "not a directory" if run_dir.exists() else "no such directory"
        raise ConfigError(str(run_dir), None, reason)
    events_path = run_dir / "events.jsonl"
    if not events_path.is_file():
        missing = "events.jsonl" if (run_dir / "summary.json").exists() else "summary.json"
        raise ConfigError(str(run_dir), None, f"not a run directory (no {missing})")
    log = _scan(events_path)
    snapshot = _load_if_any(run_dir / "snapshot.json")  # twin simulate's and twin run's
    notes: list[str] = []
    if (run_dir / "summary.json").exists():
        summary = _load_summary(run_dir / "summary.json")
        if summary.get("interrupted") is True:  # twin simulate stopped by Ctrl-C or SIGTERM
            at = f"simulated time {summary['end_time']:.1f} s"
            reason = f"the run was interrupted (Ctrl-C or SIGTERM) at {at}; reported up to then"
            warnings.warn(CutShort(str(run_dir), reason), stacklevel=2)
            notes.append(
                f"The run was interrupted (Ctrl-C or SIGTERM) at {at}: all here is up to then."
            )
    else:
        summary = _summary_of_log(run_dir, log, snapshot, notes)
    kpis = summary["kpis"]
    # a machine the log names that the summary does not (another run's log?) gets its rows
    named = [*kpis["machines"], *log.machines, *sorted(log.robots)]
    # in the scenario's order, as twin simulate prints and draws them (summary.json sorts its
    # keys), else in that of their first state change in the event log
    order = _snapshot_machines(snapshot) or log.machines
    machines = list(dict.fromkeys([*order, *named]))
    machines = [m for m in machines if m in named]
    kpis["machines"] = {m: kpis["machines"][m] for m in machines if m in kpis["machines"]}
    t_end = float(summary["end_time"])
    telemetry_path = run_dir / "telemetry.lp.gz"
    telemetry = telemetry_path.is_file()
    series = read_numeric_series(telemetry_path) if telemetry else {}
    fallback = None
    if not series.get("kpi"):
        fallback = _oee_from_events(log, machines, t_end)
    return _Run(summary, notes, log, machines, t_end, telemetry, series, fallback)


def _snapshot_machines(snapshot: dict[str, Any]) -> list[str]:
    """The machines ``snapshot.json`` lists, in the scenario's order (none: no snapshot)."""
    listed = snapshot.get("machines")
    ids = [m.get("id") for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []
    return [str(m) for m in ids if m is not None]


def _summary_of_log(
    run_dir: Path, log: _EventLog, snapshot: dict[str, Any], notes: list[str]
) -> dict[str, Any]:
    """What ``summary.json`` would say of a run that wrote none, from its event log up to its
    last event: a ``twin run`` (it writes none; its ``run.json`` names the scenario, seed and
    rule) or a ``twin simulate`` killed or stopped by a second Ctrl-C. The KPIs are computed
    as the run computes them (``KpiCollector``), of the machines ``snapshot`` (snapshot.json)
    lists when it is the state at the log's end (``twin run`` writes it when it stops), else
    of those the log names.

    Adds to ``notes`` what the page says of it; warns ``CutShort`` when the run did not end
    (interrupted, killed or still running). Raises ConfigError when the log has nothing after
    simulated time 0."""
    at = f"simulated time {log.end:.1f} s"
    if log.end <= 0:
        reason = f"no events after {at}: nothing to report (a run stopped at once?)"
        raise ConfigError(str(log.path), None, reason)
    info = _load_if_any(run_dir / "run.json")  # twin run's
    if snapshot.get("t") != log.end:  # another run's, or the state before a resume
        snapshot = {}
    ids = _snapshot_machines(snapshot)
    machines = sorted({*ids, *log.machines, *log.robots})  # as in summary.json
    if info and log.stopped:
        note = "No summary.json (twin run writes none)."
    else:
        cut = (
            "the run did not stop (it still runs, or was killed)"
            if info
            else "no summary.json: the run was interrupted (twin simulate killed, or stopped"
            " by Ctrl-C twice?)"
        )
        reported = f"reported up to its last event, at {at}, its KPIs computed from the event log"
        warnings.warn(CutShort(str(run_dir), f"{cut}; {reported}"), stacklevel=3)
        note = f"{cut[0].upper()}{cut[1:]}."
    note += f" The KPIs are computed from the event log, up to its last event at {at}."
    if not ids:
        note += " Machines with no state change by then are not in them."
    notes.append(note)
    kpis = KpiCollector(machines, log.robots).feed(log.events())
    report = kpis.report(log.end)
    return {
        "scenario": info.get("scenario"),
        "seed": info.get("seed", snapshot.get("seed")),
        "rule": info.get("rule", snapshot.get("rule")),
        "end_time": log.end,
        "makespan": None,  # not in the log: when the last job left the cell
        "jobs_completed": report["cell"]["jobs_completed"],
        "kpis": as_json(report),
    }


def build_report(run_dir: Path, out_dir: Path | None = None) -> Path:
    """Write the plots and ``report.html`` for ``run_dir`` to ``out_dir`` (default
    ``run_dir/report``); returns the HTML path.

    Every input is read first; the report is written in a directory beside ``out_dir``, whose
    files replace those of an older report only when all are written (``twin.files.staged``):
    a report that fails leaves the older one as it was. Other files in ``out_dir`` stay.

    Raises ConfigError when ``run_dir`` is not there, is a file, or is not a run directory
    (no event log; without ``summary.json``, see ``_summary_of_log``), or names the file and
    line when a line of its event log or telemetry file is malformed, or the path that cannot be
    written (a read-only file system, a full disk, a file where a directory is to be);
    warns ``CutShort`` when one of them ends early (a run killed while writing it): it is
    reported up to the cut.
    """
    run = _read(run_dir)
    out = out_dir or run_dir / "report"
    problem = directory_problem(out)  # a file in the way, a read-only file system
    if problem is not None:
        if out_dir is not None:
            raise ConfigError("command line", "--out", problem)
        raise ConfigError(str(run_dir), None, f"cannot write its report: {problem}")
    signals = [f"signals-{m}.png" for m in run.series.get("machine_signal", {})]
    older = [p.name for p in out.glob("signals-*.png")] if out.is_dir() else []  # to remove
    try:
        # an interrupted report is no report: dropped as a failed one
        with staged(out, [*_FILES, *signals, *older], keep_interrupted=False) as stage:
            try:
                _write(run, stage)
            except OSError as exc:  # the disk full: named as the file will be
                name = Path(exc.filename).name if exc.filename else None
                raise _cannot_write(out / name if name else out, exc) from exc
    except OSError as exc:  # making the stage or moving it in
        raise _cannot_write(out, exc) from exc
    return out / "report.html"


def _cannot_write(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(str(path), None, f"cannot write the report: {exc.strerror or exc}")


def _write(run: _Run, out: Path) -> None:
    """The plots and ``report.html`` of ``run`` in the directory ``out``."""
    summary, log, machines, t_end = run.summary, run.log, run.machines, run.t_end
    kpis = summary["kpis"]
    title = html.escape(str(summary.get("scenario") or "a run without summary.json"))
    images: list[tuple[Path, str]] = []
    plot_gantt(log.path, machines, out / "gantt.png", t_end, limit_bytes=log.size)
    images.append((out / "gantt.png", "Jobs on machines (Gantt)"))
    plot_states(_state_segments(log, machines, t_end), t_end, out / "states.png")
    images.append((out / "states.png", "Machine state timeline"))
    plot_kpis(kpis, out / "kpis.png")
    images.append((out / "kpis.png", "ISO 22400 KPIs and time per machine at the end of the run"))
    plot_oee(run.series.get("kpi"), run.fallback, out / "oee.png")
    images.append((out / "oee.png", "OEE over time"))
    for machine, s in run.series.get("machine_signal", {}).items():
        path = out / f"signals-{machine}.png"
        plot_signals(machine, s, path)
        images.append((path, f"Process signals: {machine}"))

    facts = {
        k: summary.get(k)
        for k in ("scenario", "seed", "rule", "end_time", "makespan", "jobs_completed")
    }
    machine_rows = [{"machine": m, **k} for m, k in kpis["machines"].items()]
    kpi_cols = ["availability", "effectiveness", "quality_ratio", "oee", "utilisation"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>cell-twin report: {title}</title>",
        "<style>body{font-family:sans-serif;margin:2em}img{max-width:100%}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:3px 8px;text-align:right}</style></head><body>",
        f"<h1>Run report: {title}</h1>",
        *(f"<p><b>{html.escape(note)}</b></p>" for note in run.notes),
        _table([facts], list(facts)),
        "<h2>KPIs</h2>",
        _table(
            [*machine_rows, {"machine": "cell", **kpis["cell"]}],
            ["machine", *kpi_cols, "produced"],
            percent=kpi_cols,
        ),
        f"<p>{html.escape(_kpi_notes(kpis))}</p>",
        "<h2>Time per machine</h2>",
        _time_table(kpis),
        "<h2>Jobs</h2>",
        _table([_job_row(summary)], list(_JOB_COLUMNS), percent=["job quality"]),
        "<p>Times in hours; lead time and tardiness of the jobs completed; - = no job"
        " completed yet.</p>",
    ]
    if not run.telemetry:
        parts.append("<p>No telemetry.lp.gz in the run directory: no signal plots.</p>")
    parts += [_img(p, title) for p, title in images]
    parts.append("</body></html>")
    (out / "report.html").write_text("\n".join(parts), encoding="utf-8")
