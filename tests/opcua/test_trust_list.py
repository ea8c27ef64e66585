"""The client trust list while the server runs: CRL files (.crl, DER or PEM), files changed
in place, files that are not certificates; read again only when something changed."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asyncua import ua
from asyncua.crypto.cert_gen import dump_private_key_as_pem, generate_private_key
from asyncua.server.internal_session import ServiceError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from opcua_server.trust import ClientCertificateValidator
from tests.opcua.conftest import ClientCert, Twin, make_client_cert

pytestmark = pytest.mark.asyncio(loop_scope="module")

_DER, _PEM = serialization.Encoding.DER, serialization.Encoding.PEM


@dataclass
class _Ca:
    key: RSAPrivateKey
    cert: x509.Certificate

    @classmethod
    def make(cls) -> _Ca:
        key = generate_private_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cell-twin test CA")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def issue(self, directory: Path, uri: str) -> ClientCert:
        """A client certificate issued by this CA, saved as conftest's ``make_client_cert``."""
        directory.mkdir(parents=True, exist_ok=True)
        key = generate_private_key()
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, uri)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.UniformResourceIdentifier(uri), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_path, key_path = directory / "client.der", directory / "client.pem"
        cert_path.write_bytes(cert.public_bytes(_DER))
        key_path.write_bytes(dump_private_key_as_pem(key))
        return ClientCert(cert_path, key_path, uri)

    def crl(self, *revoked: ClientCert, encoding: serialization.Encoding = _PEM) -> bytes:
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now - dt.timedelta(minutes=1))
            .next_update(now + dt.timedelta(days=7))
        )
        for client in revoked:
            serial = x509.load_der_x509_certificate(client.cert.read_bytes()).serial_number
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now - dt.timedelta(minutes=1))
                .build()
            )
        return builder.sign(self.key, hashes.SHA256()).public_bytes(encoding)


def _overwrite(path: Path, data: bytes) -> None:
    """Write ``path`` in place (same inode, the folder unchanged), its mtime moved on: a
    change the file shows however coarse the file system's clock."""
    before = path.stat().st_mtime_ns
    with path.open("r+b") as fh:
        fh.truncate(0)
        fh.write(data)
    os.utime(path, ns=(before + 10**9, before + 10**9))


async def _status(twin: Twin, cert: ClientCert) -> int:
    """The status of connecting with ``cert`` (Good: 0)."""
    try:
        client = await twin.client("vera", cert=cert)
    except ua.UaStatusCodeError as exc:
        return exc.code
    await client.disconnect()
    return ua.StatusCodes.Good


@pytest.fixture
def pki(twin: Twin) -> Iterator[Path]:
    """The module twin's pki folder, trusted/ and crl/ as they were again after the test."""
    root = twin.root / "pki"
    kept = {p: p.read_bytes() for sub in ("trusted", "crl") for p in (root / sub).iterdir()}
    yield root
    for sub in ("trusted", "crl", "rejected"):
        for p in (root / sub).iterdir():
            if p not in kept:
                p.unlink()
    for p, data in kept.items():
        p.write_bytes(data)


@pytest.mark.parametrize("encoding", ["DER", "PEM"])
async def test_a_crl_file_revokes_a_client_of_a_trusted_ca(
    twin: Twin, pki: Path, encoding: str
) -> None:
    ca = _Ca.make()
    (pki / "trusted" / "ca.der").write_bytes(ca.cert.public_bytes(_DER))
    mes = ca.issue(twin.root / f"mes-{encoding}", "urn:cell-twin:mes")
    # a client of a CA needs that CA's CRL (OPC UA: its revocation is unknown without)
    assert await _status(twin, mes) == ua.StatusCodes.BadCertificateRevocationUnknown
    der_or_pem = getattr(serialization.Encoding, encoding)
    (pki / "crl" / "ca.crl").write_bytes(ca.crl(encoding=der_or_pem))
    assert await _status(twin, mes) == ua.StatusCodes.Good
    _overwrite(pki / "crl" / "ca.crl", ca.crl(mes, encoding=der_or_pem))
    assert await _status(twin, mes) == ua.StatusCodes.BadCertificateRevoked
    assert await _status(twin, twin.cert) == ua.StatusCodes.Good  # not the CA's


async def test_a_crl_overwritten_in_place_applies(twin: Twin, pki: Path) -> None:
    """An updated CRL copied over the old one (same name: the folder does not change)."""
    ca = _Ca.make()
    (pki / "trusted" / "ca.pem").write_bytes(ca.cert.public_bytes(_PEM))
    mes = ca.issue(twin.root / "mes-in-place", "urn:cell-twin:mes")
    crl = pki / "crl" / "ca-crl.pem"
    crl.write_bytes(ca.crl())
    assert await _status(twin, mes) == ua.StatusCodes.Good
    _overwrite(crl, ca.crl(mes))
    assert await _status(twin, mes) == ua.StatusCodes.BadCertificateRevoked


async def test_a_trusted_certificate_overwritten_in_place_applies(twin: Twin, pki: Path) -> None:
    """A client's renewed certificate copied over its old one in trusted/."""
    old = make_client_cert(twin.root / "renewed-old", "urn:cell-twin:renewed")
    new = make_client_cert(twin.root / "renewed-new", "urn:cell-twin:renewed")
    trusted = pki / "trusted" / "renewed.der"
    trusted.write_bytes(old.cert.read_bytes())
    assert await _status(twin, old) == ua.StatusCodes.Good
    _overwrite(trusted, new.cert.read_bytes())
    assert await _status(twin, new) == ua.StatusCodes.Good
    assert await _status(twin, old) == ua.StatusCodes.BadCertificateUntrusted


async def test_a_file_in_trusted_that_is_no_certificate_is_skipped_and_named(
    twin: Twin, pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (pki / "trusted" / "broken.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64")
    for _ in range(2):
        assert await _status(twin, twin.cert) == ua.StatusCodes.Good
    warnings = [r for r in caplog.records if "broken.pem" in r.getMessage()]
    assert len(warnings) == 1  # when read, not at each connection
    assert warnings[0].levelname == "WARNING"


async def test_a_crl_file_that_is_no_crl_refuses_every_client_until_fixed(
    twin: Twin, pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Skipping it would accept the certificates it may revoke."""
    crl = pki / "crl" / "ca.crl"
    crl.write_bytes(b"\x30\x03garbage")
    assert await _status(twin, twin.cert) == ua.StatusCodes.BadCertificateRevocationUnknown
    assert any("ca.crl" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    crl.unlink()
    assert await _status(twin, twin.cert) == ua.StatusCodes.Good


async def test_no_file_is_read_again_unless_one_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validating a certificate reads no file of trusted/ or crl/ unless one changed (the
    folders are listed), the empty case (nothing trusted yet) included."""
    pki = tmp_path / "pki"
    for sub in ("trusted", "rejected", "crl"):
        (pki / sub).mkdir(parents=True)
    client = make_client_cert(tmp_path / "client")
    cert = x509.load_der_x509_certificate(client.cert.read_bytes())
    app = ua.ApplicationDescription(ApplicationUri=client.uri)
    reads: list[Path] = []
    read_bytes = Path.read_bytes

    def counted(self: Path) -> bytes:
        if self.parent.name in ("trusted", "crl"):
            reads.append(self)
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", counted)
    validate = ClientCertificateValidator(pki)
    for _ in range(2):
        with pytest.raises(ServiceError):
            await validate(cert, app)
    assert reads == []
    trusted = pki / "trusted" / "client.der"
    trusted.write_bytes(client.cert.read_bytes())
    (pki / "crl" / "empty.crl").write_bytes(_Ca.make().crl())
    for _ in range(2):
        await validate(cert, app)  # trusted now
    assert sorted(p.name for p in reads) == ["client.der", "empty.crl"]
    _overwrite(trusted, client.cert.read_bytes())  # same content, the file touched
    await validate(cert, app)
    assert len(reads) == 4  # both folders read again
