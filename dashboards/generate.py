"""Build the dashboards and write (or check) their committed JSON.

``python -m dashboards`` rewrites ``dashboards/json/*.json``; ``python -m dashboards --check``
exits 1 and names the stale files when the committed JSON differs from the builders' output.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

from dashboards import JSON_DIR, cell_overview, jobs, machine_detail

__all__ = ["BUILDERS", "build_all", "main", "render", "stale", "write_all"]

# file stem -> builder; the file names are what the provisioning and `push` pick up
BUILDERS: dict[str, Callable[[], cogbuilder.Builder[model.Dashboard]]] = {
    "cell-overview": cell_overview.build,
    "machine-detail": machine_detail.build,
    "jobs": jobs.build,
}


def build_all() -> dict[str, dict[str, Any]]:
    """Every dashboard as a JSON-compatible dict, keyed by file stem."""
    return {
        name: json.loads(json.dumps(build().build(), cls=JSONEncoder))
        for name, build in BUILDERS.items()
    }


def render(dashboard: dict[str, Any]) -> str:
    """The canonical file text of a dashboard: sorted keys, 2-space indent, final newline."""
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_all(directory: Path = JSON_DIR) -> list[Path]:
    """Write every dashboard to ``directory``; remove JSON files no builder produces."""
    directory.mkdir(parents=True, exist_ok=True)
    built = build_all()
    written = []
    for name, d in built.items():
        path = directory / f"{name}.json"
        path.write_text(render(d), encoding="utf-8")
        written.append(path)
    for old in directory.glob("*.json"):
        if old.stem not in built:
            old.unlink()
    return written


def stale(directory: Path = JSON_DIR) -> list[str]:
    """Names of files in ``directory`` that are missing, differ from the builders, or extra."""
    built = build_all()
    out = []
    for name, d in built.items():
        path = directory / f"{name}.json"
        if not path.is_file() or path.read_text(encoding="utf-8") != render(d):
            out.append(path.name)
    out += [p.name for p in sorted(directory.glob("*.json")) if p.stem not in built]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of ``python -m dashboards``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m dashboards", description=__doc__)
    parser.add_argument("--out", type=Path, default=JSON_DIR, help="output directory")
    parser.add_argument(
        "--check", action="store_true", help="only check that the files are up to date"
    )
    args = parser.parse_args(argv)
    if args.check:
        bad = stale(args.out)
        for name in bad:
            print(f"stale: {args.out / name} (run: python -m dashboards)", file=sys.stderr)
        return 1 if bad else 0
    for path in write_all(args.out):
        print(f"wrote {path}")
    return 0
