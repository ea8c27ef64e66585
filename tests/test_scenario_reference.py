"""``scenarios/REFERENCE.md`` documents every scenario field: its tables are what the models
generate (current), every field of every model a scenario can hold has a row in its table,
the default written there (as TOML) is the model's, and the feature counts it states are what
the product families count."""

from __future__ import annotations

import re
import tomllib
import typing
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from twin.model import PRODUCT_FAMILIES, Scenario
from twin.model.machines import _MachineBase
from twin.model.reference import REFERENCE, SECTIONS, main, own_fields, render
from twin.planning import operation_requests

TEXT = REFERENCE.read_text(encoding="utf-8")


def test_the_tables_are_current() -> None:
    assert render(TEXT) == TEXT, (
        "scenarios/REFERENCE.md is stale: run python -m twin.model.reference"
    )
    assert main(["--check"]) == 0


def test_a_stale_table_is_found() -> None:
    stale = TEXT.replace("| `hole_time` |", "| `hole_time_s` |")
    assert render(stale) != stale


def _models(annotation: Any, out: set[type[BaseModel]]) -> None:
    """Every model reachable from ``annotation``: through lists, tables, optionals and
    discriminated unions."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in out:
            out.add(annotation)
            for f in annotation.model_fields.values():
                _models(f.annotation, out)
        return
    for arg in typing.get_args(annotation):
        _models(arg, out)


def _rows(key: str) -> dict[str, list[str]]:
    """The rows of table ``key`` in the reference, by field name (parsed from the text)."""
    block = re.search(rf"<!-- fields: {key} -->\n(.*?)<!-- end fields -->", TEXT, re.DOTALL)
    assert block is not None, f"REFERENCE.md has no table {key!r}"
    rows = {}
    for line in block.group(1).splitlines()[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0].strip("`")] = cells
    return rows


def _documented() -> dict[type[BaseModel], str]:
    return {model: key for key, model in SECTIONS.items()}


def test_every_model_a_scenario_holds_has_a_table() -> None:
    models: set[type[BaseModel]] = set()
    _models(Scenario, models)
    documented = _documented()
    missing = sorted(m.__name__ for m in models if m not in documented)
    assert not missing, f"no table in REFERENCE.md for: {', '.join(missing)}"


def _cases() -> list[tuple[type[BaseModel], str, str]]:
    """(model, field, the table documenting it) for every field of every documented model:
    a machine kind's inherited field, unchanged, is in the table every kind shares."""
    out = []
    for key, model in SECTIONS.items():
        own = set(own_fields(model)) if issubclass(model, _MachineBase) else set(model.model_fields)
        for name in model.model_fields:
            out.append((model, name, key if name in own else "machine"))
    return out


@pytest.mark.parametrize(
    ("model", "name", "key"), _cases(), ids=lambda v: getattr(v, "__name__", str(v))
)
def test_every_field_is_in_its_table_with_the_models_default(
    model: type[BaseModel], name: str, key: str
) -> None:
    rows = _rows(key)
    assert name in rows, f"REFERENCE.md table {key!r} lacks {model.__name__}.{name}"
    written = rows[name][3]
    default = model.model_fields[name].get_default(call_default_factory=True)
    if written == "required":
        assert default is PydanticUndefined, f"{model.__name__}.{name} has a default"
    elif written == "none":
        assert default is None, f"{model.__name__}.{name} defaults to {default!r}"
    else:
        toml = re.match(r"`(.*)`", written)
        assert toml is not None, written
        value = tomllib.loads(f"v = {toml.group(1)}")["v"]
        expected = list(default) if isinstance(default, tuple) else default
        assert value == expected, f"{model.__name__}.{name}: REFERENCE.md says {value!r}"
        assert not written.endswith("(required)") or name in ("kind", "type")


def _features(family: str) -> str:
    section = TEXT.split(f'### `type = "{family}"`')[1]
    found = re.search(r"- Features: (.*)\.\n", section)
    assert found is not None, f"no feature count for {family}"
    return found.group(1)


@pytest.mark.parametrize(
    ("family", "values"),
    [
        ("machined_bracket", {}),
        ("machined_bracket", {"holes": 7, "pockets": 0, "surfaces": 3}),
        ("printed_housing", {"openings": 5}),
        ("hybrid_part", {}),
        ("hybrid_part", {"holes": 0, "surfaces": 4}),
        ("module_assembly", {"components": 5, "screws": 2}),
    ],
)
def test_the_feature_counts_written_are_the_families(family: str, values: dict[str, int]) -> None:
    spec = PRODUCT_FAMILIES[family].model_validate(values)
    formula = _features(family)
    assert eval(formula, {}, dict(spec)) == spec.feature_count(), formula


def test_a_hybrid_part_prints_its_allowance_and_mills_only_that() -> None:
    spec = PRODUCT_FAMILIES["hybrid_part"].model_validate({"volume_cm3": 20, "holes": 3})
    printing, milling, _ = operation_requests(spec)
    assert printing.params["volume_cm3"] == 20 + 3.0
    assert milling.params["removal_cm3"] == 3.0
    assert milling.params["pockets"] == 0
    assert milling.setup_key == "pa12|soft-jaws"
