"""Real packets through real chains: counters that add up hop by hop, and
pcap files that come out byte-identical and in order."""

import os
import threading
import time

import pcaputil


def stats(panel, nfv):
    return panel.cmd(f"nfv {nfv}; status")["stats"]


def wait_until(cond, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_stable(read, timeout=10):
    """Wait until read() returns the same value twice in a row."""
    last = read()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = read()
        if now == last:
            return now
        last = now
    raise AssertionError("counters never settled")


def test_null_ring_null_two_secondaries_counters_add_up(null_panel):
    p = null_panel
    p.start_nfv(1, cpus="0")
    p.start_nfv(2, cpus="1")
    for line in ("nfv 1; add ring:0", "nfv 1; patch phy:0 ring:0",
                 "nfv 2; add ring:0", "nfv 2; patch ring:0 phy:1",
                 "nfv 2; forward", "nfv 1; forward"):
        p.cmd(line)
    time.sleep(0.5)
    p.cmd("nfv 1; stop")
    # nfv 2 drains what is left in the ring, then stops too
    wait_stable(lambda: stats(p, 2)["ring:0"]["rx"])
    p.cmd("nfv 2; stop")

    s1, s2 = stats(p, 1), stats(p, 2)
    phy0, ring0, phy1 = s1["phy:0"], s2["ring:0"], s2["phy:1"]
    assert phy0["rx"] > 10000
    # hop 1: all phy:0 read went into ring:0 or was dropped there
    assert phy0["rx"] == ring0["tx"] + ring0["tx_drop"]
    # hop 2: all that went into the ring came out of it, and into phy:1
    assert ring0["rx"] == ring0["tx"]
    assert ring0["rx"] == phy1["tx"] + phy1["tx_drop"]
    # both processes and the primary see the same shared counters
    assert s1["ring:0"] == ring0
    pri = p.cmd("pri; status")
    pri_ring0 = next(r for r in pri["ring_ports"] if r["id"] == 0)
    assert {k: pri_ring0[k] for k in ring0} == ring0
    pri_phy0 = next(r for r in pri["phy_ports"] if r["id"] == 0)
    assert pri_phy0["rx"] == phy0["rx"]

    p.cmd("pri; clear")
    pri = p.cmd("pri; status")
    assert all(r["rx"] == r["tx"] == 0 for r in pri["ring_ports"])
    assert all(r["rx"] == r["tx"] == 0 for r in pri["phy_ports"])


def test_pcap_through_ring_and_vhost_virtio_is_identical(null_panel, tmp_path):
    """nfv 1: pcap -> ring:0;  nfv 2: ring:0 -> vhost:0;
    nfv 1: virtio:0 (connected to vhost:0) -> pcap out."""
    p = null_panel
    # 1000 packets fit in virtio's 1024 descriptors: a pcap source reads
    # at memory speed, faster than any consumer, and what a full vhost
    # queue cannot take is dropped (and counted), as in any vswitch.
    sent = pcaputil.make_packets(1000)
    src, dst = tmp_path / "in.pcap", tmp_path / "out.pcap"
    sock = tmp_path / "vhost0.sock"
    pcaputil.write(src, sent)
    p.start_nfv(1, cpus="0")
    p.start_nfv(2, cpus="1")
    for line in (f"nfv 2; add vhost:0 path={sock}",
                 "nfv 2; add ring:0",
                 "nfv 2; patch ring:0 vhost:0",
                 f"nfv 1; add virtio:0 path={sock}",
                 f"nfv 1; add pcap:0 rx={src}",
                 f"nfv 1; add pcap:1 tx={dst}",
                 "nfv 1; add ring:0",
                 "nfv 1; patch pcap:0 ring:0",
                 "nfv 1; patch virtio:0 pcap:1",
                 "nfv 2; forward", "nfv 1; forward"):
        p.cmd(line)
    wait_until(lambda: stats(p, 1)["pcap:1"]["tx"] == len(sent),
               what="all packets at the output pcap")
    s1, s2 = stats(p, 1), stats(p, 2)
    assert s1["pcap:0"]["rx"] == len(sent)
    assert s2["ring:0"]["rx"] == s2["vhost:0"]["tx"] == len(sent)
    assert s1["virtio:0"]["rx"] == len(sent)
    assert all(v["tx_drop"] == 0 for v in list(s1.values()) + list(s2.values()))
    size = sum(map(len, sent))
    assert s1["pcap:0"]["rx_bytes"] == s1["pcap:1"]["tx_bytes"] == size
    assert s2["vhost:0"]["tx_bytes"] == s1["virtio:0"]["rx_bytes"] == size
    p.cmd("nfv 1; del pcap:1")  # closes the file, flushing it
    got = pcaputil.read(dst)
    assert len(got) == len(sent)
    assert [pcaputil.seq(x) for x in got] == list(range(len(sent)))
    assert got == sent
    p.cmd("nfv 1; del virtio:0")
    p.cmd("nfv 2; del vhost:0")
    assert not os.path.exists(sock), "vhost socket left behind"


def test_patch_changes_while_forwarding_lose_nothing_elsewhere(null_panel,
                                                               tmp_path):
    """One patch carries a pcap stream while another is patched and
    unpatched hundreds of times: the stream arrives whole and in order."""
    p = null_panel
    sent = pcaputil.make_packets(300000, max_size=128)
    src, dst = tmp_path / "in.pcap", tmp_path / "out.pcap"
    pcaputil.write(src, sent)
    p.start_nfv(1, cpus="1")
    p.cmd(f"nfv 1; add pcap:1 tx={dst}")
    p.cmd("nfv 1; forward")
    p.cmd("nfv 1; patch phy:0 phy:1")  # a second, busy patch to churn

    changes = 0
    stop = threading.Event()

    def churn():
        nonlocal changes
        while not stop.is_set():
            p.cmd("nfv 1; unpatch phy:0")
            p.cmd("nfv 1; patch phy:0 phy:1")
            changes += 2

    t = threading.Thread(target=churn)
    t.start()
    try:
        time.sleep(0.3)
        p.cmd(f"nfv 1; add pcap:0 rx={src}")
        p.cmd("nfv 1; patch pcap:0 pcap:1")
        wait_until(lambda: stats(p, 1)["pcap:1"]["tx"] == len(sent),
                   timeout=60, what="the whole stream")
    finally:
        stop.set()
        t.join()
    assert changes >= 20
    p.cmd("nfv 1; stop")  # counters settle: every burst read was sent
    p.cmd("nfv 1; del pcap:1")
    got = pcaputil.read(dst)
    assert len(got) == len(sent)
    assert [pcaputil.seq(x) for x in got] == list(range(len(sent)))
    s = stats(p, 1)
    assert s["phy:0"]["rx"] == s["phy:1"]["tx"] + s["phy:1"]["tx_drop"]
