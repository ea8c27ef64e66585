"""Pure data models of cell-twin (pydantic v2): cell, machines, products, orders, scenario.

This package never imports the runtime (simpy, asyncua, adapters); a test enforces it.
"""

from twin.model.loader import (
    format_validation_error,
    load_scenario,
    load_sequence,
    parse_scenario,
    read_toml,
)
from twin.model.machines import (
    MACHINE_KINDS,
    Breakdowns,
    CncConfig,
    GenericConfig,
    InspectionConfig,
    MachineConfig,
    PrinterConfig,
    RobotConfig,
)
from twin.model.products import (
    PRODUCT_FAMILIES,
    AssemblySpec,
    BracketSpec,
    ExplicitOperation,
    ExplicitSpec,
    HousingSpec,
    HybridSpec,
    ProductSpec,
)
from twin.model.scenario import (
    DISPATCH_RULES,
    FAULT_KINDS,
    Arrivals,
    CatalogueEntry,
    CellConfig,
    FaultConfig,
    OrderConfig,
    Scenario,
)
from twin.model.sequence import MachineSequences
from twin.model.units import Duration, NonNegDuration, parse_duration

__all__ = [
    "DISPATCH_RULES",
    "FAULT_KINDS",
    "MACHINE_KINDS",
    "PRODUCT_FAMILIES",
    "Arrivals",
    "AssemblySpec",
    "BracketSpec",
    "Breakdowns",
    "CatalogueEntry",
    "CellConfig",
    "CncConfig",
    "Duration",
    "ExplicitOperation",
    "ExplicitSpec",
    "FaultConfig",
    "GenericConfig",
    "HousingSpec",
    "HybridSpec",
    "InspectionConfig",
    "MachineConfig",
    "MachineSequences",
    "NonNegDuration",
    "OrderConfig",
    "PrinterConfig",
    "ProductSpec",
    "RobotConfig",
    "Scenario",
    "format_validation_error",
    "load_scenario",
    "load_sequence",
    "parse_duration",
    "parse_scenario",
    "read_toml",
]
