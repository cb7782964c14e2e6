"""What should run in each process: its ports (with their options), its
patches and whether it forwards; a vf's or mirror's components (with their
ports, VLAN ops and copy mode) and classifier table; whether a pcap
captures.

The controller updates it after every command a process accepted, and
only then: what a process reports is compared with it, never taken for
it. When a process says hello again after a restart (it has nothing of
its own), it gets it all back; the controller keeps it in a file of its
run directory (DesiredStore), so a restarted controller still knows it.
"""

import json
import logging
import os

from . import components
from .components import vlan_of

log = logging.getLogger("patchbay-ctl")


def _no_components():
    return {"components": {}, "classifier": {}, "options": {}}


class Desired:
    def __init__(self):
        self.ports = {}        # uid -> options, in the order they were added
        self.patches = {}      # src -> dst
        self.forwarding = False
        self.comps = _no_components()   # components.py's component state
        self.capturing = False

    def _fields(self):
        return (self.ports, self.patches, self.forwarding, self.comps,
                self.capturing)

    def __eq__(self, other):
        """The same work, however each was learnt: both rebuilt from their
        commands (which keep only what a command can set), order of ports
        and table entries aside."""
        return isinstance(other, Desired) and \
            Desired.from_commands(self.commands())._fields() == \
            Desired.from_commands(other.commands())._fields()

    def summary(self):
        comps = self.comps["components"]
        return (f"{len(self.ports)} ports, {len(self.patches)} patches, "
                f"{len(comps)} components, "
                f"{len(self.comps['classifier'])} classifier entries, "
                f"{'forwarding' if self.forwarding else 'capturing' if self.capturing else 'idle'}")

    def teardown(self):
        """The commands that take this state out of a process that runs
        it: stop, components, then ports (their patches go with them)."""
        cmds = [("stop", {})] if self.forwarding or self.capturing else []
        cmds += [("component_stop", {"name": n})
                 for n in self.comps["components"]]
        cmds += [("del", {"port": uid}) for uid in self.ports]
        return cmds

    @classmethod
    def from_commands(cls, cmds):
        d = cls()
        for cmd, args in cmds:
            d.record(cmd, args)
        return d

    def empty(self):
        return not (self.ports or self.patches or self.forwarding or
                    self.comps["components"] or self.comps["classifier"] or
                    self.capturing)

    def record(self, cmd, args):
        """Note a command the process accepted."""
        if cmd in ("component_start", "component_stop", "port_add",
                   "port_del", "mirror_copy"):
            self._record_component(cmd, args)
        elif cmd in ("classifier_add", "classifier_del"):
            entry = (args.get("vlan") if args.get("type") == "vlan" else None,
                     str(args.get("mac")).lower(), args.get("port"))
            if cmd == "classifier_add":
                self.comps["classifier"][entry] = None
            else:
                self.comps["classifier"].pop(entry, None)
        elif cmd == "add":
            self.ports[args["port"]] = {k: v for k, v in args.items()
                                        if k != "port"}
        elif cmd == "del":
            self.ports.pop(args["port"], None)
            self.patches = {s: d for s, d in self.patches.items()
                            if args["port"] not in (s, d)}
        elif cmd == "patch":
            self.patches[args["src"]] = args["dst"]
        elif cmd == "unpatch":
            self.patches.pop(args["src"], None)
        elif cmd == "patch_reset":
            self.patches = {}
        elif cmd in ("forward", "stop", "start"):
            self.forwarding = cmd == "forward"
            self.capturing = cmd == "start"

    def _record_component(self, cmd, args):
        comps, name = self.comps["components"], args.get("name")
        if cmd == "component_start":
            comps[name] = {"core": args.get("core"), "type": args.get("type"),
                           "rx": [], "tx": [], "copy": "clone"}
            return
        comp = comps.get(name)
        if comp is None:
            return
        if cmd == "component_stop":
            del comps[name]
        elif cmd == "port_add":
            comp[args["dir"]].append((args["port"],
                                      vlan_of(args.get("vlan"))))
            opts = {k: v for k, v in args.items()
                    if k not in ("name", "port", "dir", "vlan")}
            if opts:
                self.comps["options"].setdefault(args["port"], opts)
        elif cmd == "port_del":
            comp[args["dir"]] = [pv for pv in comp[args["dir"]]
                                 if pv[0] != args["port"]]
        else:
            comp["copy"] = args.get("copy")

    @classmethod
    def from_status(cls, status, role="nfv"):
        """From the status of a process of role (nfv, vf, mirror, pcap), or
        the primary's "forwarder"."""
        d = cls()
        options = status.get("port_options", {})
        if role in ("vf", "mirror"):
            d.comps = components.from_status(status)
        in_comps = {port for c in d.comps["components"].values()
                    for port, _ in c["rx"] + c["tx"]}
        for uid in status.get("ports", []):
            if not uid.startswith("phy:") and uid not in in_comps:
                d.ports[uid] = options.get(uid, {})
        d.patches = {p["src"]: p["dst"] for p in status.get("patches", [])}
        running = status.get("status") == "running"
        d.forwarding = running and role in ("nfv", "primary")
        d.capturing = running and role == "pcap"
        return d

    def commands(self):
        """The commands that rebuild this state in a fresh process: ports,
        patches; components with their tx ports, the classifier table,
        then the rx ports (so nothing runs half-wired); forwarding or
        capture last."""
        cmds = [("add", {"port": uid, **opts})
                for uid, opts in self.ports.items()]
        cmds += [("patch", {"src": s, "dst": d})
                 for s, d in self.patches.items()]
        comps, opened = self.comps["components"], set()

        def port_adds(d):
            out = []
            for name, c in comps.items():
                for port, vlan in c[d]:
                    args = {"name": name, "port": port, "dir": d}
                    if vlan != components.NO_VLAN:
                        args["vlan"] = {"operation": vlan[0], "id": vlan[1],
                                        "pcp": vlan[2]}
                    if port not in opened:
                        args.update(self.comps["options"].get(port, {}))
                        opened.add(port)
                    out.append(("port_add", args))
            return out
        for name, c in comps.items():
            cmds.append(("component_start", {"name": name, "core": c["core"],
                                              "type": c["type"]}))
            if c["copy"] != "clone":
                cmds.append(("mirror_copy", {"name": name,
                                             "copy": c["copy"]}))
        cmds += port_adds("tx")
        for vlan, mac, port in self.comps["classifier"]:
            entry = {"type": "mac", "mac": mac, "port": port}
            if vlan is not None:
                entry.update(type="vlan", vlan=vlan)
            cmds.append(("classifier_add", entry))
        cmds += port_adds("rx")
        if self.forwarding:
            cmds.append(("forward", {}))
        if self.capturing:
            cmds.append(("start", {}))
        return cmds


def forwarder_status(role, status):
    """The part of a status that describes what the process runs."""
    return status.get("forwarder") if role == "primary" else status


class DesiredStore:
    """The desired state of every process in a file (JSON: "role id" ->
    the commands that rebuild it), written whole after each change."""

    def __init__(self, path):
        self.path = path

    def load(self):
        try:
            with open(self.path) as f:
                saved = json.load(f)
            return {(key.split()[0], int(key.split()[1])):
                    Desired.from_commands(cmds)
                    for key, cmds in saved.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, KeyError, IndexError,
                AttributeError) as e:
            log.warning("%s: not read (%s); starting with nothing desired",
                        self.path, e)
            return {}

    def save(self, desired):
        saved = {f"{role} {pid}": want.commands()
                 for (role, pid), want in desired.items() if not want.empty()}
        if not saved:
            self.remove()
            return
        tmp = f"{self.path}.{os.getpid()}"
        try:
            with open(tmp, "w") as f:
                json.dump(saved, f)
            os.replace(tmp, self.path)
        except OSError as e:
            log.warning("%s: not written: %s", self.path, e)

    def remove(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
