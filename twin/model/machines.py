"""Machine configurations, discriminated by ``kind``.

Each kind carries the parameters its process model needs (rates, setup times, failure
behaviour) plus the identification data the OPC UA server publishes.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, PositiveFloat

from twin.model.products import MATERIALS, PRINT_MATERIALS
from twin.model.units import NonNegDuration, PositiveDuration, SecondOrMore, StrictModel

__all__ = [
    "MACHINE_KINDS",
    "Breakdowns",
    "CncConfig",
    "GenericConfig",
    "InspectionConfig",
    "MachineConfig",
    "PrinterConfig",
    "RobotConfig",
]

MACHINE_KINDS = ("cnc", "robot", "printer", "inspection", "generic")


class Breakdowns(StrictModel):
    """Random breakdowns: time between failures and time to repair (calendar time)."""

    mtbf: SecondOrMore = Field(description="mean time between failures, seconds")
    mttr: PositiveDuration = Field(description="mean time to repair, seconds")
    mtbf_distribution: Literal["exponential", "weibull"] = "exponential"
    weibull_shape: PositiveFloat = 1.5
    mttr_distribution: Literal["exponential", "lognormal", "fixed"] = "lognormal"
    mttr_cv: float = Field(0.5, ge=0, description="coefficient of variation of repair time")


class _MachineBase(StrictModel):
    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$", max_length=64)
    name: str = ""
    manufacturer: str = "cell-twin"
    model: str = ""
    serial_number: str = ""
    year_of_construction: int = Field(2024, ge=1950, le=2100)
    position: tuple[float, float] = Field((0.0, 0.0), description="floor position in metres")
    input_buffer: int | None = Field(
        4, ge=0, description="parts that can wait at the machine; 0 for unbounded"
    )
    output_buffer: int = Field(1, ge=1, description="finished parts the machine can hold")
    breakdowns: Breakdowns | None = None
    duration_cv: float = Field(
        0.05, ge=0, le=1, description="variation of actual vs planned processing time"
    )

    #: the field whose table says which materials the machine processes; None: no such table
    material_table: ClassVar[str | None] = None

    def materials(self) -> tuple[str, ...] | None:
        """The materials this machine can process (its table's keys), or None when its kind
        does not depend on the material."""
        return None if self.material_table is None else tuple(getattr(self, self.material_table))


def _one_a_second_at_most(rate: float) -> float:
    # more would be a failure loop that hardly moves the clock
    if rate > 3600:
        raise ValueError(f"must be at most 3600 per hour (a failure a second), got {rate:g}")
    return rate


def _materials(known: tuple[str, ...], what: str) -> Callable[[dict[str, float]], dict[str, float]]:
    """A check that a per-material table names only ``known`` materials: a misspelt name
    ("aluminum") would leave the machine silently unable to process the material."""

    def check(table: dict[str, float]) -> dict[str, float]:
        for name in table:
            if name not in known:
                close = difflib.get_close_matches(name.lower(), known, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ValueError(f"{name}: unknown {what} ({hint}known: {', '.join(known)})")
        return table

    return check


#: a table per material; it replaces the kind's default table as a whole
MaterialRates = Annotated[
    dict[str, PositiveFloat], AfterValidator(_materials(MATERIALS, "material"))
]
PrintRates = Annotated[
    dict[str, PositiveFloat], AfterValidator(_materials(PRINT_MATERIALS, "print material"))
]


class CncConfig(_MachineBase):
    """A 3- or 5-axis CNC machining center.

    Milling time = removal volume / removal rate of the material + holes x hole time +
    pockets x pocket time + tool changes x tool change time.
    """

    material_table: ClassVar[str | None] = "removal_rate_cm3_min"

    kind: Literal["cnc"] = "cnc"
    axes: Literal[3, 5] = 5
    max_spindle_rpm: PositiveFloat = 18000
    removal_rate_cm3_min: MaterialRates = Field(
        default_factory=lambda: {
            "aluminium": 60.0,
            "steel": 15.0,
            "titanium": 6.0,
            "pa12": 80.0,
            "petg": 80.0,
            "pla": 80.0,
            "abs": 80.0,
        }
    )
    hole_time: NonNegDuration = 20.0
    pocket_time: NonNegDuration = 90.0
    surface_time: NonNegDuration = 45.0
    tool_change_time: NonNegDuration = 8.0
    tool_life: PositiveDuration = Field(4 * 3600.0, description="cutting time per tool")
    tool_replace_time: NonNegDuration = 300.0
    material_change_setup: NonNegDuration = 1200.0
    fixture_change_setup: NonNegDuration = 600.0
    defect_probability: float = Field(0.01, ge=0, le=1)
    wear_defect_gain: float = Field(0.08, ge=0, le=1, description="added defect prob. at full wear")
    rework_factor: float = Field(0.3, gt=0, le=1)


class RobotConfig(_MachineBase):
    """A 6-axis robot: serves every transfer and can run assembly operations."""

    kind: Literal["robot"] = "robot"
    input_buffer: int | None = Field(2, ge=0)
    speed_m_s: PositiveFloat = 1.0
    pick_time: NonNegDuration = 4.0
    place_time: NonNegDuration = 4.0
    fasten_time: NonNegDuration = 12.0
    payload_kg: PositiveFloat = 10.0


class PrinterConfig(_MachineBase):
    """An FFF 3D printer.

    Print time = heat-up + volume / deposition rate of the material + layers x layer overhead.
    """

    material_table: ClassVar[str | None] = "deposition_rate_cm3_h"

    kind: Literal["printer"] = "printer"
    deposition_rate_cm3_h: PrintRates = Field(
        default_factory=lambda: {"pla": 40.0, "petg": 32.0, "abs": 30.0, "pa12": 22.0}
    )
    layer_overhead: NonNegDuration = 2.0
    heatup_time: NonNegDuration = 240.0
    nozzle_temp_c: PrintRates = Field(
        default_factory=lambda: {"pla": 210.0, "petg": 240.0, "abs": 250.0, "pa12": 265.0}
    )
    bed_temp_c: PrintRates = Field(
        default_factory=lambda: {"pla": 60.0, "petg": 80.0, "abs": 100.0, "pa12": 90.0}
    )
    material_change_setup: NonNegDuration = 300.0
    failure_rate_per_h: Annotated[float, AfterValidator(_one_a_second_at_most)] = Field(
        0.01, ge=0, description="print failures per print hour"
    )
    clear_time: NonNegDuration = 600.0
    defect_probability: float = Field(0.02, ge=0, le=1)
    rework_factor: float = Field(0.2, gt=0, le=1)
    build_volume_mm: tuple[float, float, float] = (250.0, 210.0, 220.0)


class InspectionConfig(_MachineBase):
    """A vision inspection station: time = base time + features x time per feature."""

    kind: Literal["inspection"] = "inspection"
    base_time: NonNegDuration = 30.0
    time_per_feature: NonNegDuration = 6.0
    detection_probability: float = Field(0.95, ge=0, le=1)
    rework_fraction: float = Field(0.6, ge=0, le=1, description="share of defects reworkable")
    max_rework: int = Field(1, ge=0)


class GenericConfig(_MachineBase):
    """A machine with no process model: runs explicit operations for their given duration."""

    kind: Literal["generic"] = "generic"
    duration_cv: float = Field(0.0, ge=0, le=1)


MachineConfig = Annotated[
    CncConfig | RobotConfig | PrinterConfig | InspectionConfig | GenericConfig,
    Field(discriminator="kind"),
]
