"""netlab: declarative network labs on real namespaces, veth pairs, bridges, routes and NAT.

The pure core (`load`, `validate`, `resolve`) reads a topology and makes every name and address
concrete; `up`, `down` and `clean` carry it out in the kernel; `netlab.faults` breaks a running
lab on purpose. Imports nothing of the rest of the project, so it can be used on its own.
"""

from netlab import faults
from netlab.errors import (
    ApplyError,
    CommandError,
    FaultError,
    LabNotFoundError,
    NetlabError,
    Problem,
    TopologyError,
    UnsupportedFaultError,
)
from netlab.faults import bandwidth, delay, heal, link_down, link_up, loss, open_lab, partition
from netlab.lifecycle import Removed, clean, down, up
from netlab.loader import from_dict, load, load_text, loads
from netlab.model import Topology
from netlab.naming import netns_name, root_ifname
from netlab.plan import Iface, Plan
from netlab.presets import machine_lan, machine_lan_dict
from netlab.resolve import resolve
from netlab.runner import popen, run
from netlab.show import LabStatus, labs, status
from netlab.validate import validate

__all__ = [
    "ApplyError",
    "CommandError",
    "FaultError",
    "Iface",
    "LabNotFoundError",
    "LabStatus",
    "NetlabError",
    "Plan",
    "Problem",
    "Removed",
    "Topology",
    "TopologyError",
    "UnsupportedFaultError",
    "bandwidth",
    "clean",
    "delay",
    "down",
    "faults",
    "from_dict",
    "heal",
    "labs",
    "link_down",
    "link_up",
    "load",
    "load_text",
    "loads",
    "loss",
    "machine_lan",
    "machine_lan_dict",
    "netns_name",
    "open_lab",
    "partition",
    "popen",
    "resolve",
    "root_ifname",
    "run",
    "status",
    "up",
    "validate",
]
