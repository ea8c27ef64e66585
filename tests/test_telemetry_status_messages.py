"""``twin telemetry status`` of a path with no status says why, as the files tell: a new user
ran it on a ``--telemetry none`` run and was told "no telemetry status here"."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from twin.cli import main


def test_a_run_without_telemetry_is_said_to_have_had_none(
    six_hour_run: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    run = six_hour_run("--telemetry", "none")
    assert main(["telemetry", "status", str(run)]) == 2
    assert capsys.readouterr().err == (
        f"error: {run}: the run had no telemetry (--telemetry none): it has no telemetry-spool/"
        " and no telemetry.lp.gz\n"
    )


def test_a_run_whose_spool_was_removed_is_not_said_to_have_had_none(
    six_hour_run: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    shutil.copytree(six_hour_run("--telemetry", "file"), run)
    shutil.rmtree(run / "telemetry-spool")
    assert main(["telemetry", "status", str(run)]) == 2
    reason = "a run directory without telemetry-spool/status.json (removed?): no telemetry status"
    assert capsys.readouterr().err == f"error: {run}: {reason}\n"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("nothing", "no such file or directory"),
        (
            ".",
            "no telemetry status here: neither a run directory nor a spool directory (no"
            " status.json, no telemetry-spool/status.json)",
        ),
    ],
)
def test_a_path_that_is_no_run_is_named(
    name: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    assert main(["telemetry", "status", str(path)]) == 2
    assert capsys.readouterr().err == f"error: {path}: {reason}\n"
