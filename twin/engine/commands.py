"""What each command of the twin does to an engine, and what it records.

One place shared by ``twin.api`` (commands while running) and ``twin.engine.replay``
(recorded commands applied again): checks that need no engine (``parse_*``, ``check``), then
the appliers, which change the engine and record a ``command`` event carrying everything a
replay needs. Pause, resume and speed act on the real-time driver and stop marks where
``twin run`` stopped, not on the simulation: their appliers only record them, so a replayed
event log is byte-identical.

The caller brings the engine to the command's time first (``Engine.run_through``): a command
applies after every event due at or before it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from twin.engine import orders
from twin.engine.cell import Engine
from twin.errors import CommandError, ConfigError
from twin.machines import PlanningError
from twin.model.loader import format_validation_error
from twin.model.scenario import FAULT_KINDS, OrderConfig
from twin.model.units import as_real, parse_duration

__all__ = [
    "COMMANDS",
    "MAX_SPEED",
    "apply",
    "cancel_order",
    "check",
    "clear_fault",
    "inject_fault",
    "parse_by",
    "parse_fault_duration",
    "parse_fault_kind",
    "parse_id",
    "parse_order",
    "parse_seconds",
    "parse_speed",
    "pause",
    "pause_job",
    "resume",
    "resume_job",
    "revoke_start",
    "set_speed",
    "start_order",
    "stop",
    "stop_job",
    "store_order",
    "submit_order",
    "update_order",
]

MAX_SPEED = 1_000_000.0


# -- checks without an engine ---------------------------------------------------------------
def parse_order(order: OrderConfig | Mapping[str, Any], *, label: str = "order") -> OrderConfig:
    """The validated order; raises CommandError naming the field (after ``label``, what the
    caller calls the order, e.g. "JobOrder")."""
    if isinstance(order, OrderConfig):
        return order
    if not isinstance(order, Mapping):
        raise CommandError(
            f"{label}: expected a mapping of the order's fields (id, product, due, ...) or an"
            f" OrderConfig, got {_kind(order)}"
        )
    try:
        return OrderConfig.model_validate(dict(order))
    except ValidationError as exc:
        raise CommandError(str(format_validation_error(label, exc))) from exc


def parse_fault_duration(kind: str, duration: float | str | None) -> float | None:
    """Seconds of a fault of ``kind`` (None, 0 or "": until cleared); raises CommandError
    naming ``kind`` or ``duration``."""
    if parse_fault_kind(kind) is None:  # None is "any kind" to clear; a fault injected has one
        raise _unknown_kind(kind)
    if duration is None or (isinstance(duration, str) and not duration.strip()):
        return None
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise CommandError(f"duration: {exc}") from exc
    if seconds == 0:  # 0, 0.0, "0s", "0h": as 0 means everywhere
        return None
    if seconds < 0:
        raise CommandError(
            f"duration: must be > 0 seconds, or 0 or none for a fault until it is cleared,"
            f" got {duration!r}"
        )
    return seconds


def parse_fault_kind(kind: object) -> str | None:
    """A fault kind, or None (any kind); raises CommandError naming ``kind``."""
    if kind is None:
        return None
    if not isinstance(kind, str) or kind not in FAULT_KINDS:
        raise _unknown_kind(kind)
    return kind


def _unknown_kind(kind: object) -> CommandError:
    return CommandError(f"kind: unknown fault kind {kind!r} (known: {', '.join(FAULT_KINDS)})")


def parse_by(by: object) -> str | None:
    """Who injects a fault (a label such as "adapter:plc1"), or None; raises CommandError
    naming ``by``."""
    if by is not None and (not isinstance(by, str) or not by.strip()):
        raise CommandError(f"by: expected a non-empty string (who injects the fault), got {by!r}")
    return by


def parse_seconds(name: str, value: object, most: float | None = None) -> float:
    """Seconds > 0 (and at most ``most``) from a number or a duration such as "8h"; raises
    CommandError naming the argument ``name``."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise CommandError(f"{name}: {exc}") from exc
    if seconds <= 0:  # parse_duration refuses infinity and NaN
        raise CommandError(f"{name}: must be > 0 seconds, got {value!r}")
    if most is not None and seconds > most:
        limit = f"{most:g} s ({most / 86400:g} d)"
        raise CommandError(f"{name}: must be at most {limit}, got {value!r}")
    return seconds


def parse_speed(speed: object) -> float:
    """A speed factor in (0, MAX_SPEED], any real number (``as_real``); raises CommandError
    naming ``speed``."""
    factor = as_real(speed)
    if factor is None or not math.isfinite(factor) or not 0 < factor <= MAX_SPEED:
        raise CommandError(f"speed: must be a number in (0, {MAX_SPEED:g}], got {speed!r}")
    return factor


def parse_id(name: str, value: object) -> str:
    """``value``, the id of a job, order or machine (a string); raises CommandError naming
    the argument ``name`` and the type expected."""
    if not isinstance(value, str):
        raise CommandError(f"{name}: expected a string (the {name} id), got {_kind(value)}")
    return value


def _kind(value: object) -> str:
    """A value given where another type was expected, for a message: its type and repr."""
    if value is None:
        return "None"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


# -- appliers: change the engine now, then record -------------------------------------------
def _accepted(engine: Engine, command: str, order: OrderConfig, accept: Callable[..., Any]) -> None:
    """``accept(order)`` (the engine's submit or store), then record ``command`` with the
    whole order; PlanningError and ConfigError become a CommandError naming the order.

    A ``release`` later than now is refused: the running twin releases an order when it is
    started (submitted, or stored and started), and would otherwise keep the field unread."""
    if order.release > engine.now:
        raise CommandError(
            f"order {order.id}: release: {order.release:,.0f} s is later than now"
            f" ({engine.now:,.0f} s); the twin releases an order when it starts it: leave"
            " release out and send the order then (or store it now and start it then)"
        )
    try:
        accept(order)
    except PlanningError as exc:
        raise CommandError(f"order {order.id}: product: {exc}") from exc
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    engine.record_command(
        command, job=order.id, product=order.product.type, order=order.model_dump(mode="json")
    )


def submit_order(engine: Engine, order: OrderConfig) -> str:
    """Accept ``order`` now; returns the job id. Raises CommandError before anything changes
    (duplicate id, a product no machine can make)."""
    _accepted(engine, "submit_order", order, engine.submit)
    return order.id


def store_order(engine: Engine, order: OrderConfig) -> str:
    """Keep ``order`` in the twin without starting it (ISA-95 Store); returns its id. Raises
    as ``submit_order`` does."""
    _accepted(engine, "store_order", order, lambda o: orders.store(engine, o))
    return order.id


def update_order(engine: Engine, order: OrderConfig) -> str:
    """Replace a stored order, or the order of a job waiting for release, by ``order`` (same
    id; ISA-95 Update); returns its id. Raises as ``submit_order`` does."""
    _accepted(engine, "update_order", order, lambda o: orders.update(engine, o))
    return order.id


def start_order(engine: Engine, job: str) -> str:
    """Start the stored order ``job`` now: it joins the backlog. Raises UnknownJobError."""
    orders.start(engine, job)
    engine.record_command("start_order", job=job)
    return job


def revoke_start(engine: Engine, job: str) -> str:
    """Take ``job``, started and waiting for release, back to the stored orders (ISA-95
    RevokeStart)."""
    orders.revoke_start(engine, job)
    engine.record_command("revoke_start", job=job)
    return job


def cancel_order(engine: Engine, job: str) -> None:
    """Cancel ``job``: a stored order or a waiting job leaves at once, a running operation
    finishes first."""
    orders.cancel(engine, job)
    engine.record_command("cancel_order", job=job)


def pause_job(engine: Engine, job: str) -> None:
    """Pause ``job`` in the cell: after the step under way it waits in the storage."""
    orders.pause(engine, job)
    engine.record_command("pause_job", job=job)


def resume_job(engine: Engine, job: str) -> None:
    """Let the paused ``job`` go on."""
    orders.resume(engine, job)
    engine.record_command("resume_job", job=job)


def stop_job(engine: Engine, job: str) -> None:
    """End ``job`` early (ISA-95 Stop): after the step under way it leaves the cell."""
    orders.stop(engine, job)
    engine.record_command("stop_job", job=job)


def inject_fault(
    engine: Engine, machine: str, kind: str, duration: float | None, by: str | None = None
) -> None:
    """Put ``machine`` out of service now, for ``duration`` seconds or until cleared; ``by``
    labels the fault with who injected it (recorded only when given: older logs replay
    byte-identical)."""
    engine.inject_fault(machine, kind, duration, by)
    engine.record_command("inject_fault", machine=machine, kind=kind, duration=duration, **_by(by))


def clear_fault(
    engine: Engine, machine: str, kind: str | None = None, by: str | None = None
) -> int:
    """Clear the faults injected on ``machine`` (only those of ``kind`` and labelled ``by``,
    when given); returns how many were cleared. Each is recorded only when given."""
    n = engine.clear_fault(machine, kind, by)
    which = {"kind": kind} if kind is not None else {}
    engine.record_command("clear_fault", machine=machine, **which, **_by(by))
    return n


def pause(engine: Engine) -> None:
    """Record a pause (the driver stops the clock; the simulation is unchanged)."""
    engine.record_command("pause")


def resume(engine: Engine) -> None:
    """Record a resume (the driver restarts the clock)."""
    engine.record_command("resume")


def set_speed(engine: Engine, speed: float) -> None:
    """Record a speed change (the driver re-anchors its clock)."""
    engine.record_command("set_speed", speed=speed)


def stop(engine: Engine) -> None:
    """Record that the twin stopped now (``twin run`` at shutdown): a twin resumed from the
    log goes on from here, not from the last event before it."""
    engine.record_command("stop")


# -- recorded commands ----------------------------------------------------------------------
def _arg(args: Mapping[str, Any], name: str, kind: type) -> Any:
    value = args.get(name)
    if name not in args:
        raise CommandError(f"{name}: missing")
    if not isinstance(value, kind):
        raise CommandError(f"{name}: expected a {kind.__name__}, got {value!r}")
    return value


def _fault_args(args: Mapping[str, Any]) -> dict[str, Any]:
    kind = _arg(args, "kind", str)
    return {
        "machine": _arg(args, "machine", str),
        "kind": kind,
        "duration": parse_fault_duration(kind, args.get("duration")),
        "by": parse_by(args.get("by")),
    }


def _clear_args(args: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "machine": _arg(args, "machine", str),
        "kind": parse_fault_kind(args.get("kind")),
        "by": parse_by(args.get("by")),
    }


def _by(by: str | None) -> dict[str, str]:
    return {"by": by} if by is not None else {}


def _order_args(args: Mapping[str, Any]) -> dict[str, Any]:
    return {"order": parse_order(_arg(args, "order", dict))}


def _job_args(args: Mapping[str, Any]) -> dict[str, Any]:
    return {"job": _arg(args, "job", str)}


_Check = Callable[[Mapping[str, Any]], dict[str, Any]]
_COMMANDS: dict[str, tuple[_Check, Callable[..., Any]]] = {
    "submit_order": (_order_args, submit_order),
    "store_order": (_order_args, store_order),
    "update_order": (_order_args, update_order),
    "start_order": (_job_args, start_order),
    "revoke_start": (_job_args, revoke_start),
    "cancel_order": (_job_args, cancel_order),
    "pause_job": (_job_args, pause_job),
    "resume_job": (_job_args, resume_job),
    "stop_job": (_job_args, stop_job),
    "inject_fault": (_fault_args, inject_fault),
    "clear_fault": (_clear_args, clear_fault),
    "pause": (lambda a: {}, pause),
    "resume": (lambda a: {}, resume),
    "set_speed": (lambda a: {"speed": parse_speed(a.get("speed"))}, set_speed),
    "stop": (lambda a: {}, stop),
}
COMMANDS = tuple(_COMMANDS)


def check(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The applier's keyword arguments for a recorded command ``name`` with ``args`` (as in
    its ``command`` event); raises CommandError naming the command or the argument."""
    entry = _COMMANDS.get(name)
    if entry is None:
        raise CommandError(f"unknown command {name!r} (known: {', '.join(COMMANDS)})")
    return entry[0](args)


def apply(engine: Engine, name: str, args: Mapping[str, Any]) -> Any:
    """Apply a recorded command to ``engine`` now (checked as by ``check``) and record it;
    returns what its applier returns. Raises CommandError, leaving the engine unchanged."""
    kwargs = check(name, args)
    return _COMMANDS[name][1](engine, **kwargs)
