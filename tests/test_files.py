"""``twin.files``: a run's outputs written aside (``staged``); a killed run's stage is removed by
the next run, a live run's stage is not; ``directory_problem`` says truly why a directory
cannot be made or filled."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from twin.files import directory_problem, staged

# a run that stages ``out`` (argv[1]), writes a product, says where, and waits for stdin
_HOLDER = """
import sys
from pathlib import Path
from twin.files import staged
with staged(Path(sys.argv[1]), ["events.jsonl"]) as stage:
    (stage / "events.jsonl").write_text(sys.argv[2])
    print(stage, flush=True)
    sys.stdin.read()
"""


def _holder(out: Path, text: str) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out), text],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, Path(proc.stdout.readline().strip())


def test_a_killed_runs_stage_is_removed_by_the_next_run_a_live_one_is_kept(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    killed, killed_stage = _holder(out, "killed")
    live, live_stage = _holder(out, "live")
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    assert killed_stage.is_dir()  # nothing could clean it up
    other = tmp_path / "other"
    other_killed, other_stage = _holder(other, "other")
    other_killed.kill()
    other_killed.communicate(timeout=30)
    with staged(out, ["events.jsonl"]) as stage:
        assert not killed_stage.exists()
        assert live_stage.is_dir()  # its run goes on
        assert other_stage.is_dir()  # a stage of another --out is not this run's business
        (stage / "events.jsonl").write_text("this")
    assert (out / "events.jsonl").read_text() == "this"
    live.communicate("", timeout=30)  # the live run ends and moves its outputs in
    assert live.returncode == 0
    assert (out / "events.jsonl").read_text() == "live"
    assert {p.name for p in tmp_path.iterdir()} == {"out", other_stage.name}


@pytest.mark.parametrize(
    ("out", "problem"),
    [
        ("/proc/cell-twin", "cannot create /proc/cell-twin: /proc does not allow new entries"),
        ("/proc/self/a/b", "cannot create /proc/self/a/b: /proc/self does not allow new entries"),
    ],
)
def test_a_directory_refusing_entries_with_enoent_is_not_called_missing(
    out: str, problem: str
) -> None:
    """procfs refuses a new entry with ENOENT: the directory is there, and said to refuse it,
    not to be missing ("/proc: No such file or directory")."""
    assert directory_problem(Path(out)) == problem


def test_a_directory_refusing_entries_names_the_real_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another refusal keeps the system's reason; ``out`` itself refusing is named too."""
    out = tmp_path / "out"
    out.mkdir()
    real = tempfile.mkdtemp
    refusals = {tmp_path: errno.EROFS, out: errno.ENOENT}

    def refusing(prefix: str, dir: Path) -> str:
        if dir in refusals:
            raise OSError(refusals[dir], os.strerror(refusals[dir]))
        return real(prefix=prefix, dir=dir)

    monkeypatch.setattr("tempfile.mkdtemp", refusing)
    assert directory_problem(out) == f"cannot create {out}: {tmp_path}: Read-only file system"
    del refusals[tmp_path]
    assert directory_problem(out) == f"cannot write in {out}: {out} does not allow new entries"
    refusals[out] = errno.EACCES
    assert directory_problem(out) == f"cannot write in {out}: Permission denied"
