"""``OpcUaAdapter``: the twin as an OPC UA client of a PLC (asyncua ``Client``).

One link is one client session. At connect the mapped nodes are resolved (``nsu=`` through the
server's namespace array) and checked in one Read: each must be a number or boolean variable,
each output writable by this user; the outputs' data types are kept so that writes send the
type the server expects. Inputs come from a subscription (publishing interval ``period_s``;
the latest value of each node is kept) or from one Read per cycle; the changed outputs go in
one Write per cycle.

A dead link is noticed within about ``timeout_s``: requests time out after ``timeout_s``, and
asyncua's watchdog probes the server every ``timeout_s / 2`` (a closed socket is noticed at
once); once it has marked the link lost, the next cycle raises and the base class reconnects.
A Bad status in a Write's results is that node's (e.g. BadOutOfRange, BadNotWritable): the
output is bad and tried again next cycle, the other nodes and the link go on. An input node
with a Bad status keeps its last value, ``STALE``.
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
from asyncua.crypto import security_policies, uacrypto
from cryptography import x509

from adapters.base import Adapter
from adapters.bridge import Bridge, TagValue
from adapters.opcua.config import OpcUaConfig
from adapters.opcua.nodes import VALUE, decode, encode, resolve, types_of
from twin.clock import Clock
from twin.errors import ConfigError, ServiceError

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
        self._inputs: list[ua.NodeId] = []  # per cfg.inputs
        self._outputs: list[tuple[str, ua.NodeId, ua.VariantType]] = []  # per cfg.outputs
        self._latest: _Latest | None = None  # with a subscription
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
        cert = await self._secure(client) if cfg.security_policy != "None" else None
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
        inputs = [m.node for m in cfg.read] + [m.node for m in cfg.fault]
        outputs = [m.node for m in cfg.write] + [m.node for m in cfg.state]
        nodes = await resolve(client, [*inputs, *outputs])
        types = await types_of(client, nodes, inputs, outputs)
        self._inputs = [nodes[t] for t in inputs]
        self._outputs = [(t, nodes[t], types[t]) for t in outputs]
        self._latest = (
            await self._subscribe(client, nodes, inputs)
            if inputs and cfg.use_subscription
            else None
        )

    async def _secure(self, client: Client) -> Path:
        """Set the client's security up; returns its certificate's file."""
        cfg = self.cfg
        if self._credentials is None:  # the files are read (or made) once, not per connect
            self._credentials = await asyncio.to_thread(
                self._load_credentials, client.application_uri
            )
        cred = self._credentials
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
        if cred.pinned is not None and cred.pinned != client.security_policy.peer_certificate:
            # a server with another key could not read the channel anyway, but would only
            # make the connect time out: say why instead
            raise ServiceError(
                f"the server's certificate is not server_certificate {cfg.server_certificate}"
            )
        return cred.cert_file

    def _load_credentials(self, application_uri: str) -> _Credentials:
        cfg = self.cfg
        if cfg.certificate is not None and cfg.private_key is not None:
            cert_file, key_file = cfg.certificate, cfg.private_key
        else:
            cert_file, key_file = self._own_certificate(application_uri)
        cert, key = _pki(cert_file), _pki(key_file)
        if cfg.certificate is not None:  # the session must name the certificate's URI
            application_uri = _uri(_x509(cert)) or application_uri
        pinned = None
        if cfg.server_certificate is not None:
            pinned = uacrypto.der_from_x509(_x509(_pki(cfg.server_certificate)))
        return _Credentials(cert_file, cert, key, application_uri, pinned)

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
        if password is None:
            reason = f"environment variable {var} is not set"
            raise ConfigError(f"adapter {self.name}", "password_env", reason)
        return password

    async def _subscribe(
        self, client: Client, nodes: dict[str, ua.NodeId], inputs: list[str]
    ) -> _Latest:
        period_ms = self.cfg.period_s * 1000
        params = ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=period_ms,
            # a keep-alive about every timeout_s: asyncua notices a subscription gone silent
            RequestedMaxKeepAliveCount=max(1, math.ceil(self.cfg.timeout_s / self.cfg.period_s)),
            PublishingEnabled=True,
        )
        params.RequestedLifetimeCount = 3 * params.RequestedMaxKeepAliveCount
        latest = _Latest()
        sub = await client.create_subscription(params, latest)
        distinct = list(dict.fromkeys(inputs))
        handles = await sub.subscribe_data_change(
            [client.get_node(nodes[t]) for t in distinct], sampling_interval=period_ms
        )
        for text, handle in zip(distinct, handles, strict=True):
            if isinstance(handle, ua.StatusCode):
                raise ServiceError(f"node {text!r}: cannot subscribe: {handle.name}")
        return latest

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
        if self._latest is not None:
            return [self._latest.values.get(node) for node in self._inputs]
        return [decode(dv) for dv in await client.uaclient.read_attributes(self._inputs, VALUE)]

    async def _write(self, items: Sequence[tuple[int, float]]) -> Sequence[tuple[int, float]]:
        client = self._live()
        nodes: list[ua.NodeId] = []
        values: list[ua.DataValue] = []
        for pos, value in items:
            _, node, vt = self._outputs[pos]
            nodes.append(node)
            values.append(encode(value, vt))
        results = await client.uaclient.write_attributes(nodes, values, VALUE)
        done: list[tuple[int, float]] = []
        for (pos, value), status in zip(items, results, strict=True):
            if status.is_good():  # a Bad status is this node's, not the link's: the rest go on
                done.append((pos, value))
                self._tag_ok(True, pos)
            else:
                text = self._outputs[pos][0]
                self._tag_failed(True, pos, f"write node {text!r}: the PLC answers {status.name}")
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
    """The client's certificate and key, the application URI it names, the pinned server
    certificate (DER)."""

    cert_file: Path
    cert: uacrypto.CertProperties
    key: uacrypto.CertProperties
    application_uri: str
    pinned: bytes | None


class _Latest:
    """asyncua subscription handler: the last value of each node (None after a bad status)."""

    def __init__(self) -> None:
        self.values: dict[ua.NodeId, TagValue] = {}
        self.error: str | None = None  # the server ended the subscription

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        self.values[node.nodeid] = decode(data.monitored_item.Value)

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        if status.Status.is_bad():
            self.error = f"subscription ended: {status.Status.name}"


def _pki(path: Path) -> uacrypto.CertProperties:
    """A certificate or key file's content, PEM or DER. Read in a worker thread rather than by
    asyncua, whose reads leave the file open when a connect is cancelled during one."""
    data = path.read_bytes()
    return uacrypto.CertProperties(data, "pem" if data.lstrip().startswith(b"-----") else "der")


def _x509(cert: uacrypto.CertProperties) -> x509.Certificate:
    load = (
        x509.load_pem_x509_certificate
        if cert.extension == "pem"
        else x509.load_der_x509_certificate
    )
    return load(cert.path_or_content)


def _uri(cert: x509.Certificate) -> str | None:
    """The application URI a certificate names (its first URI SubjectAltName)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return str(uris[0]) if uris else None
