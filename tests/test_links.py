"""LinkRegistry: link states reported by adapters, listeners told only of changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from twin.links import LinkRegistry, LinkState

T0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)


def test_reports_change_the_state_and_tell_listeners_only_of_changes() -> None:
    links = LinkRegistry()
    links.add("plc1", "modbus", "modbus://h:502/1", T0)
    with pytest.raises(ValueError, match="'plc1' added twice"):
        links.add("plc1", "opcua", "opc.tcp://h", T0)
    seen: list[LinkState] = []
    unsubscribe = links.subscribe(seen.append)

    def report(at: datetime, connected: bool, failures: int, error: str | None) -> LinkState:
        return links.report(
            "plc1",
            at,
            connected=connected,
            failures=failures,
            total_failures=failures,
            last_error=error,
        )

    lost = report(T0 + timedelta(seconds=1), False, 1, "refused")
    assert lost.since == T0  # connected did not change: since registration
    assert (lost.connected, lost.failures, lost.last_error) == (False, 1, "refused")
    up = report(T0 + timedelta(seconds=2), True, 0, "refused")
    assert up.since == T0 + timedelta(seconds=2)
    report(T0 + timedelta(seconds=3), True, 0, "refused")  # nothing new: nobody told
    assert seen == [lost, up]
    assert links.get("plc1") == up
    assert [s.name for s in links] == ["plc1"]
    unsubscribe()
    report(T0 + timedelta(seconds=4), False, 1, "reset")
    assert len(seen) == 2
    with pytest.raises(KeyError, match="unknown link 'nope'"):
        links.get("nope")
