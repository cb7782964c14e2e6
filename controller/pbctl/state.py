"""What should run in each process: its ports (with their options), its
patches and whether it forwards.

The controller updates it after every command a process accepted. When a
process says hello again after a restart (it has no ports and patches of
its own), it gets them back; when the controller itself restarted, it
learns them from the process's status instead.
"""


class Desired:
    def __init__(self):
        self.ports = {}        # uid -> options, in the order they were added
        self.patches = {}      # src -> dst
        self.forwarding = False

    def empty(self):
        return not self.ports and not self.patches and not self.forwarding

    def record(self, cmd, args):
        """Note a command the process accepted."""
        if cmd == "add":
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
        elif cmd in ("forward", "stop"):
            self.forwarding = cmd == "forward"

    @classmethod
    def from_status(cls, fwd_status):
        """From an nfv's status, or the primary's "forwarder"."""
        d = cls()
        options = fwd_status.get("port_options", {})
        for uid in fwd_status.get("ports", []):
            if not uid.startswith("phy:"):
                d.ports[uid] = options.get(uid, {})
        d.patches = {p["src"]: p["dst"] for p in fwd_status.get("patches", [])}
        d.forwarding = fwd_status.get("status") == "running"
        return d

    def commands(self):
        """The commands that rebuild this state in a fresh process."""
        cmds = [("add", {"port": uid, **opts})
                for uid, opts in self.ports.items()]
        cmds += [("patch", {"src": s, "dst": d})
                 for s, d in self.patches.items()]
        if self.forwarding:
            cmds.append(("forward", {}))
        return cmds


def forwarder_status(role, status):
    """The part of a status that describes forwarding, or None."""
    return status if role == "nfv" else status.get("forwarder")
