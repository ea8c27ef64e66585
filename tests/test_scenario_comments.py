"""The header comment of each example scenario counts the machines the file has: "one ...
machining center" in a file with two CNCs misleads whoever copies it."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import SCENARIOS
from twin.model import load_scenario

#: how the comments name a machine kind
NOUNS = {
    "machining center": "cnc",
    "printer": "printer",
    "inspection station": "inspection",
    "robot": "robot",
}
WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4}


def header(path: Path) -> str:
    """The comment the file starts with, as one line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    comment = itertools.takewhile(lambda line: line.startswith("#"), lines)
    return " ".join(line.removeprefix("#").strip() for line in comment)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.name)
def test_the_header_counts_the_machines(path: Path) -> None:
    kinds: Counter[str] = Counter(m.kind for m in load_scenario(path).cell.machines)
    text = header(path)
    for noun, kind in NOUNS.items():
        said = re.search(rf"\b({'|'.join(WORDS)})\b[\w\- ]*?\b{noun}", text)
        if kinds[kind] or said:
            assert said is not None, f"{path.name}: the header does not count its {noun}s"
            assert WORDS[said.group(1)] == kinds[kind], f"{path.name}: {said.group(0)!r}"
