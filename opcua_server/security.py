"""Application certificate, client trust list and role-based permissions.

PKI folder layout (``ServerSettings.pki_dir``)::

    own/cert.der, own/key.pem   the server's self-signed certificate (created on first run,
                                reused after; recreated when expired or the host names change)
    trusted/                    client certificates (DER or PEM) allowed to connect
    rejected/                   certificates of clients that were refused: to trust one,
                                move it into trusted/ (no restart needed)
    crl/                        certificate revocation lists (optional)
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import socket
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.common.utils import Buffer
from asyncua.crypto import uacrypto
from asyncua.crypto.cert_gen import dump_private_key_as_pem, generate_private_key
from asyncua.crypto.cert_gen import generate_self_signed_app_certificate as _self_signed
from asyncua.crypto.permission_rules import PermissionRuleset
from asyncua.crypto.security_policies import SecurityPolicyNone
from asyncua.crypto.truststore import TrustStore
from asyncua.server import binary_server_asyncio
from asyncua.server.internal_session import ServiceError
from asyncua.server.uaprocessor import UaProcessor
from asyncua.ua.ua_binary import struct_from_binary, uatcp_to_binary
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from opcua_server.users import Role, TwinUser

__all__ = [
    "CALLER_ROLE",
    "SECURE_POLICIES",
    "CertificateFiles",
    "ChannelGate",
    "ClientCertificateValidator",
    "RolePermissions",
    "ensure_certificate",
    "host_names",
    "install",
]

_log = logging.getLogger(__name__)

SECURE_POLICIES: tuple[ua.SecurityPolicyType, ...] = (
    ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
    ua.SecurityPolicyType.Basic256Sha256_Sign,
    ua.SecurityPolicyType.Aes128Sha256RsaOaep_SignAndEncrypt,
    ua.SecurityPolicyType.Aes128Sha256RsaOaep_Sign,
    ua.SecurityPolicyType.Aes256Sha256RsaPss_SignAndEncrypt,
    ua.SecurityPolicyType.Aes256Sha256RsaPss_Sign,
)
_CERT_DAYS = 5 * 365
_RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    cert: Path
    key: Path
    created: bool


def host_names(host: str) -> tuple[list[str], list[str]]:
    """DNS names and IP addresses a client may use to reach a server bound to ``host``."""
    dns = {"localhost", socket.gethostname()}
    ips = {"127.0.0.1", "::1"}
    try:
        ipaddress.ip_address(host)
    except ValueError:
        dns.add(host)
    else:
        if host in {"0.0.0.0", "::"}:
            # every interface: the addresses this machine's name resolves to
            try:
                infos = socket.getaddrinfo(socket.gethostname(), None)
            except OSError:  # pragma: no cover - resolver trouble must not stop the server
                infos = []
            ips.update(str(info[4][0]).split("%")[0] for info in infos)
        else:
            ips.add(host)
    try:
        fqdn = socket.getfqdn()
        if fqdn:
            dns.add(fqdn)
    except OSError:  # pragma: no cover - resolver trouble must not stop the server
        pass
    return sorted(dns), sorted(ips)


def _san(cert: x509.Certificate) -> tuple[set[str], set[str], set[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set(), set()
    return (
        set(ext.get_values_for_type(x509.UniformResourceIdentifier)),
        set(ext.get_values_for_type(x509.DNSName)),
        {str(i) for i in ext.get_values_for_type(x509.IPAddress)},
    )


def ensure_certificate(
    pki_dir: Path, application_uri: str, host: str, name: str
) -> CertificateFiles:
    """The server certificate in ``pki_dir/own``: reused if valid for ``application_uri`` and the
    host names, else created (RSA 2048, SHA-256, self-signed, 5 years). Also creates the
    trusted/, rejected/ and crl/ folders.
    """
    own = pki_dir / "own"
    for sub in (own, pki_dir / "trusted", pki_dir / "rejected", pki_dir / "crl"):
        sub.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = own / "cert.der", own / "key.pem"
    dns, ips = host_names(host)
    if cert_path.is_file() and key_path.is_file():
        try:
            cert = x509.load_der_x509_certificate(cert_path.read_bytes())
            uris, have_dns, have_ips = _san(cert)
            fresh = cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > _RENEW_BEFORE
            if fresh and application_uri in uris and set(dns) <= have_dns and set(ips) <= have_ips:
                return CertificateFiles(cert_path, key_path, created=False)
        except ValueError:
            _log.warning("unreadable server certificate %s: creating a new one", cert_path)
    key = generate_private_key()
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(application_uri)]
    sans += [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = _self_signed(
        key,
        name,
        {"organizationName": "cell-twin"},
        sans,
        extended=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        days=_CERT_DAYS,
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(dump_private_key_as_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    return CertificateFiles(cert_path, key_path, created=True)


class ClientCertificateValidator:
    """Accepts client application certificates found in ``trusted/`` (directly or by CA) that
    are in their validity period, name the client's application URI and are not revoked.

    Used twice per client: ``check_channel`` when its secure channel opens (the certificate
    that signs the channel; no application URI is known yet), and as asyncua's certificate
    validator at CreateSession (the same certificate, ``ChannelGate`` makes sure, with the
    application URI the client gives). A refused certificate is copied to ``rejected/`` so an
    administrator can trust it by moving it to ``trusted/``; the trust list is re-read when
    that folder changes.
    """

    def __init__(self, pki_dir: Path) -> None:
        self._trusted = pki_dir / "trusted"
        self._rejected = pki_dir / "rejected"
        self._crl = pki_dir / "crl"
        self._stamp: tuple[float, float] | None = None
        self._store: TrustStore | None = None

    def _mtimes(self) -> tuple[float, float]:
        return (self._trusted.stat().st_mtime, self._crl.stat().st_mtime)

    async def _current(self) -> TrustStore | None:
        """The current trust list; None while ``trusted/`` holds nothing (a TrustStore cannot
        be empty: every certificate is untrusted then). Kept until ``trusted/`` or ``crl/``
        change (their mtimes), so a validation lists no folder."""
        stamp = self._mtimes()
        if stamp != self._stamp:  # the first call too (no stamp yet)
            trusted = any(p.is_file() for p in self._trusted.iterdir())
            store = TrustStore([self._trusted], [self._crl])
            if trusted:
                await store.load()
            self._store = store if trusted else None
            self._stamp = stamp
        return self._store

    async def check_channel(self, der: bytes | None) -> None:
        """Raises ServiceError unless ``der`` (a secure channel's client certificate, or a
        chain starting with it) is acceptable, the application URI aside."""
        try:
            cert = x509.load_der_x509_certificate(_leaf(der or b""))
        except ValueError:
            raise ServiceError(ua.StatusCodes.BadCertificateInvalid) from None
        await self._check(cert, None)

    async def __call__(self, cert: x509.Certificate, app: ua.ApplicationDescription) -> None:
        await self._check(cert, app.ApplicationUri)

    async def _check(self, cert: x509.Certificate, uri: str | None) -> None:
        code = _refusal(await self._current(), cert, uri)
        if code is None:
            return
        uris = sorted(_san(cert)[0])
        name = uri or (uris[0] if uris else "client")
        thumb = cert.fingerprint(hashes.SHA1()).hex()  # noqa: S303 - OPC UA thumbprint
        target = self._rejected / f"{_safe(name)}[{thumb}].der"
        if not target.exists():
            target.write_bytes(uacrypto.der_from_x509(cert))
        _log.warning(
            "refused client certificate of %s (copied to %s; move it to %s to trust it)",
            name,
            target,
            self._trusted,
        )
        raise ServiceError(code)


def _refusal(store: TrustStore | None, cert: x509.Certificate, uri: str | None) -> int | None:
    """Why ``cert`` is refused (a Bad status code), or None; ``uri`` None: not checked."""
    now = dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return ua.StatusCodes.BadCertificateTimeInvalid
    if uri is not None and uri not in _san(cert)[0]:
        return ua.StatusCodes.BadCertificateUriInvalid
    if store is None or not store.is_trusted(cert):
        return ua.StatusCodes.BadCertificateUntrusted
    if store.is_revoked(cert):
        return ua.StatusCodes.BadCertificateRevoked
    return None


def _leaf(der: bytes) -> bytes:
    """The first certificate of a DER chain (OPC 10000-6: certificates sent one after the
    other): its ASN.1 SEQUENCE header gives its length."""
    if len(der) < 2 or der[0] != 0x30:
        return der
    size, start = der[1], 2
    if size & 0x80:
        start = 2 + (size & 0x7F)
        size = int.from_bytes(der[2:start], "big")
    return der[: start + size]


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80] or "client"


# services every authenticated user may call (viewer and up)
_READ_SERVICES = {
    ua.ObjectIds.CreateSessionRequest_Encoding_DefaultBinary,
    ua.ObjectIds.CloseSessionRequest_Encoding_DefaultBinary,
    ua.ObjectIds.ActivateSessionRequest_Encoding_DefaultBinary,
    ua.ObjectIds.ReadRequest_Encoding_DefaultBinary,
    ua.ObjectIds.BrowseRequest_Encoding_DefaultBinary,
    ua.ObjectIds.BrowseNextRequest_Encoding_DefaultBinary,
    ua.ObjectIds.GetEndpointsRequest_Encoding_DefaultBinary,
    ua.ObjectIds.FindServersRequest_Encoding_DefaultBinary,
    ua.ObjectIds.TranslateBrowsePathsToNodeIdsRequest_Encoding_DefaultBinary,
    ua.ObjectIds.CreateSubscriptionRequest_Encoding_DefaultBinary,
    ua.ObjectIds.ModifySubscriptionRequest_Encoding_DefaultBinary,
    ua.ObjectIds.DeleteSubscriptionsRequest_Encoding_DefaultBinary,
    ua.ObjectIds.TransferSubscriptionsRequest_Encoding_DefaultBinary,
    ua.ObjectIds.CreateMonitoredItemsRequest_Encoding_DefaultBinary,
    ua.ObjectIds.ModifyMonitoredItemsRequest_Encoding_DefaultBinary,
    ua.ObjectIds.DeleteMonitoredItemsRequest_Encoding_DefaultBinary,
    ua.ObjectIds.SetMonitoringModeRequest_Encoding_DefaultBinary,
    ua.ObjectIds.SetPublishingModeRequest_Encoding_DefaultBinary,
    ua.ObjectIds.SetTriggeringRequest_Encoding_DefaultBinary,
    ua.ObjectIds.HistoryReadRequest_Encoding_DefaultBinary,
    ua.ObjectIds.PublishRequest_Encoding_DefaultBinary,
    ua.ObjectIds.RepublishRequest_Encoding_DefaultBinary,
    ua.ObjectIds.CloseSecureChannelRequest_Encoding_DefaultBinary,
    ua.ObjectIds.RegisterNodesRequest_Encoding_DefaultBinary,
    ua.ObjectIds.UnregisterNodesRequest_Encoding_DefaultBinary,
    ua.ObjectIds.CallRequest_Encoding_DefaultBinary,  # per method below
}
_CALL = ua.NodeId(ua.ObjectIds.CallRequest_Encoding_DefaultBinary)


#: the role of the session whose Call request is being handled, set by ``RolePermissions``
#: (None: no role known, e.g. a call from inside the server, which no session makes); the
#: methods check it and deny a call without one (``calls.access_denied``)
CALLER_ROLE: ContextVar[Role | None] = ContextVar("CALLER_ROLE", default=None)


class RolePermissions(PermissionRuleset):
    """Which role may use which service.

    Every authenticated user may browse, read, subscribe, read history and make Call
    requests; each method of a Call checks the role it needs itself against ``CALLER_ROLE``
    (``calls.access_denied``), so that one method denied does not refuse the others in the
    request (a method that checks nothing, e.g. a standard one like GetMonitoredItems, is a
    viewer's). Writes, node management and history updates are not offered to any client:
    the twin's state only changes through its methods.
    """

    def __init__(self) -> None:
        self._services = {ua.NodeId(i) for i in _READ_SERVICES}

    def check_validity(self, user: Any, action_type_id: ua.NodeId, body: Buffer) -> bool:
        if not isinstance(user, TwinUser) or action_type_id not in self._services:
            return False
        if action_type_id == _CALL:
            # OPC 10000-4: a method the role may not call is BadUserAccessDenied in its own
            # result; the request is handled next in this task, its methods read the role
            CALLER_ROLE.set(user.twin_role)
        return True


_NONE_URI = SecurityPolicyNone.URI
_CREATE_SESSION = ua.NodeId(ua.ObjectIds.CreateSessionRequest_Encoding_DefaultBinary)
# what a channel of a policy the server does not offer may do (OPC 10000-4 5.4: a client
# finds the secure endpoints over a channel without security)
_DISCOVERY = {
    ua.NodeId(ua.ObjectIds.GetEndpointsRequest_Encoding_DefaultBinary),
    ua.NodeId(ua.ObjectIds.FindServersRequest_Encoding_DefaultBinary),
    ua.NodeId(ua.ObjectIds.CloseSecureChannelRequest_Encoding_DefaultBinary),
}


class ChannelGate(UaProcessor):  # type: ignore[misc]
    """asyncua's processor of one client connection, screening the client before asyncua
    serves it (OPC 10000-4 5.5.2 and 5.6.2), when the server's certificate validator is a
    ``ClientCertificateValidator`` (any other server is served as asyncua does):

    - OpenSecureChannel: the certificate that signs a secured channel must pass
      ``check_channel`` (asyncua checks none: its validator only sees the certificate a client
      puts into CreateSession, if any). A refusal is an Error message, then the socket closes.
    - CreateSession on a secured channel must present that same certificate, which asyncua's
      validator then checks with the application URI: BadCertificateInvalid without one,
      BadSecurityChecksFailed for another.
    - A channel of a policy and mode the server does not offer serves discovery only
      (GetEndpoints, FindServers); anything else, CreateSession first, is
      BadSecurityPolicyRejected. asyncua opens a None channel on any server (its connection's
      default policy), whose sessions its permission rules never see.

    Relies on asyncua 2.x internals: ``binary_server_asyncio.UaProcessor`` (see ``install``),
    ``process``/``_process_message`` and the processor's ``_connection`` and ``_transport``.
    """

    _offered: frozenset[tuple[str, ua.MessageSecurityMode]] = frozenset()

    def set_policies(self, policies: list[Any]) -> None:
        super().set_policies(policies)
        self._offered = frozenset((p.cls.URI, p.mode) for p in policies)

    def _validator(self) -> ClientCertificateValidator | None:
        validator = self.iserver.certificate_validator
        return validator if isinstance(validator, ClientCertificateValidator) else None

    async def process(self, header: ua.Header, body: Buffer) -> bool:
        validator = self._validator()
        opening = header.MessageType == ua.MessageType.SecureOpen
        if validator is None or not opening or self._connection.is_open():
            return bool(await super().process(header, body))
        # the asymmetric security header is in clear: the policy and the signing certificate
        algorithm = struct_from_binary(ua.AsymmetricAlgorithmHeader, body.copy(header.body_size))
        try:
            if algorithm.SecurityPolicyURI != _NONE_URI:  # None: no certificate to check
                await validator.check_channel(algorithm.SenderCertificate)
            return bool(await super().process(header, body))
        except ServiceError as exc:
            code, reason = exc.code, "client certificate refused"
        except ua.UaError as exc:  # asyncua's select_policy: no such policy and mode offered
            code, reason = ua.StatusCodes.BadSecurityPolicyRejected, str(exc)
        _log.warning("refused a secure channel from %s: %s", self.name, ua.StatusCode(code).name)
        error = ua.ErrorMessage(ua.StatusCode(code), reason)
        self._transport.write(uatcp_to_binary(ua.MessageType.Error, error))
        return False

    async def _process_message(
        self, typeid: ua.NodeId, requesthdr: Any, seqhdr: Any, body: Buffer
    ) -> Any:
        policy = self._connection.security_policy
        if not self._validator():
            return await super()._process_message(typeid, requesthdr, seqhdr, body)
        if (policy.URI, policy.Mode) not in self._offered and typeid not in _DISCOVERY:
            _log.warning(
                "refused a request from %s: security %s is not offered (discovery only)",
                self.name,
                policy.URI.rsplit("#", 1)[-1],
            )
            raise ServiceError(ua.StatusCodes.BadSecurityPolicyRejected)
        if typeid == _CREATE_SESSION and policy.URI != _NONE_URI:
            params = struct_from_binary(ua.CreateSessionParameters, body.copy())
            if not params.ClientCertificate:
                _log.warning("refused a session from %s: no client certificate", self.name)
                raise ServiceError(ua.StatusCodes.BadCertificateInvalid)
            if _leaf(params.ClientCertificate) != _leaf(policy.peer_certificate or b""):
                _log.warning(
                    "refused a session from %s: its certificate is not the one that signs"
                    " its secure channel",
                    self.name,
                )
                raise ServiceError(ua.StatusCodes.BadSecurityChecksFailed)
        return await super()._process_message(typeid, requesthdr, seqhdr, body)


def install() -> None:
    """Serve every connection accepted from now on through ``ChannelGate`` (asyncua creates a
    processor per connection from this module attribute). Servers whose certificate validator
    is not a ``ClientCertificateValidator`` are served as before."""
    binary_server_asyncio.UaProcessor = ChannelGate
