"""Topologies generated from counts, on top of a conf.yml:

- wakeup's -ns/-nr/-nv (the SPP runner's options): so many secondaries,
  ring VMs and vhost VMs; missing ones are added, each guest in a chain;
- BESS's knobs: BESS_VMS guests x BESS_PORTS ports x BESS_QUEUES queues;
  every guest port gets BESS_PKT_SIZE-byte packets from a null source (of
  64 UDP flows when there are several queues, spread over them) and
  what it returns is counted and discarded by a null sink (`monitor`).

Both return a new raw conf (the YAML's dict) for config.check."""

import copy


def _next_free(used, start=0):
    n = start
    while n in used:
        n += 1
    used.add(n)
    return n


def _port_indices(raw, kind):
    used = set()
    for chain in (raw.get("chains") or {}).values():
        for hop in chain.get("hops", []):
            if str(hop).startswith(kind + ":"):
                used.add(int(str(hop).split(":")[1]))
        for p in chain.get("patches", []):
            for key in ("src", "dst"):
                if str(p.get(key, "")).startswith(kind + ":"):
                    used.add(int(p[key].split(":")[1]))
    for vm in (raw.get("vms") or []) + (raw.get("containers") or []):
        for port in vm.get("ports", []):
            if str(port).startswith(kind + ":"):
                used.add(int(str(port).split(":")[1]))
    return used


def _is_ring_vm(vm):
    return any(str(p).startswith("shm:") for p in vm.get("ports", []))


def counts(raw, nof_sec=None, nof_ring=None, nof_vhost=None):
    """raw with exactly so many secondaries / ring VMs / vhost VMs."""
    raw = copy.deepcopy(raw)
    raw.setdefault("chains", {})
    secs = raw.setdefault("secondaries", [])
    if nof_sec is not None:
        ids = {s["id"] for s in secs[:nof_sec]}
        raw["secondaries"] = secs[:nof_sec]
        while len(raw["secondaries"]) < nof_sec:
            sid = _next_free(ids, 1)
            raw["secondaries"].append({"id": sid, "cpus": str(sid % 2)})
        # chains through dropped secondaries go too
        keep = {s["id"] for s in raw["secondaries"]}
        raw["chains"] = {n: c for n, c in raw["chains"].items()
                         if all(int(h.split()[1]) in keep
                                for h in c.get("hops", [])[1::2])
                         and all(p["nfv"] in keep
                                 for p in c.get("patches", []))}
    server = raw["secondaries"][0]["id"] if raw["secondaries"] else None
    vms = raw.setdefault("vms", [])
    vm_ids = {vm["id"] for vm in vms}
    sec_ids = {s["id"] for s in raw["secondaries"]} | \
        {vm.get("secondary") for vm in vms}
    for want, ring in ((nof_ring, True), (nof_vhost, False)):
        if want is None:
            continue
        same = [vm for vm in vms if _is_ring_vm(vm) == ring]
        others = [vm for vm in vms if _is_ring_vm(vm) != ring]
        kept = same[:want]
        for vm in same[want:]:
            raw["chains"] = {n: c for n, c in raw["chains"].items()
                             if not set(vm["ports"]) & set(map(str, c.get("hops", [])))}
        while len(kept) < want:
            if server is None:
                raise ValueError("a generated guest needs a secondary to "
                                 "serve its ports (-ns 1 or more)")
            vid = _next_free(vm_ids, 1)
            kept.append(_ring_vm(raw, vid, server, sec_ids) if ring
                        else _vhost_vm(raw, vid, server))
        vms = others + kept
    raw["vms"] = sorted(vms, key=lambda vm: vm["id"])
    return raw


def _vhost_vm(raw, vid, server):
    """A testpmd guest on two new vhost ports, chained back to back."""
    a, b = (_next_free(_port_indices(raw, "vhost")) for _ in range(2))
    raw["chains"][f"vm{vid}"] = {"hops": [f"vhost:{b}", f"nfv {server}",
                                          f"vhost:{a}"]}
    return {"id": vid, "ports": [f"vhost:{a}", f"vhost:{b}"],
            "app": "testpmd"}


def _ring_vm(raw, vid, server, sec_ids):
    """A guest running nfv on a new shm region; both sides loop it."""
    k = _next_free(_port_indices(raw, "shm"))
    guest = _next_free(sec_ids, 10 + vid)
    raw["chains"][f"vm{vid}-host"] = {"hops": [f"shm:{k}", f"nfv {server}",
                                               f"shm:{k}"]}
    raw["chains"][f"vm{vid}-guest"] = {"hops": ["shm:0", f"nfv {guest}",
                                                "shm:0"]}
    return {"id": vid, "ports": [f"shm:{k}"], "app": "nfv",
            "secondary": guest}


def bess(raw, env):
    """The BESS vhost.bess topology, if BESS_VMS is set; else raw."""
    if "BESS_VMS" not in env:
        return raw
    raw = copy.deepcopy(raw)
    nvms = int(env["BESS_VMS"])
    nports = int(env.get("BESS_PORTS", 2))
    queues = int(env.get("BESS_QUEUES", 1))
    size = int(env.get("BESS_PKT_SIZE", 60))
    server = (raw.get("secondaries") or [{"id": 1}])[0]["id"]
    raw["vms"], raw["chains"], raw["containers"] = [], {}, []
    # several queues: a source of many flows, for the vhost port to spread
    # over the guest's queues by flow (one flow stays on one queue)
    source = {"size": size} if queues == 1 else \
        {"size": max(size, 60), "flows": 64}
    port = 0
    for vid in range(1, nvms + 1):
        ports = []
        for _ in range(nports):
            ports.append(f"vhost:{port}")
            raw["chains"][f"vm{vid}-port{port}"] = {
                "patches": [{"nfv": server, "src": f"null:{port}",
                             "dst": f"vhost:{port}"},
                            {"nfv": server, "src": f"vhost:{port}",
                             "dst": f"null:{port}"}],
                "options": {f"null:{port}": source}}
            port += 1
        raw["vms"].append({"id": vid, "ports": ports, "app": "testpmd",
                           "queues": queues})
    return raw
