"""What a run writes is its owner's alone: the telemetry file (0600) and the directory of a
new ``twin simulate`` run (0700), whatever the umask; the spool's files are checked in
``test_token_kept_secret``."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.telemetry.test_refused import RUN
from twin.cli import main
from twin.telemetry import FILE_NAME, SPOOL_DIR, FileSink

pytestmark = pytest.mark.usefixtures("umask_022")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_telemetry_file_is_the_owners_alone(tmp_path: Path) -> None:
    path = tmp_path / "run" / FILE_NAME
    for append in (False, True):
        sink = FileSink(path, append=append)
        await sink.start()
        await sink.write(b"", 0)
        await sink.stop()
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
        path.chmod(0o644)  # as an earlier version left it: appending closes it again


def test_a_new_simulated_run_is_the_owners_alone(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "telemetry"
    assert main([*RUN, "--no-plots", "--telemetry", "file", "--out", str(out)]) == 0
    assert mode(out) == 0o700
    assert mode(out / FILE_NAME) == 0o600
    assert mode(out / SPOOL_DIR) == 0o700
    assert mode(out / SPOOL_DIR / "status.json") == 0o600
