"""Small helpers shared by CLI commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from twin.errors import ConfigError
from twin.model.units import parse_duration

__all__ = ["DEFAULT_SCENARIO", "parse_until", "sentence", "usage_error"]

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


def usage_error(exc: typer.TyperException) -> ConfigError:
    """The one-line ConfigError for a usage error click raised while parsing the command
    line (a bad value, an unknown option, a missing argument...): the option or argument it
    concerns, why, and where to find help.

    typer exports none of click's exception classes but their base, so the kind of error is
    read from the attributes click sets: ``param`` (a bad or missing value) or
    ``option_name`` (an unknown option, an option without its value).
    """
    param: Any = getattr(exc, "param", None)
    option: str | None = getattr(exc, "option_name", None)
    if param is not None:
        field = param.opts[0] if param.param_type_name == "option" else param.name.upper()
        reason = _value_reason(exc) if exc.message else f"missing {param.param_type_name}"
    elif option is not None:
        field = option
        if hasattr(exc, "possibilities"):  # click's NoSuchOption
            reason = "no such option"
            if exc.possibilities:
                reason += f"; did you mean {' or '.join(sorted(exc.possibilities))}?"
        else:  # "Option '--seed' requires an argument."
            reason = sentence(exc.format_message().removeprefix(f"Option '{option}' "))
    else:
        field, reason = None, sentence(exc.format_message())
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        reason += f" (see '{ctx.command_path} --help')"
    return ConfigError("command line", field, reason)


def _value_reason(exc: typer.TyperException) -> str:
    # typer converts values with pydantic: say what was expected and what was given
    cause = exc.__cause__
    if isinstance(cause, ValidationError):
        err = cause.errors(include_url=False)[0]
        msg = str(err["msg"])
        if msg.startswith("Input should be "):  # "... a valid integer, unable to parse ..."
            msg = "expected " + msg.removeprefix("Input should be ").split(",")[0]
        return f"{sentence(msg)}, got {err['input']!r}"
    return sentence(exc.message)


def sentence(message: str) -> str:
    """A sentence (click's, an OS error's) as a reason after 'field: ' (lower case, no full
    stop)."""
    message = message.strip().rstrip(".")
    return message[:1].lower() + message[1:]
