"""``LinkRegistry``: the state of the twin's links to external sources (PLCs), neutrally.

Adapters report into it (``add`` when bound, ``report`` at each connect, failure and stop);
consumers (the OPC UA server's ``Adapters`` objects) read it and ``subscribe`` to changes.
It knows nothing of adapter kinds or protocols, so the twin can show a lost link without
importing any adapter. Reports and callbacks happen on the event loop thread that runs the
adapters; callbacks are called synchronously, in subscription order, and must not raise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime

__all__ = ["LinkRegistry", "LinkState"]


@dataclass(frozen=True, slots=True)
class LinkState:
    """One link as last reported.

    ``failures`` counts failed connects and lost links since the link last worked (a cycle
    completed: a link that connects and then fails each time counts up); ``total_failures``
    since the twin started. ``last_error`` is the last failure's reason, of the link or of a
    tag ("" if none), and stays after a reconnect. ``since`` is the wall time ``connected``
    last changed (the registration time until then). ``bad_tags``: one ``mapping: reason``
    per tag the PLC refuses now (the link goes on for the others).
    """

    name: str
    kind: str
    endpoint: str
    since: datetime
    connected: bool = False
    failures: int = 0
    total_failures: int = 0
    last_error: str = ""
    bad_tags: tuple[str, ...] = ()


class LinkRegistry:
    """The links of one twin, by name, in the order they were added."""

    def __init__(self) -> None:
        self._links: dict[str, LinkState] = {}
        self._listeners: list[Callable[[LinkState], None]] = []

    def __iter__(self) -> Iterator[LinkState]:
        return iter(list(self._links.values()))

    def get(self, name: str) -> LinkState:
        """The state of link ``name``; KeyError naming it when unknown."""
        try:
            return self._links[name]
        except KeyError:
            raise KeyError(f"unknown link {name!r}") from None

    def add(self, name: str, kind: str, endpoint: str, at: datetime) -> LinkState:
        """Register a link, not connected; ValueError if ``name`` is taken."""
        if name in self._links:
            raise ValueError(f"link {name!r} added twice")
        state = LinkState(name, kind, endpoint, since=at)
        self._links[name] = state
        return state

    def report(
        self,
        name: str,
        at: datetime,
        *,
        connected: bool,
        failures: int,
        total_failures: int,
        last_error: str | None,
        bad_tags: tuple[str, ...] = (),
    ) -> LinkState:
        """Record link ``name``'s state at wall time ``at``; listeners hear of it when anything
        changed. KeyError for a link never added."""
        old = self.get(name)
        new = replace(
            old,
            connected=connected,
            failures=failures,
            total_failures=total_failures,
            last_error=last_error or "",
            bad_tags=bad_tags,
            since=at if connected != old.connected else old.since,
        )
        if new != old:
            self._links[name] = new
            for listener in list(self._listeners):
                listener(new)
        return new

    def subscribe(self, listener: Callable[[LinkState], None]) -> Callable[[], None]:
        """Call ``listener`` with each changed link state; returns the unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe
