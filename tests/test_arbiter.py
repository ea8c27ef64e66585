"""The robot's arbiter: one holder, waiters by priority then request order."""

from __future__ import annotations

import pytest
import simpy

from twin.engine.arbiter import Arbiter


def test_waiters_are_served_by_priority_then_request_order() -> None:
    env = simpy.Environment()
    arb = Arbiter(env)
    served: list[tuple[str, float]] = []

    def user(name: str, at: float, priority: int, hold: float):  # type: ignore[no-untyped-def]
        yield env.timeout(at)
        grant = arb.request(priority)
        yield grant
        served.append((name, env.now))
        yield env.timeout(hold)
        arb.release(grant)

    env.process(user("holder", 0, 2, 10))
    env.process(user("transfer-a", 1, 2, 1))
    env.process(user("transfer-b", 2, 2, 1))
    env.process(user("assembly", 3, 1, 1))
    env.process(user("fault", 4, 0, 5))
    env.run()
    assert served == [
        ("holder", 0),
        ("fault", 10),  # priority 0 goes first
        ("assembly", 15),
        ("transfer-a", 16),  # equal priorities: in request order
        ("transfer-b", 17),
    ]
    assert not arb.busy
    assert arb.queued == 0


def test_state_and_a_release_by_a_non_holder() -> None:
    env = simpy.Environment()
    arb = Arbiter(env)
    first = arb.request(2)
    assert first.triggered
    assert arb.busy
    second = arb.request(1)
    assert not second.triggered
    assert arb.queued == 1
    with pytest.raises(RuntimeError, match="does not hold"):
        arb.release(second)
    assert arb.queued == 1  # the failed release changed nothing
    arb.release(first)
    assert second.triggered
    assert arb.busy
    assert arb.queued == 0
    arb.release(second)
    assert not arb.busy
