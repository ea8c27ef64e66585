"""Whom the ``opcua`` adapter trusts as the PLC: an encrypted link verifies the server's
certificate, pinned in the file (``server_certificate``) or on the first connect
(``trust_on_first_use``); a link that would take any server for the PLC, and give it the
password, is refused when the file is read. Real asyncua servers play the PLC and a fake PLC
with a certificate of its own (a man in the middle)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from adapters import KINDS as ALL_KINDS
from adapters.base import Adapter
from adapters.loader import build_adapters, parse_adapters
from adapters.opcua import OpcUaAdapter
from opcua_server.security import ensure_certificate
from tests.adapters.conftest import Twin
from tests.adapters.opcua.plc import URI, USERS, Plc
from tests.conftest import ROOT, free_port
from twin.cli import main
from twin.errors import ConfigError

pytestmark = pytest.mark.asyncio(loop_scope="module")

KINDS: dict[str, type[Adapter]] = {"opcua": OpcUaAdapter}
SECURE = {
    "name": "plc1",
    "kind": "opcua",
    "period_s": 0.05,
    "timeout_s": 1.0,
    "backoff_s": 0.05,
    "backoff_max_s": 0.2,
    "username": "alice",
    "password_env": "PLC_PASSWORD",
    "write": [{"signal": "cnc1.spindle_speed", "node": f"nsu={URI};s=Speed"}],
}


def build(twin: Twin, **fields: Any) -> OpcUaAdapter:
    file = parse_adapters({"adapter": [{**SECURE, **fields}]}, "test.toml", KINDS)
    (adapter,) = build_adapters(file, twin.engine, twin.api, KINDS)
    assert isinstance(adapter, OpcUaAdapter)
    return adapter


@pytest_asyncio.fixture(loop_scope="module")
async def plcs(tmp_path: Path) -> Any:
    """The PLC and a fake one (a certificate of its own), both trusting the adapter's client
    certificate (made here as the adapter would make it in ``tmp_path/pki``)."""
    own = ensure_certificate(tmp_path / "pki", "urn:cell-twin:adapter:plc1", "localhost", "x")
    servers = []
    try:
        for name in ("plc", "fake"):
            servers.append(await Plc.start(free_port(), pki=tmp_path / name))
            shutil.copy(own.cert, tmp_path / name / "trusted" / "twin.der")
        yield servers
    finally:
        for server in servers:
            await server.stop()


@pytest.mark.parametrize(
    ("fields", "where", "reason"),
    [
        ({}, "server_certificate", "required (the PLC's certificate, DER or PEM): without it"),
        (
            {"security_policy": "None", "security_mode": "None"},
            "username",
            'not with security_policy "None": the password would go to whoever answers',
        ),
        (
            {"trust_on_first_use": True, "server_certificate": "CERT"},
            "trust_on_first_use",
            "not with server_certificate",
        ),
        (
            {"trust_on_first_use": True, "security_policy": "None", "security_mode": "None"},
            "trust_on_first_use",
            'not used with security_policy "None"',
        ),
    ],
    ids=["unverified", "password-unencrypted", "both", "tofu-without-security"],
)
async def test_a_link_that_takes_any_server_for_the_plc_is_refused(
    fields: dict[str, Any], where: str, reason: str, tmp_path: Path
) -> None:
    if fields.get("server_certificate") == "CERT":
        plc = ensure_certificate(tmp_path, "urn:plc", "localhost", "PLC")
        fields = {**fields, "server_certificate": str(plc.cert)}
    table = {**SECURE, "url": "opc.tcp://127.0.0.1:4840", **fields}
    with pytest.raises(ConfigError) as caught:
        parse_adapters({"adapter": [table]}, "test.toml", ALL_KINDS)
    assert caught.value.field == f"adapter[0].{where}"
    assert reason in caught.value.reason


async def test_adapters_check_refuses_an_unverified_plc_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "plc.toml"
    example = (ROOT / "adapters" / "opcua" / "example.toml").read_text(encoding="utf-8")
    file.write_text(example.replace("trust_on_first_use = true", ""), encoding="utf-8")
    assert main(["adapters", "check", str(file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {file}: adapter[0].server_certificate: required")
    assert "gets the password; or set trust_on_first_use = true" in err
    assert len(err.splitlines()) == 1


async def test_trust_on_first_use_pins_the_first_certificate_and_refuses_another(
    plcs: list[Plc],
    tmp_path: Path,
    twin: Twin,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first connect pins the PLC's certificate (logged with its fingerprint); a server
    with another certificate at the PLC's place later is refused before the password is
    sent, saying what to check; the PLC itself is still linked."""
    plc, fake = plcs
    monkeypatch.setenv("PLC_PASSWORD", USERS["alice"])
    twin.step(100.0)
    pki = tmp_path / "pki"
    pinned = pki / "trusted" / "plc.der"
    first = build(twin, url=plc.url, trust_on_first_use=True, pki_dir=str(pki))
    assert first.cfg.pins_at == first.cfg.pinned_path  # nothing pinned yet
    with caplog.at_level(logging.WARNING, logger="adapters"):
        await first.start()
        try:
            await first.wait_until(lambda st: st.written >= 1)
        finally:
            await first.stop()
    assert pinned.read_bytes() == (tmp_path / "plc" / "own" / "cert.der").read_bytes()
    assert pinned.stat().st_mode & 0o777 == 0o600
    assert f"trusted on first use: the certificate {plc.url} presented (SHA-256 " in caplog.text
    assert first.cfg.pins_at is None  # pinned now

    assert fake.users is not None
    impostor = build(twin, url=fake.url, trust_on_first_use=True, pki_dir=str(pki))
    await impostor.start()
    try:
        status = await impostor.wait_until(lambda st: st.failures >= 2)
    finally:
        await impostor.stop()
    assert status.connects == 0
    assert status.last_error is not None
    assert f"is not the one trusted on first use ({pinned}, SHA-256 " in status.last_error
    assert "a man in the middle, or a PLC with a new certificate" in status.last_error
    assert fake.users.passwords == []  # the password never went to it
    assert pinned.read_bytes() == (tmp_path / "plc" / "own" / "cert.der").read_bytes()

    again = build(twin, url=plc.url, trust_on_first_use=True, pki_dir=str(pki))
    await again.start()
    try:
        await again.wait_until(lambda st: st.connects >= 1)
    finally:
        await again.stop()


async def test_a_pin_deleted_while_the_twin_runs_pins_the_renewed_certificate(
    tmp_path: Path, twin: Twin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PLC restarts with a new certificate: refused as not the one pinned; once the
    operator deletes the pinned file (as the refusal says), the next connect of the same
    running adapter pins the new one, without a restart of the twin."""
    monkeypatch.setenv("PLC_PASSWORD", USERS["alice"])
    own = ensure_certificate(tmp_path / "pki", "urn:cell-twin:adapter:plc1", "localhost", "x")
    port = free_port()
    plc = await Plc.start(port, pki=tmp_path / "plc")
    shutil.copy(own.cert, tmp_path / "plc" / "trusted" / "twin.der")
    pki = tmp_path / "pki"
    pinned = pki / "trusted" / "plc.der"
    adapter = build(twin, url=plc.url, trust_on_first_use=True, pki_dir=str(pki))
    await adapter.start()
    try:
        await adapter.wait_until(lambda st: st.written >= 1)
        assert pinned.read_bytes() == (tmp_path / "plc" / "own" / "cert.der").read_bytes()
        await plc.stop()
        plc = await Plc.start(port, pki=tmp_path / "renewed")  # the same PLC, a new certificate
        shutil.copy(own.cert, tmp_path / "renewed" / "trusted" / "twin.der")
        status = await adapter.wait_until(
            lambda st: "is not the one trusted on first use" in (st.last_error or "")
        )
        assert status.connects == 1
        pinned.unlink()  # checked on the PLC: the operator deletes the old pin
        await adapter.wait_until(lambda st: st.connects >= 2 and st.connected)
        renewed = (tmp_path / "renewed" / "own" / "cert.der").read_bytes()
        assert pinned.read_bytes() == renewed
    finally:
        await adapter.stop()
        await plc.stop()


@pytest.mark.parametrize("content", ["key", "text"])
async def test_a_server_certificate_that_is_no_certificate_is_refused(
    tmp_path: Path, content: str
) -> None:
    """The PLC's private key given for its certificate (PEM both) passed, and every connect
    failed on it naming neither field nor file, retried forever."""
    if content == "key":
        path = ensure_certificate(tmp_path / "plc", "urn:plc", "localhost", "PLC").key
        why = "it holds a PEM PRIVATE KEY, not a CERTIFICATE"
    else:
        path = tmp_path / "plc.der"
        path.write_text("not a certificate", encoding="utf-8")
        why = "neither PEM nor a DER certificate"
    table = {**SECURE, "url": "opc.tcp://127.0.0.1:4840", "server_certificate": str(path)}
    with pytest.raises(ConfigError) as caught:
        parse_adapters({"adapter": [table]}, "test.toml", ALL_KINDS)
    assert caught.value.field == "adapter[0].server_certificate"
    assert caught.value.reason == (
        f"{str(path)!r}: not a certificate ({why}; the PLC's certificate, DER or PEM)"
    )
