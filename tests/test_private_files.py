"""What a run writes is its owner's alone whatever the umask: the event log holds every order
and who sent it, the run directory the lock and run.json (a security audit found them 0644 in
a 0755 directory)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import SCENARIOS
from twin.cli import rundir
from twin.model import load_scenario
from twin.simulation import run_simulation

pytestmark = pytest.mark.usefixtures("umask_022")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_twin_run_directory_and_files_are_private(tmp_path: Path) -> None:
    out = tmp_path / "live"
    sc = load_scenario(SCENARIOS / "default.toml")
    with rundir.hold(out):
        rundir.write_info(out, rundir.run_info(SCENARIOS / "default.toml", sc), datetime.now(UTC))
        rundir.new_log(out).close()
        assert _mode(out) == 0o700
        assert {p.name: _mode(p) for p in out.iterdir()} == {
            ".lock": 0o600,
            "run.json": 0o600,
            "events.jsonl": 0o600,
        }
        # a second run keeps the first one's log aside and writes a new one, also private
        (out / "events.jsonl").write_bytes(b'{"type":"command","t":0,"name":"pause"}\n')
        rundir.new_log(out, say=lambda _: None).close()
        assert _mode(out / "events.jsonl") == 0o600


def test_simulate_event_log_is_private(tmp_path: Path) -> None:
    sc = load_scenario(SCENARIOS / "default.toml")
    run_simulation(sc, until=3600.0, out_dir=tmp_path / "run", plots=False)
    assert _mode(tmp_path / "run" / "events.jsonl") == 0o600
