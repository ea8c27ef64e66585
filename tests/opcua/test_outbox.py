"""The outbox: writes applied in order; a full one drops a write and says so."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from opcua_server.outbox import Outbox


async def test_writes_are_applied_in_order_and_a_full_outbox_drops() -> None:
    applied: list[int] = []

    def job(n: int) -> Callable[[], Awaitable[None]]:
        async def write() -> None:
            applied.append(n)

        return write

    outbox = Outbox(max_pending=2)
    assert [outbox.put(job(n)) for n in range(3)] == [True, True, False]
    assert outbox.dropped == 1
    outbox.start()
    try:
        await outbox.join()
    finally:
        await outbox.stop()
    assert applied == [0, 1]
