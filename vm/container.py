"""Containers: a DPDK app in namespaces of its own, attached to the
panel's vhost-user ports through virtio_user (DPDK's container-networking
model). No container engine runs on these machines, so a container here
is `unshare` (mount, pid, net, uts namespaces) with each vhost socket
bind-mounted into a private /run/patchbay, and its own --file-prefix.
"""

import glob
import os
import shlex
import shutil
import signal
import time

from procutil import end, read_pidfile, spawn

READY = "forwards packets on"


class ContainerError(Exception):
    pass


class Spec:
    def __init__(self, cid, ports=(), rundir="/tmp", **kw):
        env = os.environ
        self.id = cid
        self.ports = list(ports)           # host vhost-user socket paths
        self.rundir = rundir
        self.lcores = kw.get("lcores", "0,1")  # testpmd: main + forwarding
        self.memory = int(kw.get("memory", 256))
        self.fwd_mode = kw.get("fwd_mode", env.get("FWD_MODE",
                                                   "macswap retry"))
        self.huge_dir = kw.get("hugepages_path",
                               env.get("HUGEPAGES_PATH", "/dev/hugepages"))
        # the container's virtio_user ports serve their sockets (the
        # panel's vhost ports are then clients) instead of dialling them
        self.server = bool(kw.get("server", False))
        self.prefix = f"pbcontainer{cid}"

    def path(self, what):
        return os.path.join(self.rundir, f"container{self.id}.{what}")


def _inner_script(spec):
    """What runs inside the namespaces: private mounts, then testpmd."""
    lines = ["set -e", "mount --make-rprivate /",
             "mount -t tmpfs -o mode=0700 patchbay /run/patchbay"
             " 2>/dev/null || { mkdir -p /run/patchbay;"
             " mount -t tmpfs -o mode=0700 patchbay /run/patchbay; }"]
    vdevs = []
    for i, sock in enumerate(spec.ports):
        if spec.server:
            # it makes the socket: share the folder it goes in, so the
            # panel's vhost client finds it where it looks
            folder = f"/run/patchbay/port{i}.d"
            inside = f"{folder}/{os.path.basename(sock)}"
            lines += [f"mkdir {folder}", "mount --bind " +
                      shlex.quote(os.path.dirname(os.path.abspath(sock))) +
                      f" {folder}"]
        else:
            inside = f"/run/patchbay/port{i}.sock"
            lines += [f"touch {inside}",
                      f"mount --bind {shlex.quote(sock)} {inside}"]
        vdevs += ["--vdev", f"virtio_user{i},path={inside},"
                  "queue_size=1024" + (",server=1" if spec.server else "")]
    cmds = spec.path("testpmd.cmds")
    argv = (["stdbuf", "-oL", "-eL", "dpdk-testpmd", "-l", spec.lcores,
             "-m", str(spec.memory), "--no-pci", "--file-prefix", spec.prefix,
             "--huge-dir", spec.huge_dir, "--single-file-segments"] + vdevs +
            ["--", f"--cmdline-file={cmds}", "--auto-start",
             "--stats-period", "10", "--rxd", "1024", "--txd", "1024"])
    lines.append("exec " + " ".join(shlex.quote(a) for a in argv))
    return "\n".join(lines)


def start(spec, timeout=60):
    """Start the container; return the pid of its unshare."""
    os.makedirs(spec.rundir, exist_ok=True)
    with open(spec.path("testpmd.cmds"), "w") as f:
        f.write(f"set fwd {spec.fwd_mode}\n")
    argv = ["unshare", "--mount", "--pid", "--net", "--uts", "--fork",
            "--mount-proc", "--kill-child=SIGTERM",
            "sh", "-c", _inner_script(spec)]
    proc = spawn(argv, spec.path("log"), spec.path("pid"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if READY in log_of(spec):
            return proc.pid
        if proc.poll() is not None:
            raise ContainerError(f"container {spec.id} exited "
                                 f"({proc.returncode}):\n{log_of(spec)[-2000:]}")
        time.sleep(0.2)
    stop(spec)
    raise ContainerError(f"container {spec.id} not ready after {timeout}s")


def log_of(spec):
    try:
        with open(spec.path("log"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def pid_of(spec):
    return read_pidfile(spec.path("pid"))


def _terminate(unshare_pid):
    """SIGTERM to the container's first process, testpmd: `unshare --fork`
    itself ignores SIGTERM and waits for its child (were it killed,
    --kill-child would pass SIGTERM on)."""
    try:
        with open(f"/proc/{unshare_pid}/task/{unshare_pid}/children") as f:
            inside = [int(c) for c in f.read().split()]
    except OSError:
        inside = []
    for pid in inside or [unshare_pid]:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def stop(spec, timeout=10):
    """End testpmd, then remove what its DPDK left: hugepage files and
    runtime directory."""
    pid = pid_of(spec)
    if pid is not None:
        end(pid, lambda: _terminate(pid), timeout)
    for f in glob.glob(os.path.join(spec.huge_dir, f"{spec.prefix}map_*")):
        os.unlink(f)
    shutil.rmtree(f"/var/run/dpdk/{spec.prefix}", ignore_errors=True)
    if os.path.exists(spec.path("pid")):
        os.unlink(spec.path("pid"))
