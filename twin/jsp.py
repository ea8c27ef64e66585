"""Classic job-shop instances (JSPLIB / OR-Library format) as scenarios."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twin.errors import ConfigError
from twin.model.loader import read_text
from twin.text import plural

__all__ = ["jsp_scenario", "parse_jsp"]


def parse_jsp(path: str | Path) -> list[list[tuple[int, int]]]:
    """Jobs as lists of (machine, duration); raises ConfigError naming the line."""
    p = Path(path)
    text = read_text(p)
    lines = [
        (n, ln.split())
        for n, ln in enumerate(text.splitlines(), 1)
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    if not lines:
        raise ConfigError(str(p), None, "no data: expected a 'jobs machines' line")
    n0, head = lines[0]
    try:
        n_jobs, n_machines = (int(x) for x in head)
    except ValueError:
        raise ConfigError(str(p), f"line {n0}", "expected 'jobs machines'") from None
    if len(lines) - 1 != n_jobs:
        raise ConfigError(
            str(p), None, f"header says {plural(n_jobs, 'job')}, found {len(lines) - 1}"
        )
    jobs = []
    for n, parts in lines[1:]:
        try:
            nums = [int(x) for x in parts]
        except ValueError:
            raise ConfigError(str(p), f"line {n}", "expected integer pairs") from None
        if len(nums) % 2:
            raise ConfigError(str(p), f"line {n}", "odd number of values (machine/duration)")
        ops = list(zip(nums[0::2], nums[1::2], strict=True))
        for m, d in ops:
            if not 0 <= m < n_machines:
                raise ConfigError(
                    str(p), f"line {n}", f"machine {m} out of range 0..{n_machines - 1}"
                )
            if d < 0:
                raise ConfigError(str(p), f"line {n}", f"negative duration {d}")
        jobs.append(ops)
    return jobs


def jsp_scenario(path: str | Path, name: str | None = None) -> dict[str, Any]:
    """Scenario data (ready for TOML) with generic machines m0..m{M-1}, unbounded buffers, no
    robot, faults or setups, and one explicit-routing order per job, released at 0."""
    jobs = parse_jsp(path)
    n_machines = 1 + max(m for ops in jobs for m, _ in ops)
    total = sum(d for ops in jobs for _, d in ops)
    return {
        "name": name or Path(path).stem,
        "description": f"job-shop instance {Path(path).name}: "
        f"{len(jobs)} jobs x {n_machines} machines",
        "seed": 0,
        "horizon": float(max(total, 1) * 2),
        "rule": "FIFO",
        "max_wip": 0,
        "cell": {
            "name": "jobshop",
            "machines": [
                {"id": f"m{i}", "kind": "generic", "input_buffer": 0, "position": [float(i), 0.0]}
                for i in range(n_machines)
            ],
        },
        "orders": [
            {
                "id": f"J{j}",
                "release": 0.0,
                "product": {
                    "type": "explicit",
                    "operations": [
                        {"machine": f"m{m}", "duration": float(d), "name": f"J{j}-{k}"}
                        for k, (m, d) in enumerate(ops)
                    ],
                },
            }
            for j, ops in enumerate(jobs)
        ],
    }
