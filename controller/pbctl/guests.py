"""The VMs and containers conf.yml declares, as vm/qemu.py and
vm/container.py start them: which host sockets and regions they attach to,
and what their own nfv's ports need."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "vm"))

import container  # noqa: E402
import qemu  # noqa: E402
from procutil import alive, read_pidfile, write_pidfile  # noqa: E402,F401

DEFAULT_PATHS = {"vhost": "/tmp/sock{}", "shm": "/dev/shm/patchbay-shm{}"}


def host_port_options(conf, port):
    """The options a host secondary adds port with (from the chains)."""
    for chain in conf["chains"].values():
        if port in chain["options"]:
            return chain["options"][port] or {}
    return {}


def host_path(conf, port):
    """The vhost socket or shm region file behind a host port."""
    kind, index = port.split(":")
    return host_port_options(conf, port).get(
        "path", DEFAULT_PATHS[kind].format(index))


def vm_spec(conf, vm, rundir):
    ports = [p for p in vm["ports"] if p.startswith("vhost:")]
    regions = [p for p in vm["ports"] if p.startswith("shm:")]
    client = any(host_port_options(conf, p).get("client") for p in ports)
    return qemu.Spec(vm["id"], ports=[host_path(conf, p) for p in ports],
                     ivshmem=[host_path(conf, p) for p in regions],
                     rundir=rundir, client=client, app=vm["app"],
                     fwd_mode=vm["fwd_mode"], vcpus=vm["vcpus"],
                     queues=vm["queues"], vq_size=vm["vq_size"],
                     memory=vm["memory"], secondary=vm["secondary"],
                     controller_port=conf["controller"]["sec_port"])


def container_spec(conf, c, rundir):
    return container.Spec(c["id"], ports=[host_path(conf, p)
                                          for p in c["ports"]],
                          rundir=rundir, lcores=c["lcores"],
                          fwd_mode=c["fwd_mode"])


def guest_port_options(vm, port):
    """In a guest's nfv, shm:i is the i-th region the VM was given."""
    if port.startswith("shm:"):
        return {"pci": qemu.IVSHMEM_ADDR.format(8 + int(port.split(":")[1]))}
    return {}


def specs(conf, rundir):
    """[(kind, id, spec, start, stop, pid_of)] of every guest."""
    out = []
    for vm in conf["vms"]:
        out.append(("vm", vm["id"], vm_spec(conf, vm, rundir), qemu.start,
                    qemu.stop, qemu.pid_of))
    for c in conf["containers"]:
        out.append(("container", c["id"], container_spec(conf, c, rundir),
                    container.start, container.stop, container.pid_of))
    return out
