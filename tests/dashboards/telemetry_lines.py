"""Line protocol of a simulated run, for loading into InfluxDB in the dashboard tests.

The lines come from the telemetry file sink, exactly as a user gets them:
``twin simulate --telemetry file`` writes ``RUN_DIR/telemetry.lp.gz``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from tests.telemetry.lp import parse_lines
from twin.cli import main

__all__ = ["run_of", "sink_lines"]


def sink_lines(
    scenario: Path,
    run_dir: Path,
    until: str,
    signals: str,
    commands: list[str] | None = None,
    *options: str,
) -> list[str]:
    """Lines written by the file sink of ``twin simulate``; fails when the file is missing.
    ``commands`` are command events (JSON lines) applied at their times, as ``--replay``
    applies a recorded run's commands; ``options`` are more options (``--seed``, ``7``)."""
    replay: list[str] = []
    if commands:
        log = run_dir / "commands.jsonl"
        log.write_text("".join(f"{c}\n" for c in commands), encoding="utf-8")
        replay = ["--replay", str(log)]
    code = main(
        [
            "simulate",
            str(scenario),
            *replay,
            "--telemetry",
            "file",
            "--signals",
            signals,
            "--until",
            until,
            "--out",
            str(run_dir),
            "--quiet",
            "--no-plots",
            *options,
        ]
    )
    assert code == 0, f"twin simulate exited with {code}"
    with gzip.open(run_dir / "telemetry.lp.gz", "rt", encoding="utf-8") as fh:
        return [ln for ln in fh.read().splitlines() if ln]


def run_of(lines: list[str]) -> str:
    """The run id every line carries (its ``run`` tag); fails when a line has none or
    another run's."""
    runs = {p.tags.get("run") for p in parse_lines("\n".join(lines))}
    assert len(runs) == 1, f"lines of {len(runs)} runs (None: without a run tag): {runs}"
    (run,) = runs
    assert run is not None
    return run
