"""conf.yml: the panel and its chains, declared (docs/conf.md).

load() reads and checks the file and returns plain dicts with defaults
filled in. Every problem names the file, the line and the place:
    conf.yml:31: chains.default.hops[2]: 'ring0' is not a port (type:N)
"""

import re

import yaml

from . import lcores

PORT_RE = re.compile(r"^(phy|ring|vhost|virtio|pcap|null|nullpmd|tap|memif|shm"
                     r"|af_packet):(0|[1-9][0-9]{0,3})$"
                     r"|^phy:(0|[1-9][0-9]{0,3})nq(0|[1-9][0-9]{0,3})$")
MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
KINDS = ("nfv", "vf", "mirror", "pcap")
COMPONENT_TYPES = {"vf": ("forward", "merge", "classifier"),
                   "mirror": ("mirror",)}
# rx and tx ports a component of each type may have (None: any number)
PORT_LIMITS = {"forward": (1, 1), "merge": (None, 1), "classifier": (1, None),
               "mirror": (1, 2)}
NFV_RE = re.compile(r"^nfv\s+([1-9][0-9]*)$")

SECTIONS = ["controller", "primary", "secondaries", "vms", "containers",
            "chains"]
DEFAULTS = {
    "controller": {"bind": "127.0.0.1", "pri_port": 5555, "sec_port": 6666,
                   "api_port": 7777},
    "primary": {"lcores": "0", "memory": 512, "vdevs": [], "portmask": None,
                "rings": 4, "file_prefix": "patchbay", "no_pci": True,
                "queues": None,
                "huge_dir": None},
    "secondary": {"type": "nfv", "lcores": None, "cpus": None,
                  "vhost_client": False, "forward": True, "components": None,
                  "classifier_table": None, "options": None,
                  "capture": None},
    "capture": {"port": None, "out_dir": "/tmp", "fsize": 1 << 30,
                "lz4": False, "tap": None, "fifo": None, "running": True},
    "vm": {"ports": [], "app": "testpmd", "fwd_mode": "macswap retry",
           "vcpus": 2, "memory": 1024, "secondary": None, "queues": 1,
           "vq_size": 1024},
    "container": {"ports": [], "app": "testpmd", "fwd_mode": "macswap retry",
                  "lcores": "0,1", "secondary": None},
}


class ConfigError(Exception):
    pass


MAX_DEPTH = 32          # a conf.yml is 4 or 5 levels deep
MAX_VALUES = 100000     # values, once aliases are expanded


def _check_nesting(text, name):
    """Refuse nesting deeper than MAX_DEPTH before PyYAML's composer,
    which recurses once a level, sees it. The scanner does not recurse."""
    opens = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
             yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
    closes = (yaml.BlockEndToken, yaml.FlowMappingEndToken,
              yaml.FlowSequenceEndToken)
    depth = 0
    for token in yaml.scan(text):
        if isinstance(token, opens):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(f"{name}:{token.start_mark.line + 1}: "
                                  f"nested more than {MAX_DEPTH} deep")
        elif isinstance(token, closes):
            depth -= 1


def _lines(node, name):
    """{path: line} for every node of a composed YAML document. An alias
    inside its own anchor, or aliases expanding past MAX_VALUES values,
    are refused (nothing could read such a conf)."""
    out = {}

    def walk(node, path, inside, line):
        if id(node) in inside:
            raise ConfigError(f"{name}:{line}: {_where(path)}: an alias "
                              "inside its own anchor")
        if len(out) >= MAX_VALUES or len(path) > MAX_DEPTH:
            raise ConfigError(f"{name}:{line}: {_where(path)}: aliases "
                              f"expand to more than {MAX_VALUES} values or "
                              f"{MAX_DEPTH} levels")
        out[path] = line
        inside = inside | {id(node)}
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key, value in node.value:
                sub = path + (str(key.value),)
                key_line = key.start_mark.line + 1
                if sub in seen:
                    raise ConfigError(
                        f"{name}:{key_line}: {_where(sub)}: given twice "
                        f"(first on line {seen[sub]})")
                seen[sub] = key_line
                walk(value, sub, inside, key_line)
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                walk(value, path + (i,), inside, value.start_mark.line + 1)

    walk(node, (), frozenset(), node.start_mark.line + 1)
    return out


def _where(path):
    text = ""
    for p in path:
        text += f"[{p}]" if isinstance(p, int) else (f".{p}" if text else p)
    return text or "top level"


class _Checker:
    def __init__(self, name, lines):
        self.name = name
        self.lines = lines

    def fail(self, path, msg):
        path = tuple(path)
        line = "?"
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                line = self.lines[path[:n]]
                break
        raise ConfigError(f"{self.name}:{line}: {_where(path)}: {msg}")

    def mapping(self, value, path, allowed=None):
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, "must be a mapping (key: value lines)")
        for key in value:
            if allowed is not None and key not in allowed:
                self.fail(tuple(path) + (str(key),),
                          f"unknown key (known: {', '.join(allowed)})")
        return value

    def seq(self, value, path):
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, "must be a list")
        return value

    def integer(self, value, path, lo, hi):
        if isinstance(value, bool) or not isinstance(value, int) \
                or not lo <= value <= hi:
            self.fail(path, f"must be a whole number from {lo} to {hi}")
        return value

    def string(self, value, path):
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str) or not value:
            self.fail(path, "must be a non-empty string")
        return value

    def port(self, value, path):
        value = self.string(value, path)
        if not PORT_RE.match(value):
            self.fail(path, f"'{value}' is not a port (type:N, e.g. ring:0; "
                      "types: phy ring vhost virtio pcap null tap memif shm "
                      "af_packet; a phy's queue Q: phy:NnqQ)")
        value = value.replace("nullpmd:", "null:")
        return value[:-3] if value.endswith("nq0") else value

    def section(self, raw, path, kind, extra=()):
        given = self.mapping(raw, path, list(extra) + list(DEFAULTS[kind]))
        return {**DEFAULTS[kind], **given}


def _check_lcores(c, value, path):
    """EAL --lcores text and {id: CPUs}, or fail naming the place."""
    value = c.string(value, path)
    try:
        return value, lcores.parse(value)
    except ValueError as e:
        c.fail(path, str(e))


def _check_primary(c, pri):
    path = ("primary",)
    pri["lcores"], _ = _check_lcores(c, pri["lcores"], path + ("lcores",))
    c.integer(pri["memory"], path + ("memory",), 64, 65536)
    c.integer(pri["rings"], path + ("rings",), 0, 64)
    for i, v in enumerate(c.seq(pri["vdevs"], path + ("vdevs",))):
        c.string(v, path + ("vdevs", i))
    mask = pri["portmask"]
    if mask is None:
        pri["portmask"] = (1 << len(pri["vdevs"])) - 1
    elif isinstance(mask, str) and re.fullmatch(r"(0x)?[0-9a-fA-F]+", mask):
        pri["portmask"] = int(mask, 16)
    elif isinstance(mask, int) and not isinstance(mask, bool):
        pri["portmask"] = mask
    else:
        c.fail(path + ("portmask",), "must be a hex mask such as \"0x3\"")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", str(pri["file_prefix"])):
        c.fail(path + ("file_prefix",), "must be letters, digits, _ or -")
    pri["queues"] = _check_queues(c, pri, path + ("queues",))


def _check_queues(c, pri, path):
    """{phy index: {"rx": R, "tx": T}} from queues: {N: Q} or {N: {rx: R,
    tx: T}} (the primary's --port-num N rxq R txq T)."""
    out = {}
    for index, n in c.mapping(pri["queues"], path).items():
        where = path + (str(index),)
        c.integer(index, where, 0, 63)
        if not pri["portmask"] >> index & 1:
            c.fail(where, f"phy:{index} is not in primary.portmask")
        if isinstance(n, dict):
            n = c.mapping(n, where, ["rx", "tx"])
            pair = {d: n.get(d, 1) for d in ("rx", "tx")}
        else:
            pair = {"rx": n, "tx": n}
        for d, count in pair.items():
            c.integer(count, where + ((d,) if isinstance(n, dict) else ()),
                      1, 64)
        out[index] = pair
    return out


def _check_secondaries(c, raw):
    out, seen = [], set()
    for i, sec in enumerate(c.seq(raw, ("secondaries",))):
        path = ("secondaries", i)
        sec = c.section(sec, path, "secondary", extra=["id"])
        if "id" not in sec:
            c.fail(path, "'id' is missing")
        c.integer(sec["id"], path + ("id",), 1, 65535)
        if sec["id"] in seen:
            c.fail(path + ("id",), f"nfv {sec['id']} is declared twice")
        seen.add(sec["id"])
        if sec["lcores"] is not None and sec["cpus"] is not None:
            c.fail(path + ("cpus",), "give lcores (ids and CPUs) or cpus "
                   "(ids picked for you), not both")
        if sec["type"] not in KINDS:
            c.fail(path + ("type",), "must be nfv, vf, mirror or pcap")
        _check_kind_keys(c, sec, path)
        out.append(sec)
    return out


def _check_kind_keys(c, sec, path):
    """What each type of secondary takes, and only that."""
    kind = sec["type"]
    takes = {"nfv": (), "vf": ("components", "classifier_table", "options"),
             "mirror": ("components", "options"), "pcap": ("capture",)}
    for key in ("components", "classifier_table", "options", "capture"):
        if sec[key] is not None and key not in takes[kind]:
            c.fail(path + (key,), f"a {kind} secondary takes no {key}")
    if kind == "pcap":
        if sec["capture"] is None:
            c.fail(path, "a pcap secondary needs 'capture' (its port)")
        _check_capture(c, sec, path + ("capture",))
    if kind in ("vf", "mirror"):
        sec["options"] = {c.port(p, path + ("options", p)):
                          c.mapping(o, path + ("options", p))
                          for p, o in c.mapping(sec["options"],
                                                path + ("options",)).items()}


def _check_capture(c, sec, path):
    cap = c.section(sec["capture"], path, "capture")
    if cap["port"] is None:
        c.fail(path, "'port' is missing: the port to capture")
    cap["port"] = c.port(cap["port"], path + ("port",))
    c.string(cap["out_dir"], path + ("out_dir",))
    c.integer(cap["fsize"], path + ("fsize",), 4096, 1 << 50)
    if cap["tap"] not in (None, "rx", "tx"):
        c.fail(path + ("tap",), "must be rx or tx (or absent: the capture "
               "takes the packets)")
    for key in ("lz4", "running"):
        if not isinstance(cap[key], bool):
            c.fail(path + (key,), "must be true or false")
    if cap["fifo"] is not None:
        c.string(cap["fifo"], path + ("fifo",))
    sec["capture"] = cap


def _component_ports(c, value, path, kind):
    """[(port, vlan)] of a component's rx or tx list."""
    out = []
    for i, item in enumerate(c.seq(value, path)):
        where = path + (i,)
        vlan = ("none", 0, 0)
        if isinstance(item, dict):
            item = c.mapping(item, where, ["port", "vlan"])
            if "port" not in item:
                c.fail(where, "'port' is missing")
            if "vlan" in item:
                if kind != "vf":
                    c.fail(where + ("vlan",), "mirror ports take no VLAN op")
                vlan = _check_vlan_op(c, item["vlan"], where + ("vlan",))
            item = item["port"]
        port = c.port(item, where)
        if port in [p for p, _ in out]:
            c.fail(where, f"{port} is given twice")
        out.append((port, vlan))
    return out


def _check_vlan_op(c, v, path):
    v = c.mapping(v, path, ["operation", "id", "pcp"])
    op = v.get("operation")
    if op == "add":
        if "id" not in v or "pcp" not in v:
            c.fail(path, "add needs id (0-4095) and pcp (0-7)")
        return ("add", c.integer(v["id"], path + ("id",), 0, 4095),
                c.integer(v["pcp"], path + ("pcp",), 0, 7))
    if op in ("del", "none"):
        return (op, 0, 0)
    c.fail(path + ("operation",), "must be add, del or none")


def _check_components(c, conf):
    """vf and mirror components: types, lcores, port counts, who reads and
    writes what; and the vf's classifier table. A ring or phy port is the
    panel's: one reader and one writer among all the secondaries."""
    shared = {"rx": {}, "tx": {}}
    for n, sec in enumerate(conf["secondaries"]):
        if sec["type"] not in COMPONENT_TYPES:
            continue
        path = ("secondaries", n)
        ids = sorted(lcores.parse(sec["lcores"]))
        workers = ids[1:] or ids
        comps, readers, writers = {}, {}, {}
        for name, comp in c.mapping(sec["components"],
                                    path + ("components",)).items():
            where = path + ("components", str(name))
            comp = c.mapping(comp, where, ["core", "type", "rx", "tx",
                                           "copy"])
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,63}", str(name)):
                c.fail(where, "a component name is 1 to 63 letters, digits, "
                       "'_', '.' or '-'")
            for key in ("core", "type"):
                if key not in comp:
                    c.fail(where, f"'{key}' is missing")
            core = c.integer(comp["core"], where + ("core",), 0, 1023)
            if core not in workers:
                c.fail(where + ("core",), f"lcore {core} is not a worker "
                       f"lcore of {sec['type']} {sec['id']} (its workers: "
                       f"{', '.join(map(str, workers))})")
            if comp["type"] not in COMPONENT_TYPES[sec["type"]]:
                c.fail(where + ("type",), "must be " + " or ".join(
                    COMPONENT_TYPES[sec["type"]]))
            rx = _component_ports(c, comp.get("rx"), where + ("rx",),
                                  sec["type"])
            tx = _component_ports(c, comp.get("tx"), where + ("tx",),
                                  sec["type"])
            for d, ports, limit in (("rx", rx, 0), ("tx", tx, 1)):
                most = PORT_LIMITS[comp["type"]][limit]
                if most is not None and len(ports) > most:
                    c.fail(where + (d,), f"a {comp['type']} component has "
                           f"at most {most} {d} port" +
                           ("s" if most > 1 else ""))
                seen = readers if d == "rx" else writers
                for port, _ in ports:
                    if port in seen:
                        c.fail(where + (d,), f"{port} is already an {d} port "
                               f"of {seen[port]}")
                    seen[port] = name
                    if port.startswith(("phy:", "ring:")):
                        _check_port_exists(c, conf, port, where + (d,))
                        who = f"{sec['type']} {sec['id']} {name}"
                        if shared[d].get(port, who).split()[:2] != \
                                who.split()[:2]:
                            c.fail(where + (d,), f"{port} is already "
                                   f"{'read' if d == 'rx' else 'written'} "
                                   f"by {shared[d][port]}")
                        shared[d][port] = who
            copy = comp.get("copy", "clone")
            if copy not in ("clone", "deep") or \
                    ("copy" in comp and comp["type"] != "mirror"):
                c.fail(where + ("copy",), "only a mirror takes copy: clone "
                       "or deep")
            comps[str(name)] = {"core": core, "type": comp["type"], "rx": rx,
                                "tx": tx, "copy": copy}
        sec["components"] = comps
        sec["classifier_table"] = _check_classifier(
            c, sec, path + ("classifier_table",))


def _check_classifier(c, sec, path):
    tx_of_classifiers = {p for comp in sec["components"].values()
                         if comp["type"] == "classifier"
                         for p, _ in comp["tx"]}
    entries, seen = [], {}
    for i, e in enumerate(c.seq(sec["classifier_table"], path)):
        where = path + (i,)
        e = c.mapping(e, where, ["mac", "vlan", "port"])
        for key in ("mac", "port"):
            if key not in e:
                c.fail(where, f"'{key}' is missing")
        mac = c.string(e["mac"], where + ("mac",)).lower()
        if mac != "default" and not MAC_RE.match(mac):
            c.fail(where + ("mac",), f"'{e['mac']}' is not a MAC address "
                   "(six two-digit hex octets, colons: 52:54:00:12:34:56) "
                   "nor default")
        vlan = None if "vlan" not in e else \
            c.integer(e["vlan"], where + ("vlan",), 0, 4095)
        port = c.port(e["port"], where + ("port",))
        if port not in tx_of_classifiers:
            c.fail(where + ("port",), f"{port} is not a tx port of a "
                   "classifier of this vf")
        if (vlan, mac) in seen:
            c.fail(where, f"{'vlan %d ' % vlan if vlan is not None else ''}"
                   f"{mac} already goes to {seen[vlan, mac]}")
        seen[vlan, mac] = port
        entries.append((vlan, mac, port))
    return entries


def _assign_lcores(c, conf):
    """Every process its own lcore ids: those given (lcores) must not
    meet; a secondary that gives cpus (default "1") gets free ones."""
    owner = {i: "the primary" for i in lcores.parse(conf["primary"]["lcores"])}
    for n, sec in enumerate(conf["secondaries"]):
        if sec["lcores"] is None:
            continue
        path = ("secondaries", n, "lcores")
        sec["lcores"], ids = _check_lcores(c, sec["lcores"], path)
        for i in ids:
            if i in owner:
                c.fail(path, f"lcore {i} is already {owner[i]}'s: give each "
                       "process lcore ids of its own (several may share "
                       "a CPU: \"ID@CPU\"), or cpus: \"N\" to have "
                       "them picked")
            owner[i] = f"{sec['type']} {sec['id']}"
    for n, sec in enumerate(conf["secondaries"]):
        if sec["lcores"] is None:
            cpus = c.string(sec["cpus"] or "1", ("secondaries", n, "cpus"))
            try:
                sec["lcores"] = lcores.on_cpus(cpus, owner)
            except ValueError as e:
                c.fail(("secondaries", n, "cpus"), str(e))
            owner.update({i: f"{sec['type']} {sec['id']}"
                          for i in lcores.parse(sec["lcores"])})


def _check_guests(c, raw, kind, section):
    out = []
    for i, guest in enumerate(c.seq(raw, (section,))):
        path = (section, i)
        g = c.section(guest, path, kind, extra=["id"])
        if "id" not in g:
            c.fail(path, "'id' is missing")
        c.integer(g["id"], path + ("id",), 1, 255)
        g["ports"] = [c.port(p, path + ("ports", j))
                      for j, p in enumerate(c.seq(g["ports"], path + ("ports",)))]
        out.append(g)
    return out


def _chain_patches(c, name, chain, path):
    """[(nfv, src, dst)] from hops or from explicit patches."""
    if ("hops" in chain) == ("patches" in chain):
        c.fail(path, "give either 'hops' or 'patches'")
    if "patches" in chain:
        out = []
        for i, patch in enumerate(c.seq(chain["patches"], path + ("patches",))):
            pp = path + ("patches", i)
            patch = c.mapping(patch, pp, ["nfv", "src", "dst"])
            for key in ("nfv", "src", "dst"):
                if key not in patch:
                    c.fail(pp, f"'{key}' is missing")
            out.append((c.integer(patch["nfv"], pp + ("nfv",), 1, 65535),
                        c.port(patch["src"], pp + ("src",)),
                        c.port(patch["dst"], pp + ("dst",)), pp))
        return out
    hops = c.seq(chain["hops"], path + ("hops",))
    if len(hops) < 3 or len(hops) % 2 == 0:
        c.fail(path + ("hops",), "must be a list: port, nfv N, port[, nfv N, "
               "port ...]")
    for i in range(0, len(hops), 2):
        hops[i] = c.port(hops[i], path + ("hops", i))
    out = []
    for i in range(1, len(hops), 2):
        m = NFV_RE.match(c.string(hops[i], path + ("hops", i)))
        if not m:
            c.fail(path + ("hops", i), f"'{hops[i]}' is not a secondary "
                   "(nfv N)")
        out.append((int(m.group(1)), hops[i - 1], hops[i + 1],
                    path + ("hops", i)))
    return out


def _nodes(conf):
    """{nfv id: node}: "host" for secondaries, "vm N" for guests' nfvs."""
    nodes = {s["id"]: "host" for s in conf["secondaries"]
             if s["type"] == "nfv"}
    for vm in conf["vms"]:
        if vm["app"] == "nfv" and vm["secondary"] is not None:
            nodes[vm["secondary"]] = f"vm {vm['id']}"
    return nodes


def _check_port_exists(c, conf, port, where):
    """A host port the primary must have made."""
    rings, mask = conf["primary"]["rings"], conf["primary"]["portmask"]
    kind, index = port.split(":")
    index, _, queue = index.partition("nq")
    if kind == "ring" and int(index) >= rings:
        c.fail(where, f"{port} does not exist: primary.rings is {rings}")
    if kind == "phy" and not mask >> int(index) & 1:
        c.fail(where, f"{port} is not in primary.portmask")
    queues = conf["primary"]["queues"].get(int(index), {"rx": 1, "tx": 1})
    if kind == "phy" and int(queue or 0) >= max(queues.values()):
        c.fail(where, f"{port} does not exist: phy:{index} has "
               f"{queues['rx']} rx and {queues['tx']} tx queues "
               "(primary.queues)")


def _check_chains(c, raw, conf):
    """Each chain's patches, checked against the panel and each other.
    Ports are named per node: a guest's phy:0 is not the host's."""
    nodes = _nodes(conf)
    owner = {}                # (node, port) -> chain using it
    readers, writers = {}, {}  # (node, port) -> nfv reading / writing it
    chains = {}
    for name, chain in c.mapping(raw, ("chains",)).items():
        path = ("chains", str(name))
        chain = c.mapping(chain, path, ["hops", "patches", "options"])
        patches = _chain_patches(c, name, chain, path)
        ports = set()
        for nfv, src, dst, where in patches:
            kinds = {x["id"]: x["type"] for x in conf["secondaries"]}
            if nfv not in nodes and nfv in kinds:
                c.fail(where, f"secondary {nfv} is a {kinds[nfv]}, not an "
                       "nfv: chains patch through nfvs (a vf or mirror "
                       "declares its components instead)")
            if nfv not in nodes:
                c.fail(where, f"nfv {nfv} is not declared under secondaries "
                       "(nor as a VM's secondary)")
            node = nodes[nfv]
            for port in (src, dst):
                if node == "host":
                    _check_port_exists(c, conf, port, where)
                key = (node, port)
                if owner.get(key, name) != name:
                    c.fail(where, f"{port} is already in chain "
                           f"'{owner[key]}': a port belongs to one chain")
                owner[key] = name
                ports.add(port)
            if (node, src) in readers:
                c.fail(where, f"{src} is already read by nfv "
                       f"{readers[node, src]}: one reader per port")
            if writers.get((node, dst), nfv) != nfv:
                c.fail(where, f"{dst} already has a writer, nfv "
                       f"{writers[node, dst]}: a ring has one writer")
            readers[node, src], writers[node, dst] = nfv, nfv
        options = c.mapping(chain.get("options"), path + ("options",))
        for port, opts in options.items():
            if c.port(port, path + ("options", port)) not in ports:
                c.fail(path + ("options", port), f"{port} is not in this chain")
            c.mapping(opts, path + ("options", port))
        chains[str(name)] = {"patches": [p[:3] for p in patches],
                             "options": options}
    return chains


def _check_guest_ports(c, conf):
    """A guest's ports are host ports: vhost (its virtio-nets) or shm (its
    ivshmem regions), each in one guest only."""
    seen = {}
    for kind in ("vms", "containers"):
        for i, g in enumerate(conf[kind]):
            for j, port in enumerate(g["ports"]):
                where = (kind, i, "ports", j)
                if not port.startswith(("vhost:", "shm:")) or \
                        (kind == "containers" and port.startswith("shm:")):
                    c.fail(where, f"{port}: a guest attaches to vhost ports"
                           + (" or shm ports" if kind == "vms" else ""))
                if port in seen:
                    c.fail(where, f"{port} is already attached to {seen[port]}")
                seen[port] = f"{kind[:-1]} {g['id']}"
            if g["app"] not in ("testpmd", "nfv") or \
                    (kind == "containers" and g["app"] != "testpmd"):
                c.fail((kind, i, "app"), "must be testpmd" +
                       (" or nfv" if kind == "vms" else ""))
            if g["app"] == "nfv" and g["secondary"] is None:
                c.fail((kind, i), "a VM running nfv needs 'secondary' (its id)")


def _check_guests_served(c, conf):
    """A guest's vhost or shm port exists only if a host secondary adds
    it, i.e. if it is in a chain of the host's."""
    host = {s["id"] for s in conf["secondaries"] if s["type"] == "nfv"}
    served = {p for ch in conf["chains"].values()
              for nfv, src, dst in ch["patches"] if nfv in host
              for p in (src, dst)}
    served |= {p for s in conf["secondaries"]
               for comp in (s["components"] or {}).values()
               for p, _ in comp["rx"] + comp["tx"]}
    for kind in ("vms", "containers"):
        for i, g in enumerate(conf[kind]):
            for j, port in enumerate(g["ports"]):
                if port not in served:
                    c.fail((kind, i, "ports", j), f"{port} is in no chain "
                           "of a host secondary, so nothing serves it")


def compose(text, name="conf.yml"):
    """(raw, lines) of a conf's text: its YAML's dict and {path: line}
    for messages; ConfigError names the line of what cannot be read."""
    try:
        _check_nesting(text, name)
        node = yaml.compose(text)
        lines = _lines(node, name) if node is not None else {(): 1}
        return yaml.safe_load(text), lines
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else "?"
        raise ConfigError(f"{name}:{line}: not valid YAML: "
                          f"{getattr(e, 'problem', None) or e}") from None


def parse(text, name="conf.yml"):
    raw, lines = compose(text, name)
    return check(raw, name, lines)


def check(raw, name="conf.yml", lines=None):
    """A conf from its YAML's dict (lines: {path: line} for messages)."""
    c = _Checker(name, lines or {})
    raw = c.mapping(raw, (), SECTIONS)
    conf = {"controller": c.section(raw.get("controller"), ("controller",),
                                    "controller"),
            "primary": c.section(raw.get("primary"), ("primary",), "primary")}
    for key in ("api_port", "pri_port", "sec_port"):
        c.integer(conf["controller"][key], ("controller", key), 1, 65535)
    _check_primary(c, conf["primary"])
    conf["secondaries"] = _check_secondaries(c, raw.get("secondaries"))
    _assign_lcores(c, conf)
    conf["vms"] = _check_guests(c, raw.get("vms"), "vm", "vms")
    conf["containers"] = _check_guests(c, raw.get("containers"), "container",
                                       "containers")
    _check_guest_ports(c, conf)
    _check_components(c, conf)
    conf["chains"] = _check_chains(c, raw.get("chains"), conf)
    _check_guests_served(c, conf)
    return conf


def read(path):
    """(raw, lines) of a conf file, as compose() gives them."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    try:
        text = data.decode()
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text") from None
    return compose(text, path)


def load(path):
    raw, lines = read(path)
    return check(raw, path, lines)


def guest_nfvs(conf):
    """{nfv id: vm} of the VMs that run patchbay's nfv."""
    return {vm["secondary"]: vm for vm in conf["vms"] if vm["app"] == "nfv"}


def desired_forwarders(conf):
    """{nfv id: Desired} that conf's chains ask for, host and guests."""
    from .state import Desired
    nfvs = [s for s in conf["secondaries"] if s["type"] == "nfv"]
    wanted = {s["id"]: Desired() for s in nfvs}
    for sec in nfvs:
        wanted[sec["id"]].forwarding = sec["forward"]
    for nid in guest_nfvs(conf):
        wanted[nid] = Desired()
        wanted[nid].forwarding = True
    for chain in conf["chains"].values():
        for nfv, src, dst in chain["patches"]:
            for port in (src, dst):
                if not port.startswith("phy:"):
                    opts = chain["options"].get(port) or {}
                    wanted[nfv].ports[port] = dict(opts)
            wanted[nfv].patches[src] = dst
    return wanted
