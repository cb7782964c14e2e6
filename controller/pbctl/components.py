"""conf.yml's vf and mirror secondaries (their components, ports with VLAN
ops, classifier tables) and pcap secondaries (their capture): what the file
wants, what runs, and the REST requests from one to the other, each with
the request that undoes it.

A component state is {"components": {name: {"core", "type", "rx", "tx",
"copy"}}, "classifier": {(vlan or None, mac or "default", port): None}
(a dict for its order, the table's),
"options": {port: {...}}}; rx and tx are lists of (port, vlan), vlan
being ("none", 0, 0), ("add", id, pcp) or ("del", 0, 0).
"""

NO_VLAN = ("none", 0, 0)


def vlan_of(v):
    if not v:
        return NO_VLAN
    op = v.get("operation", "none")
    return (op, v.get("id", 0), v.get("pcp", 0)) if op == "add" \
        else (op, 0, 0)


def wanted(sec):
    comps = {}
    for name, c in (sec.get("components") or {}).items():
        comps[name] = {"core": c["core"], "type": c["type"],
                       "rx": [tuple(x) for x in c["rx"]],
                       "tx": [tuple(x) for x in c["tx"]],
                       "copy": c.get("copy", "clone")}
    return {"components": comps,
            "classifier": dict.fromkeys(sec.get("classifier_table") or ()),
            "options": dict(sec.get("options") or {})}


def _entry_of(e):
    """A status classifier_table entry as (vlan or None, mac, port)."""
    vlan, _, mac = e["value"].rpartition("/")
    return (int(vlan) if vlan else None, mac.lower(), e["port"])


def from_status(status):
    """From a vf's or mirror's status: spp-ctl's GET shape ("components")
    or the process's own ("core")."""
    comps = {}
    for c in status.get("components", status.get("core", [])):
        if "name" not in c:
            continue              # an lcore without one ("unuse")
        comps[c["name"]] = {
            "core": c["core"], "type": c["type"],
            "rx": [(p["port"], vlan_of(p.get("vlan"))) for p in c["rx_port"]],
            "tx": [(p["port"], vlan_of(p.get("vlan"))) for p in c["tx_port"]],
            "copy": c.get("copy", "clone")}
    return {"components": comps,
            "classifier": dict.fromkeys(_entry_of(e) for e in
                                        status.get("classifier_table", [])),
            "options": dict(status.get("port_options") or {})}


def _words(opts):
    return "".join(f" {k}={v}" for k, v in opts.items())


class _Requests:
    """The requests of one vf or mirror, as apply's Request objects."""

    def __init__(self, request, kind, sid, options):
        self.request, self.kind, self.sid = request, kind, sid
        self.base = f"/v1/{kind}s/{sid}"
        self.options = options

    def line(self, text):
        return f"{self.kind} {self.sid}; {text}"

    def start(self, name, c):
        return self.request(
            self.line(f"component start {name} {c['core']} {c['type']}"),
            "POST", self.base + "/components",
            {"name": name, "core": c["core"], "type": c["type"]})

    def stop(self, name):
        return self.request(self.line(f"component stop {name}"), "DELETE",
                            f"{self.base}/components/{name}")

    def attach(self, name, d, port, vlan, opts):
        body = {"action": "attach", "port": port, "dir": d, **opts}
        text = f"port add {port} {d} {name}"
        if vlan[0] == "add":
            text += f" add_vlantag {vlan[1]} {vlan[2]}"
        elif vlan[0] == "del":
            text += " del_vlantag"
        if self.kind == "vf":
            body["vlan"] = {"operation": vlan[0], "id": vlan[1],
                            "pcp": vlan[2]}
        return self.request(self.line(text + _words(opts)), "PUT",
                            f"{self.base}/components/{name}/ports", body)

    def detach(self, name, d, port):
        return self.request(self.line(f"port del {port} {d} {name}"), "PUT",
                            f"{self.base}/components/{name}/ports",
                            {"action": "detach", "port": port, "dir": d})

    def classifier(self, action, entry):
        vlan, mac, port = entry
        body = {"action": action, "type": "mac" if vlan is None else "vlan",
                "mac_address": mac, "port": port}
        text = f"classifier_table {action} mac {mac} {port}"
        if vlan is not None:
            body["vlan"] = vlan
            text = f"classifier_table {action} vlan {vlan} {mac} {port}"
        return self.request(self.line(text), "PUT",
                            self.base + "/classifier_table", body)

    def copy(self, name, mode):
        return self.request(self.line(f"component copy {name} {mode}"),
                            "PUT", f"{self.base}/components/{name}",
                            {"copy": mode})


def steps(request, kind, sid, have, want):
    """[(do, undo)] that turn have into want: entries and ports that go,
    components that go, components that come, tx ports, entries, rx
    ports (a component moves packets once it has its rx), copy modes."""
    r = _Requests(request, kind, sid, want["options"])
    out = []
    hc, wc = have["components"], want["components"]
    changed_opts = {p for p in set(have["options"]) | set(want["options"])
                    if have["options"].get(p, {}) !=
                    want["options"].get(p, {})}

    def keeps(name):
        return name in wc and name in hc and \
            (hc[name]["core"], hc[name]["type"]) == \
            (wc[name]["core"], wc[name]["type"])

    def kept_ports(name, d):
        if not keeps(name):
            return []
        return [pv for pv in hc[name][d] if pv in wc[name][d] and
                pv[0] not in changed_opts]

    for entry in sorted(have["classifier"].keys() -
                        want["classifier"].keys(), key=str):
        out.append((r.classifier("del", entry), r.classifier("add", entry)))
    for name, c in sorted(hc.items()):
        for d in ("rx", "tx"):
            for port, vlan in c[d]:
                if (port, vlan) not in kept_ports(name, d):
                    out.append((r.detach(name, d, port),
                                r.attach(name, d, port, vlan,
                                         have["options"].get(port, {}))))
        if not keeps(name):
            out.append((r.stop(name), r.start(name, c)))
    for name, c in sorted(wc.items()):
        if not keeps(name):
            out.append((r.start(name, c), r.stop(name)))
    for d in ("tx", "rx"):
        for name, c in sorted(wc.items()):
            for port, vlan in c[d]:
                if (port, vlan) not in kept_ports(name, d):
                    out.append((r.attach(name, d, port, vlan,
                                         want["options"].get(port, {})),
                                r.detach(name, d, port)))
        if d == "tx":
            for entry in sorted(want["classifier"].keys() -
                                have["classifier"].keys(),
                                key=str):
                out.append((r.classifier("add", entry),
                            r.classifier("del", entry)))
    for name, c in sorted(wc.items()):
        had = hc.get(name, {}).get("copy", "clone") if keeps(name) \
            else "clone"
        if kind == "mirror" and c["copy"] != had:
            out.append((r.copy(name, c["copy"]), r.copy(name, had)))
    return out


# ---- pcap -----------------------------------------------------------------

def capture_wanted(sec):
    cap = sec["capture"]
    return {"port": cap["port"], "out_dir": cap["out_dir"],
            "fsize": cap["fsize"], "lz4": cap["lz4"], "tap": cap["tap"],
            "fifo": cap["fifo"], "running": cap["running"]}


def capture_from_status(status):
    cap = status.get("capture", {})
    return {"port": cap.get("port"), "out_dir": cap.get("out_dir"),
            "fsize": cap.get("fsize"), "lz4": cap.get("lz4"),
            "tap": cap.get("dir") if cap.get("mode") == "tap" else None,
            "fifo": cap.get("fifo"), "running": status.get("status") ==
            "running"}


def capture_app_options(cap):
    """patchbay-pcap's own options for a launch."""
    app = {"-c": cap["port"], "--out-dir": cap["out_dir"],
           "--fsize": str(cap["fsize"])}
    if cap["lz4"]:
        app["--lz4"] = ""
    if cap["tap"]:
        app["--tap"] = cap["tap"]
    if cap["fifo"]:
        app["--fifo"] = cap["fifo"]
    return app
