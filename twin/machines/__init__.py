"""Machine process models, one module per kind, registered in one dict keyed by ``kind``."""

from twin.machines.base import (
    Dynamics,
    MachineModel,
    OpRequest,
    Outcome,
    PlanningError,
    Segment,
)
from twin.machines.cnc import CncModel
from twin.machines.generic import GenericModel
from twin.machines.inspection import InspectionModel
from twin.machines.printer import PrinterModel
from twin.machines.robot import RobotModel, travel_time

__all__ = [
    "REGISTRY",
    "Dynamics",
    "MachineModel",
    "OpRequest",
    "Outcome",
    "PlanningError",
    "Segment",
    "travel_time",
]

REGISTRY: dict[str, MachineModel] = {
    "cnc": CncModel(),
    "robot": RobotModel(),
    "printer": PrinterModel(),
    "inspection": InspectionModel(),
    "generic": GenericModel(),
}
