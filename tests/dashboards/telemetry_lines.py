"""Line protocol of a simulated run, for loading into InfluxDB in the dashboard tests.

The lines come from the telemetry file sink, exactly as a user gets them:
``twin simulate --telemetry file`` writes ``RUN_DIR/telemetry.lp.gz``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from twin.cli import main

__all__ = ["sink_lines"]


def sink_lines(
    scenario: Path, run_dir: Path, until: str, signals: str, commands: list[str] | None = None
) -> list[str]:
    """Lines written by the file sink of ``twin simulate``; fails when the file is missing.
    ``commands`` are command events (JSON lines) applied at their times, as ``--replay``
    applies a recorded run's commands."""
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
        ]
    )
    assert code == 0, f"twin simulate exited with {code}"
    with gzip.open(run_dir / "telemetry.lp.gz", "rt", encoding="utf-8") as fh:
        return [ln for ln in fh.read().splitlines() if ln]
