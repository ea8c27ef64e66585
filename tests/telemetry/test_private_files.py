"""What a run writes is its owner's alone: the telemetry file (0600) and the directory of a
new ``twin simulate`` run (0700), whatever the umask; the spool's files are checked in
``test_token_kept_secret``."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.telemetry.test_refused import RUN
from twin.cli import main
from twin.telemetry import FILE_NAME, SPOOL_DIR, FileSink


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common umask 022: what it lets through is readable by every user."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


async def test_the_telemetry_file_is_the_owners_alone(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "run" / FILE_NAME
    for append in (False, True):
        sink = FileSink(path, append=append)
        await sink.start()
        await sink.write(b"", 0)
        await sink.stop()
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
        path.chmod(0o644)  # as an earlier version left it: appending closes it again


def test_a_new_simulated_run_is_the_owners_alone(tmp_path: Path, open_umask: None) -> None:
    out = tmp_path / "runs" / "telemetry"
    assert main([*RUN, "--no-plots", "--telemetry", "file", "--out", str(out)]) == 0
    assert mode(out) == 0o700
    assert mode(out / FILE_NAME) == 0o600
    assert mode(out / SPOOL_DIR) == 0o700
    assert mode(out / SPOOL_DIR / "status.json") == 0o600
