"""conf.yml: the panel and its chains, declared (docs/conf.md).

load() reads and checks the file and returns plain dicts with defaults
filled in; every problem is reported with where it is, e.g.
"conf.yml: chains.default.hops[2]: 'ring0' is not a port (type:N)".
chain_patches() turns a chain into the patches that make it.
"""

import re

import yaml

PORT_RE = re.compile(r"^(phy|ring|vhost|virtio|pcap|null|nullpmd|tap|memif)"
                     r":(0|[1-9][0-9]{0,3})$")
NFV_RE = re.compile(r"^nfv\s+([1-9][0-9]*)$")

DEFAULTS = {
    "controller": {"bind": "127.0.0.1", "pri_port": 5555, "sec_port": 6666,
                   "api_port": 7777},
    "primary": {"lcores": "0", "memory": 512, "vdevs": [], "portmask": None,
                "rings": 4},
}


class ConfigError(Exception):
    pass


class _Checker:
    def __init__(self, path):
        self.path = path

    def fail(self, where, msg):
        raise ConfigError(f"{self.path}: {where}: {msg}")

    def mapping(self, value, where):
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(where, "must be a mapping (key: value lines)")
        return value

    def keys(self, value, where, allowed):
        for key in value:
            if key not in allowed:
                self.fail(f"{where}.{key}" if where else key,
                          f"unknown key (known: {', '.join(allowed)})")

    def integer(self, value, where, lo, hi):
        if isinstance(value, bool) or not isinstance(value, int) \
                or not lo <= value <= hi:
            self.fail(where, f"must be a whole number from {lo} to {hi}")
        return value

    def string(self, value, where):
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str) or not value:
            self.fail(where, "must be a non-empty string")
        return value


def _check_section(c, raw, name):
    section = dict(DEFAULTS[name])
    given = c.mapping(raw.get(name), name)
    c.keys(given, name, list(DEFAULTS[name]))
    section.update(given)
    return section


def _check_primary(c, pri):
    pri["lcores"] = c.string(pri["lcores"], "primary.lcores")
    c.integer(pri["memory"], "primary.memory", 64, 65536)
    c.integer(pri["rings"], "primary.rings", 0, 64)
    if not isinstance(pri["vdevs"], list):
        c.fail("primary.vdevs", "must be a list of vdev arguments")
    for i, v in enumerate(pri["vdevs"]):
        c.string(v, f"primary.vdevs[{i}]")
    mask = pri["portmask"]
    if mask is None:
        pri["portmask"] = (1 << len(pri["vdevs"])) - 1
    elif isinstance(mask, str) and re.fullmatch(r"(0x)?[0-9a-fA-F]+", mask):
        pri["portmask"] = int(mask, 16)
    elif isinstance(mask, int) and not isinstance(mask, bool):
        pri["portmask"] = mask
    else:
        c.fail("primary.portmask", "must be a hex mask such as \"0x3\"")


def _check_secondaries(c, raw):
    secs = raw.get("secondaries") or []
    if not isinstance(secs, list):
        c.fail("secondaries", "must be a list")
    seen = set()
    out = []
    for i, sec in enumerate(secs):
        where = f"secondaries[{i}]"
        sec = c.mapping(sec, where)
        c.keys(sec, where, ["id", "lcores", "vhost_client"])
        if "id" not in sec:
            c.fail(where, "'id' is missing")
        sid = c.integer(sec["id"], f"{where}.id", 1, 65535)
        if sid in seen:
            c.fail(f"{where}.id", f"nfv {sid} is declared twice")
        seen.add(sid)
        out.append({"id": sid,
                    "lcores": c.string(sec.get("lcores", "1"),
                                       f"{where}.lcores"),
                    "vhost_client": bool(sec.get("vhost_client", False))})
    return out


def _check_chain(c, name, chain, nfv_ids):
    where = f"chains.{name}"
    chain = c.mapping(chain, where)
    c.keys(chain, where, ["hops", "options"])
    hops = chain.get("hops")
    if not isinstance(hops, list) or len(hops) < 3 or len(hops) % 2 == 0:
        c.fail(f"{where}.hops", "must be a list: port, nfv N, port[, nfv N, "
               "port ...]")
    for i, hop in enumerate(hops):
        hw = f"{where}.hops[{i}]"
        hop = c.string(hop, hw)
        if i % 2 == 0 and not PORT_RE.match(hop):
            c.fail(hw, f"'{hop}' is not a port (type:N, e.g. ring:0)")
        if i % 2 == 1:
            m = NFV_RE.match(hop)
            if not m:
                c.fail(hw, f"'{hop}' is not a secondary (nfv N)")
            if int(m.group(1)) not in nfv_ids:
                c.fail(hw, f"{hop} is not declared under secondaries")
    options = c.mapping(chain.get("options"), f"{where}.options")
    for port, opts in options.items():
        if not PORT_RE.match(str(port)):
            c.fail(f"{where}.options.{port}", "is not a port (type:N)")
        c.mapping(opts, f"{where}.options.{port}")
    return {"hops": hops, "options": options}


def load(path):
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" \
            if mark else "?"
        raise ConfigError(f"{path}: {where}: not valid YAML: "
                          f"{getattr(e, 'problem', e)}") from None
    c = _Checker(path)
    raw = c.mapping(raw, "top level")
    c.keys(raw, "", ["controller", "primary", "secondaries", "vms",
                     "containers", "chains"])
    conf = {"controller": _check_section(c, raw, "controller"),
            "primary": _check_section(c, raw, "primary")}
    for key in ("api_port", "pri_port", "sec_port"):
        c.integer(conf["controller"][key], f"controller.{key}", 1, 65535)
    _check_primary(c, conf["primary"])
    conf["secondaries"] = _check_secondaries(c, raw)
    ids = {s["id"] for s in conf["secondaries"]}
    chains = c.mapping(raw.get("chains"), "chains")
    conf["chains"] = {str(n): _check_chain(c, n, ch, ids)
                      for n, ch in chains.items()}
    conf["vms"] = raw.get("vms") or []
    conf["containers"] = raw.get("containers") or []
    return conf


def chain_patches(chain):
    """[(nfv id, src, dst), ...] for a chain's hops."""
    hops = chain["hops"]
    return [(int(NFV_RE.match(hops[i]).group(1)), hops[i - 1], hops[i + 1])
            for i in range(1, len(hops), 2)]
