"""The secure channel screens clients before any session: the certificate that signs it is
checked against the trust list when it opens, and CreateSession must present that same
certificate. The clients here are asyncua clients patched to do what a hostile client does."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from asyncua import Client, ua

from opcua_server.nodesets import NS
from tests.opcua.conftest import (
    POLICY,
    SIGN_ENCRYPT,
    USERS,
    ClientCert,
    Twin,
    make_client_cert,
    raw_call,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

_UNSET = object()


def _rejected(twin: Twin) -> set[Path]:
    return set((twin.root / "pki" / "rejected").iterdir())


async def _forged(
    twin: Twin, channel: ClientCert, *, session_cert: object = _UNSET, uri: str | None = None
) -> Client:
    """An engineer's client whose secure channel is signed with ``channel``'s key and whose
    CreateSession carries ``session_cert`` (DER bytes or None) instead of that certificate,
    and application URI ``uri`` (default: the channel certificate's)."""
    client = Client(twin.url, timeout=5)
    client.application_uri = uri or channel.uri
    await client.set_security(
        POLICY, certificate=str(channel.cert), private_key=str(channel.key), mode=SIGN_ENCRYPT
    )
    client.set_user("erin")
    client.set_password(USERS["erin"][1])
    if session_cert is not _UNSET:
        create = client.uaclient.create_session

        async def forged(params: ua.CreateSessionParameters) -> ua.CreateSessionResult:
            params.ClientCertificate = session_cert
            return await create(params)

        client.uaclient.create_session = forged
    await client.connect()
    return client


async def _inject_fault(client: Client, twin: Twin) -> ua.CallMethodResult:
    cell = await client.nodes.objects.get_child(f"{twin.ns(NS.TWIN)}:Cell")
    args = [ua.Variant("cnc1", ua.VariantType.String), ua.Variant("breakdown")]
    args.append(ua.Variant(0.0, ua.VariantType.Double))
    return await raw_call(client, cell, f"{twin.ns(NS.TWIN)}:InjectFault", *args)


async def _attack(twin: Twin, channel: ClientCert, **forged: object) -> int | str:
    """The status code refusing the forged client, else the name of the status InjectFault
    answered it (on the old code: "Good", an engineer's fault injected)."""
    try:
        client = await _forged(twin, channel, **forged)  # type: ignore[arg-type]
    except ua.UaStatusCodeError as exc:
        return exc.code
    try:
        return str((await _inject_fault(client, twin)).StatusCode.name)
    finally:
        await client.disconnect()


@pytest.mark.parametrize("session_cert", [None, "trusted"], ids=["no-certificate", "trusted-one"])
async def test_an_untrusted_channel_certificate_is_refused_whatever_createsession_says(
    twin: Twin, session_cert: str | None
) -> None:
    """The channel is signed with an untrusted key; CreateSession carries no certificate, or
    the public certificate of a trusted client: refused when the channel opens, the
    channel's certificate kept in rejected/ to trust."""
    attacker = make_client_cert(twin.root / f"attacker-{session_cert}", "urn:cell-twin:attacker")
    before = _rejected(twin)
    presented = twin.cert.cert.read_bytes() if session_cert else None
    refused = await _attack(twin, attacker, session_cert=presented, uri=twin.cert.uri)
    assert refused == ua.StatusCodes.BadCertificateUntrusted
    (kept,) = _rejected(twin) - before
    assert kept.read_bytes() == attacker.cert.read_bytes()
    assert kept.name.startswith("urn_cell-twin_attacker[")
    kept.unlink()


async def test_with_nothing_trusted_a_session_without_certificate_is_refused(twin: Twin) -> None:
    """The reported case: trusted/ empty, CreateSession without a certificate."""
    trusted = twin.root / "pki" / "trusted"
    kept = {cert.name: cert.read_bytes() for cert in trusted.iterdir()}
    for name in kept:
        (trusted / name).unlink()
    try:
        refused = await _attack(twin, twin.cert, session_cert=None)
        assert refused == ua.StatusCodes.BadCertificateUntrusted
    finally:
        for name, data in kept.items():
            (trusted / name).write_bytes(data)
        for cert in (twin.root / "pki" / "rejected").iterdir():
            cert.unlink()


@pytest.mark.parametrize(
    ("presented", "code"),
    [
        ("nothing", ua.StatusCodes.BadCertificateInvalid),
        ("another trusted client's", ua.StatusCodes.BadSecurityChecksFailed),
    ],
)
async def test_createsession_must_present_the_channel_certificate(
    twin: Twin, presented: str, code: int
) -> None:
    """A trusted channel: CreateSession without the channel's certificate or with another
    (trusted) one is refused, nothing kept in rejected/ (there is nothing to trust)."""
    other = make_client_cert(twin.root / "other", "urn:cell-twin:other")
    trusted = twin.root / "pki" / "trusted" / "other.der"
    shutil.copy(other.cert, trusted)
    before = _rejected(twin)
    session_cert = other.cert.read_bytes() if presented != "nothing" else None
    try:
        refused = await _attack(twin, twin.cert, session_cert=session_cert, uri=other.uri)
        assert refused == code
    finally:
        trusted.unlink()
    assert _rejected(twin) == before
