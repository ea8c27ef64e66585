"""Faults of the cell's machines: random breakdowns (MTBF/MTTR), faults scheduled by the
scenario, and faults injected (and cleared) through ``twin.api``.

A fault runs from ``fault_begin`` to ``fault_end`` on the machine (which interrupts and later
resumes its work); the robot first finishes its current move (it requests itself with the
highest priority before it stops).

An injected fault may be labelled with who injected it (``by``, e.g. an adapter whose PLC
relay raised it), so that clearing by kind or label ends that fault and leaves the others (an
operator's maintenance) on.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import simpy

from twin.errors import InvalidStateError

if TYPE_CHECKING:
    from twin.engine.cell import Engine
    from twin.engine.machine import MachineRuntime

__all__ = ["Faults"]

_Gen = Generator[simpy.Event, Any, None]


@dataclass
class _Injected:
    """A fault injected through the API and not over yet: ``cleared`` ends it early."""

    kind: str
    cleared: simpy.Event
    by: str | None = None  # who injected it; None: unlabelled (an operator)

    def matches(self, kind: str | None, by: str | None) -> bool:
        return (kind is None or self.kind == kind) and (by is None or self.by == by)


class Faults:
    """The fault processes of an engine, and the faults injected through the API."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.env = engine.env
        self._injected: dict[str, list[_Injected]] = {}

    def start_breakdowns(self, m: MachineRuntime) -> None:
        """Random breakdowns of ``m`` from its MTBF/MTTR distributions, for the whole run."""
        self.env.process(self._breakdowns(m))

    def schedule(self, m: MachineRuntime, kind: str, at: float, duration: float) -> None:
        """A fault of the scenario: ``kind`` on ``m`` from ``at`` for ``duration`` seconds. A
        planned maintenance is known ahead: the machine starts no work that would run into it."""
        if kind == "maintenance":
            m.plan_maintenance(at, at + duration)
        self.env.process(self._scheduled(m, kind, at, duration))

    def inject(
        self, m: MachineRuntime, kind: str, duration: float | None, by: str | None = None
    ) -> simpy.Event:
        """Start a fault now, labelled ``by`` (who injects it) when given; returns the event
        that clears it early (``clear``)."""
        cleared = self.env.event()
        begun = m is not self.engine.robot
        if begun:  # effective at once, so a read right after the command shows it
            m.fault_begin(kind, "api", duration)
        self.env.process(self._outage(m, kind, "api", duration, cleared, begun))
        self._injected.setdefault(m.id, []).append(_Injected(kind, cleared, by))
        return cleared

    def injected(self, m: MachineRuntime, kind: str | None = None, by: str | None = None) -> int:
        """How many faults injected through the API ``m`` has now (uncleared), of ``kind``
        and labelled ``by`` when given: one over or cleared leaves the list (``_outage``,
        ``clear``)."""
        return sum(f.matches(kind, by) for f in self._injected.get(m.id, ()))

    def clearable(self, m: MachineRuntime, kind: str | None = None, by: str | None = None) -> int:
        """How many faults ``clear`` would clear on ``m``; raises InvalidStateError when
        there is none (checked before ``clear`` by a command that waits, ``twin.api``)."""
        n = self.injected(m, kind, by)
        if not n:
            which = "".join(
                [f" of kind {kind!r}" if kind else "", f" injected by {by!r}" if by else ""]
            )
            raise InvalidStateError(f"machine {m.id!r} has no injected fault{which} to clear")
        return n

    def clear(self, m: MachineRuntime, kind: str | None = None, by: str | None = None) -> int:
        """Clear the faults injected through the API on ``m`` (of ``kind`` and labelled
        ``by`` when given; the others stay); returns how many."""
        n = self.clearable(m, kind, by)
        mine = self._injected.pop(m.id)
        if rest := [f for f in mine if not f.matches(kind, by)]:
            self._injected[m.id] = rest
        for f in mine:
            if f.matches(kind, by):
                f.cleared.succeed()
        return n

    def _breakdowns(self, m: MachineRuntime) -> _Gen:
        b = m.cfg.breakdowns
        rng = self.engine.failure_rngs[m.id]
        while True:
            if b.mtbf_distribution == "weibull":
                scale = b.mtbf / math.gamma(1.0 + 1.0 / b.weibull_shape)
                ttf = scale * float(rng.weibull(b.weibull_shape))
            else:
                ttf = float(rng.exponential(b.mtbf))
            yield self.env.timeout(ttf)
            if b.mttr_distribution == "fixed":
                ttr = b.mttr
            elif b.mttr_distribution == "exponential":
                ttr = float(rng.exponential(b.mttr))
            else:
                s2 = math.log(1.0 + b.mttr_cv**2)
                ttr = b.mttr * math.exp(float(rng.normal(-s2 / 2.0, math.sqrt(s2))))
            yield from self._outage(m, "breakdown", "random", ttr, None)

    def _scheduled(self, m: MachineRuntime, kind: str, at: float, duration: float) -> _Gen:
        yield self.env.timeout(at)
        yield from self._outage(m, kind, "scenario", duration, None)

    def _outage(
        self,
        m: MachineRuntime,
        kind: str,
        source: str,
        duration: float | None,
        cleared: simpy.Event | None,
        begun: bool = False,
    ) -> _Gen:
        """A fault from begin to end; ``begun`` when ``fault_begin`` was already applied."""
        env, engine = self.env, self.engine
        req = None
        if m is engine.robot:
            # the robot finishes its current move before it stops
            req = engine.robot_resource.request(0)
            yield req
        if not begun:
            m.fault_begin(kind, source, duration)
        if duration is not None and cleared is not None:
            yield env.any_of([env.timeout(duration), cleared])
        elif duration is not None:
            yield env.timeout(duration)
        else:
            assert cleared is not None
            yield cleared
        m.fault_end(kind, source)
        if cleared is not None:  # over by itself or cleared: nothing left to clear
            pending = self._injected.get(m.id, [])
            pending[:] = [f for f in pending if f.cleared is not cleared]
        if req is not None:
            engine.robot_resource.release(req)
