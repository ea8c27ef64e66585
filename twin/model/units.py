"""What every scenario model shares: its base (``StrictModel``) and duration parsing
(numbers are seconds, strings carry a unit)."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

__all__ = ["MAX_DURATION", "Duration", "NonNegDuration", "StrictModel", "parse_duration"]

#: the longest duration (and time from scenario start) the twin takes: 1,000 years, so that
#: every time on the run's axis is a valid timestamp (OPC UA DateTime, datetime)
MAX_DURATION = 1000 * 365.25 * 86400.0


class StrictModel(BaseModel):
    """Base of every scenario model: unknown fields are errors, values are frozen, and a float
    must be finite (infinity and NaN are refused, as JSON cannot write them back)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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
        return _bounded(float(value), value)
    if isinstance(value, str):
        text = value.strip()
        m = _RE.match(text)
        if m:
            return _bounded(float(m.group(1)) * _UNITS[m.group(2) or "s"], value)
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|min|m|h|d|w)", text)
        if parts and "".join(n + u for n, u in parts) == text.replace(" ", ""):
            return _bounded(sum(float(n) * _UNITS[u] for n, u in parts), value)
    raise ValueError(
        f"invalid duration {value!r}: use seconds or a number with a unit "
        "(ms, s, m, h, d, w), e.g. 90, '45s', '2.5h', '30d', '1h30m'"
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


Duration = Annotated[float, BeforeValidator(parse_duration)]
NonNegDuration = Annotated[float, BeforeValidator(_non_negative)]
