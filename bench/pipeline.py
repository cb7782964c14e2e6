"""A 2-stage pipeline across two cores, beside the same pipeline built from
DPDK's own multi-process example (examples/multi_process/client_server_mp,
Debian's dpdk-doc), in the same run: the anchor row.

DPDK's: mp_server on CPU 0 reads both net_null ports and hands packets to
its client's ring; mp_client on CPU 1 sends them out of the other port.
patchbay's: nfv 1 on CPU 0 patches phy:0 -> ring:0 and phy:1 -> ring:1,
nfv 2 on CPU 1 patches ring:0 -> phy:1 and ring:1 -> phy:0. Both count the
packets sent out of the two ports. They take turns, bench.repeats times.
"""

import os
import re
import shutil
import statistics
import subprocess
import time

EXAMPLE = "/usr/share/dpdk/examples/multi_process/client_server_mp"


def say(msg):
    print(f"bench: {msg}", flush=True)


class Pipeline:
    def __init__(self, bench):
        self.b = bench

    def patchbay(self, size):
        p = self.b.panel(size)
        try:
            p.start_nfv(1, cpus="0", extra=["--busy-poll"])
            p.start_nfv(2, cpus="1", extra=["--busy-poll"])
            for i in (0, 1):
                p.cmd(f"nfv 1; add ring:{i}")
                p.cmd(f"nfv 2; add ring:{i}")
                p.cmd(f"nfv 1; patch phy:{i} ring:{i}")
                p.cmd(f"nfv 2; patch ring:{i} phy:{1 - i}")
            p.cmd("nfv 2; forward")
            p.cmd("nfv 1; forward")
            return self.b.rate(p, 2, ("phy:0", "phy:1"))
        finally:
            p.stop()

    def build_example(self):
        """mp_server and mp_client, built from dpdk-doc's sources in the
        work folder; their paths."""
        src = os.path.join(self.b.workdir, "client_server_mp")
        if not os.path.exists(src):
            shutil.copytree(EXAMPLE, src)
            for part in ("mp_server", "mp_client"):
                subprocess.run(["make", "-s", "-C", os.path.join(src, part)],
                               check=True, capture_output=True, timeout=300)
        return [os.path.join(src, part, "build", part)
                for part in ("mp_server", "mp_client")]

    def client_server(self, size):
        server, client = self.build_example()
        prefix = f"pbbenchmp{os.getpid()}"
        eal = ["--file-prefix", prefix, "--no-pci", "-m", "512"]
        # the server's main lcore forwards on CPU 0; its second lcore only
        # prints the counters each second (CPU 1, asleep otherwise)
        log = os.path.join(self.b.workdir, "mp_server.log")
        with open(log, "w") as out:
            srv = subprocess.Popen(
                # line-buffered: the counters are read while it runs
                ["stdbuf", "-oL", server, "--lcores", "0@0,1@1"] + eal +
                [f"--vdev=net_null{i},size={size}" for i in (0, 1)] +
                ["--", "-p", "3", "-n", "1"], stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        cli = None
        try:
            self.b.wait_log(log, "Finished Process Init")
            cli = subprocess.Popen(
                [client, "--lcores", "2@1", "--proc-type", "secondary"] +
                eal + ["--", "-n", "0"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
            return tx_rate(log, max(2, int(self.b.seconds)))
        finally:
            for proc in (cli, srv):
                if proc is not None:
                    self.b.interrupt(proc, 10)
            self.b.cleanup_prefix(prefix)

    def run(self, size):
        if not self.b.have(EXAMPLE, "2-stage pipeline, DPDK's client/server "
                           "example (dpdk-doc)"):
            return
        pb, mp = [], []
        for _ in range(self.b.repeats):
            pb.append(self.patchbay(size))
            mp.append(self.client_server(size))
        note = "2 stages on 2 cores, both directions"
        for impl, rates in (("patchbay: nfv -> ring -> nfv", pb),
                            ("DPDK client_server_mp", mp)):
            self.b.row("2-stage pipeline", impl, size,
                       statistics.median(rates), "2 workers on 2 cores",
                       note,
                       rates)


def tx_totals(log):
    """The server prints every port's counters each second: the sum of
    the ports' tx counts at each print."""
    with open(log, errors="replace") as f:
        text = f.read()
    return [sum(int(x) for x in re.findall(
        r"Port \d+ - rx:\s+\d+\s+tx:\s+(\d+)", block))
            for block in text.split("PORTS")[1:]]


def tx_rate(log, steps, timeout=60):
    """The median per-second growth of the ports' tx over steps prints,
    after the first two (the client starts meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        totals = tx_totals(log)
        if len(totals) >= steps + 3:
            grew = [b - a for a, b in zip(totals, totals[1:])][2:]
            return statistics.median(grew)
        time.sleep(0.2)
    return 0.0
