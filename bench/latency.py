"""Latency as FD.io CSIT measures it: pb-gen stamps every packet with the
TSC when it enqueues it and reads the TSC again when the packet comes back,
so each packet's latency is one process's clock difference. For each path
its NDR is found first (binary search, no loss), then a stream runs at 10 %,
50 % and 90 % of it: min, p50, p90, p99, p99.9 and max.

Paths, each from ring:0 back to pb-gen:
- pb-gen loopback: ring:0 read back by pb-gen itself, no switch: what the
  generator adds to every path;
- ring hop: ring:0 -> nfv 1 -> ring:1 (nfv on CPU 0, pb-gen on CPU 1);
- the same hop through pb-gen --relay on CPU 0 instead of the nfv: the
  least a DPDK process can do between two rings (a dequeue and an enqueue
  a burst, spinning), the reference the nfv's hop is held against;
- chain of 2 nfvs: ring:0 -> nfv 1 -> ring:1 -> nfv 2 -> ring:2 (nfv 1 on
  CPU 0, nfv 2 and pb-gen on CPU 1: three busy processes on two cores);
- vhost loop: ring:0 -> nfv 1 -> vhost:0 -> virtio:0 -> nfv 2 -> virtio:1
  -> vhost:1 -> nfv 1 -> ring:1 (nfv 1 on CPU 0; nfv 2, the guest's side,
  on CPU 1 with pb-gen);
- vhost hop: pb-gen's own virtio:0 -> nfv 1's vhost:0 -> vhost:1 ->
  pb-gen's virtio:1 (nfv on CPU 0, pb-gen on CPU 1), and the same hop
  through testpmd's vhost PMD in io mode instead of the nfv, at the nfv's
  rates: testpmd's peer row.

Beside them, the floor: pb-gen --floor spinning on CPU 0 (the nfv's) as a
forwarder that costs nothing, at half the ring hop's NDR. Its latency is
what the CPU alone adds whenever it is taken away (interrupts, other
tasks, the hypervisor): no path through that CPU can do better.

pb-gen yields its core when it has nothing to send or read, as patchbay's
busy-polling workers do, so three of them can share two cores.

The machine's steal time (CPU taken by the hypervisor) during each stream
is reported beside it: on a virtual machine it is where a tail the code
cannot cause comes from.
"""

import os
import subprocess
import time

FRACTIONS = (0.1, 0.5, 0.9)
QUANTILES = ("min", "p50", "p90", "p99", "p99_9", "max")
FLOOR = "floor: a zero-cost forwarder on CPU 0"
RELAY = "ring hop, bare DPDK relay instead of the nfv"
VHOST_HOP = "vhost hop, virtio to virtio"
VHOST_HOP_TESTPMD = "vhost hop, testpmd's vhost PMD instead of the nfv"


def say(msg):
    print(f"bench: {msg}", flush=True)


def steal_ms():
    """CPU time the hypervisor took from this machine so far (all CPUs)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[8]) * 1000 / os.sysconf("SC_CLK_TCK")


def interrupts(cpu):
    """Interrupts this (guest) kernel has handled on cpu so far."""
    with open("/proc/interrupts") as f:
        ncpu = len(f.readline().split())
        return sum(int(fields[1 + cpu]) for fields in map(str.split, f)
                   if len(fields) > ncpu and fields[1 + cpu].isdigit())


class Latency:
    def __init__(self, bench):
        self.b = bench
        self.cleanups = []      # what a path started: ended with it

    # ---- the paths: each sets up a panel and returns where pb-gen's
    # stream leaves and comes back

    def loopback(self, p):
        """No switch: pb-gen reads back what it wrote to ring:0 (the
        generator's own share of every figure)."""
        return "ring:0", "ring:0"

    def ring_hop(self, p):
        p.start_nfv(1, cpus="0", extra=["--busy-poll"])
        for line in ("add ring:0", "add ring:1", "patch ring:0 ring:1",
                     "forward"):
            p.cmd(f"nfv 1; {line}")
        return "ring:0", "ring:1"

    def relay_hop(self, p):
        argv = self.b.pb_gen_argv(p, "relay", "0", [
            "--rx", "ring:0", "--tx", "ring:1", "--relay"])
        relay = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        self.cleanups.append(lambda: self.b.interrupt(relay, 30))
        time.sleep(1.0)
        return "ring:0", "ring:1"

    def chain_of_2(self, p):
        for i in (1, 2):
            p.start_nfv(i, cpus=str(i - 1), extra=["--busy-poll"])
            p.cmd(f"nfv {i}; add ring:{i - 1}")
            p.cmd(f"nfv {i}; add ring:{i}")
            p.cmd(f"nfv {i}; patch ring:{i - 1} ring:{i}")
            p.cmd(f"nfv {i}; forward")
        return "ring:0", "ring:2"

    def vhost_loop(self, p):
        """nfv 1 serves vhost:0 and vhost:1; nfv 2, the guest's side,
        loops its virtio_user ports (virtio:0 -> virtio:1)."""
        socks = self.b.vhost_socks()
        p.start_nfv(1, cpus="0", extra=["--busy-poll"])
        p.start_nfv(2, cpus="1", extra=["--busy-poll"])
        for line in ["add ring:0", "add ring:1"] + [
                f"add vhost:{i} path={s}" for i, s in enumerate(socks)] + [
                "patch ring:0 vhost:0", "patch vhost:1 ring:1", "forward"]:
            p.cmd(f"nfv 1; {line}")
        for line in [f"add virtio:{i} path={s}" for i, s in enumerate(socks)
                     ] + ["patch virtio:0 virtio:1", "forward"]:
            p.cmd(f"nfv 2; {line}")
        time.sleep(1.0)
        return "ring:0", "ring:1"

    def virtio_ends(self, socks):
        """pb-gen's own virtio ports, one on each of the switch's vhost
        sockets: it sends on the first, reads the second."""
        return tuple(f"virtio:{i} path={s}" for i, s in enumerate(socks))

    def vhost_hop(self, p):
        """virtio:0 -> nfv 1's vhost:0 -> vhost:1 -> virtio:1."""
        socks = self.b.vhost_socks()
        p.start_nfv(1, cpus="0", extra=["--busy-poll"])
        for line in [f"add vhost:{i} path={s}" for i, s in enumerate(socks)
                     ] + ["patch vhost:0 vhost:1", "forward"]:
            p.cmd(f"nfv 1; {line}")
        return self.virtio_ends(socks)

    def vhost_hop_testpmd(self, p):
        """The same hop through testpmd's vhost PMD, io forwarding on CPU
        0, in place of the nfv."""
        socks = self.b.vhost_socks()
        eal = ["-l", "0,1", "--main-lcore", "1", "-m", "512"] + sum(
            (["--vdev", f"net_vhost{i},iface={s}"]
             for i, s in enumerate(socks)), [])
        sw, prefix, log = self.b.testpmd(eal, ["--forward-mode=io",
                                               "--auto-start"], "lat-sw")

        def stop():
            self.b.interrupt(sw, 20)
            self.b.cleanup_prefix(prefix)
        self.cleanups.append(stop)
        self.b.wait_log(log, "forwards packets on")
        return self.virtio_ends(socks)

    # name, setup, the path whose rates it runs at (else its own NDR)
    PATHS = (("pb-gen loopback, no switch", loopback, None),
             ("ring hop", ring_hop, None),
             (RELAY, relay_hop, "ring hop"),
             ("chain of 2 nfvs", chain_of_2, None),
             ("vhost loop", vhost_loop, None),
             (VHOST_HOP, vhost_hop, None),
             (VHOST_HOP_TESTPMD, vhost_hop_testpmd, VHOST_HOP))

    # ---- measuring

    def stream(self, p, rate, size, seconds, tx, rx):
        stolen = steal_ms()
        r = self.b.gen(p, rate, size, seconds, tx, rx)
        r["steal_ms"] = steal_ms() - stolen
        return r

    def ndr(self, p, size, trial, tx, rx):
        """The path's MRR, and its NDR by binary search."""
        mrr = self.stream(p, 50e6, size, trial, tx, rx)["received"] / trial
        lo, hi = 0.0, mrr * 1.1
        for _ in range(6):
            mid = (lo + hi) / 2
            r = self.stream(p, mid, size, trial, tx, rx)
            lo, hi = (mid, hi) if r["lost"] == 0 else (lo, mid)
        return mrr, lo

    def floor(self, size, rate, ndr, short):
        """The zero-cost forwarder on CPU 0 at rate: the CPU's own tail."""
        p = self.b.panel(size)
        try:
            stolen, irqs = steal_ms(), interrupts(0)
            r = self.b.gen(p, rate, size, 1.0 if short else 5.0, cpus="0",
                           extra=["--floor"])
            row = self.row(FLOOR, size, 0.5, ndr, ndr, r,
                           steal_ms() - stolen)
            row["stalls"] = {**r["stalls"], "seconds": r["seconds"],
                             "interrupts": interrupts(0) - irqs}
            st = row["stalls"]
            say(f"  CPU 0 stalled {st['count']} times over 1 us "
                f"({st['ns'] / 1e6:.1f} ms in {r['seconds']:g} s): "
                f"{st['interrupts']} interrupts there, preempted "
                f"{st['preempted']} times")
            return row
        finally:
            p.stop()

    @staticmethod
    def row(name, size, frac, ndr, mrr, r, steal):
        lat = r["latency_ns"]
        say(f"  {name}, {frac:.0%} NDR: " + ", ".join(
            f"{q} {lat[q] / 1e3:.1f}" for q in QUANTILES)
            + f" us; lost {r['lost']}; steal {steal:.0f} ms")
        ref = name in (RELAY, VHOST_HOP_TESTPMD, FLOOR)
        return {"path": name, "impl": "reference" if ref else "patchbay",
                "size": size,
                "load": frac, "rate": frac * ndr, "ndr": ndr, "mrr": mrr,
                "lost": r["lost"], "sent": r["sent"], "steal_ms": steal,
                **{q: lat[q] for q in QUANTILES},
                "histogram": lat["histogram"]}

    def path(self, name, setup, size, short, rates_of=None):
        """rates_of: a row of another path whose NDR sets this one's
        rates, so that the two compare at the same loads."""
        p = self.b.panel(size)
        try:
            tx, rx = setup(self, p)
            if rates_of and rates_of["ndr"] > 0:
                mrr, ndr = rates_of["mrr"], rates_of["ndr"]
            else:
                mrr, ndr = self.ndr(p, size, 0.5 if short else 1.0, tx, rx)
            say(f"latency, {name} [{size} B]: MRR {mrr / 1e6:.2f}, NDR "
                f"{ndr / 1e6:.2f} Mpps" + (f" ({rates_of['path']}'s)"
                                          if rates_of else ""))
            rows = []
            for frac in FRACTIONS:
                r = self.stream(p, frac * ndr, size, 1.0 if short else 5.0,
                                tx, rx)
                rows.append(self.row(name, size, frac, ndr, mrr, r,
                                     r["steal_ms"]))
            return rows
        finally:
            for stop in self.cleanups:
                stop()
            self.cleanups.clear()
            p.stop()

    def run(self, size, short):
        rows = self.b.results.setdefault("latency", [])

        def first_row(path):
            return next((r for r in rows if r["path"] == path
                         and r["size"] == size), None)
        for name, setup, rates_of in self.PATHS:
            rows.extend(self.path(name, setup, size, short,
                                  rates_of and first_row(rates_of)))
        hop = first_row("ring hop")
        if hop["ndr"] > 0:
            rows.append(self.floor(size, 0.5 * hop["ndr"], hop["ndr"],
                                   short))


def markdown(rows, hitless):
    """The latency table, the reconfiguration's, and the targets."""
    if not rows and not hitless:
        return []
    out = ["## Latency (pb-gen's TSC stamps; microseconds)", "",
           "| path | packet | load | rate Mpps | min | p50 | p90 | p99 "
           "| p99.9 | max | lost | steal ms |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['path']} | {r['size']} B | {r['load']:.0%} NDR "
                   f"({r['ndr'] / 1e6:.2f}) | {r['rate'] / 1e6:.2f} | "
                   + " | ".join(f"{r[q] / 1e3:.1f}" for q in QUANTILES)
                   + f" | {r['lost']} | {r['steal_ms']:.0f} |")
    for r in rows:
        if r.get("stalls"):
            st = r["stalls"]
            out += ["", f"CPU 0, only spinning ({r['size']} B run): "
                    f"{st['count']} stalls over 1 µs in {st['seconds']:g} s, "
                    f"{st['ns'] / 1e6:.1f} ms in all. Meanwhile the guest "
                    f"kernel handled {st['interrupts']} interrupts there and "
                    f"ran another task {st['preempted']} times; any stall "
                    "beyond those the guest never saw: the hypervisor's."]
    if hitless and hitless.get("latency"):
        out += ["", "While 1000 patch changes happen on another patch, and "
                "with the same control-plane load but no change:", "",
                "| stream | min | p50 | p90 | p99 | p99.9 | max |",
                "|---|---|---|---|---|---|---|"]
        for label, lat in hitless["latency"].items():
            out.append(f"| {label} | " + " | ".join(
                f"{lat[q] / 1e3:.1f}" for q in QUANTILES) + " |")
    return out + [""]


def svg_plot(rows, path):
    """CSIT's latency plot: for each path at 50 % NDR, latency against the
    share of packets slower than it (log scale: 50 %, 10 %, ..., 0.001 %)."""
    import math
    curves = [r for r in rows if r["load"] == 0.5]
    if not curves:
        return
    w, h, left, top, bottom = 640, 320, 60, 20, 40
    colors = ["#2a7", "#27a", "#a72", "#a27", "#7a2", "#72a"]
    ymax = max(max(t for t, _ in r["histogram"]) for r in curves) / 1e3
    ylog = lambda us: math.log10(max(us, 0.1)) + 1            # noqa: E731
    ytop = ylog(ymax) or 1
    xlog = lambda share: -math.log10(max(share, 1e-6))         # noqa: E731
    xmax = 6.0
    px = lambda s: left + (w - left - 10) * xlog(s) / xmax     # noqa: E731
    py = lambda us: top + (h - top - bottom) * (1 - ylog(us) / ytop)  # noqa
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" '
           f'height="{h}" font-family="monospace" font-size="11">',
           f'<text x="4" y="12">latency (us, log) at 50 % NDR against the '
           f'share of packets slower</text>']
    for e in range(0, 7):
        x = left + (w - left - 10) * e / xmax
        out.append(f'<text x="{x - 12:.0f}" y="{h - 22}">'
                   f'{100 / 10 ** e:g}%</text>')
    for e in range(-1, int(ytop)):
        out.append(f'<text x="2" y="{py(10 ** e) + 4:.0f}">{10 ** e:g}</text>')
    for i, r in enumerate(curves):
        total = sum(n for _, n in r["histogram"]) or 1
        seen, pts = 0, []
        for top_ns, n in r["histogram"]:
            seen += n
            slower = max((total - seen) / total, 1e-6)
            pts.append(f"{px(slower):.1f},{py(top_ns / 1e3):.1f}")
        c = colors[i % len(colors)]
        out += [f'<polyline fill="none" stroke="{c}" stroke-width="1.5" '
                f'points="{" ".join(pts)}"/>',
                f'<text x="{w - 220}" y="{30 + 14 * i}" fill="{c}">'
                f'{r["path"]} {r["size"]} B</text>']
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
