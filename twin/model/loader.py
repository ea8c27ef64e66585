"""Reading scenario and sequence files into validated models, with errors naming file and field."""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from twin.errors import ConfigError
from twin.model.machines import MACHINE_KINDS
from twin.model.products import PRODUCT_FAMILIES
from twin.model.scenario import Scenario
from twin.model.sequence import MachineSequences

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


def _not_an_integer(value: object) -> str:
    if isinstance(value, str):
        return f"expected an integer, got the string {value!r}: write the number without quotes"
    return f"expected an integer, got {value!r}"


_NAMED = re.compile(r"([A-Za-z_][\w]*(?:\[\d+\])*(?:\.[A-Za-z_]\w*(?:\[\d+\])*)*): ")


def format_validation_error(source: str, exc: ValidationError) -> ConfigError:
    """Turn the first pydantic error into a ConfigError naming the field; count the rest."""
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
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
        meant = _meant(first["loc"], errors)
        if meant is not None:  # said here: not counted as one more error
            msg += f" (did you mean {str(meant['loc'][-1])!r}? it is required)"
            errors.remove(meant)
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
        raise format_validation_error(source, exc) from exc


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


def read_toml(path: str | Path) -> dict[str, Any]:
    """The parsed TOML file; ConfigError naming the file when unreadable or not TOML."""
    p = Path(path)
    text = read_text(p)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), None, f"invalid TOML: {exc}") from exc


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
    try:
        return MachineSequences.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(str(p), exc) from exc
