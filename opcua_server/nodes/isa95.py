"""ISA-95 Job Control (OPC 10031-4) structures built for the job management of the cell:
state numbers and texts of ISA95JobOrderReceiverObjectType, ISA95StateDataType[] and the
product parameters of a job order (ISA95ParameterDataType[]), both ways: what ``parameters``
lists for a product, ``product_fields`` takes back as the same product (an explicit routing's
``operations`` as the JSON text it is listed as).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any, Literal, get_args, get_origin

from asyncua import ua
from pydantic import ValidationError

from opcua_server.nodes.calls import variant_text
from twin.errors import CommandError
from twin.model.loader import format_validation_error
from twin.model.products import PRODUCT_FAMILIES, ExplicitSpec, ProductSpec

__all__ = [
    "ABORTED",
    "ALLOWED_TO_START",
    "COMPLETED",
    "ENDED",
    "HELD",
    "INTERRUPTED",
    "NOT_ALLOWED_TO_START",
    "RUNNING",
    "SPEC_SUBSTATES",
    "STATE_TEXT",
    "SUBSTATES",
    "SUSPENDED",
    "State",
    "order_error",
    "parameters",
    "product_fields",
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

# every substate OPC 10031-4 defines, by top-level state (ISA95PrepareStateMachineType below
# NotAllowedToStart and AllowedToStart; the twin reports none of those): what a request by
# state may name
_PREPARE = {1: "Waiting", 2: "Ready", 3: "Loaded"}
SPEC_SUBSTATES: dict[int, dict[int, str]] = {
    NOT_ALLOWED_TO_START: _PREPARE,
    ALLOWED_TO_START: _PREPARE,
    RUNNING: {},
    INTERRUPTED: {HELD: "Held", SUSPENDED: "Suspended"},
    ENDED: {COMPLETED: "Completed", 2: "Closed"},
    ABORTED: {},
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


_V = ua.VariantType
_NUMBERS = frozenset(
    {_V.SByte, _V.Byte, _V.Int16, _V.UInt16, _V.Int32, _V.UInt32, _V.Int64, _V.UInt64}
    | {_V.Float, _V.Double}
)
# what a product field takes, by its type: the text of the refusal and the variant types; a
# whole number also for an integer field (JavaScript MES clients send every number as a
# Double; the model refuses one with a fraction, naming the field)
_FIELD_TYPES: dict[object, tuple[str, frozenset[ua.VariantType]]] = {
    float: ("a number (Double or an integer type)", _NUMBERS),
    int: ("an integer (an integer type, or a Double with no fraction)", _NUMBERS),
    bool: ("Boolean", frozenset({_V.Boolean})),
    str: ("String", frozenset({_V.String})),
}


def product_fields(params: list[Any] | None, machines: Collection[str]) -> dict[str, Any]:
    """The product fields of a job order's ``JobOrderParameters``, by parameter ID; raises
    CommandError naming the parameter for an ID missing or given twice, for a value
    whose variant type does not fit the field of the product family (``type``): a Boolean
    or a String for a number, a number for a text, and for an explicit routing's
    ``operations`` that is no JSON text of operations on ``machines`` (the cell's ids).
    Parameters that are no field of the family, and the other values themselves, are left
    to the model to check."""
    given: dict[str, tuple[int, ua.Variant]] = {}
    for i, p in enumerate(params or []):
        where = f"JobOrder: JobOrderParameters[{i}]"
        if not p.ID:
            raise CommandError(f"{where}: ID is required")
        if p.ID in given:
            first = given[p.ID][0]
            raise CommandError(
                f"{where}: ID {p.ID!r} given twice (also JobOrderParameters[{first}])"
            )
        given[p.ID] = (i, p.Value)
    fields: dict[str, Any] = {}
    family = None
    if "type" in given:  # the product family: its fields' types
        _check(*given["type"], "type", _FIELD_TYPES[str])
        family = PRODUCT_FAMILIES.get(given["type"][1].Value)
        fields = family.model_fields if family is not None else {}
    for key, (i, value) in given.items():
        expected = _field_type(fields[key].annotation) if key in fields else None
        if expected is not None:
            _check(i, value, key, expected)
    out = {key: value.Value for key, (_, value) in given.items()}
    if family is ExplicitSpec and "operations" in given:
        out["operations"] = _routing(given["operations"][0], out["operations"], machines)
    return out


# an explicit routing as JobOrderList shows it (``parameters``)
_ROUTING_TEXT = (
    'a JSON array of operations, each {"machine": "<machine id>", "duration": <seconds, or'
    ' a duration such as "5m">}'
)


def _routing(i: int, text: str, machines: Collection[str]) -> Any:
    """The operations of an explicit routing from their JSON text (JobOrderParameters[i]);
    raises CommandError naming the parameter, and the operation and its field, for text
    that is not JSON, not operations (wrong shape, a negative or non-finite duration), or
    names a machine not in ``machines`` (the cell's ids, in its order: the order the
    error lists them in)."""
    where = f"JobOrder: JobOrderParameters[{i}]"
    try:
        operations = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(
            f"{where} (operations): not valid JSON ({exc.msg} at {exc.pos}); expected"
            f" {_ROUTING_TEXT}"
        ) from exc
    try:
        # the routing is the whole of an explicit product: its errors name operations[0]...
        spec = ExplicitSpec.model_validate({"operations": operations})
    except ValidationError as exc:
        error = format_validation_error(where, exc)
        shape = "" if "." in (error.field or "") else f"; expected {_ROUTING_TEXT}"
        raise CommandError(f"{where} ({error.field}): {error.reason}{shape}") from exc
    unknown = spec.unknown_machine(machines)
    if unknown is not None:
        field, reason = unknown
        raise CommandError(f"{where} ({field}): {reason}")
    return operations


# an order field's path in the model's errors: product.<parameter ID><within it>, or a field
_ORDER_FIELD = re.compile(r"product\.(\w+)(.*)|\w+")
# the job order's own fields that hold an order field
_JOB_ORDER_FIELDS = {"id": "JobOrderID", "due": "EndTime"}
_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})


def order_error(exc: ValidationError, params: list[Any] | None) -> CommandError:
    """The order model's first error of a job order (an ``OrderConfig`` of the fields
    ``product_fields`` took from ``params``), naming what the MES sent as ``product_fields``
    does: a product field by its JobOrderParameters entry and the field within it
    (``JobOrderParameters[1] (material)``, ``JobOrderParameters[0] (type)``), one not given
    by the ID it lacks (``JobOrderParameters (no parameter 'operations')``); the id and
    the due date by JobOrderID and EndTime."""
    error = format_validation_error("JobOrder", exc)
    field = error.field or ""
    if field == "product" and any(e["type"] in _TAG_ERRORS for e in exc.errors()):
        field = "product.type"  # the family: pydantic names the union, not its tag
    match = _ORDER_FIELD.fullmatch(field)
    if match is None:
        return CommandError(str(error))
    key, within = match.group(1, 2)
    ids = [p.ID for p in params or []]  # each once: product_fields refuses an ID twice
    if key is None:
        where = _JOB_ORDER_FIELDS.get(field, field)
    elif key in ids:
        where = f"JobOrderParameters[{ids.index(key)}] ({key}{within})"
    else:
        where = f"JobOrderParameters (no parameter {key!r})"
    return CommandError(f"JobOrder: {where}: {error.reason}")


def _check(
    i: int, value: ua.Variant, key: str, expected: tuple[str, frozenset[ua.VariantType]]
) -> None:
    if value.VariantType not in expected[1] or value.is_array or value.Dimensions:
        raise CommandError(
            f"JobOrder: JobOrderParameters[{i}] ({key}): expected {expected[0]},"
            f" got {variant_text(value)}"
        )


def _field_type(annotation: Any) -> tuple[str, frozenset[ua.VariantType]] | None:
    """What a field of this type takes (a list, an explicit routing's operations: its JSON
    text); None for a field of another type, left to the model."""
    if get_origin(annotation) is list:
        return f"String ({_ROUTING_TEXT})", _FIELD_TYPES[str][1]
    if get_origin(annotation) is Literal and all(isinstance(a, str) for a in get_args(annotation)):
        return _FIELD_TYPES[str]
    return _FIELD_TYPES.get(annotation)
