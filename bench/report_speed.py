"""Report speed: ``twin report`` of a run whose telemetry file holds process signals.

Builds a run (``twin simulate scenarios/large.toml --until 30d --signals 10s --telemetry file``:
~1.6 M lines, 42 MB gzipped, 450 MB of text) unless given one, then, each in a fresh process:

- ``report``: ``twin report`` of the run (``build_report``);
- ``report without telemetry``: the same run without its telemetry file (no signal plots, the
  OEE over time from the event log), for comparison;
- ``read telemetry``: ``read_numeric_series`` of the telemetry file alone, then again under
  tracemalloc for the peak of what it allocates.

It prints, per step, wall and CPU seconds and peak memory: the process's maximum resident set
size (``resource.getrusage``: the interpreter, numpy and matplotlib included) and, for the
read, tracemalloc's peak (Python's allocations alone). Not a timed test: a measurement. Other
processes on the machine stretch the wall time; CPU time is steadier.

    .venv/bin/python bench/report_speed.py [--days 30] [--signals 10s] [--small]
        [--run DIR] [--keep] [--json]

``--small`` builds a 2-day run (a quick check); ``--run DIR`` reports an existing run. The run
built is removed at the end, whatever happened, unless ``--keep``; the line saying where it was
built goes to stderr, stdout holds the results alone.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "large.toml"
TELEMETRY = "telemetry.lp.gz"


def build_run(out: Path, days: float, signals: str, scenario: Path = SCENARIO) -> float:
    """Simulate ``scenario`` for ``days`` with signals every ``signals`` and the telemetry
    file into ``out``; returns the wall seconds it took."""
    from twin.cli import main

    args = ["simulate", str(scenario), "--until", f"{days * 86400:.0f}s", "--signals", signals]
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as printed:  # its KPI table
        code = main([*args, "--telemetry", "file", "--out", str(out), "-q", "--no-plots"])
    if code != 0:
        raise SystemExit(f"twin simulate failed with exit code {code}:\n{printed.getvalue()}")
    return time.perf_counter() - start


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _child(step: str, run_dir: Path) -> dict[str, Any]:
    """One step, in this (fresh) process: its seconds and peak memory."""
    warnings.simplefilter("ignore")  # a run cut short is measured as it is
    if step == "report":
        from twin.report.run_report import build_report

        with tempfile.TemporaryDirectory() as out:
            wall, cpu = time.perf_counter(), time.process_time()
            build_report(run_dir, Path(out))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": _peak_rss_mb()}
    from twin.report.telemetry_file import read_numeric_series

    wall, cpu = time.perf_counter(), time.process_time()
    series = read_numeric_series(run_dir / TELEMETRY)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    lines = sum(len(s.times_ns) for keyed in series.values() for s in keyed.values())
    held = sum(
        s.times_ns.nbytes + sum(f.nbytes for f in s.fields.values())
        for keyed in series.values()
        for s in keyed.values()
    )
    rss = _peak_rss_mb()
    del series
    tracemalloc.start()
    read_numeric_series(run_dir / TELEMETRY)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": rss,
        "traced_peak_mb": traced / 2**20,
        "points": lines,
        "series_mb": held / 2**20,
    }


def measure(step: str, run_dir: Path) -> dict[str, Any]:
    """``step`` ("report" or "read") of ``run_dir`` in a fresh process: its result, and the
    process's wall seconds (interpreter start and imports included). Exits with the step's
    error output when it fails."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", step, "--run", str(run_dir)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:  # its traceback, which check=True would keep to itself
        raise SystemExit(
            f"the {step!r} step of {run_dir} failed with exit code {done.returncode}:\n"
            f"{done.stderr.rstrip()}"
        )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - start
    return result


def without_telemetry(run_dir: Path, into: Path) -> Path:
    """A copy of ``run_dir`` in ``into`` without its telemetry file (nor an older report)."""
    copy = into / "run-without-telemetry"
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns(TELEMETRY, "report", "*spool*"))
    return copy


def measure_all(run_dir: Path, scratch: Path) -> dict[str, dict[str, Any]]:
    """Every step of the benchmark (see the module) on ``run_dir``."""
    return {
        "report": measure("report", run_dir),
        "report without telemetry": measure("report", without_telemetry(run_dir, scratch)),
        "read telemetry": measure("read", run_dir),
    }


def _print(run_dir: Path, results: dict[str, dict[str, Any]]) -> None:
    telemetry = run_dir / TELEMETRY
    print(f"run: {run_dir} ({telemetry.stat().st_size / 2**20:.1f} MB {TELEMETRY})")
    for step, r in results.items():
        print(
            f"{step:26} {r['wall_s']:7.2f} s wall {r['cpu_s']:7.2f} s CPU "
            f"{r['peak_rss_mb']:7.0f} MB peak RSS   (process {r['process_wall_s']:.2f} s wall)"
        )
    read = results["read telemetry"]
    print(
        f"{'':26} {read['points']:,} points, series {read['series_mb']:.0f} MB,"
        f" tracemalloc peak {read['traced_peak_mb']:.0f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--days", type=float, default=30.0, help="simulated days of the run")
    ap.add_argument("--signals", default="10s", help="signal sample period")
    ap.add_argument("--small", action="store_true", help="a 2-day run")
    ap.add_argument("--run", type=Path, help="report this run instead of building one")
    ap.add_argument("--keep", action="store_true", help="keep the run built")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--child", choices=["report", "read"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.run)))
        return
    built = None if args.run else Path(tempfile.mkdtemp(prefix="report-speed-run-"))
    try:
        with tempfile.TemporaryDirectory(prefix="report-speed-") as scratch:
            run_dir = args.run
            if built is not None:
                run_dir = built / "run"
                days = 2.0 if args.small else args.days
                wall = build_run(run_dir, days, args.signals)
                # stderr: what stdout holds is the results (JSON with --json)
                print(
                    f"built {days:g} days, signals every {args.signals}, in {wall:.1f} s:"
                    f" {run_dir}",
                    file=sys.stderr,
                )
            results = measure_all(run_dir, Path(scratch))
            if args.json:
                print(json.dumps(results, indent=2))
            else:
                _print(run_dir, results)
    finally:
        if built is not None and not args.keep:  # also when building or a step failed
            shutil.rmtree(built, ignore_errors=True)


if __name__ == "__main__":
    main()
