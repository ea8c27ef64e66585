"""Restore or fork a run by deterministic replay.

SimPy processes are generators and cannot be copied, so a run is restored by building a fresh
engine from the same scenario, seed, rule and sequence and applying the recorded commands again
at their simulated times, each after every event due at or before its time (where the live
twin applied it, see ``Engine.run_through``). The engine is deterministic: the replayed event
log is byte-identical to the recorded one, command events included.

Errors are ``ConfigError``s naming the file and line of a command read from an event log, or
the command's index otherwise.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import orjson

from twin.engine import commands as cmd
from twin.engine.cell import Engine
from twin.engine.instant import relaxed_gc
from twin.engine.jobs import ENDED_STATES
from twin.errors import CommandError, ConfigError
from twin.events import (
    CommandApplied,
    Event,
    EventBus,
    JobCancelled,
    JobCompleted,
    JobScrapped,
    JobStopped,
)
from twin.model.scenario import Scenario

__all__ = [
    "MAX_FORECAST",
    "Command",
    "ForecastCancelled",
    "ForkPoint",
    "RecordedLog",
    "apply_checked",
    "apply_commands",
    "check_times",
    "forecast",
    "forecast_from",
    "fork",
    "read_commands",
    "read_log",
    "replay",
]


#: the furthest a forecast looks ahead: a year (a fork runs as fast as possible, a year of a
#: busy cell in seconds; further ahead an answer would come late and say little)
MAX_FORECAST = 366 * 86400.0


class ForecastCancelled(Exception):
    """A forecast's fork was told to stop (``forecast_from``'s ``cancel``) before its end."""


@dataclass(frozen=True)
class Command:
    """A command applied at simulated time ``t``, with the ``args`` of its ``command`` event.

    ``source`` and ``line`` say where it was read, for error messages.
    """

    t: float
    name: str
    args: Mapping[str, Any]
    source: str = "commands"
    line: int | None = None

    @classmethod
    def from_event(cls, event: CommandApplied, source: str = "journal") -> Command:
        return cls(event.t, event.command, event.args, source)

    def error(self, index: int, reason: str) -> ConfigError:
        """An error about this command, the ``index``-th of its list."""
        field = f"line {self.line}" if self.line is not None else None
        return ConfigError(
            self.source, field, f"command {index} ({self.name} at t={self.t}): {reason}"
        )


def _is_time(t: object) -> TypeGuard[float]:
    return isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t) and t >= 0


def read_commands(path: str | Path) -> list[Command]:
    """The commands of a JSON-lines event log (``twin simulate`` or ``twin run``), in order.

    Every line must be an event; the ``command`` events are checked as a replay will apply
    them. Raises ConfigError naming the file and line.
    """
    return read_log(path).commands


@dataclass(frozen=True)
class RecordedLog:
    """What restoring a run needs from its event log: the ``commands``, ``resume_at``, the
    time of its last event (command events included; 0 without events), where a restored
    twin continues, and ``size``, the bytes of the lines read."""

    commands: list[Command]
    resume_at: float
    size: int
    #: the time of the ``stop`` command that ends the log (``twin run`` records one when it
    #: stops; a run resumed after it records events after it), None when another event ends
    #: it (a killed run, a ``twin simulate`` log)
    stopped_at: float | None = None


def read_log(path: str | Path, *, torn_tail: bool = False) -> RecordedLog:
    """Read an event log as ``read_commands`` does. With ``torn_tail``, an incomplete last
    line (no newline: the writer was killed while writing it) is left out, not an error."""
    source = str(path)
    out: list[Command] = []
    last, size = 0.0, 0
    stops = False  # the last event is a stop command
    try:
        with open(path, "rb") as fh:
            for n, raw in enumerate(fh, 1):
                if torn_tail and not raw.endswith(b"\n"):
                    break
                size += len(raw)
                if not raw.strip():
                    continue
                try:
                    event = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise ConfigError(source, f"line {n}", f"not a JSON event: {exc}") from exc
                if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                    raise ConfigError(source, f"line {n}", "not an event (no type)")
                if _is_time(event.get("t")):
                    last = max(last, event["t"])
                if event["type"] == "command":
                    out.append(_command(event, source, n))
                stops = event["type"] == "command" and out[-1].name == "stop"
    except OSError as exc:
        raise ConfigError(source, None, f"cannot read the event log: {exc.strerror}") from exc
    return RecordedLog(out, last, size, out[-1].t if stops else None)


def _command(event: dict[str, Any], source: str, line: int) -> Command:
    t, name, args = event.get("t"), event.get("command"), event.get("args", {})
    if not _is_time(t):
        raise ConfigError(source, f"line {line}", f"t: expected a time >= 0, got {t!r}")
    if not isinstance(name, str) or not isinstance(args, dict):
        raise ConfigError(source, f"line {line}", "a command event needs a command and args")
    try:
        cmd.check(name, args)
    except CommandError as exc:
        raise ConfigError(source, f"line {line}", f"{name}: {exc}") from exc
    return Command(t, name, args, source, line)  # an int stays one: the log is rewritten as read


def check_times(commands: Sequence[Command], start: float, until: float) -> None:
    """Raise ConfigError naming the first command out of time order, earlier than ``start``
    or later than ``until``."""
    last = start
    for i, c in enumerate(commands):
        if not _is_time(c.t) or c.t < last:
            raise c.error(i, f"earlier than the command before it or the start (t={last})")
        if c.t > until:
            raise c.error(i, f"later than the end of the replay (t={until})")
        last = c.t


def apply_commands(engine: Engine, commands: Sequence[Command], until: float) -> None:
    """Apply ``commands`` to ``engine`` at their times, in order, each after every event due
    at or before it; leaves the engine at the last command's time.

    Raises ConfigError naming the command when the list is out of time order, when a command
    is later than ``until`` or earlier than the engine's time, or when it does not apply.
    """
    check_times(commands, engine.now, until)
    apply_checked(engine, commands)


def apply_checked(engine: Engine, commands: Sequence[Command]) -> None:
    """``apply_commands`` for commands whose times were checked already (``check_times``
    from the engine's time, as ``twin.simulation.check_run_args`` does before anything is
    built). Raises ConfigError naming a command that does not apply."""
    for i, c in enumerate(commands):
        engine.run_through(c.t)
        try:
            cmd.apply(engine, c.name, c.args)
        except CommandError as exc:
            raise c.error(i, str(exc)) from exc


def replay(engine: Engine, commands: Iterable[Command], until: float) -> Engine:
    """``engine`` (fresh: built from the recorded run's scenario, seed, rule and sequence)
    with ``commands`` applied, run through ``until`` (every event due at or before it
    processed). Raises ConfigError as ``apply_commands``."""
    with relaxed_gc():  # as Engine.run: a restore or a fork replays a long run
        apply_commands(engine, list(commands), until)
        engine.run_through(until)
    return engine


@dataclass(frozen=True)
class ForkPoint:
    """What a fork of a live engine needs, taken at one instant (``ForkPoint.of``): its
    scenario, seed, rule, sequence and settings, its command journal so far and its time.

    Taking it is cheap (a copy of the journal); building the fork (``engine()``) costs a run
    from 0 to ``t`` and touches nothing of the live engine, so it may run in another thread
    while the live twin goes on (``TwinAPI.forecast_async``).
    """

    scenario: Scenario
    seed: int
    rule: str
    sequence: Mapping[str, list[str]] | None
    signals: bool
    keep_ended: int
    commands: tuple[Command, ...]
    t: float

    @classmethod
    def of(cls, engine: Engine) -> ForkPoint:
        """The point of ``engine`` now; ``engine`` is untouched. The fork processes every
        event due at or before now, as the live engine does before a command (``TwinAPI``
        brings it there first; ``fork`` does for other callers)."""
        return cls(
            engine.scenario,
            engine.seed,
            engine.rule.name,
            engine.sequence,
            engine.signals_enabled,
            engine.keep_ended,
            tuple(Command.from_event(e) for e in engine.journal),
            engine.now,
        )

    def engine(self, cancel: threading.Event | None = None) -> Engine:
        """A fresh engine in the state of the live one at ``t``, with its own event bus (no
        subscribers but ``cancel``'s watch): the journal replayed from time 0.

        With ``cancel``, the fork raises ForecastCancelled at its next event once ``cancel``
        is set, here and later when it runs on (a thread cannot be stopped from outside)."""
        bus = EventBus()
        if cancel is not None:

            def watch(_: Event) -> None:
                if cancel.is_set():
                    raise ForecastCancelled

            bus.subscribe(watch)
        twin = Engine(
            self.scenario,
            seed=self.seed,
            rule=self.rule,
            sequence=dict(self.sequence) if self.sequence is not None else None,
            bus=bus,
            signals=self.signals,
            keep_ended=self.keep_ended,
        )
        return replay(twin, self.commands, self.t)


def fork(engine: Engine) -> Engine:
    """An independent engine in the state of ``engine`` at its current time (which first
    processes its events due now, as before a command), with its own event bus (no
    subscribers). Costs a run from 0 to now (see ``ForkPoint``)."""
    engine.run_through(engine.now)
    return ForkPoint.of(engine).engine()


def forecast(engine: Engine, ahead: float) -> dict[str, Any]:
    """Run a fork of ``engine`` ``ahead`` seconds (or until all work is done) and predict the
    jobs not finished now; ``engine`` is unaffected (see ``forecast_from``)."""
    return forecast_from(ForkPoint.of(engine), ahead)


def forecast_from(
    point: ForkPoint, ahead: float, cancel: threading.Event | None = None
) -> dict[str, Any]:
    """Run a fork from ``point`` ``ahead`` seconds (or until all work is done) and predict the
    jobs not finished at the point; touches no live engine (any thread may run it). Once
    ``cancel`` is set, the fork stops at its next event with ForecastCancelled.

    Returns plain data: ``sim_time`` (the point's time), ``forecast_time`` (where the fork
    stopped), ``completed`` and ``scrapped`` (jobs finished between the two) and ``jobs``: for
    each job not finished at the point, its predicted ``state``, ``completed_at`` and
    ``tardiness`` (None when not completed by the forecast time) and ``remake`` (the job that
    replaces it when scrapped; remakes are listed too).
    """
    twin = point.engine(cancel)
    completed, scrapped = twin.completed, twin.scrapped  # the live engine's at the point
    jobs = {j.id: _forecast_row() for j in twin.jobs.values() if j.state not in ENDED_STATES}

    def follow(event: Event) -> None:
        state = _ENDS.get(type(event))
        row = jobs.get(getattr(event, "job", "")) if state is not None else None
        if row is None:
            return
        row["state"] = state  # kept if the job is dropped since (Engine.keep_ended)
        if isinstance(event, JobCompleted):
            row.update(completed_at=event.t, tardiness=event.tardiness)
        elif isinstance(event, JobScrapped) and event.remake:
            row["remake"] = event.remake
            jobs[event.remake] = _forecast_row()

    twin.bus.subscribe(follow)
    end = twin.run(twin.now + ahead)
    for job_id, row in jobs.items():
        job = twin.jobs.get(job_id)
        if job is not None:
            row["state"] = job.state
    return {
        "sim_time": point.t,
        "forecast_time": end,
        "completed": twin.completed - completed,
        "scrapped": twin.scrapped - scrapped,
        "jobs": jobs,
    }


# the events that end a job, with the state it ends in
_ENDS: dict[type[Event], str] = {
    JobCompleted: "done",
    JobScrapped: "scrapped",
    JobCancelled: "cancelled",
    JobStopped: "stopped",
}


def _forecast_row() -> dict[str, Any]:
    return {"state": None, "completed_at": None, "tardiness": None, "remake": None}
