"""Golden cases: ``tests/cases/<name>/scenario.toml`` with ``expected_error.txt`` (the one line
the CLI must print, as a prefix) or ``expected.json`` (summary values after simulating)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from twin.cli import main

CASES = Path(__file__).parent / "cases"


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_case(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(CASES)
    scenario = os.path.join(case, "scenario.toml")
    expected_error = CASES / case / "expected_error.txt"
    if expected_error.exists():
        rc = main(["scenario", "validate", scenario])
        err = capsys.readouterr().err
        assert rc == 2
        assert err.count("\n") == 1, f"expected one line, got {err!r}"
        assert "Traceback" not in err
        assert err.removeprefix("error: ").startswith(expected_error.read_text().strip()), err
        # simulate rejects it the same way
        assert main(["simulate", scenario, "--out", str(tmp_path / "r"), "-q"]) == 2
        assert not (tmp_path / "r" / "events.jsonl").exists()
    else:
        expected = json.loads((CASES / case / "expected.json").read_text())
        rc = main(["simulate", scenario, "--out", str(tmp_path / "r"), "-q", "--no-plots"])
        assert rc == 0
        summary = json.loads((tmp_path / "r" / "summary.json").read_text())
        assert {k: summary[k] for k in expected} == expected
