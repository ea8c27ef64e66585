"""Dispatching rules behind one interface: pick the next job from a machine's queue, and the
next order from the backlog to release into the cell (order release is a dispatching
decision too: ``twin.engine.backlog``).

Every rule ranks entries by a key (lower is better) and breaks ties by arrival sequence, so
the choice is deterministic.

- FIFO: first come, first served.
- SPT: shortest processing time on this machine; in the backlog, the shortest planned work
  of the whole job (``Job.work``: over its operations, the fastest eligible machine's time).
- EDD: earliest due date of the job.
- CR: critical ratio (due - now) / remaining work; smallest first.
- ATC: apparent tardiness cost, index (w/p) exp(-max(d - p - t, 0) / (k p_mean)); largest
  first. At a machine p is the planned time on it and p_mean their mean over its queue; in
  the backlog p is the job's planned work and p_mean its mean over the backlog.

FIFO, SPT and EDD rank a waiting order by a key that does not change while it waits
(``release_key``: the backlog keeps a heap); CR and ATC rank by time (``release_scores``,
over numpy columns of the whole backlog at each release).
"""

from __future__ import annotations

import math

import numpy as np

from twin.engine.jobs import Job, QueueEntry

__all__ = ["RULES", "DispatchRule", "make_rule"]


class DispatchRule:
    """Base rule: override ``key``; ``select`` returns the index of the chosen entry.

    For the backlog a rule overrides ``release_key`` (a rank fixed while the order waits),
    or sets ``timed`` and overrides ``release_scores`` (a rank that changes with time).
    """

    name = "base"
    #: the rank of a waiting order changes with time: ``release_scores``, not ``release_key``
    timed = False

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

    def release_key(self, job: Job) -> float:
        """The rank of ``job`` waiting in the backlog (lower is released first; ties by
        arrival); it must not change while the job waits, unless the job itself is changed
        (``Backlog.rekey``)."""
        raise NotImplementedError

    def release_scores(
        self, due: np.ndarray, work: np.ndarray, weight: np.ndarray, live: np.ndarray, now: float
    ) -> np.ndarray:
        """For a ``timed`` rule: the ranks now (lower first) of the backlog's orders, given
        as columns of their due dates, planned work (``Job.work``) and weights; ``live``
        marks the entries that are orders (the others are ranked anything: the caller skips
        them)."""
        raise NotImplementedError


class FIFO(DispatchRule):
    name = "FIFO"

    def select(self, queue: list[QueueEntry], now: float) -> int:
        # the queue is kept in arrival order
        return 0

    def key(self, entry: QueueEntry, now: float) -> float:
        return float(entry.seq)

    def release_key(self, job: Job) -> float:
        return 0.0  # every order ties: arrival order


class SPT(DispatchRule):
    name = "SPT"

    def key(self, entry: QueueEntry, now: float) -> float:
        return entry.planned

    def release_key(self, job: Job) -> float:
        return job.work


class EDD(DispatchRule):
    name = "EDD"

    def key(self, entry: QueueEntry, now: float) -> float:
        return entry.job.due

    def release_key(self, job: Job) -> float:
        return job.due


class CR(DispatchRule):
    name = "CR"
    timed = True

    def key(self, entry: QueueEntry, now: float) -> float:
        work = max(entry.job.remaining_work(), 1e-9)
        return (entry.job.due - now) / work

    def release_scores(
        self, due: np.ndarray, work: np.ndarray, weight: np.ndarray, live: np.ndarray, now: float
    ) -> np.ndarray:
        # a backlog job has done nothing yet: its remaining work is all of its work
        return (due - now) / np.maximum(work, 1e-9)


class ATC(DispatchRule):
    name = "ATC"
    timed = True

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

    def release_scores(
        self, due: np.ndarray, work: np.ndarray, weight: np.ndarray, live: np.ndarray, now: float
    ) -> np.ndarray:
        count = int(np.count_nonzero(live))
        p_mean = max(float(work[live].sum()) / count, 1e-9) if count else 1.0
        p = np.maximum(work, 1e-9)
        slack = np.maximum(due - p - now, 0.0)
        return -(weight / p * np.exp(-slack / (self.k * p_mean)))  # largest index first


RULES: dict[str, type[DispatchRule]] = {"FIFO": FIFO, "SPT": SPT, "EDD": EDD, "CR": CR, "ATC": ATC}


def make_rule(name: str, atc_k: float = 2.0) -> DispatchRule:
    """The rule called ``name`` (case-insensitive); raises ValueError listing the known ones."""
    cls = RULES.get(name.upper())
    if cls is None:
        raise ValueError(f"unknown dispatching rule {name!r} (known: {', '.join(RULES)})")
    return ATC(atc_k) if cls is ATC else cls()
