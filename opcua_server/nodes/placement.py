"""Where each machine kind's signals go in its companion-spec structure.

A placement is a path of objects below the machine (each step: namespace, browse name, and
the object type to create it with when missing) and the variable's browse name. Signals not
listed go to ``Monitoring/<signal>`` in the twin namespace.
"""

from __future__ import annotations

from dataclasses import dataclass

from asyncua import ua

from opcua_server.nodesets import NS

__all__ = ["MACHINE_TYPES", "PLACEMENTS", "Placement", "Step", "placement"]


@dataclass(frozen=True, slots=True)
class Step:
    uri: str
    name: str
    type_uri: str | None = None  # None: base namespace
    type_id: int = ua.ObjectIds.BaseObjectType


@dataclass(frozen=True, slots=True)
class Placement:
    path: tuple[Step, ...]
    uri: str
    name: str


# machine kind -> (type namespace, type id or twin type name)
MACHINE_TYPES: dict[str, tuple[str, int | str]] = {
    "cnc": (NS.MACHINE_TOOL, 13),  # MachineToolType (OPC 40501-1)
    "robot": (NS.ROBOTICS, 1002),  # MotionDeviceSystemType (OPC 40010-1)
    "printer": (NS.TWIN, "AdditiveManufacturingType"),  # after OPC 40540, MachineToolType-based
    "inspection": (NS.TWIN, "InspectionStationType"),  # MachineToolType-based
    "generic": (NS.TWIN, "GenericMachineType"),
}

_MON = Step(NS.MACHINE_TOOL, "Monitoring")
_SPINDLE = Step(NS.MACHINE_TOOL, "Spindle", NS.MACHINE_TOOL, 22)  # SpindleMonitoringType
_CHANNEL = Step(NS.MACHINE_TOOL, "Channel1", NS.MACHINE_TOOL, 16)  # ChannelMonitoringType
_EQUIP = Step(NS.MACHINE_TOOL, "Equipment")
_MT = Step(NS.MACHINE_TOOL, "MachineTool")
_ARM = Step(NS.ROBOTICS, "MotionDevices")
_ARM_DEVICE = Step(NS.TWIN, "Arm", NS.ROBOTICS, 1004)  # MotionDeviceType


def _axis(i: int) -> tuple[Step, ...]:
    return (
        _ARM,
        _ARM_DEVICE,
        Step(NS.ROBOTICS, "Axes"),
        Step(NS.TWIN, f"Axis{i}", NS.ROBOTICS, 16601),  # AxisType
        Step(NS.DI, "ParameterSet"),
    )


_ARM_PARAMS = (_ARM, _ARM_DEVICE, Step(NS.DI, "ParameterSet"))

PLACEMENTS: dict[str, dict[str, Placement]] = {
    "cnc": {
        "spindle_speed": Placement((_MON, _SPINDLE), NS.TWIN, "ActualSpeed"),
        "spindle_load": Placement((_MON, _SPINDLE), NS.TWIN, "Load"),
        "feed_rate": Placement((_MON, _CHANNEL), NS.TWIN, "FeedRate"),
        **{
            f"axis_{a}": Placement(
                (_MON, Step(NS.TWIN, f"Axis{a.upper()}")), NS.TWIN, "ActualPosition"
            )
            for a in "xyzac"
        },
        "tool_wear": Placement(
            (
                _EQUIP,
                Step(NS.MACHINE_TOOL, "Tools"),
                Step(NS.TWIN, "ActiveTool", NS.MACHINE_TOOL, 50),  # ToolType
                Step(NS.MACHINE_TOOL, "ToolLife"),
            ),
            NS.TWIN,
            "Wear",
        ),
        "coolant_temp": Placement((_MON, Step(NS.TWIN, "Coolant")), NS.TWIN, "Temperature"),
        "power": Placement((_MON, _MT), NS.TWIN, "ElectricalPower"),
    },
    "robot": {
        **{f"joint_{i}": Placement(_axis(i), NS.ROBOTICS, "ActualPosition") for i in range(1, 7)},
        "tcp_speed": Placement(_ARM_PARAMS, NS.TWIN, "TcpSpeed"),
        "speed_override": Placement(_ARM_PARAMS, NS.ROBOTICS, "SpeedOverride"),
    },
    "printer": {
        "nozzle_temp": Placement((_MON, Step(NS.TWIN, "Extruder")), NS.TWIN, "NozzleTemperature"),
        "bed_temp": Placement((_MON, Step(NS.TWIN, "BuildPlatform")), NS.TWIN, "Temperature"),
        "layer": Placement((_MON, Step(NS.TWIN, "BuildCycle")), NS.TWIN, "Layer"),
        "progress": Placement((_MON, Step(NS.TWIN, "BuildCycle")), NS.TWIN, "Progress"),
        "feedstock_used": Placement(
            (_EQUIP, Step(NS.TWIN, "Feedstock")), NS.TWIN, "ConsumedQuantity"
        ),
        "power": Placement((_MON, _MT), NS.TWIN, "ElectricalPower"),
    },
    "inspection": {
        "result": Placement((_MON, Step(NS.TWIN, "Inspection")), NS.TWIN, "Result"),
        "deviation": Placement((_MON, Step(NS.TWIN, "Inspection")), NS.TWIN, "MaxDeviation"),
        "features_checked": Placement(
            (_MON, Step(NS.TWIN, "Inspection")), NS.TWIN, "FeaturesChecked"
        ),
        "power": Placement((_MON, _MT), NS.TWIN, "ElectricalPower"),
    },
}


def placement(kind: str, signal: str) -> Placement:
    """Placement of ``signal`` of a ``kind`` machine (default: twin Monitoring/<signal>)."""
    found = PLACEMENTS.get(kind, {}).get(signal)
    if found is not None:
        return found
    mon = (
        _MON if MACHINE_TYPES.get(kind, ("", ""))[0] != NS.ROBOTICS else Step(NS.TWIN, "Monitoring")
    )
    if kind == "generic":
        mon = Step(NS.TWIN, "Monitoring")
    name = "".join(p.capitalize() for p in signal.split("_"))
    return Placement((mon,), NS.TWIN, name)
