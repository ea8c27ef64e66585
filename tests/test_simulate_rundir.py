"""``twin simulate --out DIR``: a rejected run leaves DIR as it was (and makes none); a
finished or interrupted one replaces the outputs of the run before."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import twin.simulation
from tests.test_simulate_interrupted import ctrl_c, spawn_simulate, wait_until_written
from twin.cli import main
from twin.telemetry import FILE_NAME, SPOOL_DIR

BAD_COMMAND = {"type": "command", "t": 3600, "command": "cancel_order", "args": {"job": "NOPE"}}


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every file and directory under ``root`` with its bytes (None for a directory)."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


def _bad_replay(tmp_path: Path) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(BAD_COMMAND) + "\n", encoding="utf-8")
    return path


def _ft06(jsp_dir: Path, tmp_path: Path, bad: str) -> tuple[Path, Path]:
    """The ft06 scenario and a sequence file contradicting its routings: ``cycle`` (every
    machine's list reversed, found deadlocking) or ``short`` (a job left out of m0's list)."""
    scenario = tmp_path / "ft06.toml"
    assert main(["scenario", "from-jsp", str(jsp_dir / "ft06.txt"), "-o", str(scenario)]) == 0
    seq = json.loads((jsp_dir / "ft06.sequence.json").read_text())
    if bad == "cycle":
        for jobs in seq["machine_sequences"].values():
            jobs.reverse()
    else:
        seq["machine_sequences"]["0"] = seq["machine_sequences"]["0"][:-1]
    path = tmp_path / f"{bad}.json"
    path.write_text(json.dumps(seq), encoding="utf-8")
    return scenario, path


def _assert_rejected(argv: list[str], capsys: pytest.CaptureFixture[str], start: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {start}"), err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_rejected_replay_leaves_the_run_directory_alone(
    default_scenario_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command fails only when applied at t=3600, with the event log and the telemetry
    file open: the run before in --out keeps every byte, a new --out is not made."""
    out = tmp_path / "runs" / "example"
    args = ["simulate", str(default_scenario_path), "--until", "2d", "-q", "--telemetry", "file"]
    assert main([*args, "--out", str(out)]) == 0
    before = _tree(tmp_path / "runs")
    made = {"events.jsonl", "summary.json", "gantt.png", "telemetry.lp.gz"}
    assert {f"example/{name}" for name in made} <= set(before)
    capsys.readouterr()
    bad = _bad_replay(tmp_path)
    start = f"{bad}: line 1: command 0 (cancel_order at t=3600): unknown job 'NOPE'"
    _assert_rejected([*args, "--replay", str(bad), "--out", str(out)], capsys, start)
    assert _tree(tmp_path / "runs") == before
    _assert_rejected([*args, "--replay", str(bad), "--out", str(tmp_path / "a" / "b")], capsys, "")
    assert not (tmp_path / "a").exists()
    assert _tree(tmp_path / "runs") == before


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("cycle", "machine_sequences: inconsistent with the routings: job J0 operation 0 waits"),
        ("short", "machine_sequences.m0: lists jobs ['J0', 'J1', 'J2', 'J3', 'J5'] but"),
    ],
)
def test_rejected_sequence_leaves_the_run_directory_alone_and_names_the_file(
    jsp_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str, message: str
) -> None:
    scenario, seq = _ft06(jsp_dir, tmp_path, bad)
    good = str(jsp_dir / "ft06.sequence.json")
    args = ["simulate", str(scenario), "-q", "--no-plots", "--telemetry", "file"]
    out = tmp_path / "runs" / "ft06"
    assert main([*args, "--sequence", good, "--out", str(out)]) == 0
    before = _tree(tmp_path / "runs")
    assert (out / "telemetry.lp.gz").stat().st_size > 0
    capsys.readouterr()
    _assert_rejected(
        [*args, "--sequence", str(seq), "--out", str(out)], capsys, f"{seq}: {message}"
    )
    assert _tree(tmp_path / "runs") == before
    new = tmp_path / "runs" / "new"
    _assert_rejected([*args, "--sequence", str(seq), "--out", str(new)], capsys, f"{seq}: ")
    assert _tree(tmp_path / "runs") == before


@pytest.mark.parametrize("bad", ["cycle", "short"])
def test_rejected_sequence_prints_nothing_on_stdout(
    jsp_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    """Without -q, on output that is no terminal: the one line on stderr, nothing on stdout
    (rich's progress bar, drawn on a terminal only, wrote a blank line when it ended)."""
    scenario, seq = _ft06(jsp_dir, tmp_path, bad)
    capsys.readouterr()
    args = ["simulate", str(scenario), "--no-plots", "--telemetry", "none", "--sequence", str(seq)]
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"error: {seq}: machine_sequences")
    assert err.count("\n") == 1


def test_a_run_on_output_that_is_no_terminal_starts_with_its_kpis(
    jsp_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario, _ = _ft06(jsp_dir, tmp_path, "short")
    capsys.readouterr()
    args = ["simulate", str(scenario), "--no-plots", "--telemetry", "none"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.splitlines()[0].strip() == "ISO 22400 KPIs"


@pytest.mark.parametrize(
    ("out", "message"),
    [
        # a file on the way: found only when the finished run was moved in, leaving its
        # stage beside the file
        ("a-file/run", "command line: --out: {tmp}/a-file is not a directory"),
        (
            "/proc/cell-twin-run",
            "command line: --out: cannot create /proc/cell-twin-run: /proc does not allow new"
            " entries\n",
        ),
    ],
)
def test_an_out_that_cannot_be_made_is_refused_before_the_run(
    default_scenario_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    out: str,
    message: str,
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    before = _tree(tmp_path)
    args = ["simulate", str(default_scenario_path), "--until", "1h", "-q", "--no-plots"]
    target = tmp_path / out if not out.startswith("/") else Path(out)
    _assert_rejected([*args, "--out", str(target)], capsys, message.format(tmp=tmp_path))
    assert _tree(tmp_path) == before


@contextlib.contextmanager
def _refusing_entries(directory: Path) -> Iterator[None]:
    """``directory`` refuses new entries while the block runs: immutable for root (which
    permissions do not stop), read-only for anyone else."""
    if os.geteuid() == 0:
        made = subprocess.run(
            ["chattr", "+i", str(directory)], check=False, capture_output=True, text=True
        )
        if made.returncode != 0:
            pytest.fail(f"chattr +i {directory} failed: {made.stderr.strip()}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)


def test_an_existing_out_that_refuses_new_files_is_refused_before_the_run(
    default_scenario_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stage is made beside --out, which can be writable when --out is not: found only
    when the finished run was moved in."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n", encoding="utf-8")
    args = ["simulate", str(default_scenario_path), "--until", "1h", "-q", "--no-plots"]
    with _refusing_entries(out):
        before = _tree(tmp_path)
        _assert_rejected(
            [*args, "--out", str(out)], capsys, f"command line: --out: cannot write in {out}: "
        )
        assert _tree(tmp_path) == before


def test_a_run_replaces_the_outputs_of_the_run_before(
    default_scenario_path: Path, tmp_path: Path
) -> None:
    """Outputs this run does not make (plots, telemetry) go: none is left from an older run;
    files that are not a run's outputs stay."""
    out = tmp_path / "out"
    args = ["simulate", str(default_scenario_path), "--until", "1d", "-q", "--out", str(out)]
    assert main([*args, "--telemetry", "file"]) == 0
    (out / "notes.txt").write_text("mine\n", encoding="utf-8")
    assert main([*args, "--no-plots", "--telemetry", "none"]) == 0
    names = {p.name for p in out.iterdir()}
    assert names == {"events.jsonl", "summary.json", "snapshot.json", "notes.txt", SPOOL_DIR}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no stage left beside it


def test_an_interrupted_run_keeps_what_it_wrote(
    default_scenario_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped mid-step (KeyboardInterrupt: a second Ctrl-C, see test_simulate_interrupted):
    exit code 130, the event log so far is in --out, the older run's summary and plots are
    gone (they would not describe it)."""
    out = tmp_path / "out"
    args = ["simulate", str(default_scenario_path), "--until", "1d", "-q", "--out", str(out)]
    args += ["--telemetry", "none"]
    assert main(args) == 0
    run = twin.simulation.run_simulation
    seen: list[Any] = []

    def interrupt_after_100(event: Any) -> None:
        seen.append(event)
        if len(seen) == 100:
            raise KeyboardInterrupt

    def interrupted(*a: Any, **kw: Any) -> Any:
        return run(*a, subscribers=[interrupt_after_100], **kw)

    monkeypatch.setattr(twin.simulation, "run_simulation", interrupted)
    assert main(args) == 130
    assert len((out / "events.jsonl").read_text().splitlines()) in (99, 100)
    assert not (out / "summary.json").exists()
    assert not (out / "gantt.png").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


# 12000w (~230 years, near the longest run from 2026 that telemetry can stamp, to 2262): the
# thread was once only told between thousandths of the run, here ~12 weeks of simulated time
# with signals each second: minutes
@pytest.mark.parametrize("until", ["400d", "12000w"])
def test_ctrl_c_stops_a_run_with_telemetry_at_once(
    default_scenario_path: Path, tmp_path: Path, until: str
) -> None:
    """A real SIGINT to ``twin simulate`` with the default file telemetry: the simulation
    thread stops (the run would take minutes), exit code 130 with no traceback, and --out
    holds the event log, the telemetry and the summary of what was simulated, all complete."""
    out = tmp_path / "out"
    proc = spawn_simulate(
        *(str(default_scenario_path), "--until", until, "--signals", "1s", "-q", "--no-plots"),
        *("--telemetry", "file", "--out", str(out)),
    )
    wait_until_written(proc, tmp_path, f".out.partial-*/{FILE_NAME}")
    stdout, stderr = ctrl_c(proc)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert "Error" not in stderr, stderr
    assert "interrupted at simulated time" in stdout
    assert "telemetry (file):" in stdout
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # the stage moved into --out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert 0 < events[-1]["t"] < 400 * 86400
    with gzip.open(out / FILE_NAME, "rt") as fh:  # a whole gzip stream: the file was closed
        lines = fh.read().splitlines()
    ended = [ln for ln in lines if ln.startswith("job_event") and "event=job_completed" in ln]
    assert len(ended) == sum(ev["type"] == "job_completed" for ev in events) > 0


def test_a_terminal_still_gets_the_progress_bar(
    jsp_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario, _ = _ft06(jsp_dir, tmp_path, "short")
    capsys.readouterr()
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: the output is a terminal
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    args = ["simulate", str(scenario), "--no-plots", "--telemetry", "none"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    assert "simulating" in capsys.readouterr().out
