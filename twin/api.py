"""The one command interface of the twin, whatever the source (CLI, OPC UA method, tests).

Every command validates its arguments first and raises a ``CommandError`` naming the bad
argument without touching state; an accepted command is applied at the current simulated
time, after every event due by then, and recorded as a ``command`` event with what a replay
needs (``twin.engine.commands`` does both), so a run can be restored or forked by replaying its
commands (``twin.engine.replay``).

A command sent while the engine processes events (from an ``EventBus`` subscriber: an MES
that answers a completed job with the next order) is applied at the end of that instant,
after every event due then, in the order sent: where a replay applies it. Its arguments are
checked at once; what depends on the state is checked when it is applied: a refusal then is
logged, goes to the handlers given to ``on_refused``, and nothing is recorded.

Limits, so that one command cannot hold up or exhaust the twin: an order's explicit routing
has at most ``MAX_OPERATIONS`` operations, and at most ``max_waiting`` orders (default
``MAX_WAITING``) wait in the twin, stored or in the backlog, for an order to be accepted; their
explicit routings hold at most ``max_waiting_operations`` operations together (default
``MAX_WAITING_OPERATIONS``: about 1 KB each, so 10,000 orders of 1,000 operations, 11 GB,
cannot pile up).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from twin.engine import commands
from twin.engine.cell import Engine
from twin.engine.replay import MAX_FORECAST, ForkPoint, forecast, forecast_from
from twin.errors import CommandError, InvalidStateError
from twin.model.products import ExplicitSpec
from twin.model.scenario import OrderConfig
from twin.runtime import RealtimeDriver

__all__ = ["MAX_OPERATIONS", "MAX_WAITING", "MAX_WAITING_OPERATIONS", "Refusal", "TwinAPI"]

log = logging.getLogger("twin.api")
_T = TypeVar("_T")

MAX_OPERATIONS = 1_000  # operations of one order's explicit routing
MAX_WAITING = 10_000  # orders stored or in the backlog when another is accepted
MAX_WAITING_OPERATIONS = 200_000  # operations of the waiting orders' explicit routings


@dataclass(frozen=True)
class Refusal:
    """A command sent from a subscriber and refused at the end of its instant (``t``):
    ``command`` is the API method's name, ``target`` the order, job or machine id."""

    t: float
    command: str
    target: str
    error: CommandError


class TwinAPI:
    """Commands on a running twin. ``driver`` is needed for pause/resume/speed (real time);
    ``max_waiting``: the orders that may wait (stored or in the backlog) when an order is
    submitted or stored; ``max_waiting_operations``: the operations of their explicit
    routings, the new order's included (None: no limit)."""

    def __init__(
        self,
        engine: Engine,
        driver: RealtimeDriver | None = None,
        *,
        max_waiting: int | None = MAX_WAITING,
        max_waiting_operations: int | None = MAX_WAITING_OPERATIONS,
    ) -> None:
        self.engine = engine
        self.driver = driver
        self.max_waiting = max_waiting
        self.max_waiting_operations = max_waiting_operations
        self._forecasting: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._refusal_handlers: list[Callable[[Refusal], None]] = []

    def _sync(self) -> None:
        # apply the command at "now", after every event due by then (as a replay does)
        if self.driver is not None:
            self.driver.advance()
        else:
            self.engine.run_through(self.engine.now)

    def _apply(self, name: str, target: str, command: Callable[[], _T], meanwhile: _T) -> _T:
        """``command()`` now, after every event due by now; while the engine processes
        events, at the end of the instant instead (see the module), returning ``meanwhile``.
        ``name`` and ``target`` (an order, job or machine id) describe a refusal then."""
        if not self.engine.processing:
            self._sync()
            return command()

        def later() -> None:
            try:
                command()
            except CommandError as exc:
                self._refused(Refusal(self.engine.now, name, target, exc))

        self.engine.end_of_instant.defer(later)
        return meanwhile

    def on_refused(self, handler: Callable[[Refusal], None]) -> Callable[[], None]:
        """Call ``handler`` with a ``Refusal`` when a command sent from a subscriber is
        refused at the end of its instant (it returned at once); returns the unsubscribe
        function. Refusals are logged (logger ``twin.api``) in any case."""
        self._refusal_handlers.append(handler)
        return lambda: self._refusal_handlers.remove(handler)

    def _refused(self, refusal: Refusal) -> None:
        log.warning(
            "%s(%r), sent during the events at t=%g, was refused at the end of that instant: %s",
            refusal.command,
            refusal.target,
            refusal.t,
            refusal.error,
        )
        for handler in list(self._refusal_handlers):
            handler(refusal)

    def _order(
        self,
        name: str,
        apply: Callable[[Engine, OrderConfig], str],
        order: OrderConfig | Mapping[str, Any],
    ) -> str:
        """An order command: checked at once, applied as ``_apply`` says; an order due before
        now is accepted (late already) with a warning, since due counts from t = 0."""
        _check_operations(order)  # before parsing: a huge routing costs time to parse
        parsed = commands.parse_order(order)
        _check_operations(parsed)
        replaces = name == "update_order"  # an update replaces a waiting order
        self._check_waiting(parsed, replaces)

        def command() -> str:
            self._check_waiting(parsed, replaces)  # again: orders sent in one instant all passed
            job = apply(self.engine, parsed)
            if parsed.due is not None and parsed.due < self.engine.now:
                log.warning(
                    "%s: order %s is due at %s s, before now (%s s): it is late already (due"
                    " counts from the scenario start, t = 0)",
                    name,
                    parsed.id,
                    f"{parsed.due:,.0f}",
                    f"{self.engine.now:,.0f}",
                )
            return job

        return self._apply(name, parsed.id, command, parsed.id)

    def _check_waiting(self, order: OrderConfig, replaces: bool) -> None:
        """Raises CommandError when ``max_waiting`` orders wait already (unless ``order``
        replaces one), or when ``order``'s explicit routing would bring the operations of the
        waiting orders above ``max_waiting_operations``: the routings of the jobs in the
        backlog, and the explicit routings of the stored orders (a stored order for a product
        spec is planned when started: a handful of operations)."""
        engine = self.engine
        waiting = len(engine.backlog) + len(engine.stored)
        if not replaces and self.max_waiting is not None and waiting >= self.max_waiting:
            raise CommandError(
                f"order: {waiting:,} orders wait in the twin (stored or in the backlog), at"
                f" most {self.max_waiting:,}: cancel some, or wait until some are released"
            )
        cap, ops = self.max_waiting_operations, _explicit_operations(order)
        if cap is None or not ops:
            return
        replaced = 0  # the operations of the order an update replaces
        if replaces and order.id in engine.stored:
            replaced = _explicit_operations(engine.stored[order.id])
        elif replaces and (job := engine.jobs.get(order.id)) is not None and job.state == "backlog":
            replaced = job.operations
        total = (
            sum(_explicit_operations(o) for o in engine.stored.values())
            + sum(j.operations for j in engine.backlog)
            - replaced
        )
        if total + ops > cap:
            raise CommandError(
                f"order: product.operations: {ops:,} operations, and the{' other' * replaces}"
                f" orders waiting in the twin have {total:,}: at most {cap:,} together; cancel"
                " some, or wait until some are released"
            )

    def submit_order(self, order: OrderConfig | Mapping[str, Any]) -> str:
        """Accept a job order (``OrderConfig`` or its mapping); returns the job id.

        Raises CommandError naming the field when the order is invalid or cannot be planned.
        """
        return self._order("submit_order", commands.submit_order, order)

    def store_order(self, order: OrderConfig | Mapping[str, Any]) -> str:
        """Keep a job order in the twin without starting it (ISA-95 Store); returns its id.
        It is planned now (refused like ``submit_order``) and recorded, so a twin resumed
        from its event log still has it; ``start_order`` starts it, ``cancel_order``
        withdraws it."""
        return self._order("store_order", commands.store_order, order)

    def start_order(self, job_id: str) -> str:
        """Start a stored order now (a due date not given counts from now); returns its id."""
        job_id = commands.parse_id("job", job_id)
        return self._apply(
            "start_order", job_id, lambda: commands.start_order(self.engine, job_id), job_id
        )

    def update_order(self, order: OrderConfig | Mapping[str, Any]) -> str:
        """Replace a stored order, or the order of a job waiting for release (it keeps its
        place in the backlog), by ``order`` with the same id (ISA-95 Update); refused like
        ``submit_order``, and for an order already released."""
        return self._order("update_order", commands.update_order, order)

    def revoke_start(self, job_id: str) -> str:
        """Take a started order that still waits for release back to the stored orders
        (ISA-95 RevokeStart); ``start_order`` starts it again."""
        job_id = commands.parse_id("job", job_id)
        return self._apply(
            "revoke_start", job_id, lambda: commands.revoke_start(self.engine, job_id), job_id
        )

    def cancel_order(self, job_id: str) -> None:
        """Cancel a stored order or a job: stored orders and waiting jobs leave at once, a
        running operation finishes first."""
        job_id = commands.parse_id("job", job_id)
        self._apply(
            "cancel_order", job_id, lambda: commands.cancel_order(self.engine, job_id), None
        )

    def pause_job(self, job_id: str) -> None:
        """Pause a job in the cell (ISA-95 Pause): the operation or transfer under way ends,
        then the part waits in the central storage, keeping its place in the WIP, until
        ``resume_job``. Only a released job that has not ended can be paused."""
        job_id = commands.parse_id("job", job_id)
        self._apply("pause_job", job_id, lambda: commands.pause_job(self.engine, job_id), None)

    def resume_job(self, job_id: str) -> None:
        """Let a paused job go on with its routing (ISA-95 Resume)."""
        job_id = commands.parse_id("job", job_id)
        self._apply("resume_job", job_id, lambda: commands.resume_job(self.engine, job_id), None)

    def stop_job(self, job_id: str) -> None:
        """End a job in the cell early (ISA-95 Stop): the operation or transfer under way
        ends, then the part leaves the cell with the operations done so far, and the job ends
        as stopped (Ended, not a finished product: it is not counted in ``jobs_completed``).
        A paused job leaves from the storage. Only a released job that has not ended can be
        stopped; ``cancel_order`` withdraws one not released yet."""
        job_id = commands.parse_id("job", job_id)
        self._apply("stop_job", job_id, lambda: commands.stop_job(self.engine, job_id), None)

    def inject_fault(
        self,
        machine: str,
        kind: str = "breakdown",
        duration: float | str | None = None,
        *,
        by: str | None = None,
    ) -> None:
        """Put ``machine`` out of service now, for ``duration`` (seconds or a duration such
        as "10m"), or until ``clear_fault`` when it is None or 0 ("0s"). ``by`` labels the
        fault with who injects it (e.g. "adapter:plc1"), so that ``clear_fault(machine,
        by=...)`` ends that fault only."""
        machine = commands.parse_id("machine", machine)
        self.engine.machine(machine)  # raises UnknownMachineError
        seconds = commands.parse_fault_duration(kind, duration)
        by = commands.parse_by(by)
        self._apply(
            "inject_fault",
            machine,
            lambda: commands.inject_fault(self.engine, machine, kind, seconds, by),
            None,
        )

    def clear_fault(self, machine: str, *, kind: str | None = None, by: str | None = None) -> int:
        """Clear the faults injected on ``machine``; returns how many were cleared (the
        machine's state shows it at once). With ``kind`` or ``by``, only the faults of that
        kind and injected ``by`` that label: the others stay (an operator's maintenance
        outlives a PLC relay that opens)."""
        machine = commands.parse_id("machine", machine)
        kind = commands.parse_fault_kind(kind)
        by = commands.parse_by(by)
        m = self.engine.machine(machine)
        on = self.engine.faults.clearable(m, kind, by)  # checked at once

        def clear() -> int:
            n = commands.clear_fault(self.engine, machine, kind, by)
            self.engine.run_through(self.engine.now)  # the repair, due now (as in a replay)
            return n

        return self._apply("clear_fault", machine, clear, on)

    def _driver(self) -> RealtimeDriver:
        if self.driver is None:
            raise InvalidStateError("pause, resume and speed apply to real-time runs only")
        return self.driver

    def pause(self) -> None:
        d = self._driver()
        if d.paused:
            raise InvalidStateError("the twin is already paused")
        d.pause()
        commands.pause(self.engine)

    def resume(self) -> None:
        d = self._driver()
        if not d.paused:
            raise InvalidStateError("the twin is not paused")
        self._sync()  # what commands while paused started at this time happens first
        d.resume()
        commands.resume(self.engine)

    def set_speed(self, speed: float) -> None:
        """Set the speed factor (simulated seconds per wall second), 0 < speed <= 1e6."""
        speed = commands.parse_speed(speed)
        d = self._driver()
        d.set_speed(speed)
        commands.set_speed(self.engine, speed)

    def forecast(self, until: float | str) -> dict[str, Any]:
        """Predict the jobs not finished now by running a fork of the twin ``until`` ahead
        (seconds or a duration such as "8h", at most ``MAX_FORECAST``) or until all work is
        done; the twin is unaffected. Returns plain data (``twin.engine.replay.forecast``);
        raises CommandError naming ``until``."""
        ahead = commands.parse_seconds("until", until, MAX_FORECAST)
        if not self.engine.processing:  # from a subscriber: the fork starts at the instant
            self._sync()
        return forecast(self.engine, ahead)

    async def forecast_async(self, until: float | str) -> dict[str, Any]:
        """``forecast`` with the fork run in a worker thread, so that the event loop (the
        OPC UA server, the real-time clock) goes on serving meanwhile. One forecast runs at a
        time; the next waits for it, then forks the twin as it is then. Cancelled (a client
        gone, the server shutting down), the fork stops at its next event."""
        ahead = commands.parse_seconds("until", until, MAX_FORECAST)
        loop = asyncio.get_running_loop()
        if self._forecasting is None or self._forecasting[0] is not loop:
            self._forecasting = (loop, asyncio.Lock())  # a lock serves one event loop
        async with self._forecasting[1]:
            self._sync()
            point = ForkPoint.of(self.engine)
            cancel = threading.Event()
            try:
                return await asyncio.to_thread(forecast_from, point, ahead, cancel)
            except asyncio.CancelledError:
                cancel.set()
                raise

    def status(self) -> dict[str, Any]:
        """Time, speed, pause state and job counters."""
        e = self.engine
        return {
            "sim_time": e.now,
            "speed": self.driver.speed if self.driver else None,
            "paused": self.driver.paused if self.driver else False,
            "wip": e.wip,
            "stored": len(e.stored),
            "backlog": len(e.backlog),
            "completed": e.completed,
            "scrapped": e.scrapped,
            "cancelled": e.cancelled,
            "stopped": e.stopped,
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


def _explicit_operations(order: OrderConfig) -> int:
    return len(order.product.operations) if isinstance(order.product, ExplicitSpec) else 0


def _check_operations(order: object) -> None:
    """Raises CommandError when ``order`` (an ``OrderConfig`` or its mapping) has an explicit
    routing of more than ``MAX_OPERATIONS`` operations."""
    if isinstance(order, OrderConfig):
        count = _explicit_operations(order)
    elif isinstance(order, Mapping) and isinstance(order.get("product"), Mapping):
        ops = order["product"].get("operations")
        count = len(ops) if isinstance(ops, list | tuple) else 0
    else:
        return
    if count > MAX_OPERATIONS:
        raise CommandError(
            f"order: product.operations: {count:,} operations, at most {MAX_OPERATIONS:,} per order"
        )
