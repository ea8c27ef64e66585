"""A forced processing order per machine (``--sequence FILE``)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from twin.model.base import StrictModel

__all__ = ["MachineSequences"]


class MachineSequences(StrictModel):
    """``machine_sequences``: machine index (as in ``m0..m{M-1}``, or a machine id) -> the job
    indices (0-based, in scenario order) that machine processes, in this order. Numbers as
    in a scenario (a job index ``"3"`` is refused); other fields of the file are ignored (a
    benchmark's sequence file carries more, e.g. its source)."""

    model_config = ConfigDict(extra="ignore")

    machine_sequences: dict[str, list[int]] = Field(min_length=1)
    optimal_makespan: float | None = None
