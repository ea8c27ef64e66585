"""Slips in a scenario are named where they are: a misspelt field before the field it then
lacks, a misspelt material in a rate table (which would leave the machine silently unable to
process it), a bad catalogue range at ``ranges.NAME`` as written, a duration with a unit given
twice or out of order; the dispatching rule takes any case, as on the command line. ``twin
scenario validate`` notes a machine that cannot process a material the catalogue draws for
it while another machine can."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from twin.cli import main
from twin.errors import ConfigError
from twin.model import parse_duration, parse_scenario

ROBOT = {"id": "robot1", "kind": "robot"}


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_scenario(data, "s.toml")
    return str(caught.value)


def test_a_misspelt_field_is_named_before_the_field_it_lacks() -> None:
    line = error_of({"cell": {"machines": [{"idd": "c1", "kind": "cnc"}]}})
    assert line == "s.toml: cell.machines[0].idd: unknown field (did you mean 'id'? it is required)"


def test_an_unknown_field_beside_another_error_is_still_named_first() -> None:
    line = error_of({"cell": {"machines": [{"kind": "cnc", "colour": "red"}]}})
    assert line == "s.toml: cell.machines[0].colour: unknown field (and 1 more error)"


@pytest.mark.parametrize(
    ("machine", "line"),
    [
        (
            {"removal_rate_cm3_min": {"aluminum": 50.0, "steel": 10.0, "pa12": 70.0}},
            "s.toml: cell.machines[0].removal_rate_cm3_min.aluminum: unknown material (did you"
            " mean 'aluminium'? known: aluminium, steel, titanium, pla, petg, abs, pa12)",
        ),
        (
            {"kind": "printer", "deposition_rate_cm3_h": {"steel": 5.0}},
            "s.toml: cell.machines[0].deposition_rate_cm3_h.steel: unknown print material"
            " (known: pla, petg, abs, pa12)",
        ),
        (
            {"kind": "printer", "nozzle_temp_c": {"PLA": 200.0}},
            "s.toml: cell.machines[0].nozzle_temp_c.PLA: unknown print material (did you mean"
            " 'pla'? known: pla, petg, abs, pa12)",
        ),
    ],
)
def test_a_rate_table_names_known_materials_only(machine: dict[str, Any], line: str) -> None:
    assert error_of({"cell": {"machines": [{"id": "m1", "kind": "cnc", **machine}]}}) == line


@pytest.mark.parametrize(
    ("entry", "line"),
    [
        (
            {"ranges": {"holes": [8, 0]}},
            "s.toml: catalogue[0].ranges.holes: [8, 0] has min > max",
        ),
        (
            {"ranges": {"height_mm": [8, 600]}},
            "s.toml: catalogue[0].ranges.height_mm: Input should be less than or equal to 500,"
            " got 600 at the range's high end",
        ),
        (
            {"choices": {"material": ["steel", "aluminum"]}},
            "s.toml: catalogue[0].choices.material: Input should be 'aluminium', 'steel' or"
            " 'titanium', got 'aluminum' (did you mean 'aluminium'?)",
        ),
        (
            {"fixed": {"holes": -1}},
            "s.toml: catalogue[0].fixed.holes: Input should be greater than or equal to 0, got -1",
        ),
    ],
)
def test_a_catalogue_slip_is_named_where_it_is_written(entry: dict[str, Any], line: str) -> None:
    catalogue = [{"id": "b", "family": "machined_bracket", **entry}]
    cell = {"machines": [{"id": "c1", "kind": "cnc"}]}
    assert error_of({"cell": cell, "catalogue": catalogue}) == line


@pytest.mark.parametrize(
    ("text", "slip"),
    [("1d2d", "the unit d is given twice"), ("1m1min", "the unit min is given twice")],
)
def test_a_duration_with_a_unit_twice_is_refused(text: str, slip: str) -> None:
    with pytest.raises(ValueError, match=slip):
        parse_duration(text)


def test_a_duration_with_units_out_of_order_is_refused() -> None:
    with pytest.raises(ValueError, match="h after m; write the larger units first"):
        parse_duration("30m1h")
    assert parse_duration("1d2h30m15s") == 86400 + 7200 + 1800 + 15


@pytest.mark.parametrize("rule", ["edd", "Edd", "EDD"])
def test_the_rule_takes_any_case_as_the_command_line_does(rule: str) -> None:
    sc = parse_scenario({"rule": rule, "cell": {"machines": [ROBOT]}})
    assert sc.rule == "EDD"


TWO_CNCS = """
name = "two"
[cell]
[[cell.machines]]
id = "cnc1"
kind = "cnc"
{cnc1}
[[cell.machines]]
id = "cnc2"
kind = "cnc"
removal_rate_cm3_min = {{ steel = 10.0, pa12 = 70.0 }}
[[catalogue]]
id = "bracket"
family = "machined_bracket"
choices = {{ material = ["aluminium", "steel"] }}
"""


def test_validate_notes_a_material_a_machine_cannot_process_but_another_can(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(TWO_CNCS.format(cnc1=""), encoding="utf-8")
    assert main(["scenario", "validate", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == [
        f"{path}: note: cell.machines[1].removal_rate_cm3_min: cnc2 cannot mill aluminium"
        " (catalogue 'bracket' draws it); only cnc1 can"
    ]


def test_validate_refuses_a_material_no_machine_can_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(TWO_CNCS.format(cnc1="removal_rate_cm3_min = { steel = 12.0 }"), "utf-8")
    assert main(["scenario", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: catalogue[0]: 'bracket' can draw a part the cell cannot make" in err
    assert "material 'aluminium'" in err
