"""A forced processing order per machine (``--sequence FILE``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MachineSequences"]


class MachineSequences(BaseModel):
    """``machine_sequences``: machine index (as in ``m0..m{M-1}``, or a machine id) -> the job
    indices (0-based, in scenario order) that machine processes, in this order."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    machine_sequences: dict[str, list[int]] = Field(min_length=1)
    optimal_makespan: float | None = None
