"""Where the cell's orders come from: the scenario's explicit orders (each released at its
time, optionally in a forced machine sequence) and its seeded arrival process of random
product configurations (drawn in blocks; a drawn job gets its spec and routing on first use).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from twin.engine.arrivals import BLOCK, ProductSampler, interarrivals
from twin.engine.jobs import Job
from twin.engine.sequence import check_sequence
from twin.errors import ConfigError
from twin.machines import PlanningError
from twin.planning import plan_orders

if TYPE_CHECKING:
    from twin.engine.cell import Engine
    from twin.model.scenario import OrderConfig
    from twin.planning import PlannedOp

__all__ = ["arrivals", "plan_scenario_orders"]


_Gen = Generator[simpy.Event, Any, None]


def plan_scenario_orders(engine: Engine, sequence: dict[str, list[str]] | None) -> None:
    """Plan every order of the scenario (ConfigError naming ``orders[i].product`` for one the
    cell cannot make), apply
    ``sequence`` and start a process releasing each at its time."""
    sc = engine.scenario
    planned = plan_orders(sc, engine.planner, "scenario")
    if sequence is not None:
        check_sequence(sequence, planned, list(engine.machines))
        for mid, jobs in sequence.items():
            engine.machines[mid].sequence = deque(jobs)
    for order, ops in planned:
        due = engine.due_of(order, ops, order.release)
        engine._open_inputs += 1
        engine.env.process(_release_later(engine, order, ops, due))


def _release_later(engine: Engine, order: OrderConfig, ops: list[PlannedOp], due: float) -> _Gen:
    if order.release > 0:
        yield engine.env.timeout(order.release)
    engine._receive(order.id, order.product, ops, due, order.weight, "scenario")
    engine._input_closed()


def arrivals(engine: Engine) -> _Gen:
    """The arrival process: interarrival times and product configurations drawn in blocks
    from the engine's own random streams."""
    sc = engine.scenario
    arr = sc.arrivals
    assert arr is not None
    sampler = ProductSampler(sc.catalogue, arr.mix, engine._product_rng, engine.planner)
    limit = arr.until if arr.until is not None else math.inf
    env, due_factor, jobs = engine.env, arr.due_factor, engine.jobs
    admit, job_index, rng = engine._admit, engine._job_index, engine._arr_rng
    gaps: list[float] = []
    k = n = 0
    while arr.count is None or n < arr.count:
        if k == len(gaps):
            gaps = interarrivals(arr, rng, BLOCK).tolist()
            k = 0
        yield env.timeout(gaps[k])
        k += 1
        now = env.now
        if now > limit:
            break
        n += 1
        try:
            group, row, work = sampler.next()
        except PlanningError as exc:
            raise ConfigError("scenario", "catalogue", str(exc)) from exc
        job = Job.drawn(f"A{n:06d}", next(job_index), group, row, now, now + due_factor * work)
        jobs[job.id] = job
        admit(job, "arrivals")
    engine._input_closed()
