"""Robot transfers: the transport robot carries a part between machines and the central
storage (pick and place times, travel from where it stands), one at a time (``Arbiter``)."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import simpy

from twin.events import TransferFinished, TransferStarted
from twin.machines import travel_time

if TYPE_CHECKING:
    from twin.engine.cell import Engine
    from twin.engine.jobs import Job
    from twin.engine.machine import MachineRuntime

__all__ = ["move"]

_Gen = Generator[simpy.Event, Any, None]


def move(engine: Engine, job: Job, src: MachineRuntime | None, dst: MachineRuntime | None) -> _Gen:
    """Robot transfer of ``job`` from ``src`` to ``dst`` (None: the central storage); without
    a robot, at once."""
    robot = engine.robot
    if src is None and dst is None:
        return  # already in the storage (e.g. cancelled while waiting there)
    if robot is None:
        if src is not None:
            src.take_output(job)
        job.location = dst.id if dst is not None else None
        return
    env = engine.env
    job.state = "transfer"
    req = engine.robot_resource.request(2)
    yield req
    a = src.position if src is not None else engine.storage_position
    b = dst.position if dst is not None else engine.storage_position
    cfg = robot.cfg
    src_name = src.id if src is not None else "storage"
    dst_name = dst.id if dst is not None else "storage"
    engine.bus.publish(TransferStarted(env.now, job.id, src_name, dst_name, robot.id))
    robot.set_state("Executing", "Processing", job.id)
    robot.begin_segment(None, 0.0)
    yield env.timeout(travel_time(cfg, engine.robot_position, a) + cfg.pick_time)
    if src is not None:
        src.take_output(job)
    yield env.timeout(travel_time(cfg, a, b) + cfg.place_time)
    engine.robot_position = b
    robot.set_state("NotExecuting", "Processing", None)
    engine.bus.publish(TransferFinished(env.now, job.id, src_name, dst_name, robot.id))
    engine.robot_resource.release(req)
    job.location = dst.id if dst is not None else None
