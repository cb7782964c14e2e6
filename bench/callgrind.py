"""Instructions a packet, counted by valgrind's callgrind: repeatable on a
shared machine where rates and cycles are not.

The switch runs under callgrind with --no-huge; patchbay's side is the
primary's own forwarder (started with a spare lcore): the same engine,
common/pb_fwd.c, as every nfv. Components run in secondaries (vf,
mirror): those run under callgrind on hugepages, with their primary under
callgrind too, since a secondary must map the primary's memory at the
primary's addresses and only a primary under the same valgrind tool puts
it where valgrind lets that client map it. They are compared with a plain
patch measured the same way, in an nfv. That primary runs with
--legacy-mem (VALGRIND_PRIMARY_EAL) so that its memory stays clear of
valgrind's own in the secondary.

One measurement: forwarding stopped, the ports' counters read (DPDK
telemetry, the same numbers for every switch) and the profile dumped; then
forwarding for an interval, stopped, counters and dump again. The second
dump holds exactly the instructions that moved the packets counted in
between, whatever valgrind's slowness did to the timing.
"""

import collections
import glob
import json
import os
import re
import socket
import subprocess
import time

from pbctl.launcher import VALGRIND_PRIMARY_EAL, Panel, valgrind


def telemetry(prefix, command):
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.settimeout(30)
        s.connect(f"/var/run/dpdk/{prefix}/dpdk_telemetry.v2")
        s.recv(4096)                                  # its greeting
        s.send(command.encode())
        return json.loads(s.recv(1 << 16))


def packets_sent(prefix):
    """Packets every ethdev of the process has sent, once they stop."""
    ports = telemetry(prefix, "/ethdev/list")["/ethdev/list"]
    last = None
    while True:
        now = sum(telemetry(prefix, f"/ethdev/stats,{p}")["/ethdev/stats"]
                  ["opackets"] for p in ports)
        if now == last:
            return now
        last = now
        time.sleep(0.3)


class Callgrind:
    def __init__(self, workdir, name):
        self.out = os.path.join(workdir, f"{name}.callgrind")

    def wrapper(self):
        return valgrind("--tool=callgrind", "--dump-instr=no",
                        f"--callgrind-out-file={self.out}")

    def dump(self, pid):
        before = len(glob.glob(self.out + ".*"))
        subprocess.run(["callgrind_control", "-d", str(pid)],
                       stdout=subprocess.DEVNULL, check=True)
        deadline = time.monotonic() + 60
        while len(glob.glob(self.out + ".*")) == before:
            if time.monotonic() > deadline:
                raise RuntimeError(f"callgrind did not dump {pid}")
            time.sleep(0.1)
        return f"{self.out}.{before + 1}"

    def measure(self, pid, prefix, start, stop, seconds, count=None):
        """(instructions a packet, [(function, object, instructions a
        packet)] for the costliest functions). count(): the packets so
        far (default: those every ethdev of prefix sent)."""
        count = count or (lambda: packets_sent(prefix))
        start()
        time.sleep(1.0)                               # warm up
        stop()
        first = count()
        self.dump(pid)
        start()
        time.sleep(seconds)
        stop()
        pkts = count() - first
        total, funcs = self_costs(self.dump(pid))
        if pkts <= 0:
            return None, []
        return total / pkts, [(f, o, ir / pkts) for f, o, ir in funcs[:6]]


def self_costs(path):
    """Total instructions and (function, object, own instructions), most
    first, from a callgrind dump (names are compressed as "(id) name" on
    first use; the line after calls= is a callee's inclusive cost)."""
    names, objects, fn_object = {}, {}, {}
    cost = collections.Counter()
    fn = obj = None
    callee_cost_next = False
    name_re = re.compile(r"^(fn|ob|cfn|cob)=\((\d+)\)(?: (.*))?$")
    with open(path, errors="replace") as f:
        for line in f:
            m = name_re.match(line.rstrip("\n"))
            if m:
                kind, ident, name = m.groups()
                table = objects if kind.endswith("ob") else names
                if name:
                    table[ident] = name
                if kind == "ob":
                    obj = ident
                elif kind == "fn":
                    fn = ident
                    fn_object.setdefault(ident, obj)
                continue
            if line.startswith("calls="):
                callee_cost_next = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if callee_cost_next:
                    callee_cost_next = False
                elif fn is not None:
                    fields = line.split()
                    if len(fields) >= 2:
                        cost[fn] += int(fields[1])
    funcs = [(names.get(k, k), os.path.basename(objects.get(fn_object.get(k),
                                                            "?")), v)
             for k, v in cost.most_common()]
    return sum(cost.values()), funcs


def patchbay(workdir, vdevs, patches, seconds, adds=()):
    """The primary's forwarder under callgrind, patched as given."""
    cg = Callgrind(workdir, f"patchbay-{len(patches)}")
    p = Panel(os.path.join(workdir, "callgrind-panel"))
    p.start_controller()
    try:
        proc = p.start_primary(vdevs=vdevs, cpus="0,1", wrapper=cg.wrapper(),
                               eal_extra=["--no-huge"], timeout=180)
        for port in adds:
            p.cmd(f"pri; add {port}")
        for src, dst in patches:
            p.cmd(f"pri; patch {src} {dst}")
        return cg.measure(proc.pid, p.prefix, lambda: p.cmd("pri; forward"),
                          lambda: p.cmd("pri; stop"), seconds)
    finally:
        p.stop()
        for f in glob.glob(cg.out + "*"):
            os.unlink(f)


def secondary(workdir, name, vdevs, kind, setup, start, stop, port,
              seconds):
    """A secondary of kind (nfv, vf, mirror) under callgrind: the setup
    commands, then start and stop (commands) around each interval. Per
    packet read from port."""
    cg = Callgrind(workdir, name)
    p = Panel(os.path.join(workdir, f"callgrind-{name}"))
    p.start_controller()
    try:
        p.start_primary(vdevs=vdevs, cpus="0", timeout=180,
                        eal_extra=VALGRIND_PRIMARY_EAL, wrapper=valgrind(
            "--tool=callgrind", "--dump-instr=no",
            f"--callgrind-out-file={cg.out}-primary"))
        proc = p.start_nfv(2, kind=kind, lcores="3@1,4@1", wait=False,
                           wrapper=cg.wrapper(), extra=["--busy-poll"])
        p.wait_process(kind, 2, timeout=300)
        for line in setup:
            p.cmd(f"{kind} 2; {line}")

        def read():
            return p.cmd(f"{kind} 2; status")["stats"][port]["rx"]
        return cg.measure(proc.pid, p.prefix,
                          lambda: p.cmd(f"{kind} 2; {start}"),
                          lambda: p.cmd(f"{kind} 2; {stop}"), seconds, read)
    finally:
        p.stop()
        for f in glob.glob(cg.out + "*"):
            os.unlink(f)


def testpmd(workdir, vdevs, app, seconds, name, start="start"):
    """dpdk-testpmd (interactive, so it can stop and start) under
    callgrind."""
    cg = Callgrind(workdir, f"testpmd-{name}")
    prefix = f"pbcg{os.getpid()}{name}"
    argv = cg.wrapper() + ["dpdk-testpmd", "--file-prefix", prefix,
                           "--no-huge", "-m", "512", "--no-pci", "-l", "0,1"]
    for v in vdevs:
        argv += ["--vdev", v]
    argv += ["--", "-i", "--total-num-mbufs=16384"] + app
    with open(os.path.join(workdir, f"testpmd-{name}.log"), "w") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)

    def send(line):
        proc.stdin.write(line.encode() + b"\n")
        proc.stdin.flush()
    try:
        sock = f"/var/run/dpdk/{prefix}/dpdk_telemetry.v2"
        deadline = time.monotonic() + 180
        while not os.path.exists(sock) or not _answers(prefix):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"testpmd under callgrind did not start; "
                                   f"see {log.name}")
            time.sleep(0.5)
        return cg.measure(proc.pid, prefix, lambda: send(start),
                          lambda: send("stop"), seconds)
    finally:
        if proc.poll() is None:
            send("quit")
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        subprocess.run(["rm", "-rf", f"/var/run/dpdk/{prefix}"])
        for f in glob.glob(cg.out + "*"):
            os.unlink(f)


def _answers(prefix):
    try:
        return bool(telemetry(prefix, "/ethdev/list")["/ethdev/list"])
    except (OSError, ValueError, KeyError):
        return False
