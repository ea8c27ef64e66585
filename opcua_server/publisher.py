"""Publisher: SignalStore batches into the OPC UA address space, without a call per value.

asyncua's ``write_value`` costs one awaited call per value, and each subscribed client adds a
deep copy, a notification object and a field-by-field encoding per value: about 15k
notifications/s with a whole core busy (65 us each; half of it in ``copy.deepcopy``). The
publisher instead (about 0.3 us of server CPU per notification):

- keeps the published nodes' current values and timestamps in numpy columns; ``publish`` is a
  few vectorised assignments per batch, however many values and clients;
- serves reads from those columns through a value callback on each node (a DataValue is built
  only when someone reads);
- samples each subscription at its publishing interval: the subscription's publishing cycle
  takes the items changed since its last cycle and appends them as one DataChangeNotification
  encoded in one numpy pass (see ``_publish_track`` and ``_publish_encode``).

With ``align_cycles`` (the default) a subscription whose publishing cycle falls onto the
producer's regular steps gets its cycle moved half a step away (see ``_publish_phase``): no
value lost to aliasing, latency near half a step.

A signal's quality becomes the StatusCode: ``GOOD`` is Good, ``STALE`` (its PLC link is down)
is UncertainLastUsableValue with the value and source timestamp of the last good value. A
change of status alone is a data change: subscriptions are notified.

Source timestamps are ``epoch + signal timestamp`` (signal timestamps are simulation seconds;
``epoch`` is the Unix time of simulation time 0, or a datetime); server timestamps come from
the injected clock, once per batch.

The publisher owns the Value attribute of the nodes it is given: writing them through asyncua
(``write_value``) replaces the value callback, and that node then stops following the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
from asyncua import Server, ua

from opcua_server._publish_encode import (
    ENCODABLE,
    Columns,
    datavalue_at,
    datetime_to_ticks,
    seconds_to_ticks,
    unix_to_ticks,
)
from opcua_server._publish_phase import PhaseKeeper
from opcua_server._publish_track import SubscriptionTracker
from twin.clock import Clock, SystemClock
from twin.signals import STATUS_CODE, SignalBatch, SignalStore

__all__ = ["STATUS_OF_QUALITY", "Publisher"]

#: Signal quality -> StatusCode value, indexed by the quality code (``twin.signals``).
STATUS_OF_QUALITY = STATUS_CODE  # one table for OPC UA and telemetry


class Publisher:
    """Moves ``SignalBatch`` es into the Value attribute of mapped variable nodes.

    ``nodes`` maps signal index -> NodeId of a scalar variable whose data type is a numeric
    built-in or Boolean (values are converted from float64: integers rounded and clipped,
    booleans as ``!= 0``). ``start`` raises ValueError naming a node that is missing or of
    another type. Invariant while started: a read of a mapped node returns the last published
    value with its status and timestamps, and every subscription monitoring it receives that
    value (or a later one) in its next publishing cycle, also when only the status changed.
    ``publish`` must be called on the server's event loop thread (it is synchronous and never
    awaits).
    """

    def __init__(
        self,
        server: Server,
        store: SignalStore,
        nodes: Mapping[int, ua.NodeId],
        *,
        epoch: float | datetime = 0.0,
        clock: Clock | None = None,
        logger: logging.Logger | None = None,
        align_cycles: bool = True,
    ) -> None:
        self._server = server
        self._store = store
        self._indices = np.fromiter(nodes.keys(), dtype=np.int64, count=len(nodes))
        self._nodeids = list(nodes.values())
        if self._indices.size and self._indices.min() < 0:
            raise ValueError("signal indices must be >= 0")
        size = int(self._indices.max()) + 1 if self._indices.size else 0
        self._lookup = np.full(size, -1, dtype=np.int64)
        self._lookup[self._indices] = np.arange(self._indices.size)
        # simulation time 0 as OPC UA ticks, exact for a datetime
        self._epoch_ticks = (
            datetime_to_ticks(epoch)
            if isinstance(epoch, datetime)
            else int(unix_to_ticks(float(epoch)))
        )
        self._clock: Clock = clock or SystemClock()
        self._log = logger or logging.getLogger(__name__)
        n = len(self._nodeids)
        self._cols = Columns(
            vtypes=[ua.VariantType.Double] * n,
            vcodes=np.full(n, int(ua.VariantType.Double), dtype=np.int64),
            values=np.zeros(n),
            source=np.zeros(n, dtype=np.int64),
            server=np.zeros(n, dtype=np.int64),
            seq=np.zeros(n, dtype=np.int64),
            status=np.zeros(n, dtype=np.uint32),
        )
        self._initial: list[ua.DataValue | None] = [None] * n
        self._pos_of = {nid: p for p, nid in enumerate(self._nodeids)}
        self._tracker: SubscriptionTracker | None = None
        self._phase = PhaseKeeper(self._log) if align_cycles else None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def published(self) -> int:
        """Number of publish calls that changed at least one mapped node."""
        return self._cols.seqno

    async def start(self) -> None:
        """Check the nodes, serve their reads from the publisher and hook the subscriptions.

        Raises ValueError naming an unsuitable node, RuntimeError when already started.
        """
        if self._tracker is not None:
            raise RuntimeError("publisher already started")
        aspace = self._server.iserver.aspace
        cols = self._cols
        for p, nid in enumerate(self._nodeids):
            vt = self._variant_type(aspace, nid)
            cols.vtypes[p] = vt
            cols.vcodes[p] = int(vt)
        for p, nid in enumerate(self._nodeids):
            attval = aspace[nid].attributes[ua.AttributeIds.Value]
            self._initial[p] = attval.value
            aspace.set_attribute_value_callback(nid, ua.AttributeIds.Value, self._read)
        self._tracker = SubscriptionTracker(aspace, self._nodeids, cols, self._phase)
        self._tracker.attach()

    async def stop(self) -> None:
        """Unhook; the nodes keep their last value as ordinary attribute values."""
        if self._tracker is None:
            return
        self._tracker.detach()
        self._tracker = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        aspace = self._server.iserver.aspace
        for p, nid in enumerate(self._nodeids):
            node = aspace.get(nid)
            if node is None:
                continue
            attval = node.attributes[ua.AttributeIds.Value]
            if attval.value_callback == self._read:  # bound methods: equal, never identical
                attval.value_callback = None
                attval.value = self._current(p)

    def publish(self, batch: SignalBatch) -> None:
        """Take one batch of changed signals; unmapped signals are ignored.

        A batch without changes to mapped signals writes nothing and notifies no one.
        """
        if not len(batch) or not self._lookup.size:
            return
        inside = np.flatnonzero(batch.indices < self._lookup.size)
        pos = self._lookup[batch.indices[inside]]
        mapped = pos >= 0
        if not mapped.any():
            return
        sel = inside[mapped]  # batch entries that are published
        pos = pos[mapped]
        tracker = self._tracker
        if tracker is not None:
            tracker.refresh()  # before the sequence number moves: new items start from now
        cols = self._cols
        cols.seqno += 1
        cols.values[pos] = batch.values[sel]
        cols.source[pos] = self._epoch_ticks + seconds_to_ticks(batch.timestamps[sel])
        cols.server[pos] = datetime_to_ticks(self._clock.wall())
        cols.status[pos] = STATUS_OF_QUALITY[batch.quality[sel]]
        cols.seq[pos] = cols.seqno
        if tracker is None:
            return
        touched = np.zeros(cols.seq.size, dtype=bool)
        touched[pos] = True
        tracker.mark(touched)
        if self._phase is not None:
            try:
                now = asyncio.get_running_loop().time()
            except RuntimeError:  # called outside the event loop: nothing to align with
                pass
            else:
                self._phase.step(now, tracker.subscriptions)
        if tracker.foreign:
            self._notify_foreign(tracker, touched)

    # -- helpers -------------------------------------------------------------------------------

    def _read(self, nodeid: ua.NodeId, attr: ua.AttributeIds) -> ua.DataValue:
        return self._current(self._pos_of[nodeid])

    def _current(self, p: int) -> ua.DataValue:
        if self._cols.seq[p] == 0:
            initial = self._initial[p]
            return (
                initial
                if initial is not None
                else ua.DataValue(ua.Variant(None, ua.VariantType.Null))
            )
        return datavalue_at(self._cols, p)

    def _notify_foreign(self, tracker: SubscriptionTracker, touched: np.ndarray) -> None:
        # other data-change callbacks on published nodes (not monitored items): called per value
        calls = [(h, cb, self._current(p)) for p, h, cb in tracker.foreign if touched[p]]
        if not calls:
            return

        async def run() -> None:
            for handle, cb, dv in calls:
                try:
                    await cb(handle, dv)
                except Exception:
                    self._log.exception("data-change callback %s failed", handle)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _variant_type(aspace: Any, nid: ua.NodeId) -> ua.VariantType:
        node = aspace.get(nid)
        if node is None or ua.AttributeIds.Value not in node.attributes:
            raise ValueError(
                f"publisher: node {nid.to_string()} is not a variable in the address space"
            )
        dv = node.attributes[ua.AttributeIds.Value].value
        vt = (
            dv.Value.VariantType if dv is not None and dv.Value is not None else ua.VariantType.Null
        )
        if vt == ua.VariantType.Null:
            dtype = node.attributes.get(ua.AttributeIds.DataType)
            ident = (
                dtype.value.Value.Value
                if dtype is not None and dtype.value and dtype.value.Value
                else None
            )
            if (
                isinstance(ident, ua.NodeId)
                and ident.NamespaceIndex == 0
                and isinstance(ident.Identifier, int)
            ):
                try:
                    vt = ua.VariantType(ident.Identifier)
                except ValueError:
                    vt = ua.VariantType.Null
        if vt not in ENCODABLE or (dv is not None and dv.Value is not None and dv.Value.is_array):
            raise ValueError(
                f"publisher: node {nid.to_string()} has type {vt.name}; "
                "only scalar Boolean and numeric variables can follow signals"
            )
        return vt
