"""A ``TWIN_SPOOL_DIR`` that cannot be a spool (a file, or under one) stops ``twin simulate``
and ``twin run`` with one line naming the setting and the path, exit code 2, before the run
directory is touched; it was a NotADirectoryError traceback (exit 1), after ``twin run`` had
written run.json, events.jsonl and snapshot.json. A spool found unusable only when the
pipeline starts is one line too."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.opcua.conftest import run_args
from twin.cli import main
from twin.errors import ServiceError
from twin.telemetry import Spool
from twin.telemetry.spool import private_directory

SIMULATE = ["simulate", "scenarios/default.toml", "--until", "2h", "-q", "--no-plots"]


@pytest.mark.parametrize("under", [False, True], ids=["a-file", "under-a-file"])
@pytest.mark.parametrize("command", ["simulate", "run"])
def test_a_spool_dir_that_cannot_be_one_is_refused_before_the_run_directory(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    default_scenario_path: Path,
    command: str,
    under: bool,
) -> None:
    blocker = tmp_path / "f"
    blocker.write_text("")
    spool = blocker / "sub" if under else blocker
    monkeypatch.setenv("TWIN_SPOOL_DIR", str(spool))
    monkeypatch.setenv("TWIN_TELEMETRY", "influx")
    out = tmp_path / "run"
    if command == "simulate":
        args = [*SIMULATE, "--out", str(out)]
    else:
        args = ["run", str(default_scenario_path), *run_args(tmp_path, out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: environment: TWIN_SPOOL_DIR: {spool} cannot be the telemetry spool:"
        f" {blocker} is not a directory\n"
    )
    assert not out.exists()
    assert blocker.read_text() == ""


def test_without_telemetry_the_spool_dir_is_not_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "f").write_text("")
    monkeypatch.setenv("TWIN_SPOOL_DIR", str(tmp_path / "f"))
    assert main([*SIMULATE, "--telemetry", "none", "--out", str(tmp_path / "run")]) == 0


def test_a_spool_that_cannot_be_made_when_the_pipeline_starts_is_one_error(
    tmp_path: Path,
) -> None:
    """Checked again where it is made: the file may have come after the preflight."""
    (tmp_path / "f").write_text("")
    with pytest.raises(NotADirectoryError):
        private_directory(tmp_path / "f")
    for path in (tmp_path / "f", tmp_path / "f" / "sub"):
        with pytest.raises(ServiceError) as caught:
            Spool(path, 10**6).open()
        assert str(caught.value) == (
            f"telemetry spool {path} cannot be used: {path}: Not a directory; give another"
            " one (TWIN_SPOOL_DIR)"
        )
