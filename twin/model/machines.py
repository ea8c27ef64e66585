"""Machine configurations, discriminated by ``kind``.

Each kind carries the parameters its process model needs (rates, setup times, failure
behaviour) plus the identification data the OPC UA server publishes.
"""

from __future__ import annotations

import difflib
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, PositiveFloat

from twin.model.base import StrictModel
from twin.model.products import MATERIALS, PRINT_MATERIALS
from twin.model.units import NonNegDuration, PositiveDuration, SecondOrMore

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

    mtbf: SecondOrMore = Field(description="mean time between failures (calendar time)")
    mttr: PositiveDuration = Field(description="mean time to repair")
    mtbf_distribution: Literal["exponential", "weibull"] = Field(
        "exponential", description="distribution of the time between failures"
    )
    weibull_shape: PositiveFloat = Field(
        1.5, description="shape of the Weibull distribution (> 1: failures grow with age)"
    )
    mttr_distribution: Literal["exponential", "lognormal", "fixed"] = Field(
        "lognormal", description="distribution of the repair time"
    )
    mttr_cv: float = Field(
        0.5, ge=0, description="coefficient of variation of a lognormal repair time"
    )


_ID = r"^[A-Za-z][A-Za-z0-9_\-]*$"


class _MachineBase(StrictModel):
    """What every machine kind has: identity (published over OPC UA), place, buffers,
    breakdowns and the variation of its actual durations."""

    id: str = Field(
        pattern=_ID,
        max_length=64,
        description="unique in the cell; a letter, then letters, digits, _ or -",
    )
    name: str = Field("", description="display name")
    manufacturer: str = Field("cell-twin", description="OPC UA identification")
    model: str = Field("", description="OPC UA identification")
    serial_number: str = Field("", description="OPC UA identification")
    year_of_construction: int = Field(2024, ge=1950, le=2100, description="OPC UA identification")
    position: tuple[float, float] = Field(
        (0.0, 0.0),
        description="floor position [x, y], for the robot's travel",
        json_schema_extra={"unit": "m"},
    )
    input_buffer: int | None = Field(
        4, ge=0, description="parts that can wait at the machine; 0: unbounded"
    )
    output_buffer: int = Field(
        1, ge=1, description="finished parts the machine holds until the robot takes them"
    )
    breakdowns: Breakdowns | None = Field(
        None, description="random breakdowns (table below); none: the machine never breaks down"
    )
    duration_cv: float = Field(
        0.05,
        ge=0,
        le=1,
        description="coefficient of variation of actual vs planned duration (lognormal, mean 1)",
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


class _KnownMaterials:
    """The check that a per-material table names only ``known`` materials: a misspelt name
    ("aluminum") would leave the machine silently unable to process the material."""

    def __init__(self, known: tuple[str, ...], what: str) -> None:
        self.known, self.what = known, what

    def __call__(self, table: dict[str, float]) -> dict[str, float]:
        for name in table:
            if name not in self.known:
                close = difflib.get_close_matches(name.lower(), self.known, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                known = ", ".join(self.known)
                raise ValueError(f"{name}: unknown {self.what} ({hint}known: {known})")
        return table


#: a table per material; it replaces the kind's default table as a whole
MaterialRates = Annotated[
    dict[str, PositiveFloat], AfterValidator(_KnownMaterials(MATERIALS, "material"))
]
PrintRates = Annotated[
    dict[str, PositiveFloat], AfterValidator(_KnownMaterials(PRINT_MATERIALS, "print material"))
]


class CncConfig(_MachineBase):
    """A 3- or 5-axis CNC machining center.

    Milling time = removal volume / removal rate of the material + holes x hole time +
    pockets x pocket time + surfaces x surface time + tool changes x tool change time.
    """

    material_table: ClassVar[str | None] = "removal_rate_cm3_min"

    kind: Literal["cnc"] = Field("cnc", description="the machine kind")
    axes: Literal[3, 5] = Field(5, description="3-axis: finished surfaces take 1.25 x as long")
    max_spindle_rpm: PositiveFloat = Field(18000, description="top of the spindle speed signal")
    removal_rate_cm3_min: MaterialRates = Field(
        default_factory=lambda: {
            "aluminium": 60.0,
            "steel": 15.0,
            "titanium": 6.0,
            "pa12": 80.0,
            "petg": 80.0,
            "pla": 80.0,
            "abs": 80.0,
        },
        description="material removal rate per material; the materials the machine can mill",
    )
    hole_time: NonNegDuration = Field(20.0, description="per drilled hole")
    pocket_time: NonNegDuration = Field(90.0, description="per milled pocket")
    surface_time: NonNegDuration = Field(45.0, description="per finished surface (5-axis)")
    tool_change_time: NonNegDuration = Field(8.0, description="per tool change in an operation")
    tool_life: PositiveDuration = Field(
        4 * 3600.0, description="cutting time a tool lasts; wear = cutting time / tool life"
    )
    tool_replace_time: NonNegDuration = Field(
        300.0,
        description="replacing a worn tool (Setup mode), before an operation that would"
        " exceed its life",
    )
    material_change_setup: NonNegDuration = Field(
        1200.0, description="setup when the material changes from the previous operation"
    )
    fixture_change_setup: NonNegDuration = Field(
        600.0, description="setup when the fixture changes (added to a material change)"
    )
    defect_probability: float = Field(
        0.01, ge=0, le=1, description="chance an operation leaves a hidden defect (sharp tool)"
    )
    wear_defect_gain: float = Field(
        0.08, ge=0, le=1, description="added defect probability at full wear (x wear²)"
    )
    rework_factor: float = Field(
        0.3, gt=0, le=1, description="a rework takes this share of the operation's planned time"
    )


class RobotConfig(_MachineBase):
    """A 6-axis robot: serves every transfer and can run assembly operations."""

    kind: Literal["robot"] = Field("robot", description="the machine kind")
    input_buffer: int | None = Field(
        2, ge=0, description="parts waiting for assembly at the robot; 0: unbounded"
    )
    speed_m_s: PositiveFloat = Field(1.0, description="travel speed (straight line)")
    pick_time: NonNegDuration = Field(
        4.0, description="per pick (a transfer, an assembled component)"
    )
    place_time: NonNegDuration = Field(
        4.0, description="per place (a transfer, an assembled component)"
    )
    fasten_time: NonNegDuration = Field(12.0, description="per screw in an assembly")
    payload_kg: PositiveFloat = Field(10.0, description="OPC UA identification")


class PrinterConfig(_MachineBase):
    """An FFF 3D printer.

    Print time = heat-up + volume / deposition rate of the material + layers x layer overhead.
    """

    material_table: ClassVar[str | None] = "deposition_rate_cm3_h"

    kind: Literal["printer"] = Field("printer", description="the machine kind")
    deposition_rate_cm3_h: PrintRates = Field(
        default_factory=lambda: {"pla": 40.0, "petg": 32.0, "abs": 30.0, "pa12": 22.0},
        description="deposition rate per material; the materials the printer can print",
    )
    layer_overhead: NonNegDuration = Field(2.0, description="per layer (travel, layer change)")
    heatup_time: NonNegDuration = Field(240.0, description="per print, before deposition")
    nozzle_temp_c: PrintRates = Field(
        default_factory=lambda: {"pla": 210.0, "petg": 240.0, "abs": 250.0, "pa12": 265.0},
        description="nozzle temperature signal per material while printing (else 210)",
    )
    bed_temp_c: PrintRates = Field(
        default_factory=lambda: {"pla": 60.0, "petg": 80.0, "abs": 100.0, "pa12": 90.0},
        description="bed temperature signal per material while printing (else 60)",
    )
    material_change_setup: NonNegDuration = Field(
        300.0, description="setup when the filament changes from the previous print"
    )
    failure_rate_per_h: Annotated[float, AfterValidator(_one_a_second_at_most)] = Field(
        0.01,
        ge=0,
        description="print failures per print hour (exponential); a failed print restarts",
        json_schema_extra={"allowed": "≥ 0, ≤ 3600"},
    )
    clear_time: NonNegDuration = Field(600.0, description="clearing the bed after a failed print")
    defect_probability: float = Field(
        0.02, ge=0, le=1, description="chance a print leaves a hidden defect"
    )
    rework_factor: float = Field(
        0.2, gt=0, le=1, description="a rework takes this share of the print's planned time"
    )
    build_volume_mm: tuple[float, float, float] = Field(
        (250.0, 210.0, 220.0), description="[x, y, z]; a part higher than z cannot be printed here"
    )


class InspectionConfig(_MachineBase):
    """A vision inspection station: time = base time + features x time per feature."""

    kind: Literal["inspection"] = Field("inspection", description="the machine kind")
    base_time: NonNegDuration = Field(30.0, description="per part")
    time_per_feature: NonNegDuration = Field(6.0, description="per feature of the part")
    detection_probability: float = Field(
        0.95, ge=0, le=1, description="chance a defective part is found"
    )
    rework_fraction: float = Field(
        0.6,
        ge=0,
        le=1,
        description="share of found defects reworked; the others are scrapped and remade",
    )
    max_rework: int = Field(1, ge=0, description="reworks per part at most; then scrap")


class GenericConfig(_MachineBase):
    """A machine with no process model: runs explicit operations for their given duration."""

    kind: Literal["generic"] = Field("generic", description="the machine kind")
    duration_cv: float = Field(
        0.0, ge=0, le=1, description="coefficient of variation of actual vs given duration"
    )


MachineConfig = Annotated[
    CncConfig | RobotConfig | PrinterConfig | InspectionConfig | GenericConfig,
    Field(discriminator="kind"),
]
