"""Weights that would make the arrival draw wrong are refused, naming the file and field: a
negative ``arrivals.mix`` weight (the draw divides by the sum: it would be used as a ratio),
a mix whose weights are all 0 (every arrival would be the first entry), a boolean weight, and
a catalogue ``weight`` not above 0. A catalogue parameter is given in one of ``fixed``,
``choices`` and ``ranges``: in two, one of them was silently ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_model_messages import error_of
from twin.cli import main
from twin.model import parse_scenario

CELL = {"machines": [{"id": "c1", "kind": "cnc"}, {"id": "p1", "kind": "printer"}]}
CATALOGUE = [
    {"id": "bracket", "family": "machined_bracket"},
    {"id": "housing", "family": "printed_housing"},
]


def with_mix(mix: dict[str, Any]) -> dict[str, Any]:
    return {"cell": CELL, "catalogue": CATALOGUE, "arrivals": {"mean_interarrival": 60, "mix": mix}}


@pytest.mark.parametrize(
    ("mix", "line"),
    [
        ({"bracket": 0}, "s.toml: arrivals.mix: every weight is 0: give at least one entry a"),
        ({"bracket": 0, "housing": 0.0}, "s.toml: arrivals.mix: every weight is 0"),
        (
            {"bracket": 1, "housing": -1},
            "s.toml: arrivals.mix: 'housing' has a negative weight (-1)",
        ),
        ({"bracket": -2, "housing": -1}, "s.toml: arrivals.mix: 'bracket' has a negative weight"),
        ({"bracket": True}, "s.toml: arrivals.mix.bracket: expected a number, got the boolean"),
    ],
)
def test_a_mix_the_draw_cannot_use_is_refused(mix: dict[str, Any], line: str) -> None:
    assert error_of(with_mix(mix)).startswith(line)


def test_a_mix_may_leave_an_entry_out_with_a_zero_weight() -> None:
    sc = parse_scenario(with_mix({"bracket": 0, "housing": 2.5}))
    assert sc.arrivals is not None
    assert sc.arrivals.mix == {"bracket": 0.0, "housing": 2.5}


@pytest.mark.parametrize("weight", [0, -1, -0.5])
def test_a_catalogue_weight_is_above_zero(weight: float) -> None:
    catalogue = [{**CATALOGUE[0], "weight": weight}]
    line = error_of({"cell": CELL, "catalogue": catalogue})
    assert line.startswith("s.toml: catalogue[0].weight: Input should be greater than 0")


def test_the_command_line_refuses_a_negative_mix_weight_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        '[[cell.machines]]\nid = "c1"\nkind = "cnc"\n'
        '[[catalogue]]\nid = "bracket"\nfamily = "machined_bracket"\n'
        "[arrivals]\nmean_interarrival = 60\nmix = { bracket = -2 }\n",
        encoding="utf-8",
    )
    assert main(["scenario", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {path}: arrivals.mix: 'bracket' has a negative weight (-2)\n"


@pytest.mark.parametrize(
    ("family", "groups", "line"),
    [
        (
            "module_assembly",
            {"fixed": {"components": 100}, "ranges": {"components": [2, 6]}},
            "s.toml: catalogue[0].ranges.components: also in fixed; give a parameter in one of"
            " fixed, choices and ranges",
        ),
        (
            "printed_housing",
            {"choices": {"height_mm": [900]}, "ranges": {"height_mm": [10, 20]}},
            "s.toml: catalogue[0].ranges.height_mm: also in choices; give a parameter in one of"
            " fixed, choices and ranges",
        ),
        (
            "machined_bracket",
            {"fixed": {"material": "steel"}, "choices": {"material": ["steel", "titanium"]}},
            "s.toml: catalogue[0].choices.material: also in fixed; give a parameter in one of"
            " fixed, choices and ranges",
        ),
    ],
)
def test_a_parameter_in_two_groups_is_refused(
    family: str, groups: dict[str, Any], line: str
) -> None:
    catalogue = [{"id": "e", "family": family, **groups}]
    assert error_of({"cell": CELL, "catalogue": catalogue}) == line
