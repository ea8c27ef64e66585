"""The base of every scenario model (``StrictModel``), and its one rule for numbers: a number
field takes a number only, never a string or a boolean."""

from __future__ import annotations

import functools
import math
import re
import types
import typing
from collections.abc import Callable
from typing import Annotated, Literal

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainValidator,
    WrapValidator,
    model_validator,
)

__all__ = ["StrictModel"]


class StrictModel(BaseModel):
    """Base of every scenario model: unknown fields are errors, values are frozen, a float
    must be finite (infinity and NaN are refused, as JSON cannot write them back), and a
    number field takes a number only, in a table or an array of numbers too (a rate table, a
    position): neither a string (pydantic would read ``holes = "6"`` as 6, where TOML, JSON
    and the ISA-95 methods have numbers of their own) nor a boolean (pydantic would read
    ``max_wip = true`` as 1 and ``input_buffer = false`` as 0, unbounded).

    What stays as pydantic reads it: an integer field takes a whole float (6.0: a JavaScript
    MES sends every number as a double; 6.5 is refused), a float field an integer, and both
    any real number (numpy's, ``Decimal``); a duration takes its strings ("8h"), as its own
    validator reads them; a field that takes a string as well (a catalogue's ``fixed``) takes
    strings.

    A refusal is a ``ValueError`` whose message starts with the field's path in the model
    (``holes: expected an integer, got the string '6': write the number without quotes``;
    ``format_validation_error`` puts it after the model's own place)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _numbers_only(cls, data: object) -> object:
        # before pydantic's own validation, which would have read the string or boolean
        if isinstance(data, dict):
            leaves, nested = _number_checks(cls)
            for name, value in data.items():
                if type(value) in _PLAIN_NUMBERS:  # most values, at once (specs are drawn often)
                    continue
                leaf = leaves.get(name)
                if leaf is not None and isinstance(value, leaf.refused):
                    raise ValueError(leaf(name, value))
            for name, check in nested:
                if name in data and (misfit := check(name, data[name])) is not None:
                    raise ValueError(misfit)
        return data


#: a check of a value at a path: the refusal ("path: expected ..., got ..."), or None
_Check = Callable[[str, object], str | None]
_TEXT = (str, bytes)
_PLAIN_NUMBERS = frozenset({int, float})
_BOOLEAN = (bool, np.bool_)  # numpy's is no bool, and pydantic reads it as 1 too
#: validators that read the value themselves (a duration's parser): they decide what it takes
_OWN_VALIDATORS = (BeforeValidator, PlainValidator, WrapValidator)
_KEY = re.compile(r"\w+", re.ASCII)  # a table's key that a path can name after a dot


@functools.cache
def _number_checks(
    model: type[BaseModel],
) -> tuple[dict[str, _Leaf], tuple[tuple[str, _Check], ...]]:
    """The fields of ``model`` that take numbers, with their checks: those of a number (an
    int, a float, either, or none) by name, then those of arrays and tables of numbers."""
    leaves, nested = {}, []
    for name, info in model.model_fields.items():
        if any(isinstance(m, _OWN_VALIDATORS) for m in info.metadata):
            continue
        check = _check_of(info.annotation)
        if isinstance(check, _Leaf):
            leaves[name] = check
        elif check is not None:
            nested.append((name, check))
    return leaves, tuple(nested)


def _check_of(annotation: object) -> _Check | None:
    """The check of a value of type ``annotation``, or None when no number is in it (or
    its own validator reads it)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        own = any(isinstance(m, _OWN_VALIDATORS) for m in args[1:])
        return None if own else _check_of(args[0])
    if origin in (typing.Union, types.UnionType):
        kinds = {a for a in args if a is not type(None)}
        if len(kinds) == 1:
            return _check_of(kinds.pop())
        if kinds & {int, float} and kinds <= {int, float, str, bool}:
            return _Leaf(kinds)
        return None  # a union of tables checks itself
    if annotation in (int, float):
        return _Leaf({annotation})
    if origin is Literal and all(type(a) is int for a in args):  # a CNC's axes: 3 or 5
        return _Leaf({int})
    if origin in (list, tuple):
        return _items([_check_of(a) for a in args if a is not Ellipsis])
    if origin is dict:
        check = _check_of(args[1])
        return None if check is None else _values(check)
    return None


class _Leaf:
    """The check of one number of the types ``kinds`` (int, float or both, and str or bool
    when the field takes them too): the types it refuses, and the refusal of a value."""

    def __init__(self, kinds: set[object]) -> None:
        self.integer = float not in kinds
        self.want = ("an integer" if self.integer else "a number") + (
            " or a string" if str in kinds else ""
        )
        self.refused = (*(() if bool in kinds else _BOOLEAN), *(() if str in kinds else _TEXT))

    def __call__(self, path: str, value: object) -> str | None:
        if isinstance(value, self.refused):
            return f"{path}: expected {self.want}, got {_what(value, integer=self.integer)}"
        return None


def _items(checks: list[_Check | None]) -> _Check | None:
    """The check of an array: of every item with the one check (``list[X]``,
    ``tuple[X, ...]``), or of each item with its own (``tuple[X, Y]``)."""
    if not any(checks):
        return None

    def check(path: str, value: object) -> str | None:
        if not isinstance(value, list | tuple):
            return None  # pydantic says what it expected
        for i, item in enumerate(value):
            item_check = checks[0] if len(checks) == 1 else checks[i] if i < len(checks) else None
            misfit = None if item_check is None else item_check(f"{path}[{i}]", item)
            if misfit is not None:
                return misfit
        return None

    return check


def _values(value_check: _Check) -> _Check:
    """The check of a table's values; a key the path cannot name after a dot (a catalogue id
    with a space) is quoted after the path, as ``path: 'key': ...``."""

    def check(path: str, value: object) -> str | None:
        if not isinstance(value, dict):
            return None  # pydantic says what it expected
        for key, item in value.items():
            named = isinstance(key, str) and _KEY.fullmatch(key)
            misfit = value_check(f"{path}.{key}" if named else f"{path}: {key!r}", item)
            if misfit is not None:
                return misfit
        return None

    return check


def _what(value: object, *, integer: bool) -> str:
    """A string or boolean given for a number, for the message: with a hint to drop the
    quotes of a string that reads as the number wanted."""
    if isinstance(value, _BOOLEAN):
        return f"the boolean {str(bool(value)).lower()}"
    if isinstance(value, bytes):
        return f"the bytes {value!r}"
    text = f"the string {value!r}"
    return text + ": write the number without quotes" if _reads_as(str(value), integer) else text


def _reads_as(text: str, integer: bool) -> bool:
    """``text`` reads as an integer (``integer``) or a finite number."""
    try:
        return math.isfinite(int(text) if integer else float(text))
    except (ValueError, OverflowError):  # OverflowError: an integer beyond a float
        return False
