"""``twin run --adapters``: a real pymodbus PLC's link, lost and back, in the run's telemetry
(``plc_link``, the file sink's line protocol), lined up with the signals it feeds."""

from __future__ import annotations

from pathlib import Path

from tests.adapters.linked import (
    BED_TEMP_LINK,
    CONNECTED_NODE,
    SIM_TIME_NODE,
    UNCERTAIN_CODE,
    linked_twin,
    telemetry_points,
    watching,
)
from tests.telemetry.lp import Point


def _runs(values: list[bool]) -> list[bool]:
    """``values`` with repeats in a row taken as one."""
    return [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]


async def test_a_lost_plc_link_is_in_the_telemetry_on_the_runs_axis(tmp_path: Path) -> None:
    async with linked_twin(tmp_path, BED_TEMP_LINK, "--insecure-dev") as (twin, plc):
        async with watching(twin, CONNECTED_NODE, SIM_TIME_NODE) as w:
            watch, (connected, _) = w.watch, w.nodes
            await watch.until(connected, lambda dv: dv.Value.Value is True)
            # Good samples of the PLC's signal before the loss: the twin's clock runs on
            # well past a sample period (1 s) first
            await w.run_on(30.0)
            await plc.stop()  # the PLC goes away
            await watch.until(connected, lambda dv: dv.Value.Value is False)
            await plc.start()
            await watch.until(connected, lambda dv: dv.Value.Value is True)
        await twin.stop()  # the adapter's last report (down) comes just before the stop

    points = telemetry_points(tmp_path)
    links = [p for p in points if p.measurement == "plc_link"]
    assert {p.tags["run"] for p in points} == {links[0].tags["run"]}  # the run's, as every point
    assert {(p.tags["link"], p.tags["kind"]) for p in links} == {("cell-plc", "modbus")}
    assert [p.ts for p in links] == sorted({p.ts for p in links})  # in order, none overwritten
    first = links[0]  # the state when the telemetry attached: registered, not connected yet
    assert (first.fields["connected"], first.fields["failures"], first.fields["last_error"]) == (
        False,
        0,
        "",
    )
    assert first.fields["endpoint"] == f"modbus://127.0.0.1:{plc.port}/1"
    # connected, lost, back, and stopped: the last change, reported at the stop, is there
    assert _runs([p.fields["connected"] is True for p in links]) == [
        False,
        True,
        False,
        True,
        False,
    ]
    up = next(i for i, p in enumerate(links) if p.fields["connected"] is True)
    lost = next(p for p in links[up:] if p.fields["connected"] is False)  # with its reason
    assert lost.fields["last_error"]
    failures, total = lost.fields["failures"], lost.fields["total_failures"]
    total_at_end = links[-1].fields["total_failures"]
    assert isinstance(failures, int)
    assert isinstance(total, int)
    assert isinstance(total_at_end, int)
    assert failures >= 1
    assert total >= 1
    assert total_at_end >= total
    # on the run's axis as the signals: the PLC's bed temperature turns Uncertain (its link
    # lost) between the last Good sample before the loss and the first after it
    beds = [
        p for p in points if p.measurement == "machine_signal" and p.tags["machine"] == "printer1"
    ]
    good_before = [p for p in beds if p.fields["quality"] == 0 and p.ts <= lost.ts]
    assert good_before
    after: list[Point] = [p for p in beds if p.ts > good_before[-1].ts]
    assert after[0].fields["quality"] == UNCERTAIN_CODE
    assert good_before[-1].ts <= lost.ts <= after[0].ts
    ends = max(p.ts for p in points if p.measurement != "plc_link")
    assert min(p.ts for p in points) <= first.ts <= links[-1].ts <= ends
