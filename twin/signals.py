"""SignalStore: every process value as a registered signal in numpy arrays, read in batches.

Producers write contiguous blocks (one machine's signals at once); consumers call
``changes_since(version)`` and get a ``SignalBatch`` of only the signals that changed, never
one callback per value. Versions are monotonic per store.

A signal can be *pinned* to an external source (an adapter mirroring a PLC tag): block writes
of the machine models then leave it alone, and only ``write`` by index changes it.

Each signal also has a *quality*: ``GOOD``, or ``STALE`` when its source is known to be lost
(a PLC link down) and the value is only the last usable one. Only ``set_quality`` changes it
(a change is versioned like a value change, so consumers see it in their next batch);
``write_block`` never looks at it, since simulated signals are always good.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GOOD", "STALE", "STATUS_CODE", "SignalBatch", "SignalSpec", "SignalStore"]

#: Quality of a signal: its source delivers it.
GOOD = 0
#: Quality of a signal: its source is lost; the value is the last usable one, and its
#: timestamp that of the last good value.
STALE = 1
#: The OPC UA status code of each quality, indexed by it (Good, Uncertain_LastUsableValue):
#: what OPC UA clients and the telemetry's ``quality`` field see.
STATUS_CODE = np.array([0x00000000, 0x40900000], dtype=np.uint32)


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """What a signal is: local name, engineering unit, expected range and meaning."""

    name: str
    unit: str
    low: float
    high: float
    description: str = ""


@dataclass(frozen=True, slots=True)
class SignalBatch:
    """Changed signals: parallel arrays of store indices, values, timestamps (sim seconds) and
    qualities (``GOOD``, ``STALE``)."""

    indices: np.ndarray
    values: np.ndarray
    timestamps: np.ndarray
    version: int
    quality: np.ndarray

    def __len__(self) -> int:
        return int(self.indices.size)


class SignalStore:
    """Registry and current values of all signals.

    Invariant: ``versions[i] <= version`` for every signal ``i``; a signal's version is the
    store version of the write that last changed its value or its quality.
    """

    def __init__(self, capacity: int = 256) -> None:
        self._paths: list[str] = []
        self._specs: list[SignalSpec] = []
        self._index: dict[str, int] = {}
        self.values = np.zeros(capacity, dtype=np.float64)
        self.timestamps = np.zeros(capacity, dtype=np.float64)
        self.versions = np.zeros(capacity, dtype=np.int64)
        self.quality = np.zeros(capacity, dtype=np.uint8)  # GOOD
        self.version = 0
        self._pinned = np.zeros(capacity, dtype=bool)
        self._any_pinned = False

    def __len__(self) -> int:
        return len(self._paths)

    def register(self, path: str, spec: SignalSpec) -> int:
        """Add a signal under a unique ``path``; returns its index. Raises ValueError on clash."""
        if path in self._index:
            raise ValueError(f"signal {path!r} registered twice")
        n = len(self._paths)
        if n == self.values.size:
            for name in ("values", "timestamps", "versions", "quality", "_pinned"):
                arr = getattr(self, name)
                setattr(self, name, np.concatenate([arr, np.zeros_like(arr)]))
        self._paths.append(path)
        self._specs.append(spec)
        self._index[path] = n
        return n

    def register_block(self, prefix: str, specs: list[SignalSpec]) -> slice:
        """Register ``specs`` under ``prefix.name`` contiguously; returns their slice."""
        start = len(self._paths)
        for spec in specs:
            self.register(f"{prefix}.{spec.name}", spec)
        return slice(start, start + len(specs))

    def index(self, path: str) -> int:
        """Index of ``path``; raises KeyError naming the path when unknown."""
        try:
            return self._index[path]
        except KeyError:
            raise KeyError(f"unknown signal {path!r}") from None

    def path(self, index: int) -> str:
        return self._paths[index]

    def spec(self, index: int) -> SignalSpec:
        return self._specs[index]

    @property
    def paths(self) -> list[str]:
        return list(self._paths)

    def get(self, path: str) -> float:
        return float(self.values[self.index(path)])

    def pin(self, index: int) -> None:
        """Hand signal ``index`` to an external source: ``write_block`` no longer changes it."""
        self._pinned[index] = True
        self._any_pinned = True

    def pinned(self, index: int) -> bool:
        return bool(self._pinned[index])

    def write_block(self, block: slice, values: np.ndarray, t: float) -> int:
        """Write one contiguous block; only entries whose value changed get a new version.
        Pinned signals keep their value. Returns the number of changed signals.
        """
        current = self.values[block]
        changed = current != values
        if self._any_pinned:
            changed &= ~self._pinned[block]
        n = int(np.count_nonzero(changed))
        if n:
            self.version += 1
            current[changed] = values[changed]
            self.timestamps[block][changed] = t
            self.versions[block][changed] = self.version
        return n

    def write(self, indices: np.ndarray, values: np.ndarray, t: float) -> int:
        """Write arbitrary signals (by index); same versioning as ``write_block``."""
        changed = self.values[indices] != values
        n = int(np.count_nonzero(changed))
        if n:
            self.version += 1
            idx = indices[changed]
            self.values[idx] = values[changed]
            self.timestamps[idx] = t
            self.versions[idx] = self.version
        return n

    def set_quality(self, indices: np.ndarray, quality: int, t: float | None = None) -> int:
        """Set the quality of signals ``indices`` (``GOOD`` or ``STALE``); those whose quality
        changes get a new version, and with ``t`` also that timestamp (a value confirmed good
        again is current as of ``t``; a value going stale keeps the time it was last good).
        Returns the number of changed signals."""
        changed = self.quality[indices] != quality
        n = int(np.count_nonzero(changed))
        if n:
            self.version += 1
            idx = indices[changed]
            self.quality[idx] = quality
            self.versions[idx] = self.version
            if t is not None:
                self.timestamps[idx] = t
        return n

    def changes_since(self, version: int) -> SignalBatch:
        """Signals changed after ``version`` (use the returned batch's version next time)."""
        n = len(self._paths)
        idx = np.flatnonzero(self.versions[:n] > version)
        return SignalBatch(
            idx,
            self.values[idx].copy(),
            self.timestamps[idx].copy(),
            self.version,
            self.quality[idx],  # fancy indexing: already a copy
        )
