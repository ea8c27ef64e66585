"""``Cell/Adapters``: one read-only object per PLC link, so SCADA can alarm on a lost link.

Each object (``AdapterLinkType``) has ``Connected`` (Boolean), ``ConsecutiveFailures`` (UInt32:
failed connects and lost links since the link last worked), ``Failures`` (UInt32, since the
twin started), ``LastError`` (String, of the link or a tag, kept after a reconnect),
``LastChange`` (DateTime: when ``Connected`` last changed), ``BadTags`` (UInt32: mappings the
PLC refuses now, while the link serves the others) and ``TagErrors`` (String array: one
``mapping: reason`` each), ``Kind`` and ``Endpoint`` (String). The values come from the
twin's ``LinkRegistry`` (adapters report into it; this family never imports an adapter) and
follow each change. The folder is there, empty, when the twin has no adapters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asyncua import Node, ua

from opcua_server.nodes.base import BuildContext
from opcua_server.nodesets import NS
from twin.links import LinkState

__all__ = ["LinksFamily"]

_B, _U, _S, _T = (
    ua.VariantType.Boolean,
    ua.VariantType.UInt32,
    ua.VariantType.String,
    ua.VariantType.DateTime,
)
# browse name, type, the value from a LinkState
_FIELDS: tuple[tuple[str, ua.VariantType, Callable[[LinkState], Any]], ...] = (
    ("Connected", _B, lambda s: s.connected),
    ("ConsecutiveFailures", _U, lambda s: s.failures),
    ("Failures", _U, lambda s: s.total_failures),
    ("LastError", _S, lambda s: s.last_error),
    ("LastChange", _T, lambda s: s.since),
    ("BadTags", _U, lambda s: len(s.bad_tags)),
    ("TagErrors", _S, lambda s: list(s.bad_tags)),
    ("Kind", _S, lambda s: s.kind),
    ("Endpoint", _S, lambda s: s.endpoint),
)


class LinksFamily:
    """Builds ``Cell/Adapters`` from ``ctx.links`` and keeps it current."""

    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx
        self.nodes: list[ua.NodeId] = []
        self._unsubscribe: Callable[[], None] | None = None

    async def build(self) -> None:
        ctx = self.ctx
        link_type = await ctx.server.nodes.base_object_type.add_object_type(
            ctx.nid("types.AdapterLinkType"), ctx.qn(NS.TWIN, "AdapterLinkType")
        )
        cell = ctx.node(ctx.nid("Cell"))
        folder = await cell.add_folder(ctx.nid("Cell.Adapters"), ctx.qn(NS.TWIN, "Adapters"))
        self.nodes.append(folder.nodeid)
        for state in ctx.links:
            obj = await folder.add_object(
                ctx.nid(_ident(state.name)), ctx.qn(NS.TWIN, state.name), link_type.nodeid
            )
            self.nodes.append(obj.nodeid)
            for name, vtype, get in _FIELDS:
                await self._variable(obj, f"{_ident(state.name)}.{name}", name, get(state), vtype)

    async def _variable(
        self, parent: Node, ident: str, name: str, value: Any, vtype: ua.VariantType
    ) -> None:
        ctx = self.ctx
        # add_variable leaves AccessLevel at CurrentRead: read-only for every client
        var = await parent.add_variable(ctx.nid(ident), ctx.qn(NS.TWIN, name), value, vtype)
        self.nodes.append(var.nodeid)

    def start(self) -> None:
        self._unsubscribe = self.ctx.links.subscribe(self._changed)
        for state in self.ctx.links:  # what changed between build and start
            self._changed(state)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _changed(self, state: LinkState) -> None:
        ctx = self.ctx
        base = _ident(state.name)
        for name, vtype, get in _FIELDS[:-2]:  # Kind and Endpoint never change
            ctx.write(ctx.nid(f"{base}.{name}"), get(state), vtype)


def _ident(name: str) -> str:
    return f"Cell.Adapters.{name}"
