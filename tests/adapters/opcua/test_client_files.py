"""The OPC UA adapter's own certificate and key are checked when the adapters file is read,
as the PLC's certificate is: a key given for the certificate, a certificate given for the
key, an encrypted key or the key of another certificate failed every connect at run time
(retried forever) instead of stopping ``twin adapters check`` and ``twin run`` with the
field and the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from adapters import KINDS
from adapters.loader import parse_adapters
from adapters.opcua import OpcUaConfig
from opcua_server.security import ensure_certificate
from twin.errors import ConfigError

ADAPTER = {
    "name": "plc1",
    "kind": "opcua",
    "url": "opc.tcp://127.0.0.1:4840",
    "trust_on_first_use": True,
    "write": [{"signal": "cnc1.spindle_speed", "node": "ns=2;s=Speed"}],
}


def _refusal(**files: Path) -> ConfigError:
    table = {**ADAPTER, **{k: str(v) for k, v in files.items()}}
    with pytest.raises(ConfigError) as caught:
        parse_adapters({"adapter": [table]}, "test.toml", KINDS)
    return caught.value


def test_a_matching_certificate_and_key_are_taken(tmp_path: Path) -> None:
    own = ensure_certificate(tmp_path / "own", "urn:adapter", "localhost", "adapter")
    table = {**ADAPTER, "certificate": str(own.cert), "private_key": str(own.key)}
    parsed = parse_adapters({"adapter": [table]}, "test.toml", KINDS)
    [config] = parsed.configs
    assert isinstance(config, OpcUaConfig)
    assert config.private_key == own.key


def test_files_swapped_are_named_by_field(tmp_path: Path) -> None:
    own = ensure_certificate(tmp_path / "own", "urn:adapter", "localhost", "adapter")
    pem = tmp_path / "cert.pem"  # the certificate as PEM, given as the key
    pem.write_bytes(own.cert.read_bytes() if own.cert.suffix == ".pem" else _pem(own.cert))
    bad = _refusal(certificate=own.key, private_key=own.key)
    assert bad.field == "adapter[0].certificate"
    assert "not a certificate (it holds a PEM PRIVATE KEY, not a CERTIFICATE" in bad.reason
    bad = _refusal(certificate=own.cert, private_key=pem)
    assert bad.field == "adapter[0].private_key"
    assert "not a private key (it holds a PEM CERTIFICATE, not a PRIVATE KEY" in bad.reason
    missing = tmp_path / "nowhere.pem"
    bad = _refusal(certificate=own.cert, private_key=missing)
    assert bad.reason.startswith(f"{str(missing)!r}: no such file")


def test_an_encrypted_key_and_another_certificates_key_are_refused(tmp_path: Path) -> None:
    own = ensure_certificate(tmp_path / "own", "urn:adapter", "localhost", "adapter")
    other = ensure_certificate(tmp_path / "other", "urn:other", "localhost", "other")
    bad = _refusal(certificate=own.cert, private_key=other.key)
    assert "is not the key of certificate" in str(bad)
    key = serialization.load_pem_private_key(own.key.read_bytes(), password=None)
    locked = tmp_path / "locked.pem"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    bad = _refusal(certificate=own.cert, private_key=locked)
    assert bad.field == "adapter[0].private_key"
    assert "not a private key (it is encrypted; the adapter takes an unencrypted key" in bad.reason


def _pem(der_path: Path) -> bytes:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der_path.read_bytes())
    return cert.public_bytes(serialization.Encoding.PEM)
