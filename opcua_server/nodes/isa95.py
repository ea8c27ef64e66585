"""ISA-95 Job Control (OPC 10031-4) structures built for the job management of the cell:
state numbers and texts of ISA95JobOrderReceiverObjectType, ISA95StateDataType[] and the
product parameters of a job order (ISA95ParameterDataType[]).
"""

from __future__ import annotations

import json
from typing import Any

from asyncua import ua

from twin.model.products import ProductSpec

__all__ = [
    "ABORTED",
    "ALLOWED_TO_START",
    "COMPLETED",
    "ENDED",
    "INTERRUPTED",
    "NOT_ALLOWED_TO_START",
    "RUNNING",
    "STATE_TEXT",
    "parameters",
    "states",
    "structure",
]

# ISA95JobOrderReceiverObjectType states and the ISA95EndedStateMachineType substate
NOT_ALLOWED_TO_START, ALLOWED_TO_START, RUNNING, INTERRUPTED, ENDED, ABORTED = range(1, 7)
COMPLETED = 1
STATE_TEXT = {
    NOT_ALLOWED_TO_START: "NotAllowedToStart",
    ALLOWED_TO_START: "AllowedToStart",
    RUNNING: "Running",
    INTERRUPTED: "Interrupted",
    ENDED: "Ended",
    ABORTED: "Aborted",
}


def structure(name: str) -> Any:
    """A structure class of a companion specification (registered by
    ``load_data_type_definitions`` at server start, so not known statically)."""
    return getattr(ua, name)


def states(number: int, ns: int) -> list[Any]:
    """ISA95StateDataType[] of top-level state ``number``: Ended has its substate Completed
    (``EndedSubstates``, in the ISA-95 namespace ``ns``)."""
    state = structure("ISA95StateDataType")
    top = state(
        BrowsePath=ua.RelativePath(),
        StateText=ua.LocalizedText(STATE_TEXT[number]),
        StateNumber=number,
    )
    if number != ENDED:
        return [top]
    path = ua.RelativePath(
        Elements=[
            ua.RelativePathElement(
                ReferenceTypeId=ua.NodeId(ua.ObjectIds.HasComponent),
                IncludeSubtypes=True,
                TargetName=ua.QualifiedName("EndedSubstates", ns),
            )
        ]
    )
    sub = state(BrowsePath=path, StateText=ua.LocalizedText("Completed"), StateNumber=COMPLETED)
    return [top, sub]


def parameters(spec: ProductSpec) -> list[Any]:
    """ISA95ParameterDataType[] of a product: ``type``, then the fields given (lists, as in
    an explicit routing, as JSON text)."""
    param = structure("ISA95ParameterDataType")
    out = []
    for key, value in spec.model_dump(mode="json", exclude_unset=True).items():
        scalar = isinstance(value, str | int | float | bool)
        out.append(param(ID=key, Value=ua.Variant(value if scalar else json.dumps(value))))
    if not out or out[0].ID != "type":
        out.insert(0, param(ID="type", Value=ua.Variant(spec.type)))
    return out
