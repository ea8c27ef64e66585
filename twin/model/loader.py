"""Reading scenario and sequence files into validated models, with errors naming file and field."""

from __future__ import annotations

import difflib
import json
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from twin.errors import ConfigError
from twin.model.machines import MACHINE_KINDS
from twin.model.products import PRODUCT_FAMILIES
from twin.model.scenario import Scenario
from twin.model.sequence import MachineSequences
from twin.model.units import meant_option, number_text

__all__ = [
    "format_validation_error",
    "load_scenario",
    "load_sequence",
    "parse_scenario",
    "read_text",
    "read_toml",
]


# the discriminated unions' tag fields and tags: pydantic puts the tag in an error's location
# after the item, and its error for a missing tag does not list them
_UNION_TAGS: dict[str, tuple[str, ...]] = {"kind": MACHINE_KINDS, "type": (*PRODUCT_FAMILIES,)}
_TAGS = frozenset(tag for tags in _UNION_TAGS.values() for tag in tags)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TAGS or part.startswith("function-"):
            continue  # union tag pydantic inserts: not a field the user wrote
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def _tag_error(field: str, err: Any) -> tuple[str, str]:
    """Field and reason for a discriminated union's tag (a machine's ``kind``, a product's
    ``type``) that is missing or unknown: the item named by its id when it has one, the known
    tags listed."""
    ctx = err.get("ctx", {})
    key = str(ctx.get("discriminator", "tag")).strip("'")
    item = err["input"]
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        field += f" (id {item['id']!r})"
    if err["type"] == "union_tag_not_found":
        known = _UNION_TAGS.get(key)
        return field, f"{key} required" + (f" (one of: {', '.join(known)})" if known else "")
    known_tags = ", ".join(tag.strip("'") for tag in str(ctx["expected_tags"]).split(", "))
    return field, f"unknown {key} {ctx['tag']!r} (known: {known_tags})"


def _meant(loc: tuple[int | str, ...], errors: list[Any]) -> Any:
    """For an unknown field, the error of the missing required field beside it that it
    likely misspells ("idd" for "id"), or None."""
    missing = {
        str(e["loc"][-1]): e for e in errors if e["type"] == "missing" and e["loc"][:-1] == loc[:-1]
    }
    close = difflib.get_close_matches(str(loc[-1]), missing, n=1)
    return missing[close[0]] if close else None


def _inner(annotation: Any) -> Any:
    """``annotation`` without ``Annotated`` and without ``| None``."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(kinds) == 1:
                annotation = kinds[0]
                continue
        return annotation


def _fields_at(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> list[str]:
    """The fields of the table at ``loc`` (pydantic's location, union tags included) in
    ``model``; [] when no model is there."""
    at: Any = model
    for part in loc:
        at = _inner(at)
        origin, args = typing.get_origin(at), typing.get_args(at)
        if isinstance(part, str) and part.startswith("function-"):
            continue
        if origin in (list, dict):  # an item, or a table's value
            at = args[-1]
        elif origin is tuple:  # an item of tuple[X, ...]
            at = args[0]
        elif origin in (typing.Union, types.UnionType):  # the tag selects the member
            at = next((a for a in args if part in _tags(a)), None)
        elif isinstance(at, type) and issubclass(at, BaseModel) and part in at.model_fields:
            at = at.model_fields[str(part)].annotation
        else:
            return []
    at = _inner(at)
    return list(at.model_fields) if isinstance(at, type) and issubclass(at, BaseModel) else []


def _tags(model: Any) -> tuple[object, ...]:
    """The tag values of a discriminated union's member (its ``kind`` or ``type``)."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return ()
    return tuple(
        tag
        for key in _UNION_TAGS
        if key in model.model_fields
        for tag in typing.get_args(model.model_fields[key].annotation)
    )


def _unknown_field(
    model: type[BaseModel] | None, loc: tuple[int | str, ...], errors: list[Any]
) -> str:
    """The reason for an unknown field, with the field it likely misspells: a required one
    beside it (whose "field required" error it then explains: removed from ``errors``), else
    any field of its table in ``model``."""
    meant = _meant(loc, errors)
    if meant is not None:  # said here: not counted as one more error
        errors.remove(meant)
        return f"unknown field (did you mean {str(meant['loc'][-1])!r}? it is required)"
    close = difflib.get_close_matches(str(loc[-1]), _fields_at(model, loc[:-1]), n=1)
    return f"unknown field (did you mean {close[0]!r}?)" if close else "unknown field"


#: errors whose own message says what was wanted but not what was written
_CUSTOM = frozenset({"value_error", "assertion_error", "int_type", "extra_forbidden", "missing"})


def _written(err: Any, msg: str) -> str:
    """``, got VALUE`` (and the option a string likely misspells) for an error on a value the
    user wrote (a number, a string) whose message ``msg`` does not say it; "" otherwise."""
    value = err.get("input")
    if err["type"] in _CUSTOM or not isinstance(value, str | int | float) or " got " in msg:
        return ""
    text = str(value).lower() if isinstance(value, bool) else number_text(value)
    return f", got {text}{meant_option(err)}"


def _not_an_integer(value: object) -> str:
    if isinstance(value, str):
        return f"expected an integer, got the string {value!r}: write the number without quotes"
    return f"expected an integer, got {value!r}"


# a field's path at the start of a message: a name, then items ([0]) and tables' keys (.steel, .0)
_NAMED = re.compile(r"([A-Za-z_]\w*(?:\[\d+\])*(?:\.\w+(?:\[\d+\])*)*): ")


def format_validation_error(
    source: str, exc: ValidationError, model: type[BaseModel] | None = None, *, echo: bool = True
) -> ConfigError:
    """Turn the first pydantic error into a ConfigError naming the field; count the rest.

    With the ``model`` that raised ``exc`` (a scenario, a sequence file), an unknown field is
    told the field of its table it likely misspells ("arrival": "arrivals"), and a value the
    message does not quote is echoed ("got 'aluminum'", with the option it likely misspells);
    without (the callers that word their own messages: commands, OPC UA methods, adapters),
    an unknown field is told only a missing required field it likely misspells. ``echo``
    False: the model's field names only, no value echoed (adapters word values their own
    way)."""
    # an unknown field first: a typo ("idd") also makes the field it meant missing, and
    # "id: field required" alone would hide the cause
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    msg = str(first["msg"]).removeprefix("Value error, ")
    field = _loc(tuple(first["loc"]))
    # model-level validators name their field in the message ("orders[2].id: ...")
    named = _NAMED.match(msg)
    if named:
        head, msg = named.group(1), msg[named.end() :]
        field = head if field == "(top level)" else f"{field}.{head}"
    if model is not None and echo:
        msg += _written(first, msg)
    if first["type"] == "extra_forbidden":
        msg = _unknown_field(model, tuple(first["loc"]), errors)
    if first["type"] == "missing":
        msg = "field required"
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        field, msg = _tag_error(field, first)
    if first["type"] == "int_type":  # a strict integer (the seed): say what was written
        msg = _not_an_integer(first["input"])
    if len(errors) > 1:
        msg += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return ConfigError(source, field, msg)


def parse_scenario(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a scenario given as a mapping (the parsed TOML)."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(source, exc, Scenario) from exc


def read_text(path: str | Path) -> str:
    """The text of a UTF-8 file a user gives; ConfigError naming the file when it cannot be
    read or is not UTF-8 (e.g. saved as UTF-16 or Latin-1)."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(p), None, f"cannot read file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        where = f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"
        raise ConfigError(str(p), None, f"not UTF-8 text ({where}): save it as UTF-8") from exc


_TOO_DEEP = "nested too deeply (arrays or tables within each other hundreds of levels deep)"


def read_toml(path: str | Path) -> dict[str, Any]:
    """The parsed TOML file; ConfigError naming the file when unreadable or not TOML."""
    p = Path(path)
    text = read_text(p)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), None, f"invalid TOML: {exc}{_quoted_line(text, exc)}") from exc
    except RecursionError as exc:  # tomllib recurses once per level of nesting
        raise ConfigError(str(p), None, _TOO_DEEP) from exc


_AT_LINE = re.compile(r"\(at line (\d+), column \d+\)$")


def _quoted_line(text: str, exc: tomllib.TOMLDecodeError) -> str:
    """``: <the line tomllib names>`` (at most 80 characters), so the error shows what it
    refuses (its "Cannot overwrite a value" names no key); empty when it names none."""
    found = _AT_LINE.search(str(exc))
    lines = text.split("\n")  # as TOML counts lines (splitlines also breaks at U+2028, ...)
    if found is None or not 0 < int(found.group(1)) <= len(lines):
        return ""
    line = " ".join(lines[int(found.group(1)) - 1].split())
    if not line:
        return ""
    return f": {line[:77] + '...' if len(line) > 80 else line}"


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate a TOML scenario file; raises ConfigError naming file and field."""
    return parse_scenario(read_toml(path), str(path))


def load_sequence(path: str | Path) -> MachineSequences:
    """Load a ``{"machine_sequences": {"<machine index>": [job indices]}}`` file."""
    p = Path(path)
    try:
        data = json.loads(read_text(p))
    except json.JSONDecodeError as exc:
        raise ConfigError(str(p), None, f"invalid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(str(p), None, _TOO_DEEP) from exc
    try:
        return MachineSequences.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(str(p), exc, MachineSequences) from exc
