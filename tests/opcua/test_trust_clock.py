"""A client certificate's validity period is checked at the validator's clock, not the
machine's: one trusted certificate, refused before and after its period, accepted in it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from asyncua import ua
from asyncua.server.internal_session import ServiceError
from cryptography import x509

from opcua_server.trust import ClientCertificateValidator
from tests.opcua.conftest import make_client_cert
from twin.clock import ManualClock

SECOND = dt.timedelta(seconds=1)


@pytest.mark.parametrize(
    ("when", "refused"),
    [
        ("before", True),  # not yet valid
        ("from", False),
        ("until", False),
        ("after", True),  # expired
    ],
)
async def test_a_certificate_is_valid_in_its_period_at_the_injected_time(
    tmp_path: Path, when: str, refused: bool
) -> None:
    pki = tmp_path / "pki"
    for sub in ("trusted", "rejected", "crl"):
        (pki / sub).mkdir(parents=True)
    client = make_client_cert(tmp_path / "client")
    (pki / "trusted" / "client.der").write_bytes(client.cert.read_bytes())
    cert = x509.load_der_x509_certificate(client.cert.read_bytes())
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    at = {"before": start - SECOND, "from": start, "until": end, "after": end + SECOND}[when]
    validate = ClientCertificateValidator(pki, clock=ManualClock(wall_start=at))
    app = ua.ApplicationDescription(ApplicationUri=client.uri)
    if not refused:
        await validate(cert, app)
        await validate.check_channel(client.cert.read_bytes())
        return
    with pytest.raises(ServiceError) as err:
        await validate(cert, app)
    assert err.value.code == ua.StatusCodes.BadCertificateTimeInvalid
    with pytest.raises(ServiceError) as err:
        await validate.check_channel(client.cert.read_bytes())
    assert err.value.code == ua.StatusCodes.BadCertificateTimeInvalid
