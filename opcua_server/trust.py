"""The client trust list: which client application certificates the server accepts.

Folders of ``ServerSettings.pki_dir``::

    trusted/   client certificates, or the CA certificates that issued them (DER or PEM,
               several in one PEM file allowed; any file name)
    crl/       certificate revocation lists of those CAs (DER or PEM; .crl, .der, .pem, ...)
    rejected/  certificates of clients that were refused (the newest ``REJECTED_MAX``), to be
               trusted by moving them into trusted/ (no restart needed) when they were refused
               as untrusted: the log says why each was refused and what to do; none when
               it cannot be written (a read-only ``--pki``): the log says so once

The folders are read again when an entry changes (its name, size, modification or change time,
or inode): an administrator may add, remove or overwrite files in place while the server runs.
A file in trusted/ that is not a certificate is skipped with a warning naming it; a file in
crl/ that is not a CRL refuses every client until it is fixed (skipping it would trust the
certificates it revokes); a CRL not signed by a certificate of trusted/ is skipped with a
warning (it proves nothing). Beyond trust, the keys, signatures, uses and revocation of the
certificates are checked as ``cert_rules`` says: a client certificate issued by a CA needs
that CA's current CRL in crl/.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from asyncua import ua
from asyncua.server.internal_session import ServiceError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import verification as xv

from opcua_server.cert_rules import (
    Crl,
    Refusal,
    chain_refusal,
    extended_chain,
    leaf_refusal,
    revocation_refusal,
)
from twin.clock import Clock, SystemClock

__all__ = ["REJECTED_MAX", "ClientCertificateValidator", "leaf_certificate", "san"]

_log = logging.getLogger(__name__)

REJECTED_MAX = 100  # certificates kept in rejected/ (the newest)


def san(cert: x509.Certificate) -> tuple[set[str], set[str], set[str]]:
    """The URIs, DNS names and IP addresses of the certificate's subject alternative name."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set(), set()
    return (
        set(ext.get_values_for_type(x509.UniformResourceIdentifier)),
        set(ext.get_values_for_type(x509.DNSName)),
        {str(i) for i in ext.get_values_for_type(x509.IPAddress)},
    )


def leaf_certificate(der: bytes) -> bytes:
    """The first certificate of a DER chain (OPC 10000-6: the certificates one after the
    other): its ASN.1 SEQUENCE header gives its length."""
    if len(der) < 2 or der[0] != 0x30:
        return der
    size, start = der[1], 2
    if size & 0x80:
        start = 2 + (size & 0x7F)
        size = int.from_bytes(der[2:start], "big")
    return der[: start + size]


def _ca_only(_policy: xv.Policy, _cert: x509.Certificate, ext: x509.BasicConstraints) -> None:
    if not ext.ca:
        raise ValueError("an issuer must be a CA (basicConstraints ca=true)")


# a certificate in the store is trusted as it is (a self-signed client's own certificate);
# one it issued must have been issued by a CA
_POLICY = xv.PolicyBuilder().extension_policies(
    ca_policy=xv.ExtensionPolicy.permit_all().require_present(
        x509.BasicConstraints, xv.Criticality.AGNOSTIC, _ca_only
    ),
    ee_policy=xv.ExtensionPolicy.permit_all(),
)

_Signature = tuple[tuple[str, int, int, int, int], ...]


@dataclass(frozen=True, slots=True)
class _TrustList:
    """What trusted/ and crl/ held when they were read."""

    store: xv.Store | None = None  # None: nothing trusted (a Store cannot be empty)
    certs: tuple[x509.Certificate, ...] = ()
    crls: dict[bytes, Crl] = field(default_factory=dict)  # by its issuer's SHA-256 fingerprint
    broken_crl: Path | None = None  # a file of crl/ that is not a CRL: nothing is accepted
    signature: _Signature = field(default=())

    def refusal(self, cert: x509.Certificate, uri: str | None, now: dt.datetime) -> Refusal | None:
        """Why ``cert`` is refused at ``now``, or None; ``uri`` None: the application URI is
        not checked."""
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return Refusal(ua.StatusCodes.BadCertificateTimeInvalid, "")
        if uri is not None and uri not in san(cert)[0]:
            return Refusal(ua.StatusCodes.BadCertificateUriInvalid, "")
        if self.broken_crl is not None:
            why = f"{self.broken_crl} is no CRL (logged when read): fix or remove it"
            return Refusal(ua.StatusCodes.BadCertificateRevocationUnknown, why)
        refused = leaf_refusal(cert)
        if refused is not None:
            return refused
        if self.store is None:
            return Refusal(ua.StatusCodes.BadCertificateUntrusted, "")
        try:
            verifier = _POLICY.time(now).store(self.store).build_client_verifier()
            chain = extended_chain(verifier.verify(cert, []).chain, self.certs)
        except xv.VerificationError:
            return Refusal(ua.StatusCodes.BadCertificateUntrusted, "")
        return chain_refusal(chain) or revocation_refusal(chain, self.crls, now)


def _signature(folders: Iterable[Path]) -> _Signature:
    """Every entry of ``folders``, as far as a change to it shows without reading it."""
    entries = []
    for folder in folders:
        with os.scandir(folder) as scan:
            for entry in scan:
                st = entry.stat()
                key = f"{folder.name}/{entry.name}"
                entries.append((key, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    return tuple(sorted(entries))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _certificates(path: Path) -> list[x509.Certificate]:
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def _crl(path: Path) -> x509.CertificateRevocationList:
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)


def _read(trusted: Path, crl: Path, signature: _Signature) -> _TrustList:
    certs: list[x509.Certificate] = []
    for path in _files(trusted):
        try:
            certs += _certificates(path)
        except (OSError, ValueError) as exc:
            _log.warning("%s is not a certificate (DER or PEM), skipped: %s", path, exc)
    crls: dict[bytes, Crl] = {}
    for path in _files(crl):
        try:
            revocations = _crl(path)
        except (OSError, ValueError) as exc:
            _log.error(
                "%s is not a certificate revocation list (DER or PEM): no client is accepted"
                " until it is fixed or removed (%s)",
                path,
                exc,
            )
            return _TrustList(broken_crl=path, signature=signature)
        issuers = [c for c in certs if c.subject == revocations.issuer and _signed(revocations, c)]
        if not issuers:
            _log.warning(
                "%s is not signed by a certificate in %s (its issuer: %s): skipped",
                path,
                trusted,
                revocations.issuer.rfc4514_string(),
            )
        for issuer in issuers:  # the newest CRL of each issuer counts
            key = issuer.fingerprint(hashes.SHA256())
            known = crls.get(key)
            if known is None or known.crl.last_update_utc < revocations.last_update_utc:
                crls[key] = Crl(path, revocations)
    store = xv.Store(certs) if certs else None
    return _TrustList(store, tuple(certs), crls, signature=signature)


def _signed(revocations: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` signed the CRL."""
    try:
        return bool(revocations.is_signature_valid(issuer.public_key()))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


class ClientCertificateValidator:
    """Accepts client application certificates found in ``trusted/`` (directly or by CA) that
    are in their validity period, name the client's application URI and are not revoked.

    Used twice per client: ``check_channel`` when its secure channel opens (the certificate
    that signs the channel; no application URI is known yet), and as asyncua's certificate
    validator at CreateSession (the same certificate, ``security.ChannelGate`` makes sure,
    with the application URI the client gives). A refused certificate is copied to
    ``rejected/`` when it can be (``_keep``). Each validation lists trusted/ and crl/ (no
    file is read unless one changed). Validity periods are checked at ``clock.wall()`` (the
    system clock unless given).
    """

    def __init__(self, pki_dir: Path, *, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self._trusted = pki_dir / "trusted"
        self._rejected = pki_dir / "rejected"
        self._crl = pki_dir / "crl"
        self._list: _TrustList | None = None
        self._unwritable: set[int | None] = set()  # errnos of rejected/ warned about

    def _current(self) -> _TrustList:
        """The trust list, read again first if an entry of trusted/ or crl/ changed."""
        signature = _signature((self._trusted, self._crl))
        if self._list is None or signature != self._list.signature:
            self._list = _read(self._trusted, self._crl, signature)
        return self._list

    async def check_channel(self, der: bytes | None) -> None:
        """Raises ServiceError unless ``der`` (a secure channel's client certificate, or a
        chain starting with it) is acceptable, the application URI aside."""
        try:
            cert = x509.load_der_x509_certificate(leaf_certificate(der or b""))
        except ValueError:
            raise ServiceError(ua.StatusCodes.BadCertificateInvalid) from None
        self._check(cert, None)

    async def __call__(self, cert: x509.Certificate, app: ua.ApplicationDescription) -> None:
        self._check(cert, app.ApplicationUri)

    def _check(self, cert: x509.Certificate, uri: str | None) -> None:
        refused = self._current().refusal(cert, uri, self._clock.wall())
        if refused is None:
            return
        uris = sorted(san(cert)[0])
        name = uri or (uris[0] if uris else "client")
        target = self._keep(cert, name)
        _log.warning(
            "refused the client certificate of %r (%s): %s; %s",
            name,
            ua.StatusCode(refused.code).name,
            _advice(refused, cert, self._trusted, kept=target is not None),
            f"a copy is {target}" if target else f"no copy is kept ({self._rejected} unwritable)",
        )
        raise ServiceError(refused.code)

    def _keep(self, cert: x509.Certificate, name: str) -> Path | None:
        """``cert`` copied to rejected/; None when it cannot be (``--pki`` read-only, a full
        disk): the client is refused all the same, and the reason is warned about once
        (per errno, until a copy is kept again), not for every client of a flood."""
        try:
            target = self._copy(cert, name)
        except OSError as exc:
            if exc.errno not in self._unwritable:
                self._unwritable.add(exc.errno)
                _log.warning(
                    "cannot keep refused client certificates in %s (%s): clients are refused"
                    " as before, without a copy to trust; said once until a copy is kept",
                    self._rejected,
                    exc.strerror or exc,
                )
            return None
        self._unwritable.clear()
        return target

    def _copy(self, cert: x509.Certificate, name: str) -> Path:
        """``cert`` copied to rejected/, which keeps the newest ``REJECTED_MAX`` certificates
        (a flood of clients with made-up certificates cannot fill the disk)."""
        thumb = cert.fingerprint(hashes.SHA1()).hex()  # noqa: S303 - OPC UA thumbprint
        target = self._rejected / f"{_safe(name)}[{thumb}].der"
        if target.exists():
            return target
        kept = sorted(
            (p.stat().st_mtime_ns, p) for p in self._rejected.iterdir() if p.suffix == ".der"
        )
        for _, old in kept[: max(len(kept) - REJECTED_MAX + 1, 0)]:
            old.unlink(missing_ok=True)
            _log.warning(
                "%s holds %d certificates at most: removed %s",
                self._rejected,
                REJECTED_MAX,
                old.name,
            )
        target.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        return target


def _advice(refused: Refusal, cert: x509.Certificate, trusted: Path, *, kept: bool) -> str:
    """What is wrong and what an administrator can do about it (``kept``: a copy of the
    certificate is in rejected/)."""
    code, why = refused.code, refused.why
    if code == ua.StatusCodes.BadCertificateUntrusted:
        if not kept:
            return f"not trusted: to trust it, copy the client's certificate to {trusted}"
        return f"not trusted: to trust it, move its copy to {trusted}"
    if code == ua.StatusCodes.BadCertificateRevoked:
        return (
            "revoked by a CRL in crl/: trusting it would not help, the client needs a new one"
            f" ({why})"
        )
    if code == ua.StatusCodes.BadCertificateUriInvalid:
        return (
            "it does not name the application URI the client gives (its URIs:"
            f" {', '.join(sorted(san(cert)[0])) or 'none'}): the client must give its"
            " certificate's URI, or get a certificate naming its own; trusting it would not help"
        )
    if code == ua.StatusCodes.BadCertificateTimeInvalid:
        return (
            f"valid from {cert.not_valid_before_utc:%Y-%m-%d} to"
            f" {cert.not_valid_after_utc:%Y-%m-%d} only: the client needs a new one"
        )
    if code in (
        ua.StatusCodes.BadCertificatePolicyCheckFailed,
        ua.StatusCodes.BadCertificateUseNotAllowed,
        ua.StatusCodes.BadCertificateIssuerRevoked,
    ):
        return (
            f"{why}: trusting it would not help, the client needs a new one (RSA of at least"
            " 2048 bits, signed with SHA-256 or stronger, for clientAuth with digitalSignature)"
        )
    return why or "unusable"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80] or "client"
