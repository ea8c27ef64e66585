"""Forced processing orders (``--sequence``): consistency with the routings, no deadlock."""

from __future__ import annotations

from twin.errors import ConfigError
from twin.model.scenario import OrderConfig
from twin.planning import PlannedOp

__all__ = ["check_sequence"]


def check_sequence(
    sequence: dict[str, list[str]],
    planned: list[tuple[OrderConfig, list[PlannedOp]]],
    machines: list[str],
) -> None:
    """Check a forced per-machine order against the routings; raises ConfigError naming the
    machine when a sequence lists other jobs than the routings send there, and when job order
    and machine order together form a cycle (the schedule would deadlock)."""
    visits: dict[str, list[str]] = {m: [] for m in machines}
    for order, ops in planned:
        for op in ops:
            if len(op.durations) != 1:
                raise ConfigError(
                    "sequence",
                    None,
                    f"order {order.id}: operation {op.req.name!r} has several eligible machines",
                )
            visits[op.candidates[0]].append(order.id)
    for mid, jobs in sequence.items():
        if mid not in visits:
            raise ConfigError("sequence", f"machine_sequences.{mid}", "unknown machine")
        if sorted(jobs) != sorted(visits[mid]):
            raise ConfigError(
                "sequence",
                f"machine_sequences.{mid}",
                f"lists jobs {sorted(jobs)} but the routings send {sorted(visits[mid])}",
            )
    for mid, jobs in visits.items():
        if jobs and mid not in sequence:
            raise ConfigError(
                "sequence", "machine_sequences", f"machine {mid} has operations but no sequence"
            )
    # a cycle between job order and machine order would deadlock: reject it up front
    succ: dict[tuple[str, int], list[tuple[str, int]]] = {}
    indeg: dict[tuple[str, int], int] = {}
    at: dict[tuple[str, str, int], tuple[str, int]] = {}
    for order, ops in planned:
        seen: dict[str, int] = {}
        for k, op in enumerate(ops):
            node = (order.id, k)
            succ.setdefault(node, [])
            indeg.setdefault(node, 0)
            if k:
                succ[(order.id, k - 1)].append(node)
                indeg[node] += 1
            mid = op.candidates[0]
            n = seen.get(mid, 0)
            seen[mid] = n + 1
            at[(mid, order.id, n)] = node
    for mid, jobs in sequence.items():
        count: dict[str, int] = {}
        prev = None
        for j in jobs:
            n = count.get(j, 0)
            count[j] = n + 1
            node = at[(mid, j, n)]
            if prev is not None:
                succ[prev].append(node)
                indeg[node] += 1
            prev = node
    ready = [node for node, d in indeg.items() if d == 0]
    done = 0
    while ready:
        node = ready.pop()
        done += 1
        for s in succ[node]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    if done != len(indeg):
        stuck = sorted(n for n, d in indeg.items() if d > 0)[0]
        raise ConfigError(
            "sequence",
            "machine_sequences",
            f"inconsistent with the routings: job {stuck[0]} operation "
            f"{stuck[1]} waits in a cycle (the schedule would deadlock)",
        )
