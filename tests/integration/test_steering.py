"""Steering, merging and mirroring with real packets: vf and mirror
processes with forward, merge, classifier and mirror components, fed by
pcap files of frames crafted with scapy, checked byte for byte against
what the classifier table, the VLAN ops and the copies say."""

import struct
import time

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
