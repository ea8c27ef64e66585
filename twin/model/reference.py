"""The field tables of the scenario reference (``scenarios/REFERENCE.md``), generated from the
models: a field's type, unit, default and allowed values from its annotation and constraints,
its meaning from ``Field(description=...)``, the one source.

The reference holds each table between ``<!-- fields: KEY -->`` and ``<!-- end fields -->``;
the prose around them is written by hand. ``python -m twin.model.reference`` rewrites the
tables in place, ``--check`` exits 1 when they are stale (a test checks they are current).
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from twin.model.machines import (
    Breakdowns,
    CncConfig,
    GenericConfig,
    InspectionConfig,
    PrinterConfig,
    RobotConfig,
    _KnownMaterials,
    _MachineBase,
)
from twin.model.products import (
    AssemblySpec,
    BracketSpec,
    ExplicitOperation,
    ExplicitSpec,
    HousingSpec,
    HybridSpec,
)
from twin.model.scenario import Arrivals, CatalogueEntry, CellConfig, FaultConfig, OrderConfig
from twin.model.scenario import Scenario as _Scenario
from twin.model.units import duration_bound, duration_text, number_text

__all__ = [
    "REFERENCE",
    "SECTIONS",
    "default_toml",
    "field_rows",
    "main",
    "own_fields",
    "render",
    "value_text",
]

#: the reference, beside the scenarios it describes
REFERENCE = Path(__file__).resolve().parents[2] / "scenarios" / "REFERENCE.md"

#: table key -> the model it documents; a machine kind's table has only the fields it adds
#: or overrides (``own_fields``), the others are in the ``machine`` table
SECTIONS: dict[str, type[BaseModel]] = {
    "scenario": _Scenario,
    "cell": CellConfig,
    "machine": _MachineBase,
    "breakdowns": Breakdowns,
    "cnc": CncConfig,
    "robot": RobotConfig,
    "printer": PrinterConfig,
    "inspection": InspectionConfig,
    "generic": GenericConfig,
    "catalogue": CatalogueEntry,
    "machined_bracket": BracketSpec,
    "printed_housing": HousingSpec,
    "hybrid_part": HybridSpec,
    "module_assembly": AssemblySpec,
    "explicit": ExplicitSpec,
    "explicit_operation": ExplicitOperation,
    "arrivals": Arrivals,
    "orders": OrderConfig,
    "faults": FaultConfig,
}

_SUFFIX_UNITS = (
    ("_cm3_min", "cm³/min"),
    ("_cm3_h", "cm³/h"),
    ("_per_h", "per hour"),
    ("_cm3", "cm³"),
    ("_mm", "mm"),
    ("_m_s", "m/s"),
    ("_kg", "kg"),
    ("_rpm", "rpm"),
    ("_c", "°C"),
)


def own_fields(model: type[BaseModel]) -> list[str]:
    """The fields ``model`` declares itself (for a machine kind: what it adds or overrides)."""
    own = inspect.get_annotations(model)
    return [name for name in model.model_fields if name in own]


def _unit(name: str, info: FieldInfo) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "unit" in extra:
        return str(extra["unit"])
    return next((unit for suffix, unit in _SUFFIX_UNITS if name.endswith(suffix)), "")


def _type(annotation: Any) -> str:
    """A type as a TOML writer thinks of it."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        if all(isinstance(a, type) and issubclass(a, BaseModel) for a in kinds) and len(kinds) > 1:
            tag = "kind" if "kind" in kinds[0].model_fields else "type"
            return f"tables by `{tag}` (below)"
        names = dict.fromkeys(_type(a) for a in kinds)
        if "number" in names:  # an integer is a number
            names.pop("integer", None)
        return " or ".join(names)
    if origin is typing.Literal:
        return "integer" if all(isinstance(a, int) for a in args) else "string"
    if origin is tuple:
        return "[" + ", ".join(_type(a) for a in args) + "]"
    if origin is list:
        inner = args[0]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return "list of tables (below)"
        return f"list of {_type(inner)}"
    if origin is dict:
        return f"table of {_type(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table (below)"
    simple: dict[object, str] = {int: "integer", float: "number", str: "string", bool: "boolean"}
    return simple.get(annotation, "date-time" if annotation is dt.datetime else str(annotation))


def _metadata(info: FieldInfo) -> list[Any]:
    """The constraints of a field: its own, and those of the type an optional field takes
    (``NonNegDuration | None``: pydantic keeps the duration's parser inside the union)."""
    inner = [a for a in typing.get_args(info.annotation) if a is not type(None)]
    optional = typing.get_origin(info.annotation) in (typing.Union, types.UnionType)
    if optional and len(inner) == 1 and typing.get_origin(inner[0]) is typing.Annotated:
        return [*info.metadata, *typing.get_args(inner[0])[1:]]
    return list(info.metadata)


def _bounds(metadata: list[Any]) -> list[str]:
    out = []
    for item in metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if isinstance(item, getattr(at, attr.capitalize())):
                out.append(f"{sign} {value_text(getattr(item, attr))}")
        if isinstance(item, at.MinLen) and item.min_length:
            out.append(f"at least {item.min_length}")
        if isinstance(item, at.MaxLen):
            out.append(f"at most {item.max_length} characters")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            out.append(f"`{pattern}`")
    return out


def _material_check(info: FieldInfo) -> _KnownMaterials | None:
    """The check of a per-material table (its known materials), if the field is one."""
    return next(
        (v.func for v in _metadata(info) if isinstance(getattr(v, "func", None), _KnownMaterials)),
        None,
    )


def _allowed(name: str, info: FieldInfo) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "allowed" in extra:
        return str(extra["allowed"])
    parts = _bounds(_metadata(info))
    annotation = info.annotation
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        parts.insert(0, ", ".join(value_text(a) for a in args))
    if typing.get_origin(annotation) is dict:
        check = _material_check(info)
        if check is not None:
            parts.append(f"keys: {', '.join(check.known)}")
        value = args[1]
        if typing.get_origin(value) is typing.Annotated:
            parts += [f"values {b}" for b in _bounds(list(typing.get_args(value)[1:]))]
    return ", ".join(parts)


def value_text(value: Any) -> str:
    """A value as TOML writes it (numbers without a needless ``.0``)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return number_text(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{k} = {value_text(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML text for {value!r}")


def default_toml(model: type[BaseModel], name: str) -> str | None:
    """The default of ``model.name`` as TOML writes it; None when the field is required."""
    default = model.model_fields[name].get_default(call_default_factory=True)
    if default is PydanticUndefined:
        return None
    return "none" if default is None else value_text(default)


def _is_tag(info: FieldInfo) -> bool:
    """Whether the field is a discriminated union's tag (a machine's ``kind``, a product's
    ``type``): one literal value, which selects the table's model and must be written."""
    return typing.get_origin(info.annotation) is typing.Literal and (
        len(typing.get_args(info.annotation)) == 1
    )


def _default_cell(model: type[BaseModel], name: str) -> str:
    info = model.model_fields[name]
    if _is_tag(info):
        return f"`{default_toml(model, name)}` (required)"
    text = default_toml(model, name)
    if text is None:
        return "required"
    if text == "none":
        return "none"
    default = info.get_default(call_default_factory=True)
    if duration_bound(_metadata(info)) is not None and default >= 60:
        return f"`{text}` ({duration_text(default)})"
    return f"`{text}`"


def field_rows(model: type[BaseModel], names: list[str]) -> list[str]:
    """The table rows of ``names``; raises ValueError for a field with no description."""
    rows = ["| field | type | unit | default | allowed | meaning |", "|---|---|---|---|---|---|"]
    for name in names:
        info = model.model_fields[name]
        if not info.description:
            raise ValueError(f"{model.__name__}.{name}: no Field(description=...)")
        bound = duration_bound(_metadata(info))
        kind = "duration" if bound is not None else _type(info.annotation)
        unit = "s" if bound is not None else _unit(name, info)
        allowed = bound if bound is not None else _allowed(name, info)
        check = _material_check(info)
        if check is not None:
            kind = f"table {check.what} → {kind.removeprefix('table of ')}"
        cells = [f"`{name}`", kind, unit, _default_cell(model, name), allowed, info.description]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return rows


def _table(key: str) -> str:
    model = SECTIONS[key]
    own = key in ("cnc", "robot", "printer", "inspection", "generic")
    names = own_fields(model) if own else list(model.model_fields)
    return "\n".join(field_rows(model, names))


_BLOCK = re.compile(r"(<!-- fields: (\w+) -->\n).*?(<!-- end fields -->)", re.DOTALL)


def render(text: str) -> str:
    """``text`` (the reference) with every field table regenerated; raises ValueError for an
    unknown table key or a section without its table."""
    seen: set[str] = set()

    def table(m: re.Match[str]) -> str:
        key = m.group(2)
        if key not in SECTIONS:
            raise ValueError(f"unknown fields table {key!r} (known: {', '.join(SECTIONS)})")
        seen.add(key)
        return f"{m.group(1)}{_table(key)}\n{m.group(3)}"

    out = _BLOCK.sub(table, text)
    missing = [key for key in SECTIONS if key not in seen]
    if missing:
        raise ValueError(f"no fields table for: {', '.join(missing)}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Rewrite the reference's tables, or with ``--check`` say whether they are current."""
    args = sys.argv[1:] if argv is None else argv
    text = REFERENCE.read_text(encoding="utf-8")
    new = render(text)
    if "--check" in args:
        if new != text:
            print(f"{REFERENCE} is stale: run python -m twin.model.reference", file=sys.stderr)
            return 1
        return 0
    REFERENCE.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
