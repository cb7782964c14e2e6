"""Steering and watching, beside a plain patch in the same run: a
classifier with 1, 16 and 256 MACs, a merge of 4 inputs, a mirror (by
reference and deep), a capture to tmpfs (a passive tap of a patched port).

Every case has one worker on one lcore, fed by net_null ports that copy a
zeroed frame (copy=1: destination MAC 00:00:00:00:00:00, which the
classifier's table holds among its others), so each does the same work per
packet besides its own. Rates are MRR, timed by the TSC the process reads
with its counters; cycles/packet = TSC rate / rate.
"""

import os
import shutil
import tempfile
import time

import callgrind
from pbctl.launcher import Panel


def say(msg):
    print(f"bench: {msg}", flush=True)


def _macs(n):
    """n MACs: the null frames' 00:00:00:00:00:00 and n - 1 others."""
    return ["00:00:00:00:00:00"] + [f"52:54:00:00:{i >> 8:02x}:{i & 255:02x}"
                                    for i in range(1, n)]


class Steering:
    def __init__(self, bench):
        self.b = bench

    def panel(self, size):
        p = Panel(tempfile.mkdtemp(dir=self.b.workdir))
        p.start_controller()
        p.start_primary(vdevs=[f"net_null0,size={size},copy=1",
                               f"net_null1,size={size},copy=1"], rings=2)
        self.b.tsc_hz = self.b.tsc_hz or p.cmd("pri; status")["tsc_hz"]
        return p

    def rate(self, p, path, port, key):
        def read():
            st = p.rest("GET", path)[1]
            return st["stats"][port][key], st["tsc"]
        time.sleep(1.0)
        a, ta = read()
        time.sleep(self.b.seconds)
        b, tb = read()
        return (b - a) * self.b.tsc_hz / (tb - ta)

    def components(self, size, kind, lines, port, key="tx"):
        """One component process (vf or mirror) on lcores 3 (control) and
        4 (its worker, on CPU 1): its rate at port."""
        p = self.panel(size)
        try:
            start = p.start_vf if kind == "vf" else p.start_mirror
            start(2, lcores="3@0,4@1", extra=["--busy-poll"])
            for line in lines:
                p.cmd(f"{kind} 2; {line}")
            return self.rate(p, f"/v1/{kind}s/2", port, key)
        finally:
            p.stop()

    def plain(self, size):
        p = self.panel(size)
        try:
            p.start_nfv(1, lcores="4@1", extra=["--busy-poll"])
            p.cmd("nfv 1; patch phy:0 phy:1")
            p.cmd("nfv 1; forward")
            return self.b.rate(p, 1, "phy:1")
        finally:
            p.stop()

    def classifier(self, size, n):
        lines = ["component start cls 4 classifier", "port add phy:1 tx cls"]
        lines += [f"classifier_table add mac {m} phy:1" for m in _macs(n)]
        lines += ["port add phy:0 rx cls"]
        return self.components(size, "vf", lines, "phy:1")

    def merge(self, size, n=4):
        lines = ["component start m 4 merge", "port add phy:1 tx m",
                 "port add phy:0 rx m"]
        lines += [f"port add null:{i} rx m size={size} copy=true"
                  for i in range(n - 1)]
        return self.components(size, "vf", lines, "phy:1")

    def mirror(self, size, copy):
        lines = ["component start mr 4 mirror", f"component copy mr {copy}",
                 "port add phy:1 tx mr", "port add null:9 tx mr",
                 "port add phy:0 rx mr"]
        return self.components(size, "mirror", lines, "phy:0", key="rx")

    def capture(self, size):
        """nfv 1 patches phy:0 -> phy:1 on CPU 1; pcap 3 taps phy:0 and
        writes pcapng to tmpfs from CPU 0. (patched Mpps, captured Mpps,
        copies dropped)."""
        out = tempfile.mkdtemp(dir="/dev/shm", prefix="pb-bench-cap-")
        p = self.panel(size)
        try:
            p.start_nfv(1, lcores="4@1", extra=["--busy-poll"])
            p.start_pcap(3, "phy:0", out, "--tap", "rx",
                         "--fsize", str(256 << 20),
                         lcores="5@0,6@0", extra=["--busy-poll"])
            p.cmd("nfv 1; patch phy:0 phy:1")
            p.cmd("pcap 3; start")
            p.cmd("nfv 1; forward")
            time.sleep(1.0)

            def read():
                cap = p.rest("GET", "/v1/pcaps/3")[1]["capture"]
                st = p.cmd("nfv 1; status")
                return (st["stats"]["phy:1"]["tx"], cap["packets"],
                        cap["tap_drops"], st["tsc"])
            a = read()
            time.sleep(self.b.seconds)
            b = read()
            p.cmd("nfv 1; stop")
            p.cmd("pcap 3; stop")
            dt = (b[3] - a[3]) / self.b.tsc_hz
            return ((b[0] - a[0]) / dt, (b[1] - a[1]) / dt,
                    (b[2] - a[2]) / dt)
        finally:
            p.stop()
            shutil.rmtree(out, ignore_errors=True)

    def instructions(self, size, seconds):
        """Instructions a packet read, under callgrind: each component
        process beside a plain patch in an nfv, measured the same way."""
        b = self.b
        if not (b.have("valgrind", "component instructions a packet") and
                b.have("callgrind_control",
                       "component instructions a packet")):
            return
        nulls = [f"net_null0,size={size},copy=1",
                 f"net_null1,size={size},copy=1"]
        cls = ["component start cls 4 classifier", "port add phy:1 tx cls"]
        mirror = ["component start mr 4 mirror", "port add phy:1 tx mr",
                  "port add null:9 tx mr"]
        cases = [
            ("plain patch (nfv)", "patchbay nfv", "nfv",
             ["patch phy:0 phy:1"], "forward", "stop"),
            ("classifier, 1 MAC", "patchbay vf", "vf",
             cls + [f"classifier_table add mac {m} phy:1" for m in _macs(1)],
             "port add phy:0 rx cls", "port del phy:0 rx cls"),
            ("classifier, 256 MACs", "patchbay vf", "vf",
             cls + [f"classifier_table add mac {m} phy:1"
                    for m in _macs(256)],
             "port add phy:0 rx cls", "port del phy:0 rx cls"),
            ("mirror, by reference", "patchbay mirror", "mirror", mirror,
             "port add phy:0 rx mr", "port del phy:0 rx mr"),
            ("mirror, deep", "patchbay mirror", "mirror",
             mirror[:1] + ["component copy mr deep"] + mirror[1:],
             "port add phy:0 rx mr", "port del phy:0 rx mr"),
        ]
        plain = None
        for case, impl, kind, setup, start, stop in cases:
            per_pkt, funcs = callgrind.secondary(
                b.workdir, f"{kind}-{len(b.instr)}", nulls, kind, setup,
                start, stop, "phy:0", seconds)
            plain = plain or per_pkt
            if per_pkt and plain and kind != "nfv":
                case += f" ({per_pkt / plain:.2f}x the plain patch)"
            b.instr.append({"case": case, "impl": impl, "size": size,
                            "instructions": per_pkt, "functions": funcs})
            say(f"{case} [{impl}, {size} B]: "
                + (f"{per_pkt:.1f} instructions/packet read" if per_pkt
                   else "moved nothing"))

    def run(self, size):
        b = self.b
        note = "1 worker; null copy=1 sources"
        base = self.plain(size)
        b.row("plain patch (copy=1 sources)", "patchbay", size, base,
              "1 worker", note)
        for n in (1, 16, 256):
            pps = self.classifier(size, n)
            b.row(f"classifier, {n} MACs", "patchbay vf", size, pps,
                  "1 worker", f"{pps / base:.2f}x the plain patch's rate")
        pps = self.merge(size)
        b.row("merge of 4", "patchbay vf", size, pps, "1 worker", note)
        for copy in ("clone", "deep"):
            pps = self.mirror(size, copy)
            b.row(f"mirror ({'by reference' if copy == 'clone' else copy})", "patchbay mirror", size, pps,
                  "1 worker", f"{pps / base:.2f}x the plain patch's rate")
        if os.path.isdir("/dev/shm"):
            patched, captured, dropped = self.capture(size)
            b.row("patch with a capture tap (patched)", "patchbay", size,
                  patched, "nfv 1 worker + pcap 1 worker",
                  f"captured {captured / 1e6:.2f} Mpps to tmpfs, "
                  f"{dropped / 1e6:.2f} Mpps of copies dropped")
