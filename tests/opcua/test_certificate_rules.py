"""Client certificates must be strong and meant for a client, and revocation is checked for
the whole chain with CRLs signed by their CAs (``opcua_server.cert_rules``): the reported
cases, each accepted by the old validator. A self-signed certificate trusted as it is, the
common case, needs no CRL."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
from asyncua import ua
from asyncua.server.internal_session import ServiceError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from opcua_server.trust import ClientCertificateValidator
from tests.conftest import assert_public_surface_is_all
from tests.opcua.conftest import make_client_cert

URI = "urn:cell-twin:rules-client"
NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
_DER = serialization.Encoding.DER


def test_public_surface_is_all() -> None:
    assert_public_surface_is_all("opcua_server.cert_rules")


@dataclass
class _Cert:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey


def _make(
    name: str,
    *,
    issuer: _Cert | None = None,
    ca: bool = False,
    bits: int = 2048,
    usage: x509.KeyUsage | None = None,
    purposes: list[x509.ObjectIdentifier] | None = None,
) -> _Cert:
    """A certificate of ``name`` (self-signed unless ``issuer``), SHA-256, with the
    application URI for a client (``ca`` False)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 30 * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(URI)])
        builder = builder.add_extension(san, critical=False)
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    if purposes is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(purposes), critical=False)
    signer = issuer.key if issuer else key
    return _Cert(builder.sign(signer, hashes.SHA256()), key)


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def _sha1_signed(cert: _Cert) -> x509.Certificate:
    """``cert`` (self-signed) signed again with SHA-1, which cryptography no longer signs
    with: its to-be-signed part naming sha1WithRSAEncryption, signed with PKCS#1 v1.5."""
    sha256_rsa = bytes.fromhex("06092a864886f70d01010b")
    sha1_rsa = bytes.fromhex("06092a864886f70d010105")
    tbs = cert.cert.tbs_certificate_bytes.replace(sha256_rsa, sha1_rsa)
    signature = cert.key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    algorithm = _tlv(0x30, sha1_rsa + b"\x05\x00")
    der = _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(der)


def _crl(
    issuer: _Cert, *revoked: x509.Certificate, next_update: dt.datetime | None = None
) -> bytes:
    next_update = next_update or NOW + 7 * DAY
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(min(NOW - dt.timedelta(minutes=1), next_update - 7 * DAY))
        .next_update(next_update)
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(NOW - dt.timedelta(minutes=1))
            .build()
        )
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(_DER)


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    root = tmp_path / "pki"
    for sub in ("trusted", "rejected", "crl"):
        (root / sub).mkdir(parents=True)
    return root


def _trust(pki: Path, *certs: x509.Certificate) -> None:
    for i, cert in enumerate(certs):
        (pki / "trusted" / f"cert-{i}.der").write_bytes(cert.public_bytes(_DER))


async def _status(pki: Path, cert: x509.Certificate) -> str:
    """The name of the status validating ``cert`` at CreateSession ("Good": accepted)."""
    validate = ClientCertificateValidator(pki)
    try:
        await validate(cert, ua.ApplicationDescription(ApplicationUri=URI))
    except ServiceError as exc:
        return ua.StatusCode(exc.code).name
    return "Good"


async def test_the_common_self_signed_client_needs_no_crl(pki: Path, tmp_path: Path) -> None:
    client = make_client_cert(tmp_path / "client", URI)  # what asyncua's tools make
    cert = x509.load_der_x509_certificate(client.cert.read_bytes())
    _trust(pki, cert)
    assert await _status(pki, cert) == "Good"


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("RSA-1024", "BadCertificatePolicyCheckFailed"),
        ("SHA-1", "BadCertificatePolicyCheckFailed"),
        ("serverAuth only", "BadCertificateUseNotAllowed"),
        ("no digitalSignature", "BadCertificateUseNotAllowed"),
    ],
)
async def test_a_weak_or_server_only_certificate_is_refused_though_trusted(
    pki: Path, caplog: pytest.LogCaptureFixture, case: str, status: str
) -> None:
    if case == "RSA-1024":
        cert = _make("weak", bits=1024).cert
    elif case == "SHA-1":
        cert = _sha1_signed(_make("sha1"))
    elif case == "serverAuth only":
        cert = _make("server", purposes=[ExtendedKeyUsageOID.SERVER_AUTH]).cert
    else:
        usage = x509.KeyUsage(
            digital_signature=False,
            content_commitment=False,
            key_encipherment=True,
            data_encipherment=True,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
        cert = _make("encrypt-only", usage=usage).cert
    _trust(pki, cert)
    assert await _status(pki, cert) == status
    assert "trusting it would not help" in caplog.text


async def test_a_client_of_a_ca_needs_the_cas_crl(pki: Path) -> None:
    """OPC UA: BadCertificateRevocationUnknown without a CRL of the issuer (the old
    validator accepted the client); an empty CRL of the CA is enough."""
    ca = _make("ca", ca=True)
    client = _make("client", issuer=ca, purposes=[ExtendedKeyUsageOID.CLIENT_AUTH]).cert
    _trust(pki, ca.cert)
    assert await _status(pki, client) == "BadCertificateRevocationUnknown"
    (pki / "crl" / "ca.crl").write_bytes(_crl(ca))
    assert await _status(pki, client) == "Good"


async def test_a_revoked_intermediate_ca_refuses_its_clients(pki: Path) -> None:
    """The root revoked the intermediate CA; the old validator checked the client's own
    serial number only."""
    root = _make("root", ca=True)
    intermediate = _make("intermediate", issuer=root, ca=True)
    client = _make("client", issuer=intermediate).cert
    _trust(pki, root.cert, intermediate.cert)
    (pki / "crl" / "intermediate.crl").write_bytes(_crl(intermediate))
    (pki / "crl" / "root.crl").write_bytes(_crl(root))
    assert await _status(pki, client) == "Good"
    (pki / "crl" / "root.crl").write_bytes(_crl(root, intermediate.cert))
    assert await _status(pki, client) == "BadCertificateIssuerRevoked"


async def test_an_expired_crl_is_not_used_and_named(
    pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ca = _make("ca", ca=True)
    client = _make("client", issuer=ca).cert
    _trust(pki, ca.cert)
    (pki / "crl" / "old.crl").write_bytes(_crl(ca, next_update=NOW - DAY))
    assert await _status(pki, client) == "BadCertificateRevocationUnknown"
    assert f"the CRL {pki / 'crl' / 'old.crl'} of CN=ca, which issued it, expired on" in (
        caplog.text
    )


async def test_a_crl_not_signed_by_its_ca_is_skipped(
    pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A CRL naming a client's CA but signed by another key: the old validator let it
    revoke any client (anyone who may write to crl/, or a CRL fetched from elsewhere)."""
    client = _make("client")
    forger = _make("client")  # the same name, another key
    _trust(pki, client.cert)
    (pki / "crl" / "forged.crl").write_bytes(_crl(forger, client.cert))
    with caplog.at_level(logging.WARNING):
        assert await _status(pki, client.cert) == "Good"
    assert f"{pki / 'crl' / 'forged.crl'} is not signed by a certificate in" in caplog.text
    (pki / "crl" / "own.crl").write_bytes(_crl(client, client.cert))  # its own: applies
    assert await _status(pki, client.cert) == "BadCertificateRevoked"
