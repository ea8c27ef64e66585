"""At most ``max_waiting`` orders wait in the twin, also when several are sent in one instant
from an event subscriber: each was checked when sent, before any of them was applied at the
end of the instant, so all passed (a reviewer's finding)."""

from __future__ import annotations

from tests.conftest import SCENARIOS
from twin.api import Refusal, TwinAPI
from twin.engine.cell import Engine
from twin.events import Event, OperationStarted
from twin.model import load_scenario

HOUSING = {"type": "printed_housing", "material": "pla"}


def test_orders_sent_in_one_instant_respect_the_cap() -> None:
    sc = load_scenario(SCENARIOS / "default.toml")
    engine = Engine(sc.model_copy(update={"max_wip": 1, "orders": [], "arrivals": None}))
    api = TwinAPI(engine, max_waiting=2)
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
