"""Durations (numbers are seconds, strings carry a unit) and the words scenario messages
share (numbers as TOML writes them, the option a string likely misspells)."""

from __future__ import annotations

import difflib
import itertools
import math
import numbers
import operator
import re
import sys
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = [
    "MAX_DURATION",
    "Duration",
    "NonNegDuration",
    "PositiveDuration",
    "SecondOrMore",
    "as_real",
    "duration_bound",
    "duration_text",
    "meant_option",
    "number_text",
    "parse_duration",
]

#: the longest duration (and time from scenario start) the twin takes: 1,000 years, so that
#: every time on the run's axis is a valid timestamp (OPC UA DateTime, datetime)
MAX_DURATION = 1000 * 365.25 * 86400.0


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)?\s*$")


def as_real(value: object) -> float | None:
    """``value`` as a float when it is a real number: any ``numbers.Real`` but a bool (int,
    float, numpy's integer and floating types, Fraction) or a Decimal; None otherwise.

    Infinity and NaN come back as they are (the caller refuses them); a number too large for
    a float comes back as the largest float of its sign."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
        return None
    try:
        return float(value)
    except OverflowError:  # an int or Fraction beyond 1.8e308
        return -sys.float_info.max if operator.lt(value, 0) else sys.float_info.max
    except ValueError:  # Decimal("sNaN")
        return math.nan


def parse_duration(value: object) -> float:
    """Return seconds for ``value``: a real number (seconds; int, float, numpy's, Fraction,
    Decimal: ``as_real``) or a string like ``"90s"``, ``"2.5h"``, ``"30d"``, or several parts
    such as ``"1h30m"`` (larger units first, each unit once).

    Raises ``ValueError`` with the accepted forms when the value cannot be read, and naming
    the slip for a unit given twice or out of order.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration, got a boolean")
    seconds = as_real(value)
    if seconds is not None:
        return _bounded(seconds, value)
    if isinstance(value, str):
        text = value.strip()
        m = _RE.match(text)
        if m:
            return _bounded(float(m.group(1)) * _UNITS[m.group(2) or "s"], value)
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|min|m|h|d|w)", text)
        if parts and "".join(n + u for n, u in parts) == text.replace(" ", ""):
            _check_unit_order(value, [u for _, u in parts])
            return _bounded(sum(float(n) * _UNITS[u] for n, u in parts), value)
    raise ValueError(
        f"invalid duration {value!r}: use seconds or a number with a unit "
        "(ms, s, m, h, d, w), e.g. 90, '45s', '2.5h', '30d', '1h30m'"
    )


def _check_unit_order(value: object, units: list[str]) -> None:
    """Refuse a unit given twice ("1d2d") or after a smaller one ("30m1h"): most likely a
    slip, which a sum would silently turn into another duration."""
    for prev, unit in itertools.pairwise(units):
        if _UNITS[unit] == _UNITS[prev]:
            raise ValueError(f"invalid duration {value!r}: the unit {unit} is given twice")
        if _UNITS[unit] > _UNITS[prev]:
            raise ValueError(
                f"invalid duration {value!r}: {unit} after {prev}; write the larger units"
                " first, e.g. '1h30m'"
            )


def _bounded(seconds: float, value: object) -> float:
    if not math.isfinite(seconds):
        raise ValueError(f"duration must be a finite number, got {value!r}")
    if abs(seconds) > MAX_DURATION:
        raise ValueError(
            f"duration must be at most 1000 years ({MAX_DURATION:.0f} s), got {value!r}"
        )
    return seconds


def _non_negative(value: object) -> float:
    seconds = parse_duration(value)
    if seconds < 0:
        raise ValueError(f"duration must not be negative, got {value!r}")
    return seconds


def _at_least(least: float, *, equal: bool = True) -> Callable[[object], float]:
    """A duration parser that refuses less than ``least`` seconds (and ``least`` itself
    unless ``equal``), saying the bound in seconds."""
    bound = f"{'at least' if equal else 'more than'} {least:g} s"

    def check(value: object) -> float:
        seconds = parse_duration(value)
        if seconds < least or (seconds == least and not equal):
            raise ValueError(f"duration must be {bound}, got {value!r}")
        return seconds

    return check


# bounds checked here, not with Field(gt=...): the message then names the unit (pydantic's
# says "Input should be greater than or equal to 1" of a '0.5s' the user wrote)
_positive = _at_least(0, equal=False)
#: at least a second: a mean time between breakdowns or between orders any shorter would be a
#: loop of events that hardly moves the clock
_second_or_more = _at_least(1)
Duration = Annotated[float, BeforeValidator(parse_duration)]
NonNegDuration = Annotated[float, BeforeValidator(_non_negative)]
PositiveDuration = Annotated[float, BeforeValidator(_positive)]
SecondOrMore = Annotated[float, BeforeValidator(_second_or_more)]
_DURATION_BOUNDS: dict[object, str] = {
    parse_duration: "",
    _non_negative: "≥ 0",
    _positive: "> 0",
    _second_or_more: "≥ 1",
}


def duration_bound(metadata: list[object]) -> str | None:
    """For a field's metadata (pydantic's ``FieldInfo.metadata``): the bound of the duration
    it takes, "" for none, or None when the field is no duration (for the reference)."""
    for item in metadata:
        if isinstance(item, BeforeValidator) and item.func in _DURATION_BOUNDS:
            return _DURATION_BOUNDS[item.func]
    return None


def meant_option(err: Mapping[str, Any]) -> str:
    """For pydantic's error of a string not among a field's options (a ``Literal``: a
    material, a rule), the option it likely misspells as `` (did you mean 'aluminium'?)``;
    "" for any other error or when no option is close."""
    if err.get("type") != "literal_error" or not isinstance(err.get("input"), str):
        return ""
    expected = str(err.get("ctx", {}).get("expected", ""))
    options = {o.lower(): o for o in re.findall(r"'([^']*)'", expected)}
    close = difflib.get_close_matches(err["input"].lower(), options, n=1)
    return f" (did you mean {options[close[0]]!r}?)" if close else ""


def number_text(value: object) -> str:
    """A number as the user wrote it in TOML: 8, not 8.0 (a whole float below 1e15), else as
    Python prints it; anything but a number as its repr."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value) if isinstance(value, int | float) else repr(value)


def duration_text(seconds: float) -> str:
    """``seconds`` as ``parse_duration`` reads it back, in the largest whole units: "4h",
    "1h30m", "7d", "2.5s"; plain seconds below a minute."""
    if seconds < 60 or not float(seconds).is_integer():
        return f"{seconds:g}s"
    out, rest = "", int(seconds)
    for unit in ("w", "d", "h", "m", "s"):
        size = int(_UNITS[unit])
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out
