"""Port kinds beyond rings and vhost, the idle policy, and the little
promises: deleting a patched port, --help."""

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time

import pytest
from pbctl.launcher import PanelError

import pcaputil
from machine import SANITIZED, needs
from test_telemetry import telemetry
from test_chains import stats, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_memif_between_two_secondaries(null_panel, tmp_path):
    p = null_panel
    sent = pcaputil.make_packets(300, max_size=1000)
    pcaputil.write(tmp_path / "in.pcap", sent)
    sock = tmp_path / "memif.sock"
    p.start_nfv(1, cpus="0")
    p.start_nfv(2, cpus="1")
    p.cmd(f"nfv 1; add memif:0 socket={sock} role=server")
    p.cmd(f"nfv 2; add memif:1 socket={sock} role=client")
    p.cmd(f"nfv 1; add pcap:0 rx={tmp_path / 'in.pcap'}")
    p.cmd(f"nfv 2; add pcap:1 tx={tmp_path / 'out.pcap'}")
    p.cmd("nfv 2; patch memif:1 pcap:1")
    p.cmd("nfv 2; forward")
    time.sleep(2)  # the memif peers connect through the primary
    p.cmd("nfv 1; patch pcap:0 memif:0")
    p.cmd("nfv 1; forward")
    wait_until(lambda: stats(p, 1)["pcap:0"]["rx"] == len(sent))
    out = stats(p, 1)["memif:0"]
    assert out["tx"] + out["tx_drop"] == len(sent)
    assert out["tx"] > 0
    wait_until(lambda: stats(p, 2)["pcap:1"]["tx"] == out["tx"])
    assert stats(p, 2)["memif:1"]["rx"] == out["tx"]
    p.cmd("nfv 2; del pcap:1")
    got = pcaputil.read(tmp_path / "out.pcap")
    # what arrived arrived whole and in order
    seqs = [pcaputil.seq(x) for x in got]
    assert seqs == sorted(seqs)
    assert all(x == sent[pcaputil.seq(x)] for x in got)


def test_tap_port_delivers_to_the_kernel(null_panel, tmp_path):
    p = null_panel
    sent = pcaputil.make_packets(50, max_size=400)
    pcaputil.write(tmp_path / "in.pcap", sent)
    p.start_nfv(1)
    p.cmd("nfv 1; add tap:0 iface=pbtest0")
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5))
    try:
        raw.bind(("pbtest0", 0))
        raw.settimeout(5)
        p.cmd(f"nfv 1; add pcap:0 rx={tmp_path / 'in.pcap'}")
        p.cmd("nfv 1; patch pcap:0 tap:0")
        p.cmd("nfv 1; forward")
        got = [raw.recv(65536) for _ in range(len(sent))]
    finally:
        raw.close()
    assert got == sent
    assert stats(p, 1)["tap:0"]["tx"] == len(sent)
    p.cmd("nfv 1; del tap:0")
    r = subprocess.run(["ip", "link", "show", "pbtest0"], capture_output=True)
    assert r.returncode != 0, "the tap interface outlived its port"


def core_share(pid, seconds):
    """The share of a core process pid uses over the next seconds."""
    def cpu_seconds():
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    before, t0 = cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds() - before) / (time.monotonic() - t0)


def test_idle_nfv_uses_under_5_percent_of_a_core(null_panel):
    p = null_panel
    proc = p.start_nfv(1)
    p.cmd("nfv 1; add ring:0")
    p.cmd("nfv 1; add ring:1")
    p.cmd("nfv 1; patch ring:0 ring:1")  # a patch with nothing to move
    p.cmd("nfv 1; forward")
    time.sleep(0.5)
    used = core_share(proc.pid, 3)
    assert used < 0.05, f"idle nfv used {used:.1%} of a core"


def test_a_worker_blocked_by_a_ring_nobody_reads_goes_back_to_sleep(
        null_panel):
    """A worker whose output ring is full moves nothing; when the reader
    never comes (nobody reads ring:0), it must sleep as an idle one does
    rather than spin on the full ring, and drop nothing."""
    p = null_panel
    proc = p.start_nfv(1)
    p.cmd("nfv 1; add ring:0")
    p.cmd("nfv 1; patch phy:0 ring:0")
    p.cmd("nfv 1; forward")
    wait_until(lambda: stats(p, 1)["ring:0"]["tx"] >= 4095, 10,
               "ring:0 full")
    time.sleep(0.5)
    used = core_share(proc.pid, 3)
    assert used < 0.05, f"the blocked nfv used {used:.1%} of a core"
    assert stats(p, 1)["ring:0"]["tx_drop"] == 0


def test_light_traffic_lets_an_idle_worker_sleep(null_panel):
    """Between packets a few microseconds apart the worker yields its CPU
    before it sleeps, but only while another thread takes it: alone on
    its CPU, 50 000 packets a second must leave it mostly asleep (a
    worker that yielded regardless spun at 100 % of a core here). Not
    under the sanitizers: their slower passes alone fill the gaps."""
    p = null_panel
    proc = p.start_nfv(1)
    p.cmd("nfv 1; add null:0 size=64 rate=50000")
    p.cmd("nfv 1; add null:1")
    p.cmd("nfv 1; patch null:0 null:1")
    p.cmd("nfv 1; forward")
    time.sleep(0.5)
    sent = stats(p, 1)["null:1"]["tx"]
    used = core_share(proc.pid, 3)
    rate = (stats(p, 1)["null:1"]["tx"] - sent) / 3
    assert 45000 < rate < 55000, rate
    assert SANITIZED or used < 0.5, f"the nfv used {used:.1%} of a core"


def test_busy_poll_spins(null_panel):
    p = null_panel
    proc = p.start_nfv(1, extra=["--busy-poll"])
    p.cmd("nfv 1; forward")
    used = core_share(proc.pid, 1)
    assert used > 0.5, f"--busy-poll nfv used only {used:.1%} of a core"


def test_deleting_a_patched_port_removes_its_patches(null_panel):
    p = null_panel
    p.start_nfv(1)
    p.cmd("nfv 1; add ring:0")
    p.cmd("nfv 1; add ring:1")
    p.cmd("nfv 1; patch phy:0 ring:0")
    p.cmd("nfv 1; patch ring:0 ring:1")
    p.cmd("nfv 1; patch ring:1 phy:1")
    p.cmd("nfv 1; forward")
    p.cmd("nfv 1; del ring:0")
    st = p.cmd("nfv 1; status")
    assert st["patches"] == [{"src": "ring:1", "dst": "phy:1"}]
    assert "ring:0" not in st["ports"]
    # and it is free for someone else to write
    p.start_nfv(2, cpus="0")
    p.cmd("nfv 2; add ring:0")
    p.cmd("nfv 2; patch phy:1 ring:0")


def run_bare(prog, *app_args):
    """Run a program without hugepages or shared files, on its own prefix."""
    prefix = f"pbhelp{os.getpid()}"
    try:
        return subprocess.run([os.path.join(ROOT, "build", prog), "--no-huge",
                               "--no-pci", "-m", "64", "--no-shconf",
                               "--file-prefix", prefix, "--", *app_args],
                              capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)


def test_help_and_bad_flags():
    for prog in ("patchbay-primary", "patchbay-nfv"):
        r = run_bare(prog, "-h")
        assert r.returncode == 2
        assert f"usage: {prog}" in r.stderr
    r = run_bare("patchbay-nfv", "-n", "zero")
    assert r.returncode == 2 and "client id must be a number" in r.stderr
    r = run_bare("patchbay-primary", "-p", "0xZZ")
    assert r.returncode == 2 and "portmask must be hex" in r.stderr
    r = run_bare("patchbay-primary", "-n", "65")
    assert r.returncode == 2 and "-n: must be a number from 0 to 64" in r.stderr


@contextlib.contextmanager
def two_queue_guest(p, tmp_path, sock):
    """A guest: testpmd on virtio_user with 2 queue pairs, io forwarding
    each rx queue back out on its tx queue; yields its log's path, which
    has its per-queue counts once it ends."""
    log_path = tmp_path / "testpmd.log"
    log = open(log_path, "w")
    guest = subprocess.Popen(
        ["dpdk-testpmd", "--lcores", "0@0,1@1", "-m", "256", "--no-pci",
         "--file-prefix", f"pbmq{os.getpid()}", "--single-file-segments",
         "--vdev", f"virtio_user0,path={sock},queues=2,queue_size=1024",
         "--", "--rxq=2", "--txq=2", "--forward-mode=io",
         "--port-topology=loop", "--auto-start"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        stdin=subprocess.PIPE)         # it runs until stdin says enter
    try:
        wait_until(lambda: p.cmd("nfv 1; status")["links"]["vhost:0"] ==
                   "up", 30, "the guest's driver")
        time.sleep(1)                   # it enables its second queue pair
        yield log_path
    finally:
        guest.send_signal(2)            # SIGINT: testpmd prints its stats
        guest.wait(30)
        log.close()
        subprocess.run(["rm", "-rf", f"/var/run/dpdk/pbmq{os.getpid()}"])


def per_queue_rx(text):
    counts = [0, 0]        # testpmd prints a stream only if it moved some
    for q, n in re.findall(r"RX Port= 0/Queue= ?(\d+) -> TX Port= 0/"
                           r"Queue= ?\d+ -+\s+RX-packets: +(\d+)", text):
        counts[int(q)] = int(n)
    return counts


def test_vhost_sends_each_flow_to_one_of_every_queue_the_guest_enabled(
        null_panel, tmp_path):
    """A guest with two queue pairs: the vhost port spreads 64 UDP flows
    over both by their hash, each flow on one queue, in order. Before,
    everything went to queue 0."""
    from scapy.all import IP, UDP, Ether, Raw
    p = null_panel
    p.start_nfv(1, lcores="5@0")
    sock = tmp_path / "mq.sock"
    p.cmd(f"nfv 1; add vhost:0 path={sock}")
    sent = [bytes(Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01") /
                  IP(src="10.9.0.1", dst="10.9.0.2") /
                  UDP(sport=20000 + f, dport=4789) / Raw(bytes([f, n]) * 20))
            for n in range(5) for f in range(64)]
    pcaputil.write(tmp_path / "in.pcap", sent)
    with two_queue_guest(p, tmp_path, sock) as log:
        p.cmd(f"nfv 1; add pcap:0 rx={tmp_path}/in.pcap "
              f"tx={tmp_path}/out.pcap")
        p.cmd("nfv 1; patch pcap:0 vhost:0")
        p.cmd("nfv 1; patch vhost:0 pcap:0")
        p.cmd("nfv 1; forward")
        wait_until(lambda: stats(p, 1)["pcap:0"]["tx"] == len(sent), 30,
                   "every frame back from the guest")
    p.cmd("nfv 1; del pcap:0")          # writes the file out
    got = pcaputil.read(tmp_path / "out.pcap")
    assert sorted(got) == sorted(sent)
    for f in range(64):                 # each flow in order
        assert [x for x in got if x[-40] == f] == \
            [x for x in sent if x[-40] == f]
    text = log.read_text()
    counts = per_queue_rx(text)
    assert min(counts) > 0, f"one queue carried everything: {counts}"
    assert sum(counts) == len(sent), text[-3000:]


def test_a_null_port_with_flows_makes_udp_flows_in_turn(null_panel,
                                                        tmp_path):
    """null:0 flows=8: IPv4/UDP frames of the asked size, UDP source ports
    1024..1031 in turn, a valid IPv4 header checksum."""
    from scapy.all import IP, UDP, Ether
    p = null_panel
    p.start_nfv(1, cpus="1")
    p.cmd("nfv 1; add null:0 size=100 flows=8")
    p.cmd(f"nfv 1; add pcap:0 tx={tmp_path}/out.pcap")
    p.cmd("nfv 1; patch null:0 pcap:0")
    p.cmd("nfv 1; forward")
    time.sleep(0.3)
    p.cmd("nfv 1; stop")
    p.cmd("nfv 1; del pcap:0")
    got = pcaputil.read(tmp_path / "out.pcap")
    assert len(got) >= 64
    for i, frame in enumerate(got[:64]):
        pkt = Ether(frame)
        assert len(frame) == 100 and UDP in pkt, pkt.summary()
        assert pkt[UDP].sport == 1024 + (i % 8) and pkt[UDP].dport == 4789
        assert pkt[IP].len == 86 and pkt[UDP].len == 66
        recomputed = IP(bytes(IP(src=pkt[IP].src, dst=pkt[IP].dst,
                                 ttl=pkt[IP].ttl, proto=pkt[IP].proto,
                                 len=pkt[IP].len, id=pkt[IP].id,
                                 flags=pkt[IP].flags)))
        assert pkt[IP].chksum == recomputed.chksum


def test_null_flows_options_are_checked(null_panel):
    p = null_panel
    p.start_nfv(1, cpus="1")
    for line, why in (("flows=0", "'flows' must be"),
                      ("flows=5000", "'flows' must be"),
                      ("size=40 flows=2", "needs 'size' of at least 60"),
                      ("flows=x", "'flows' must be")):
        with pytest.raises(PanelError, match=why):
            p.cmd(f"nfv 1; add null:3 {line}")
    assert "null:3" not in p.cmd("nfv 1; status")["ports"]
    p.cmd("nfv 1; add null:3 size=60 flows=2")      # and then it works
    assert "null:3" in p.cmd("nfv 1; status")["ports"]


@pytest.mark.parametrize("rate", [20_000, 1_000_000])
def test_a_null_port_with_a_rate_sends_that_many_packets_a_second(
        null_panel, rate):
    """null:0 rate=PPS into a ring that phy:1 drains: PPS a second over 3 s
    (within 5 %), nothing dropped anywhere, every mbuf back in the pool;
    flows still stamped under a rate."""
    p = null_panel
    p.start_nfv(1, cpus="1")
    p.cmd(f"nfv 1; add null:0 size=64 flows=4 rate={rate}")
    p.cmd("nfv 1; add ring:0")
    p.cmd("nfv 1; patch null:0 ring:0")
    p.cmd("nfv 1; patch ring:0 phy:1")
    p.cmd("nfv 1; forward")
    time.sleep(0.5)
    before, t0 = p.cmd("nfv 1; status")["stats"], time.monotonic()
    time.sleep(3.0)
    after, t1 = p.cmd("nfv 1; status")["stats"], time.monotonic()
    p.cmd("nfv 1; stop")
    pps = (after["ring:0"]["tx"] - before["ring:0"]["tx"]) / (t1 - t0)
    assert abs(pps - rate) <= 0.05 * rate, pps
    for port in ("null:0", "ring:0", "phy:1"):
        assert after[port]["rx_drop"] == after[port]["tx_drop"] == 0, after
    p.cmd("nfv 1; del null:0")
    wait_until(lambda: p.cmd("pri; status")["mbufs"]["in_use"] == 0, 5,
               "every mbuf back in the pool")


@needs("dpdk-telemetry.py")
def test_a_null_pmd_makes_only_the_frames_the_rate_lets_out(null_panel):
    """The bucket is asked before the null PMD, so it allocates no frame
    only for it to be freed again: DPDK's own count of the frames the port
    made (its ethdev's ipackets, through telemetry) is what left it."""
    p = null_panel
    p.start_nfv(1, cpus="1")
    p.cmd("nfv 1; add null:0 size=64 rate=20000")
    p.cmd("nfv 1; add ring:0")
    p.cmd("nfv 1; patch null:0 ring:0")
    p.cmd("nfv 1; patch ring:0 phy:1")
    p.cmd("nfv 1; forward")
    time.sleep(1.0)
    p.cmd("nfv 1; stop")
    left = p.cmd("nfv 1; status")["stats"]["null:0"]["rx"]
    ids = telemetry(p, "/ethdev/list")[0]
    names = telemetry(p, *[f"/ethdev/info,{i}" for i in ids])
    null0 = next(i for i, info in zip(ids, names)
                 if info["name"] == "net_null_pb0")
    made = telemetry(p, f"/ethdev/stats,{null0}")[0]["ipackets"]
    assert 15_000 < left < 25_000, left
    assert made == left, (made, left)


def test_null_rate_option_is_checked(null_panel):
    p = null_panel
    p.start_nfv(1, cpus="1")
    for line, why in (("rate=0", "'rate' must be"),
                      ("rate=-5", "'rate' must be"),
                      ("rate=fast", "'rate' must be"),
                      ("rate=2000000000", "'rate' must be")):
        with pytest.raises(PanelError, match=why):
            p.cmd(f"nfv 1; add null:3 {line}")
    with pytest.raises(PanelError, match="rate"):
        p.cmd("nfv 1; add ring:0 rate=1000")
    assert p.cmd("nfv 1; status")["ports"] == ["phy:0", "phy:1"]


def test_vhost_spreads_a_null_sources_flows_over_the_guests_queues(
        null_panel, tmp_path):
    """BESS_QUEUES' case: a null source of 64 flows into a vhost port whose
    guest has two queue pairs: both queues carry traffic."""
    p = null_panel
    p.start_nfv(1, lcores="5@0")
    sock = tmp_path / "mq.sock"
    p.cmd(f"nfv 1; add vhost:0 path={sock}")
    p.cmd("nfv 1; add null:0 size=64 flows=64")
    with two_queue_guest(p, tmp_path, sock) as log:
        p.cmd("nfv 1; patch null:0 vhost:0")
        p.cmd("nfv 1; patch vhost:0 null:0")     # and back into the sink
        p.cmd("nfv 1; forward")
        wait_until(lambda: stats(p, 1)["vhost:0"]["rx"] > 10000, 30,
                   "frames back from the guest")
        p.cmd("nfv 1; stop")
    counts = per_queue_rx(log.read_text())
    assert min(counts) > 0.2 * sum(counts), \
        f"the queues are not both used: {counts}"
