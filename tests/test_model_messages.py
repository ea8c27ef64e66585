"""Scenario errors say bounds in the unit the field has (a duration's minimum in seconds, a
failure rate's maximum per hour), name the field a model-level check concerns (the cell's
``transport``, a duplicate machine's id), and the seed is an integer as TOML writes one: a
quoted number or a boolean is refused, not read as a seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from twin.cli import main
from twin.errors import ConfigError
from twin.model import parse_scenario

GENERIC = {"id": "g1", "kind": "generic"}
ROBOT = {"id": "robot1", "kind": "robot"}
CATALOGUE = [{"id": "h", "family": "printed_housing"}]


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(data, "s.toml")
    return str(caught.value)


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (
            {"cell": {"machines": [{**GENERIC, "breakdowns": {"mtbf": "0.5s", "mttr": "1m"}}]}},
            "s.toml: cell.machines[0].breakdowns.mtbf: duration must be at least 1 s, got '0.5s'",
        ),
        (
            {"cell": {"machines": [{**GENERIC, "breakdowns": {"mtbf": "1h", "mttr": 0}}]}},
            "s.toml: cell.machines[0].breakdowns.mttr: duration must be more than 0 s, got 0",
        ),
        (
            {
                "cell": {"machines": [GENERIC]},
                "catalogue": CATALOGUE,
                "arrivals": {"mean_interarrival": 0.25},
            },
            "s.toml: arrivals.mean_interarrival: duration must be at least 1 s, got 0.25",
        ),
        (
            {"cell": {"machines": [{"id": "p1", "kind": "printer", "failure_rate_per_h": 7200}]}},
            "s.toml: cell.machines[0].failure_rate_per_h: must be at most 3600 per hour (a"
            " failure a second), got 7200",
        ),
        (
            {"cell": {"machines": [{"id": "c1", "kind": "cnc", "tool_life": "0s"}]}},
            "s.toml: cell.machines[0].tool_life: duration must be more than 0 s, got '0s'",
        ),
        (
            {
                "cell": {"machines": [GENERIC]},
                "faults": [{"machine": "g1", "at": 5, "duration": 0}],
            },
            "s.toml: faults[0].duration: duration must be more than 0 s, got 0",
        ),
        (
            {"cell": {"machines": [GENERIC]}, "horizon": "-1d"},
            "s.toml: horizon: duration must be more than 0 s, got '-1d'",
        ),
    ],
)
def test_bounds_name_their_unit(data: dict[str, Any], line: str) -> None:
    assert error_of(data) == line


@pytest.mark.parametrize(
    ("cell", "line"),
    [
        (
            {"machines": [GENERIC, ROBOT], "transport": "robot9"},
            "s.toml: cell.transport: unknown machine 'robot9' (cell has: g1, robot1)",
        ),
        (
            {"machines": [GENERIC, ROBOT], "transport": "g1"},
            "s.toml: cell.transport: 'g1' is of kind generic, not a robot",
        ),
        (  # the cell's machines in its order, as every "unknown machine" lists them
            {"machines": [ROBOT, GENERIC]},
            "s.toml: orders[0].product.operations[0].machine: unknown machine 'g9' (cell has:"
            " robot1, g1)",
        ),
        (
            {"machines": [GENERIC, ROBOT, GENERIC]},
            "s.toml: cell.machines[2].id: duplicate machine id 'g1'",
        ),
    ],
)
def test_cell_checks_name_the_field(cell: dict[str, Any], line: str) -> None:
    routing = {"type": "explicit", "operations": [{"machine": "g9", "duration": 3}]}
    orders = [{"id": "o1", "product": routing}] if "orders[0]" in line else []
    assert error_of({"cell": cell, "orders": orders}) == line


@pytest.mark.parametrize(
    ("toml", "reason"),
    [
        (
            'seed = "42"',
            "expected an integer, got the string '42': write the number without quotes",
        ),
        ("seed = true", "expected an integer, got the boolean true"),
        ("seed = 42.0", "expected an integer, got 42.0"),
    ],
)
def test_the_seed_is_an_integer_as_toml_writes_one(
    toml: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f'{toml}\n[[cell.machines]]\nid = "g1"\nkind = "generic"\n')
    assert main(["scenario", "validate", str(path)]) == 2
    assert capsys.readouterr().err == f"error: {path}: seed: {reason}\n"


@pytest.mark.parametrize(
    ("data", "line"),
    [
        # read as numbers these were 1 and 0: one job at a time, an unbounded buffer
        (
            {"max_wip": True, "cell": {"machines": [GENERIC]}},
            "s.toml: max_wip: expected an integer, got the boolean true",
        ),
        (
            {"cell": {"machines": [{**GENERIC, "input_buffer": False}]}},
            "s.toml: cell.machines[0].input_buffer: expected an integer, got the boolean false",
        ),
        (
            {"cell": {"machines": [{**GENERIC, "duration_cv": True}]}},
            "s.toml: cell.machines[0].duration_cv: expected a number, got the boolean true",
        ),
        (
            {
                "cell": {"machines": [GENERIC]},
                "orders": [{"id": "A", "product": {"type": "machined_bracket", "holes": True}}],
            },
            "s.toml: orders[0].product.holes: expected an integer, got the boolean true",
        ),
    ],
)
def test_a_boolean_is_no_number(data: dict[str, Any], line: str) -> None:
    assert error_of(data) == line
