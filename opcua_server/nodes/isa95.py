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
    "HELD",
    "INTERRUPTED",
    "NOT_ALLOWED_TO_START",
    "RUNNING",
    "STATE_TEXT",
    "SUBSTATES",
    "SUSPENDED",
    "State",
    "parameters",
    "state_text",
    "states",
    "structure",
]

# ISA95JobOrderReceiverObjectType states; the substates the twin reports: Completed
# (ISA95EndedStateMachineType), Held and Suspended (ISA95InterruptedStateMachineType)
NOT_ALLOWED_TO_START, ALLOWED_TO_START, RUNNING, INTERRUPTED, ENDED, ABORTED = range(1, 7)
COMPLETED = 1
HELD, SUSPENDED = 1, 2
STATE_TEXT = {
    NOT_ALLOWED_TO_START: "NotAllowedToStart",
    ALLOWED_TO_START: "AllowedToStart",
    RUNNING: "Running",
    INTERRUPTED: "Interrupted",
    ENDED: "Ended",
    ABORTED: "Aborted",
}
# the substates by top-level state: the substate machine's browse name, and texts by number
SUBSTATES = {
    ENDED: ("EndedSubstates", {COMPLETED: "Completed"}),
    INTERRUPTED: ("InterruptedSubstates", {HELD: "Held", SUSPENDED: "Suspended"}),
}

State = tuple[int, int | None]  # (top-level StateNumber, substate StateNumber or None)


def state_text(state: State) -> str:
    """``Running``, ``Interrupted/Held``: the state as an operator reads it."""
    top, sub = state
    if sub is None:
        return STATE_TEXT[top]
    return f"{STATE_TEXT[top]}/{SUBSTATES[top][1][sub]}"


def structure(name: str) -> Any:
    """A structure class of a companion specification (registered by
    ``load_data_type_definitions`` at server start, so not known statically)."""
    return getattr(ua, name)


def states(state: State, ns: int) -> list[Any]:
    """ISA95StateDataType[] of ``state``: the top-level state, then its substate, if any, with
    the browse path of the substate machine (``EndedSubstates``, ``InterruptedSubstates``, in
    the ISA-95 namespace ``ns``)."""
    make = structure("ISA95StateDataType")
    top, sub = state
    out = [
        make(
            BrowsePath=ua.RelativePath(),
            StateText=ua.LocalizedText(STATE_TEXT[top]),
            StateNumber=top,
        )
    ]
    if sub is not None:
        machine, texts = SUBSTATES[top]
        path = ua.RelativePath(
            Elements=[
                ua.RelativePathElement(
                    ReferenceTypeId=ua.NodeId(ua.ObjectIds.HasComponent),
                    IncludeSubtypes=True,
                    TargetName=ua.QualifiedName(machine, ns),
                )
            ]
        )
        out.append(make(BrowsePath=path, StateText=ua.LocalizedText(texts[sub]), StateNumber=sub))
    return out


def parameters(spec: ProductSpec) -> list[Any]:
    """ISA95ParameterDataType[] of a product: ``type``, then the fields given (lists, as in
    an explicit routing, as JSON text)."""
    param = structure("ISA95ParameterDataType")
    out = []
    for key, value in spec.model_dump(mode="json", exclude_unset=True).items():
        vtype = _VARIANT_TYPES.get(type(value))
        variant = (
            ua.Variant(value, vtype)
            if vtype is not None
            else ua.Variant(json.dumps(value), ua.VariantType.String)
        )
        out.append(param(ID=key, Value=variant))
    if not out or out[0].ID != "type":
        out.insert(0, param(ID="type", Value=ua.Variant(spec.type, ua.VariantType.String)))
    return out


# the types asyncua would guess, given (its guess costs ~30 us a value: a failed enum lookup)
_VARIANT_TYPES = {
    bool: ua.VariantType.Boolean,
    int: ua.VariantType.Int64,
    float: ua.VariantType.Double,
    str: ua.VariantType.String,
}
