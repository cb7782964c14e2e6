"""GET /metrics: the panel in Prometheus' text exposition format (0.0.4).

Every scrape asks each connected process for its status, concurrently,
and turns what they answer into samples: per process and port the
packet, byte and drop counters and the link state; the primary's mbuf
pool; each vf or mirror component's counters; which processes are up;
the commands each process served and refused; the REST requests by
answer. Names and labels follow Prometheus' conventions: counters end in
_total, a process is labelled as the shell names it without the space
(process="nfv1"), a port by its UID and type (port="ring:0",
type="ring").
"""

import collections
import logging

from .procs import process_label

log = logging.getLogger("patchbay-ctl")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCRAPE_TIMEOUT = 5.0      # a process that has not answered by then is left out

# a status's counter -> (metric, help)
PORT_COUNTERS = (
    ("rx", "patchbay_port_rx_packets_total", "Packets the port received."),
    ("tx", "patchbay_port_tx_packets_total", "Packets the port sent."),
    ("rx_bytes", "patchbay_port_rx_bytes_total", "Bytes the port received."),
    ("tx_bytes", "patchbay_port_tx_bytes_total", "Bytes the port sent."),
    ("rx_drop", "patchbay_port_rx_dropped_total",
     "Packets dropped on receive (by the port or its device)."),
    ("tx_drop", "patchbay_port_tx_dropped_total",
     "Packets dropped because the port took no more."),
)


class Exposition(str):
    """A /metrics answer: sent as text, not JSON."""


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n") \
        .replace('"', '\\"')


class Families:
    """Samples grouped by metric, each metric with its HELP and TYPE."""

    def __init__(self):
        self.meta = {}                                 # name -> (type, help)
        self.samples = collections.defaultdict(list)   # name -> [(labels, v)]

    def add(self, name, kind, help_text, labels, value):
        self.meta.setdefault(name, (kind, help_text))
        self.samples[name].append((labels, value))

    def render(self):
        lines = []
        for name, (kind, help_text) in self.meta.items():
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in self.samples[name]:
                text = ",".join(f'{k}="{_escape(v)}"'
                                for k, v in labels.items())
                lines.append(f"{name}{{{text}}} {value}" if text
                             else f"{name} {value}")
        return Exposition("\n".join(lines) + "\n")


def status_ports(status):
    """{uid: counters} of a process's status: a secondary's stats, the
    primary's shared port table (phy_ports, ring_ports)."""
    ports = dict(status.get("stats") or {})
    for kind, key in (("phy", "phy_ports"), ("ring", "ring_ports")):
        for entry in status.get(key) or []:
            ports[f"{kind}:{entry['id']}"] = entry
    return ports


def add_ports(fam, process, status):
    ports = status_ports(status)
    links = status.get("links") or {}
    for uid in sorted(ports):
        labels = {"process": process, "port": uid,
                  "type": uid.split(":")[0]}
        for key, name, help_text in PORT_COUNTERS:
            if isinstance(ports[uid].get(key), int):
                fam.add(name, "counter", help_text, labels, ports[uid][key])
        if uid in links:
            fam.add("patchbay_port_link_up", "gauge",
                    "1 while the port's link is up.", labels,
                    int(links[uid] == "up"))


# a component's counter -> help (docs/steering.md); others get a plain one
COMPONENT_COUNTERS = {
    "misses": "Frames the classifier had no entry for, dropped.",
    "flooded": "Copies of broadcast and multicast frames sent to every "
               "port with an entry.",
    "vlan_drops": "Frames a VLAN operation could not make room for, "
                  "dropped.",
    "copy_drops": "Copies that could not be made (pool empty), dropped.",
}


def add_components(fam, process, status):
    for comp in status.get("core") or status.get("components") or []:
        if not isinstance(comp, dict):
            continue
        for key, value in sorted((comp.get("counters") or {}).items()):
            fam.add(f"patchbay_component_{key}_total", "counter",
                    COMPONENT_COUNTERS.get(key, f"The component's {key}."),
                    {"process": process, "component": comp.get("name", ""),
                     "kind": comp.get("type", "")}, value)


def add_mbufs(fam, status):
    mbufs = status.get("mbufs")
    if isinstance(mbufs, dict):
        fam.add("patchbay_mbufs", "gauge", "Mbufs in the shared pool.", {},
                mbufs.get("size", 0))
        fam.add("patchbay_mbufs_in_use", "gauge",
                "Mbufs of the shared pool out of it (in rings, queues, "
                "workers' hands).", {}, mbufs.get("in_use", 0))


async def exposition(registry, http_answers):
    """The whole /metrics text. http_answers: Counter of status codes."""
    fam = Families()
    answers = await registry.statuses(SCRAPE_TIMEOUT)
    up = {(p.role, p.id): s is not None for p, s in answers}
    up.update((key, False) for key in registry.gone())
    for (role, proc_id), is_up in sorted(up.items()):
        fam.add("patchbay_process_up", "gauge",
                "1 while the process is connected and answers.",
                {"process": process_label(role, proc_id), "role": role},
                int(is_up))
    for proc, status in answers:
        if status is None:
            continue
        label = proc.label()
        try:
            add_ports(fam, label, status)
            add_components(fam, label, status)
            if proc.role == "primary":
                add_mbufs(fam, status)
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            log.warning("metrics: %s's status unreadable: %s", proc.name(), e)
    for (label, result), n in sorted(registry.commands.items()):
        fam.add("patchbay_commands_total", "counter",
                "Commands sent to a process, by how it answered.",
                {"process": label, "result": result}, n)
    for code, n in sorted(http_answers.items()):
        fam.add("patchbay_http_requests_total", "counter",
                "REST requests answered, by status code.",
                {"code": str(code)}, n)
    return fam.render()
