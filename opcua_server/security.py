"""Application certificate, client screening (per TCP connection and secure channel) and
role-based permissions.

PKI folder layout (``ServerSettings.pki_dir``)::

    own/cert.der, own/key.pem   the server's self-signed certificate (created on first run,
                                reused after; recreated when expired or the host names change)
    trusted/                    client certificates (DER or PEM), or their CAs'
    rejected/                   certificates of clients that were refused: to trust one,
                                move it into trusted/ (no restart needed)
    crl/                        certificate revocation lists (optional)

(``trust`` reads trusted/, crl/ and rejected/.)
"""

from __future__ import annotations

import contextlib
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
from asyncua.crypto.cert_gen import dump_private_key_as_pem, generate_private_key
from asyncua.crypto.cert_gen import generate_self_signed_app_certificate as _self_signed
from asyncua.crypto.permission_rules import PermissionRuleset
from asyncua.crypto.security_policies import SecurityPolicyNone
from asyncua.server import binary_server_asyncio
from asyncua.server.internal_session import ServiceError
from asyncua.server.uaprocessor import UaProcessor
from asyncua.ua.ua_binary import struct_from_binary, uatcp_to_binary
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from opcua_server.folders import private_folders
from opcua_server.peer import PEER, address
from opcua_server.sessions import OwnedSession, owns
from opcua_server.trust import ClientCertificateValidator, leaf_certificate, san
from opcua_server.users import AUDIT_LOGGER, TwinUser, TwinUserManager, shown_user

__all__ = [
    "CALLER",
    "LEGACY_APPLICATION_URI",
    "SECURE_POLICIES",
    "AddressGate",
    "CertificateFiles",
    "ChannelGate",
    "RolePermissions",
    "default_application_uri",
    "ensure_certificate",
    "host_names",
    "install",
]

_log = logging.getLogger(__name__)
_audit = logging.getLogger(AUDIT_LOGGER)

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


#: the application URI of every installation before it named its host: a certificate of
#: its own that names it and is still good is kept (its clients trust it)
LEGACY_APPLICATION_URI = "urn:cell-twin:opcua-server"


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    cert: Path
    key: Path
    created: bool
    uri: str  # the application URI it names (the server's)


def default_application_uri() -> str:
    """This installation's application URI: one per host (OPC 10000-6 6.2.2: globally
    unique), ``urn:<host name>:cell-twin:opcua-server``."""
    return f"urn:{socket.gethostname()}:cell-twin:opcua-server"


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


def ensure_certificate(
    pki_dir: Path, application_uri: str | None, host: str, name: str
) -> CertificateFiles:
    """The server certificate in ``pki_dir/own``: reused if valid for ``application_uri`` and the
    host names, else created (RSA 2048, SHA-256, self-signed, 5 years). ``application_uri``
    None: ``default_application_uri()``, or ``LEGACY_APPLICATION_URI`` while a certificate
    naming it is reused (an upgrade does not make clients trust a new one; its renewal
    does). Also creates the trusted/, rejected/ and crl/ folders (``private_folders``:
    raises ConfigError for a folder every user may write to).
    """
    own = pki_dir / "own"
    private_folders(pki_dir, [own, pki_dir / "trusted", pki_dir / "rejected", pki_dir / "crl"])
    cert_path, key_path = own / "cert.der", own / "key.pem"
    dns, ips = host_names(host)
    wanted = [application_uri] if application_uri else [default_application_uri()]
    if application_uri is None:
        wanted.append(LEGACY_APPLICATION_URI)
    if cert_path.is_file() and key_path.is_file():
        try:
            cert = x509.load_der_x509_certificate(cert_path.read_bytes())
            uris, have_dns, have_ips = san(cert)
            fresh = cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > _RENEW_BEFORE
            named = [u for u in wanted if u in uris]
            if fresh and named and set(dns) <= have_dns and set(ips) <= have_ips:
                return CertificateFiles(cert_path, key_path, created=False, uri=named[0])
        except ValueError:
            _log.warning("unreadable server certificate %s: creating a new one", cert_path)
    application_uri = wanted[0]
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
    return CertificateFiles(cert_path, key_path, created=True, uri=application_uri)


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


#: the user of the session whose Call request is being handled, with its role, set by
#: ``RolePermissions`` (None: no role known, e.g. a call from inside the server, which no
#: session makes); the methods check it and deny a call without one (``calls.access_denied``)
CALLER: ContextVar[TwinUser | None] = ContextVar("CALLER", default=None)


class RolePermissions(PermissionRuleset):
    """Which role may use which service.

    Every authenticated user may browse, read, subscribe, read history and make Call
    requests; each method of a Call checks the role it needs itself against ``CALLER``
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
            CALLER.set(user)
        return True


class _Refused(ServiceError):  # type: ignore[misc]
    """A request the gate refuses, told (a warning) where it is refused."""


#: the refusals of a client's request, told as a warning (ChannelGate._process_message)
_REFUSALS = frozenset(
    {
        ua.StatusCodes.BadUserAccessDenied,
        ua.StatusCodes.BadIdentityTokenInvalid,
        ua.StatusCodes.BadIdentityTokenRejected,
        ua.StatusCodes.BadTooManySessions,
    }
)
#: the ActivateSession refusals the audit log tells already (a login refused, one session
#: too many for the user)
_AUDITED = frozenset({ua.StatusCodes.BadUserAccessDenied, ua.StatusCodes.BadTooManySessions})


def _service(typeid: ua.NodeId) -> str:
    """The service a request's type id names, e.g. ``ActivateSession``."""
    name = ua.ObjectIdNames.get(typeid.Identifier, str(typeid))
    return str(name).removesuffix("Request_Encoding_DefaultBinary")


_NONE_URI = SecurityPolicyNone.URI
_CREATE_SESSION = ua.NodeId(ua.ObjectIds.CreateSessionRequest_Encoding_DefaultBinary)
_ACTIVATE_SESSION = ua.NodeId(ua.ObjectIds.ActivateSessionRequest_Encoding_DefaultBinary)
_SET_TRIGGERING = ua.NodeId(ua.ObjectIds.SetTriggeringRequest_Encoding_DefaultBinary)
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
    - ActivateSession of a session this channel did not create (its transfer to a new channel,
      e.g. a client's reconnect) is BadSecurityChecksFailed unless the session was activated
      before and this channel is signed with the certificate of the channel that created it
      (OPC 10000-4 5.7.3.1; asyncua moves any session whose authentication token it is sent,
      a number counted up from 1000, to any channel).
    - ActivateSession with a user name token whose password is not encrypted is
      BadIdentityTokenInvalid unless the channel is SignAndEncrypt (OPC 10000-4 7.41.4: the
      token policies the endpoints advertise ask for it encrypted on every other channel,
      the None channel of --insecure-dev included; asyncua takes it in clear on any).
    - ActivateSession with a user name and a ``TwinUserManager``: the password is checked
      on a worker thread first (``TwinUserManager.prepared``); asyncua asks the manager
      synchronously, which would run scrypt on the event loop that serves every session.
    - SetTriggering of a subscription of another session is BadSubscriptionIdInvalid
      (``sessions.OwnedSession`` checks the other subscription services).
    - A channel of a policy and mode the server does not offer serves discovery only
      (GetEndpoints, FindServers); anything else, CreateSession first, is
      BadSecurityPolicyRejected. asyncua opens a None channel on any server (its connection's
      default policy), whose sessions its permission rules never see.

    It also tells a ``sessions.OwnedSession`` which channel it is activated on, and when that
    channel's connection is gone (``attach``, ``detach``).

    Relies on asyncua 2.x internals: ``binary_server_asyncio.UaProcessor`` (see ``install``),
    ``process``/``_process_message``/``close``, the processor's ``_connection``, ``_transport`` and
    ``session``, and ``iserver.lookup_external_session`` (a session keeps the certificate of
    its channel in an attribute of ours, ``twin_channel_certificate``).
    """

    _offered: frozenset[tuple[str, ua.MessageSecurityMode]] = frozenset()

    def set_policies(self, policies: list[Any]) -> None:
        super().set_policies(policies)
        self._offered = frozenset((p.cls.URI, p.mode) for p in policies)

    def _validator(self) -> ClientCertificateValidator | None:
        validator = self.iserver.certificate_validator
        return validator if isinstance(validator, ClientCertificateValidator) else None

    async def process(self, header: ua.Header, body: Buffer) -> bool:
        PEER.set(address(self.name))
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
        """The request served, or refused with a ServiceFault. A refusal is one warning:
        the gate's own and a login refused are told where they are refused (a login in the
        audit log); another refusal (a service the user's role may not use, an identity
        token asyncua refuses) is told here. asyncua would log each as an error, a second
        line under the warning that reads as a fault of the server. Any other error goes on
        to asyncua as before."""
        try:
            return await self._gated(typeid, requesthdr, seqhdr, body)
        except _Refused as exc:
            code = exc.code
        except (ServiceError, ua.UaStatusCodeError) as exc:
            code = exc.code
            if code not in _REFUSALS:
                raise
            if not (typeid == _ACTIVATE_SESSION and code in _AUDITED):
                _log.warning(
                    "refused a request (%s) from %s: %s",
                    _service(typeid),
                    address(self.name),
                    ua.StatusCode(code).name,
                )
        fault = ua.ServiceFault()
        fault.ResponseHeader.ServiceResult = ua.StatusCode(code)
        self.send_response(requesthdr.RequestHandle, seqhdr, fault)
        return True

    async def _gated(self, typeid: ua.NodeId, requesthdr: Any, seqhdr: Any, body: Buffer) -> Any:
        policy = self._connection.security_policy
        if not self._validator():
            return await super()._process_message(typeid, requesthdr, seqhdr, body)
        if (policy.URI, policy.Mode) not in self._offered and typeid not in _DISCOVERY:
            _log.warning(
                "refused a request from %s: security %s is not offered (discovery only)",
                self.name,
                policy.URI.rsplit("#", 1)[-1],
            )
            raise _Refused(ua.StatusCodes.BadSecurityPolicyRejected)
        if typeid == _CREATE_SESSION and policy.URI != _NONE_URI:
            self._check_create_session(policy, body)
        elif typeid == _ACTIVATE_SESSION:
            session = self.session
            if session is None:
                session = self._check_transfer(policy, requesthdr.AuthenticationToken)
            token = self._check_activate_session(policy, body)
            login = self._login(session, token)
            if login is not None:  # the password checked off the event loop first
                async with login:
                    return await self._serve(typeid, requesthdr, seqhdr, body, policy)
        elif typeid == _SET_TRIGGERING and self.session is not None and self.session.is_activated():
            # asyncua answers BadServiceUnsupported, but not for another session's
            # subscription: that one does not exist for this session (sessions.OwnedSession)
            params = struct_from_binary(ua.SetTriggeringParameters, body.copy())
            if not owns(self.session, params.SubscriptionId):
                raise ServiceError(ua.StatusCodes.BadSubscriptionIdInvalid)
        return await self._serve(typeid, requesthdr, seqhdr, body, policy)

    async def _serve(
        self, typeid: ua.NodeId, requesthdr: Any, seqhdr: Any, body: Buffer, policy: Any
    ) -> Any:
        """asyncua serves the request; then what this gate keeps of the session."""
        response = await super()._process_message(typeid, requesthdr, seqhdr, body)
        if typeid == _CREATE_SESSION:
            # what a channel the session moves to must be signed with (set before this task
            # yields: no ActivateSession from another channel can come in between)
            self.session.twin_channel_certificate = _channel_certificate(policy)
        elif typeid == _ACTIVATE_SESSION and isinstance(self.session, OwnedSession):
            self.session.attach(self)
        return response

    async def close(self) -> None:
        session = self.session
        await super().close()
        if isinstance(session, OwnedSession):
            session.detach(self)  # kept by asyncua (for a reconnect) unless it closed it

    def _check_create_session(self, policy: Any, body: Buffer) -> None:
        params = struct_from_binary(ua.CreateSessionParameters, body.copy())
        if not params.ClientCertificate:
            _log.warning("refused a session from %s: no client certificate", self.name)
            raise _Refused(ua.StatusCodes.BadCertificateInvalid)
        if leaf_certificate(params.ClientCertificate) != _channel_certificate(policy):
            _log.warning(
                "refused a session from %s: its certificate is not the one that signs"
                " its secure channel",
                self.name,
            )
            raise _Refused(ua.StatusCodes.BadSecurityChecksFailed)

    def _check_transfer(self, policy: Any, token: ua.NodeId) -> Any:
        """The session of ``token`` (None: no such session, asyncua answers
        BadSessionIdInvalid); raises ServiceError unless it may move to this channel."""
        session = self.iserver.lookup_external_session(token)
        if session is None:
            return None
        if not session.is_activated():
            why = "it was created on another secure channel and never activated there"
        elif _channel_certificate(policy) != getattr(session, "twin_channel_certificate", ()):
            # (none recorded: a session this gate did not see made, never moved)
            why = "this channel is not signed with the certificate of the session's channel"
        else:
            return session
        _log.warning(
            "refused to move a session to a secure channel from %s: %s", address(self.name), why
        )
        raise _Refused(ua.StatusCodes.BadSecurityChecksFailed)

    def _login(
        self, session: Any, token: Any
    ) -> contextlib.AbstractAsyncContextManager[None] | None:
        """The password check of an ActivateSession with a user name (``TwinUserManager.
        prepared``: on a worker thread), or None: nothing to check before asyncua, or a
        token asyncua refuses itself."""
        manager = self.iserver.user_manager
        if not isinstance(token, ua.UserNameIdentityToken) or session is None:
            return None
        if not isinstance(manager, TwinUserManager):
            return None
        try:
            name, password = self.iserver.decrypt_user_token(session, token)
        except Exception:  # asyncua decrypts it again and answers the error
            return None
        if name is None:
            return None
        return manager.prepared(name, password or "")

    def _check_activate_session(self, policy: Any, body: Buffer) -> Any:
        """The identity token, refused unless its password is encrypted."""
        params = struct_from_binary(ua.ActivateSessionParameters, body.copy())
        token = params.UserIdentityToken
        encrypted = policy.Mode == ua.MessageSecurityMode.SignAndEncrypt
        if isinstance(token, ua.UserNameIdentityToken) and not (
            encrypted or token.EncryptionAlgorithm
        ):
            # refused before any check: the password is not verified (no guess is counted)
            _audit.warning(
                "login refused: %s from %s: its password came unencrypted over a %s channel"
                " (readable on the network; the endpoint asks for it encrypted): if it was"
                " right, change it",
                shown_user(str(token.UserName or "")),
                PEER.get() or self.name,
                "None" if policy.URI == _NONE_URI else policy.Mode.name,
            )
            raise _Refused(ua.StatusCodes.BadIdentityTokenInvalid)
        return token


def _channel_certificate(policy: Any) -> bytes | None:
    """The certificate that signs a channel of ``policy`` (None: a channel without security)."""
    if policy.URI == _NONE_URI:
        return None
    return leaf_certificate(policy.peer_certificate or b"")


class AddressGate(binary_server_asyncio.OPCUAProtocol):  # type: ignore[misc]
    """asyncua's protocol of one TCP connection, refusing it at once (the socket closed before
    anything is read) when its client address already holds
    ``iserver.max_pending_per_address`` connections without an activated session
    (``Limits.max_pending_per_address``; a server without that attribute is served as asyncua
    does).

    asyncua only caps the connections of all clients together (``Limits.max_connections``):
    one address opening that many and sending nothing kept every other client out until
    ``Limits.pending_activation_s`` closed them. A client's connection counts until its
    session is activated (a few round trips), so clients that log in are not limited in number.

    Relies on asyncua 2.x internals: ``binary_server_asyncio.OPCUAProtocol`` (see ``install``),
    its ``connection_made`` and ``connection_lost`` (which expects a refused connection's
    ``transport`` and ``processor`` to be None, as for its own refusal), ``clients``,
    ``peer_name`` and the processor's ``session``.
    """

    def connection_made(self, transport: Any) -> None:
        cap = getattr(self.iserver, "max_pending_per_address", None)
        host = _host(transport.get_extra_info("peername"))
        if cap is not None and host is not None:
            pending = sum(1 for c in self.clients if _host(c.peer_name) == host and _pending(c))
            if pending >= cap:
                _log.warning(
                    "refused a connection from %s: %d connections from that address have no"
                    " activated session (at most %d)",
                    address(transport.get_extra_info("peername")),
                    pending,
                    cap,
                )
                transport.close()
                return
        super().connection_made(transport)


def _host(peer: Any) -> str | None:
    return str(peer[0]) if isinstance(peer, tuple) and peer else None


def _pending(connection: Any) -> bool:
    """Whether ``connection`` (an ``OPCUAProtocol``) has no activated session."""
    session = connection.processor.session if connection.processor is not None else None
    return session is None or not session.is_activated()


def install() -> None:
    """Serve every connection accepted from now on through ``AddressGate`` and
    ``ChannelGate`` (asyncua creates a protocol and a processor per connection from these
    module attributes). Servers whose certificate validator is not a
    ``ClientCertificateValidator`` are served as before by ``ChannelGate``, servers without
    ``max_pending_per_address`` by ``AddressGate``."""
    binary_server_asyncio.OPCUAProtocol = AddressGate
    binary_server_asyncio.UaProcessor = ChannelGate
