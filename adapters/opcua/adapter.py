"""``OpcUaAdapter``: the twin as an OPC UA client of a PLC (asyncua ``Client``).

One link is one client session. At connect the mapped nodes are resolved (``nsu=`` through the
server's namespace array) and checked in one Read: each must be a number or boolean variable,
each output writable by this user; the outputs' data types are kept so that writes send the
type the server expects. A node that fails the check (unknown, of another type, read-only) is
that mapping's problem, not the link's: the mapping is a bad tag (named with the node and the
reason), the others go on, and it is checked again each cycle until it passes. Inputs come
from a subscription (publishing interval ``period_s``; the latest value of each node is kept)
or from one Read per cycle; the changed outputs go in one Write per cycle.

A dead link is noticed within about ``timeout_s``: requests time out after ``timeout_s``, and
asyncua's watchdog probes the server every ``timeout_s / 2`` (a closed socket is noticed at
once); once it has marked the link lost, the next cycle raises and the base class reconnects.
A Bad status in a Write's results is that node's (e.g. BadOutOfRange, BadNotWritable): the
output is bad and tried again next cycle, the other nodes and the link go on. An input node
with a Bad status is a bad tag too, and keeps its last value, ``STALE``.

The server is verified before the session (and the password) goes to it: the certificate it
presents must be ``server_certificate`` or, with ``trust_on_first_use``, the one pinned in
``pinned_path`` by the first connect that succeeded (``ServiceError`` naming the file and
both fingerprints otherwise). The pin is read at each connect: once its file is deleted (the
PLC's certificate was renewed), the next connect pins the certificate the PLC presents.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from asyncua import Client, Node, ua
from asyncua.client.ua_client import UaClientState
from asyncua.common.subscription import Subscription
from asyncua.crypto import security_policies, uacrypto

from adapters.base import Adapter
from adapters.bridge import Bridge, TagValue, overflows
from adapters.opcua.certs import certificate_der, fingerprint, load_file, to_x509, uri_of
from adapters.opcua.config import OpcUaConfig
from adapters.opcua.nodes import (
    INT_RANGES,
    VALUE,
    Usable,
    as_written,
    check_nodes,
    decode,
    encode,
    refused,
)
from twin.clock import Clock
from twin.errors import ServiceError
from twin.files import write_durably

__all__ = ["OpcUaAdapter"]


_POLICIES: dict[str, type[security_policies.SecurityPolicy]] = {
    "Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256,
    "Aes128_Sha256_RsaOaep": security_policies.SecurityPolicyAes128Sha256RsaOaep,
    "Aes256_Sha256_RsaPss": security_policies.SecurityPolicyAes256Sha256RsaPss,
}
_CERT_REFUSED = {
    ua.StatusCodes.BadSecurityChecksFailed,
    ua.StatusCodes.BadCertificateUntrusted,
    ua.StatusCodes.BadCertificateInvalid,
    ua.StatusCodes.BadCertificateUriInvalid,
    ua.StatusCodes.BadCertificateUseNotAllowed,
    ua.StatusCodes.BadCertificateTimeInvalid,
    ua.StatusCodes.BadCertificateRevoked,
}
_LOGIN_REFUSED = {
    ua.StatusCodes.BadUserAccessDenied,
    ua.StatusCodes.BadIdentityTokenInvalid,
    ua.StatusCodes.BadIdentityTokenRejected,
}


class OpcUaAdapter(Adapter):
    """A PLC's OPC UA server linked to the twin (see the module docstring)."""

    kind: ClassVar[str] = "opcua"
    config_model: ClassVar[type[OpcUaConfig]] = OpcUaConfig
    cfg: OpcUaConfig

    def __init__(
        self,
        cfg: OpcUaConfig,
        bridge: Bridge,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(cfg, bridge, clock)
        self._client: Client | None = None
        self._session = False  # connect() succeeded: disconnect (a failed one cleans up itself)
        self._in_nodes = [m.node for m in cfg.read] + [m.node for m in cfg.fault]
        self._out_nodes = [m.node for m in cfg.write] + [m.node for m in cfg.state]
        # per cfg.inputs and cfg.outputs, as this link's server has them; None: not checked
        # on this link yet, or failing the check (a bad tag)
        self._inputs: list[ua.NodeId | None] = [None] * len(self._in_nodes)
        self._outputs: list[Usable | None] = [None] * len(self._out_nodes)
        # (output?, position) of the mappings that are another's node on this link's server:
        # bad tags for the whole link, not checked again each cycle (``_aliases``)
        self._aliased: set[tuple[bool, int]] = set()
        self._checked = -1  # status.cycles when the unusable nodes were last checked
        self._latest: _Latest | None = None  # with a subscription
        self._sub: Subscription | None = None
        self._credentials: _Credentials | None = None

    @property
    def endpoint(self) -> str:
        return self.cfg.url

    # -- connect --------------------------------------------------------------------------------
    async def _open(self) -> None:
        cfg = self.cfg
        client = Client(cfg.url, timeout=cfg.timeout_s, watchdog_intervall=cfg.timeout_s / 2)
        self._client = client
        client.name = client.description = f"cell-twin adapter {cfg.name}"
        client.application_uri = f"urn:cell-twin:adapter:{cfg.name}"
        # a session left behind by a crashed twin must not hold a PLC session slot for an hour
        client.session_timeout = max(60.0, 4 * cfg.timeout_s) * 1000
        cert, pinned = await self._secure(client) if cfg.security_policy != "None" else (None, None)
        if cfg.username is not None:
            client.set_user(cfg.username)
            client.set_password(self._password())
        try:
            await client.connect()
            self._session = True
        except ua.UaStatusCodeError as exc:
            status = ua.StatusCode(exc.code).name
            if exc.code in _LOGIN_REFUSED and cfg.username is not None:
                raise ServiceError(
                    f"user {cfg.username!r} refused ({status}): wrong user name or password "
                    f"(${cfg.password_env})?"
                ) from exc
            if cert is not None and exc.code in _CERT_REFUSED:
                raise ServiceError(
                    f"connect refused ({status}): does the PLC trust the certificate {cert}?"
                ) from exc
            raise ServiceError(f"connect refused: {status}") from exc
        if cfg.trust_on_first_use and pinned is None:
            # pinned once the session is up: the server holds the certificate's key
            await asyncio.to_thread(self._pin, client.security_policy.peer_certificate)
        self._latest = self._sub = None
        if self._in_nodes and cfg.use_subscription:
            self._latest = _Latest()
            self._sub = await client.create_subscription(self._subscription(), self._latest)
        self._inputs = [None] * len(self._inputs)  # a new link: every node checked again
        self._outputs = [None] * len(self._outputs)
        self._aliased.clear()
        await self._check_nodes(client)
        self._checked = self.status.cycles

    async def _secure(self, client: Client) -> tuple[Path, bytes | None]:
        """Set the client's security up and verify the server's certificate; returns the
        client certificate's file and the pinned server certificate (None: none yet, with
        ``trust_on_first_use``)."""
        cfg = self.cfg
        if self._credentials is None:  # the client's own files are read (or made) once
            self._credentials = await asyncio.to_thread(
                self._load_credentials, client.application_uri
            )
        cred = self._credentials
        # the pin is read at each connect (a small file): one deleted while the twin runs
        # (the PLC's certificate renewed) is pinned afresh at the next connect
        pinned = await asyncio.to_thread(self._read_pin)
        client.application_uri = cred.application_uri
        mode = getattr(ua.MessageSecurityMode, cfg.security_mode)
        try:  # asks the server for the endpoint and its certificate
            await client.set_security(
                _POLICIES[cfg.security_policy], cred.cert, cred.key, mode=mode
            )
        except ua.UaStatusCodeError:
            raise
        except ua.UaError as exc:  # the server offers no such endpoint
            where = f"{cfg.security_policy}/{cfg.security_mode}"
            raise ServiceError(f"the server has no endpoint {where}") from exc
        presented = client.security_policy.peer_certificate
        if pinned is not None and pinned != presented:
            # checked before connect() sends the password. A server with another key could
            # not read the channel anyway, but would only make the connect time out: say why
            if cfg.server_certificate is not None:
                raise ServiceError(
                    f"the server's certificate is not server_certificate {cfg.server_certificate}"
                )
            raise ServiceError(
                f"the server's certificate (SHA-256 {fingerprint(presented)}) is not the one"
                f" trusted on first use ({cfg.pinned_path}, SHA-256 {fingerprint(pinned)}):"
                " a man in the middle, or a PLC with a new certificate; if the PLC's certificate"
                f" was renewed, check its fingerprint on the PLC, then delete {cfg.pinned_path}"
                " (or set server_certificate)"
            )
        return cred.cert_file, pinned

    def _read_pin(self) -> bytes | None:
        """The server certificate the PLC must present (DER): ``server_certificate``, or the
        one pinned by trust on first use; None when that is not pinned (yet or any more)."""
        cfg = self.cfg
        if cfg.server_certificate is not None:
            return _pin_of(cfg.server_certificate, "server_certificate ")
        if not cfg.trust_on_first_use:
            return None
        from opcua_server.folders import private_folders

        # another user's folder could hold a certificate of theirs: refused (ConfigError)
        private_folders(cfg.pki_path, [cfg.pinned_path.parent])
        try:
            return _pin_of(cfg.pinned_path, "the certificate pinned in ")
        except FileNotFoundError:  # deleted to pin the PLC's renewed certificate
            return None

    def _pin(self, presented: bytes | None) -> None:
        """Trust on first use: keep the certificate the server presented at this first
        connect in ``pinned_path``; later connects refuse any other."""
        path = self.cfg.pinned_path
        if not presented:
            return
        from opcua_server.folders import private_folders

        private_folders(self.cfg.pki_path, [path.parent])
        write_durably(path, presented, mode=0o600)
        self.log.warning(
            "trusted on first use: the certificate %s presented (SHA-256 %s) is pinned in %s;"
            " check the fingerprint on the PLC: any other certificate is refused from now on",
            self.cfg.url,
            fingerprint(presented),
            path,
        )

    def _load_credentials(self, application_uri: str) -> _Credentials:
        cfg = self.cfg
        if cfg.certificate is not None and cfg.private_key is not None:
            cert_file, key_file = cfg.certificate, cfg.private_key
        else:
            cert_file, key_file = self._own_certificate(application_uri)
        cert, key = load_file(cert_file), load_file(key_file)
        if cfg.certificate is not None:  # the session must name the certificate's URI
            application_uri = uri_of(to_x509(cert)) or application_uri
        return _Credentials(cert_file, cert, key, application_uri)

    def _own_certificate(self, application_uri: str) -> tuple[Path, Path]:
        # made once and reused (renewed near its end) by the server's helper: a self-signed
        # application certificate for client and server use
        from opcua_server.security import ensure_certificate

        name = f"cell-twin adapter {self.name}"
        files = ensure_certificate(self.cfg.pki_path, application_uri, "localhost", name)
        if files.created:
            self.log.info("made certificate %s (trust it on the PLC)", files.cert)
        return files.cert, files.key

    def _password(self) -> str:
        var = self.cfg.password_env
        password = os.environ.get(var) if var is not None else None
        if password is None:  # a connect failure (set it, and the next connect takes it)
            raise ServiceError(f"password_env: environment variable {var} is not set")
        return password

    def _subscription(self) -> ua.CreateSubscriptionParameters:
        params = ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=self.cfg.period_s * 1000,
            # a keep-alive about every timeout_s: asyncua notices a subscription gone silent
            RequestedMaxKeepAliveCount=max(1, math.ceil(self.cfg.timeout_s / self.cfg.period_s)),
            PublishingEnabled=True,
        )
        params.RequestedLifetimeCount = 3 * params.RequestedMaxKeepAliveCount
        return params

    # -- the mapped nodes -----------------------------------------------------------------------
    async def _check_nodes(self, client: Client) -> None:
        """Check the mapped nodes not in use (all of them at a connect, else those failing so
        far): one that passes is used from now on (an input subscribed to), one that fails is
        a bad tag; the link goes on either way."""
        ins = [
            p for p, n in enumerate(self._inputs) if n is None and (False, p) not in self._aliased
        ]
        outs = [
            p for p, o in enumerate(self._outputs) if o is None and (True, p) not in self._aliased
        ]
        if not ins and not outs:
            return
        got_in, got_out = await check_nodes(
            client, [self._in_nodes[p] for p in ins], [self._out_nodes[p] for p in outs]
        )
        for p, got in zip(ins, got_in, strict=True):
            usable = self._passed(False, p, got)
            self._inputs[p] = usable[0] if usable is not None else None
        for p, got in zip(outs, got_out, strict=True):
            self._outputs[p] = self._passed(True, p, got)
        self._aliases(set(outs))
        await self._watch(client, ins)

    def _aliases(self, checked: set[int]) -> None:
        """Mappings whose NodeIds differ in the file but are one node on this server
        (``ns=2;s=X`` and ``nsu=URI;s=X``): a second output writing a node is a bad tag, and
        so is an input reading a node an output writes (as the file's check, at connect).
        An output in use keeps its node from one that passed its check just now
        (``checked``); aliases stay bad tags until the next connect."""
        written: dict[ua.NodeId, int] = {}
        in_use_first = sorted(range(len(self._outputs)), key=lambda p: p in checked)
        for p in in_use_first:
            out = self._outputs[p]
            if out is None:
                continue
            first = written.setdefault(out[0], p)
            if first != p:
                self._outputs[p] = None
                self._aliased.add((True, p))
                self._tag_failed(True, p, self._alias(self._out_nodes[p], first, "also "))
        for p, node in enumerate(self._inputs):
            if node is not None and node in written:
                self._inputs[p] = None
                self._aliased.add((False, p))
                why = self._alias(self._in_nodes[p], written[node], "")
                self._tag_failed(False, p, why + ": the twin would read back what it writes")

    def _alias(self, text: str, output: int, also: str) -> str:
        return (
            f"node {text!r} is node {self._out_nodes[output]!r} on this server, {also}written"
            f" by {self._tag_names[True][output]}"
        )

    def _passed(self, output: bool, pos: int, got: Usable | str) -> Usable | None:
        """The mapping's node if it passed the check (``got``), else None once the mapping is
        reported a bad tag. One that failed before is good again when it is first read or
        written, not here: a node that passes may still be refused (not monitored, a Bad
        status), and the tag would flap."""
        if isinstance(got, str):
            self._tag_failed(output, pos, got)
            return None
        return got

    async def _watch(self, client: Client, positions: list[int]) -> None:
        """Subscribe to the nodes of the inputs at ``positions`` not subscribed to yet; a
        node the server will not monitor makes its mappings bad tags."""
        latest, sub = self._latest, self._sub
        if latest is None or sub is None:
            return
        new = list(
            dict.fromkeys(
                node
                for p in positions
                if (node := self._inputs[p]) is not None and node not in latest.watched
            )
        )
        if not new:
            return
        handles = await sub.subscribe_data_change(
            [client.get_node(n) for n in new], sampling_interval=self.cfg.period_s * 1000
        )
        for node, handle in zip(new, handles, strict=True):
            if not isinstance(handle, ua.StatusCode):
                latest.watched.add(node)
                continue
            for p in positions:
                if self._inputs[p] == node:
                    self._inputs[p] = None
                    what = f"node {self._in_nodes[p]!r}: cannot subscribe"
                    self._tag_failed(False, p, refused(what, handle))

    async def _recheck(self, client: Client) -> None:
        """Once a cycle, check again the nodes failing the check (a PLC program changed)."""
        if self._checked != self.status.cycles:
            self._checked = self.status.cycles
            await self._check_nodes(client)

    # -- cycles ---------------------------------------------------------------------------------
    def _check(self) -> None:
        self._live()

    def _live(self) -> Client:
        client = self._client
        if client is None or client.state is not UaClientState.CONNECTED:
            raise ServiceError("the connection is lost")
        if self._latest is not None and self._latest.error is not None:
            raise ServiceError(self._latest.error)
        return client

    async def _read(self) -> Sequence[TagValue]:
        client = self._live()
        await self._recheck(client)
        values: list[TagValue] = [None] * len(self._inputs)
        usable = [(p, n) for p, n in enumerate(self._inputs) if n is not None]
        if self._latest is not None:
            dvs = [self._latest.values.get(n) for _, n in usable]
        elif usable:  # (an empty Read is refused: BadNothingToDo)
            dvs = await client.uaclient.read_attributes([n for _, n in usable], VALUE)
        else:
            dvs = []
        for (pos, _), dv in zip(usable, dvs, strict=True):
            values[pos] = self._input(pos, dv)
        return values

    def _input(self, pos: int, dv: ua.DataValue | None) -> TagValue:
        """The value of ``cfg.inputs[pos]`` in ``dv`` (None: no notification yet); a Bad
        status or a value that is no number makes it a bad tag."""
        if dv is None:
            return None
        value = decode(dv)
        if dv.StatusCode is not None and dv.StatusCode.is_bad():
            self._tag_failed(
                False, pos, refused(f"read node {self._in_nodes[pos]!r}", dv.StatusCode)
            )
        elif value is None:
            vt = dv.Value.VariantType.name if dv.Value is not None else "no value"
            why = f"read node {self._in_nodes[pos]!r}: {vt} is not a number or boolean"
            self._tag_failed(False, pos, why)
        else:
            self._tag_ok(False, pos)
        return value

    def _as_written(self, pos: int, value: float) -> float:
        out = self._outputs[pos]  # None: type not known yet (written once it is)
        return value if out is None else as_written(value, out[1])

    async def _write(self, items: Sequence[tuple[int, float]]) -> Sequence[tuple[int, float]]:
        client = self._live()
        await self._recheck(client)
        todo: list[tuple[int, float]] = []
        nodes: list[ua.NodeId] = []
        values: list[ua.DataValue] = []
        for pos, value in items:
            out = self._outputs[pos]
            if out is not None:  # else a bad tag already: written once the node passes
                todo.append((pos, value))
                nodes.append(out[0])
                values.append(encode(value, out[1]))
                bounds = INT_RANGES.get(out[1])
                if bounds is not None and overflows(value, bounds):
                    self._saturated(pos, value, out[1].name, bounds)
        results = await client.uaclient.write_attributes(nodes, values, VALUE) if nodes else []
        done: list[tuple[int, float]] = []
        for (pos, value), status in zip(todo, results, strict=True):
            if status.is_good():  # a Bad status is this node's, not the link's: the rest go on
                done.append((pos, value))
                self._tag_ok(True, pos)
            else:
                what = f"write node {self._out_nodes[pos]!r}"
                self._tag_failed(True, pos, refused(what, status))
        return done

    # -- disconnect -----------------------------------------------------------------------------
    async def _close(self) -> None:
        client, self._client = self._client, None
        session, self._session = self._session, False
        if client is None:
            return
        try:
            if session:  # CloseSession (and its subscription), CloseSecureChannel, end its tasks
                await asyncio.wait_for(client.disconnect(), self.cfg.timeout_s)
        except Exception as exc:  # the link may already be gone
            self.log.debug("disconnect: %s", exc)
        finally:
            with contextlib.suppress(Exception):
                client.disconnect_socket()  # a connect cut short by its timeout


@dataclass(frozen=True)
class _Credentials:
    """The client's certificate and key, and the application URI it names."""

    cert_file: Path
    cert: uacrypto.CertProperties
    key: uacrypto.CertProperties
    application_uri: str


class _Latest:
    """asyncua subscription handler: the last DataValue of each node (``watched``)."""

    def __init__(self) -> None:
        self.watched: set[ua.NodeId] = set()
        self.values: dict[ua.NodeId, ua.DataValue] = {}
        self.error: str | None = None  # the server ended the subscription

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        self.values[node.nodeid] = data.monitored_item.Value

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        if status.Status.is_bad():
            self.error = f"subscription ended: {status.Status.name}"


def _pin_of(path: Path, what: str) -> bytes:
    """The certificate in ``path`` (DER), ServiceError naming ``what`` and the file if it
    is none (changed since the file was checked)."""
    try:
        return certificate_der(path)
    except ValueError as exc:
        raise ServiceError(f"{what}{path}: not a certificate ({exc})") from exc
