"""At most ``max_waiting`` orders wait in the twin, also when several are sent in one instant
from an event subscriber: each was checked when sent, before any of them was applied at the
end of the instant, so all passed (a reviewer's finding)."""

from __future__ import annotations

import pytest

from tests.conftest import SCENARIOS
from twin.api import Refusal, TwinAPI
from twin.engine.cell import Engine
from twin.errors import CommandError
from twin.events import Event, OperationStarted
from twin.model import load_scenario

HOUSING = {"type": "printed_housing", "material": "pla"}


def _one_slot(**caps: int) -> tuple[Engine, TwinAPI]:
    """The default cell taking one job at a time, no orders of its own, and its API with
    ``caps`` (``max_waiting``, ``max_waiting_operations``)."""
    sc = load_scenario(SCENARIOS / "default.toml")
    engine = Engine(sc.model_copy(update={"max_wip": 1, "orders": [], "arrivals": None}))
    return engine, TwinAPI(engine, driver=None, **caps)


def test_orders_sent_in_one_instant_respect_the_cap() -> None:
    engine, api = _one_slot(max_waiting=2)
    refused: list[Refusal] = []
    api.on_refused(refused.append)
    sent = False

    def burst(ev: Event) -> None:
        nonlocal sent
        if isinstance(ev, OperationStarted) and not sent:  # while the engine runs
            sent = True
            for i in range(4):  # each checked when sent: nothing waits yet
                api.submit_order({"id": f"B{i}", "product": HOUSING})

    engine.bus.subscribe(burst)
    api.submit_order({"id": "first", "product": HOUSING})
    engine.run_through(60.0)
    assert sent
    assert len(engine.backlog) == 2  # the cap
    assert [r.target for r in refused] == ["B2", "B3"]
    assert all("at most 2" in str(r.error) for r in refused)


def _explicit(order_id: str, operations: int) -> dict[str, object]:
    ops = [{"machine": "cnc1", "duration": 10}] * operations
    return {"id": order_id, "product": {"type": "explicit", "operations": ops}}


def test_the_waiting_orders_operations_are_capped() -> None:
    # 10,000 waiting orders of 1,000 operations each would be about 11 GB
    engine, api = _one_slot(max_waiting_operations=10)
    api.submit_order({"id": "first", "product": HOUSING})  # released at once: not waiting
    api.submit_order(_explicit("A", 4))  # waits in the backlog
    api.store_order(_explicit("B", 4))
    assert engine.jobs["first"].state != "backlog"
    with pytest.raises(
        CommandError,
        match="3 operations, and the orders waiting in the twin have 8: at most 10 together",
    ):
        api.submit_order(_explicit("D", 3))
    assert "D" not in engine.jobs
    assert "D" not in engine.stored
    with pytest.raises(CommandError, match="have 8: at most 10"):
        api.store_order(_explicit("D", 3))
    assert "D" not in engine.stored
    # an update counts the order it replaces out
    api.update_order(_explicit("B", 6))  # 4 + 6
    with pytest.raises(CommandError, match="the other orders waiting in the twin have 6: at"):
        api.update_order(_explicit("A", 5))
    assert engine.jobs["A"].operations == 4
    api.cancel_order("B")
    api.submit_order(_explicit("D", 3))  # 4 + 3
    api.submit_order({"id": "E", "product": HOUSING})  # a product spec: not capped


def test_orders_sent_in_one_instant_respect_the_operations_cap() -> None:
    engine, api = _one_slot(max_waiting_operations=5)
    refused: list[Refusal] = []
    api.on_refused(refused.append)
    sent = False

    def burst(ev: Event) -> None:
        nonlocal sent
        if isinstance(ev, OperationStarted) and not sent:  # while the engine runs
            sent = True
            for i in range(3):  # each checked when sent: nothing waits yet
                api.submit_order(_explicit(f"B{i}", 2))

    engine.bus.subscribe(burst)
    api.submit_order({"id": "first", "product": HOUSING})
    engine.run_through(60.0)
    assert sent
    assert sorted(j.id for j in engine.backlog) == ["B0", "B1"]  # 4 operations
    assert [r.target for r in refused] == ["B2"]
    assert "at most 5 together" in str(refused[0].error)
