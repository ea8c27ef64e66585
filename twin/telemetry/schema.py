"""The telemetry schema: events, signal samples and KPI reports as line-protocol points.

Measurements (documented for dashboard authors in ``dashboards/SCHEMA.md``)::

    machine_signal,cell,machine,kind,run   <signal>=<float>...,quality=<int>i
                                           [,<signal>_quality=<int>i...] (see signal_lines)
    machine_state,cell,machine,kind,run    state="..",mode="..",state_code=<int>i,job="..",
                                           family=".."  (tag restated=true: restated_lines)
    job_event,cell,event,family,machine,run  job="..",op=<int>i,lead_time,tardiness,late,good
    fault,cell,machine,kind,run            severity=<int>i,active=<bool>,source=".."
    kpi,cell,in_cell,run,scope             availability,...,produced=<int>i,... (cell-only)
    plc_link,cell,kind,link,run            connected=<bool>,failures=<int>i,total_failures=<int>i,
                                           bad_tags=<int>i,last_error="..",since="..",
                                           endpoint=".."  (twin run --adapters only)

Every point of a run carries its ``run`` tag (``run_id``: when the run started, e.g.
``2026-01-05T06:00:00Z-250000``): runs written to one database stay apart, so a restarted twin
or a second simulation of the same scenario (same timestamps) neither overwrites the points of
the run before nor mixes with them. One value per run keeps the tag's cardinality low.

A KPI without a value (``twin.kpi``: undefined, NaN; e.g. the OEE of a machine that has
produced nothing yet) is left out of its ``kpi`` point: line protocol has no null, and a 0
would read as a machine doing badly.

Tags carry only low-cardinality keys; job ids are fields. Timestamps are ``origin`` plus the
simulated time in nanoseconds (``origin`` = the scenario start in simulate, the wall-clock
anchor of the real-time driver in ``twin run``). A ``plc_link`` point too: it is stamped with
the simulated time at which its change was reported (``link_lines``), on the run's axis like
every other point (so at speed > 1 ahead of the wall clock, as they are); the wall-clock time
the link last connected or went down is its ``since`` field.

With each KPI report, each machine's and each PLC link's last state is written again, tagged
``restated=true`` (``restated_lines``): a time range longer than the KPI period has a point of
each state, so a state timeline shows a state that began before the range.

Invariant: no two points of one series share a timestamp. Two events of the same series at the
same simulated instant (a state change and its immediate successor, two jobs finishing
together) would overwrite each other in InfluxDB, so a later one is moved 1 ns after the
earlier one. This also makes every point's identity (series, time) deterministic, so writing
a batch twice (a retry after a lost acknowledgement) stores it once in InfluxDB.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from twin.events import (
    STATE_CODES,
    CommandApplied,
    Event,
    FaultCleared,
    FaultRaised,
    InspectionDone,
    JobCancelled,
    JobCompleted,
    JobReleased,
    JobScrapped,
    JobStopped,
    MachineStateChanged,
    OperationFinished,
    OperationStarted,
    OrderReceived,
    TransferFinished,
    TransferStarted,
)
from twin.kpi import defined
from twin.signals import SignalStore
from twin.telemetry.lineprotocol import frame_lines, line, series_key
from twin.telemetry.values import LINK_ERROR_MAX, datetime_ns, link_text, run_id

if TYPE_CHECKING:
    from twin.links import LinkState

__all__ = [
    "CELL_KPI_FIELDS",
    "KPI_FIELDS",
    "LAST_TIMESTAMP",
    "LINK_ERROR_MAX",
    "LINK_MEASUREMENT",
    "RESTATED_TAG",
    "RUN_TAG",
    "STATE_CODES",
    "LineEncoder",
    "SignalLayout",
    "datetime_ns",
    "link_text",
    "run_id",
]

#: KPI fields of every scope (machine and cell), with their line-protocol types.
KPI_FIELDS: dict[str, type] = {
    "availability": float,
    "effectiveness": float,
    "quality_ratio": float,
    "oee": float,
    "utilisation": float,
    "produced": int,
    "good": int,
}
#: KPI fields only the ``scope=cell`` series carries.
CELL_KPI_FIELDS: dict[str, type] = {
    "throughput_per_h": float,
    "wip_mean": float,
    "backlog_mean": float,
    "lead_time_mean_s": float,
    "tardiness_mean_s": float,
    "jobs_completed": int,
    "jobs_late": int,
}

_JOB_COMMANDS = {"pause_job": "job_paused", "resume_job": "job_resumed"}
_JOB_EVENTS = (
    OrderReceived,
    JobReleased,
    JobCompleted,
    JobScrapped,
    JobCancelled,
    JobStopped,
    OperationStarted,
    OperationFinished,
    InspectionDone,
    TransferStarted,
    TransferFinished,
)


#: the last whole second that line protocol's timestamps (int64 nanoseconds since 1970) hold;
#: the 0.85 s after it leave room for the 1 ns steps that keep a series' timestamps unique
LAST_TIMESTAMP = datetime(2262, 4, 11, 23, 47, 16, tzinfo=UTC)
#: a run stamped further back than this may be older than a database keeps (VictoriaMetrics'
#: default retention is one month; InfluxDB buckets are often set to 30 days)
RETENTION_HINT = timedelta(days=30)


#: the tag naming the run that wrote a point (``run_id``)
RUN_TAG = "run"

#: the tag of a point that states again the state its series' last change set
#: (``LineEncoder.restated_lines``): ``restated=true``; a change has no such tag
RESTATED_TAG = "restated"
#: a machine's state until its first change: idle, no job, as the engine starts it
#: (``MachineRuntime``: NotExecuting in the Processing mode)
_IDLE: dict[str, object] = {
    "state": "NotExecuting",
    "mode": "Processing",
    "state_code": STATE_CODES["NotExecuting"],
    "job": "",
    "family": "",
}
#: before any timestamp (a state known from the start, not from a change)
_NEVER = -(2**63)
#: the measurement of the PLC links' states (``LineEncoder.link_lines``)
LINK_MEASUREMENT = "plc_link"


class SignalLayout:
    """Which store columns belong to which machine, derived once from the store's paths.

    Paths are ``<machine>.<signal>``; a machine's signals need not be contiguous.
    """

    def __init__(self, store: SignalStore, series: Mapping[str, str]) -> None:
        columns: dict[str, list[int]] = {}
        names: dict[str, list[str]] = {}
        for i, path in enumerate(store.paths):
            machine, _, signal = path.partition(".")
            columns.setdefault(machine, []).append(i)
            names.setdefault(machine, []).append(signal)
        for machine, signals in names.items():
            # a per-signal quality field must not be another field of the line
            taken = {"quality", *(f"{s}_quality" for s in signals)} & set(signals)
            if taken:
                raise ValueError(f"{machine}: signal names {sorted(taken)} clash with quality")
        self.size = len(store)
        self.machines = list(columns)
        self.columns = {m: np.asarray(c, dtype=np.intp) for m, c in columns.items()}
        self.names = names
        self.series = {m: series[m] for m in self.machines}


class LineEncoder:
    """Turns events, signal frames and KPI reports into line-protocol lines.

    ``kinds`` maps machine id -> machine kind (the ``kind`` tag); ``tags`` are added to every
    series (e.g. a site; keep them low-cardinality); ``identify`` adds the run's. Stateful
    only in what the
    schema needs: each job's product family, each active fault's severity and source, and the
    last timestamp per series (see the module invariant). All of it is bounded by the number
    of live jobs and series.
    """

    def __init__(
        self,
        cell: str,
        kinds: Mapping[str, str],
        origin: datetime,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.cell = cell
        self.tags = dict(tags or {})
        self.kinds = dict(kinds)
        self.origin = origin
        self.origin_ns = datetime_ns(origin)
        self._family: dict[str, str] = {}
        self._faults: dict[tuple[str, str], tuple[int, str]] = {}
        self._last: dict[str, int] = {}
        self._encoding = False  # a line was encoded, or a signal layout made: series are fixed
        self._signal_series: dict[str, str] = {}
        self._state_series: dict[str, str] = {}
        # per machine: whether its last signal row carried per-signal qualities because one
        # of its signals was not Good (so the next row carries them too, see signal_lines);
        # a machine not in it: ``_unknown_quality`` (seed: the rows before may have)
        self._marked: dict[str, bool] = {}
        self._unknown_quality = False
        # each machine's and each PLC link's last state: its fields and the nanosecond its
        # change was stamped with; and the nanosecond of its last restatement (by machine,
        # by (link, kind)): a change comes after it (restated_lines)
        self._state_now: dict[str, tuple[dict[str, object], int]] = {}
        self._link_now: dict[tuple[str, str], tuple[dict[str, object], int]] = {}
        self._restated_ns: dict[object, int] = {}
        self._series()

    def _series(self) -> None:
        """The series keys of the known machines (the tags of every series apply)."""
        self._signal_series = {
            m: self._key("machine_signal", {"cell": self.cell, "machine": m, "kind": k})
            for m, k in self.kinds.items()
        }
        self._state_series = {
            m: self._key("machine_state", {"cell": self.cell, "machine": m, "kind": k})
            for m, k in self.kinds.items()
        }

    @property
    def run(self) -> str | None:
        """The run every point is tagged with (``RUN_TAG``), None before ``identify``."""
        return self.tags.get(RUN_TAG)

    def identify(self, run: str) -> None:
        """Tag every point with ``run`` (``RUN_TAG``). Called once, before the first line
        (raises RuntimeError after one): each series holds one run's points."""
        if self._encoding:
            raise RuntimeError("a run's id is set before its first line")
        self.tags[RUN_TAG] = run
        self._series()

    def _key(self, measurement: str, tags: Mapping[str, str | None]) -> str:
        return series_key(measurement, {**self.tags, **tags})

    # -- time ---------------------------------------------------------------------------
    def ts(self, t: float) -> int:
        """Nanosecond timestamp of simulated time ``t``."""
        return self.origin_ns + round(t * 1e9)

    def stamp_limit(self, end: float) -> str | None:
        """Why a run to simulated time ``end`` cannot be stamped (its end is after
        ``LAST_TIMESTAMP``), or None when it can."""
        last = (datetime_ns(LAST_TIMESTAMP) - self.origin_ns) / 1e9
        if end <= last:
            return None
        start = self.origin.astimezone(UTC)
        return (
            f"the run would end at {start + timedelta(seconds=end):%Y-%m-%dT%H:%M:%SZ}, after"
            f" {LAST_TIMESTAMP:%Y-%m-%dT%H:%M:%SZ}, the last time telemetry timestamps"
            " (nanoseconds since 1970 in 64 bits) can hold: end it at most"
            f" {math.floor(last):,} s after the start ({start:%Y-%m-%dT%H:%M:%SZ}), or run"
            " without telemetry (--telemetry none)"
        )

    def age_note(self, end: float, now: datetime) -> str | None:
        """A warning when a run to simulated time ``end`` is stamped more than
        ``RETENTION_HINT`` before ``now``: a database keeping less refuses its points
        (InfluxDB: rejected lines, exit code 1) or drops them silently (VictoriaMetrics)."""
        last = self.origin.astimezone(UTC) + timedelta(seconds=end)
        if now - last <= RETENTION_HINT:
            return None
        return (
            f"this run's timestamps end on {last:%Y-%m-%d} (the scenario's start plus simulated"
            f" time), more than {RETENTION_HINT.days} days ago: a database that keeps less"
            " refuses or drops these points: InfluxDB answers 'points beyond retention policy'"
            " (HTTP 400 from 1.x, 422 from 2.x) and the twin counts those lines as rejected"
            " (exit code 1); VictoriaMetrics (-retentionPeriod, 1 month by default) drops them"
            " without an error; give the scenario a recent start, or the database a longer"
            " retention"
        )

    def ts_array(self, t: np.ndarray) -> np.ndarray:
        """Vectorised ``ts``: int64 nanoseconds."""
        return self.origin_ns + np.rint(t * 1e9).astype(np.int64)

    def _unique(self, series: str, ts: int) -> int:
        last = self._last.get(series)
        if last is not None and ts <= last:
            ts = last + 1
        self._last[series] = ts
        return ts

    def _line(self, series: str, fields: dict[str, object], t: float) -> str | None:
        self._encoding = True
        return line(series, fields, self._unique(series, self.ts(t)))

    # -- signals -------------------------------------------------------------------------
    def signal_series(self, machine: str) -> str:
        s = self._signal_series.get(machine)
        if s is None:
            s = self._key("machine_signal", {"cell": self.cell, "machine": machine})
            self._signal_series[machine] = s
        return s

    def layout(self, store: SignalStore) -> SignalLayout:
        self._encoding = True
        return SignalLayout(store, {m: self.signal_series(m) for m in self._machines(store)})

    @staticmethod
    def _machines(store: SignalStore) -> list[str]:
        return list(dict.fromkeys(p.partition(".")[0] for p in store.paths))

    def signal_lines(
        self,
        layout: SignalLayout,
        times: np.ndarray,
        values: np.ndarray,
        quality: np.ndarray | None = None,
    ) -> list[str]:
        """Lines of a frame: ``values`` is samples x store columns, ``times`` simulated seconds,
        ``quality`` the OPC UA status code of each value (as ``values``; None: all Good).

        One line per machine per sample. Sample times are strictly increasing by contract
        (one sample per instant), so signal series need no uniqueness fix-up. ``quality`` is
        the worst status of the machine's signals (a missing value, NaN/inf, is left out and
        Bad_NoData); a sample with a signal that is not Good carries ``<signal>_quality`` for
        each of the machine's signals, and so does the machine's next sample (``frame_lines``;
        across frames: the encoder remembers each machine's last sample), so a signal's latest
        ``<signal>_quality`` is Good again once it is. All-Good samples carry none.
        """
        ts = self.ts_array(times)
        out: list[str] = []
        for machine in layout.machines:
            cols = layout.columns[machine]
            v = values[:, cols]
            q = np.zeros(v.shape, dtype=np.int64) if quality is None else quality[:, cols]
            after = self._marked.get(machine, self._unknown_quality)
            out += frame_lines(
                layout.series[machine], layout.names[machine], v, ts, q, after_marked=after
            )
            if len(ts):
                self._marked[machine] = bool(q[-1].any() or not np.isfinite(v[-1]).all())
        return out

    # -- events --------------------------------------------------------------------------
    def seed(
        self,
        families: Mapping[str, str],
        faults: Iterable[tuple[str, str, int, str]],
        states: Mapping[str, tuple[str, str, str | None]] | None = None,
    ) -> None:
        """Learn what the events before this encoder's first would have told it (an encoder
        attached to a twin that ran already, e.g. one restored by ``twin run --resume``):
        ``families`` maps the open jobs and stored orders to their product family, ``faults``
        lists the active faults as (machine, kind, severity, source), ``states`` each
        machine's state now as (state, mode, job or None), which ``restated_lines`` states.

        What the rows before said of each signal's quality is unknown (a run resumed after
        one ended with a PLC's signals Uncertain): each machine's next signal row carries
        its per-signal qualities (``signal_lines``), so none stays marked from before."""
        self._unknown_quality = True
        self._marked.clear()
        self._family.update(families)
        for machine, kind, severity, source in faults:
            self._faults[(machine, kind)] = (severity, source)
        for machine, (state, mode, job) in (states or {}).items():
            self._state_now[machine] = (self._state_fields(state, mode, job), _NEVER)

    def _state_fields(self, state: str, mode: str, job: str | None) -> dict[str, object]:
        """The fields of a ``machine_state`` point."""
        return {
            "state": state,
            "mode": mode,
            "state_code": STATE_CODES.get(state, -1),
            "job": job or "",
            # the job's family, so a machine's jobs can be filtered by family too
            "family": self._family.get(job, "none") if job else "",
        }

    def event_lines(self, ev: Event) -> list[str]:
        """Lines of one event (none for events outside the schema, e.g. tool changes)."""
        text: str | None = None
        if isinstance(ev, MachineStateChanged):
            series = self._state_series.get(ev.machine) or self._key(
                "machine_state", {"cell": self.cell, "machine": ev.machine}
            )
            fields = self._state_fields(ev.state, ev.mode, ev.job)
            text, ts = self._change(ev.machine, series, fields, ev.t)
            self._state_now[ev.machine] = (fields, ts)
        elif isinstance(ev, FaultRaised | FaultCleared):
            text = self._fault(ev)
        elif isinstance(ev, _JOB_EVENTS):
            text = self._job_event(ev)
        elif isinstance(ev, CommandApplied):
            text = self._command(ev)
        return [] if text is None else [text]

    def _command(self, ev: CommandApplied) -> str | None:
        if ev.command in ("store_order", "update_order"):
            # no line; a stored order may be cancelled before it is ever received
            self._family[ev.args["job"]] = ev.args["product"]
        elif ev.command in _JOB_COMMANDS:  # a job's life cycle: paused, resumed
            job = ev.args["job"]
            family = self._family.get(job, "none")
            return self._job_line(_JOB_COMMANDS[ev.command], family, "none", {"job": job}, ev.t)
        return None

    def _fault(self, ev: FaultRaised | FaultCleared) -> str | None:
        key = (ev.machine, ev.kind)
        if isinstance(ev, FaultRaised):
            severity, source = ev.severity, ev.source
            self._faults[key] = (severity, source)
            active = True
        else:
            severity, source = self._faults.pop(key, (0, ""))
            active = False
        series = self._key(
            "fault",
            {"cell": self.cell, "machine": ev.machine, "kind": ev.kind},
        )
        fields: dict[str, object] = {"severity": severity, "active": active}
        if source:
            fields["source"] = source
        return self._line(series, fields, ev.t)

    def _job_event(self, ev: Any) -> str | None:
        job: str = ev.job
        if isinstance(ev, OrderReceived):
            self._family[job] = ev.product
        family = self._family.get(job, "none")
        if isinstance(ev, JobCompleted | JobScrapped | JobCancelled | JobStopped):
            self._family.pop(job, None)  # the job is finished: keep the map bounded
        machine = getattr(ev, "machine", None) or getattr(ev, "robot", None) or "none"
        fields: dict[str, object] = {"job": job}
        if isinstance(ev, OperationStarted | OperationFinished):
            fields["op"] = ev.op
        if isinstance(ev, JobCompleted):
            fields["lead_time"] = float(ev.lead_time)
            fields["tardiness"] = float(ev.tardiness)
            fields["late"] = ev.tardiness > 0
            fields["good"] = ev.good
        elif isinstance(ev, JobStopped):
            fields["lead_time"] = float(ev.lead_time)
            fields["operations"] = ev.operations
        elif isinstance(ev, OperationFinished):
            fields["good"] = ev.good
        elif isinstance(ev, InspectionDone):
            fields["good"] = ev.passed
        return self._job_line(ev.type, family, machine, fields, ev.t)

    def _job_line(
        self, event: str, family: str, machine: str, fields: dict[str, object], t: float
    ) -> str | None:
        """A ``job_event`` line: the job's and its operations' events and commands."""
        series = self._key(
            "job_event",
            {"cell": self.cell, "event": event, "family": family, "machine": machine},
        )
        return self._line(series, fields, t)

    # -- PLC links -----------------------------------------------------------------------
    def link_lines(self, state: LinkState, t: float) -> list[str]:
        """The ``plc_link`` line of a link's state (``twin.links.LinkState``) reported at
        simulated time ``t``: tags ``link`` (its name) and ``kind`` (modbus, opcua), fields
        ``connected``, ``failures`` (since the link last worked), ``total_failures``,
        ``bad_tags`` (how many tags the PLC refuses now), ``last_error`` (``link_text``;
        empty when none), ``since`` (the wall-clock time, UTC, ``connected`` last changed,
        RFC 3339 to the millisecond) and ``endpoint``."""
        series = self._key(
            LINK_MEASUREMENT, {"cell": self.cell, "link": state.name, "kind": state.kind}
        )
        since = state.since.astimezone(UTC).isoformat(timespec="milliseconds")
        fields: dict[str, object] = {
            "connected": state.connected,
            "failures": state.failures,
            "total_failures": state.total_failures,
            "bad_tags": len(state.bad_tags),
            "last_error": link_text(state.last_error),
            "since": since.replace("+00:00", "Z"),
            "endpoint": link_text(state.endpoint),
        }
        text, ts = self._change((state.name, state.kind), series, fields, t)
        self._link_now[(state.name, state.kind)] = (fields, ts)
        return [text]

    def _change(
        self, key: object, series: str, fields: dict[str, object], t: float
    ) -> tuple[str, int]:
        """A state change's line and timestamp: after the state's last restatement (one at
        the same instant, written before the change, would tie with it, and InfluxDB's
        ``last()`` could then read the state before the change)."""
        self._encoding = True
        ts = self._unique(series, max(self.ts(t), self._restated_ns.get(key, _NEVER) + 1))
        text = line(series, fields, ts)
        assert text is not None  # a state point has string fields, always written
        return text, ts

    # -- states again --------------------------------------------------------------------
    def restated_lines(self, t: float) -> list[str]:
        """Each machine's state and each PLC link's state again, at simulated time ``t``:
        the fields of its last ``machine_state`` (``NotExecuting``, no job, until its first)
        or ``plc_link`` point, tagged ``restated=true`` (``RESTATED_TAG``). Written with each
        KPI report, so any time range longer than the KPI period has a point of each state
        in it (a state timeline's lane does not start empty at the range's start, a
        ``last()`` in the range has a value); a query of changes leaves these out with
        ``"restated" != 'true'``. Never stamped before the change it states again (a link's
        change is stamped with the driver's clock, which may be ahead of ``t``), and a change
        after it is stamped after it (``_change``)."""
        out: list[str] = []
        machines = {m: self._state_now.get(m, (_IDLE, _NEVER)) for m in self.kinds}
        machines.update(self._state_now)  # machines only their events named
        for machine, now in machines.items():
            tags = {"cell": self.cell, "machine": machine, "kind": self.kinds.get(machine)}
            out.append(self._restated(machine, "machine_state", tags, now, t))
        for (name, kind), now in self._link_now.items():
            tags = {"cell": self.cell, "link": name, "kind": kind}
            out.append(self._restated((name, kind), LINK_MEASUREMENT, tags, now, t))
        return out

    def _restated(
        self,
        key: object,
        measurement: str,
        tags: dict[str, str | None],
        now: tuple[dict[str, object], int],
        t: float,
    ) -> str:
        fields, changed = now
        series = self._key(measurement, {**tags, RESTATED_TAG: "true"})
        self._encoding = True
        ts = self._restated_ns[key] = self._unique(series, max(self.ts(t), changed))
        text = line(series, fields, ts)
        assert text is not None  # a state point has string fields, always written
        return text

    # -- KPIs ----------------------------------------------------------------------------
    def kpi_lines(self, t: float, report: Mapping[str, Any]) -> list[str]:
        """One line per machine (``scope=<id>``, ``in_cell`` false for the machines the
        cell's values leave out, the report's ``cell_excludes``: the transport robot) and one
        ``scope=cell`` line; undefined KPIs (NaN, or None in a report read back from JSON)
        are left out of the line."""
        out: list[str] = []
        excluded = set(report.get("cell_excludes", ()))
        scopes: list[tuple[str, Mapping[str, Any], dict[str, type]]] = [
            (m, k, KPI_FIELDS) for m, k in report["machines"].items()
        ]
        scopes.append(("cell", report["cell"], {**KPI_FIELDS, **CELL_KPI_FIELDS}))
        for scope, values, wanted in scopes:
            fields = {
                name: cast(values[name])
                for name, cast in wanted.items()
                if name in values and defined(values[name])
            }
            tags = {"cell": self.cell, "scope": scope}
            if scope != "cell":
                tags["in_cell"] = "false" if scope in excluded else "true"
            series = self._key("kpi", tags)
            text = self._line(series, fields, t)
            if text is not None:
                out.append(text)
        return out
