"""Small helpers shared by CLI commands."""

from __future__ import annotations

from pathlib import Path

from twin.errors import ConfigError
from twin.model.units import parse_duration

__all__ = ["DEFAULT_SCENARIO", "parse_until"]

DEFAULT_SCENARIO = Path("scenarios/default.toml")


def parse_until(value: str | None, option: str = "--until") -> float | None:
    """Seconds from a duration option, or None; raises ConfigError naming the option."""
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ConfigError("command line", option, str(exc)) from exc
    if seconds <= 0:
        raise ConfigError("command line", option, "must be > 0")
    return seconds
