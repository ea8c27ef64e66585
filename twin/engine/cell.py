"""The engine: a SimPy model of the cell built from a scenario.

It wires machines, the transport robot, order release (WIP cap), job flows with transfers and
blocking, faults and the arrival process. It knows nothing about OPC UA or databases: it
publishes typed events on its EventBus and writes process signals into its SignalStore.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import re
from collections import deque
from collections.abc import Generator, Iterator
from typing import Any

import numpy as np
import simpy

from twin.engine.arbiter import Arbiter
from twin.engine.backlog import Backlog, make_backlog
from twin.engine.choice import pick
from twin.engine.dispatch import DispatchRule, make_rule
from twin.engine.faults import Faults
from twin.engine.inputs import arrivals, plan_scenario_orders
from twin.engine.inspection import inspect
from twin.engine.instant import EndOfInstant, relaxed_gc
from twin.engine.jobs import ENDED_STATES, Job
from twin.engine.machine import MachineRuntime
from twin.engine.transfer import move
from twin.errors import CommandError, InvalidStateError, UnknownMachineError
from twin.events import (
    CommandApplied,
    EventBus,
    JobCancelled,
    JobCompleted,
    JobReleased,
    JobScrapped,
    JobStopped,
    OrderReceived,
)
from twin.machines import Segment
from twin.model.products import ProductSpec
from twin.model.scenario import ARRIVAL_ID, OrderConfig, Scenario, fault_misfit
from twin.model.units import parse_duration
from twin.planning import PlannedOp, Planner, check_catalogue
from twin.signals import SignalStore

__all__ = ["KEEP_ENDED", "MAX_STORED", "Engine"]

KEEP_ENDED = 100_000
MAX_STORED = 1000  # orders stored (ISA-95 Store) and not started: MaxDownloadableJobOrders
_REMAKE_ID = re.compile(r"(.*)-R(\d+)")  # a remake's id: its scrapped job's base id, -R<n>


_Gen = Generator[simpy.Event, Any, None]


class Engine:
    """SimPy cell. ``run(until)`` advances simulated time; commands mutate it between steps.

    ``sequence`` (machine id -> job ids) forces each machine's processing order. ``journal``
    lists the commands applied so far, so that the run can be replayed (``twin.engine.replay``).

    ``jobs`` holds every job not ended and the last ``keep_ended`` ended ones (done, scrapped
    or cancelled; older ones are dropped, so a twin running for weeks at high speed keeps a
    bounded memory, ~2.4 kB per job): their results stay available that long, and the id of
    a dropped job may be used again. An order from outside may not take an id the scenario
    will give (``_check_new``): those of its explicit orders and of its arrivals.

    ``stored`` holds the orders accepted but not started (ISA-95 Store): planned, so that the
    cell can make them, and kept in the twin (so in its command journal) until started or
    withdrawn; at most ``max_stored`` at a time. ``twin.engine.orders`` has the commands of an
    order's life cycle (store, start, revoke, update, cancel, pause and resume a job).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int | None = None,
        rule: str | None = None,
        sequence: dict[str, list[str]] | None = None,
        bus: EventBus | None = None,
        signals: bool = False,
        keep_ended: int = KEEP_ENDED,
    ) -> None:
        if keep_ended < 0:
            raise ValueError("keep_ended must be >= 0")
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.sequence = {m: list(jobs) for m, jobs in sequence.items()} if sequence else None
        self.journal: list[CommandApplied] = []
        self.env = simpy.Environment()
        self.bus = bus or EventBus()
        self.rule: DispatchRule = make_rule(rule or scenario.rule, scenario.atc_k)
        self.planner = Planner(scenario.cell.machines)
        self.store = SignalStore()
        self._seq = itertools.count()
        self.jobs: dict[str, Job] = {}
        self.stored: dict[str, OrderConfig] = {}
        self._scenario_ids = frozenset(o.id for o in scenario.orders)
        self.max_stored = MAX_STORED
        # an order without a due date is due this many times its planned work after acceptance
        self.due_factor = scenario.arrivals.due_factor if scenario.arrivals else 3.0
        # orders waiting for a max_wip slot, released in the rule's order (urgent ones first)
        self.backlog: Backlog = make_backlog(self.rule, lambda: self.env.now)
        self.wip = 0
        self.max_wip: float = scenario.max_wip or math.inf
        self.keep_ended = keep_ended
        self._ended: deque[Job] = deque()
        self.received = 0  # customer orders: remakes of scrapped parts are counted apart
        self.remade = 0
        self.completed = 0
        self.scrapped = 0
        self.cancelled = 0
        self.stopped = 0
        self.makespan = 0.0
        self._open_inputs = 0  # scenario orders and arrival streams still to come (inputs)
        self._job_index = itertools.count()
        self.all_done = self.env.event()
        self.faults = Faults(self)
        #: True while run / run_through process events: a command then waits for the end of
        #: the instant (``twin.api``), as a replay applies it
        self.processing = False
        self.end_of_instant = EndOfInstant(self.env)
        self._broken: str | None = None  # why the state is not whole (an exception mid-step)

        root = np.random.SeedSequence(self.seed)
        machine_ss, arrival_ss, quality_ss = root.spawn(3)
        streams = machine_ss.spawn(len(scenario.cell.machines))
        self.machines: dict[str, MachineRuntime] = {}
        for i, (cfg, ss) in enumerate(zip(scenario.cell.machines, streams, strict=True)):
            self.machines[cfg.id] = MachineRuntime(
                self, cfg, i, np.random.Generator(np.random.PCG64(ss))
            )
        self.failure_rngs = {
            mid: np.random.Generator(np.random.PCG64(ss))
            for mid, ss in zip(self.machines, quality_ss.spawn(len(self.machines)), strict=True)
        }
        arr_time, arr_product = arrival_ss.spawn(2)
        self._arr_rng = np.random.Generator(np.random.PCG64(arr_time))
        self._product_rng = np.random.Generator(np.random.PCG64(arr_product))

        robot_id = scenario.cell.transport_robot
        self.robot: MachineRuntime | None = self.machines[robot_id] if robot_id else None
        self.robot_resource = Arbiter(self.env)
        self.robot_position = self.robot.position if self.robot else (0.0, 0.0)
        if self.robot is not None:
            self.robot.uses_robot = True
        self.storage_position = scenario.cell.storage_position

        self.signals_enabled = signals
        if signals:
            self._register_signals()
        for m in self.machines.values():
            m.process = self.env.process(m.run())
            if m.cfg.breakdowns is not None:
                self.faults.start_breakdowns(m)
        plan_scenario_orders(self, sequence)
        if scenario.arrivals is not None:
            check_catalogue(scenario, "scenario", self.planner)
        for f in scenario.faults:
            self.faults.schedule(self.machines[f.machine], f.kind, f.at, f.duration)
        if scenario.arrivals is not None:
            self._open_inputs += 1
            self.env.process(arrivals(self))

    # -- helpers ----------------------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.env.now

    def next_seq(self) -> int:
        return next(self._seq)

    def event_count(self) -> int:
        """SimPy events scheduled so far (read from the environment's id counter)."""
        eid = self.env._eid
        n = next(eid)
        self.env._eid = itertools.count(n + 1)
        return n

    def machine(self, machine_id: str) -> MachineRuntime:
        try:
            return self.machines[machine_id]
        except KeyError:
            raise UnknownMachineError(
                f"unknown machine {machine_id!r} (cell has: {', '.join(self.machines)})"
            ) from None

    def _register_signals(self) -> None:
        machines = list(self.machines.values())
        for m in machines:
            specs = m.model.signal_specs(m.cfg)
            m.block = self.store.register_block(m.id, specs)
            init = np.zeros(len(specs))
            m.segment = Segment(m.state, m.mode, 0.0, math.inf, None, init)
            m.segment.init = m.model.evaluate(m.cfg, m.segment, 0.0)
            self.store.write_block(m.block, m.segment.init, 0.0)
        first, last = machines[0].block, machines[-1].block
        self._signal_span = slice(first.start, last.stop)
        # contiguous, in machine order: sample_signals writes them as one block
        assert sum(m.block.stop - m.block.start for m in machines) == last.stop - first.start

    def sample_signals(self, t: float | None = None) -> int:
        """Evaluate every machine's signals at ``t`` (default now) into the SignalStore."""
        if not self.signals_enabled:
            raise InvalidStateError("signals are off for this engine (signals=True to enable)")
        t = self.env.now if t is None else t
        # the machines' blocks were registered one after the other: one write for all of them
        values = [m.model.evaluate(m.cfg, m.segment, t) for m in self.machines.values()]  # type: ignore[arg-type]
        return self.store.write_block(self._signal_span, np.concatenate(values), t)

    # -- orders -----------------------------------------------------------------------------
    def _input_closed(self) -> None:
        self._open_inputs -= 1
        self._check_all_done()

    def _check_all_done(self) -> None:
        if (
            self._open_inputs == 0
            and self.wip == 0
            and not self.backlog
            and not self.all_done.triggered
        ):
            self.all_done.succeed()

    def _receive(
        self,
        job_id: str,
        spec: ProductSpec,
        ops: list[PlannedOp],
        due: float,
        weight: float,
        source: str,
        urgent: bool = False,
        arrival: float | None = None,
    ) -> Job:
        """A new job, now; ``arrival``: when its order came, if earlier (a remake's)."""
        arrival = self.env.now if arrival is None else arrival
        job = Job(job_id, next(self._job_index), spec, ops, arrival, due, weight)
        job.remake = source == "remake"
        self.jobs[job_id] = job
        self._admit(job, source, urgent)
        return job

    def _admit(self, job: Job, source: str, urgent: bool = False) -> None:
        """Record the order and put it in the backlog (before the others when ``urgent``)."""
        if self.all_done.triggered:  # work again after all was done (a command): re-arm
            self.all_done = self.env.event()
        if job.remake:
            self.remade += 1
        else:
            self.received += 1
        self.bus.publish(
            OrderReceived(self.env.now, job.id, job.family, job.due, job.weight,
                          job.operations, source, *job.configuration())
        )  # fmt: skip
        self.backlog.add(job, urgent)
        self._release()

    def _release(self) -> None:
        while self.backlog and self.wip < self.max_wip:
            job = self.backlog.pop()
            self.wip += 1
            job.state = "released"
            self.bus.publish(JobReleased(self.env.now, job.id))
            self.env.process(self._flow(job))

    # -- job flow ---------------------------------------------------------------------------
    def _flow(self, job: Job) -> _Gen:
        env = self.env
        loc: MachineRuntime | None = None
        while job.op_index < len(job.ops) and job.leaving is None:
            if job.held is not None:  # paused: wait in the storage
                yield from self._park(job, loc)
                loc = None
                continue
            op = job.ops[job.op_index]
            target = pick(self.machines, op, env.now)
            if target is None and loc is not None:
                # no room downstream: clear the machine's output via the central storage
                yield from move(self, job, loc, None)
                loc = None
            while target is None and job.leaving is None:
                job.state = "waiting" if job.held is None else "held"  # in the storage
                events = [self.machines[m].space_event() for m in op.durations]
                yield events[0] if len(events) == 1 else env.any_of(events)
                target = pick(self.machines, op, env.now)
            if target is None or job.leaving is not None:
                break
            if job.held is not None:  # paused while it waited for room
                continue
            target.reserve(job, op)
            yield from move(self, job, loc, target)
            loc = target
            if job.leaving is not None or job.held is not None:
                # cancelled or paused on the way: hand the slot back, leave or park from here
                target.release_reservation(job)
                if job.leaving is not None:
                    break
                continue
            target.enqueue(job, op)
            assert job.done is not None
            yield job.done
            if job.state == "queued":
                continue  # taken out of the queue by cancel or pause: leave or park
            if op.req.process == "inspection" and not inspect(self, job, target, op):
                yield from move(self, job, loc, None)
                self._scrap(job)
                return
            job.op_index += 1
        if job.held is not None and job.leaving is None:  # paused after its last operation
            yield from self._park(job, loc)
            loc = None
        yield from move(self, job, loc, None)
        if job.held is not None and job.leaving is None:  # paused on its way out: wait there
            yield from self._park(job, None)
        self._leave(job)

    def _park(self, job: Job, loc: MachineRuntime | None) -> _Gen:
        """A paused job goes to the central storage (freeing the machine) and waits there
        until resumed or cancelled."""
        yield from move(self, job, loc, None)
        while job.held is not None:
            job.state = "held"
            yield job.held

    def _finish(self, job: Job) -> None:
        self.wip -= 1
        self.makespan = max(self.makespan, self.env.now)
        self._ended_job(job)
        self._release()
        self._check_all_done()

    def _ended_job(self, job: Job) -> None:
        ended = self._ended
        ended.append(job)
        if len(ended) > self.keep_ended:
            old = ended.popleft()
            if self.jobs.get(old.id) is old:  # not if another job has its id by now
                del self.jobs[old.id]

    def _leave(self, job: Job) -> None:
        now = self.env.now
        if job.leaving == "cancelled":
            job.state = "cancelled"
            self.count_cancelled(job.id)
        elif job.leaving == "stopped":  # ended early: what is done stays done
            job.state = "stopped"
            self.stopped += 1
            self.bus.publish(JobStopped(now, job.id, now - job.arrival, job.op_index))
        else:
            job.state = "done"
            self.completed += 1
            self.bus.publish(
                JobCompleted(
                    now, job.id, now - job.arrival, max(0.0, now - job.due), not job.defects
                )
            )
        self._finish(job)

    def count_cancelled(self, job_id: str) -> None:
        """A job or a stored order is cancelled now: counted and published."""
        self.cancelled += 1
        self.bus.publish(JobCancelled(self.env.now, job_id))

    def _scrap(self, job: Job) -> None:
        job.state = "scrapped"
        job.held = None  # paused while inspected or carried out: it ends here all the same
        self.scrapped += 1
        # cancelled or stopped meanwhile: the order wants no remake
        remake_id = self._remake_id(job.id) if job.leaving is None else None
        self.bus.publish(JobScrapped(self.env.now, job.id, remake_id))
        if remake_id is not None:
            # the same customer order: due as it was, its lead time from when the order came
            ops = self.planner.plan(job.spec)
            self._receive(
                remake_id, job.spec, ops, job.due, job.weight, "remake", True, job.arrival
            )
        self._finish(job)

    def _remake_id(self, job_id: str) -> str:
        """The id of the job that replaces the scrapped ``job_id``: ``<base>-R<n+1>`` for a
        remake ``<base>-R<n>``, else ``<job_id>-R1``; the next free ``n`` when an order of
        that id is in the twin or in the scenario."""
        match = _REMAKE_ID.fullmatch(job_id)
        base, n = (match[1], int(match[2]) + 1) if match else (job_id, 1)
        while (
            (remake := f"{base}-R{n}") in self.jobs
            or remake in self.stored
            or (remake in self._scenario_ids)
        ):
            n += 1
        return remake

    # -- commands (called through twin.api) -------------------------------------------------
    def record_command(self, command: str, **args: Any) -> None:
        """Journal and publish a command applied now (``twin.engine.commands`` calls this)."""
        event = CommandApplied(self.env.now, command, args)
        self.journal.append(event)
        self.bus.publish(event)

    def _check_new(self, order: OrderConfig) -> list[PlannedOp]:
        """The order's routing; raises InvalidStateError (duplicate id, or an id the scenario
        will give: one of its explicit orders' or of its arrivals') or PlanningError (no
        machine can make it)."""
        oid = order.id
        if oid in self.jobs or oid in self.stored:
            raise InvalidStateError(f"order {oid!r} exists already")
        if oid in self._scenario_ids:
            raise InvalidStateError(f"order id {oid!r} is reserved for the scenario's order")
        if self.scenario.arrivals is not None and ARRIVAL_ID.fullmatch(oid):
            raise InvalidStateError(
                f"order id {oid!r} is reserved for the arrival process (A and 6 or more digits)"
            )
        return self.planner.plan(order.product)

    def submit(self, order: OrderConfig, source: str = "api") -> Job:
        """Accept an order now; raises InvalidStateError (duplicate or reserved id) or
        PlanningError (no machine can make it) before anything changes."""
        return self._accept(order, self._check_new(order), source)

    def due_of(self, order: OrderConfig, ops: list[PlannedOp], since: float) -> float:
        """The order's due date, or else ``since`` plus ``due_factor`` times its planned work."""
        if order.due is not None:
            return order.due
        return since + self.due_factor * sum(op.min_duration for op in ops)

    def _accept(self, order: OrderConfig, ops: list[PlannedOp], source: str) -> Job:
        due = self.due_of(order, ops, self.env.now)
        return self._receive(order.id, order.product, ops, due, order.weight, source)

    def inject_fault(
        self, machine: str, kind: str, duration: float | None, by: str | None = None
    ) -> simpy.Event:
        """Start a fault now, labelled ``by`` (who injects it) when given; returns the event
        that clears it early (``clear_fault``). Raises UnknownMachineError, or CommandError
        naming ``kind`` when the machine cannot have such a fault."""
        m = self.machine(machine)
        misfit = fault_misfit(kind, m.cfg)
        if misfit is not None:
            raise CommandError(f"kind: {misfit}")
        return self.faults.inject(m, kind, duration, by)

    def injected_faults(self, machine: str) -> int:
        """How many faults injected through the API ``machine`` has now (not yet cleared)."""
        return self.faults.injected(self.machine(machine))

    def clear_fault(self, machine: str, kind: str | None = None, by: str | None = None) -> int:
        """Clear the faults injected through the API on ``machine`` (only those of ``kind``
        and labelled ``by``, when given); returns how many. Raises InvalidStateError when
        there is none."""
        return self.faults.clear(self.machine(machine), kind, by)

    # -- running ----------------------------------------------------------------------------
    def run(self, until: float | str | None = None, stop_when_done: bool = True) -> float:
        """Run as fast as possible to ``until`` (seconds or a duration such as "8h"; default:
        the horizon); with ``stop_when_done``, stop earlier once every order is finished and
        none can come. Raises ValueError naming ``until`` when it is not a finite duration."""
        try:
            end = self.scenario.horizon if until is None else parse_duration(until)
        except ValueError as exc:
            raise ValueError(f"until: {exc}") from None
        if isinstance(until, int):  # kept: an int time stays an int in the log (3600, not 3600.0)
            end = until
        if end <= self.env.now:
            return self.env.now
        with self._processing():
            stop = self.env.timeout(end - self.env.now)
            with relaxed_gc():
                if not stop_when_done:
                    self.env.run(until=stop)
                    return self.env.now
                while True:
                    self.env.run(until=self.env.any_of([stop, self.all_done]))
                    if stop.processed:
                        break
                    # all done; a command deferred to the end of this instant may bring work
                    self.end_of_instant.finish()
                    if self.all_done.triggered:
                        break
        return self.env.now

    def run_through(self, t: float, max_events: int | None = None) -> float:
        """Process every event due at or before ``t`` (``run`` stops before the events due at
        its end); commands apply at this point, live and in a replay. Returns the new time.
        With ``max_events``, stop after that many (a real-time step that must not hold up its
        event loop): the time is then that of the last one, events at it may be left."""
        env = self.env
        with self._processing():
            if max_events is not None:
                for _ in range(max_events):
                    if env.peek() > t:
                        break
                    env.step()
                else:
                    return env.now  # the budget is used up: not through t yet
            while env.peek() <= t:
                env.step()
        if t > env.now:
            # nothing is due before t: the clock goes exactly to t (env.run(until=t) adds
            # t - now to now, which can round, and a replay must reach a command's exact time)
            env._now = t
        return env.now

    @contextlib.contextmanager
    def _processing(self) -> Iterator[None]:
        """Marks the engine as processing events. An exception out of a step (Ctrl-C, a
        subscriber's error) leaves the step half done: the engine then refuses to go on."""
        if self._broken is not None:
            raise InvalidStateError(self._broken)
        if self.processing:
            raise InvalidStateError(
                "the engine is processing events already (run called from a subscriber?)"
            )
        self.processing = True
        try:
            yield
        except BaseException as exc:
            self._broken = (
                f"the engine was interrupted while processing the events at t={self.env.now:g}"
                f" ({type(exc).__name__}): its state is not whole, so it cannot go on; start"
                " a new one, or restore this one from its event log (--resume, --replay)"
            )
            raise
        finally:
            self.processing = False

    def interrupted(self, job: Job) -> bool:
        """True while a fault on its machine (breakdown, maintenance, a failed print being
        cleared) stops the job's setup or operation: ISA-95 Interrupted/Held, until repaired."""
        machine = self.machines.get(job.location) if job.location is not None else None
        return machine is not None and machine.job == job.id and bool(machine.faults)

    def snapshot(self) -> dict[str, Any]:
        """The domain state as plain data (JSON-serialisable)."""
        return {
            "t": self.env.now,
            "seed": self.seed,
            "rule": self.rule.name,
            "wip": self.wip,
            "stored": list(self.stored),
            "backlog": [j.id for j in self.backlog],  # in release order (as it would be now)
            "completed": self.completed,
            "scrapped": self.scrapped,
            "cancelled": self.cancelled,
            "stopped": self.stopped,
            "machines": [m.snapshot() for m in self.machines.values()],
            "jobs": [
                {**j.snapshot(), "interrupted": self.interrupted(j)}
                for j in self.jobs.values()
                if j.state not in ENDED_STATES
            ],
            "robot_position": list(self.robot_position),
            "rng": {
                "arrivals": self._arr_rng.bit_generator.state,
                "products": self._product_rng.bit_generator.state,
                **{f"machine.{k}": m.rng.bit_generator.state for k, m in self.machines.items()},
                **{f"failures.{k}": r.bit_generator.state for k, r in self.failure_rngs.items()},
            },
        }
