"""Counts in the CLI's messages take the noun for that many: '1 order', '0 orders', '2 orders'
(common.plural)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SCENARIOS
from twin.cli import main

ONE_OF_EACH = """
name = "one"
[cell]
[[cell.machines]]
id = "m0"
kind = "generic"
[[orders]]
id = "A"
product = { type = "explicit", operations = [{ machine = "m0", duration = 100 }] }
"""

ONE_MAPPING = """
[[adapter]]
name = "cell-plc"
kind = "modbus"
host = "127.0.0.1"
port = 5020

[[adapter.state]]
machine = "cnc1"
address = 10
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_scenario_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "one.toml"
    path.write_text(ONE_OF_EACH, encoding="utf-8")
    out = run(capsys, "scenario", "validate", str(path))
    assert out.startswith(f"{path}: ok (1 machine, 1 order, 0 catalogue entries)\n")


def test_scenario_from_jsp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    instance = tmp_path / "one.txt"
    instance.write_text("1 2\n0 5 1 3\n", encoding="utf-8")
    out_file = tmp_path / "one.toml"
    out = run(capsys, "scenario", "from-jsp", str(instance), "-o", str(out_file))
    assert out == f"wrote {out_file}: 1 job on 2 machines\n"


def test_adapters_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "plc.toml"
    file.write_text(ONE_MAPPING, encoding="utf-8")
    out = run(capsys, "adapters", "check", str(file), str(SCENARIOS / "default.toml"))
    assert out.startswith("cell-plc: modbus, 1 mapping\n")


def test_counts_below_the_cli_take_the_noun_for_that_many(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # twin.text.plural serves the engine's and the converters' messages too
    jsp = tmp_path / "one.txt"
    jsp.write_text("1 1\n0 5\n0 5\n", encoding="utf-8")  # the header says one job, two follow
    assert main(["scenario", "from-jsp", str(jsp), "-o", str(tmp_path / "one.toml")]) == 2
    assert "header says 1 job, found 2" in capsys.readouterr().err
    sequence = tmp_path / "seq.json"
    sequence.write_text('{"machine_sequences": {"0": [3]}}', encoding="utf-8")
    (tmp_path / "one.toml").write_text(ONE_OF_EACH, encoding="utf-8")
    argv = ["simulate", str(tmp_path / "one.toml"), "--sequence", str(sequence)]
    assert main([*argv, "--no-plots", "-q", "--out", str(tmp_path / "run")]) == 2
    assert "job index 3 out of range (0..0: the scenario has 1 order)" in capsys.readouterr().err


def test_a_sequence_naming_no_machine_says_what_may_be_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A machine index one past the last (a sequence of another instance): the indices the
    cell has, and that an id is taken too."""
    sequence = tmp_path / "seq.json"
    sequence.write_text('{"machine_sequences": {"4": [0]}}', encoding="utf-8")
    argv = ["simulate", str(SCENARIOS / "default.toml"), "--sequence", str(sequence)]
    assert main([*argv, "--no-plots", "-q", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {sequence}: machine_sequences.4: no machine '4': a machine's index (0..3: the"
        " cell has 4 machines) or its id, e.g. 'cnc1'\n"
    )
