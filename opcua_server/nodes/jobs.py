"""Job orders from an MES through ISA-95 Job Control (OPC 10031-4) as Machinery Jobs
(OPC 40001-3): ``Objects/Cell/JobManagement`` (JobManagementType) whose ``JobOrderControl``
offers Store, StoreAndStart, Start, Cancel and Clear, delegating to ``twin.api``.

A job order (ISA95JobOrderDataType) becomes a twin order: ``JobOrderID`` is the order id,
``JobOrderParameters`` are the product fields (``type`` names the product family, the other
IDs its parameters, e.g. ``material``, ``volume_cm3``), ``EndTime`` is the due date (mapped
to simulated time like every timestamp of the twin: wall origin + simulated seconds). Store
keeps the order until Start; StoreAndStart releases it at once. ReturnStatus is 0 on
success; a rejected call answers a Bad status code with the twin's message in the
diagnostic info, and changes nothing. All these methods need an operator.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from asyncua import ua
from pydantic import ValidationError

from opcua_server.nodes.base import BuildContext, child, instantiate_type
from opcua_server.nodesets import NS
from opcua_server.users import Role
from twin.errors import CommandError, TwinError
from twin.model.loader import format_validation_error
from twin.model.scenario import OrderConfig

__all__ = ["JobsFamily"]

_JOB_MANAGEMENT_TYPE = 1003  # Machinery Jobs: JobManagementType
# ISA95JobOrderReceiverObjectType methods (instance declarations in the ISA-95 namespace)
_METHODS = {"Store": 7001, "StoreAndStart": 7004, "Start": 7005, "Cancel": 7011, "Clear": 7012}
_OK = [ua.Variant(0, ua.VariantType.UInt64)]


class JobsFamily:
    """JobManagement of the cell; stored (not yet started) job orders live here."""

    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx
        self.nodes: list[ua.NodeId] = []
        self.methods: dict[str, ua.NodeId] = {}
        self.stored: dict[str, OrderConfig] = {}
        self.control: ua.NodeId | None = None

    async def build(self) -> None:
        ctx = self.ctx
        cell = ctx.node(ctx.nid("Cell"))
        created = await instantiate_type(
            ctx,
            cell,
            ua.NodeId(_JOB_MANAGEMENT_TYPE, ctx.ns[NS.MACHINERY_JOBS]),
            "Cell.JobManagement",
            ctx.qn(NS.MACHINERY_JOBS, "JobManagement"),
        )
        self.nodes.extend(n.nodeid for n in created)
        control = await child(created[0], ctx.qn(NS.MACHINERY_JOBS, "JobOrderControl"))
        assert control is not None
        self.control = control.nodeid
        handlers: dict[str, Callable[..., Any]] = {
            "Store": self._store,
            "StoreAndStart": self._store_and_start,
            "Start": self._start,
            "Cancel": self._cancel,
            "Clear": self._clear,
        }
        isa95 = ctx.ns[NS.ISA95_JOBCONTROL]
        for name, decl in _METHODS.items():
            made = await instantiate_type(
                ctx,
                control,
                ua.NodeId(decl, isa95),
                f"Cell.JobManagement.JobOrderControl.{name}",
                ua.QualifiedName(name, isa95),
            )
            method = made[0]
            ctx.server.link_method(method, self._wrap(name, handlers[name]))
            ctx.permissions.require(method.nodeid, Role.OPERATOR)
            self.methods[name] = method.nodeid
            self.nodes.extend(n.nodeid for n in made)

    def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    # -- methods --------------------------------------------------------------------------------
    def _wrap(self, name: str, handler: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        async def call(parent: ua.NodeId, *args: Any) -> Any:
            values = [a.Value if isinstance(a, ua.Variant) else a for a in args]
            try:
                handler(*values)
            except (TwinError, TypeError, ValueError) as exc:
                result = ua.CallMethodResult()
                result.StatusCode = ua.StatusCode(ua.StatusCodes.BadInvalidArgument)
                result.InputArgumentResults = [result.StatusCode] + [
                    ua.StatusCode() for _ in args[1:]
                ]
                result.InputArgumentDiagnosticInfos = [
                    ua.DiagnosticInfo(AdditionalInfo=f"{name}: {exc}")
                ] + [ua.DiagnosticInfo() for _ in args[1:]]
                return result
            return _OK

        return call

    def _order(self, job_order: Any) -> OrderConfig:
        if job_order is None or not getattr(job_order, "JobOrderID", None):
            raise CommandError("JobOrder: JobOrderID is required")
        product: dict[str, Any] = {}
        for p in getattr(job_order, "JobOrderParameters", None) or []:
            value = p.Value.Value if isinstance(p.Value, ua.Variant) else p.Value
            product[str(p.ID)] = value
        data: dict[str, Any] = {"id": job_order.JobOrderID, "product": product}
        end = getattr(job_order, "EndTime", None)
        if isinstance(end, datetime) and end.year > 1601:
            driver = self.ctx.api.driver
            origin = driver.wall_time(0.0) if driver else self.ctx.engine.scenario.start
            data["due"] = max((end.astimezone(UTC) - origin).total_seconds(), 0.0)
        try:
            return OrderConfig.model_validate(data)
        except ValidationError as exc:
            raise CommandError(str(format_validation_error("JobOrder", exc))) from exc

    def _check_new(self, order: OrderConfig) -> None:
        if order.id in self.stored or order.id in self.ctx.engine.jobs:
            raise CommandError(f"JobOrder: JobOrderID {order.id!r} already exists")

    def _store(self, job_order: Any, comment: Any = None) -> None:
        order = self._order(job_order)
        self._check_new(order)
        # plan now so a product the cell cannot make is refused at Store, not at Start
        try:
            self.ctx.engine.planner.plan(order.product)
        except ValueError as exc:
            raise CommandError(f"JobOrder: product: {exc}") from exc
        self.stored[order.id] = order

    def _store_and_start(self, job_order: Any, comment: Any = None) -> None:
        order = self._order(job_order)
        self._check_new(order)
        self.ctx.api.submit_order(order)

    def _start(self, job_order_id: str, comment: Any = None) -> None:
        order = self.stored.get(job_order_id)
        if order is None:
            raise CommandError(f"JobOrderID: no stored job order {job_order_id!r}")
        self.ctx.api.submit_order(order)
        del self.stored[job_order_id]

    def _cancel(self, job_order_id: str, comment: Any = None) -> None:
        if self.stored.pop(job_order_id, None) is None:
            self.ctx.api.cancel_order(job_order_id)

    def _clear(self, job_order_id: str, comment: Any = None) -> None:
        if self.stored.pop(job_order_id, None) is None and job_order_id not in self.ctx.engine.jobs:
            raise CommandError(f"JobOrderID: unknown job order {job_order_id!r}")
