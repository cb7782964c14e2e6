"""Linux interfaces as ports: two network namespaces joined by veth pairs
through a patchbay chain of two nfvs (af_packet ports, each opened by the
nfv that uses it), the interfaces' default offloads left as they are:
ping gets its replies, an iperf3 TCP run completes, counters match. And a
primary's net_af_packet phy is refused in a secondary with a sentence,
not a crash."""

import json
import os
import subprocess
import time

import pytest

from machine import needs
from test_chains import wait_until

pytestmark = needs("ip", "ping", "iperf3")


def sh(*argv, check=True, timeout=60):
    return subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout, check=check)


@pytest.fixture
def two_hosts():
    """ns A (10.77.x.1) -- vethA -- host side A | host side B -- vethB --
    ns B (10.77.x.2); the host sides are left for patchbay."""
    tag = f"{os.getpid() % 10000}"
    names = {"nsA": f"pbA{tag}", "nsB": f"pbB{tag}",
             "hostA": f"pbha{tag}", "hostB": f"pbhb{tag}"}
    net = f"10.77.{os.getpid() % 250}"
    try:
        for side, ns, host, ip in (("A", names["nsA"], names["hostA"], 1),
                                   ("B", names["nsB"], names["hostB"], 2)):
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", host, "type", "veth", "peer", "name",
               f"in{side}{tag}", "netns", ns)
            sh("ip", "link", "set", host, "up")
            sh("ip", "-n", ns, "addr", "add", f"{net}.{ip}/24", "dev",
               f"in{side}{tag}")
            sh("ip", "-n", ns, "link", "set", f"in{side}{tag}", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            # IPv6 would chatter on the link; keep it to what we test
            sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w",
               "net.ipv6.conf.all.disable_ipv6=1")
        names["net"] = net
        yield names
    finally:
        for key in ("hostA", "hostB"):
            sh("ip", "link", "del", names[key], check=False)
        for key in ("nsA", "nsB"):
            sh("ip", "netns", "del", names[key], check=False)


def in_ns(ns, *argv, **kw):
    return sh("ip", "netns", "exec", ns, *argv, **kw)


def offloads(ns, dev):
    out = in_ns(ns, "ethtool", "-k", dev).stdout
    return {line.split(":")[0].strip(): line.split(":")[1].split()[0]
            for line in out.splitlines() if ":" in line and
            line.split(":")[1].strip()}


def chain_two_nfvs(p, hosts, middle=None):
    """nfv 1: af_packet:0 (host A) -> ring:0, ring:1 -> af_packet:0;
    nfv 2: ring:0 (or middle's output) -> af_packet:1 (host B) -> ring:1."""
    p.start_nfv(1, lcores="5@0")
    p.start_nfv(2, lcores="6@1")
    p.cmd(f"nfv 1; add af_packet:0 iface={hosts['hostA']}")
    p.cmd(f"nfv 2; add af_packet:1 iface={hosts['hostB']}")
    for line in ("nfv 1; add ring:0", "nfv 1; add ring:1",
                 "nfv 1; patch af_packet:0 ring:0",
                 "nfv 1; patch ring:1 af_packet:0",
                 f"nfv 2; add {middle or 'ring:0'}", "nfv 2; add ring:1",
                 f"nfv 2; patch {middle or 'ring:0'} af_packet:1",
                 "nfv 2; patch af_packet:1 ring:1",
                 "nfv 1; forward", "nfv 2; forward"):
        p.cmd(line)


def ping_and_iperf(hosts):
    ns_a, ns_b, net = hosts["nsA"], hosts["nsB"], hosts["net"]
    ping = in_ns(ns_a, "ping", "-c", "5", "-i", "0.2", "-W", "2",
                 f"{net}.2", check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert " 0% packet loss" in ping.stdout
    server = subprocess.Popen(["ip", "netns", "exec", ns_b, "iperf3", "-s",
                               "-1", "-B", f"{net}.2"],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            probe = in_ns(ns_b, "ss", "-ltn", check=False).stdout
            if ":5201" in probe:
                break
            subprocess.run(["sleep", "0.1"])
        try:
            run = in_ns(ns_a, "iperf3", "-c", f"{net}.2", "-t", "3", "-J",
                        check=False, timeout=40)
        except subprocess.TimeoutExpired:
            raise AssertionError("iperf3 hung: TCP does not get through "
                                 "(checksums? super-frames?)") from None
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr
        result = json.loads(run.stdout)
        received = result["end"]["sum_received"]["bytes"]
        assert received > 1_000_000, result["end"]
        return result
    finally:
        server.kill()
        server.wait()


def test_ping_and_iperf3_through_two_nfvs_with_default_offloads(
        null_panel, two_hosts):
    p = null_panel
    # the defaults this is about: checksums and TSO left to "hardware"
    ol = offloads(two_hosts["nsA"], f"inA{two_hosts['nsA'][3:]}")
    assert ol["tx-checksumming"] == "on"
    chain_two_nfvs(p, two_hosts)
    result = ping_and_iperf(two_hosts)
    s1 = p.cmd("nfv 1; status")["stats"]
    s2 = p.cmd("nfv 2; status")["stats"]
    # what one nfv sent on, the other received, both ways
    assert s1["ring:0"]["tx"] == s2["ring:0"]["rx"] > 0
    assert s2["ring:1"]["tx"] == s1["ring:1"]["rx"] > 0
    assert s1["af_packet:0"]["rx"] == s1["ring:0"]["tx"] + \
        s1["ring:0"]["tx_drop"]
    assert s2["af_packet:1"]["tx"] + s2["af_packet:1"]["tx_drop"] == \
        s2["ring:0"]["rx"]
    print("iperf3 through two nfvs:",
          round(result["end"]["sum_received"]["bits_per_second"] / 1e9, 2),
          "Gbit/s")


def test_classifier_and_vlan_push_pop_in_the_path(null_panel, two_hosts):
    """A to B through vf 3: fw1 tags VLAN 10 (ring:0 -> ring:2), cls1
    steers VLAN 10 to ring:3 and pops the tag; B to A stays plain."""
    p = null_panel
    p.start_vf(3, lcores="7@1,8@1")
    for line in ("component start fw1 8 forward",
                 "component start cls1 8 classifier",
                 "port add ring:0 rx fw1",
                 "port add ring:2 tx fw1 add_vlantag 10 3",
                 "port add ring:2 rx cls1",
                 "port add ring:3 tx cls1 del_vlantag",
                 "classifier_table add vlan 10 default ring:3"):
        p.cmd(f"vf 3; {line}")
    chain_two_nfvs(p, two_hosts, middle="ring:3")
    ping_and_iperf(two_hosts)
    vf = p.rest("GET", "/v1/vfs/3")[1]
    cls = [c for c in vf["components"] if c.get("name") == "cls1"][0]
    assert cls["counters"]["misses"] == 0
    assert vf["stats"]["ring:2"]["tx"] == vf["stats"]["ring:3"]["tx"] > 0


def test_a_primary_af_packet_phy_is_refused_in_a_secondary(panel,
                                                           two_hosts):
    p = panel
    p.start_primary(vdevs=[f"net_af_packet0,iface={two_hosts['hostA']}",
                           "net_null1"])
    p.start_nfv(1, lcores="5@0")
    p.cmd("nfv 1; add ring:0")
    status, err = p.rest("PUT", "/v1/nfvs/1/patches",
                         {"src": "phy:0", "dst": "ring:0"})
    assert status == 400
    assert "net_af_packet" in err["error"] and "af_packet:N" in \
        err["error"]
    p.cmd("nfv 1; forward")
    assert p.cmd("nfv 1; status")["patches"] == []
    assert p.procs["nfv1"].poll() is None
    # phy:1 (net_null) is fine in a secondary
    p.cmd("nfv 1; patch phy:1 ring:0")


@pytest.fixture
def tap_with_two_queues(panel):
    """phy:0: a tap interface the primary gives two queue pairs
    (--port-num 0 rxq 2 txq 2); the kernel side up, IPv6 quiet."""
    iface = f"pbq{os.getpid() % 10000}"
    panel.start_primary(vdevs=[f"net_tap0,iface={iface}"], rings=1,
                        queues={0: {"rx": 2, "tx": 2}})
    sh("sysctl", "-q", "-w", f"net.ipv6.conf.{iface}.disable_ipv6=1")
    sh("ip", "link", "set", iface, "up")
    return iface


def test_each_queue_of_a_phy_is_a_port_of_its_own(panel, tap_with_two_queues,
                                                  tmp_path):
    """nfv 1 reads queue 0 (phy:0) and a vf's forward component queue 1
    (phy:0nq1), each into a pcap file, at the same time. The kernel
    spreads 64 UDP flows over the two queues by their hash: every frame
    arrives once, each flow whole and in order on one queue, and both
    queues get some. Then the vf writes frames to queue 1 and the
    kernel receives them byte for byte."""
    from scapy.all import (IP, UDP, AsyncSniffer, Ether, Raw, rdpcap,
                           sendp, wrpcap)
    p, iface = panel, tap_with_two_queues
    row = p.rest("GET", "/v1/primary/status")[1]["phy_ports"][0]
    assert row["nof_queues"] == {"rx": 2, "tx": 2}
    p.start_nfv(1, lcores="5@0")
    p.start_vf(2, lcores="6@1,7@1")
    q0, q1 = tmp_path / "q0.pcap", tmp_path / "q1.pcap"
    p.cmd(f"nfv 1; add pcap:1 tx={q0}")
    p.cmd("nfv 1; patch phy:0 pcap:1")
    p.cmd("nfv 1; forward")
    p.cmd("vf 2; component start f1 7 forward")
    p.cmd(f"vf 2; port add pcap:2 tx f1 tx={q1}")
    p.cmd("vf 2; port add phy:0 nq 1 rx f1")      # SPP's CLI form
    with pytest.raises(Exception, match="phy:0nq1 is already read by vf 2"):
        p.cmd("nfv 1; patch phy:0nq1 pcap:1")
    with pytest.raises(Exception, match="phy:0nq2 does not exist: phy:0 "
                       "has 2 rx and 2 tx queues"):
        p.cmd("vf 2; port add phy:0nq2 rx f1")
    assert p.rest("GET", "/v1/vfs/2")[1]["ports"][:2] == ["phy:0", "phy:0nq1"]

    flows, per_flow = 64, 5
    sent = [bytes(Ether(dst="02:00:00:00:00:99") /
                  IP(src="10.88.0.1", dst="10.88.0.2") /
                  UDP(sport=10000 + f, dport=4789) /
                  Raw(b"pbq" + bytes([f, n]) + bytes(60)))
            for n in range(per_flow) for f in range(flows)]
    sendp([Ether(x) for x in sent], iface=iface, verbose=False)
    ours = (lambda x: b"pbq" in x[42:45])
    stats = (lambda: p.cmd("nfv 1; status")["stats"]["phy:0"]["rx"] +
             p.rest("GET", "/v1/vfs/2")[1]["stats"]["phy:0nq1"]["rx"])
    wait_until(lambda: stats() >= len(sent), what="both queues read")
    p.rest("DELETE", "/v1/vfs/2")
    p.rest("DELETE", "/v1/nfvs/1")
    assert p.procs["vf2"].wait(10) == 0 and p.procs["nfv1"].wait(10) == 0
    got = [[bytes(x) for x in rdpcap(str(f)) if ours(bytes(x))]
           for f in (q0, q1)]
    assert sorted(got[0] + got[1]) == sorted(sent)
    assert got[0] and got[1], "the kernel used one queue only"
    for queue in got:
        flows_here = {x[45] for x in queue}
        for f in flows_here:       # each flow whole, in order, on one queue
            assert [x for x in queue if x[45] == f] == \
                [x for x in sent if x[45] == f]

    # writing queue 1: frames from a file, out through phy:0nq1
    p.start_vf(2, lcores="6@1,7@1")
    src = tmp_path / "out.pcap"
    wrpcap(str(src), [Ether(x) for x in sent[:100]])
    sniffer = AsyncSniffer(iface=iface, lfilter=lambda x: ours(bytes(x)))
    sniffer.start()
    time.sleep(1)
    p.cmd("vf 2; component start f2 7 forward")
    p.cmd("vf 2; port add phy:0nq1 tx f2")
    p.cmd(f"vf 2; port add pcap:3 rx f2 rx={src}")
    wait_until(lambda: p.rest("GET", "/v1/vfs/2")[1]["stats"]["phy:0nq1"][
        "tx"] == 100, what="100 frames written to queue 1")
    time.sleep(0.5)
    assert [bytes(x) for x in sniffer.stop()] == sent[:100]


def test_readers_of_a_phy_end_cleanly_when_the_primary_goes_first(
        panel, tap_with_two_queues, tmp_path):
    """The primary, ending, closed its tap phy while a vf's worker still
    polled queue 1: SIGSEGV in the tap PMD's rx burst. Now it tells the
    secondaries first and waits for them to end."""
    p = panel
    p.start_nfv(1, lcores="5@0")
    p.start_vf(2, lcores="6@1,7@1")
    p.cmd("nfv 1; add null:0")
    p.cmd("nfv 1; patch phy:0 null:0")
    p.cmd("nfv 1; forward")
    p.cmd("vf 2; component start f1 7 forward")
    p.cmd(f"vf 2; port add pcap:2 tx f1 tx={tmp_path}/q1.pcap")
    p.cmd("vf 2; port add phy:0nq1 rx f1")
    time.sleep(0.5)
    p.stop_process("primary")
    assert p.procs["vf2"].wait(10) == 0, p.log("vf2")
    assert p.procs["nfv1"].wait(10) == 0, p.log("nfv1")
