"""The backlog: orders waiting for a ``max_wip`` slot, released in the dispatching rule's order.

Order release is a dispatching decision: the next order to enter the cell is the one the
scenario's rule ranks first among those waiting (FIFO: the oldest; SPT: the least planned
work; EDD: the earliest due; CR, ATC: by their index now; ``twin.engine.dispatch``). Urgent
orders (the remake of a scrapped part) go before all others, first come first served among
themselves. Ties go by arrival (``Job.index``), so the release order is deterministic.

Two structures behind one interface, chosen by the rule:

- a rule whose rank of a waiting order stays fixed while it waits (FIFO, SPT, EDD:
  ``DispatchRule.release_key``) keeps a binary heap: adding and releasing an order cost
  O(log n) whatever the length of the backlog (an overloaded cell runs for weeks with ~20,000
  waiting). An order leaving otherwise (cancelled, revoked) or ranked again (updated) leaves
  a dead entry, skipped when it comes up; the heap is rebuilt without them when they
  outnumber the live ones.
- a rule whose rank changes with time (CR, ATC: ``DispatchRule.release_scores``) keeps the
  orders' due dates, planned work and weights as numpy columns in arrival order, and ranks
  them all at each release, vectorised (O(n): with 20,000 waiting orders a release costs
  ~30 us under CR, ~100 us under ATC, against ~1 us from the heap).

``head(n)`` (JobOrderList's next orders to be released) costs ~1-2 ms for the first 1,000 of
20,000; the heap keeps it while no change reaches it (an order arriving behind it).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from twin.engine.dispatch import DispatchRule
from twin.engine.jobs import Job

__all__ = ["Backlog", "make_backlog"]

_COMPACT_AT = 1024  # dead entries kept before they may be swept out


def make_backlog(rule: DispatchRule, now: Callable[[], float]) -> Backlog:
    """The backlog for ``rule``; ``now`` gives the simulated time (for CR and ATC)."""
    return _ScanBacklog(rule, now) if rule.timed else _HeapBacklog(rule)


class Backlog:
    """Orders waiting for release: ``add``, ``pop`` the next one, ``remove`` one leaving
    otherwise, ``rekey`` one whose order changed. ``len``, truth and iteration (in release
    order) as a sequence's; ``head(n)``: the next ``n`` to be released, cheaply.

    For a rule ranking by time (CR, ATC) the release order is the one now: the first is the
    order a release now takes, the others follow by their index now (ATC's p_mean of the
    whole backlog).
    """

    def __init__(self) -> None:
        self._urgent: deque[Job] = deque()

    def __len__(self) -> int:
        return len(self._urgent) + self._live()

    def __bool__(self) -> bool:
        return bool(self._urgent) or self._live() > 0

    def __iter__(self) -> Iterator[Job]:
        return iter(self.head(len(self)))

    def add(self, job: Job, urgent: bool = False) -> None:
        """``job`` waits for release; ``urgent``: before all others but earlier urgent ones."""
        if urgent:
            self._urgent.append(job)
        else:
            self._add(job)

    def pop(self) -> Job:
        """Take out the order to release now; IndexError when there is none."""
        if self._urgent:
            return self._urgent.popleft()
        return self._pop()

    def remove(self, job: Job) -> None:
        """Take out ``job`` (cancelled, revoked); ValueError when it is not waiting."""
        if not self._remove(job):
            self._urgent.remove(job)

    def rekey(self, job: Job) -> None:
        """Rank ``job`` again after its due date, work or weight changed (it keeps its
        arrival, so its place among ties)."""
        if self._remove(job):
            self._add(job)

    def head(self, n: int) -> list[Job]:
        """The next ``n`` orders to be released (fewer if fewer wait), in release order."""
        first = list(itertools.islice(self._urgent, n))
        if len(first) < n:
            first += self._head(n - len(first))
        return first

    # the rule's structure
    def _live(self) -> int:
        raise NotImplementedError

    def _add(self, job: Job) -> None:
        raise NotImplementedError

    def _pop(self) -> Job:
        raise NotImplementedError

    def _remove(self, job: Job) -> bool:
        """Take out ``job`` if ranked here (False: not here)."""
        raise NotImplementedError

    def _head(self, n: int) -> list[Job]:
        raise NotImplementedError


class _HeapBacklog(Backlog):
    """A heap of entries ``[key, arrival, entry number, job or None when dead]`` (the entry
    number keeps a dead entry from ever comparing its None with a live one of the same job).

    The last head asked for is kept while no change reaches it (JobOrderList asks for it after
    every change of the cell, and most are orders arriving behind it): an entry added or taken
    out after its last entry leaves it as it is."""

    def __init__(self, rule: DispatchRule) -> None:
        super().__init__()
        self._key = rule.release_key
        self._heap: list[list[Any]] = []
        self._entries: dict[Job, list[Any]] = {}
        self._count = itertools.count()
        self._head_n = 0
        self._head_entries: list[list[Any]] | None = None

    def _reaches_head(self, entry: list[Any]) -> bool:
        cached = self._head_entries
        return cached is not None and (len(cached) < self._head_n or entry <= cached[-1])

    def _live(self) -> int:
        return len(self._entries)

    def _add(self, job: Job) -> None:
        entry = [self._key(job), job.index, next(self._count), job]
        self._entries[job] = entry
        heapq.heappush(self._heap, entry)
        if self._reaches_head(entry):
            self._head_entries = None

    def _pop(self) -> Job:
        heap, pop = self._heap, heapq.heappop
        while heap:
            job = pop(heap)[3]
            if job is not None:
                del self._entries[job]
                self._head_entries = None
                return job
        raise IndexError("pop from an empty backlog")

    def _remove(self, job: Job) -> bool:
        entry = self._entries.pop(job, None)
        if entry is None:
            return False
        if self._reaches_head(entry):
            self._head_entries = None
        entry[3] = None
        dead = len(self._heap) - len(self._entries)
        if dead > _COMPACT_AT and dead > len(self._entries):
            self._heap = [e for e in self._heap if e[3] is not None]
            heapq.heapify(self._heap)
        return True

    def _head(self, n: int) -> list[Job]:
        cached = self._head_entries
        if cached is None or n != self._head_n:
            live = (e for e in self._heap if e[3] is not None)
            cached = self._head_entries = heapq.nsmallest(n, live)
            self._head_n = n
        return [e[3] for e in cached]


class _ScanBacklog(Backlog):
    """Numpy columns (due, work, weight, live) with one slot per order in arrival order, and
    the orders in a parallel list; slots of orders gone are dead until swept out. The last
    head asked for is kept until the time or the backlog changes."""

    def __init__(self, rule: DispatchRule, now: Callable[[], float]) -> None:
        super().__init__()
        self._scores = rule.release_scores
        self._now = now
        self._jobs: list[Job | None] = []
        self._slot: dict[Job, int] = {}
        size = 256
        self._due = np.zeros(size)
        self._work = np.zeros(size)
        self._weight = np.zeros(size)
        self._alive = np.zeros(size, dtype=bool)
        self._changes = 0
        self._head_key: tuple[float, int, int] | None = None
        self._head_jobs: list[Job] = []

    def _live(self) -> int:
        return len(self._slot)

    def _add(self, job: Job) -> None:
        i = len(self._jobs)
        if i == len(self._due):
            if i - len(self._slot) >= i // 2:
                self._sweep()
            else:
                for name in ("_due", "_work", "_weight", "_alive"):
                    column = getattr(self, name)
                    grown = np.zeros(2 * i, dtype=column.dtype)
                    grown[:i] = column
                    setattr(self, name, grown)
            i = len(self._jobs)
        self._jobs.append(job)
        self._slot[job] = i
        self._set(i, job)

    def _set(self, i: int, job: Job) -> None:
        self._due[i], self._work[i], self._weight[i] = job.due, job.work, job.weight
        self._alive[i] = True
        self._changes += 1

    def rekey(self, job: Job) -> None:
        i = self._slot.get(job)
        if i is not None:  # in place: its slot is its arrival
            self._set(i, job)

    def _ranks(self) -> np.ndarray:
        n = len(self._jobs)
        live = self._alive[:n]
        scores = self._scores(self._due[:n], self._work[:n], self._weight[:n], live, self._now())
        return np.where(live, scores, np.inf)

    def _pop(self) -> Job:
        if not self._slot:
            raise IndexError("pop from an empty backlog")
        i = int(np.argmin(self._ranks()))  # the first of equals: the earliest arrival
        job = self._jobs[i]
        assert job is not None
        self._drop(job)
        return job

    def _remove(self, job: Job) -> bool:
        if job not in self._slot:
            return False
        self._drop(job)
        return True

    def _drop(self, job: Job) -> None:
        i = self._slot.pop(job)
        self._jobs[i] = None
        self._alive[i] = False
        self._changes += 1
        dead = len(self._jobs) - len(self._slot)
        if dead > _COMPACT_AT and dead > len(self._slot):
            self._sweep()

    def _sweep(self) -> None:
        """Drop the dead slots, keeping the live ones in arrival order."""
        n = len(self._jobs)
        keep = np.flatnonzero(self._alive[:n])
        m = keep.size
        for column in (self._due, self._work, self._weight, self._alive):
            column[:m] = column[keep]
            column[m:] = 0
        self._jobs = [self._jobs[i] for i in keep.tolist()]
        self._slot = {job: i for i, job in enumerate(self._jobs) if job is not None}

    def _head(self, n: int) -> list[Job]:
        key = (self._now(), self._changes, n)
        if key != self._head_key:
            ranks = self._ranks()
            order = np.argsort(ranks, kind="stable")  # equals by arrival
            order = order[self._alive[order]][:n]
            jobs = self._jobs
            self._head_jobs = [jobs[i] for i in order.tolist()]
            self._head_key = key
        return list(self._head_jobs)
