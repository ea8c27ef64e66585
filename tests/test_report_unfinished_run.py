"""``twin report`` of a run that wrote no ``summary.json``: a ``twin simulate`` killed or
stopped mid-step (a second Ctrl-C), a ``twin run`` directory (stopped, or killed). The report
covers the event log up to its last event, with the KPIs ``twin simulate`` computes for a run
to that time, and says so (on the page; a note on the terminal when the run did not end)."""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import twin.simulation
from tests.opcua.conftest import start_cli
from tests.test_run_log import _args, _logged_past
from twin.cli import main

KPI_COLUMNS = ("availability", "effectiveness", "quality_ratio", "oee", "utilisation", "produced")
INTERRUPTED = (
    "no summary.json: the run was interrupted (twin simulate killed, or stopped by Ctrl-C"
    " twice?); reported up to its last event, at simulated time {t:.1f} s, its KPIs computed"
    " from the event log"
)


@pytest.fixture
def interrupted(
    default_scenario_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[[float], Path]:
    """Makes the run directory of ``twin simulate`` stopped mid-step (KeyboardInterrupt, as
    a second Ctrl-C) at its first event after a simulated time: its event log holds every
    event up to then, and there is no summary.json."""
    run = twin.simulation.run_simulation

    def make(after: float) -> Path:
        def ctrl_c(event: Any) -> None:
            if event.t > after:
                raise KeyboardInterrupt

        def interrupted(*a: Any, **kw: Any) -> Any:
            return run(*a, subscribers=[ctrl_c], **kw)

        out = tmp_path / "interrupted"
        args = ["simulate", str(default_scenario_path), "--until", "1d", "-q", "--out", str(out)]
        with monkeypatch.context() as patch:
            patch.setattr(twin.simulation, "run_simulation", interrupted)
            assert main([*args, "--telemetry", "none"]) == 130
        assert not (out / "summary.json").exists()
        capsys.readouterr()
        return out

    return make


def _kpi_rows(page: str) -> dict[str, list[str]]:
    """The KPI table of a report page: machine -> its cells as shown."""
    table = page.split("<h2>KPIs</h2>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(<td>.*?)</tr>", table)
    cells = [[html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)] for row in rows]
    return {row[0]: row[1:] for row in cells}


def _shown(kpis: dict[str, Any]) -> list[str]:
    """A KPI row of summary.json as the report's table shows it: ratios in percent, as
    ``twin simulate`` prints them."""
    return [
        "-" if kpis[c] is None else str(kpis[c]) if c == "produced" else f"{kpis[c]:.1%}"
        for c in KPI_COLUMNS
    ]


def _last_time(events: Path) -> float:
    return float(json.loads(events.read_bytes().splitlines()[-1])["t"])


def test_an_interrupted_simulate_is_reported_up_to_its_last_event(
    interrupted: Callable[[float], Path],
    default_scenario_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = interrupted(6 * 3600.0)
    last = _last_time(out / "events.jsonl")
    assert main(["report", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    note = f"{out}: note: {INTERRUPTED.format(t=last)}\n"
    assert captured.out == f"{note}report: {out / 'report' / 'report.html'}\n"
    page = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "the run was interrupted (twin simulate killed, or stopped by Ctrl-C twice?)." in page
    # the KPIs of the same run simulated through the log's last event (--until T stops before
    # the events due at T, which the log holds: a transfer ending there counts in the report)
    whole = tmp_path / "whole"
    through = math.nextafter(last, math.inf)
    args = ["simulate", str(default_scenario_path), "--until", f"{through!r}s", "-q"]
    assert main([*args, "--telemetry", "none", "--no-plots", "--out", str(whole)]) == 0
    kpis = json.loads((whole / "summary.json").read_text(encoding="utf-8"))["kpis"]
    expected = {m: _shown(k) for m, k in kpis["machines"].items()}
    assert _kpi_rows(page) == {**expected, "cell": _shown(kpis["cell"])}


def test_a_run_interrupted_before_its_first_event_is_one_line(
    interrupted: Callable[[float], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = interrupted(-1.0)
    assert main(["report", str(out)]) == 2
    reason = "no events after simulated time 0.0 s: nothing to report (a run stopped at once?)"
    assert capsys.readouterr().err == f"error: {out / 'events.jsonl'}: {reason}\n"
    assert not (out / "report").exists()


def test_a_summary_that_cannot_be_read_is_named(
    interrupted: Callable[[float], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Only a missing summary.json is a run that did not end."""
    out = interrupted(3600.0)
    (out / "summary.json").mkdir()
    assert main(["report", str(out)]) == 2
    reason = "cannot read it: Is a directory"
    assert capsys.readouterr().err == f"error: {out / 'summary.json'}: {reason}\n"


async def test_a_twin_run_directory_is_reported(
    default_scenario_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed, it did not stop: a note says so. Resumed and stopped (Ctrl-C), the report names
    the scenario, seed and rule of its run.json and says where its KPIs come from."""
    out = tmp_path / "live"
    args = _args(tmp_path, out, "--telemetry", "none", "--speed", "2000")
    running = await start_cli(str(default_scenario_path), *args)
    try:
        await _logged_past(out / "events.jsonl", 3600.0, deadline_s=30)
    finally:
        await running.kill()
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    said = capsys.readouterr().out
    assert said.startswith(
        f"{out}: note: the run did not stop (it still runs, or was killed); reported up to its"
        " last event, at simulated time "
    ), said
    page = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert "The run did not stop (it still runs, or was killed)." in page

    resumed = await start_cli(str(default_scenario_path), *args, "--resume")
    await resumed.stop()
    stopped = _last_time(out / "events.jsonl")
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert capsys.readouterr().out == f"report: {out / 'report' / 'report.html'}\n"  # no note
    page = (out / "report" / "report.html").read_text(encoding="utf-8")
    assert (
        "No summary.json (twin run writes none). The KPIs are computed from the event log, up to"
        f" its last event at simulated time {stopped:.1f} s." in page
    )
    facts = f"<td>{default_scenario_path}</td><td>42</td><td>EDD</td><td>{stopped:.3f}</td>"
    assert facts in page
    assert list(_kpi_rows(page)) == ["cnc1", "robot1", "printer1", "vision1", "cell"]
