"""One rule for numbers in every scenario model: a number field takes a number only, never a
string or a boolean (pydantic would read ``holes = "6"`` as 6 and ``true`` as 1), in a table
or an array of numbers too; the refusal names the file, the field and what was written.

What takes a string by design still does: a duration ("8h"), a catalogue's ``fixed`` values
and ``choices`` (a material, a fixture). An integer field takes a whole float (6.0, as a
JavaScript MES sends every number) and a float field an integer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from pydantic import BaseModel, ValidationError

from tests.test_model_messages import error_of
from twin.cli import main
from twin.errors import ConfigError
from twin.model import BracketSpec, load_sequence, parse_scenario
from twin.model.loader import format_validation_error
from twin.model.reference import SECTIONS, field_rows

GENERIC = {"id": "g1", "kind": "generic"}
CNC = {"id": "c1", "kind": "cnc"}
QUOTES = ": write the number without quotes"


def _scenario(**top: Any) -> dict[str, Any]:
    return {"cell": {"machines": [GENERIC, CNC]}, **top}


def _order(**product: Any) -> dict[str, Any]:
    return _scenario(orders=[{"id": "A", "product": {"type": "machined_bracket", **product}}])


def _catalogue(**entry: Any) -> dict[str, Any]:
    return _scenario(
        catalogue=[{"id": "b", "family": "machined_bracket", **entry}],
        arrivals={"mean_interarrival": 60},
    )


@pytest.mark.parametrize(
    ("data", "line"),
    [
        # what the walkthrough found: each passed `twin scenario validate`
        (
            _order(holes="6"),
            f"orders[0].product.holes: expected an integer, got the string '6'{QUOTES}",
        ),
        (
            _order(length_mm="150"),
            f"orders[0].product.length_mm: expected a number, got the string '150'{QUOTES}",
        ),
        (_scenario(max_wip="10"), f"max_wip: expected an integer, got the string '10'{QUOTES}"),
        (
            {"cell": {"machines": [{**GENERIC, "input_buffer": "4"}]}},
            f"cell.machines[0].input_buffer: expected an integer, got the string '4'{QUOTES}",
        ),
        # the seed, as before
        (_scenario(seed="42"), f"seed: expected an integer, got the string '42'{QUOTES}"),
        # an item of an array, a value of a table
        (
            {"cell": {"machines": [{**GENERIC, "position": [1.5, "2"]}]}},
            f"cell.machines[0].position[1]: expected a number, got the string '2'{QUOTES}",
        ),
        (
            {"cell": {"machines": [{**CNC, "removal_rate_cm3_min": {"steel": "15"}}]}},
            "cell.machines[0].removal_rate_cm3_min.steel: expected a number, got the string"
            f" '15'{QUOTES}",
        ),
        (
            {"cell": {"machines": [{**CNC, "axes": "3"}]}},
            f"cell.machines[0].axes: expected an integer, got the string '3'{QUOTES}",
        ),
        # a catalogue: named where the user wrote it
        (
            _catalogue(fixed={"holes": "6"}),
            f"catalogue[0].fixed.holes: expected an integer, got the string '6'{QUOTES}",
        ),
        (
            _catalogue(choices={"holes": [2, "6"]}),
            f"catalogue[0].choices.holes: expected an integer, got the string '6'{QUOTES}",
        ),
        (
            _catalogue(ranges={"holes": ["0", 12]}),
            f"catalogue[0].ranges.holes[0]: expected a number, got the string '0'{QUOTES}",
        ),
        (
            _scenario(
                catalogue=[{"id": "b", "family": "machined_bracket"}],
                arrivals={"mean_interarrival": 60, "count": "5"},
            ),
            f"arrivals.count: expected an integer, got the string '5'{QUOTES}",
        ),
        # no hint to drop the quotes of what is no number (of the kind the field takes)
        (_order(holes="six"), "orders[0].product.holes: expected an integer, got the string 'six'"),
        (_order(holes="6.5"), "orders[0].product.holes: expected an integer, got the string '6.5'"),
    ],
)
def test_a_quoted_number_in_a_scenario_file_is_refused(
    data: dict[str, Any], line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(tomli_w.dumps(data))
    assert main(["scenario", "validate", str(path)]) == 2
    assert capsys.readouterr().err == f"error: {path}: {line}\n"


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (
            _catalogue(fixed={"holes": True}),
            "catalogue[0].fixed.holes: expected a number or a string, got the boolean true",
        ),
        (
            _catalogue(choices={"material": ["steel", False]}),
            "catalogue[0].choices.material[1]: expected a number or a string, got the boolean"
            " false",
        ),
        (
            {"cell": {"machines": [GENERIC], "storage_position": [0, True]}},
            "cell.storage_position[1]: expected a number, got the boolean true",
        ),
        (
            _scenario(catalogue=[{"id": "my b", "family": "machined_bracket"}])
            | {"arrivals": {"mean_interarrival": 60, "mix": {"my b": "1"}}},
            f"arrivals.mix: 'my b': expected a number, got the string '1'{QUOTES}",
        ),
    ],
)
def test_a_boolean_in_a_table_or_array_of_numbers_is_refused(
    data: dict[str, Any], line: str
) -> None:
    assert error_of(data) == f"s.toml: {line}"


def _number_fields() -> list[tuple[type[BaseModel], str, str]]:
    """Every field the scenario reference documents as a number (not a duration), with its
    documented type: "integer", "number", "[number, number]", "table of number", ..."""
    out = []
    for model in dict.fromkeys(SECTIONS.values()):
        for row in field_rows(model, list(model.model_fields))[2:]:
            name, kind = (cell.strip().strip("`") for cell in row.strip("|").split("|")[:2])
            if ("number" in kind or "integer" in kind) and "string" not in kind:
                out.append((model, name, kind))
    return out


def _given(kind: str, bad: object) -> tuple[object, str]:
    """A value of the documented ``kind`` with ``bad`` in it, and where (after the field)."""
    if kind in ("integer", "number"):
        return bad, ""
    if kind.startswith("["):
        return [1, bad], "[1]"
    if kind == "table of [number, number]":
        return {"holes": [1, bad]}, ".holes[1]"
    assert kind.startswith("table"), kind
    return {"pla": bad}, ".pla"


@pytest.mark.parametrize("bad", ["1", True], ids=["string", "boolean"])
@pytest.mark.parametrize(
    ("model", "name", "kind"),
    _number_fields(),
    ids=[f"{m.__name__}.{n}" for m, n, _ in _number_fields()],
)
def test_every_number_field_refuses_a_string_and_a_boolean(
    model: type[BaseModel], name: str, kind: str, bad: object
) -> None:
    value, where = _given(kind, bad)
    with pytest.raises(ValidationError) as caught:
        model.model_validate({name: value})
    error = format_validation_error("s.toml", caught.value, model)
    want = "an integer" if kind == "integer" else "a number"
    got = "the boolean true" if bad is True else f"the string '1'{QUOTES}"
    assert (error.field, error.reason) == (name + where, f"expected {want}, got {got}")


def test_the_fields_documented_as_numbers_are_found() -> None:
    # the walk above covers what it should: these are among them
    found = {(m.__name__, n) for m, n, _ in _number_fields()}
    assert {
        ("Scenario", "max_wip"),
        ("_MachineBase", "input_buffer"),
        ("_MachineBase", "position"),
        ("CncConfig", "removal_rate_cm3_min"),
        ("PrinterConfig", "build_volume_mm"),
        ("CatalogueEntry", "ranges"),
        ("BracketSpec", "holes"),
        ("BracketSpec", "length_mm"),
        ("Arrivals", "mix"),
        ("OrderConfig", "weight"),
    } <= found
    assert len(found) > 60


def test_what_takes_strings_by_design_still_does() -> None:
    sc = parse_scenario(
        _scenario(
            horizon="2d",
            rule="atc",
            cell={
                "machines": [{**GENERIC, "breakdowns": {"mtbf": "40h", "mttr": "45m"}}, CNC],
            },
            catalogue=[
                {
                    "id": "b",
                    "family": "machined_bracket",
                    "fixed": {"fixture": "vise", "holes": 4},
                    "choices": {"material": ["aluminium", "steel"]},
                }
            ],
            arrivals={"mean_interarrival": "40m", "until": "1d"},
            orders=[
                {
                    "id": "A",
                    "release": "1h",
                    "due": "8h",
                    "product": {
                        "type": "explicit",
                        "operations": [{"machine": "g1", "duration": "5m"}],
                    },
                }
            ],
            faults=[{"machine": "c1", "at": "30h", "duration": "2h"}],
        ),
        "s.toml",
    )
    assert (sc.horizon, sc.orders[0].due, sc.faults[0].duration) == (172800.0, 28800.0, 7200.0)
    assert (sc.rule, sc.catalogue[0].fixed["fixture"]) == ("ATC", "vise")


def test_numbers_of_either_kind_still_fit() -> None:
    # a whole float for an integer (a JavaScript MES sends every number as a double), an
    # integer for a float, numpy's numbers (a Python caller's)
    spec = BracketSpec.model_validate({"holes": 6.0, "length_mm": 150, "pockets": np.int64(3)})
    assert (spec.holes, spec.length_mm, spec.pockets) == (6, 150.0, 3)
    assert type(spec.holes) is int
    with pytest.raises(ValidationError, match="holes: expected an integer, got the boolean true"):
        BracketSpec.model_validate({"holes": np.bool_(True)})
    with pytest.raises(ValidationError, match="fractional part"):
        BracketSpec.model_validate({"holes": 6.5})


def test_a_sequence_file_takes_job_indices_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "seq.json"
    path.write_text(json.dumps({"machine_sequences": {"0": [0, "1"]}}))
    with pytest.raises(ConfigError) as caught:
        load_sequence(path)
    assert str(caught.value) == (
        f"{path}: machine_sequences.0[1]: expected an integer, got the string '1'{QUOTES}"
    )
    path.write_text(json.dumps({"machine_sequences": {"0": [0, 1]}, "instance": "ft06"}))
    assert load_sequence(path).machine_sequences == {"0": [0, 1]}
