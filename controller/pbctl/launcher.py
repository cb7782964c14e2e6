"""Start and stop a whole panel on this host: the controller, the primary
and the secondaries, as child processes ended by their PIDs.

Used by the tests, the demo and the run scripts. Every panel has its own
DPDK --file-prefix, so panels never share hugepage files, and stop()
removes the files, runtime directory and sockets it made.
"""

import glob
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

from . import auth, identity, lcores, spp
from .client import Client
from .guests import alive, read_pidfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
# PATCHBAY_BUILD: run other builds of the C processes (make sanitize's)
BUILD = os.environ.get("PATCHBAY_BUILD") or os.path.join(ROOT, "build")


def primary_eal_extra():
    """PATCHBAY_PRIMARY_EAL: more EAL options for every primary started
    here, e.g. --base-virtaddr where secondaries' address spaces differ
    (sanitizer builds)."""
    return shlex.split(os.environ.get("PATCHBAY_PRIMARY_EAL", ""))


def valgrind(*options):
    """The argv prefix for a process of the panel under valgrind. valgrind
    runs one thread at a time, and its default lock is not fair: a thread
    that never blocks (the forwarding worker) takes it back at every
    switch, and the command thread, which waits for the worker's
    quiescent state, never runs again. --fair-sched=yes hands the lock
    round in turn."""
    return ["valgrind", "--fair-sched=yes", *options]


# EAL options for a primary whose secondaries run under valgrind. A
# secondary maps the primary's memseg lists at the primary's addresses;
# DPDK reserves 64 GB of them, so the last list reaches past 64 GB, where
# valgrind's own memory starts and grows by an amount that differs between
# binaries and runs. --legacy-mem hands back every list the primary's -m
# does not use: one 16 GB list, far below it.
VALGRIND_PRIMARY_EAL = ("--legacy-mem",)

HUGE_DIR = os.environ.get("HUGEPAGES_PATH", "/dev/hugepages")
RUNTIME_DIR = "/var/run/dpdk"


_PORTS_GIVEN = set()


def free_port():
    """A TCP port of 127.0.0.1 nobody listens on, for a server started
    next. Not one of the kernel's ephemeral ports (bind to port 0 gives
    those): an outgoing connection may take one as its local port before
    the server binds it. Never the same port twice in one process."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral = int(f.read().split()[0])
    pick = random.SystemRandom()
    for _ in range(1000):
        port = pick.randrange(1024, ephemeral)
        if port in _PORTS_GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_GIVEN.add(port)
        return port
    raise PanelError("no free TCP port below the ephemeral range "
                     f"(1024..{ephemeral - 1})")


def end_process(proc, sig, timeout):
    """Signal proc (a Popen) and wait for it; SIGKILL if it has not ended
    within timeout seconds."""
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class PanelError(Exception):
    pass


class Panel:
    def __init__(self, workdir, prefix=None, ports=None, detach=False):
        """detach: the processes outlive us (new sessions), as apply's do."""
        self.workdir = workdir
        self.prefix = prefix or f"pb{os.getpid()}x{int(time.time()*1000)%100000}"
        self.pri_port, self.sec_port, self.api_port = \
            ports or (free_port(), free_port(), free_port())
        self.client = Client("127.0.0.1", self.api_port)
        self.procs = {}          # name -> Popen, in start order
        self.lcore_ids = {}      # name -> the lcore ids it runs on
        self.killed = set()      # names ended on purpose by kill()
        self.detach = detach
        self.controllers = 0     # how many times we started one

    # ---- processes --------------------------------------------------------

    def _spawn(self, name, argv):
        private_dir(self.workdir)
        with open(os.path.join(self.workdir, f"{name}.log"), "ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL,
                                    start_new_session=self.detach)
        self.procs[name] = proc
        return proc

    def log(self, name):
        try:
            with open(os.path.join(self.workdir, f"{name}.log"),
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def lcores(self, name, cpus):
        """EAL's --lcores for process name on cpus ("1", "0,1"): an lcore id
        of its own for each CPU, never another live process's (they share
        the pool's per-lcore caches). A restarted process gets its ids
        back."""
        taken = {i for other, ids in self.lcore_ids.items()
                 if other != name for i in ids}
        spec = lcores.on_cpus(cpus, taken)
        self.lcore_ids[name] = list(lcores.parse(spec))
        return spec

    def eal_args(self, lcores, mem=None, no_pci=True, huge_dir=None):
        """lcores: EAL's --lcores ("1", "3@0", "3@0,4@1")."""
        args = ["--lcores", lcores, "--file-prefix", self.prefix,
                "--single-file-segments", "--huge-dir", huge_dir or HUGE_DIR]
        if no_pci:
            args.append("--no-pci")
        if mem is not None:
            args += ["-m", str(mem)]
        return args

    def start_controller(self, bind="127.0.0.1"):
        for port in (self.pri_port, self.sec_port, self.api_port):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    raise PanelError(f"port {port} is in use (another "
                                     "patchbay-ctl running?)") from None
        if self.controllers == 0:     # a new panel: nothing desired yet
            remove_files(auth.desired_path(self.sec_port))
        self.controllers += 1
        if bind not in ("127.0.0.1", "0.0.0.0", "::"):
            self.client = Client(bind, self.api_port)
        self._spawn("ctl", [sys.executable,
                            os.path.join(ROOT, "controller", "patchbay-ctl"),
                            "-b", bind, "-p", str(self.pri_port),
                            "-s", str(self.sec_port), "-a", str(self.api_port)])
        self._wait(self.client.reachable, "controller's REST API", "ctl")

    def start_primary(self, vdevs=(), portmask=None, rings=4, cpus="0",
                      mem=512, wait=True, no_pci=True, huge_dir=None,
                      wrapper=(), eal_extra=(), timeout=30, app_extra=(),
                      lcores=None, queues=None):
        """cpus: where it runs, with lcore ids of its own (lcores: EAL's
        --lcores as given instead); wrapper: argv run in front of it
        (valgrind ...); app_extra: more of the primary's own options
        (--ring-size, --mbufs); queues: {phy index: {"rx": R, "tx": T}}."""
        argv = list(wrapper) + [os.path.join(BUILD, "patchbay-primary")]
        lcores = lcores or self.lcores("primary", cpus)
        argv += self.eal_args(lcores, mem, no_pci, huge_dir) + list(eal_extra)
        argv += primary_eal_extra()
        for v in vdevs:
            argv += ["--vdev", v]
        if portmask is None:
            portmask = (1 << len(vdevs)) - 1
        argv += ["--", "-p", hex(portmask), "-n", str(rings),
                 "-s", f"127.0.0.1:{self.pri_port}"] + list(app_extra)
        for index, n in sorted((queues or {}).items()):
            argv += ["--port-num", str(index), "rxq", str(n["rx"]),
                     "txq", str(n["tx"])]
        proc = self._spawn("primary", argv)
        if wait:
            self.wait_process("primary", 0, timeout)
        return proc

    def start_nfv(self, client_id, cpus="1", controller_port=None,
                  extra=(), wait=True, wrapper=(), lcores=None, kind="nfv",
                  controller=None):
        """cpus and lcores as for start_primary; kind: nfv, vf or
        mirror; controller: the HOST:PORT it dials (127.0.0.1 and our
        port, or controller_port, unless told)."""
        port = controller_port or self.sec_port
        argv = list(wrapper) + [os.path.join(BUILD, f"patchbay-{kind}")]
        lcores = lcores or self.lcores(f"{kind}{client_id}", cpus)
        argv += self.eal_args(lcores) + ["--proc-type", "secondary"]
        argv += ["--", "-n", str(client_id),
                 "-s", controller or f"127.0.0.1:{port}"]
        argv += list(extra)
        proc = self._spawn(f"{kind}{client_id}", argv)
        if wait:
            self.wait_process(kind, client_id)
        return proc

    def start_vf(self, client_id, **kw):
        return self.start_nfv(client_id, kind="vf", **kw)

    def start_mirror(self, client_id, **kw):
        return self.start_nfv(client_id, kind="mirror", **kw)

    def start_pcap(self, client_id, port, out_dir, *options, **kw):
        """options: more of patchbay-pcap's (--tap, --fsize N, ...)."""
        extra = ["-c", port, "--out-dir", str(out_dir), *options,
                 *kw.pop("extra", ())]
        return self.start_nfv(client_id, kind="pcap", extra=extra, **kw)

    def _wait(self, ready, what, name, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise PanelError(f"{name} exited ({proc.returncode}) before "
                                 f"{what} was ready:\n{self.log(name)}")
            if ready():
                return
            time.sleep(0.1)
        raise PanelError(f"{what} not ready after {timeout}s:\n"
                         f"{self.log(name)}")

    def connected(self):
        status, procs = self.rest("GET", "/v1/processes")
        return procs if status == 200 else []

    def is_connected(self, role, proc_id):
        return any(p["type"] == role and p.get("client-id", 0) == proc_id
                   for p in self.connected())

    def wait_process(self, role, proc_id, timeout=30):
        name = "primary" if role == "primary" else f"{role}{proc_id}"
        self._wait(lambda: self.is_connected(role, proc_id),
                   f"{name}'s connection", name, timeout)

    # ---- talking to it ----------------------------------------------------

    def rest(self, method, path, body=None):
        return self.client.call(method, path, body)

    def cmd(self, line):
        """Run one SPP-syntax command; return its result or raise."""
        method, path, body = spp.parse(line)
        status, payload = self.rest(method, path, body)
        if status >= 400:
            raise PanelError(f"'{line}': {(payload or {}).get('error')}")
        return payload

    # ---- ending it --------------------------------------------------------

    def kill(self, name):
        """SIGKILL a process, as a crash would end it."""
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait()
        self.killed.add(name)

    def stop_process(self, name, timeout=10):
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        end_process(proc, signal.SIGTERM, timeout)

    def stop(self):
        """End every process (secondaries, primary, controller) and remove
        the hugepage files and runtime directory of this panel, and the
        controller's files in the run directory."""
        try:   # those the primary launched are not our children
            others = ours(self.connected(), self.prefix)
        except OSError:
            others = []
        names = list(self.procs)
        last = ("primary", "ctl")
        order = [n for n in names if n not in last] + \
                [n for n in last if n in names]
        for name in order:
            self.stop_process(name)
        for pid in wait_gone(others, timeout=5):
            os.kill(pid, signal.SIGKILL)
        for f in glob.glob(os.path.join(HUGE_DIR, f"{self.prefix}map_*")):
            os.unlink(f)
        shutil.rmtree(os.path.join(RUNTIME_DIR, self.prefix),
                      ignore_errors=True)
        if self.controllers:
            remove_files(*controller_files(self.pri_port, self.sec_port))


def controller_files(pri_port, sec_port):
    """What a controller keeps in the run directory."""
    return (auth.socket_path(pri_port), auth.socket_path(sec_port),
            auth.key_path(sec_port), auth.desired_path(sec_port))


def controller_ports(pid):
    """(primaries' port, secondaries' port) of the controller pid, as its
    command line says (-p, -s; 5555 and 6666 unless given); None if it
    is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().decode(errors="replace").split("\0")
    except OSError:       # gone meanwhile: nothing known of it
        return None
    ports = {"-p": 5555, "-s": 6666}
    for flag, value in zip(args, args[1:]):
        if flag in ports and value.isdigit():
            ports[flag] = int(value)
    return ports["-p"], ports["-s"]


def remove_files(*paths):
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def ours(procs, prefix):
    """The pids of the listed processes (GET /v1/processes) that the
    kernel vouched for and that are still those processes, of the panel
    with this file prefix: never a pid a process merely said."""
    pids = (identity.ours(p.get("identity"), prefix) for p in procs)
    return [pid for pid in pids if pid is not None]


def private_dir(path):
    """Make path a folder of ours alone, or PanelError if it is somebody
    else's to write (a folder in /tmp made before us): what the panel
    keeps there (pidfiles, its tmux session) names what it may end."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path) or \
            st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise PanelError(f"{path} is not a folder of ours alone (owner "
                         f"{st.st_uid}, mode {st.st_mode & 0o777:o}): "
                         "remove it")
    return path


TMUX_RECORD = "tmux.session"
TMUX_IDENTITY = "#{session_id} #{session_created} #{pid} #{session_name}"


def _tmux_identity(target):
    out = subprocess.run(["tmux", "display-message", "-p", "-t", target,
                          TMUX_IDENTITY], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def record_tmux_session(rundir, name):
    """Note the session wakeup made (id, creation time, server pid,
    name), so that a stop ends that session and no other of its name."""
    with open(os.path.join(rundir, TMUX_RECORD), "w") as f:
        f.write(_tmux_identity(f"={name}:") + "\n")


def recorded_tmux_session(rundir):
    """The session id recorded in rundir if that very session still runs
    (None otherwise: not made here, or another of the same name)."""
    try:
        with open(os.path.join(rundir, TMUX_RECORD)) as f:
            recorded = f.read().strip()
    except OSError:
        return None
    session_id = recorded.split(" ", 1)[0]
    if not session_id.startswith("$") or \
            _tmux_identity(session_id) != recorded:
        return None
    return session_id


def wait_gone(pids, timeout=10):
    """Wait until none of pids runs (None: a process of another host,
    not ours to wait for); return those still running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [p for p in pids if p is not None and alive(p)]
        if not pids:
            return []
        time.sleep(0.1)
    return pids


def stop_panel(client, prefix, rundir):
    """End a panel started detached (by apply): the secondaries and the
    primary through the controller, then the controller by its pidfile;
    remove the panel's hugepage files, runtime directory and rundir (its
    logs and pidfiles)."""
    pids = []
    if client.reachable():
        procs = client.processes()
        pids = ours(procs, prefix)
        secondaries = [p for p in procs if p["type"] != "primary"]
        for p in secondaries:
            client.call("DELETE", f"/v1/{p['type']}s/{p['client-id']}")
        if any(p["type"] == "primary" for p in procs):
            wait_gone(ours(secondaries, prefix))
            client.call("DELETE", "/v1/primary")
    for pid in wait_gone(pids):
        os.kill(pid, signal.SIGKILL)
    pidfile = os.path.join(rundir, "ctl.pid")
    if os.path.exists(pidfile):
        pid = read_pidfile(pidfile)
        if pid is not None:
            ports = controller_ports(pid)
            os.kill(pid, signal.SIGTERM)
            wait_gone([pid])
            # the panel is gone: what its controller kept for a restart
            # (a guest's nfv, ended with its VM, is still desired) too
            if ports is not None:
                remove_files(*controller_files(*ports))
        os.unlink(pidfile)
    for f in glob.glob(os.path.join(HUGE_DIR, f"{prefix}map_*")):
        os.unlink(f)
    shutil.rmtree(os.path.join(RUNTIME_DIR, prefix), ignore_errors=True)
    shutil.rmtree(rundir, ignore_errors=True)
