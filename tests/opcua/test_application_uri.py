"""The server's application URI names its host (OPC 10000-6: globally unique), so two
installations no longer share one. An installation whose certificate names the old, shared
URI keeps both while that certificate is good: its clients trust that certificate; the
certificate's renewal (expiry, new host names) brings the new URI."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cryptography import x509

from opcua_server.security import (
    LEGACY_APPLICATION_URI,
    default_application_uri,
    ensure_certificate,
    host_names,
)
from opcua_server.trust import san


def _uris(path: Path) -> set[str]:
    return san(x509.load_der_x509_certificate(path.read_bytes()))[0]


def test_a_new_installation_names_its_host(tmp_path: Path) -> None:
    uri = f"urn:{socket.gethostname()}:cell-twin:opcua-server"
    assert default_application_uri() == uri
    certs = ensure_certificate(tmp_path / "pki", None, "127.0.0.1", "cell-twin")
    assert (certs.created, certs.uri) == (True, uri)
    assert _uris(certs.cert) == {uri}


def test_a_good_certificate_of_the_old_uri_is_kept(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    old = ensure_certificate(pki, LEGACY_APPLICATION_URI, "127.0.0.1", "cell-twin")
    kept = ensure_certificate(pki, None, "127.0.0.1", "cell-twin")
    assert (kept.created, kept.uri) == (False, LEGACY_APPLICATION_URI)
    assert kept.cert.read_bytes() == old.cert.read_bytes()


def test_its_renewal_brings_the_new_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pki = tmp_path / "pki"
    ensure_certificate(pki, LEGACY_APPLICATION_URI, "127.0.0.1", "cell-twin")
    dns, ips = host_names("127.0.0.1")
    monkeypatch.setattr(
        "opcua_server.security.host_names", lambda host: ([*dns, "renamed.example"], ips)
    )
    renewed = ensure_certificate(pki, None, "127.0.0.1", "cell-twin")
    assert (renewed.created, renewed.uri) == (True, default_application_uri())
    assert _uris(renewed.cert) == {default_application_uri()}


def test_a_uri_given_is_used_as_it_is(tmp_path: Path) -> None:
    certs = ensure_certificate(tmp_path / "pki", "urn:plant-7:twin", "127.0.0.1", "cell-twin")
    assert certs.uri == "urn:plant-7:twin"
    assert _uris(certs.cert) == {"urn:plant-7:twin"}
