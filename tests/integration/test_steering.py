"""Steering, merging and mirroring with real packets: vf and mirror
processes with forward, merge, classifier and mirror components, fed by
pcap files of frames crafted with scapy, checked byte for byte against
what the classifier table, the VLAN ops and the copies say."""

import struct
import time

import pytest

from scapy.all import Dot1Q, Ether, Raw, rdpcap, wrpcap

from test_chains import wait_until

A, B, C, D = (f"52:54:00:00:00:0{i}" for i in "abcd")
BCAST = "ff:ff:ff:ff:ff:ff"
MCAST = "01:00:5e:00:00:01"


def frame(seq, dst, vlan=None, size=80):
    """A frame whose payload starts with its sequence number."""
    eth = Ether(dst=dst, src="02:00:00:00:00:01", type=0x88b5)
    if vlan is not None:
        eth = Ether(dst=dst, src="02:00:00:00:00:01") / \
            Dot1Q(vlan=vlan, prio=1, type=0x88b5)
    body = struct.pack(">I", seq) + bytes((seq + i) & 0xff
                                          for i in range(size - 18 - 4))
    return eth / Raw(body)


def seq_of(data):
    off = 18 if data[12:14] == b"\x81\x00" else 14
    return struct.unpack(">I", data[off:off + 4])[0]


def untag(data):
    if data[12:14] != b"\x81\x00":
        return data
    return data[:12] + data[16:]


def retag(data, vid, pcp):
    tci = struct.pack(">H", vid | pcp << 13)
    if data[12:14] == b"\x81\x00":
        return data[:14] + tci + data[16:]
    return data[:12] + b"\x81\x00" + tci + data[12:]


def vf(p, cid, line):
    return p.cmd(f"vf {cid}; {line}")


def out_frames(path):
    return [bytes(f) for f in rdpcap(str(path))]


def exit_and_wait(p, kind, cid):
    """exit closes the process's pcap files, writing them out."""
    p.rest("DELETE", f"/v1/{kind}s/{cid}")
    assert p.procs[f"{kind}{cid}"].wait(10) == 0


class Table:
    """The classifier's rules, as docs/steering.md states them, to say
    where each frame must go."""

    def __init__(self):
        self.entries = {}        # (vlan or None, mac or "default") -> port

    def add(self, vlan, mac, port):
        self.entries[(vlan, mac)] = port

    def ports_of(self, vlan):
        return {port for (v, _), port in self.entries.items() if v == vlan}

    def route(self, dst, vlan):
        hit = self.entries.get((vlan, dst))
        general = self.entries.get((None, "default"))
        if hit:
            return [hit]
        if int(dst[:2], 16) & 1:          # broadcast, multicast: flood
            ports = self.ports_of(vlan)
            if vlan is not None and general:
                ports.add(general)
            return sorted(ports)
        if (vlan, "default") in self.entries:
            return [self.entries[(vlan, "default")]]
        if vlan is not None and general:
            return [general]
        return []


def steering_traffic():
    frames, seq = [], 0
    for _ in range(6):
        for dst in (A, B, C, D, BCAST, MCAST):
            for vlan in (None, 100, 200):
                frames.append((dst, vlan, frame(seq, dst, vlan,
                                                size=64 + seq % 400)))
                seq += 1
    return frames


def test_classifier_steers_by_vlan_and_mac_and_floods(null_panel, tmp_path):
    """pcap:0 -> cls1 -> pcap:1, pcap:2, ring:0 (untags; nfv 1 drains it
    to pcap:3 afterwards, so a flooded frame changed in place later would
    show there) and pcap:4 (tags 300)."""
    p = null_panel
    p.start_vf(2, lcores="3@1,4@1")
    p.start_nfv(1, lcores="5@0")
    outs = {f"pcap:{i}": tmp_path / f"out{i}.pcap" for i in range(1, 5)}
    p.cmd(f"nfv 1; add pcap:3 tx={outs['pcap:3']}")
    p.cmd("nfv 1; add ring:0")
    p.cmd("nfv 1; patch ring:0 pcap:3")
    vf(p, 2, "component start cls1 4 classifier")
    for port, path in outs.items():
        body = {"action": "attach", "port": port, "dir": "tx",
                "tx": str(path)}
        if port == "pcap:3":
            body = {"action": "attach", "port": "ring:0", "dir": "tx",
                    "vlan": {"operation": "del"}}
        if port == "pcap:4":
            body["vlan"] = {"operation": "add", "id": 300, "pcp": 5}
        assert p.rest("PUT", "/v1/vfs/2/components/cls1/ports", body) == \
            (204, None)
    table = Table()
    for line, (vlan, mac, port) in [
            ("mac A pcap:1", (None, A, "pcap:1")),
            ("mac B pcap:2", (None, B, "pcap:2")),
            ("mac C pcap:2", (None, C, "pcap:2")),   # two MACs, one port
            ("vlan 100 A pcap:3", (100, A, "pcap:3")),
            ("vlan 100 default pcap:4", (100, "default", "pcap:4"))]:
        words = line.replace(" A ", f" {A} ").replace(" B ", f" {B} ") \
            .replace(" C ", f" {C} ")
        vf(p, 2, "classifier_table add " + words.replace("pcap:3", "ring:0"))
        table.add(vlan, mac, port)
    traffic = steering_traffic()
    src = tmp_path / "in.pcap"
    wrpcap(str(src), [f for _, _, f in traffic])
    assert p.rest("PUT", "/v1/vfs/2/components/cls1/ports",
                  {"action": "attach", "port": "pcap:0", "dir": "rx",
                   "rx": str(src)}) == (204, None)

    expected = {port: [] for port in outs}
    misses = 0
    for dst, vlan, f in traffic:
        ports = table.route(dst, vlan)
        misses += not ports
        for port in ports:
            data = bytes(f)
            if port == "pcap:3":
                data = untag(data)
            if port == "pcap:4":
                data = retag(data, 300, 5)
            expected[port].append(data)

    def status():
        return p.rest("GET", "/v1/vfs/2")[1]
    wait_until(lambda: status()["stats"]["pcap:0"]["rx"] == len(traffic),
               what="the classifier reading every frame")
    sent = {o: o if o != "pcap:3" else "ring:0" for o in outs}
    wait_until(lambda: sum(status()["stats"][sent[o]]["tx"] for o in outs)
               == sum(len(e) for e in expected.values()),
               what="every frame sent")
    p.cmd("nfv 1; forward")
    wait_until(lambda: p.cmd("nfv 1; status")["stats"]["pcap:3"]["tx"] ==
               len(expected["pcap:3"]), what="ring:0 drained")
    st = status()
    cls = [c for c in st["components"] if c.get("name") == "cls1"][0]
    assert cls["counters"]["misses"] == misses > 0
    assert st["classifier_table"] == [
        {"type": "mac", "value": A, "port": "pcap:1"},
        {"type": "mac", "value": B, "port": "pcap:2"},
        {"type": "mac", "value": C, "port": "pcap:2"},
        {"type": "vlan", "value": f"100/{A}", "port": "ring:0"},
        {"type": "vlan", "value": "100/default", "port": "pcap:4"}]
    in_use = p.rest("GET", "/v1/primary/status")[1]["mbufs"]["in_use"]
    exit_and_wait(p, "vf", 2)
    exit_and_wait(p, "nfv", 1)
    for port, path in outs.items():
        got = out_frames(path)
        assert [seq_of(x) for x in got] == \
            [seq_of(x) for x in expected[port]], port
        assert got == expected[port], port
    # every drop, flood copy and VLAN copy was freed
    assert in_use == p.rest("GET", "/v1/primary/status")[1]["mbufs"][
        "in_use"]
    assert all(expected.values())


def test_merge_shares_a_full_output_fairly(panel):
    """merge1 merges phy:0..3 (net_null: endless, as fast as it can read),
    tagging each input's frames with a VLAN of its own, into ring:0; cls
    classifies ring:0 by VLAN back out to the four phys. Both run on one
    lcore, one after the other, so each merge pass finds ring:0 (room for
    63) with exactly one burst of room: the output is the bottleneck, the
    same way every pass. Each input must get a quarter. A merge that reads
    its inputs in the same order every pass (SPP's) gives the first all
    of it (checked: this test fails with one)."""
    p = panel
    phys = [f"phy:{i}" for i in range(4)]
    p.start_primary(vdevs=[f"net_null{i}" for i in range(4)], rings=1,
                    app_extra=["--ring-size", "64"])
    p.start_vf(2, lcores="3@1,4@1")
    for line in ["component start cls 4 classifier",
                 "component start merge1 4 merge",
                 "port add ring:0 rx cls"] + \
            [f"port add {phy} tx cls" for phy in phys] + \
            [f"classifier_table add vlan {i + 1} default {phy}"
             for i, phy in enumerate(phys)] + \
            [f"port add {phy} rx merge1 add_vlantag {i + 1} 0"
             for i, phy in enumerate(phys)] + \
            ["port add ring:0 tx merge1"]:  # now it runs, all inputs at once
        vf(p, 2, line)
    time.sleep(1)
    vf(p, 2, "component stop merge1")
    time.sleep(0.2)
    st = p.rest("GET", "/v1/vfs/2")[1]["stats"]
    shares = [st[phy]["tx"] for phy in phys]
    assert sum(shares) == st["ring:0"]["tx"] == st["ring:0"]["rx"]
    assert st["ring:0"]["tx_drop"] > 2 * sum(shares), "seldom full"
    assert all(0.2 <= s / sum(shares) <= 0.3 for s in shares), shares


def mirror_setup(p, tmp_path, copy, count=300):
    p.start_mirror(3, lcores="6@1,7@1")
    frames = [bytes(frame(n, A if n % 3 else BCAST, 100 if n % 2 else None,
                          size=64 + n * 5 % 1400)) for n in range(count)]
    src, out1, out2 = (tmp_path / f"{n}.pcap" for n in ("in", "o1", "o2"))
    wrpcap(str(src), [Ether(f) for f in frames])
    p.cmd("mirror 3; component start mr1 7 mirror")
    p.cmd(f"mirror 3; component copy mr1 {copy}")
    p.cmd(f"mirror 3; port add pcap:1 tx mr1 tx={out1}")
    p.cmd(f"mirror 3; port add pcap:2 tx mr1 tx={out2}")
    p.cmd(f"mirror 3; port add pcap:0 rx mr1 rx={src}")
    return frames, out1, out2


def test_mirror_copies_are_identical_by_reference_and_deep(null_panel,
                                                           tmp_path):
    p = null_panel
    for copy in ("clone", "deep"):
        d = tmp_path / copy
        d.mkdir()
        in_use = p.rest("GET", "/v1/primary/status")[1]["mbufs"]["in_use"]
        frames, out1, out2 = mirror_setup(p, d, copy)
        st = p.rest("GET", "/v1/mirrors/3")[1]
        assert st["components"][0]["copy"] == copy
        wait_until(lambda: p.rest("GET", "/v1/mirrors/3")[1]["stats"][
            "pcap:2"]["tx"] == len(frames), what="every copy sent")
        exit_and_wait(p, "mirror", 3)
        p.procs.pop("mirror3")
        assert out_frames(out1) == frames, copy
        assert out_frames(out2) == frames, copy
        assert in_use == p.rest("GET", "/v1/primary/status")[1]["mbufs"][
            "in_use"]


@pytest.mark.parametrize("copy", ["deep", "clone"])
def test_mirror_with_no_mbuf_left_drops_copies_and_leaks_none(tmp_path,
                                                             panel, copy):
    """phy:0 (net_null, endless) mirrored to ring:0 and ring:1 that no one
    reads, from a pool of 8191 mbufs: the rings fill and the pool runs
    dry. Deep copies then fail and are counted (copies by reference need
    no mbuf); nothing crashes; once the rings are drained every mbuf is
    back."""
    p = panel
    p.start_primary(vdevs=["net_null0", "net_null1"], rings=2,
                    app_extra=["--mbufs", "8191"])
    base = p.rest("GET", "/v1/primary/status")[1]["mbufs"]["in_use"]
    p.start_mirror(3, lcores="6@1,7@1")
    for line in ("component start mr1 7 mirror", f"component copy mr1 {copy}",
                 "port add ring:0 tx mr1", "port add ring:1 tx mr1",
                 "port add phy:0 rx mr1"):
        p.cmd(f"mirror 3; {line}")

    def counters():
        return p.rest("GET", "/v1/mirrors/3")[1]["components"][0]["counters"]

    def status():
        return p.rest("GET", "/v1/mirrors/3")[1]["stats"]
    if copy == "deep":
        wait_until(lambda: counters()["copy_drops"] > 0,
                   what="copies failing")
    else:
        wait_until(lambda: status()["ring:1"]["tx_drop"] > 0,
                   what="the rings full")
    time.sleep(0.5)
    p.cmd("mirror 3; port del phy:0 rx mr1")
    assert p.procs["mirror3"].poll() is None
    p.start_nfv(1, lcores="5@0")
    p.cmd("nfv 1; add ring:0")
    p.cmd("nfv 1; add ring:1")
    p.cmd("nfv 1; patch ring:0 phy:1")
    p.cmd("nfv 1; patch ring:1 phy:1")
    p.cmd("nfv 1; forward")
    wait_until(lambda: p.rest("GET", "/v1/primary/status")[1]["mbufs"][
        "in_use"] <= base, what="every mbuf back")


BAD_VF_LINES = [
    # (command, what the error must say)
    ("component start", "usage"),
    ("component start c1 4", "usage"),
    ("component start c1 4 forward extra", "usage"),
    ("component start c1 four forward", "lcore id"),
    ("component start c1 9 forward", "lcore 9 is not a worker lcore"),
    ("component start c1 3 forward", "lcore 3 is not a worker lcore"),
    ("component start c1 4 classifier_mac", "unknown component type"),
    ("component start c1 4 mirror", "unknown component type"),
    ("component start fw1 4 merge", "named 'fw1' is running already"),
    ("component stop nosuch", "no component named 'nosuch'"),
    ("port add ring:1 rx", "usage"),
    ("port add ring:1 up fw1", "usage"),
    ("port add ring:1 rx nosuch", "no component named 'nosuch'"),
    ("port add ring:9 rx fw1", "ring:9"),
    ("port add nosuch:1 rx fw1", "nosuch"),
    ("port add ring:1 rx fw1", "at most 1 rx port"),
    ("port add ring:0 rx cls1", "ring:0 is already an rx port of fw1"),
    ("port add ring:2 tx fw1 add_vlantag 4096 0", "id"),
    ("port add ring:2 tx fw1 add_vlantag 10 8", "pcp"),
    ("port add ring:2 tx fw1 add_vlantag 10", "usage"),
    ("port add ring:2 tx fw1 add_vlantag x 1", "VID is a number"),
    ("port del ring:3 rx fw1", "not"),
    ("classifier_table add mac fa-16-3e-00-00-01 ring:1", "colons"),
    ("classifier_table add mac 52:54:00:00:00 ring:1", "colons"),
    ("classifier_table add mac 52:54:00:00:00:01:02 ring:1", "colons"),
    ("classifier_table add mac 52:54:00:00:00:0g ring:1", "colons"),
    ("classifier_table add mac 52:54:00:00:00:01", "usage"),
    ("classifier_table add mac 52:54:00:00:00:01 ring:1 extra", "usage"),
    ("classifier_table add vlan 4096 default ring:1", "vlan"),
    ("classifier_table add vlan x default ring:1", "usage"),
    ("classifier_table add ip 1.2.3.4 ring:1", "usage"),
    ("classifier_table add mac 52:54:00:00:00:01 ring:3",
     "ring:3 is not a tx port of a classifier"),
    ("classifier_table add mac 52:54:00:00:00:0a ring:2",
     "already goes to ring:1"),
    ("classifier_table del mac 52:54:00:00:00:0b ring:1", "has no"),
    ("classifier_table del mac 52:54:00:00:00:0a ring:2", "has no"),
    ("flood", "unknown vf command"),
]


def test_bad_vf_commands_say_what_is_wrong_and_change_nothing(null_panel):
    p = null_panel
    p.start_vf(2, lcores="3@1,4@1")
    for line in ("component start fw1 4 forward",
                 "component start cls1 4 classifier",
                 "port add ring:0 rx fw1", "port add ring:1 tx cls1",
                 "port add ring:2 tx cls1",
                 f"classifier_table add mac {A} ring:1"):
        vf(p, 2, line)

    def state():
        st = p.rest("GET", "/v1/vfs/2")[1]
        for c in st["components"]:
            c.pop("counters", None)
        return {k: st[k] for k in ("ports", "components",
                                   "classifier_table")}
    before = state()
    for line, says in BAD_VF_LINES:
        try:
            vf(p, 2, line)
        except Exception as e:      # SyntaxProblem or PanelError
            assert says.lower() in str(e).lower(), (line, str(e))
        else:
            raise AssertionError(f"'{line}' was accepted")
        assert state() == before, line
    assert p.procs["vf2"].poll() is None


def test_bad_rest_bodies_are_400_never_500(null_panel):
    p = null_panel
    p.start_vf(2, lcores="3@1,4@1")
    p.start_mirror(3, lcores="6@1,7@1")
    vf(p, 2, "component start cls1 4 classifier")
    bad = [
        ("POST", "/v1/vfs/2/components", {"name": 1, "core": 4,
                                          "type": "forward"}),
        ("POST", "/v1/vfs/2/components", {"name": "x", "core": "4a",
                                          "type": "forward"}),
        ("POST", "/v1/vfs/2/components", {"name": "x", "core": 4}),
        ("POST", "/v1/vfs/2/components", {"name": "x", "core": 4,
                                          "type": "forwarder"}),
        ("POST", "/v1/vfs/2/components", ["name"]),
        ("PUT", "/v1/vfs/2/components/cls1/ports",
         {"action": "attach", "port": "ring:1", "dir": "tx",
          "vlan": {"operation": "add", "id": "677x", "pcp": 1}}),
        ("PUT", "/v1/vfs/2/components/cls1/ports",
         {"action": "attach", "port": "ring:1", "dir": "tx",
          "vlan": {"operation": "push"}}),
        ("PUT", "/v1/vfs/2/components/cls1/ports",
         {"action": "attach", "port": "ring:1", "dir": "tx", "vlan": 3}),
        ("PUT", "/v1/vfs/2/components/cls1/ports",
         {"action": "plug", "port": "ring:1", "dir": "tx"}),
        ("PUT", "/v1/vfs/2/components/cls1/ports",
         {"action": "attach", "port": "ring:1", "dir": "both"}),
        ("PUT", "/v1/vfs/2/classifier_table",
         {"action": "add", "type": "mac", "mac_address": "fa-16-3e-1-2-3",
          "port": "ring:1"}),
        ("PUT", "/v1/vfs/2/classifier_table",
         {"action": "add", "type": "vlan", "vlan": "x",
          "mac_address": "default", "port": "ring:1"}),
        ("PUT", "/v1/vfs/2/classifier_table",
         {"action": "add", "type": "vlan", "mac_address": "default",
          "port": "ring:1"}),
        ("PUT", "/v1/mirrors/3/components/nosuch", {"copy": "deep"}),
        ("PUT", "/v1/mirrors/3/components/nosuch", {"copy": "shallow"}),
    ]
    for method, path, body in bad:
        status, reply = p.rest(method, path, body)
        assert status == 400 and reply["error"], (path, body, reply)
    assert p.rest("GET", "/v1/vfs/9")[0] == 404
    assert p.rest("GET", "/v1/mirrors/2")[0] == 404   # vf 2 is no mirror
    # the CLI sends "vlan": "101" as a string, as spp-ctl accepted
    vf(p, 2, "port add ring:1 tx cls1")
    assert p.rest("PUT", "/v1/vfs/2/classifier_table",
                  {"action": "add", "type": "vlan", "vlan": "101",
                   "mac_address": "default", "port": "ring:1"})[0] == 204


def test_topo_and_monitor_show_components(null_panel):
    import subprocess
    import sys
    from test_rest_cli import CLI
    p = null_panel
    p.start_nfv(1, lcores="5@0")
    p.start_vf(2, lcores="3@1,4@1")
    for line in ("nfv 1; add ring:0", "nfv 1; patch phy:0 ring:0",
                 "nfv 1; forward",
                 "vf 2; component start cls1 4 classifier",
                 "vf 2; component start m1 4 merge",
                 "vf 2; port add ring:1 tx cls1", "vf 2; port add ring:2 tx cls1",
                 f"vf 2; classifier_table add mac {A} ring:1",
                 "vf 2; classifier_table add mac default ring:2",
                 "vf 2; port add ring:0 rx cls1",
                 "vf 2; port add ring:1 rx m1", "vf 2; port add ring:2 rx m1",
                 "vf 2; port add phy:1 tx m1"):
        p.cmd(line)

    def shell(*args):
        return subprocess.run([sys.executable, CLI, "-b",
                               f"127.0.0.1:{p.api_port}", *args],
                              capture_output=True, text=True, timeout=60)
    out = shell("topo").stdout.splitlines()
    assert out[0] == ("phy:0 --nfv 1--> ring:0 --vf 2 cls1--> ring:1 "
                      "--vf 2 m1--> phy:1")
    assert out[1].strip() == "--vf 2 cls1--> ring:2 --vf 2 m1--> phy:1 " \
        "(joins)"
    assert out[1].index("--vf 2 cls1") == out[0].index("--vf 2 cls1")
    mon = shell("monitor 1")
    assert mon.returncode == 0, mon.stderr
    rows = {line.split()[2]: line.split() for line in mon.stdout.splitlines()
            if line.startswith("vf 2 ")}
    assert set(rows) == {"cls1", "m1"}
    assert "misses" in mon.stdout and "copy_drops" in mon.stdout
    assert all(float(x.replace(",", "")) >= 0 for x in rows["cls1"][3:7])


def test_changes_while_traffic_flows_lose_nothing_elsewhere(null_panel,
                                                           tmp_path):
    """fw1 carries a pcap stream pcap:0 -> pcap:1 while, on the same
    worker, a classifier's entries, a component and its ports come and go
    hundreds of times: the stream arrives whole, in order, unchanged."""
    import threading

    import pcaputil
    p = null_panel
    sent = pcaputil.make_packets(200000, max_size=128)
    src, dst = tmp_path / "in.pcap", tmp_path / "out.pcap"
    pcaputil.write(src, sent)
    p.start_vf(2, lcores="3@1,4@1")
    for line in ("component start fw1 4 forward",
                 f"port add pcap:1 tx fw1 tx={dst}",
                 "component start cls1 4 classifier",
                 "port add phy:0 rx cls1", "port add phy:1 tx cls1",
                 "classifier_table add mac default phy:1"):
        vf(p, 2, line)
    changes = 0
    stop = threading.Event()

    def churn():
        nonlocal changes
        while not stop.is_set():
            for line in (f"classifier_table add mac {A} phy:1",
                         "component start tmp 4 merge",
                         "port add ring:2 rx tmp", "port add ring:3 tx tmp",
                         f"classifier_table del mac {A} phy:1",
                         "port del ring:2 rx tmp", "port del ring:3 tx tmp",
                         "component stop tmp"):
                vf(p, 2, line)
                changes += 1

    t = threading.Thread(target=churn)
    t.start()
    try:
        time.sleep(0.3)
        vf(p, 2, f"port add pcap:0 rx fw1 rx={src}")
        wait_until(lambda: p.rest("GET", "/v1/vfs/2")[1]["stats"]["pcap:1"][
            "tx"] == len(sent), timeout=60, what="the whole stream")
    finally:
        stop.set()
        t.join()
    assert changes >= 40
    vf(p, 2, "port del pcap:1 tx fw1")     # closes the file: written out
    got = pcaputil.read(dst)
    assert [pcaputil.seq(x) for x in got] == list(range(len(sent)))
    assert got == sent
