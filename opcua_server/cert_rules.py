"""What a client application certificate and the CAs that issued it must be, beyond being
trusted (OPC 10000-4 6.1.3, OPC 10000-6 6.2.2), and the revocation check of a chain.

- Keys and signatures: RSA keys of at least 2048 bits (elliptic curves of at least 256 bits,
  no DSA); signatures with SHA-256 or stronger (not SHA-1 or MD5), except the self-signature
  of a CA at the top of a chain (trusted for being in trusted/, not for its signature).
  Otherwise BadCertificatePolicyCheckFailed.
- Use (the client's own certificate): a KeyUsage extension must allow digitalSignature (it
  signs the secure channel), an ExtendedKeyUsage must include clientAuth; a certificate
  without them is not limited. Otherwise BadCertificateUseNotAllowed.
- Revocation: every certificate of the chain issued by another (a client's issued by its CA,
  an intermediate CA by its root) needs the current CRL of its issuer, signed by it;
  BadCertificateRevocationUnknown (BadCertificateIssuerRevocationUnknown for a CA) without one
  or when it has expired, BadCertificateRevoked (BadCertificateIssuerRevoked) when it lists the
  certificate. A self-signed certificate trusted as it is needs no CRL (one of its own, if
  present, is applied).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from asyncua import ua
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

__all__ = [
    "Crl",
    "Refusal",
    "chain_refusal",
    "extended_chain",
    "issued_by",
    "leaf_refusal",
    "revocation_refusal",
    "weakness",
]

_MIN_RSA_BITS = 2048
_MIN_EC_BITS = 256
_MIN_DIGEST_BYTES = hashes.SHA256.digest_size


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a certificate is refused: its Bad status code and what is wrong, for the log."""

    code: int
    why: str


@dataclass(frozen=True, slots=True)
class Crl:
    """A certificate revocation list of crl/, its signature verified against its issuer."""

    path: Path
    crl: x509.CertificateRevocationList


def _name(cert: x509.Certificate) -> str:
    """A certificate's subject as the log shows it."""
    return cert.subject.rfc4514_string() or "(no subject)"


def weakness(cert: x509.Certificate, *, signature: bool = True) -> str | None:
    """What makes ``cert``'s key (and, with ``signature``, the signature on it) too weak, or
    None."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < _MIN_RSA_BITS:
        return f"an RSA key of {key.key_size} bits (at least {_MIN_RSA_BITS})"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < _MIN_EC_BITS:
        return f"an elliptic curve key of {key.curve.key_size} bits (at least {_MIN_EC_BITS})"
    if isinstance(key, dsa.DSAPublicKey):
        return "a DSA key"
    if not signature:
        return None
    try:
        digest = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return "a signature of an unknown algorithm"
    if digest is not None and digest.digest_size < _MIN_DIGEST_BYTES:
        return f"a signature with {digest.name.upper()} (SHA-256 or stronger needed)"
    return None


def leaf_refusal(cert: x509.Certificate) -> Refusal | None:
    """Why the client's own certificate is refused for its key, signature or use, or None."""
    weak = weakness(cert)
    if weak is not None:
        return Refusal(ua.StatusCodes.BadCertificatePolicyCheckFailed, f"it has {weak}")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        pass
    else:
        if not usage.digital_signature:
            why = "its key usage does not allow digitalSignature (signing the secure channel)"
            return Refusal(ua.StatusCodes.BadCertificateUseNotAllowed, why)
    try:
        purposes = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    if ExtendedKeyUsageOID.CLIENT_AUTH not in purposes:
        why = "its extended key usage does not include clientAuth"
        return Refusal(ua.StatusCodes.BadCertificateUseNotAllowed, why)
    return None


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer`` signed ``cert`` (its name and signature)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _self_issued(cert: x509.Certificate) -> bool:
    return issued_by(cert, cert)


def extended_chain(
    chain: Sequence[x509.Certificate], trusted: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    """``chain`` (the client's certificate first, up to a certificate of trusted/) continued
    up through the ``trusted`` certificates that issued its top one, to a self-signed one:
    an intermediate CA in trusted/ ends a verified chain, but its root may have revoked it."""
    chain = list(chain)
    while not _self_issued(chain[-1]):
        top = chain[-1]
        issuer = next(
            (
                t
                for t in trusted
                if t.subject == top.issuer and t not in chain and issued_by(top, t)
            ),
            None,
        )
        if issuer is None:
            break
        chain.append(issuer)
    return chain


def chain_refusal(chain: Sequence[x509.Certificate]) -> Refusal | None:
    """Why a CA of ``chain`` (beyond the client's certificate) is refused for its key or
    signature, or None."""
    for i, cert in enumerate(chain[1:], 1):
        top = i == len(chain) - 1
        weak = weakness(cert, signature=not (top and _self_issued(cert)))
        if weak is not None:
            why = f"its issuer {_name(cert)} has {weak}"
            return Refusal(ua.StatusCodes.BadCertificatePolicyCheckFailed, why)
    return None


def revocation_refusal(
    chain: Sequence[x509.Certificate], crls: Mapping[bytes, Crl], now: dt.datetime
) -> Refusal | None:
    """Why a certificate of ``chain`` is revoked, or its revocation unknown, at ``now``;
    ``crls``: the newest verified CRL of each issuer, by its certificate's SHA-256
    fingerprint."""
    for i, cert in enumerate(chain):
        leaf = i == 0
        issuer = chain[i + 1] if i + 1 < len(chain) else cert if _self_issued(cert) else None
        if issuer is None:
            continue  # trusted as it is, its issuer unknown: no CRL can be checked
        found = crls.get(issuer.fingerprint(hashes.SHA256()))
        what = "it" if leaf else f"its issuer {_name(cert)}"
        unknown = (
            ua.StatusCodes.BadCertificateRevocationUnknown
            if leaf
            else ua.StatusCodes.BadCertificateIssuerRevocationUnknown
        )
        if found is None:
            if issuer is cert:
                continue  # self-signed: a CRL of its own is optional
            why = (
                f"no CRL of {_name(issuer)}, which issued {what}, in crl/: add that CA's current"
                " CRL (an empty one if it revoked nothing)"
            )
            return Refusal(unknown, why)
        expires = found.crl.next_update_utc
        if expires is not None and expires < now:
            why = (
                f"the CRL {found.path} of {_name(issuer)}, which issued {what}, expired on"
                f" {expires:%Y-%m-%d %H:%M} UTC: put that CA's new CRL in crl/"
            )
            return Refusal(unknown, why)
        if found.crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
            if leaf:
                return Refusal(ua.StatusCodes.BadCertificateRevoked, str(found.path))
            why = f"its issuer {_name(cert)} is revoked by {found.path}"
            return Refusal(ua.StatusCodes.BadCertificateIssuerRevoked, why)
    return None
