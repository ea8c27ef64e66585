"""Product specifications: every order is one unique configuration of a product family.

A spec is pure data; ``twin.planning`` turns it into a routing. ``feature_count`` is what the
inspection station measures.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Collection
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field

from twin.model.base import StrictModel
from twin.model.units import NonNegDuration

__all__ = [
    "MACHINED_MATERIALS",
    "MATERIALS",
    "PRINT_MATERIALS",
    "PRODUCT_FAMILIES",
    "AssemblySpec",
    "BracketSpec",
    "ExplicitOperation",
    "ExplicitSpec",
    "HousingSpec",
    "HybridSpec",
    "ProductSpec",
]

MachinedMaterial = Literal["aluminium", "steel", "titanium"]
PrintMaterial = Literal["pla", "petg", "abs", "pa12"]
#: the material names products use, hence the keys a machine's rate tables may have
MACHINED_MATERIALS: tuple[str, ...] = typing.get_args(MachinedMaterial)
PRINT_MATERIALS: tuple[str, ...] = typing.get_args(PrintMaterial)
MATERIALS = MACHINED_MATERIALS + PRINT_MATERIALS


def layer_count(height_mm: Any, layer_height_mm: Any) -> Any:
    """Layers of a print: ceil(height / layer height); element-wise on numpy columns (the
    planner runs the same formulas on a whole block of drawn specs)."""
    n = height_mm / layer_height_mm - 1e-9
    return np.ceil(n).astype(np.int64) if isinstance(n, np.ndarray) else math.ceil(n)


class _Spec(StrictModel):
    def feature_count(self) -> int:
        """Number of features the inspection station checks."""
        raise NotImplementedError


class BracketSpec(_Spec):
    """A machined bracket cut from a block of stock.

    Removal volume = stock volume (part plus allowance on every side) - part envelope
    + pockets x pocket volume + holes x hole volume.
    """

    type: Literal["machined_bracket"] = Field("machined_bracket", description="the product family")
    material: MachinedMaterial = Field("aluminium", description="the stock's material")
    length_mm: float = Field(120.0, gt=0, le=1000, description="part envelope")
    width_mm: float = Field(60.0, gt=0, le=1000, description="part envelope")
    height_mm: float = Field(20.0, gt=0, le=500, description="part envelope; the holes' depth")
    stock_allowance_mm: float = Field(
        2.0, ge=0, le=50, description="stock beyond the part on every side"
    )
    holes: int = Field(4, ge=0, le=200, description="drilled through the height")
    hole_diameter_mm: float = Field(6.0, gt=0, le=50, description="of every hole")
    pockets: int = Field(2, ge=0, le=50, description="milled pockets")
    pocket_volume_cm3: float = Field(4.0, ge=0, le=1000, description="of every pocket")
    surfaces: int = Field(2, ge=0, le=20, description="finished surfaces")
    fixture: str = Field(
        "vise", description="any name; a change on the CNC costs fixture_change_setup"
    )

    def removal_volume_cm3(self) -> float:
        a = self.stock_allowance_mm
        stock = (self.length_mm + 2 * a) * (self.width_mm + 2 * a) * (self.height_mm + 2 * a)
        envelope = self.length_mm * self.width_mm * self.height_mm
        r = self.hole_diameter_mm / 2
        hole = math.pi * (r * r) * self.height_mm  # r * r: the same bits on numpy columns
        return (
            stock - envelope + self.holes * hole
        ) / 1000.0 + self.pockets * self.pocket_volume_cm3

    def feature_count(self) -> int:
        return self.holes + self.pockets + self.surfaces + 1


class HousingSpec(_Spec):
    """A printed housing: deposited volume, height and layer height drive print time."""

    type: Literal["printed_housing"] = Field("printed_housing", description="the product family")
    material: PrintMaterial = Field("pla", description="the filament")
    volume_cm3: float = Field(60.0, gt=0, le=5000, description="deposited volume")
    height_mm: float = Field(50.0, gt=0, le=1000, description="print height")
    layer_height_mm: float = Field(0.2, ge=0.05, le=0.6, description="layers = ⌈height / this⌉")
    openings: int = Field(2, ge=0, le=50, description="inspected features")

    @property
    def layers(self) -> int:
        return layer_count(self.height_mm, self.layer_height_mm)

    def feature_count(self) -> int:
        return self.openings + 2


class HybridSpec(_Spec):
    """Printed near-net shape, then machined: holes and finished surfaces."""

    type: Literal["hybrid_part"] = Field("hybrid_part", description="the product family")
    material: PrintMaterial = Field("pa12", description="printed, then milled")
    volume_cm3: float = Field(40.0, gt=0, le=5000, description="finished part volume")
    height_mm: float = Field(40.0, gt=0, le=1000, description="print height")
    layer_height_mm: float = Field(0.2, ge=0.05, le=0.6, description="layers = ⌈height / this⌉")
    machining_allowance_cm3: float = Field(
        3.0, ge=0, le=500, description="printed on top of the volume, then milled away"
    )
    holes: int = Field(2, ge=0, le=200, description="drilled on the CNC")
    surfaces: int = Field(1, ge=0, le=20, description="finished on the CNC")
    fixture: str = Field(
        "soft-jaws", description="any name; a change on the CNC costs fixture_change_setup"
    )

    @property
    def layers(self) -> int:
        return layer_count(self.height_mm, self.layer_height_mm)

    def feature_count(self) -> int:
        return self.holes + self.surfaces + 2


class AssemblySpec(_Spec):
    """A module: a printed enclosure plus components the robot places and fastens."""

    type: Literal["module_assembly"] = Field("module_assembly", description="the product family")
    housing_material: PrintMaterial = Field("petg", description="the enclosure's filament")
    housing_volume_cm3: float = Field(30.0, gt=0, le=5000, description="enclosure volume")
    housing_height_mm: float = Field(30.0, gt=0, le=1000, description="enclosure height")
    layer_height_mm: float = Field(
        0.25, ge=0.05, le=0.6, description="layers = ⌈housing height / this⌉"
    )
    components: int = Field(3, ge=1, le=50, description="each picked and placed by the robot")
    screws: int = Field(4, ge=0, le=100, description="each fastened by the robot")

    @property
    def layers(self) -> int:
        return layer_count(self.housing_height_mm, self.layer_height_mm)

    def feature_count(self) -> int:
        return self.components + self.screws + 1


class ExplicitOperation(_Spec):
    """One step of an explicit routing: a machine and how long it takes there."""

    machine: str = Field(description="the id of the machine that runs it (any kind)")
    duration: NonNegDuration = Field(description="planned duration")
    name: str = Field("", description='the operation\'s name (default "op0", "op1", ...)')


class ExplicitSpec(_Spec):
    """An explicit routing (machine + duration per operation), as in classic job shops."""

    type: Literal["explicit"] = Field("explicit", description="the product family")
    operations: list[ExplicitOperation] = Field(
        min_length=1, description="the routing, in order (table below)"
    )

    def feature_count(self) -> int:
        return len(self.operations)

    def unknown_machine(self, machines: Collection[str]) -> tuple[str, str] | None:
        """The first operation on a machine not in ``machines`` (a cell's ids, in the cell's
        order: the message lists them so, as every "unknown machine" of the twin does): its
        field (``operations[j].machine``) and why; None when every machine is in the cell."""
        for j, op in enumerate(self.operations):
            if op.machine not in machines:
                cell = ", ".join(machines)
                return (
                    f"operations[{j}].machine",
                    f"unknown machine {op.machine!r} (cell has: {cell})",
                )
        return None


ProductSpec = Annotated[
    BracketSpec | HousingSpec | HybridSpec | AssemblySpec | ExplicitSpec,
    Field(discriminator="type"),
]

PRODUCT_FAMILIES: dict[str, type[_Spec]] = {
    "machined_bracket": BracketSpec,
    "printed_housing": HousingSpec,
    "hybrid_part": HybridSpec,
    "module_assembly": AssemblySpec,
    "explicit": ExplicitSpec,
}
