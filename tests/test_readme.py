"""The README's examples run as documented: every ``twin ...`` line in ```sh blocks, and the
Python example."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

from tests.conftest import JSP_DIR, ROOT, missing_service
from twin.cli import main
from twin.engine.cell import Engine
from twin.model import parse_scenario

README = (ROOT / "README.md").read_text(encoding="utf-8")
SH_LINES = [
    line.strip()
    for block in re.findall(r"```sh\n(.*?)```", README, re.S)
    for line in block.splitlines()
    if line.strip().startswith("twin ")
]
PY_BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def test_readme_has_examples() -> None:
    assert len(SH_LINES) >= 5
    assert PY_BLOCKS


def test_sh_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not JSP_DIR.is_dir():
        missing_service(f"shared benchmarks not found at {JSP_DIR}")
    monkeypatch.chdir(ROOT)
    for line in SH_LINES:
        args = [a.replace("runs/", f"{tmp_path}/runs/") for a in shlex.split(line)[1:]]
        assert main(args) == 0, line
    assert (tmp_path / "runs" / "example" / "gantt.png").stat().st_size > 0
    assert '"makespan": 55.0' in (tmp_path / "runs" / "ft06" / "summary.json").read_text()


def test_python_example(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    for block in PY_BLOCKS:
        exec(compile(block, "README.md", "exec"), {})
    assert int(capsys.readouterr().out.strip().splitlines()[-1]) > 0


def test_scenario_format_block_is_a_valid_scenario() -> None:
    # "Scenario format" shows every part of a scenario: copied as it is, it loads and runs
    (block,) = re.findall(r"## Scenario format.*?```toml\n(.*?)```", README, re.S)
    sc = parse_scenario(tomllib.loads(block), "README.md")
    assert sc.cell.transport == "robot1"
    assert sc.arrivals is not None
    assert sc.arrivals.count == 500
    assert [o.id for o in sc.orders] == ["SO-1001"]
    engine = Engine(sc)
    engine.run("2d")
    assert engine.completed > 10
