"""Node families of the address space, each a small contributor, listed explicitly.

Every family implements ``NodeFamily``: ``build`` adds its nodes (and records what it
added in ``nodes``), ``start``/``stop`` attach to and detach from the running twin.
"""

from __future__ import annotations

from opcua_server.nodes.base import BuildContext, NodeFamily
from opcua_server.nodes.cell import CellFamily
from opcua_server.nodes.events import EventsFamily
from opcua_server.nodes.jobs import JobsFamily
from opcua_server.nodes.links import LinksFamily
from opcua_server.nodes.machines import MachinesFamily

__all__ = ["FAMILIES", "BuildContext", "NodeFamily"]

# build order matters: machines first (events and the cell refer to machine nodes), jobs and
# links after the cell (JobManagement and Adapters live below it)
FAMILIES: tuple[type[NodeFamily], ...] = (
    MachinesFamily,
    EventsFamily,
    CellFamily,
    JobsFamily,
    LinksFamily,
)
