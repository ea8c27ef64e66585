"""``twin report`` as a planner and a new user read it: job colours that cannot pass for the
states the Gantt names, a live run with no OEE yet reported without a library's warning,
ratios in percent and machines in the scenario's order (as ``twin simulate`` prints and
draws them), each machine's time split (processing, setup, down, planned down, idle), and a
run directory that does not exist named as such."""

from __future__ import annotations

import colorsys
import html
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.axes
import pytest
from matplotlib.colors import to_rgb

import twin.report.run_report
from twin.cli import main
from twin.events import EventLogWriter, OperationFinished, OperationStarted
from twin.report.plots import plot_gantt

SCENARIO_ORDER = ["cnc1", "robot1", "printer1", "vision1"]  # scenarios/default.toml's
# hues of the states the Gantt's title names: red (out of service), orange (rework), violet
# (setup); grey (not available) is any colour of little saturation
STATE_HUES = {"red": 0.0, "orange": 0.08, "violet": 0.75}


def _confusable(colour: Any) -> str | None:
    """The state colour ``colour`` could be taken for, if any."""
    hue, saturation, _ = colorsys.rgb_to_hsv(*to_rgb(colour))
    if saturation < 0.25:
        return "grey"
    for name, h in STATE_HUES.items():
        if min(abs(hue - h), 1 - abs(hue - h)) < 0.1:
            return name
    return None


def test_no_job_is_drawn_in_a_state_colour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A planner read a grey job as a machine not available: no job colour is red, orange,
    violet or grey, whatever its id."""
    path = tmp_path / "events.jsonl"
    with path.open("wb") as fh:
        write = EventLogWriter(fh)
        for i in range(200):  # ids enough to meet every colour of the palette
            job = f"SO-{1000 + i}"
            write(OperationStarted(10.0 * i, job, 0, "mill", "cnc1", 8.0, False))
            write(OperationFinished(10.0 * i + 8, job, 0, "mill", "cnc1", 8.0, 8.0, True, False))
        write.flush()
    drawn: list[Any] = []
    barh = matplotlib.axes.Axes.broken_barh

    def spy(self: Any, xranges: Any, yrange: Any, **kwargs: Any) -> Any:
        drawn.extend(kwargs.get("facecolors") or [])  # no state segments: jobs alone
        return barh(self, xranges, yrange, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "broken_barh", spy)
    plot_gantt(path, ["cnc1"], tmp_path / "gantt.png", 2000.0)
    assert len(drawn) == 200
    clashes = {str(c): _confusable(c) for c in drawn if _confusable(c)}
    assert clashes == {}


@pytest.fixture
def run(six_hour_run: Callable[..., Path], tmp_path: Path) -> Path:
    """A copy of a six-hour run of the default cell without telemetry."""
    copy = tmp_path / "run"
    shutil.copytree(six_hour_run("--telemetry", "none"), copy)
    return copy


def _rows(page: str, heading: str) -> dict[str, list[str]]:
    """The table under ``heading``: first cell -> the other cells, in the page's order."""
    table = page.split(f"<h2>{heading}</h2>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(<td>.*?)</tr>", table)
    cells = [[html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", row)] for row in rows]
    return {row[0]: row[1:] for row in cells}


def test_a_live_run_without_an_oee_yet_has_no_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``twin report runs/live`` three minutes in: the telemetry has KPIs but no OEE (nothing
    produced to rate), and no matplotlib warning about an empty legend comes out."""
    out = tmp_path / "live"
    args = ["simulate", "scenarios/default.toml", "--until", "3m", "-q", "--no-plots"]
    assert main([*args, "--telemetry", "file", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert capsys.readouterr() == (f"report: {out / 'report' / 'report.html'}\n", "")


def test_a_library_warning_is_one_line(
    run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What a plotting library warns of is a ``warning:`` line, once, never its source."""
    plot_oee = twin.report.run_report.plot_oee

    def warning(*args: Any) -> None:
        for _ in range(2):
            warnings.warn("Tight layout not applied.\n  Something else", UserWarning, stacklevel=1)
        plot_oee(*args)

    monkeypatch.setattr(twin.report.run_report, "plot_oee", warning)
    assert main(["report", str(run)]) == 0
    captured = capsys.readouterr()
    assert captured.err == "warning: Tight layout not applied. Something else\n"
    assert captured.out == f"report: {run / 'report' / 'report.html'}\n"


def test_percent_and_the_scenario_order_everywhere(
    run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The KPI table in percent as ``twin simulate`` prints it; its rows, the Gantt, the
    state timeline and the KPI plot in the scenario's order, not sorted by name."""
    drawn: dict[str, list[str]] = {}
    module = twin.report.run_report

    def spy(name: str, machines: Callable[..., list[str]]) -> None:
        plot = getattr(module, name)

        def recorded(*args: Any, **kwargs: Any) -> None:
            drawn[name] = machines(*args)
            plot(*args, **kwargs)

        monkeypatch.setattr(module, name, recorded)

    spy("plot_gantt", lambda path, machines, *rest: list(machines))
    spy("plot_states", lambda segments, *rest: list(segments))
    spy("plot_kpis", lambda kpis, *rest: list(kpis["machines"]))
    assert main(["report", str(run)]) == 0
    assert drawn == dict.fromkeys(("plot_gantt", "plot_states", "plot_kpis"), SCENARIO_ORDER)
    page = (run / "report" / "report.html").read_text(encoding="utf-8")
    rows = _rows(page, "KPIs")
    assert list(rows) == [*SCENARIO_ORDER, "cell"]
    summary = module._load_json(run / "summary.json")
    cnc = summary["kpis"]["machines"]["cnc1"]
    assert rows["cnc1"][:5] == [
        f"{cnc[k]:.1%}"
        for k in ("availability", "effectiveness", "quality_ratio", "oee", "utilisation")
    ]
    assert rows["cnc1"][5] == str(cnc["produced"])


def test_the_time_split_of_each_machine(run: Path) -> None:
    """Processing, setup, down, planned down and idle in percent of each machine's time
    (of all its machines' time for the cell): the levers of utilisation."""
    assert main(["report", str(run)]) == 0
    page = (run / "report" / "report.html").read_text(encoding="utf-8")
    rows = _rows(page, "Time per machine")
    assert list(rows) == [*SCENARIO_ORDER, "cell"]
    kpis = twin.report.run_report._load_json(run / "summary.json")["kpis"]
    for machine, shown in rows.items():
        k = kpis["cell"] if machine == "cell" else kpis["machines"][machine]
        seconds = [k[key] for key in ("apt_s", "setup_s", "down_s", "planned_down_s", "idle_s")]
        assert shown == [f"{s / sum(seconds):.1%}" for s in seconds], machine
    assert float(rows["cnc1"][1].rstrip("%")) > 0  # the CNC's setups, which were nowhere


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: None, "no such directory"),
        (lambda p: p.write_text("a file"), "not a directory"),
    ],
)
def test_a_run_directory_that_is_not_there_is_named(
    make: Callable[[Path], object], reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nonexistent"
    make(path)
    assert main(["report", str(path)]) == 2
    assert capsys.readouterr().err == f"error: {path}: {reason}\n"
