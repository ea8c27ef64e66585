"""Scenario errors name the item and the field in the user's words. A discriminated union's
tag (a machine's ``kind``, a product's ``type``) that is unknown or missing is named with the
item (by id when it has one) and the known tags; numbers off the scale and failure settings
that would stall the clock are refused; what cannot happen in the run is noted."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from twin.errors import ConfigError
from twin.model import MACHINE_KINDS, PRODUCT_FAMILIES, parse_scenario
from twin.model.scenario import scenario_notes

KINDS = ", ".join(MACHINE_KINDS)
FAMILIES = ", ".join(PRODUCT_FAMILIES)
GENERIC = {"id": "g1", "kind": "generic"}


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (
            {"cell": {"machines": [GENERIC, {"id": "cnc1", "kind": "laser"}]}},
            f"s.toml: cell.machines[1] (id 'cnc1'): unknown kind 'laser' (known: {KINDS})",
        ),
        (
            {"cell": {"machines": [{"kind": "laser"}]}},
            f"s.toml: cell.machines[0]: unknown kind 'laser' (known: {KINDS})",
        ),
        (
            {"cell": {"machines": [{"id": "cnc1"}]}},
            f"s.toml: cell.machines[0] (id 'cnc1'): kind required (one of: {KINDS})",
        ),
        (
            {"cell": {"machines": [GENERIC]}, "orders": [{"id": "o1", "product": {"type": "x"}}]},
            f"s.toml: orders[0].product: unknown type 'x' (known: {FAMILIES})",
        ),
        (
            {"cell": {"machines": [GENERIC]}, "orders": [{"id": "o1", "product": {}}]},
            f"s.toml: orders[0].product: type required (one of: {FAMILIES})",
        ),
    ],
)
def test_union_tag_errors_name_the_item_and_the_known_tags(data: dict[str, Any], line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(data, "s.toml")
    assert str(caught.value) == line


def test_a_tag_in_the_location_is_not_named_as_a_field() -> None:
    data = {"cell": {"machines": [{"id": "cnc1", "kind": "cnc", "axes": 4}]}}
    with pytest.raises(ConfigError) as caught:
        parse_scenario(data, "s.toml")
    assert caught.value.field == "cell.machines[0].axes"


@pytest.mark.parametrize(
    ("toml", "line"),
    [
        # TOML has inf and nan; JSON (the event log, the OPC UA answers) has neither
        (
            'orders = [{ id = "o1", product = { type = "printed_housing" }, weight = inf }]',
            "s.toml: orders[0].weight: Input should be a finite number, got inf",
        ),
        (
            'orders = [{ id = "o1", product = { type = "printed_housing" }, due = nan }]',
            "s.toml: orders[0].due: duration must be a finite number, got nan",
        ),
        # beyond every timestamp the run's time axis can carry
        (
            'horizon = "500000d"',
            "s.toml: horizon: duration must be at most 1000 years (31557600000 s), got '500000d'",
        ),
        (
            "[cell]\nstorage_position = [0.0, inf]",
            "s.toml: cell.storage_position[1]: Input should be a finite number, got inf",
        ),
    ],
)
def test_numbers_off_the_scale_are_named(toml: str, line: str) -> None:
    data = tomllib.loads(toml)
    data.setdefault("cell", {})["machines"] = [GENERIC]
    with pytest.raises(ConfigError) as caught:
        parse_scenario(data, "s.toml")
    assert str(caught.value) == line


def test_a_fault_the_machine_cannot_have_is_named() -> None:
    data = {
        "cell": {"machines": [GENERIC, {"id": "vision1", "kind": "inspection"}]},
        "faults": [
            {"machine": "g1", "at": 60, "duration": 60},
            {"machine": "vision1", "at": 60, "duration": 60, "kind": "print_failure"},
        ],
    }
    with pytest.raises(ConfigError) as caught:
        parse_scenario(data, "s.toml")
    assert str(caught.value) == (
        "s.toml: faults[1].kind: a print_failure happens on a printer machine only; 'vision1'"
        " is of kind inspection"
    )


@pytest.mark.parametrize(
    ("data", "line"),
    [
        # a print failing every microsecond, restarted with no clearing time, never let the
        # clock reach the end of the run (twin simulate hung, deaf to Ctrl-C)
        (
            {"cell": {"machines": [{"id": "p1", "kind": "printer", "failure_rate_per_h": 1e9}]}},
            "s.toml: cell.machines[0].failure_rate_per_h: must be at most 3600 per hour (a failure"
            " a second), got 1e+09",
        ),
        (
            {"cell": {"machines": [{**GENERIC, "breakdowns": {"mtbf": "1ms", "mttr": "1ms"}}]}},
            "s.toml: cell.machines[0].breakdowns.mtbf: duration must be at least 1 s, got '1ms'",
        ),
        (
            {
                "cell": {"machines": [GENERIC]},
                "catalogue": [{"id": "h", "family": "printed_housing"}],
                "arrivals": {"mean_interarrival": "1ms"},
            },
            "s.toml: arrivals.mean_interarrival: duration must be at least 1 s, got '1ms'",
        ),
    ],
)
def test_rates_that_would_stall_the_clock_are_named(data: dict[str, Any], line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(data, "s.toml")
    assert str(caught.value) == line


def test_what_cannot_happen_in_the_run_is_noted() -> None:
    data = {
        "horizon": "1d",
        "cell": {"machines": [GENERIC]},
        "orders": [
            {"id": "o1", "product": {"type": "printed_housing"}, "release": "2h", "due": "1h"},
            {"id": "o2", "product": {"type": "printed_housing"}, "release": "1d"},
            {"id": "o3", "product": {"type": "printed_housing"}, "release": "1h", "due": "2h"},
        ],
        "faults": [
            {"machine": "g1", "at": "30h", "duration": 60},
            {"machine": "g1", "at": "1h", "duration": 60},
        ],
    }
    sc = parse_scenario(data, "s.toml")
    assert scenario_notes(sc) == [
        "faults[0].at: 108000 s is not before the end of the run (86400 s); this fault does"
        " not happen",
        "orders[0].due: 'o1' is due at 3600 s, before its release (7200 s): it is late from"
        " the start (due is a time from the scenario start, not from the release)",
        "orders[1].release: 'o2' is released at 86400 s, not before the end of the run"
        " (86400 s); it does not start",
    ]
    # a longer run reaches them
    assert scenario_notes(sc, until=2 * 86400.0) == [scenario_notes(sc)[1]]


def test_orders_due_after_the_end_of_the_run_are_noted() -> None:
    """With horizon 2h and orders due at 3 to 6 h, validate said nothing: an order unfinished
    at the end then counts neither as late nor as open past due."""
    orders = [
        {"id": f"o{h}", "product": {"type": "printed_housing"}, "due": f"{h}h"} for h in range(1, 8)
    ]
    data = {"horizon": "2h", "cell": {"machines": [GENERIC]}, "orders": orders}
    sc = parse_scenario(data, "s.toml")
    assert scenario_notes(sc) == [
        "orders: 5 due after the end of the run (7200 s): 'o3', 'o4', 'o5', 'o6', 'o7'; if"
        " unfinished then, they count neither as late nor as open past due"
    ]
    assert scenario_notes(sc, until=8 * 3600.0) == []


def test_positions_far_off_the_floor_are_noted() -> None:
    """Positions in millimetres were accepted silently: throughput fell from 1.67/h to
    0.50/h with every robot transfer a thousand times longer."""
    far = {**GENERIC, "position": [3000.0, 1500.0]}
    sc = parse_scenario({"cell": {"machines": [far]}}, "s.toml")
    assert scenario_notes(sc) == [
        "cell.machines[0].position: [3000, 1500] is over 100 m from the floor's origin:"
        " positions are in metres (millimetres would make every robot transfer a thousand"
        " times longer)"
    ]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # tomllib names no key for a duplicate: the line it refuses does
        (
            'name = "x"\nseed = 1\n  seed   =   2\n',
            "Cannot overwrite a value (at line 3, column 15): seed = 2",
        ),
        (
            'name = "x"\nseed = ' + "9" * 100 + "x\n",
            f"(at line 2, column 108): seed = {'9' * 70}...",
        ),
        ('name = "x"\nseed = [1,\n', "Invalid value (at end of document)"),  # no line: none quoted
        # a line separator (U+2028) in a string is no line end to TOML: the right line quoted
        ('name = "a\u2028b"\nx = 1\nx = 2\n', "(at line 3, column 6): x = 2"),
    ],
)
def test_a_toml_error_quotes_the_line_it_refuses(tmp_path: Any, text: str, said: str) -> None:
    from twin.model import load_scenario

    path = tmp_path / "s.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    assert str(err.value).startswith(f"{path}: invalid TOML: ")
    assert str(err.value).endswith(said)
