"""rejected/ keeps the newest refused client certificates, at most REJECTED_MAX, and the log
says why each was refused and what would help (moving it to trusted/ only helps an untrusted
one)."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from asyncua import ua
from asyncua.crypto.cert_gen import dump_private_key_as_pem, generate_private_key
from asyncua.crypto.cert_gen import generate_self_signed_app_certificate as self_signed
from asyncua.crypto.uacrypto import load_private_key
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from opcua_server.trust import REJECTED_MAX
from tests.opcua.conftest import ClientCert, Twin, make_client_cert

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def pki(twin: Twin) -> Iterator[Path]:
    """The module twin's pki folder; rejected/ and trusted/ as they were after the test."""
    root = twin.root / "pki"
    trusted = set((root / "trusted").iterdir())
    yield root
    for p in (root / "rejected").iterdir():
        p.unlink()
    for p in set((root / "trusted").iterdir()) - trusted:
        p.unlink()


async def _refused(twin: Twin, cert: ClientCert, uri: str | None = None) -> int:
    client_cert = ClientCert(cert.cert, cert.key, uri or cert.uri)
    with pytest.raises(ua.UaStatusCodeError) as err:
        await twin.client("vera", cert=client_cert)
    return err.value.code


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if "refused the client certificate" in r.getMessage()
    ]


async def test_a_flood_of_made_up_certificates_keeps_the_newest(
    twin: Twin, pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One key, a new self-signed certificate per connection: each refused and kept, until
    rejected/ holds REJECTED_MAX; then the oldest goes for each new one."""
    key = generate_private_key()
    directory = twin.root / "flood"
    directory.mkdir()
    key_path = directory / "client.pem"
    key_path.write_bytes(dump_private_key_as_pem(key))
    sans = [x509.UniformResourceIdentifier("urn:flood"), x509.DNSName(socket.gethostname())]
    last = b""
    for i in range(REJECTED_MAX + 3):
        cert = self_signed(key, f"flood {i}", {}, sans, extended=[ExtendedKeyUsageOID.CLIENT_AUTH])
        last = cert.public_bytes(serialization.Encoding.DER)
        (directory / "client.der").write_bytes(last)
        refused = await _refused(twin, ClientCert(directory / "client.der", key_path, "urn:flood"))
        assert refused == ua.StatusCodes.BadCertificateUntrusted
    kept = list((pki / "rejected").iterdir())
    assert len(kept) == REJECTED_MAX
    assert last in {p.read_bytes() for p in kept}
    removed = [r for r in caplog.records if "certificates at most: removed" in r.getMessage()]
    assert len(removed) == 3


async def test_an_untrusted_certificate_is_to_be_moved_to_trusted(
    twin: Twin, pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = make_client_cert(twin.root / "stranger-advice", "urn:cell-twin:stranger")
    assert await _refused(twin, stranger) == ua.StatusCodes.BadCertificateUntrusted
    (line,) = _refusals(caplog)
    assert "BadCertificateUntrusted" in line
    assert f"to trust it, move its copy to {pki / 'trusted'}" in line


async def test_a_certificate_naming_another_application_uri_is_not_to_be_trusted(
    twin: Twin, pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Trusted, but the client gives another application URI than its certificate's: moving
    the copy to trusted/ would not help (the old advice said to)."""
    mes = make_client_cert(twin.root / "mes-uri", "urn:cell-twin:mes")
    shutil.copy(mes.cert, pki / "trusted" / "mes.der")
    code = await _refused(twin, mes, uri="urn:cell-twin:not-the-mes")
    assert code == ua.StatusCodes.BadCertificateUriInvalid
    (line,) = _refusals(caplog)
    assert "does not name the application URI the client gives" in line
    assert "urn:cell-twin:mes" in line
    assert "trusting it would not help" in line
    assert "move its copy" not in line
    (kept,) = (pki / "rejected").iterdir()
    assert kept.read_bytes() == mes.cert.read_bytes()


async def test_a_revoked_certificate_needs_a_new_one(
    twin: Twin, pki: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A self-signed certificate in trusted/ that a CRL of its own key revokes."""
    mes = make_client_cert(twin.root / "mes-revoked", "urn:cell-twin:mes")
    shutil.copy(mes.cert, pki / "trusted" / "mes.der")
    cert = x509.load_der_x509_certificate(mes.cert.read_bytes())
    now = dt.datetime.now(dt.UTC)
    revoked = (
        x509.RevokedCertificateBuilder()
        .serial_number(cert.serial_number)
        .revocation_date(now - dt.timedelta(minutes=1))
        .build()
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(cert.issuer)
        .last_update(now - dt.timedelta(minutes=1))
        .next_update(now + dt.timedelta(days=1))
        .add_revoked_certificate(revoked)
        .sign(await load_private_key(mes.key), hashes.SHA256())
    )
    (pki / "crl" / "mes.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    try:
        assert await _refused(twin, mes) == ua.StatusCodes.BadCertificateRevoked
    finally:
        (pki / "crl" / "mes.pem").unlink()
    (line,) = _refusals(caplog)
    assert "revoked by a CRL in crl/: trusting it would not help" in line
    assert "move its copy" not in line
