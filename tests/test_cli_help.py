"""``--help`` of every command and group shows parameters as click writes them: a flag
(``--quiet``, ``--resume``, ``--help``) without a value, since it takes none; an argument by
its name in capitals, bare when required and bracketed when optional (``SCENARIO``,
``[SCENARIO]``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer

from twin.cli import app, main


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
