"""Scenario errors say what was written and what was likely meant: a misspelt table or
optional field is told the field of its table it likely misspells (as a misspelt required
field is), a value not among a field's options is echoed with the nearest option, a value
that is no number is echoed; and the wording reads right ("of kind inspection", not "a
inspection")."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_model_messages import error_of

GENERIC = {"id": "g1", "kind": "generic"}
CELL = {"machines": [GENERIC]}


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (
            {"cell": CELL, "arrival": {"mean_interarrival": 60}},
            "s.toml: arrival: unknown field (did you mean 'arrivals'?)",
        ),
        (
            {"cell": {**CELL, "transprt": "r1"}},
            "s.toml: cell.transprt: unknown field (did you mean 'transport'?)",
        ),
        (
            {"cell": {"machines": [{"id": "c1", "kind": "cnc", "hole_tme": 5}]}},
            "s.toml: cell.machines[0].hole_tme: unknown field (did you mean 'hole_time'?)",
        ),
        (
            {
                "cell": {
                    "machines": [{**GENERIC, "breakdowns": {"mtbf": 9, "mttr": 1, "mttr_cvv": 1}}]
                }
            },
            "s.toml: cell.machines[0].breakdowns.mttr_cvv: unknown field (did you mean 'mttr_cv'?)",
        ),
        (
            {
                "cell": CELL,
                "orders": [{"id": "o1", "product": {"type": "machined_bracket", "hole": 3}}],
            },
            "s.toml: orders[0].product.hole: unknown field (did you mean 'holes'?)",
        ),
        (
            {
                "cell": CELL,
                "orders": [
                    {
                        "id": "o1",
                        "product": {
                            "type": "explicit",
                            "operations": [{"machine": "g1", "duration": 3, "nam": "x"}],
                        },
                    }
                ],
            },
            "s.toml: orders[0].product.operations[0].nam: unknown field (did you mean 'name'?)",
        ),
        (
            {"cell": {"machines": [{**GENERIC, "zzzz": 1}]}},
            "s.toml: cell.machines[0].zzzz: unknown field",
        ),
    ],
)
def test_an_unknown_field_is_told_the_field_it_likely_misspells(
    data: dict[str, Any], line: str
) -> None:
    assert error_of(data) == line


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (
            {
                "cell": CELL,
                "orders": [
                    {"id": "o1", "product": {"type": "machined_bracket", "material": "aluminum"}}
                ],
            },
            "s.toml: orders[0].product.material: Input should be 'aluminium', 'steel' or"
            " 'titanium', got 'aluminum' (did you mean 'aluminium'?)",
        ),
        (
            {
                "cell": CELL,
                "catalogue": [
                    {"id": "b", "family": "machined_bracket", "fixed": {"material": "aluminum"}}
                ],
            },
            "s.toml: catalogue[0].fixed.material: Input should be 'aluminium', 'steel' or"
            " 'titanium', got 'aluminum' (did you mean 'aluminium'?)",
        ),
        (
            {"cell": CELL, "rule": "esd"},
            "s.toml: rule: Input should be 'FIFO', 'SPT', 'EDD', 'ATC' or 'CR', got 'ESD' (did"
            " you mean 'EDD'?)",
        ),
        (
            {
                "cell": CELL,
                "faults": [{"machine": "g1", "at": 1, "duration": 1, "kind": "brekdown"}],
            },
            "s.toml: faults[0].kind: Input should be 'breakdown', 'tool_breakage',"
            " 'emergency_stop', 'print_failure' or 'maintenance', got 'brekdown' (did you mean"
            " 'breakdown'?)",
        ),
        (
            {"cell": {"machines": [{"id": "c1", "kind": "cnc", "axes": 4}]}},
            "s.toml: cell.machines[0].axes: Input should be 3 or 5, got 4",
        ),
        (
            {
                "cell": {
                    "machines": [
                        {"id": "c1", "kind": "cnc", "removal_rate_cm3_min": {"steel": "fast"}}
                    ]
                }
            },
            "s.toml: cell.machines[0].removal_rate_cm3_min.steel: expected a number, got the"
            " string 'fast'",
        ),
    ],
)
def test_a_bad_value_is_echoed(data: dict[str, Any], line: str) -> None:
    assert error_of(data) == line


def test_a_transport_that_is_no_robot_is_named_by_its_kind() -> None:
    cell = {"machines": [GENERIC, {"id": "vision1", "kind": "inspection"}], "transport": "vision1"}
    assert error_of({"cell": cell}) == (
        "s.toml: cell.transport: 'vision1' is of kind inspection, not a robot"
    )
