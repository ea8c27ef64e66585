"""``twin report RUN_DIR``: plots and a self-contained HTML page of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

__all__ = ["register"]


def report(
    run_dir: Annotated[Path, typer.Argument(help="run directory (twin simulate --out)")] = Path(
        "runs/latest"
    ),
    out: Annotated[
        Path | None, typer.Option(help="output directory (default RUN_DIR/report)")
    ] = None,
) -> None:
    """Gantt, state timeline, KPIs, OEE over time and process signals as PNG + report.html."""
    from twin.report.run_report import build_report  # matplotlib only when reporting

    page = build_report(run_dir, out)
    Console().print(f"report: {page}")


def register(app: typer.Typer) -> None:
    app.command()(report)
