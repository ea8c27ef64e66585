"""The one command interface of the twin, whatever the source (CLI, OPC UA method, tests).

Every command validates its arguments first and raises a ``CommandError`` naming the bad
argument without touching state; an accepted command is applied at the current simulated
time and recorded as a ``command`` event, so a run can be replayed deterministically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from twin.engine.cell import Engine
from twin.errors import CommandError, ConfigError, InvalidStateError
from twin.machines import PlanningError
from twin.model.loader import format_validation_error
from twin.model.scenario import FAULT_KINDS, OrderConfig
from twin.model.units import parse_duration
from twin.runtime import RealtimeDriver

__all__ = ["TwinAPI"]

MAX_SPEED = 1_000_000.0


class TwinAPI:
    """Commands on a running twin. ``driver`` is needed for pause/resume/speed (real time)."""

    def __init__(self, engine: Engine, driver: RealtimeDriver | None = None) -> None:
        self.engine = engine
        self.driver = driver

    def _sync(self) -> None:
        # apply the command at "now": first bring the simulation up to the current time
        if self.driver is not None:
            self.driver.advance()

    def submit_order(self, order: OrderConfig | Mapping[str, Any]) -> str:
        """Accept a job order (``OrderConfig`` or its mapping); returns the job id.

        Raises CommandError naming the field when the order is invalid or cannot be planned.
        """
        if not isinstance(order, OrderConfig):
            try:
                order = OrderConfig.model_validate(dict(order))
            except ValidationError as exc:
                raise CommandError(str(format_validation_error("order", exc))) from exc
        self._sync()
        try:
            job = self.engine.submit(order)
        except PlanningError as exc:
            raise CommandError(f"order {order.id}: product: {exc}") from exc
        except ConfigError as exc:
            raise CommandError(str(exc)) from exc
        self.engine.record_command("submit_order", job=job.id, product=order.product.type)
        return job.id

    def cancel_order(self, job_id: str) -> None:
        """Cancel a job: waiting jobs leave at once, a running operation finishes first."""
        self._sync()
        self.engine.cancel(job_id)
        self.engine.record_command("cancel_order", job=job_id)

    def inject_fault(
        self, machine: str, kind: str = "breakdown", duration: float | str | None = None
    ) -> None:
        """Put ``machine`` out of service now, for ``duration`` or until ``clear_fault``."""
        self.engine.machine(machine)  # raises UnknownMachineError
        if kind not in FAULT_KINDS:
            raise CommandError(
                f"kind: unknown fault kind {kind!r} (known: {', '.join(FAULT_KINDS)})"
            )
        seconds: float | None = None
        if duration is not None and duration not in {0, ""}:
            try:
                seconds = parse_duration(duration)
            except ValueError as exc:
                raise CommandError(f"duration: {exc}") from exc
            if seconds <= 0 or not math.isfinite(seconds):
                raise CommandError(f"duration: must be > 0 seconds, got {duration!r}")
        self._sync()
        self.engine.inject_fault(machine, kind, seconds)
        self.engine.record_command("inject_fault", machine=machine, kind=kind, duration=seconds)

    def clear_fault(self, machine: str) -> int:
        """Clear the faults injected on ``machine``; returns how many were cleared."""
        self._sync()
        n = self.engine.clear_fault(machine)
        self.engine.record_command("clear_fault", machine=machine)
        return n

    def _driver(self) -> RealtimeDriver:
        if self.driver is None:
            raise InvalidStateError("pause, resume and speed apply to real-time runs only")
        return self.driver

    def pause(self) -> None:
        d = self._driver()
        if d.paused:
            raise InvalidStateError("the twin is already paused")
        d.pause()
        self.engine.record_command("pause")

    def resume(self) -> None:
        d = self._driver()
        if not d.paused:
            raise InvalidStateError("the twin is not paused")
        d.resume()
        self.engine.record_command("resume")

    def set_speed(self, speed: float) -> None:
        """Set the speed factor (simulated seconds per wall second), 0 < speed <= 1e6."""
        if (
            isinstance(speed, bool)
            or not isinstance(speed, int | float)
            or not math.isfinite(speed)
            or not 0 < speed <= MAX_SPEED
        ):
            raise CommandError(f"speed: must be a number in (0, {MAX_SPEED:g}], got {speed!r}")
        d = self._driver()
        d.set_speed(float(speed))
        self.engine.record_command("set_speed", speed=float(speed))

    def status(self) -> dict[str, Any]:
        """Time, speed, pause state and job counters."""
        e = self.engine
        return {
            "sim_time": e.now,
            "speed": self.driver.speed if self.driver else None,
            "paused": self.driver.paused if self.driver else False,
            "wip": e.wip,
            "backlog": len(e.backlog),
            "completed": e.completed,
            "scrapped": e.scrapped,
            "cancelled": e.cancelled,
            "machines": {
                m.id: {
                    "state": m.state,
                    "mode": m.mode,
                    "job": m.job,
                    "faults": [k for k, _ in m.faults],
                }
                for m in e.machines.values()
            },
        }
