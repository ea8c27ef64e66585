"""Simulation speed: raw SimPy timeouts vs the engine, in one process run.

Prints raw SimPy events/s, the engine's events/s on the default scenario for 30 simulated
days with at least 20,000 orders, the ratio, and simulated seconds per wall second, with
signals off and with signals sampled every second. Not a timed test: a measurement.

For context it also prints two bounds: the engine's SimPy event pattern with no domain work
(``event_pattern``), and the cost of recording one domain event (typed event, KPI update,
JSON line); together they give the ratio an engine with no logic at all would reach.

    .venv/bin/python bench/sim_speed.py [--days 30] [--orders 20000]
"""

from __future__ import annotations

import argparse
import gc
import io
import random
import time
from collections import deque
from collections.abc import Generator
from dataclasses import astuple
from pathlib import Path
from typing import TYPE_CHECKING, Any

import simpy

from twin.engine.arbiter import Arbiter
from twin.engine.cell import Engine
from twin.events import Event, EventBus, EventLogWriter
from twin.kpi import KpiCollector
from twin.model import load_scenario
from twin.model.scenario import Scenario

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

ROOT = Path(__file__).resolve().parent.parent

_Gen = Generator[simpy.Event, Any, None]


def raw_simpy(events: int = 1_000_000, processes: int = 10) -> float:
    """Events per second of bare ``yield env.timeout(1)`` loops."""
    env = simpy.Environment()

    def proc(env: simpy.Environment) -> _Gen:
        while True:
            yield env.timeout(1)

    for _ in range(processes):
        env.process(proc(env))
    t0 = time.perf_counter()
    env.run(until=events / processes)
    return events / (time.perf_counter() - t0)


def event_pattern(days: float, mean_gap: float, wip_cap: int) -> tuple[float, int]:
    """Events/s and events per job of the engine's SimPy event pattern with no domain work.

    Orders arrive, are released under a WIP cap and each runs as a process: for each of three
    machines a robot transfer (grant, pick and place timeouts), a queue wake-up, setup and
    processing timeouts and a done event; then the transfer out. This is the ceiling for
    the ratio: what is left of it pays for planning, state, KPIs and the event log.
    """
    env = simpy.Environment()
    rnd = random.Random(1)
    robot = Arbiter(env)
    state = {"wip": 0, "done": 0}
    backlog: deque[int] = deque()

    class Station:
        def __init__(self, mean: float) -> None:
            self.mean = mean
            self.queue: deque[simpy.Event] = deque()
            self.wake: simpy.Event | None = None

        def run(self) -> _Gen:
            while True:
                while not self.queue:
                    self.wake = env.event()
                    yield self.wake
                done = self.queue.popleft()
                yield env.timeout(60.0)
                yield env.timeout(rnd.expovariate(1 / self.mean))
                done.succeed()

    stations = [Station(900.0), Station(1200.0), Station(300.0)]
    for st in stations:
        env.process(st.run())

    def move() -> _Gen:
        grant = robot.request(2)
        yield grant
        yield env.timeout(8.0)
        yield env.timeout(8.0)
        robot.release(grant)

    def flow() -> _Gen:
        for st in stations:
            yield from move()
            done = env.event()
            st.queue.append(done)
            if st.wake is not None:
                wake, st.wake = st.wake, None
                wake.succeed()
            yield done
        yield from move()
        state["done"] += 1
        state["wip"] -= 1
        release()

    def release() -> None:
        while backlog and state["wip"] < wip_cap:
            backlog.popleft()
            state["wip"] += 1
            env.process(flow())

    def arrivals() -> _Gen:
        while True:
            yield env.timeout(rnd.expovariate(1 / mean_gap))
            backlog.append(1)
            release()

    env.process(arrivals())
    t0 = time.perf_counter()
    env.run(until=days * 86400.0)
    wall = time.perf_counter() - t0
    n = next(env._eid)
    return n / wall, n // max(state["done"], 1)


def record_cost(sc: Scenario, days: float = 20.0) -> float:
    """Seconds per domain event to create it, update the KPIs and write its JSON line."""
    seen: list[Event] = []
    bus = EventBus()
    bus.subscribe(seen.append)
    Engine(sc, bus=bus).run(days * 86400.0, stop_when_done=False)
    rows = [(type(ev), astuple(ev)) for ev in seen]
    bus = EventBus()
    bus.subscribe(KpiCollector.for_cell(sc.cell))
    writer = EventLogWriter(_NullSink())
    bus.subscribe(writer)
    publish = bus.publish
    gc.collect()
    t0 = time.perf_counter()
    for cls, values in rows:
        publish(cls(*values))
    writer.flush()
    return (time.perf_counter() - t0) / len(rows)


class _NullSink(io.BytesIO):
    """A binary stream (as ``EventLogWriter`` takes) that discards the event log, counting its
    lines (the domain events recorded)."""

    lines = 0

    def write(self, s: ReadableBuffer, /) -> int:
        data = bytes(s)  # the writer's batches are bytes: the same object, no copy
        self.lines += data.count(b"\n")
        return len(data)

    def flush(self) -> None:
        pass


def engine_run(sc: Scenario, days: float, signal_period: float | None) -> dict[str, float]:
    bus = EventBus()
    bus.subscribe(KpiCollector.for_cell(sc.cell))
    sink = _NullSink()
    writer = EventLogWriter(sink)
    bus.subscribe(writer)
    engine = Engine(sc, bus=bus, signals=signal_period is not None)
    if signal_period is not None:
        env = engine.env

        def sampler() -> _Gen:
            while True:
                engine.sample_signals()
                yield env.timeout(signal_period)

        env.process(sampler())
    gc.collect()
    t0 = time.perf_counter()
    engine.run(days * 86400.0, stop_when_done=False)
    writer.flush()
    wall = time.perf_counter() - t0
    events = engine.event_count()
    return {
        "wall_s": wall,
        "events": events,
        "events_per_s": events / wall,
        "domain_events": sink.lines,
        "sim_s_per_wall_s": engine.now / wall,
        "orders": engine.received,  # engine.jobs drops ended jobs (keep_ended)
        "completed": engine.completed,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "default.toml"))
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--orders", type=int, default=20_000)
    ap.add_argument("--skip-signals", action="store_true")
    args = ap.parse_args()

    base = sc = load_scenario(args.scenario)
    assert sc.arrivals is not None
    base_gap = sc.arrivals.mean_interarrival
    # enough arrivals for the order target over the run (the default stream is slower)
    mean = min(base_gap, args.days * 86400.0 / (args.orders * 1.02))
    sc = sc.model_copy(
        update={"arrivals": sc.arrivals.model_copy(update={"mean_interarrival": mean})}
    )

    raw = raw_simpy()
    print(f"raw SimPy timeouts:           {raw:12,.0f} events/s")
    wip = int(base.max_wip or 10)
    pattern, per_job = event_pattern(400.0, base_gap, wip)
    print(
        f"engine's event pattern alone: {pattern:12,.0f} events/s "
        f"(ratio {pattern / raw:.3f}, {per_job} events per job, no domain work)"
    )
    cost = record_cost(base)
    print(
        f"one domain event recorded:    {cost * 1e6:12.2f} us   "
        "(typed event, KPI update, JSON line)"
    )
    off = engine_run(sc, args.days, None)
    print(
        f"engine, signals off:          {off['events_per_s']:12,.0f} events/s "
        f"({off['events']:,} events, {off['orders']:,} orders, {off['completed']:,} completed, "
        f"{off['wall_s']:.2f} s wall)"
    )
    print(f"  ratio engine / raw SimPy:   {off['events_per_s'] / raw:12.3f}   (target >= 0.3)")
    print(
        f"  domain events recorded:     {off['domain_events']:12,}   "
        f"({off['domain_events'] / off['wall_s']:,.0f}/s, each a typed event, KPI update and "
        "JSON line)"
    )
    print(f"  simulated s per wall s:     {off['sim_s_per_wall_s']:12,.0f}   (target >= 500,000)")
    # for reference: the scenario's own arrival rate, long enough for as many SimPy events,
    # where orders flow through the cell instead of queueing in the backlog
    flow = engine_run(base, 400.0, None)
    print(
        f"engine, scenario's own rate:  {flow['events_per_s']:12,.0f} events/s "
        f"({flow['events']:,} events, {flow['orders']:,} orders, {flow['completed']:,} "
        f"completed in 400 days, {flow['wall_s']:.2f} s wall)"
    )
    print(f"  ratio engine / raw SimPy:   {flow['events_per_s'] / raw:12.3f}")
    print(f"  simulated s per wall s:     {flow['sim_s_per_wall_s']:12,.0f}")
    # the pattern plus the record of the domain events alone, with no engine logic at all
    per_event = 1 / pattern + cost * flow["domain_events"] / flow["events"]
    print(
        f"  ceiling: pattern + record:  {1 / per_event / raw:12.3f}   "
        f"({flow['domain_events'] / flow['events']:.2f} domain events per SimPy event, "
        "no planning, dispatching or state)"
    )
    if not args.skip_signals:
        on = engine_run(sc, args.days, 1.0)
        print(
            f"engine, signals sampled 1 s:  {on['events_per_s']:12,.0f} events/s "
            f"({on['wall_s']:.2f} s wall)"
        )
        print(f"  ratio engine / raw SimPy:   {on['events_per_s'] / raw:12.3f}")
        print(f"  simulated s per wall s:     {on['sim_s_per_wall_s']:12,.0f}")


if __name__ == "__main__":
    main()
