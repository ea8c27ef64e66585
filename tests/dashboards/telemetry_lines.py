"""Line protocol of a simulated run, for loading into InfluxDB in the dashboard tests.

The lines come from the telemetry file sink, exactly as a user gets them:
``twin simulate --telemetry file`` writes ``RUN_DIR/telemetry.lp.gz``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from twin.cli import main

__all__ = ["sink_lines"]


def sink_lines(scenario: Path, run_dir: Path, until: str, signals: str) -> list[str]:
    """Lines written by the file sink of ``twin simulate``; fails when the file is missing."""
    code = main(
        [
            "simulate",
            str(scenario),
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
