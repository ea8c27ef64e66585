"""``twin run --adapters``: when a real pymodbus PLC's link is lost, only the signal it feeds
is Uncertain in the telemetry (``<signal>_quality``), as over OPC UA; the printer's simulated
signals stay Good, and the first sample after the link is back sets every signal Good again.

Each phase lasts until the twin's clock (``Cell.SimTime`` over OPC UA) has run on well past
the OPC UA server showing the change, so samples of it are in the run's telemetry."""

from __future__ import annotations

from pathlib import Path

from tests.adapters.linked import (
    BED_TEMP_LINK,
    BED_TEMP_NODE,
    SIM_TIME_NODE,
    UNCERTAIN_CODE,
    linked_twin,
    telemetry_points,
    watching,
)
from tests.telemetry.lp import Point

RUN_ON_S = 30.0  # simulated seconds a phase lasts after OPC UA shows it (samples: every 1 s)


def _statuses(point: Point) -> dict[str, object]:
    """Each signal's own status in a ``machine_signal`` point (``<signal>_quality``)."""
    return {n: v for n, v in point.fields.items() if n.endswith("_quality")}


def _signals(point: Point) -> list[str]:
    return [n for n in point.fields if not n.endswith("quality")]


async def test_only_the_plc_fed_signal_is_uncertain_in_the_telemetry(tmp_path: Path) -> None:
    async with linked_twin(tmp_path, BED_TEMP_LINK, "--insecure-dev") as (twin, plc):
        async with watching(twin, BED_TEMP_NODE, SIM_TIME_NODE) as w:
            watch, (bed, _) = w.watch, w.nodes
            await watch.until(bed, lambda dv: dv.StatusCode.is_good())
            await w.run_on(RUN_ON_S)
            await plc.stop()  # the PLC goes away
            await watch.until(bed, lambda dv: dv.StatusCode.value == UNCERTAIN_CODE)
            await w.run_on(RUN_ON_S)
            await plc.start()
            await watch.until(bed, lambda dv: dv.StatusCode.is_good())
            await w.run_on(RUN_ON_S)
        await twin.stop()

    points = [p for p in telemetry_points(tmp_path) if p.measurement == "machine_signal"]
    printer = [p for p in points if p.tags["machine"] == "printer1"]
    uncertain = [i for i, p in enumerate(printer) if p.fields["quality"] == UNCERTAIN_CODE]
    good = [i for i, p in enumerate(printer) if p.fields["quality"] == 0]
    lost = next(i for i in uncertain if i > good[0])  # Good first (connected), then lost
    back = next(i for i in good if i > lost)  # and Good again
    for i in range(lost, back):
        # the PLC's value alone is Uncertain; the printer's simulated signals stay Good
        assert _statuses(printer[i]) == {f"{n}_quality": 0 for n in _signals(printer[i])} | {
            "bed_temp_quality": UNCERTAIN_CODE
        }
    # the first sample after: every signal Good again (what a last() reads); then nothing
    assert _statuses(printer[back]) == {f"{n}_quality": 0 for n in _signals(printer[back])}
    assert printer[back + 1].fields["quality"] == 0
    assert _statuses(printer[back + 1]) == {}
    # the other machines: Good throughout, marked only in their first sample (an attached
    # encoder sets every status once: the run before may have left one Uncertain)
    for machine in ("cnc1", "robot1", "vision1"):
        samples = [p for p in points if p.tags["machine"] == machine]
        assert _statuses(samples[0]) == {f"{n}_quality": 0 for n in _signals(samples[0])}
        assert all(p.fields["quality"] == 0 and not _statuses(p) for p in samples[1:])
