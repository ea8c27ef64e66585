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
certificates it revokes).
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
    revoked: frozenset[tuple[bytes, int]] = frozenset()  # (issuer name DER, serial number)
    broken_crl: Path | None = None  # a file of crl/ that is not a CRL: nothing is accepted
    signature: _Signature = field(default=())

    def refusal(self, cert: x509.Certificate, uri: str | None, now: dt.datetime) -> int | None:
        """Why ``cert`` is refused at ``now`` (a Bad status code), or None; ``uri`` None: the
        application URI is not checked."""
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return ua.StatusCodes.BadCertificateTimeInvalid
        if uri is not None and uri not in san(cert)[0]:
            return ua.StatusCodes.BadCertificateUriInvalid
        if self.broken_crl is not None:
            return ua.StatusCodes.BadCertificateRevocationUnknown
        if (cert.issuer.public_bytes(), cert.serial_number) in self.revoked:
            return ua.StatusCodes.BadCertificateRevoked
        if self.store is None:
            return ua.StatusCodes.BadCertificateUntrusted
        try:
            _POLICY.store(self.store).build_client_verifier().verify(cert, [])
        except xv.VerificationError:
            return ua.StatusCodes.BadCertificateUntrusted
        return None


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
    revoked: set[tuple[bytes, int]] = set()
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
        issuer = revocations.issuer.public_bytes()
        revoked.update((issuer, r.serial_number) for r in revocations)
    store = xv.Store(certs) if certs else None
    return _TrustList(store, frozenset(revoked), signature=signature)


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
        code = self._current().refusal(cert, uri, self._clock.wall())
        if code is None:
            return
        uris = sorted(san(cert)[0])
        name = uri or (uris[0] if uris else "client")
        target = self._keep(cert, name)
        _log.warning(
            "refused the client certificate of %r (%s): %s; %s",
            name,
            ua.StatusCode(code).name,
            _advice(code, cert, self._trusted, kept=target is not None),
            f"a copy is {target}" if target else f"no copy is kept ({self._rejected} unwritable)",
        )
        raise ServiceError(code)

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


def _advice(code: int, cert: x509.Certificate, trusted: Path, *, kept: bool) -> str:
    """What an administrator can do about a refusal for ``code`` (``kept``: a copy of the
    certificate is in rejected/)."""
    if code == ua.StatusCodes.BadCertificateUntrusted:
        if not kept:
            return f"not trusted: to trust it, copy the client's certificate to {trusted}"
        return f"not trusted: to trust it, move its copy to {trusted}"
    if code == ua.StatusCodes.BadCertificateRevoked:
        return "revoked by a CRL in crl/: trusting it would not help, the client needs a new one"
    if code == ua.StatusCodes.BadCertificateRevocationUnknown:
        return "a file in crl/ is no CRL (logged when read): fix or remove it"
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
    return "unusable"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80] or "client"
