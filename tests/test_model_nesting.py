"""A file nested thousands of levels deep (a scenario, an adapters file, a sequence) is one
line naming the file, exit code 2: the TOML and JSON parsers recurse once per level and
raised RecursionError, printed as a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SCENARIOS
from twin.cli import main


@pytest.mark.parametrize(
    "text",
    ["x = " + "[" * 50_000 + "]" * 50_000, "x = " + "{a=" * 3_000 + "1" + "}" * 3_000],
    ids=["arrays", "tables"],
)
@pytest.mark.parametrize("command", ["scenario", "adapters"])
def test_deep_toml_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, command: str
) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text(text + "\n")
    if command == "scenario":
        args = ["scenario", "validate", str(deep)]
    else:
        args = ["adapters", "check", str(deep), str(SCENARIOS / "default.toml")]
    assert main(args) == 2
    err = capsys.readouterr().err
    too_deep = "nested too deeply (arrays or tables within each other hundreds of levels deep)"
    assert err == f"error: {deep}: {too_deep}\n"


def test_deep_sequence_json_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = tmp_path / "seq.json"
    deep.write_text('{"machine_sequences": ' + "[" * 100_000 + "]" * 100_000 + "}")
    args = [
        "simulate",
        str(SCENARIOS / "default.toml"),
        "--sequence",
        str(deep),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(args) == 2
    assert f"error: {deep}: nested too deeply" in capsys.readouterr().err
