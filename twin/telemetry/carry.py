"""What a pipeline does with the batches earlier runs left in its spool, when it starts.

Each spooled batch goes only where it was meant to go. Those spooled for the pipeline's own
destination are sent, counted apart from the run's own lines (``lines_carried_written``).
The others (spooled for another destination, or by a version that recorded none) stay in
the spool, nothing lost: one warning for each destination says where they belong and gives
the ``twin telemetry replay`` command that sends them there. ``twin telemetry replay``
takes the unrecorded ones too (``"unrecorded"``), or every batch (``"any"``, its
``--redirect``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from twin.telemetry.destination import Destination, Origin, replay_command
from twin.telemetry.spool import Spool
from twin.telemetry.stats import TelemetryStats
from twin.text import plural

__all__ = ["Carried", "Kept", "Spooled", "carry_over"]

#: which spooled batches a pipeline sends: those meant for its destination ("own"), those
#: too whose destination is not recorded ("unrecorded"), or all ("any")
Spooled = Literal["own", "unrecorded", "any"]


@dataclass(frozen=True, slots=True)
class Kept:
    """Lines earlier runs spooled for ``destination`` (None: not recorded), kept in the spool."""

    destination: Destination | None
    origins: tuple[Origin, ...]
    lines: int

    def describe(self, spool: str) -> str:
        """One line: how many lines, from where, meant for where, and how to send them."""
        lines = plural(self.lines, "line")
        if self.destination is None:
            return (
                f"{lines} spooled without a recorded destination (by an older version) stay in"
                f" spool {spool}: send them where they belong with: twin telemetry replay"
                f" {spool} --influx-url URL [--influx-bucket B] [--influx-org O]"
            )
        came = self.origins[0].describe() if len(self.origins) == 1 else "earlier runs"
        send = replay_command(self.destination, spool)
        return (
            f"{lines} that {came} spooled for {self.destination} stay in spool {spool}:"
            f" send them there with: {send}"
        )


@dataclass(slots=True)
class Carried:
    """The outcome of ``carry_over``: the origin keys of the batches the pipeline sends
    (None: all) and the groups it keeps."""

    sendable: frozenset[str] | None
    own: str
    kept: list[Kept] = field(default_factory=list)


def _meant_for(origin: Origin | None, destination: Destination | None, spooled: Spooled) -> bool:
    if spooled == "any":
        return True
    if origin is None:
        return spooled == "unrecorded"
    return origin.destination == destination


def carry_over(
    spool: Spool,
    origin: Origin,
    spooled: Spooled,
    stats: TelemetryStats,
    log: logging.Logger,
) -> Carried:
    """Take over the opened ``spool`` for a pipeline of ``origin``: its new batches are
    spooled as ``origin``'s; what earlier runs left is counted in ``stats`` (as produced, so
    the accounting holds) and sorted into the batches it sends and those it keeps (logged)."""
    own = spool.use(origin)
    sendable: set[str] = {own}
    kept: dict[Destination | None, list[tuple[Origin | None, int]]] = {}
    sending = 0
    for entry in spool.entries():
        came = spool.origin(entry)
        if _meant_for(came, origin.destination, spooled):
            sendable.add(entry.source)
            sending += entry.lines
        else:
            where = came.destination if came is not None else None
            kept.setdefault(where, []).append((came, entry.lines))
    # carried over from earlier runs: they count as produced now
    stats.lines_produced += spool.lines
    stats.batches_produced += len(spool)
    stats.lines_carried += spool.lines
    if sending:
        log.info(
            "telemetry: sending %s that earlier runs spooled for %s",
            plural(sending, "line"),
            origin.destination or "this sink",
        )
    carried = Carried(None if spooled == "any" else frozenset(sendable), own)
    for where, batches in kept.items():
        origins = tuple(dict.fromkeys(o for o, _ in batches if o is not None))
        group = Kept(where, origins, sum(n for _, n in batches))
        carried.kept.append(group)
        stats.lines_carried_elsewhere += group.lines
        log.warning("telemetry: %s", group.describe(spool.name))
    return carried
