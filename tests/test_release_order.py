"""Order release by the dispatching rule: orders waiting for a ``max_wip`` slot enter the cell
in the scenario's rule's order (urgent remakes first, first come first served among them),
not in arrival order."""

from __future__ import annotations

import itertools

import pytest

from twin.api import TwinAPI
from twin.engine.cell import Engine
from twin.events import EventBus, JobReleased
from twin.model.scenario import Scenario
from twin.planning import plan_orders

# (id, seconds on m0, due, weight); all arrive at t=0 in this order, H first takes the only slot
# and the others wait; with no robot and duration_cv 0 each takes exactly its planned time
ORDERS = [
    ("H", 100, 1_000_000, 1),
    ("A", 300, 5000, 1),
    ("B", 100, 1400, 1),
    ("C", 200, 1000, 1),
    ("D", 50, 3000, 1),
    ("E", 200, 1000, 2),
]
# Worked by hand (releases at t = 100, 300, 500, 600, then the last one):
# FIFO by arrival.
# SPT by work: D 50, B 100, C 200 = E 200 (C arrived first), A 300.
# EDD by due: C 1000 = E 1000 (C first), B 1400, D 3000, A 5000.
# CR (due - t) / work, smallest first:
#   t=100: A 4900/300=16.3  B 1300/100=13  C 900/200=4.5  D 2900/50=58  E 900/200=4.5  -> C
#   t=300: A 15.7  B 11  D 54  E 700/200=3.5 -> E;  t=500: A 15  B 9  D 50 -> B
#   t=600: A 4400/300=14.7  D 2400/50=48 -> A, then D
# ATC (k=1) w/p exp(-max(d - p - t, 0) / p_mean), largest first, p_mean over the backlog:
#   t=100, p_mean 850/5=170: C 1/200 e^(-700/170)=8.1e-5, E (w 2) 1.6e-4, B 1/100
#     e^(-1200/170)=8.6e-6, A and D below 1e-9 -> E
#   t=300, p_mean 650/4=162.5: C 1/200 e^(-500/162.5)=2.3e-4, B 1/100 e^(-1000/162.5)=2.1e-5 -> C
#   t=500, p_mean 150: B 1/100 e^(-800/150)=4.8e-5, D 1/50 e^(-2450/150)=1.6e-9 -> B
#   t=600, p_mean 175: D 1/50 e^(-2350/175)=2.9e-8, A 1/300 e^(-4100/175)=2e-13 -> D, then A
EXPECTED = {
    "FIFO": "HABCDE",
    "SPT": "HDBCEA",
    "EDD": "HCEBDA",
    "CR": "HCEBAD",
    "ATC": "HECBDA",
}


def _scenario(rule: str) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "release-order",
            "rule": rule,
            "atc_k": 1.0,
            "max_wip": 1,
            "cell": {"machines": [{"id": "m0", "kind": "generic", "duration_cv": 0}]},
            "orders": [
                {
                    "id": job_id,
                    "due": due,
                    "weight": weight,
                    "product": {
                        "type": "explicit",
                        "operations": [{"machine": "m0", "duration": seconds}],
                    },
                }
                for job_id, seconds, due, weight in ORDERS
            ],
        }
    )


def _engine(rule: str) -> tuple[Engine, list[JobReleased]]:
    bus = EventBus()
    released: list[JobReleased] = []
    bus.subscribe(lambda ev: released.append(ev) if isinstance(ev, JobReleased) else None)
    return Engine(_scenario(rule), bus=bus), released


@pytest.mark.parametrize("rule", list(EXPECTED))
def test_the_rule_decides_which_waiting_order_is_released(rule: str) -> None:
    engine, released = _engine(rule)
    engine.run(1)
    # the snapshot lists the backlog in release order (CR, ATC: as they would release now)
    expected = EXPECTED[rule]
    if rule not in ("CR", "ATC"):  # ranked by time: the order after t=100 is by then
        assert engine.snapshot()["backlog"] == list(expected[1:])
    engine.run()
    assert "".join(ev.job for ev in released) == expected
    # each waiting order goes in when the one before it ends (the times worked by hand)
    for before, ev in itertools.pairwise(released):
        assert ev.t == before.t + engine.jobs[before.job].work


def test_cr_and_atc_list_the_backlog_as_they_would_release_now() -> None:
    for rule, first in (("CR", "C"), ("ATC", "E")):
        engine, _ = _engine(rule)
        engine.run(100)  # H is still on m0: at t=100 it ends, and the first listed goes in
        assert next(iter(engine.backlog)).id == first
        assert engine.snapshot()["backlog"][0] == first
        assert len(engine.backlog) == 5


@pytest.mark.parametrize("rule", ["FIFO", "EDD", "ATC"])
def test_urgent_orders_go_first_in_their_arrival_order(rule: str) -> None:
    engine, released = _engine(rule)
    engine.run(1)
    (order, ops) = plan_orders(_scenario(rule), engine.planner, "test")[0]
    for job_id in ("U1", "U2"):  # remakes: due late, so no rule would rank them first
        engine._receive(job_id, order.product, ops, 10_000_000, 1.0, "remake", urgent=True)
    assert [j.id for j in engine.backlog][:2] == ["U1", "U2"]
    engine.run()
    assert "".join(ev.job for ev in released) == "HU1U2" + EXPECTED[rule][1:]


@pytest.mark.parametrize("rule", ["SPT", "EDD", "CR"])
def test_an_updated_or_cancelled_waiting_order_is_ranked_again(rule: str) -> None:
    engine, released = _engine(rule)
    api = TwinAPI(engine)
    engine.run(1)
    api.cancel_order("C")
    # E, which arrived last, now the shortest (10 s) and due first: first for these rules (CR
    # now, at t=1: (120 - 1) / 10 = 11.9, B's 1399 / 100 = 14 next; at t=100: 2 and 13)
    short = {"type": "explicit", "operations": [{"machine": "m0", "duration": 10}]}
    api.update_order({"id": "E", "due": 120, "product": short})
    assert next(iter(engine.backlog)).id == "E"
    engine.run()
    assert [ev.job for ev in released][:2] == ["H", "E"]
    assert "C" not in [ev.job for ev in released]
