"""Dispatching rules behind one interface: pick the next job from a machine's queue.

Every rule ranks entries by a key (lower is better) and breaks ties by arrival sequence, so
the choice is deterministic.

- FIFO: first come, first served.
- SPT: shortest processing time on this machine.
- EDD: earliest due date of the job.
- CR: critical ratio (due - now) / remaining work; smallest first.
- ATC: apparent tardiness cost, index (w/p) exp(-max(d - p - t, 0) / (k p_mean)); largest first.
"""

from __future__ import annotations

import math

from twin.engine.jobs import QueueEntry

__all__ = ["RULES", "DispatchRule", "make_rule"]


class DispatchRule:
    """Base rule: override ``key``; ``select`` returns the index of the chosen entry."""

    name = "base"

    def select(self, queue: list[QueueEntry], now: float) -> int:
        if len(queue) == 1:
            return 0
        key = self.key
        best, best_key = 0, (key(queue[0], now), queue[0].seq)
        for i in range(1, len(queue)):
            e = queue[i]
            k = (key(e, now), e.seq)
            if k < best_key:
                best, best_key = i, k
        return best

    def key(self, entry: QueueEntry, now: float) -> float:
        raise NotImplementedError


class FIFO(DispatchRule):
    name = "FIFO"

    def select(self, queue: list[QueueEntry], now: float) -> int:
        # the queue is kept in arrival order
        return 0

    def key(self, entry: QueueEntry, now: float) -> float:
        return float(entry.seq)


class SPT(DispatchRule):
    name = "SPT"

    def key(self, entry: QueueEntry, now: float) -> float:
        return entry.planned


class EDD(DispatchRule):
    name = "EDD"

    def key(self, entry: QueueEntry, now: float) -> float:
        return entry.job.due


class CR(DispatchRule):
    name = "CR"

    def key(self, entry: QueueEntry, now: float) -> float:
        work = max(entry.job.remaining_work(), 1e-9)
        return (entry.job.due - now) / work


class ATC(DispatchRule):
    name = "ATC"

    def __init__(self, k: float = 2.0) -> None:
        self.k = k

    def select(self, queue: list[QueueEntry], now: float) -> int:
        if len(queue) == 1:
            return 0
        p_mean = max(sum(e.planned for e in queue) / len(queue), 1e-9)
        best, best_key = 0, (math.inf, 0)
        for i, e in enumerate(queue):
            p = max(e.planned, 1e-9)
            slack = max(e.job.due - p - now, 0.0)
            index = e.job.weight / p * math.exp(-slack / (self.k * p_mean))
            k = (-index, e.seq)
            if k < best_key:
                best, best_key = i, k
        return best

    def key(self, entry: QueueEntry, now: float) -> float:  # pragma: no cover - select overrides
        raise NotImplementedError


RULES: dict[str, type[DispatchRule]] = {"FIFO": FIFO, "SPT": SPT, "EDD": EDD, "CR": CR, "ATC": ATC}


def make_rule(name: str, atc_k: float = 2.0) -> DispatchRule:
    """The rule called ``name`` (case-insensitive); raises ValueError listing the known ones."""
    cls = RULES.get(name.upper())
    if cls is None:
        raise ValueError(f"unknown dispatching rule {name!r} (known: {', '.join(RULES)})")
    return ATC(atc_k) if cls is ATC else cls()
