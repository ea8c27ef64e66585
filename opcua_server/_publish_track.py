"""Which subscriptions monitor the published nodes, and their notifications (publisher-private).

asyncua notifies a subscription through one awaited ``datachange_callback`` per value, which
deep-copies the value, builds a ``MonitoredItemNotification`` and later encodes it field by
field. For the published nodes this module replaces that with per-subscription numpy arrays:

- the monitored items on published nodes are discovered from the address space's data-change
  callbacks (``AttributeValue.datachange_callbacks`` holds the ``MonitoredItemService`` bound
  method; its ``_monitored_datachange`` and ``_monitored_items`` give id, handle, mode, filter);
- the tables are rebuilt lazily when monitored items are added, deleted or modified (the
  address space's and the services' methods are wrapped on the instance to mark them stale);
- when the subscription's publishing cycle pops its queued data changes, the hook samples the
  items changed since the last cycle and appends one pre-encoded DataChangeNotification
  (``ua.ExtensionObject`` with the binary body), merged with what asyncua queued for other nodes.

Sampling interval = publishing interval: an item reports at most its latest value per cycle,
which is what a client asking for queue size 1 gets from any server. Relies on asyncua 1.1-2.x
internals (``InternalSubscription._triggered_datachanges`` and ``_pop_triggered_datachanges``,
``MonitoredItemService._monitored_datachange`` and ``_monitored_items``); the publisher tests
exercise all of them.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from asyncua import ua
from asyncua.server.address_space import AddressSpace
from asyncua.server.internal_subscription import InternalSubscription
from asyncua.server.monitored_item_service import MonitoredItemService
from asyncua.ua import uaprotocol_auto

from opcua_server._publish_encode import (
    Columns,
    body_with_extra,
    cast_values,
    datavalue_at,
    encode_items,
)
from opcua_server._publish_phase import PhaseKeeper

__all__ = ["MARK", "SubscriptionTracker"]

# Key of the (empty) entry put in a subscription's queued data changes so that asyncua's
# publishing cycle sees pending data and calls the pop hook; monitored item ids start above 0.
MARK = -1
_DCN_TYPE_ID = ua.NodeId(ua.Int32(ua.ObjectIds.DataChangeNotification_Encoding_DefaultBinary))


@dataclass
class _Items:
    """One subscription's monitored items on published nodes, as parallel arrays."""

    isub: InternalSubscription
    pos: np.ndarray  # int64 positions
    handles: np.ndarray  # uint32 client handles
    active: np.ndarray  # bool: Reporting mode
    deadband: np.ndarray  # float64 absolute deadband, NaN = none
    status_only: np.ndarray  # bool: DataChangeTrigger Status (status changes only)
    last_seq: np.ndarray  # int64 sequence number considered up to
    last_sent: np.ndarray  # float64 last reported value (for deadbands)
    last_status: np.ndarray  # uint32 last reported status (for deadbands and Status triggers)
    mids: list[int] = field(default_factory=list)
    filtered: bool = False  # some item has a deadband or a Status trigger
    single: ua.VariantType | None = None  # the variant type of all items, if they share one


class SubscriptionTracker:
    """Tracks the monitored items on published nodes and builds their notifications."""

    def __init__(
        self,
        aspace: AddressSpace,
        nodeids: list[ua.NodeId],
        cols: Columns,
        phase: PhaseKeeper | None = None,
    ) -> None:
        self._aspace = aspace
        self._phase = phase
        self._nodeids = nodeids
        self._cols = cols
        self._pos_of = {nid: p for p, nid in enumerate(nodeids)}
        self._subs: dict[int, _Items] = {}
        self._handles: set[int] = set()
        self._services: dict[int, MonitoredItemService] = {}
        self._foreign: list[tuple[int, int, Callable[..., Any]]] = []
        self.stale = True
        self._attached = False

    # -- lifecycle -------------------------------------------------------------------------

    def attach(self) -> None:
        """Wrap the address space's callback registration so changes mark the tables stale."""
        aspace = self._aspace
        add, delete = aspace.add_datachange_callback, aspace.delete_datachange_callback

        def add_cb(nodeid: ua.NodeId, attr: ua.AttributeIds, callback: Callable[..., Any]) -> Any:
            if nodeid in self._pos_of and attr == ua.AttributeIds.Value:
                self.stale = True
            return add(nodeid, attr, callback)

        def delete_cb(handle: int) -> None:
            if handle in self._handles:
                self.stale = True
            delete(handle)

        aspace.add_datachange_callback = add_cb  # type: ignore[method-assign]
        aspace.delete_datachange_callback = delete_cb  # type: ignore[method-assign]
        self._attached = True
        self.stale = True

    def detach(self) -> None:
        """Undo every instance-level wrapper and hook; asyncua's own path takes over again."""
        if not self._attached:
            return
        for name in ("add_datachange_callback", "delete_datachange_callback"):
            self._aspace.__dict__.pop(name, None)
        for mis in self._services.values():
            self._unwatch(mis)
        for items in self._subs.values():
            self._unhook(items.isub)
        self._subs.clear()
        self._services.clear()
        self._handles.clear()
        self._attached = False

    # -- discovery -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Rebuild the per-subscription tables if monitored items changed since last time."""
        if not self.stale or not self._attached:
            return
        self.stale = False
        found: dict[int, tuple[InternalSubscription, list[tuple[int, int, Any]]]] = {}
        handles: set[int] = set()
        foreign: list[tuple[int, int, Callable[..., Any]]] = []
        services: dict[int, MonitoredItemService] = {}
        for p, nid in enumerate(self._nodeids):
            node = self._aspace.get(nid)
            attval = None if node is None else node.attributes.get(ua.AttributeIds.Value)
            if attval is None:
                continue
            for handle, cb in attval.datachange_callbacks.items():
                handles.add(handle)
                mis = getattr(cb, "__self__", None)
                if not isinstance(mis, MonitoredItemService):
                    foreign.append((p, handle, cb))
                    continue
                mid = mis._monitored_datachange.get(handle)
                mdata = None if mid is None else mis._monitored_items.get(mid)
                if mid is None or mdata is None:
                    continue
                services[id(mis)] = mis
                entry = found.setdefault(id(mis.isub), (mis.isub, []))
                entry[1].append((p, mid, mdata))
        self._handles = handles
        self._foreign = foreign
        for key, mis in self._services.items():
            if key not in services:  # e.g. its subscription was deleted: let it go
                self._unwatch(mis)
        for key, mis in services.items():
            if key not in self._services:
                self._watch(mis)
        self._services = services
        old = self._subs
        self._subs = {
            key: self._build(isub, rows, old.get(key)) for key, (isub, rows) in found.items()
        }
        for key, items in old.items():
            if key not in self._subs:
                self._unhook(items.isub)
                if self._phase is not None:
                    self._phase.forget(items.isub)
        for items in self._subs.values():
            self._hook(items.isub)

    def _build(
        self, isub: InternalSubscription, rows: list[tuple[int, int, Any]], prev: _Items | None
    ) -> _Items:
        n = len(rows)
        pos = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        handles = np.fromiter((r[2].client_handle for r in rows), dtype=np.uint32, count=n)
        active = np.ones(n, dtype=bool)
        deadband = np.full(n, np.nan)
        status_only = np.zeros(n, dtype=bool)
        for i, (_p, _mid, mdata) in enumerate(rows):
            flt = mdata.filter
            if mdata.mode != ua.MonitoringMode.Reporting:
                active[i] = False
            elif isinstance(flt, uaprotocol_auto.DataChangeFilter):  # decoded: the auto class
                if flt.Trigger == ua.DataChangeTrigger.Status:
                    status_only[i] = True  # e.g. a SCADA watching the link, not the value
                elif flt.DeadbandType == ua.DeadbandType.Absolute:
                    deadband[i] = float(flt.DeadbandValue)
        cols = self._cols
        # items new to the tables got their initial value from asyncua when they were created
        last_seq = np.full(n, cols.seqno, dtype=np.int64)
        last_sent = cols.values[pos].copy()
        last_sent[cols.seq[pos] == 0] = np.nan
        last_status = cols.status[pos].copy()
        mids = [r[1] for r in rows]
        codes = np.unique(cols.vcodes[pos])
        single = ua.VariantType(int(codes[0])) if codes.size == 1 else None
        if prev is not None:
            before = {mid: i for i, mid in enumerate(prev.mids)}
            for i, mid in enumerate(mids):
                j = before.get(mid)
                if j is not None:
                    last_seq[i] = prev.last_seq[j]
                    last_sent[i] = prev.last_sent[j]
                    last_status[i] = prev.last_status[j]
        return _Items(
            isub,
            pos,
            handles,
            active,
            deadband,
            status_only,
            last_seq,
            last_sent,
            last_status,
            mids,
            bool(np.any(~np.isnan(deadband)) or status_only.any()),
            single,
        )

    def _watch(self, mis: MonitoredItemService) -> None:
        """Wrap the service's mode and modify calls (on the instance) to mark the tables stale."""
        set_mode, modify = mis.set_monitoring_mode, mis.modify_monitored_items

        async def set_monitoring_mode(
            mode: ua.MonitoringMode, ids: list[int]
        ) -> list[ua.StatusCode]:
            try:
                return await set_mode(mode, ids)
            finally:  # after: a refresh while it awaits must not see a half-changed state
                self.stale = True

        def modify_monitored_items(params: ua.ModifyMonitoredItemsParameters) -> list[Any]:
            self.stale = True
            return modify(params)

        mis.set_monitoring_mode = set_monitoring_mode  # type: ignore[method-assign]
        mis.modify_monitored_items = modify_monitored_items  # type: ignore[method-assign]

    @staticmethod
    def _unwatch(mis: MonitoredItemService) -> None:
        for name in ("set_monitoring_mode", "modify_monitored_items"):
            mis.__dict__.pop(name, None)

    def _hook(self, isub: InternalSubscription) -> None:
        if "_pop_triggered_datachanges" not in isub.__dict__:
            isub._pop_triggered_datachanges = functools.partial(self._pop, isub)  # type: ignore[method-assign]

    @staticmethod
    def _unhook(isub: InternalSubscription) -> None:
        isub.__dict__.pop("_pop_triggered_datachanges", None)
        isub._triggered_datachanges.pop(MARK, None)

    # -- data path ---------------------------------------------------------------------------

    @property
    def foreign(self) -> list[tuple[int, int, Callable[..., Any]]]:
        """Other data-change callbacks on published nodes: (position, handle, callback)."""
        return self._foreign

    @property
    def subscriptions(self) -> list[InternalSubscription]:
        """The subscriptions with monitored items on published nodes."""
        return [items.isub for items in self._subs.values()]

    def mark(self, touched: np.ndarray) -> None:
        """Flag every subscription with an item on a ``touched`` position as having data."""
        for items in self._subs.values():
            if touched[items.pos].any():
                items.isub._triggered_datachanges.setdefault(MARK, [])

    def _pop(self, isub: InternalSubscription, result: ua.PublishResult) -> None:
        """Replacement for ``isub._pop_triggered_datachanges``: sampled items + asyncua's queue."""
        self.refresh()
        if self._phase is not None:
            self._phase.cycle(isub, asyncio.get_running_loop().time())
        queued = isub._triggered_datachanges
        isub._triggered_datachanges = {}
        queued.pop(MARK, None)
        extra = [item for lst in queued.values() for item in lst]
        items = self._subs.get(id(isub))
        sel = self._sample(items) if items is not None else None
        if sel is None and not extra:
            return
        if isub.pub_request_callback is None:
            # a server-internal subscription (e.g. history) consumes objects, not bytes
            objs = self._objects(items, sel) if items is not None and sel is not None else []
            result.NotificationMessage.NotificationData.append(
                ua.DataChangeNotification(MonitoredItems=objs + extra)
            )
            return
        count, parts = (0, []) if sel is None or items is None else self._encode(items, sel)
        body = body_with_extra(count, parts, extra)
        result.NotificationMessage.NotificationData.append(
            ua.ExtensionObject(TypeId=_DCN_TYPE_ID, Body=cast("ua.ByteString", body))
        )

    def _sample(self, items: _Items) -> np.ndarray | None:
        cols = self._cols
        changed = (cols.seq[items.pos] > items.last_seq) & items.active
        items.last_seq[:] = cols.seqno
        if items.filtered:
            # a new status is always reported; a value only beyond its deadband, and never to
            # an item whose trigger is the status alone
            v = cols.values[items.pos]
            st = cols.status[items.pos]
            db = items.deadband
            moved = np.isnan(db) | np.isnan(items.last_sent) | (np.abs(v - items.last_sent) > db)
            changed &= (moved & ~items.status_only) | (st != items.last_status)
            items.last_sent[changed] = v[changed]
            items.last_status[changed] = st[changed]
        sel = np.flatnonzero(changed)
        return sel if sel.size else None

    def _encode(self, items: _Items, sel: np.ndarray) -> tuple[int, list[bytes]]:
        cols = self._cols
        pos = items.pos[sel]
        handles = items.handles[sel]
        if items.single is not None:  # the usual case: one variant type, one pass
            vt = items.single
            values = cast_values(vt, cols.values[pos])
            return int(sel.size), [
                encode_items(
                    vt, handles, values, cols.source[pos], cols.server[pos], cols.status[pos]
                )
            ]
        codes = cols.vcodes[pos]
        parts = []
        for code in np.unique(codes):
            m = codes == code
            p, h = (pos, handles) if m.all() else (pos[m], handles[m])
            vt = ua.VariantType(int(code))
            values = cast_values(vt, cols.values[p])
            parts.append(
                encode_items(vt, h, values, cols.source[p], cols.server[p], cols.status[p])
            )
        return int(sel.size), parts

    def _objects(self, items: _Items, sel: np.ndarray) -> list[ua.MonitoredItemNotification]:
        return [
            ua.MonitoredItemNotification(
                ClientHandle=int(items.handles[i]),
                Value=datavalue_at(self._cols, int(items.pos[i])),
            )
            for i in sel
        ]
