"""``scenarios/REFERENCE.md`` says what a field takes: an optional duration (``arrivals.until``,
``orders.due``) is a duration in seconds with its bound, like a required one; "(required)"
marks only a discriminated union's tag (a machine's ``kind``, a product's ``type``), not a
field with a default such as ``faults.kind``; every unit the duration parser accepts is
listed; and the descriptions say what the code does with ``weight`` and ``max_wip``."""

from __future__ import annotations

import re
import typing

import pytest
from pydantic import BaseModel

from twin.model import parse_scenario
from twin.model.reference import REFERENCE, SECTIONS, field_rows
from twin.model.units import _UNITS

TEXT = REFERENCE.read_text(encoding="utf-8")


def row(key: str, name: str) -> list[str]:
    """The cells of ``name``'s row in the generated table ``key``."""
    for line in field_rows(SECTIONS[key], [name])[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if cells[0] == f"`{name}`":
            return cells
    raise AssertionError(f"no row {name!r} in table {key!r}")


@pytest.mark.parametrize(("key", "name"), [("arrivals", "until"), ("orders", "due")])
def test_an_optional_duration_is_a_duration_in_seconds(key: str, name: str) -> None:
    _, kind, unit, default, allowed, _ = row(key, name)
    assert (kind, unit, default, allowed) == ("duration", "s", "none", "≥ 0")


def _optional_durations() -> list[tuple[str, str]]:
    """Every optional field whose type is a duration, in every table."""
    out = []
    for key, model in SECTIONS.items():
        for name, info in model.model_fields.items():
            args = typing.get_args(info.annotation)
            if type(None) in args and any(typing.get_origin(a) is typing.Annotated for a in args):
                out.append((key, name))
    return out


@pytest.mark.parametrize(("key", "name"), _optional_durations())
def test_every_optional_duration_is_written_as_one(key: str, name: str) -> None:
    assert row(key, name)[1] == "duration"


def _is_union_tag(model: type[BaseModel], name: str) -> bool:
    return len(typing.get_args(model.model_fields[name].annotation)) == 1 and name in (
        "kind",
        "type",
    )


@pytest.mark.parametrize(
    ("key", "name"),
    [(key, name) for key, model in SECTIONS.items() for name in model.model_fields],
)
def test_required_is_written_only_of_a_required_field_or_a_union_tag(key: str, name: str) -> None:
    model = SECTIONS[key]
    default = row(key, name)[3]
    if model.model_fields[name].is_required():
        assert default == "required"
    elif _is_union_tag(model, name):
        assert default.endswith("(required)")
    else:
        assert "required" not in default, f"{key}.{name}: {default}"


def test_a_fault_without_kind_is_a_breakdown() -> None:
    faults = [{"machine": "g1", "at": 0, "duration": 1}]
    sc = parse_scenario({"cell": {"machines": [{"id": "g1", "kind": "generic"}]}, "faults": faults})
    assert sc.faults[0].kind == "breakdown"
    assert row("faults", "kind")[3] == '`"breakdown"`'


def test_every_duration_unit_is_listed() -> None:
    explained = TEXT.split("- **duration**:")[1].split("\n- ")[0]
    for unit in _UNITS:
        assert f"`{unit}`" in explained, f"duration unit {unit!r} not listed"
    assert "no month or year unit" in explained


def test_the_weight_and_max_wip_say_what_the_code_does() -> None:
    weight = row("orders", "weight")[5]
    assert "ATC" in weight
    assert "tardiness" not in weight  # no weighted tardiness is computed
    assert row("scenario", "max_wip")[5].startswith("jobs in the cell at once (released")
