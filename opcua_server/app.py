"""``TwinServer``: the twin's address space served over OPC UA (wiring only).

Lifecycle: ``TwinServer(engine, settings, ...)`` validates nothing on disk; ``start()`` runs
``preflight`` (unless the caller did and passed the NodeSet2 files), loads users and
certificates, imports the companion specs (or replays their import, kept in a cache outside the
repository: ``nodeset_cache``), lets each node family build its nodes, then serves;
``stop()`` closes sessions and flushes history. Signal values move from the engine's
SignalStore into the address space after each driver step, as batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import socket
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from asyncua import Server, ua
from asyncua.common.connection import TransportLimits
from asyncua.server.internal_session import InternalSession

from opcua_server import event_filter, lookups, security, sessions
from opcua_server.history import SqliteHistory
from opcua_server.nodes import FAMILIES, BuildContext, NodeFamily
from opcua_server.nodes.calls import audit_calls, guard_calls
from opcua_server.nodes.job_records import JobRecords
from opcua_server.nodeset_cache import NodesetCache
from opcua_server.nodesets import NS, find_nodesets, import_nodesets
from opcua_server.outbox import Outbox
from opcua_server.publisher import STATUS_OF_QUALITY, Publisher
from opcua_server.security import SECURE_POLICIES, RolePermissions, ensure_certificate
from opcua_server.settings import ServerSettings
from opcua_server.trust import ClientCertificateValidator
from opcua_server.users import Role, TwinUserManager, UserRecord
from twin.aio import cancel_and_wait
from twin.api import TwinAPI
from twin.clock import Clock, SystemClock
from twin.engine.cell import Engine
from twin.errors import ConfigError, ServiceError
from twin.kpi import KpiCollector
from twin.links import LinkRegistry
from twin.runtime import RealtimeDriver
from twin.signals import SignalBatch

__all__ = ["TwinServer", "preflight"]

_log = logging.getLogger(__name__)


_BIND_ALL = {"0.0.0.0", "::"}


def _check_port(host: str, port: int, endpoint: str) -> None:
    """Fail early, in one line, when the port is taken (before any set-up work)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ServiceError(f"cannot listen on {endpoint}: {exc.strerror or exc}") from exc


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _endpoint_url(settings: ServerSettings, port: int) -> str:
    """The URL clients use (the host name when listening on every interface)."""
    host = socket.gethostname() if settings.host in _BIND_ALL else settings.host
    if ":" in host:
        host = f"[{host}]"
    return f"opc.tcp://{host}:{port}{settings.path}"


async def _operation_limits(server: Server, history: SqliteHistory) -> None:
    """Publish the limits clients should keep to (Server/ServerCapabilities and its
    OperationLimits, OPC 10000-5 6.3.2, 6.3.11)."""
    ids, uint16, uint32 = ua.ObjectIds, ua.VariantType.UInt16, ua.VariantType.UInt32
    capabilities = "Server_ServerCapabilities_"
    for name, value, vtype in (
        ("OperationLimits_MaxNodesPerHistoryReadData", history.max_nodes, uint32),
        ("OperationLimits_MaxNodesPerHistoryReadEvents", history.max_nodes, uint32),
        ("MaxHistoryContinuationPoints", history.points.per_session, uint16),
    ):
        node = server.get_node(getattr(ids, capabilities + name))
        await node.write_value(ua.Variant(value, vtype))


@contextlib.contextmanager
def _collections_paused() -> Iterator[None]:
    """No automatic garbage collection in the block (the collector's state is restored: a
    caller that disabled it keeps it disabled)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def preflight(settings: ServerSettings) -> tuple[list[Path], int]:
    """Checks that need no engine and no set-up, so failures come before anything is
    created or restored: the NodeSet2 files (ConfigError saying how to get them) and the
    port (ServiceError). Returns the NodeSet2 files in import order and the port to listen
    on (a free one for port 0)."""
    files = find_nodesets(settings.nodesets_dir)
    port = settings.port
    if port == 0:
        port = _free_port(settings.host)
    else:
        _check_port(settings.host, port, _endpoint_url(settings, port))
    return files, port


class TwinServer:
    """OPC UA server of one engine. ``signal_nodes`` maps SignalStore index -> NodeId."""

    def __init__(
        self,
        engine: Engine,
        settings: ServerSettings,
        *,
        driver: RealtimeDriver | None = None,
        api: TwinAPI | None = None,
        clock: Clock | None = None,
        nodesets: list[Path] | None = None,
        links: LinkRegistry | None = None,
        kpi: KpiCollector | None = None,
        job_records: JobRecords | None = None,
    ) -> None:
        """``nodesets``: the NodeSet2 files ``preflight(settings)`` returned, when the caller
        ran it before making the engine (``twin run``); ``start`` then neither searches for
        them nor checks the port again (``settings.port`` is the one preflight returned).
        ``links``: the PLC links shown under ``Cell/Adapters`` (registered before ``start``).
        ``kpi``: the run's KPIs, fed by the caller (a restored run's from time 0); by default
        the server's own, from the engine's time on. ``job_records``: the job management's
        records, fed by the caller from time 0 (a restored run's through the replay: StartTime
        and the ended orders not cleared survive a restart); by default the server's own."""
        if not settings.insecure_dev and settings.users_file is None:
            raise ConfigError(
                "settings", "users_file", "a users file is required unless --insecure-dev"
            )
        self.engine = engine
        self.settings = settings
        self.driver = driver
        self.api = api or TwinAPI(engine, driver)
        self.links = links if links is not None else LinkRegistry()
        self.kpi = kpi
        self.job_records = job_records
        self.clock: Clock = clock or (driver.clock if driver else SystemClock())
        self.server: Server | None = None
        self.history: SqliteHistory | None = None
        self.outbox = Outbox()
        self.families: list[NodeFamily] = []
        self.signal_nodes: dict[int, ua.NodeId] = {}
        self.machine_nodes: dict[str, ua.NodeId] = {}
        self.ctx: BuildContext | None = None
        self.port = settings.port
        self._nodesets = nodesets
        self.certificate_created = False
        self.application_uri: str | None = settings.application_uri  # known at start
        self._version = 0
        self._history_version = 0
        self._history_due = 0.0
        self._history_ids: np.ndarray = np.empty(0, dtype=object)
        self._publisher: Publisher | None = None
        # source timestamps of signals: the wall time aligned to simulated time 0
        self.epoch: datetime = driver.wall_time(0.0) if driver is not None else self.clock.wall()
        self._user_manager: TwinUserManager | None = None

    @property
    def endpoint(self) -> str:
        """The URL clients use (the host name when listening on every interface)."""
        return _endpoint_url(self.settings, self.port)

    @property
    def security_policies(self) -> list[str]:
        """Offered endpoints as 'Policy (Mode)' strings."""
        names = [p.name.replace("_", " (") + ")" for p in SECURE_POLICIES]
        if self.settings.insecure_dev:
            names.append("None (None)")
        return names

    @property
    def users(self) -> Mapping[str, UserRecord]:
        """The users who can log in now (none before ``start``)."""
        return self._user_manager.users if self._user_manager is not None else {}

    def anonymous_role(self) -> Role | None:
        """The role of an anonymous session now (``TwinUserManager.anonymous_role``); None
        when anonymous sessions are refused, and before ``start``."""
        return self._user_manager.anonymous_role() if self._user_manager is not None else None

    # -- lifecycle ------------------------------------------------------------------------------
    def _preflight(self) -> list[Path]:
        """The NodeSet2 files in import order: those given to the constructor (the caller ran
        the checks), else ``preflight`` of this server's settings (a free port chosen now when
        it is 0)."""
        if self._nodesets is not None:
            return self._nodesets
        files, self.port = preflight(self.settings)
        return files

    async def start(self) -> None:
        """Build the address space and serve it.

        The build makes ~690,000 objects that live as long as the server: automatic garbage
        collections during it scanned them again and again (8 full ones, 1.3 s of a 3 s
        start), so they are paused until it ends. Then what the start built (the address
        space, the engine, a restored twin) is left out of full collections: each scanned
        it, a 0.2-0.3 s pause of the server (seconds on a loaded machine, where clients'
        requests timed out); ``stop`` gives it back to the collector.

        The start's one full collection comes before the build, while there is least to
        scan: what the process no longer needs (a server stopped before) is freed, not
        frozen. The freeze follows the build with no collection between: a full one there
        scanned the ~690,000 objects just built (0.35 s) for the hundred or so the build left
        in reference cycles (they stay frozen until ``stop``), and re-enabling the collector
        before it cost a young collection of them all as well (0.15-0.3 s)."""
        gc.collect()
        with _collections_paused():
            await self._build()
            gc.freeze()

    async def _build(self) -> None:
        s = self.settings
        # follows the users file; development only: anonymous sessions (see TwinUserManager)
        manager = TwinUserManager(path=s.users_file, insecure_dev=s.insecure_dev, limits=s.limits)
        self._user_manager = manager
        files = self._preflight()
        event_filter.install()  # OfType selects subtypes (asyncua compares for equality)
        lookups.install()  # type hierarchies and references looked up, not walked each time
        security.install()  # client certificates checked on the secure channel too
        server = Server(user_manager=manager)
        self.server = server
        await server.init()
        # sessions keep to their own subscriptions (asyncua serves any session's to any)
        sessions.install(server.iserver, s.limits)
        self._limits(server)
        audit_calls(server.iserver)  # who called which method, on opcua_server.audit
        guard_calls(server.iserver)  # a method that fails: logged without its arguments
        server.set_endpoint(self.endpoint)
        server.socket_address = (s.host, self.port)  # listen where asked, advertise a name
        server.set_server_name(s.server_name)
        certs = ensure_certificate(s.pki_dir, s.application_uri, s.host, s.server_name)
        self.certificate_created = certs.created
        self.application_uri = certs.uri
        await server.set_application_uri(certs.uri)
        server.product_uri = s.product_uri
        server.manufacturer_name = "cell-twin"
        await server.load_certificate(str(certs.cert))
        await server.load_private_key(str(certs.key))
        policies = list(SECURE_POLICIES)
        tokens: list[type] = [ua.UserNameIdentityToken]
        if s.insecure_dev:
            policies.append(ua.SecurityPolicyType.NoSecurity)
            tokens.append(ua.AnonymousIdentityToken)
        server.set_security_policy(policies, permission_ruleset=RolePermissions())
        server.set_identity_tokens(tokens)
        server.set_certificate_validator(ClientCertificateValidator(s.pki_dir))
        await import_nodesets(server, files, NodesetCache.from_environment())
        twin_ns = await server.register_namespace(NS.TWIN)
        namespaces = await server.get_namespace_array()
        ns = {uri: i for i, uri in enumerate(namespaces)}
        ns[NS.TWIN] = twin_ns
        self.history = SqliteHistory(
            s.history_db,
            retention_s=s.history_retention_s,
            max_values=s.history_max_values,
            max_events=s.history_max_events,
            flush_s=s.history_flush_s,
            # the twin's time, as BuildContext.now(): engine.now is one float, read atomically
            now=lambda: self.epoch.timestamp() + self.engine.now,
            subtypes=partial(lookups.subtypes_of, server.iserver.aspace),
        )
        await self.history.init()
        server.iserver.history_manager.set_storage(self.history)
        self.history.serve(server.iserver.history_manager)  # nodes, rows, time per request
        await _operation_limits(server, self.history)
        ctx = BuildContext(
            server=server,
            engine=self.engine,
            api=self.api,
            settings=s,
            ns=ns,
            outbox=self.outbox,
            history=self.history,
            clock=self.clock,
            origin=self.epoch,
            machine_nodes=self.machine_nodes,
            signal_nodes=self.signal_nodes,
            links=self.links,
            kpi=self.kpi,
            job_records=self.job_records,
        )
        self.ctx = ctx
        self.families = [family(ctx) for family in FAMILIES]
        for family in self.families:
            await family.build()
        # each event generator made its emitter's EventNotifier SubscribeToEvents alone
        await self.history.mark_notifiers(server.iserver.aspace)
        try:
            await server.start()
        except OSError as exc:
            await self.history.stop()
            raise ServiceError(f"cannot listen on {self.endpoint}: {exc}") from exc
        self.outbox.start()
        for family in self.families:
            family.start()
        self._publisher = Publisher(
            server, self.engine.store, self.signal_nodes, epoch=self.epoch, clock=self.clock
        )
        await self._publisher.start()
        self._version = 0
        self._history_version = 0
        self._history_due = self.clock.monotonic()
        size = max(self.signal_nodes, default=-1) + 1
        self._history_ids = np.full(size, "", dtype=object)
        for index, nodeid in self.signal_nodes.items():
            self._history_ids[index] = nodeid.to_string()
        self.publish()
        if self.driver is not None:
            self.driver.on_step.append(self._on_step)

    async def stop(self, grace_s: float = 10.0) -> None:
        """Detach from the twin, close sessions, flush history (bounded by ``grace_s``)."""
        if self.driver is not None and self._on_step in self.driver.on_step:
            self.driver.on_step.remove(self._on_step)
        server = self.server
        if server is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_s):
                for family in reversed(self.families):
                    await family.stop()
                if self._publisher is not None:
                    await self._publisher.stop()
                await self.outbox.join()
        await self.outbox.stop()
        # asyncua's CurrentTime task sleeps a second between updates and its stop waits for
        # the sleep to end: cancelled instead (every stop took a second longer)
        await cancel_and_wait(server.iserver.time_task)
        server.iserver.time_task = None
        await server.stop()  # closes sessions; stops the history storage (flush)
        self.server = None
        gc.unfreeze()  # what the start froze (and any other freeze) is collectable again

    def _limits(self, server: Server) -> None:
        lim = self.settings.limits
        server.limits = TransportLimits(
            max_recv_buffer=lim.max_chunk_size,
            max_send_buffer=lim.max_chunk_size,
            max_chunk_count=math.ceil(lim.max_message_size / lim.max_chunk_size),
            max_message_size=lim.max_message_size,
        )
        iserver = server.iserver
        iserver.max_connections = lim.max_connections
        iserver.max_subscriptions = lim.max_subscriptions
        iserver.max_session_timeout_ms = lim.max_session_timeout_ms
        iserver.max_monitored_item_queue_size = lim.max_queue_size
        iserver.max_pending_activation_seconds = lim.pending_activation_s
        # ours, beside asyncua's limits: read by security.AddressGate
        iserver.max_pending_per_address = lim.max_pending_per_address
        # asyncua keeps the activated-session cap as a class attribute
        InternalSession.max_connections = lim.max_sessions
        service = iserver.subscription_service
        create = service.create_monitored_items
        cap = lim.max_monitored_items_per_subscription

        async def limited(params: ua.CreateMonitoredItemsParameters) -> Any:
            sub = service.subscriptions.get(params.SubscriptionId)
            have = len(sub.monitored_item_srv._monitored_items) if sub is not None else 0
            room = max(cap - have, 0)
            if len(params.ItemsToCreate) <= room:
                return await create(params)
            refused = len(params.ItemsToCreate) - room
            params.ItemsToCreate = params.ItemsToCreate[:room]
            results = list(await create(params)) if room else []
            for _ in range(refused):
                r = ua.MonitoredItemCreateResult()
                r.StatusCode = ua.StatusCode(ua.StatusCodes.BadTooManyMonitoredItems)
                results.append(r)
            return results

        service.create_monitored_items = limited

    # -- signals --------------------------------------------------------------------------------
    def _on_step(self, sim_t: float) -> None:
        self.publish()

    def publish(self) -> int:
        """Move the signals changed since the last call into the address space (through the
        fast ``Publisher``) and, at most every ``history_sample_s``, into the history; returns
        how many changed. Synchronous: nothing is awaited per value."""
        if self._publisher is None or not self.signal_nodes:
            return 0
        store = self.engine.store
        batch = store.changes_since(self._version)
        self._version = batch.version
        if len(batch):
            self._publisher.publish(batch)
        now = self.clock.monotonic()
        if self.history is not None and now >= self._history_due:
            # a historian samples: the latest value of each signal changed since the last
            # sample, so history costs O(signals) per interval whatever the update rate
            self._history_due = now + self.settings.history_sample_s
            sample = store.changes_since(self._history_version)
            self._history_version = sample.version
            self._record(sample)
        return len(batch)

    def _record(self, batch: SignalBatch) -> None:
        assert self.history is not None
        ids = self._history_ids
        keep = batch.indices < ids.size
        idx = batch.indices[keep]
        mapped = ids[idx] != ""
        idx = idx[mapped]
        if not idx.size:
            return
        values = batch.values[keep][mapped]
        stamps = batch.timestamps[keep][mapped] + self.epoch.timestamp()
        # binary Variant of a Double: the type byte (11) and 8 little-endian bytes
        blobs = np.empty((idx.size, 9), dtype=np.uint8)
        blobs[:, 0] = ua.VariantType.Double.value
        blobs[:, 1:] = values.astype("<f8").view(np.uint8).reshape(-1, 8)
        # a stale signal is recorded with its status at the time of its last good value, as
        # the address space shows it
        status = STATUS_OF_QUALITY[batch.quality[keep][mapped]]
        rows = zip(
            ids[idx].tolist(), stamps.tolist(), map(bytes, blobs), status.tolist(), strict=True
        )
        self.history.record_values(list(rows))

    def load(self) -> dict[str, int]:
        """Open sessions, TCP connections and subscriptions (diagnostics, tests)."""
        if self.server is None:
            return {"sessions": 0, "connections": 0, "subscriptions": 0}
        iserver = self.server.iserver
        bserver = self.server.bserver
        return {
            "sessions": len(iserver._external_sessions),
            "connections": len(bserver.clients) if bserver is not None else 0,
            "subscriptions": len(iserver.subscription_service.subscriptions),
        }

    async def settle(self) -> None:
        """Wait until every queued address-space update is applied (tests, shutdown)."""
        await self.outbox.join()
