"""Duration parsing shared by every model: numbers are seconds, strings carry a unit."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

__all__ = ["Duration", "NonNegDuration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)?\s*$")


def parse_duration(value: object) -> float:
    """Return seconds for ``value``: a number (seconds) or a string like ``"90s"``, ``"2.5h"``,
    ``"30d"``, or several parts such as ``"1h30m"``.

    Raises ``ValueError`` with the accepted forms when the value cannot be read.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        m = _RE.match(text)
        if m:
            return float(m.group(1)) * _UNITS[m.group(2) or "s"]
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|min|m|h|d|w)", text)
        if parts and "".join(n + u for n, u in parts) == text.replace(" ", ""):
            return sum(float(n) * _UNITS[u] for n, u in parts)
    raise ValueError(
        f"invalid duration {value!r}: use seconds or a number with a unit "
        "(ms, s, m, h, d, w), e.g. 90, '45s', '2.5h', '30d', '1h30m'"
    )


def _non_negative(value: object) -> float:
    seconds = parse_duration(value)
    if seconds < 0:
        raise ValueError(f"duration must not be negative, got {value!r}")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
NonNegDuration = Annotated[float, BeforeValidator(_non_negative)]
