#!/usr/bin/python3
"""patchbay's benchmarks, side by side with DPDK's testpmd and Open
vSwitch with DPDK (when openvswitch-switch-dpdk is installed), in one run.

    bench/run.py            full run (about 10 s a case), writes
                            docs/performance-results.md, .svg and .json
    bench/run.py --short    a few seconds a case, as CI's smoke test;
                            report to --out (default: a temporary folder)
    bench/run.py --list     the cases; --case NAME[,NAME] runs those only,
                            --repeat N sets the interleaved repetitions
    bench/compare.py A.json B.json
                            every figure's change, failing on a figure
                            worse beyond its spread

Throughput is MRR: packets a second at the output while the input is
flooded. cycles/packet = TSC rate / packets a second of the one core that
forwards. instructions/packet: the switch under valgrind's callgrind
(bench/callgrind.py), exact and repeatable where rates are not. NDR/PDR: the highest rate pb-gen can offer with no loss / under
0.5% loss (binary search). Only 2 cores here: how each case shares them is
in its row. Absolute numbers on shared machines are noise; compare within
one run.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "controller"))

from pbctl.launcher import (BUILD, Panel, end_process, free_port,  # noqa
                            stop_panel)
import callgrind  # noqa: E402
import latency  # noqa: E402
import pipeline  # noqa: E402
import steering  # noqa: E402

SIZES = (64, 1518)


def say(msg):
    print(f"bench: {msg}", flush=True)


class Ovs:
    """A private Open vSwitch with DPDK (openvswitch-switch-dpdk): its own
    database, sockets and logs in a folder, in-memory DPDK, one PMD core."""

    VSWITCHD = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"

    def __init__(self, workdir, vdevs=(), pmd_core=0):
        self.dir = tempfile.mkdtemp(dir=workdir, prefix="ovs-")
        self.env = dict(os.environ, OVS_RUNDIR=self.dir, OVS_DBDIR=self.dir,
                        OVS_LOGDIR=self.dir)
        self.db = f"unix:{self.dir}/db.sock"
        self.run("ovsdb-tool", "create", f"{self.dir}/conf.db",
                 "/usr/share/openvswitch/vswitch.ovsschema")
        self.run("ovsdb-server", f"{self.dir}/conf.db",
                 f"--remote=punix:{self.dir}/db.sock",
                 f"--pidfile={self.dir}/ovsdb.pid", "--detach",
                 f"--log-file={self.dir}/ovsdb.log")
        self.prefix = f"pbovs{os.getpid()}x{len(os.listdir(workdir))}"
        extra = " ".join(["--no-pci", f"--file-prefix={self.prefix}"] +
                         [f"--vdev {v}" for v in vdevs])
        other = {1 - pmd_core: None}   # the other core runs its main thread
        self.vsctl("--no-wait", "init")
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".",
                   "other_config:dpdk-init=true",
                   f"other_config:dpdk-lcore-mask={1 << list(other)[0]:#x}",
                   f"other_config:pmd-cpu-mask={1 << pmd_core:#x}",
                   "other_config:dpdk-socket-mem=512",
                   f"other_config:dpdk-extra={extra}")
        self.run(self.VSWITCHD, self.db, f"--pidfile={self.dir}/vswitchd.pid",
                 "--detach", f"--log-file={self.dir}/vswitchd.log")
        self.vsctl("add-br", "br0", "--", "set", "bridge", "br0",
                   "datapath_type=netdev")

    def run(self, *argv):
        subprocess.run(argv, env=self.env, check=True, capture_output=True,
                       timeout=120)

    def vsctl(self, *args):
        self.run("ovs-vsctl", f"--db={self.db}", *args)

    def port(self, name, ofport, kind, **options):
        opts = [f"options:{k}={v}" for k, v in options.items()]
        self.vsctl("add-port", "br0", name, "--", "set", "Interface", name,
                   f"type={kind}", f"ofport_request={ofport}", *opts)

    def cross_connect(self):
        """Two port-to-port flows: 1 -> 2 and 2 -> 1."""
        self.run("ovs-ofctl", "del-flows", "br0")
        self.run("ovs-ofctl", "add-flow", "br0", "in_port=1,actions=output:2")
        self.run("ovs-ofctl", "add-flow", "br0", "in_port=2,actions=output:1")

    def tx_packets(self):
        out = subprocess.run(["ovs-ofctl", "dump-ports", "br0"], env=self.env,
                             capture_output=True, text=True).stdout
        return sum(int(x) for x in re.findall(r"tx pkts=(\d+)", out))

    def stop(self):
        for name in ("vswitchd", "ovsdb"):
            try:
                with open(f"{self.dir}/{name}.pid") as f:
                    os.kill(int(f.read()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        time.sleep(0.5)
        subprocess.run(["rm", "-rf", f"/var/run/dpdk/{self.prefix}"])


class Bench:
    def __init__(self, seconds, workdir, repeats=1):
        self.seconds = seconds
        self.repeats = repeats
        self.hitless_ring_size = 65536
        self.workdir = workdir
        self.rows = []
        self.instr = []          # callgrind: instructions a packet
        self.skipped = []        # cases this machine cannot run, and why
        self.results = {}        # ndr_pdr, hitless, control_plane
        self.tsc_hz = None

    def have(self, tool, what):
        """Whether tool (a command or a path) is here. If not, what needs
        it is skipped, and says so here and in the report."""
        if shutil.which(tool) or os.path.exists(tool):
            return True
        self.skipped.append(f"{what}: skipped, {tool} is not installed")
        say(f"SKIPPED {self.skipped[-1]}")
        return False

    def row(self, case, impl, size, pps, cores, note="", samples=None):
        """One figure; samples: each repetition's packets a second, when
        pps is their median (the note then lists them)."""
        cyc = self.tsc_hz / pps if pps and self.tsc_hz else None
        note = "; ".join(x for x in (note, spread(samples or [])) if x)
        self.rows.append({"case": case, "impl": impl, "size": size,
                          "mpps": pps / 1e6, "cycles": cyc, "cores": cores,
                          "note": note, "samples": [x / 1e6 for x in
                                                    samples or [pps]]})
        say(f"{case} [{impl}, {size} B]: {pps / 1e6:.2f} Mpps"
            + (f", {cyc:.1f} cycles/packet" if cyc else "")
            + (f" ({note})" if note else ""))

    # ---- patchbay ---------------------------------------------------------

    def panel(self, size, rings=4, ring_size=None):
        p = Panel(tempfile.mkdtemp(dir=self.workdir))
        p.start_controller()
        extra, mem = [], 512
        if ring_size:      # a ring full of packets holds its size in mbufs
            mbufs = ring_size * rings + 65536
            extra = ["--ring-size", str(ring_size), "--mbufs", str(mbufs)]
            mem = mbufs * 2400 // 2**20 + 256
        p.start_primary(vdevs=[f"net_null0,size={size}",
                               f"net_null1,size={size}"], rings=rings,
                        app_extra=extra, mem=mem)
        self.tsc_hz = self.tsc_hz or p.cmd("pri; status")["tsc_hz"]
        return p

    def rate(self, p, nfv, port, key="tx"):
        """Packets a second through port (or a tuple of ports, summed;
        nfv's counters), settled. Timed
        by the TSC the nfv reads with its counters, as testpmd times its
        own, so no process scheduling delay gets into the interval."""
        ports = port if isinstance(port, tuple) else (port,)

        def read():
            st = p.cmd(f"nfv {nfv}; status")
            return sum(st["stats"][x][key] for x in ports), st["tsc"]
        time.sleep(1.0)                    # warm up
        (a, ta) = read()
        time.sleep(self.seconds)
        (b, tb) = read()
        return (b - a) * self.tsc_hz / (tb - ta)

    def patchbay_chain(self, size, hops, busy_poll):
        """phy:0 -> nfv 1 -> ring:0 -> nfv 2 ... -> phy:1 with hops nfvs,
        each on an lcore id of its own, on CPUs 0, 1, 0, ..."""
        p = self.panel(size)
        try:
            for i in range(1, hops + 1):
                p.start_nfv(i, cpus=str((i - 1) % 2),
                            extra=["--busy-poll"] if busy_poll else [])
                src = "phy:0" if i == 1 else f"ring:{i - 2}"
                dst = "phy:1" if i == hops else f"ring:{i - 1}"
                for port in {src, dst} - {"phy:0", "phy:1"}:
                    p.cmd(f"nfv {i}; add {port}")
                p.cmd(f"nfv {i}; patch {src} {dst}")
            for i in range(1, hops + 1):
                p.cmd(f"nfv {i}; forward")
            return self.rate(p, hops, "phy:1")
        finally:
            p.stop()

    def patchbay_one_core(self, size, patches, out_port):
        p = self.panel(size)
        try:
            p.start_nfv(1, cpus="1", extra=["--busy-poll"])
            for port in {x for pair in patches for x in pair} - \
                    {"phy:0", "phy:1"}:
                p.cmd(f"nfv 1; add {port}")
            for src, dst in patches:
                p.cmd(f"nfv 1; patch {src} {dst}")
            p.cmd("nfv 1; forward")
            return self.rate(p, 1, out_port)
        finally:
            p.stop()

    # ---- testpmd ------------------------------------------------------------

    def testpmd(self, eal, app, name):
        """Start dpdk-testpmd; (process, file prefix, log)."""
        prefix = f"pbbench{os.getpid()}{name}"
        argv = (["dpdk-testpmd", "--file-prefix", prefix, "--no-pci",
                 "--single-file-segments"] + eal +
                ["--", "--stats-period", "1"] + app)
        log = os.path.join(self.workdir, f"testpmd-{name}.log")
        with open(log, "w") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        return proc, prefix, log

    @staticmethod
    def interrupt(proc, timeout):
        """SIGINT (a DPDK app prints its counters and ends), then SIGKILL
        if it has not ended within timeout."""
        end_process(proc, signal.SIGINT, timeout)

    @staticmethod
    def wait_log(path, text, timeout=30):
        """Until text is in the log at path (a process says it is up)."""
        wait_log(path, text, timeout)

    def testpmd_rate(self, proc, log, ports, warm=1.0):
        """Let it run, stop it: its Rx-pps summed over ports, median of the
        one-second samples after warm-up."""
        time.sleep(warm + self.seconds + 1.2)
        self.interrupt(proc, 20)
        with open(log, errors="replace") as f:
            text = f.read()
        samples = [int(x) for x in re.findall(r"Rx-pps:\s+(\d+)", text)]
        # one sample per port per period; skip the warm-up periods
        per_period = [sum(samples[i:i + ports])
                      for i in range(0, len(samples) - ports + 1, ports)]
        per_period = per_period[int(warm) + 1:] or per_period
        return statistics.median(per_period) if per_period else 0.0

    def cleanup_prefix(self, prefix):
        for f in os.listdir("/dev/hugepages"):
            if f.startswith(prefix):
                os.unlink(os.path.join("/dev/hugepages", f))
        subprocess.run(["rm", "-rf", f"/var/run/dpdk/{prefix}"])

    def testpmd_io(self, size, vdevs, name, tx_first=False, burst=32):
        eal = ["-l", "0,1", "-m", "512"]
        for v in vdevs:
            eal += ["--vdev", v]
        app = ["--forward-mode=io", "--auto-start", f"--burst={burst}"]
        app += ["--tx-first", f"--txpkts={size}"] if tx_first else []
        proc, prefix, log = self.testpmd(eal, app, name)
        try:
            return self.testpmd_rate(proc, log, len(vdevs))
        finally:
            self.cleanup_prefix(prefix)

    # ---- the cases ----------------------------------------------------------

    def switching(self, size):
        """null <-> null, both directions, one forwarding core; patchbay
        and testpmd take turns, repeats times, and the medians count."""
        nulls = [f"net_null0,size={size}", f"net_null1,size={size}"]
        pb, tp = [], []
        for _ in range(self.repeats):
            # phy:1's tx is one direction; both directions move as much
            pb.append(2 * self.patchbay_one_core(
                size, [("phy:0", "phy:1"), ("phy:1", "phy:0")], "phy:1"))
            tp.append(self.testpmd_io(size, nulls, "null"))
        self.row("null<->null", "patchbay", size, statistics.median(pb),
                 "1 worker", "", pb)
        self.row("null<->null", "testpmd io", size, statistics.median(tp),
                 "1 fwd core", "", tp)
        if self.have(Ovs.VSWITCHD, "null<->null, Open vSwitch-DPDK"):
            ovs = Ovs(self.workdir, [f"net_null0,size={size}",
                                     f"net_null1,size={size}"])
            try:
                ovs.port("p0", 1, "dpdk", **{"dpdk-devargs": "net_null0"})
                ovs.port("p1", 2, "dpdk", **{"dpdk-devargs": "net_null1"})
                ovs.cross_connect()
                time.sleep(1.0)
                a, t0 = ovs.tx_packets(), time.monotonic()
                time.sleep(self.seconds)
                pps = (ovs.tx_packets() - a) / (time.monotonic() - t0)
            finally:
                ovs.stop()
            self.row("null<->null", "Open vSwitch-DPDK", size, pps,
                     "1 PMD core", "two port-to-port flows")

    def ring_hop(self, size):
        two = self.patchbay_one_core(size, [("phy:0", "ring:0"),
                                            ("ring:0", "phy:1")], "phy:1")
        three = self.patchbay_one_core(size, [("phy:0", "ring:0"),
                                              ("ring:0", "ring:1"),
                                              ("ring:1", "phy:1")], "phy:1")
        self.row("null->ring->null", "patchbay", size, two, "1 worker")
        self.row("null->ring->ring->null", "patchbay", size, three,
                 "1 worker")
        if self.tsc_hz and two and three:
            added = self.tsc_hz / three - self.tsc_hz / two
            self.rows.append({"case": "one ring patch, added",
                              "impl": "patchbay", "size": size, "mpps": None,
                              "cycles": added, "cores": "1 worker",
                              "note": "target <= 10"})
            say(f"one ring patch adds {added:.1f} cycles/packet")
        pps = self.testpmd_io(size, ["net_ring0", "net_ring1"], "ring",
                              tx_first=True)
        self.row("net_ring<->net_ring", "testpmd io", size, pps,
                 "1 fwd core", "each packet: one ring dequeue + enqueue")

    def instructions(self, size, seconds):
        """Instructions a packet under callgrind: null<->null and the ring
        hop, patchbay's engine beside testpmd io."""
        if not (self.have("valgrind", "instructions a packet") and
                self.have("callgrind_control", "instructions a packet")):
            return
        nulls = [f"net_null0,size={size}", f"net_null1,size={size}"]
        cases = [
            ("null<->null", "patchbay", lambda: callgrind.patchbay(
                self.workdir, nulls, [("phy:0", "phy:1"), ("phy:1", "phy:0")],
                seconds)),
            ("null<->null", "testpmd io", lambda: callgrind.testpmd(
                self.workdir, nulls, ["--forward-mode=io"], seconds, "null")),
            ("null->ring->null", "patchbay", lambda: callgrind.patchbay(
                self.workdir, nulls, [("phy:0", "ring:0"), ("ring:0", "phy:1")],
                seconds, adds=["ring:0"])),
            ("null->ring->ring->null", "patchbay", lambda: callgrind.patchbay(
                self.workdir, nulls, [("phy:0", "ring:0"), ("ring:0", "ring:1"),
                                      ("ring:1", "phy:1")],
                seconds, adds=["ring:0", "ring:1"])),
            ("net_ring<->net_ring, a hop", "testpmd io",
             lambda: callgrind.testpmd(
                 self.workdir, ["net_ring0", "net_ring1"],
                 ["--forward-mode=io", f"--txpkts={size}"], seconds, "ring",
                 start="start tx_first")),
        ]
        for case, impl, run in cases:
            per_pkt, funcs = run()
            self.instr.append({"case": case, "impl": impl, "size": size,
                               "instructions": per_pkt, "functions": funcs})
            say(f"{case} [{impl}, {size} B]: "
                + (f"{per_pkt:.1f} instructions/packet" if per_pkt
                   else "moved nothing"))

    def chains(self, size, longest):
        """Chains of 1 .. longest nfvs, idle back-off and busy-polling:
        with 3 on 2 cores, workers outnumber cores. Each chain takes its
        turn, repeats times; the medians count."""
        modes = ((False, "patchbay"), (True, "patchbay --busy-poll"))
        runs = [(busy, impl, hops) for busy, impl in modes
                for hops in range(1, longest + 1)]
        rates = {r: [] for r in runs}
        for _ in range(self.repeats):
            for busy, impl, hops in runs:
                rates[(busy, impl, hops)].append(
                    self.patchbay_chain(size, hops, busy))
        for busy, impl, hops in runs:
            got = rates[(busy, impl, hops)]
            self.row(f"chain of {hops} nfv", impl, size,
                     statistics.median(got), f"{hops} workers on 2 cores",
                     "", got)

    def vhost_loop(self, size):
        """A generator testpmd with two virtio_user ports loops packets
        through the switch's two vhost ports (--tx-first, 256 in flight).
        Cores: generator forwards on 1, switch on 0. The switches take
        turns, repeats times; the medians count."""
        switches = [("patchbay", self.vhost_patchbay,
                     "switch core 0, generator core 1", ""),
                    ("testpmd io (vhost PMD)", self.vhost_testpmd,
                     "switch core 0, generator core 1", "")]
        if self.have(Ovs.VSWITCHD, "vhost<->virtio loop, Open vSwitch-DPDK"):
            switches.append(("Open vSwitch-DPDK", self.vhost_ovs,
                             "switch PMD core 0, generator core 1",
                             "dpdkvhostuser ports, two flows"))
        rates = {name: [] for name, *_ in switches}
        for _ in range(self.repeats):
            for name, run, *_ in switches:
                rates[name].append(run(size))
        for name, _, cores, note in switches:
            self.row("vhost<->virtio loop", name, size,
                     statistics.median(rates[name]), cores, note, rates[name])

    def vhost_socks(self):
        return [os.path.join(self.workdir, f"vh{i}.sock") for i in (0, 1)]

    def vhost_patchbay(self, size):
        socks = self.vhost_socks()
        p = self.panel(size)
        try:
            p.start_nfv(1, cpus="0", extra=["--busy-poll"])
            for i, s in enumerate(socks):
                p.cmd(f"nfv 1; add vhost:{i} path={s}")
            p.cmd("nfv 1; patch vhost:0 vhost:1")
            p.cmd("nfv 1; patch vhost:1 vhost:0")
            p.cmd("nfv 1; forward")
            return self.loop_generator(socks, size, "gen-pb")
        finally:
            p.stop()

    def vhost_testpmd(self, size):
        socks = self.vhost_socks()
        sw_eal = ["-l", "0,1", "--main-lcore", "1", "-m", "512"] + sum(
            (["--vdev", f"net_vhost{i},iface={s}"]
             for i, s in enumerate(socks)), [])
        sw, sw_prefix, sw_log = self.testpmd(sw_eal, ["--forward-mode=io",
                                                      "--auto-start"], "sw")
        try:
            self.wait_log(sw_log, "forwards packets on")
            return self.loop_generator(socks, size, "gen-tp")
        finally:
            sw.send_signal(signal.SIGINT)
            sw.wait(20)
            self.cleanup_prefix(sw_prefix)

    def vhost_ovs(self, size):
        ovs = Ovs(self.workdir)
        try:
            for i in (0, 1):
                ovs.port(f"vhu{i}", i + 1, "dpdkvhostuser")
            ovs.cross_connect()
            return self.loop_generator([f"{ovs.dir}/vhu{i}" for i in (0, 1)],
                                       size, "gen-ovs")
        finally:
            ovs.stop()

    def loop_generator(self, socks, size, name):
        """testpmd with a virtio_user port on each socket, io forwarding
        with 256 packets in flight (--tx-first --burst=128) on core 1: the
        rate at which packets come back through the switch."""
        eal = ["-l", "0,1", "-m", "512"]
        for i, sock in enumerate(socks):
            eal += ["--vdev", f"virtio_user{i},path={sock},queue_size=1024"]
        app = ["--forward-mode=io", "--auto-start", "--tx-first",
               "--burst=128", f"--txpkts={size}"]
        for attempt in (1, 2):
            gen, prefix, log = self.testpmd(eal, app, f"{name}{attempt}")
            try:
                pps = self.testpmd_rate(gen, log, len(socks))
            finally:
                self.cleanup_prefix(prefix)
            if pps > 0:
                return pps
            # the one --tx-first burst can be lost while the switch is
            # still setting its port up (seen once with OVS): then nothing
            # circulates; a second generator tries again
            say(f"{name}: no packet came back; starting the generator again")
        return 0.0

    def ndr_pdr(self, size, trial):
        """Rate search with pb-gen through ring:0 -> nfv 1 -> ring:1."""
        p = self.panel(size)
        try:
            p.start_nfv(1, cpus="0", extra=["--busy-poll"])
            p.cmd("nfv 1; add ring:0")
            p.cmd("nfv 1; add ring:1")
            p.cmd("nfv 1; patch ring:0 ring:1")
            p.cmd("nfv 1; forward")
            gen = lambda rate: self.gen(p, rate, size, trial)  # noqa: E731
            top = gen(50e6)
            mrr = top["received"] / trial
            found = {}
            for name, limit in (("NDR", 0.0), ("PDR", 0.005)):
                lo, hi = 0.0, mrr * 1.2
                for _ in range(7):
                    mid = (lo + hi) / 2
                    r = gen(mid)
                    loss = r["lost"] / max(r["sent"], 1)
                    lo, hi = (mid, hi) if loss <= limit else (lo, mid)
                found[name] = lo
                say(f"{name} [{size} B]: {lo / 1e6:.2f} Mpps")
            return mrr, found["NDR"], found["PDR"]
        finally:
            p.stop()

    @staticmethod
    def pb_gen_argv(p, name, cpus, options):
        """pb-gen as a secondary of panel p, on lcore ids of its own."""
        return [os.path.join(BUILD, "pb-gen")] + \
            p.eal_args(p.lcores(name, cpus)) + \
            ["--proc-type", "secondary", "--"] + list(options)

    def gen(self, p, rate, size, seconds, tx="ring:0", rx="ring:1",
            cpus="1", extra=()):
        """pb-gen's result; extra: its own options (--floor)."""
        argv = self.pb_gen_argv(p, "pb-gen", cpus, [
            "--tx", tx, "--rx", rx, "--rate", str(rate), "--size",
            str(size), "--seconds", str(seconds), *extra])
        out = subprocess.run(argv, capture_output=True, text=True,
                             timeout=seconds + 60)
        line = out.stdout.strip().splitlines()[-1] if out.stdout else ""
        if out.returncode != 0 or not line.startswith("{"):
            raise RuntimeError(f"pb-gen failed: {out.stderr[-500:]}")
        return json.loads(line)

    def stream(self, p, rate, seconds, churn=0, change=True):
        """pb-gen at rate through ring:0 -> ring:1 while another patch
        (ring:2 -> ring:3) is made and unmade churn times in all; (result,
        seconds the changes took)."""
        gen = subprocess.Popen(
            [os.path.join(BUILD, "pb-gen")] + p.eal_args(p.lcores("pb-gen", "1")) +
            ["--proc-type", "secondary", "--", "--rate", str(rate),
             "--size", "64", "--seconds", str(seconds)],
            stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)
        t0 = time.monotonic()
        for i in range(churn):
            if not change:          # the same control-plane load, no change
                p.cmd("nfv 1; status")
                continue
            p.cmd("nfv 1; patch ring:2 ring:3" if i % 2 == 0
                  else "nfv 1; unpatch ring:2")
        took = time.monotonic() - t0
        out = gen.communicate(timeout=seconds + 120)[0]
        return json.loads(out.strip().splitlines()[-1]), took

    def hitless(self, changes, trial):
        """A stream through ring:0 -> ring:1 while another patch changes
        `changes` times: nothing lost, nothing reordered, no mbuf leaked.
        The stream starts at half the path's MRR; where even without the
        changes it loses packets (the 2 cores are shared with pb-gen and
        the control plane), its rate is halved until it does not, so that
        what is measured is the reconfiguration's own loss."""
        p = self.panel(64, ring_size=self.hitless_ring_size)
        try:
            p.start_nfv(1, cpus="0", extra=["--busy-poll"])
            for line in ("add ring:0", "add ring:1", "add ring:2",
                         "add ring:3", "patch ring:0 ring:1", "forward"):
                p.cmd(f"nfv 1; {line}")
            mrr = self.gen(p, 50e6, 64, trial)["received"] / trial
            before = p.cmd("pri; status")["mbufs"]["in_use"]
            rate, tries = mrr / 2, []
            for _ in range(6):
                base, _ = self.stream(p, rate, trial)
                tries.append((rate, base["lost"]))
                if base["lost"] == 0:
                    break
                rate /= 2
            # the stream outlasts the changes (about 10 ms each here)
            seconds = max(trial, changes * 0.015 + 1.5)
            churned, took = self.stream(p, rate, seconds, changes)
            queried, _ = self.stream(p, rate, seconds, changes, change=False)
            p.cmd("nfv 1; stop")
            after = p.cmd("pri; status")["mbufs"]["in_use"]
            say(f"hitless: {changes} patch changes in {took:.1f} s at "
                f"{rate / 1e6:.2f} Mpps: lost {churned['lost']}, "
                f"mbufs in use {before} -> {after}")
            return {"changes": changes, "rate": rate, "mrr": mrr,
                    "baseline": tries, "lost": churned["lost"],
                    "sent": churned["sent"], "took": took,
                    "mbufs_before": before, "mbufs_after": after,
                    "out_of_order": churned["out_of_order"],
                    "lost_with_queries": queried["lost"],
                    "sent_with_queries": queried["sent"],
                    "latency": {
                        "no change": quantiles(base),
                        f"{changes} changes": quantiles(churned),
                        f"{changes} status queries": quantiles(queried)}}
        finally:
            p.stop()

    def control_plane(self, rounds):
        """patch round trips through REST, and apply of a conf.yml with 8
        secondaries and 32 ports."""
        p = self.panel(64, rings=32)
        try:
            p.start_nfv(1, cpus="1")
            p.cmd("nfv 1; add ring:0")
            times = []
            for i in range(rounds):
                t0 = time.perf_counter()
                p.cmd("nfv 1; patch phy:0 ring:0" if i % 2 == 0
                      else "nfv 1; unpatch phy:0")
                times.append(time.perf_counter() - t0)
            p50 = statistics.median(times)
            say(f"patch round trip (REST -> nfv -> reply): p50 "
                f"{p50 * 1e3:.2f} ms over {rounds}")
        finally:
            p.stop()
        return p50, self.apply_32_ports()

    def apply_32_ports(self):
        from pbctl import apply as applying
        from pbctl import config
        from pbctl.client import Client
        prefix = f"pbbenchapply{os.getpid()}"
        ports = [free_port() for _ in range(3)]
        chains = {f"c{i}": {"hops": [f"ring:{2 * i}", f"nfv {i % 8 + 1}",
                                     f"ring:{2 * i + 1}"]} for i in range(16)}
        raw = {"controller": dict(zip(("pri_port", "sec_port", "api_port"),
                                      ports)),
               "primary": {"vdevs": [], "rings": 32, "file_prefix": prefix},
               "secondaries": [{"id": i, "cpus": str(i % 2)}
                               for i in range(1, 9)],
               "chains": chains}
        conf = config.check(raw)
        client = Client("127.0.0.1", ports[2])
        node = applying.Node(conf, client)
        try:
            applying.apply(node, open(os.devnull, "w"),
                           {"controller", "primary"} |
                           {f"nfv {i}" for i in range(1, 9)}
                           - {f"nfv {i}" for i in range(1, 9)})
            for sec in conf["secondaries"]:      # processes first ...
                node.launch(sec)
            t0 = time.perf_counter()             # ... then time the wiring
            steps = applying.apply(node, open(os.devnull, "w"))
            took = time.perf_counter() - t0
            say(f"apply of 8 secondaries x 32 ports: {len(steps)} steps in "
                f"{took * 1e3:.0f} ms")
            return took
        finally:
            stop_panel(client, prefix, node.rundir)


def quantiles(gen_result):
    """pb-gen's latency figures, without the histogram."""
    return {k: v for k, v in gen_result["latency_ns"].items()
            if k != "histogram"}


def spread(samples):
    if len(samples) < 2:
        return ""
    return (f"median of {len(samples)}, taking turns: "
            + ", ".join(f"{x / 1e6:.1f}" for x in samples))


def wait_log(path, text, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, errors="replace") as f:
            if text in f.read():
                return
        time.sleep(0.1)
    raise RuntimeError(f"'{text}' not in {path} after {timeout} s")


def svg_chart(rows, path):
    """A horizontal bar chart of the throughput rows, as SVG."""
    bars = [r for r in rows if r["mpps"]]
    top = max(r["mpps"] for r in bars) or 1
    h, left, width = 22, 330, 420
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}"'
           f' height="{h * len(bars) + 40}" font-family="monospace" '
           f'font-size="12">',
           '<text x="4" y="16">Mpps (MRR), this machine, one run</text>']
    for i, r in enumerate(bars):
        y = 28 + i * h
        w = width * r["mpps"] / top
        color = "#2a7" if r["impl"] == "patchbay" else "#888"
        label = f'{r["case"]} {r["size"]}B {r["impl"]}'
        out += [f'<text x="4" y="{y + 14}">{label[:46]}</text>',
                f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{h - 6}"'
                f' fill="{color}"/>',
                f'<text x="{left + w + 4:.1f}" y="{y + 14}">'
                f'{r["mpps"]:.2f}</text>']
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def instructions_markdown(rows):
    """The callgrind table, and what one ring patch adds."""
    if not rows:
        return []
    out = ["## Instructions a packet (callgrind)", "",
           "The switch under `valgrind --tool=callgrind` (`--no-huge`; "
           "patchbay's side is the primary's forwarder, the same engine as "
           "an nfv). Counted over the packets the ports sent between two "
           "dumps with forwarding stopped at each, so the count is exact "
           "and repeats run to run. Rows of an nfv, vf or mirror: that "
           "secondary under callgrind on hugepages (its primary under "
           "callgrind too), counted per packet read from phy:0. Functions "
           "of stripped DPDK libraries show as object:address.", "",
           "| case | implementation | packet | instructions/packet "
           "| where they go (own instructions a packet) |",
           "|---|---|---|---|---|"]
    for r in rows:
        n = f"{r['instructions']:.1f}" if r["instructions"] else "—"
        where = ", ".join(
            f"{fn if not fn.startswith('0x') else obj + ':' + fn[-5:]} "
            f"{ir:.1f}" for fn, obj, ir in r["functions"] if ir >= 0.5)
        out.append(f"| {r['case']} | {r['impl']} | {r['size']} B | {n} "
                   f"| {where} |")
    by = {(r["case"], r["size"]): r["instructions"] for r in rows}
    for size in sorted({r["size"] for r in rows}):
        two = by.get(("null->ring->null", size))
        three = by.get(("null->ring->ring->null", size))
        hop = by.get(("net_ring<->net_ring, a hop", size))
        if two and three and hop:
            out.append(f"\nOne ring patch adds {three - two:.1f} instructions "
                       f"a packet at {size} B; a testpmd io hop between two "
                       f"net_ring ports costs {hop:.1f}.")
    return out + [""]


def markdown(bench, extra, command):
    lines = ["| case | implementation | packet | Mpps | cycles/packet "
             "| cores | note |", "|---|---|---|---|---|---|---|"]
    for r in bench.rows:
        mpps = f"{r['mpps']:.2f}" if r["mpps"] else "—"
        cyc = f"{r['cycles']:.1f}" if r["cycles"] is not None else "—"
        lines.append(f"| {r['case']} | {r['impl']} | {r['size']} B | {mpps} "
                     f"| {cyc} | {r['cores']} | {r['note']} |")
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                if ln.startswith("model name")), platform.machine())
    head = [f"Machine: {cpu}, {os.cpu_count()} cores, "
            f"{platform.system()} {platform.release()}; TSC "
            f"{(bench.tsc_hz or 0) / 1e9:.2f} GHz; {time.strftime('%Y-%m-%d')}.",
            f"Reproduce: `{command}`", ""]
    skipped = [f"- {why}" for why in bench.skipped]
    skipped = ["Not run on this machine:"] + skipped + [""] if skipped else []
    return "\n".join(head + skipped + lines + [""] +
                     instructions_markdown(bench.instr) + extra)


def ndr_pdr_case(b, size, short):
    mrr, ndr, pdr = b.ndr_pdr(size, 0.5 if short else 2.0)
    b.results.setdefault("ndr_pdr", []).append(
        {"size": size, "mrr": mrr, "ndr": ndr, "pdr": pdr})


def hitless_case(b, short):
    b.results["hitless"] = b.hitless(100 if short else 1000,
                                     1.0 if short else 3.0)


def control_plane_case(b, short):
    p50, apply_s = b.control_plane(50 if short else 500)
    b.results["control_plane"] = {"patch_p50_s": p50, "apply_s": apply_s}


# name: (what it measures, run(bench, size, short) or, per run, run(bench,
# short) with size None)
CASES = {
    "switching": ("null<->null: patchbay beside testpmd io (and Open "
                  "vSwitch-DPDK)", lambda b, size, short: b.switching(size)),
    "ring_hop": ("what a ring patch adds, beside testpmd's net_ring hop",
                 lambda b, size, short: b.ring_hop(size)),
    "instructions": ("instructions a packet under callgrind, patchbay and "
                     "testpmd", lambda b, size, short: b.instructions(
                         size, 1.0 if short else 5.0)),
    "chains": ("chains of 1..3 nfvs on 2 cores, idle back-off and "
               "busy-polling", lambda b, size, short: b.chains(
                   size, 2 if short else 3)),
    "pipeline": ("a 2-stage pipeline across cores: 2 nfvs beside DPDK's "
                 "client/server example", lambda b, size, short:
                 pipeline.Pipeline(b).run(size)),
    "vhost_loop": ("a vhost<->virtio loop: patchbay, testpmd's vhost PMD "
                   "(and OVS)", lambda b, size, short: b.vhost_loop(size)),
    "steering": ("classifier, merge, mirror and capture beside a plain "
                 "patch", lambda b, size, short:
                 steering.Steering(b).run(size)),
    "steering_instructions": ("the components' instructions a packet "
                              "(callgrind)", lambda b, size, short:
                              steering.Steering(b).instructions(
                                  size, 1.0 if short else 5.0)),
    "latency": ("latency percentiles at 10/50/90 % NDR: ring hop, chain "
                "of 2, vhost loop", lambda b, size, short:
                latency.Latency(b).run(size, short)),
    "ndr_pdr": ("NDR and PDR by binary search with pb-gen",
                lambda b, size, short: ndr_pdr_case(b, size, short)),
    "hitless": ("loss while 1000 patch changes happen (once a run)",
                None),
    "control_plane": ("a patch's REST round trip; apply of 32 ports "
                      "(once a run)", None),
}
ONCE = {"hitless": hitless_case, "control_plane": control_plane_case}


def extra_markdown(results):
    """The sections after the tables: NDR/PDR, reconfiguration."""
    out = latency.markdown(results.get("latency", []),
                           results.get("hitless"))
    if results.get("ndr_pdr"):
        out += ["## NDR / PDR (pb-gen through ring:0 -> nfv 1 -> ring:1)", "",
                "| packet | MRR Mpps | NDR Mpps | PDR (<0.5% loss) Mpps |",
                "|---|---|---|---|"]
        out += [f"| {r['size']} B | {r['mrr'] / 1e6:.2f} | "
                f"{r['ndr'] / 1e6:.2f} | {r['pdr'] / 1e6:.2f} |"
                for r in results["ndr_pdr"]]
    h, cp = results.get("hitless"), results.get("control_plane")
    if h or cp:
        out += ["", "## Reconfiguration and control plane", ""]
    if h:
        base = ", ".join(f"{r / 1e6:.2f} Mpps: {lost} lost"
                         for r, lost in h["baseline"])
        out.append(
            f"- Hitless: {h['changes']} patch changes in {h['took']:.1f} s "
            f"while a stream of {h['rate'] / 1e6:.2f} Mpps crossed another "
            f"patch: {h['lost']} of {h['sent']} packets lost, "
            f"{h['out_of_order']} out of order; mbufs in use "
            f"{h['mbufs_before']} before, {h['mbufs_after']} after. "
            f"The path's MRR was {h['mrr'] / 1e6:.2f} Mpps; the stream "
            f"without changes, from half of it down: {base}.")
    if cp:
        out += [f"- A patch command's round trip (REST → controller → nfv → "
                f"reply): p50 {cp['patch_p50_s'] * 1e3:.2f} ms.",
                f"- Applying a conf.yml with 8 secondaries and 32 ports: "
                f"{cp['apply_s'] * 1e3:.0f} ms."]
    return out


def failures(b):
    """A case that moved nothing, or a leak, is a failure; loss under
    reconfiguration is reported (and checked exactly by the tests)."""
    dead = [r for r in b.rows if r["mpps"] is not None and r["mpps"] <= 0]
    dead += [r for r in b.instr if not r["instructions"]]
    out = [f"{r['case']} [{r['impl']}, {r['size']} B] moved nothing"
           for r in dead]
    out += [f"latency, {r['path']} [{r['size']} B]: no packet came back"
            for r in b.results.get("latency", []) if r["ndr"] <= 0]
    h = b.results.get("hitless")
    if h and h["mbufs_after"] != h["mbufs_before"]:
        out.append("mbufs leaked")
    return out


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--short", action="store_true",
                    help="a few seconds a case (CI's smoke test)")
    ap.add_argument("--out", help="where the report goes (default: docs/ "
                    "for a full run of every case, else a temporary folder)")
    ap.add_argument("--case", help="only these cases: NAME[,NAME] "
                    "(--list names them)")
    ap.add_argument("--list", action="store_true", help="the cases")
    ap.add_argument("--repeat", type=int, metavar="N", help="interleaved "
                    "repetitions of the cases compared with a peer (default "
                    "5; 1 with --short); medians count, every sample shown")
    ap.add_argument("--size", type=int, action="append", metavar="BYTES",
                    help="packet size (default 64 and 1518; 64 with "
                    "--short); may be given again")
    ap.add_argument("--steering", action="store_true",
                    help="the steering and capture cases (--case steering)")
    ap.add_argument("--instructions", action="store_true",
                    help="with --steering: their instructions a packet too")
    args = ap.parse_args()
    if args.steering:
        args.case = "steering" + (",steering_instructions"
                                  if args.instructions else "")
    names = args.case.split(",") if args.case else list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        ap.error(f"unknown case {', '.join(unknown)} (known: "
                 f"{', '.join(CASES)})")
    if args.repeat is not None and args.repeat < 1:
        ap.error("--repeat must be at least 1")
    args.names = names
    return args


def main():
    args = parse_args()
    if args.list:
        for name, (what, _) in CASES.items():
            print(f"{name:24} {what}")
        return 0
    full = not args.short and args.case is None
    out = args.out or (os.path.join(ROOT, "docs") if full
                       else tempfile.mkdtemp(prefix="patchbay-bench-"))
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="patchbay-bench-work-")
    repeats = args.repeat or (1 if args.short else 5)
    b = Bench(1.0 if args.short else 5.0, work, repeats=repeats)
    sizes = args.size or ((64,) if args.short else SIZES)
    try:
        for size in sizes:
            say(f"--- {size}-byte packets")
            for name in args.names:
                if name not in ONCE:
                    CASES[name][1](b, size, args.short)
        for name in args.names:
            if name in ONCE:
                ONCE[name](b, args.short)
    finally:
        subprocess.run(["rm", "-rf", work])
    command = " ".join(["bench/run.py"] + sys.argv[1:])
    if full:
        with open(os.path.join(out, "performance-results.md"), "w") as f:
            f.write(markdown(b, extra_markdown(b.results), command) + "\n")
        svg_chart(b.rows, os.path.join(out, "performance.svg"))
    if b.results.get("latency"):
        latency.svg_plot(b.results["latency"],
                         os.path.join(out, "performance-latency.svg"))
    else:
        print(markdown(b, extra_markdown(b.results), command))
    with open(os.path.join(out, "performance.json"), "w") as f:
        json.dump({"command": command, "rows": b.rows,
                   "instructions": b.instr, **b.results}, f, indent=1)
    say(f"report in {out}")
    bad = failures(b)
    for why in bad:
        say(f"FAILED: {why}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
