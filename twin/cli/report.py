"""``twin report RUN_DIR``: plots and a self-contained HTML page of a run."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from twin.cli.rundir import EVENTS, latest_run_dir

__all__ = ["default_run_dir", "register"]

#: warnings for the twin's developers, hidden from its users by Python's default filters (and
#: errors in its tests): passed on as they came, not printed
_FOR_DEVELOPERS = (DeprecationWarning, PendingDeprecationWarning)


def default_run_dir() -> Path:
    """The run directory ``twin report`` reports when given none: of the directories
    ``twin run`` and ``twin simulate`` write by default, the one whose event log changed
    last."""
    return latest_run_dir("RUN_DIR", lambda d: (d / EVENTS,), "has a run")


def report(
    run_dir: Annotated[
        Path | None,
        typer.Argument(
            help="run directory (default: runs/live, where twin run writes, or runs/latest,"
            " where twin simulate writes: the one whose event log changed last)",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="output directory (default RUN_DIR/report)")
    ] = None,
) -> None:
    """Gantt, state timeline, KPIs and time per machine, OEE over time and process signals
    as PNG + report.html."""
    from twin.report.run_report import build_report  # matplotlib only when reporting
    from twin.report.telemetry_file import CutShort

    console = Console()
    if run_dir is None:
        run_dir = default_run_dir()
        console.print(f"report of {run_dir}", soft_wrap=True, markup=False)
    with warnings.catch_warnings(record=True) as caught:
        # a telemetry file or event log cut off by a killed run is reported up to the cut,
        # as is a run that did not end (no summary.json), with a note; a library's warning
        # (matplotlib's) is one line too, never a source line
        warnings.simplefilter("always")
        page = build_report(run_dir, out)
    printed: set[str] = set()  # a warning of every plot alike: once
    for warning in caught:
        note = warning.message
        if isinstance(note, CutShort):
            console.print(
                f"{note.source}: note: {note.reason}", style="yellow", soft_wrap=True, markup=False
            )
        elif issubclass(warning.category, _FOR_DEVELOPERS):  # as if never caught
            warnings.warn_explicit(
                note, warning.category, warning.filename, warning.lineno, source=warning.source
            )
        elif (line := f"warning: {' '.join(str(note).split())}") not in printed:
            printed.add(line)
            print(line, file=sys.stderr)
    console.print(f"report: {page}", soft_wrap=True, markup=False)


def register(app: typer.Typer) -> None:
    app.command()(report)
