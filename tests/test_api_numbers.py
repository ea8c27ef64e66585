"""Orders through ``twin.api`` follow the scenario files' rule for numbers: a string or a
boolean for a number field of the order or its product is refused, naming the field, and the
twin's orders stay as they were. An order parsed from JSON (the OPC UA ``SubmitOrder``
method's) has JSON's numbers, taken as they are."""

from __future__ import annotations

import json
from typing import Any

import pytest

from twin.api import TwinAPI
from twin.engine.cell import Engine
from twin.errors import CommandError
from twin.events import Event
from twin.model import BracketSpec

QUOTES = ": write the number without quotes"
BRACKET = {"type": "machined_bracket", "material": "aluminium"}


@pytest.fixture
def twin(quiet_twin: tuple[Engine, TwinAPI, list[Event]]) -> tuple[Engine, TwinAPI, list[Event]]:
    return quiet_twin


def _state(engine: Engine, seen: list[Event]) -> tuple[object, ...]:
    """What a refused order command must leave as it was: the twin's orders and jobs, its
    count of orders received and the events (a command accepted is recorded)."""
    return (len(seen), engine.snapshot(), engine.received, dict(engine.stored), set(engine.jobs))


@pytest.mark.parametrize(
    ("order", "message"),
    [
        (
            {"product": {**BRACKET, "holes": "6"}},
            f"order: product.holes: expected an integer, got the string '6'{QUOTES}",
        ),
        (
            {"product": {**BRACKET, "length_mm": "150"}},
            f"order: product.length_mm: expected a number, got the string '150'{QUOTES}",
        ),
        (
            {"product": {"type": "printed_housing", "volume_cm3": "20"}},
            f"order: product.volume_cm3: expected a number, got the string '20'{QUOTES}",
        ),
        (
            {"product": {**BRACKET, "pockets": True}},
            "order: product.pockets: expected an integer, got the boolean true",
        ),
        (
            {"product": BRACKET, "weight": "2"},
            f"order: weight: expected a number, got the string '2'{QUOTES}",
        ),
    ],
)
def test_a_string_or_boolean_for_a_number_is_refused_and_changes_nothing(
    twin: tuple[Engine, TwinAPI, list[Event]], order: dict[str, Any], message: str
) -> None:
    engine, api, seen = twin
    api.store_order({"id": "KEPT", "product": BRACKET})
    before = _state(engine, seen)
    for command in (api.submit_order, api.store_order):
        with pytest.raises(CommandError) as caught:
            command({"id": "NEW", **order})
        assert str(caught.value) == message
    with pytest.raises(CommandError) as caught:  # an update: the stored order stays
        api.update_order({"id": "KEPT", **order})
    assert str(caught.value) == message
    assert _state(engine, seen) == before
    assert engine.stored["KEPT"].product == BracketSpec(material="aluminium")


def test_an_order_from_json_takes_its_numbers(twin: tuple[Engine, TwinAPI, list[Event]]) -> None:
    # as the OPC UA SubmitOrder method parses it: a JSON number is an int or a float
    engine, api, seen = twin
    text = '{"id": "J-%s", "due": "8h", "product": {"type": "machined_bracket", "holes": %s}}'
    before = _state(engine, seen)
    with pytest.raises(CommandError, match=r"^order: product\.holes: expected an integer"):
        api.submit_order(json.loads(text % ("S", '"6"')))
    assert _state(engine, seen) == before
    for job, holes in (("I", "6"), ("F", "6.0")):
        assert api.submit_order(json.loads(text % (job, holes))) == f"J-{job}"
        spec = engine.jobs[f"J-{job}"].spec
        assert isinstance(spec, BracketSpec)
        assert spec.holes == 6
