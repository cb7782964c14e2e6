"""What spp-ctl's /v1/cpu_layout and /v1/cpu_usage answer, which SPP's
CLI reads for `pri; launch` and `lcores`."""

import os

SYSFS_CPUS = "/sys/devices/system/cpu"


def _read_int(path):
    with open(path) as f:
        return int(f.read())


def layout(sysfs=SYSFS_CPUS):
    """[{"socket_id", "cores": [{"core_id", "lcores": [cpu, ..]}]}]: the
    CPUs online, grouped by socket, then by core (a core's hyperthreads
    share it), as DPDK's cpu_layout tool groups them."""
    sockets = {}
    for cpu in range(os.cpu_count() or 1):
        topo = f"{sysfs}/cpu{cpu}/topology"
        try:
            core = _read_int(f"{topo}/core_id")
            socket = _read_int(f"{topo}/physical_package_id")
        except (OSError, ValueError):
            continue           # offline, or no topology to say
        sockets.setdefault(socket, {}).setdefault(core, []).append(cpu)
    return [{"socket_id": s,
             "cores": [{"core_id": c, "lcores": cpus}
                       for c, cpus in sorted(cores.items())]}
            for s, cores in sorted(sockets.items())]


def usage_entry(role, proc_id, status):
    """One process's lcores from its status, in spp-ctl's shape."""
    if role == "primary":
        lcores = status["lcores"]
        return {"proc-type": role, "master-lcore": lcores[0],
                "lcores": lcores}
    entry = {"proc-type": role, "client-id": proc_id}
    info = status.get("info", status)       # vf, mirror, pcap: SPP's info
    entry["master-lcore"] = info["master-lcore"]
    if "core" in info:
        entry["lcores"] = [info["master-lcore"]] + \
            [c["core"] for c in info["core"]]
    else:
        entry["lcores"] = status["lcores"]
    return entry
