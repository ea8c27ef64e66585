"""Small helpers shared by CLI commands."""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from twin.engine.dispatch import RULES
from twin.errors import ConfigError
from twin.model.units import parse_duration

__all__ = [
    "DEFAULT_SCENARIO",
    "PlainHelpCommand",
    "PlainHelpGroup",
    "cli_logging",
    "flowing",
    "parse_rule",
    "parse_until",
    "plain_help",
    "sentence",
    "usage_error",
]

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


def parse_rule(name: str) -> str:
    """The dispatching rule ``name`` (case-insensitive) as ``RULES`` spells it; raises
    ConfigError naming ``--rule`` and listing the known rules."""
    if name.upper() not in RULES:
        reason = f"unknown dispatching rule {name!r} (known: {', '.join(RULES)})"
        raise ConfigError("command line", "--rule", reason)
    return name.upper()


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


def flowing(text: str | None) -> str | None:
    """A command's help (its docstring) with each paragraph on one line, for the terminal
    to wrap: typer's help keeps the line breaks of a docstring's paragraphs (made at 100
    columns of source) and wraps each line again at the terminal's width, which leaves a
    short line after each long one at 80 columns and a narrow column at 120. Paragraphs
    are what blank lines part; one that starts with click's ``\\b`` (not to be rewrapped)
    and what follows ``\\f`` (not shown) stay as they are."""
    if not text:
        return text
    shown, cut, hidden = inspect.cleandoc(text).partition("\f")
    paragraphs = [
        p if p.startswith("\b") else re.sub(r"\s*\n\s*", " ", p.strip())
        for p in re.split(r"\n\s*\n", shown.strip())
    ]
    return "\n\n".join(paragraphs) + cut + hidden


class _PlainHelp:
    """What the help of a command or group shows, as click writes it: its text in
    paragraphs the terminal wraps (``flowing``); a flag (``--quiet``, ``--help``) without a
    value (typer writes ``<bool>``, as if it took one), an argument by its name in capitals,
    bare when required and bracketed when optional (``SCENARIO``, ``[SCENARIO]``; typer
    writes ``{scenario}``)."""

    params: list[Any]
    help: str | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = flowing(self.help)
        for param in self.params:
            _plain(param)

    # (ctx: click's Context, which typer vendors and does not export)
    def get_help_option(self, ctx: Any) -> TyperOption | None:
        option: TyperOption | None = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            _plain(option)
        return option

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces: list[str] = super().collect_usage_pieces(ctx)  # type: ignore[misc]
        plain = {
            piece: _usage_name(param)
            for param in self.params
            if isinstance(param, TyperArgument)
            for piece in param.get_usage_pieces(ctx)
        }
        return [plain.get(piece, piece) for piece in pieces]


def _plain(param: object) -> None:
    # an empty metavar: typer shows a flag's type unless a metavar is set
    if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
        param.metavar = ""
    elif isinstance(param, TyperArgument) and param.metavar is None and param.name:
        param.metavar = param.name.upper()


def _usage_name(argument: TyperArgument) -> str:
    name = argument.metavar or str(argument.name).upper()
    name = name if argument.required else f"[{name}]"
    return name if argument.nargs == 1 else f"{name}..."


class PlainHelpCommand(_PlainHelp, TyperCommand):
    """A typer command whose help shows flags and arguments as click does (_PlainHelp)."""


class PlainHelpGroup(_PlainHelp, TyperGroup):
    """A typer group whose help shows flags and arguments as click does (_PlainHelp)."""


def plain_help(app: typer.Typer) -> None:
    """Give every command and group of ``app``, its sub-apps' too, the help of
    PlainHelpCommand and PlainHelpGroup: as if each had been declared with ``cls=`` one of
    them (one declared with a class of its own keeps it). Call it once all commands are
    registered."""
    # typer's defaults: TyperCommand (app.command() writes it), a placeholder for groups
    if not isinstance(app.info.cls, type) or app.info.cls is TyperGroup:
        app.info.cls = PlainHelpGroup
    for command in app.registered_commands:
        if command.cls in (None, TyperCommand):
            command.cls = PlainHelpCommand
    for group in app.registered_groups:
        if group.typer_instance is not None:
            plain_help(group.typer_instance)


#: the twin's own loggers (top-level names): their lines do not name the logger
_OWN_LOGGERS = frozenset({"twin", "opcua_server", "adapters", "dashboards"})


class _StderrLines(logging.Handler):
    """Log records as the CLI's other messages on stderr: ``error: ...`` and ``warning: ...``
    (the bare message for news at INFO, e.g. an adapter connecting); a library's record
    names its logger (``warning: asyncua.server...: ...``). Writes to the ``sys.stderr`` of
    the moment, as Python's last-resort handler does (a test captures it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if record.name.partition(".")[0] not in _OWN_LOGGERS:
                text = f"{record.name}: {text}"
            if record.levelno >= logging.ERROR:
                text = f"error: {text}"
            elif record.levelno >= logging.WARNING:
                text = f"warning: {text}"
            sys.stderr.write(text + "\n")
        except Exception:  # logging must not end the command (logging's own convention)
            self.handleError(record)


@contextlib.contextmanager
def cli_logging() -> Iterator[None]:
    """The CLI's one logging set-up, for the command run inside: log records go to stderr as
    _StderrLines writes them, at the levels the loggers have (WARNING unless a command
    raises one, e.g. the adapters' to INFO).

    Installed on the root logger, so ``logging.basicConfig`` (a command's, or the one the
    module-level ``logging.debug`` of a library makes) finds a handler and adds none: no
    record comes out twice or in another format. Removed on leaving; nested, it adds none.
    """
    root = logging.getLogger()
    if any(isinstance(h, _StderrLines) for h in root.handlers):
        yield
        return
    handler = _StderrLines()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
