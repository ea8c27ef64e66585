"""``--help`` of every command and group shows parameters as click writes them: a flag
(``--quiet``, ``--resume``, ``--help``) without a value, since it takes none; an argument by
its name in capitals, bare when required and bracketed when optional (``SCENARIO``,
``[SCENARIO]``). Its text fills the terminal's width, at 80 columns and at 120: a
docstring's line breaks are not kept, and no help text is taken for rich markup."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from rich.text import Text

from twin.cli import app, main
from twin.cli.common import flowing


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _command_paths(sub, (*path, name))


PATHS = list(_command_paths(typer.main.get_command(app)))


def help_of(capsys: pytest.CaptureFixture[str], *path: str) -> str:
    assert main([*path, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) or "twin" for p in PATHS])
def test_no_flag_shows_a_value_and_no_argument_is_braced(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    out = help_of(capsys, *path)
    assert "<bool>" not in out
    usage = re.search(r"Usage: .*", out)
    assert usage is not None, out
    assert "{" not in usage[0], usage[0]


def test_flags_and_arguments_of_simulate(capsys: pytest.CaptureFixture[str]) -> None:
    out = help_of(capsys, "simulate")
    assert "Usage: twin simulate [OPTIONS] SCENARIO " in out
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("│ -")}
    for flag in ("--plots", "--quiet", "--help"):
        assert "<" not in rows[flag], rows[flag]
    assert "<int>" in rows["--seed"]
    assert re.search(r"│ \* +SCENARIO +<path> +scenario TOML file", out), out


def test_optional_argument_is_bracketed(capsys: pytest.CaptureFixture[str]) -> None:
    out = help_of(capsys, "run")
    assert "Usage: twin run [OPTIONS] [SCENARIO] " in out
    assert re.search(r"│ --resume +restore the twin", out), out


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    yield " ".join(path) or "twin", command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(typer.main.get_command(app)))


@pytest.mark.parametrize("name", COMMANDS)
def test_help_paragraphs_are_not_broken_by_hand(name: str) -> None:
    """typer keeps a help's line breaks (rich markup mode), in the list of a group's
    commands too: a paragraph on more than one line is wrapped twice, raggedly."""
    command = COMMANDS[name]
    for paragraph in (command.help or "").split("\n\n"):
        assert "\n" not in paragraph, paragraph


@pytest.mark.parametrize("name", COMMANDS)
def test_help_texts_are_no_rich_markup(name: str) -> None:
    """A bracketed text (``[default: OUT/history.sqlite]``) is taken for a rich style and
    left out of the help: none is written."""
    command = COMMANDS[name]
    for text in [command.help, *(getattr(p, "help", None) for p in command.params)]:
        if text:
            assert Text.from_markup(text).plain == text


def _ragged(out: str, width: int) -> list[str]:
    """Lines of a help's text (outside its panels) that end short although the next word of
    their paragraph would have fitted (rich leaves a column either side)."""
    lines = [
        line.rstrip()
        for line in out.splitlines()
        if not line.lstrip().startswith(("│", "╭", "╰", "Usage:"))
    ]
    return [
        line
        for line, after in itertools.pairwise(lines)
        if line and after.strip() and len(line) + 1 + len(after.split()[0]) <= width - 1
    ]


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) or "twin" for p in PATHS])
def test_help_text_fills_the_width(
    path: tuple[str, ...],
    width: int,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    out = help_of(capsys, *path)
    assert max(map(len, out.splitlines())) == width  # rich took the width given
    assert _ragged(out, width) == []


def test_flowing_joins_the_lines_of_each_paragraph() -> None:
    text = """First line
    goes on.

    Second paragraph,
       indented.

    \b
    kept
    as it is
    \f
    not shown"""
    assert flowing(text) == (
        "First line goes on.\n\nSecond paragraph, indented.\n\n\b\nkept\nas it is\f\nnot shown"
    )
    assert flowing(None) is None
