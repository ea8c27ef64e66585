"""``twin simulate`` stopped by Ctrl-C: the run ends at its next step and writes its summary
for the part that ran (``"interrupted": true``, ``until``), every machine in it, even one
with no event by then; it prints the KPI table and where it stopped, exits 130, and ``twin
report`` names the scenario, seed, rule and every machine and says it was interrupted. A
second Ctrl-C while the summary is written stops at once, without a traceback."""

from __future__ import annotations

import html
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import twin.simulation
from twin.cli import main
from twin.events import read_events
from twin.kpi import KpiCollector, as_json
from twin.model import load_scenario

MACHINES = ["cnc1", "printer1", "robot1", "spare1", "vision1"]  # as summary.json sorts them
SPARE = """
[[cell.machines]]
id = "spare1"
kind = "generic"
name = "Spare station: no operation is routed to it"
position = [4.0, 0.0]

"""


@pytest.fixture
def idle_machine_scenario(default_scenario_path: Path, tmp_path: Path) -> Path:
    """The default scenario, named ``with-spare``, with a machine that never gets work: it
    has no event in the log, so only the summary can name it."""
    text = default_scenario_path.read_text(encoding="utf-8")
    text = text.replace('name = "default"', 'name = "with-spare"', 1)
    at = text.index("[[catalogue]]")
    path = tmp_path / "with-spare.toml"
    path.write_text(text[:at] + SPARE + text[at:], encoding="utf-8")
    return path


def spawn_simulate(*args: str) -> subprocess.Popen[str]:
    """``twin simulate ARGS`` in a process of its own (Ctrl-C goes to it alone)."""
    cmd = [sys.executable, "-c", "from twin.cli import console_main; console_main()"]
    return subprocess.Popen(
        [*cmd, "simulate", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_until_written(proc: subprocess.Popen[str], stage_files: Path, pattern: str) -> None:
    """Wait until a file of ``stage_files`` matching ``pattern`` (in the run's stage beside
    --out) is not empty: the run is under way, with something written."""
    deadline = time.monotonic() + 60
    while not any(p.stat().st_size for p in stage_files.glob(pattern)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.05)  # another process's file: nothing to await


def ctrl_c(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Send SIGINT to ``proc``; its stdout and stderr once it has ended."""
    try:
        proc.send_signal(signal.SIGINT)
        return proc.communicate(timeout=30)
    finally:
        proc.kill()


def _close(got: Any, want: Any) -> bool:
    """JSON trees alike but for the last bits of their floats (sums taken in another order)."""
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and got.keys() == want.keys()
            and all(_close(got[k], want[k]) for k in want)
        )
    if isinstance(want, float) and isinstance(got, float):
        return math.isclose(got, want, rel_tol=1e-12)
    return bool(got == want)


def _kpi_rows(page: str) -> list[str]:
    table = page.split("<h2>KPIs</h2>", 1)[1].split("</table>", 1)[0]
    return [html.unescape(m) for m in re.findall(r"<tr><td>(.*?)</td>", table)]


@pytest.mark.parametrize("telemetry", ["none", "file"])  # the run in the main thread, or not
def test_ctrl_c_writes_the_summary_of_the_part_that_ran(
    idle_machine_scenario: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    telemetry: str,
) -> None:
    out = tmp_path / "out"
    # ~230 years: minutes of wall time, stopped long before
    proc = spawn_simulate(
        str(idle_machine_scenario),
        *("--until", "12000w", "-q", "--telemetry", telemetry, "--out", str(out)),
    )
    wait_until_written(proc, tmp_path, ".out.partial-*/events.jsonl")
    stdout, stderr = ctrl_c(proc)
    assert proc.returncode == 130, stderr
    assert stderr == ""

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    until = summary["until"]
    assert summary["interrupted"] is True
    assert 0 < until == summary["end_time"] < 12000 * 7 * 86400
    assert (summary["scenario"], summary["seed"], summary["rule"]) == ("with-spare", 42, "EDD")
    assert list(summary["kpis"]["machines"]) == MACHINES
    events = list(read_events(out / "events.jsonl"))
    assert not any(getattr(ev, "machine", None) == "spare1" for ev in events)
    assert max(ev.t for ev in events) <= until
    # the KPIs of the events up to then, as twin simulate computes them
    kpi = KpiCollector.for_cell(load_scenario(idle_machine_scenario).cell).feed(events)
    expected = json.loads(json.dumps(as_json(kpi.report(until))))
    assert _close(summary["kpis"], expected), (summary["kpis"], expected)
    assert not (out / "gantt.png").exists()  # no plots: twin report draws them
    assert [p.name for p in tmp_path.iterdir()] == ["out", "with-spare.toml"]  # no stage left

    assert re.search(r"┃ machine +┃ avail\.", stdout), stdout  # the KPI table, every machine
    assert all(f"│ {m} " in stdout for m in [*MACHINES, "cell"]), stdout
    assert (
        f"interrupted at simulated time {until:.1f} s: the KPIs and {out / 'summary.json'} are"
        f" of the run up to then; no plots (twin report {out} draws them)\n"
        f"run directory: {out}\n"
    ) in stdout

    assert main(["report", str(out)]) == 0
    at = f"simulated time {until:.1f} s"
    note = f"the run was interrupted (Ctrl-C or SIGTERM) at {at}; reported up to then"
    assert capsys.readouterr().out == (
        f"{out}: note: {note}\nreport: {out / 'report' / 'report.html'}\n"
    )
    page = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert f"The run was interrupted (Ctrl-C or SIGTERM) at simulated time {until:.1f} s" in page
    assert f"<td>with-spare</td><td>42</td><td>EDD</td><td>{until:.3f}</td>" in page
    # in the scenario's order, as twin simulate prints them (summary.json sorts them)
    assert _kpi_rows(page) == ["cnc1", "robot1", "printer1", "vision1", "spare1", "cell"]


def _signalled(
    monkeypatch: pytest.MonkeyPatch, first_after: float, again: Callable[[Path], bool]
) -> None:
    """Sends this process a real SIGINT at the run's first event after ``first_after``, and
    again when the run writes a file for which ``again`` holds."""
    run, dump = twin.simulation.run_simulation, twin.simulation._dump

    def first(event: Any) -> None:
        if event.t > first_after and not sent:
            sent.append(event.t)
            os.kill(os.getpid(), signal.SIGINT)

    def interrupted(*a: Any, **kw: Any) -> Any:
        return run(*a, subscribers=[*kw.pop("subscribers", ()), first], **kw)

    def dumping(path: Path, data: Any) -> None:
        if again(path):
            os.kill(os.getpid(), signal.SIGINT)
        dump(path, data)

    sent: list[float] = []
    monkeypatch.setattr(twin.simulation, "run_simulation", interrupted)
    monkeypatch.setattr(twin.simulation, "_dump", dumping)


@pytest.mark.parametrize("telemetry", ["none", "file"])
def test_ctrl_c_again_while_the_summary_is_written_stops_at_once(
    default_scenario_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    telemetry: str,
) -> None:
    """The second SIGINT comes as summary.json is written: exit code 130 at once, no
    traceback; the run directory holds the event log, and summary.json is whole or not there
    (a run in a worker thread, with telemetry, finishes writing it: it cannot be stopped
    mid-write); SIGINT is Python's default again afterwards."""
    _signalled(monkeypatch, 3600.0, lambda path: path.name == "summary.json")
    out = tmp_path / "out"
    args = ["simulate", str(default_scenario_path), "--until", "7d", "-q", "--out", str(out)]
    assert main([*args, "--telemetry", telemetry]) == 130
    captured = capsys.readouterr()
    assert captured.err == ""
    assert f"interrupted: {out} keeps what the run wrote so far\n" in captured.out
    assert "interrupted at simulated time" not in captured.out  # it did not get that far
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert (out / "events.jsonl").stat().st_size > 0
    if telemetry == "none":
        assert not (out / "summary.json").exists()
    else:
        assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["interrupted"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_ctrl_c_once_the_run_reached_its_end_changes_nothing(
    default_scenario_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run is whole (its summary says it was not interrupted), exit code 0."""
    _signalled(monkeypatch, math.inf, lambda path: path.name == "summary.json")
    out = tmp_path / "out"
    args = ["simulate", str(default_scenario_path), "--until", "1d", "-q", "--no-plots"]
    assert main([*args, "--telemetry", "none", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["interrupted"] is False
    assert "until" not in summary
    assert summary["end_time"] == 86400


def test_sigterm_ends_the_run_as_ctrl_c_does(idle_machine_scenario: Path, tmp_path: Path) -> None:
    """SIGTERM (``timeout``, a CI job cancelled, ``kill``): the run ends at its next step and
    writes its summary, as at Ctrl-C; exit code 143 (128 + SIGTERM), no stage left behind."""
    out = tmp_path / "out"
    proc = spawn_simulate(
        str(idle_machine_scenario), *("--until", "12000w", "-q", "--out", str(out))
    )
    wait_until_written(proc, tmp_path, ".out.partial-*/events.jsonl")
    try:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert stderr == ""
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["interrupted"] is True
    assert f"interrupted at simulated time {summary['until']:.1f} s" in stdout
    assert [p.name for p in tmp_path.iterdir()] == ["out", "with-spare.toml"]
