"""PLC link states (``plc_link``) of the runs the dashboard tests load, as the twin writes them.

A simulation has no PLC, so each run's links are told by hand to a real ``LinkRegistry``,
whose changes the telemetry's own encoder turns into lines (as ``attach_realtime`` does in
``twin run --adapters``), stamped on the run's axis (the scenario's start plus the simulated
time of each report; the wall-clock ``since`` as at speed 1). The 2-day run has two links:
``cell-plc`` (Modbus) is lost for an hour on the first day, fails a few reconnects and comes
back, then the PLC refuses a tag; ``line "B"\\plc`` (OPC UA, a name to escape) goes down on
the second day and stays down with an error text to escape. The earlier run has its own link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from twin.links import LinkRegistry, LinkState
from twin.telemetry import LineEncoder

__all__ = [
    "BAD_TAG",
    "CLOSED",
    "EARLIER_LINKS",
    "LINKS",
    "MODBUS",
    "ODD",
    "OPCUA",
    "Report",
    "link_lines",
]

MODBUS = "modbus://10.0.0.5:502/1"
OPCUA = "opc.tcp://10.0.0.6:4840"
REFUSED = "ConnectionRefusedError: [Errno 111] Connect call failed ('10.0.0.5', 502)"
BAD_TAG = "read[0] (printer1.bed_temp): Modbus exception 2 (illegal data address)"
CLOSED = 'BadSecureChannelClosed: "channel 7" closed by the server \\ gone'
ODD = 'line "B"\\plc'


@dataclass(frozen=True)
class Report:
    """One report of link ``name`` at simulated time ``t`` (``LinkRegistry.report``)."""

    t: float
    name: str
    connected: bool
    failures: int = 0
    total_failures: int = 0
    last_error: str = ""
    bad_tags: tuple[str, ...] = ()


#: (name, kind, endpoint) of each link, then its reports in order
LINKS: tuple[list[tuple[str, str, str]], list[Report]] = (
    [("cell-plc", "modbus", MODBUS), (ODD, "opcua", OPCUA)],
    [
        Report(1.0, ODD, True),
        Report(2.0, "cell-plc", True),
        Report(10800.0, "cell-plc", False, 1, 1, REFUSED),
        Report(10860.0, "cell-plc", False, 2, 2, REFUSED),
        Report(10980.0, "cell-plc", False, 3, 3, REFUSED),
        Report(14400.0, "cell-plc", True, 3, 3, REFUSED),
        Report(14401.0, "cell-plc", True, 0, 3, REFUSED),  # a cycle completed: it works
        Report(72000.0, "cell-plc", True, 0, 3, BAD_TAG, (BAD_TAG,)),
        Report(108000.0, ODD, False, 1, 1, CLOSED),
        Report(108120.0, ODD, False, 2, 2, CLOSED),
    ],
)
EARLIER_LINKS: tuple[list[tuple[str, str, str]], list[Report]] = (
    [("old-plc", "modbus", "modbus://10.0.0.9:502/1")],
    [Report(5.0, "old-plc", True)],
)


def link_lines(
    cell: str,
    run: str,
    start: datetime,
    links: tuple[list[tuple[str, str, str]], list[Report]],
) -> list[str]:
    """The ``plc_link`` lines of ``links`` in run ``run`` of ``cell`` started at ``start``:
    each link's state when registered (time 0), then one line per change reported."""
    encoder = LineEncoder(cell, {}, start)
    encoder.identify(run)
    registry = LinkRegistry()
    out: list[str] = []
    now = 0.0

    def write(state: LinkState) -> None:
        out.extend(encoder.link_lines(state, now))

    added, reports = links
    for name, kind, endpoint in added:
        write(registry.add(name, kind, endpoint, start))
    registry.subscribe(write)
    for r in reports:
        now = r.t
        registry.report(
            r.name,
            start + timedelta(seconds=r.t),
            connected=r.connected,
            failures=r.failures,
            total_failures=r.total_failures,
            last_error=r.last_error,
            bad_tags=r.bad_tags,
        )
    return out
