"""Inspection results: a station finds a job's hidden defects with its detection
probability; a found defect sends the job back for rework on the machine that caused it (up
to the station's ``max_rework``, with probability ``rework_fraction``) or scraps it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from twin.events import InspectionDone
from twin.planning import PlannedOp

if TYPE_CHECKING:
    from twin.engine.cell import Engine
    from twin.engine.jobs import Job
    from twin.engine.machine import MachineRuntime

__all__ = ["inspect"]


def inspect(engine: Engine, job: Job, station: MachineRuntime, op: PlannedOp) -> bool:
    """Apply the inspection result of ``job`` at ``station`` (operation ``op``); False when
    the part is scrapped. A rework inserts the rework operation and this inspection again
    after the current operation."""
    cfg = station.cfg
    rng = engine.failure_rngs[station.id]
    now = engine.env.now
    deviation = job.last.deviation_mm if job.last is not None else 0.0
    found = bool(job.defects) and bool(rng.random() < cfg.detection_probability)
    if not found:
        station.dyn.last_result, station.dyn.last_deviation = 1.0, deviation
        _show(station, 1.0, deviation)
        engine.bus.publish(InspectionDone(now, job.id, station.id, True, deviation, "pass"))
        return True
    deviation += 0.05 + abs(float(rng.normal(0.0, 0.05)))
    _show(station, 2.0, deviation)
    culprit = job.defects[-1]
    if job.reworks < cfg.max_rework and rng.random() < cfg.rework_fraction:
        job.reworks += 1
        bad = next(o for o in reversed(job.ops[: job.op_index]) if culprit in o.durations)
        factor = engine.machines[culprit].cfg.rework_factor
        rework = PlannedOp(
            replace(bad.req, name=f"rework-{bad.req.name}"),
            {m: d * factor for m, d in bad.durations.items()},
            rework=True,
        )
        job.ops[job.op_index + 1 : job.op_index + 1] = [rework, op]
        job.defects.clear()
        engine.bus.publish(InspectionDone(now, job.id, station.id, False, deviation, "rework"))
        return True
    engine.bus.publish(InspectionDone(now, job.id, station.id, False, deviation, "scrap"))
    return False


def _show(station: MachineRuntime, result: float, deviation: float) -> None:
    """The result and deviation in the station's current signal segment."""
    if station.segment is not None:
        station.segment.info.update(result=result, deviation=deviation)
        station.segment.init[0:2] = (result, deviation)
