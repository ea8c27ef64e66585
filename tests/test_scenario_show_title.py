"""``twin scenario show`` starts with the scenario's name and, when it has one, its
description: no "name: " with nothing after it, and the user's text printed as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.cli import main

CELL = '[[cell.machines]]\nid = "g1"\nkind = "generic"\n'


def first_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], head: str) -> str:
    path = tmp_path / "s.toml"
    path.write_text(head + CELL, encoding="utf-8")
    assert main(["scenario", "show", str(path)]) == 0
    return capsys.readouterr().out.splitlines()[0]


@pytest.mark.parametrize("head", ["", 'description = ""\n', 'description = "  "\n'])
def test_without_a_description_the_name_stands_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], head: str
) -> None:
    assert first_line(tmp_path, capsys, 'name = "default"\n' + head) == "default"


def test_a_description_follows_the_name_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    head = 'name = "n"\ndescription = "two [red] CNCs"\n'
    assert first_line(tmp_path, capsys, head) == "n: two [red] CNCs"
