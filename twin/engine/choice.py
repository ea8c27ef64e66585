"""Which eligible machine an operation goes to.

Among the eligible machines with room for the part (a machine with a fault has none), the one
where the operation would end first as planned (``MachineRuntime.finish_estimate``): after
the operation under way and the work booked there, with the setup it would need after that
work, and its planned duration there, and after a planned maintenance of the scenario it
would run into (``MachineRuntime.begin``). So a machine already set up for the part's
material and fixture wins over an idle one that would need a changeover longer than the
wait, and a faster machine over a slower one. Ties go to the machine listed first in the cell.

Estimates use planned times only (no random draws): the choice is deterministic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twin.engine.machine import MachineRuntime
    from twin.planning import PlannedOp

__all__ = ["pick"]


def pick(machines: dict[str, MachineRuntime], op: PlannedOp, now: float) -> MachineRuntime | None:
    """The machine ``op`` goes to now, or None when no eligible machine has room. A machine
    with a forced sequence (``--sequence``) takes its operations whatever its room: they wait
    there in their turn (a forced sequence has one eligible machine per operation)."""
    durations = op.durations
    if len(durations) == 1:  # most operations, and all of a forced sequence: no estimate
        for mid in durations:
            m = machines[mid]
            return m if m.sequence is not None or m.has_space() else None
    best: MachineRuntime | None = None
    best_key: tuple[float, int] | None = None
    for mid, duration in durations.items():
        m = machines[mid]
        if m.sequence is not None or m.has_space():
            key = (m.finish_estimate(op, duration, now), m.index)
            if best_key is None or key < best_key:
                best, best_key = m, key
    return best
