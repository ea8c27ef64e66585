"""The backlog's structures (``twin.engine.backlog``): a heap for FIFO, SPT and EDD, numpy
columns ranked at each release for CR and ATC; each release is the one the rule's formula
picks, whatever was added, released, cancelled or updated before."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

import twin.engine.backlog as backlog_module
from twin.engine.backlog import make_backlog
from twin.engine.cell import Engine
from twin.engine.dispatch import make_rule
from twin.engine.jobs import Job
from twin.model import load_scenario


def _ranked(jobs: list[Job], rule: str, now: float, k: float) -> list[Job]:
    """The waiting orders in release order at ``now``, by the rule's formula one job at a
    time (CR and ATC: by their index now)."""
    if rule == "CR":
        return sorted(jobs, key=lambda j: ((j.due - now) / max(j.work, 1e-9), j.index))
    if rule == "ATC":
        p_mean = max(sum(j.work for j in jobs) / len(jobs), 1e-9)

        def index(j: Job) -> float:
            p = max(j.work, 1e-9)
            return j.weight / p * math.exp(-max(j.due - p - now, 0.0) / (k * p_mean))

        return sorted(jobs, key=lambda j: (-index(j), j.index))
    key = {"FIFO": lambda j: 0.0, "SPT": lambda j: j.work, "EDD": lambda j: j.due}[rule]
    return sorted(jobs, key=lambda j: (key(j), j.index))


@pytest.mark.parametrize("rule", ["FIFO", "SPT", "EDD", "CR", "ATC"])
def test_a_long_backlog_releases_as_the_rule_says(
    rule: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hundreds of orders added, released, cancelled and updated at random (dead entries swept
    out often): each release is the one the rule's formula picks, and the head listed (kept
    between changes that do not reach it) and the whole backlog are in release order."""
    monkeypatch.setattr(backlog_module, "_COMPACT_AT", 8)
    rng = random.Random(7)
    clock = [0.0]
    backlog = make_backlog(make_rule(rule, 1.5), lambda: clock[0])
    waiting: list[Job] = []
    n = 0

    def add() -> None:
        nonlocal n
        job = Job(f"J{n}", n, None, None, clock[0], clock[0] + rng.choice([3600, 7200, 9000]), 1)
        job.work, job.weight = float(rng.choice([60, 120, 600])), float(rng.choice([1, 2]))
        backlog.add(job)
        waiting.append(job)
        n += 1

    for _ in range(400):
        add()
    for step in range(3000):
        clock[0] += 7.0
        roll = rng.random()
        if roll < 0.4 or not waiting:
            add()
        elif roll < 0.6:
            job = waiting.pop(rng.randrange(len(waiting)))
            backlog.remove(job)
        elif roll < 0.7:
            job = rng.choice(waiting)
            job.due, job.work = job.due + rng.choice([-3000, 3000]), float(rng.choice([30, 900]))
            backlog.rekey(job)
        else:
            want = _ranked(waiting, rule, clock[0], 1.5)[0]
            assert backlog.pop() is want, step
            waiting.remove(want)
        assert len(backlog) == len(waiting)
        if step % 5 == 0:
            assert backlog.head(50) == _ranked(waiting, rule, clock[0], 1.5)[:50], step
        if step % 300 == 0:
            assert list(backlog) == _ranked(waiting, rule, clock[0], 1.5), step
    while waiting:
        want = _ranked(waiting, rule, clock[0], 1.5)[0]
        assert backlog.pop() is want
        waiting.remove(want)
    assert not backlog
    with pytest.raises(IndexError):
        backlog.pop()


def test_a_drawn_orders_work_is_its_routings(default_scenario_path: Path) -> None:
    """The backlog ranks a drawn arrival by ``Job.work`` without planning its routing: the
    same number as its routing's planned work."""
    engine = Engine(load_scenario(default_scenario_path))
    engine.max_wip = 1  # the arrivals wait
    engine.run(86400, stop_when_done=False)
    waiting = list(engine.backlog)
    assert len(waiting) >= 3
    for job in waiting:
        assert job.work == job.remaining_work()
