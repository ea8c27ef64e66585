"""A pki folder where refused client certificates cannot be kept (``--pki`` read-only, a full
disk, rejected/ not a folder): clients are refused as before, at once and with their status,
and the log says once, in one line, why no copy is kept."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from asyncua import ua

from tests.opcua.conftest import Twin, make_client_cert

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def unwritable(twin: Twin) -> Iterator[Path]:
    """The module twin's rejected/ made a file: nothing can be written into it, even by root
    (whom a read-only folder does not stop). A folder again after the test."""
    rejected = twin.root / "pki" / "rejected"
    for p in rejected.iterdir():
        p.unlink()
    rejected.rmdir()
    rejected.write_bytes(b"")
    yield rejected
    rejected.unlink()
    rejected.mkdir()


async def test_refused_clients_are_answered_when_rejected_cannot_be_written(
    twin: Twin, unwritable: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(3):
        stranger = make_client_cert(twin.root / f"stranger-{i}", f"urn:cell-twin:stranger-{i}")
        with pytest.raises(ua.UaStatusCodeError) as err:
            async with asyncio.timeout(5):  # the client's own timeout is 10 s
                await twin.client("vera", cert=stranger)
        assert err.value.code == ua.StatusCodes.BadCertificateUntrusted
    assert not [r for r in caplog.records if r.exc_info], caplog.text  # no traceback
    kept = [r for r in caplog.records if "cannot keep" in r.getMessage()]
    assert len(kept) == 1, caplog.text  # once, not for every client
    assert kept[0].levelname == "WARNING"
    assert str(unwritable) in kept[0].getMessage()
    assert "Not a directory" in kept[0].getMessage()
    refusals = [r.getMessage() for r in caplog.records if "refused the client" in r.getMessage()]
    assert len(refusals) == 3
    assert all("no copy is kept" in line and "move its copy" not in line for line in refusals)


async def test_certificates_are_kept_again_once_rejected_is_writable(
    twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    """After the folder was fixed (the fixture made it a folder again): kept as before."""
    stranger = make_client_cert(twin.root / "stranger-after", "urn:cell-twin:stranger-after")
    with pytest.raises(ua.UaStatusCodeError):
        await twin.client("vera", cert=stranger)
    (kept,) = (twin.root / "pki" / "rejected").iterdir()
    assert kept.read_bytes() == stranger.cert.read_bytes()
    assert not [r for r in caplog.records if "cannot keep" in r.getMessage()]
