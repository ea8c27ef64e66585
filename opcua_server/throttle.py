"""Login throttling of the OPC UA server: failed logins per user name and per client address,
temporary locks, and a budget of password checks.

A password check costs scrypt (N = 2^17: 128 MiB, a few tenths of a second; it runs on a
worker thread, one at a time, ``TwinUserManager.prepared``). So guesses are bounded twice:
each name and address gets a few free failures and then locks that double with each further
failure; and all password checks together get a budget per second.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from twin.clock import Clock, SystemClock

__all__ = ["LoginThrottle"]


@dataclass(slots=True)
class _Failures:
    count: int
    last: float  # clock time of the last failure
    until: float  # locked until this clock time (no lock when in the past)


class LoginThrottle:
    """Counts failed logins per key (a user name, a client address) and locks keys.

    The ``limit``-th consecutive failure of a key (or its own limit, given to ``failed``) locks
    it for ``base_s`` seconds, and each further one for twice as long as the one before, up to
    ``cap_s`` (with the defaults: four failures cost nothing, the fifth locks for 1 s, then 2,
    4 ... up to 300 s). While
    a key is locked its logins are refused unchecked, a right password's too: a lock that a
    right password lifted would tell a guesser when it guessed right. A success resets the
    keys of the login; a key with no failure for ``forget_s`` (and no lock) is forgotten; at
    most ``max_entries`` keys are kept, the least recently failed dropped first, so a flood of
    names or addresses takes bounded memory (and, with the budget below, time to drop a lock).

    Budget: at most ``checks_per_s`` password checks per second on average, in bursts of up to
    ``burst``; ``take_check`` says whether one may run now. A refused check counts as no
    failure. Time comes from ``clock`` (its ``monotonic``): tests drive it by hand.
    """

    def __init__(
        self,
        *,
        limit: int = 5,
        base_s: float = 1.0,
        cap_s: float = 300.0,
        forget_s: float = 3600.0,
        max_entries: int = 4096,
        checks_per_s: float = 4.0,
        burst: int = 16,
        clock: Clock | None = None,
    ) -> None:
        if limit < 1 or max_entries < 1 or burst < 1 or not 0 < base_s <= cap_s:
            raise ValueError("limit, max_entries, burst >= 1 and 0 < base_s <= cap_s")
        if not checks_per_s > 0 or not forget_s >= cap_s:
            raise ValueError("checks_per_s > 0 and forget_s >= cap_s")
        self.limit = limit
        self.base_s = base_s
        self.cap_s = cap_s
        self.forget_s = forget_s
        self.max_entries = max_entries
        self.checks_per_s = checks_per_s
        self.burst = burst
        self.clock: Clock = clock or SystemClock()
        # ordered by last failure, oldest first: pruning and eviction pop from the front
        self._failures: OrderedDict[str, _Failures] = OrderedDict()
        self._tokens = float(burst)
        self._refilled = self.clock.monotonic()

    def __len__(self) -> int:
        """How many keys are remembered now."""
        return len(self._failures)

    def locked_for(self, key: str) -> float:
        """Seconds ``key`` stays locked (0.0: not locked)."""
        entry = self._failures.get(key)
        if entry is None:
            return 0.0
        return max(0.0, entry.until - self.clock.monotonic())

    def failures(self, key: str) -> int:
        """Consecutive failures counted for ``key``."""
        entry = self._failures.get(key)
        return 0 if entry is None else entry.count

    def failed(
        self, keys: Iterable[str], limits: Mapping[str, int] | None = None
    ) -> dict[str, float]:
        """Count a failed login for each key; returns the keys it locks, with the lock's
        seconds. ``limits``: the failures that lock a key, for keys whose limit is not
        ``limit``."""
        now = self.clock.monotonic()
        self._prune(now)
        locked: dict[str, float] = {}
        for key in keys:
            limit = (limits or {}).get(key, self.limit)
            entry = self._failures.pop(key, None) or _Failures(0, now, now)
            entry.count += 1
            entry.last = now
            if entry.count >= limit:
                seconds = min(self.base_s * 2.0 ** (entry.count - limit), self.cap_s)
                entry.until = now + seconds
                locked[key] = seconds
            self._failures[key] = entry  # to the end: most recent failure
        while len(self._failures) > self.max_entries:
            self._failures.popitem(last=False)
        return locked

    def succeeded(self, keys: Iterable[str]) -> None:
        """A successful login: forget the keys' failures."""
        for key in keys:
            self._failures.pop(key, None)

    def forget(self, key: str) -> None:
        """Drop ``key``'s failures and lock, and those of the keys it scopes (``key`` followed
        by " at ...", e.g. a user name at one address): its password was reset."""
        self._failures.pop(key, None)
        for scoped in [k for k in self._failures if k.startswith(f"{key} at ")]:
            del self._failures[scoped]

    def take_check(self) -> bool:
        """True if a password check may run now (and count it against the budget)."""
        now = self.clock.monotonic()
        elapsed = max(0.0, now - self._refilled)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.checks_per_s)
        self._refilled = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def _prune(self, now: float) -> None:
        # forget_s >= cap_s: an entry forgotten is no longer locked
        while self._failures:
            entry = next(iter(self._failures.values()))
            if now - entry.last < self.forget_s:
                break
            self._failures.popitem(last=False)
