"""The controller keeps the state: restarted secondaries get their ports
and patches back, a restarted controller relearns them without stopping
traffic. And the primary launches secondaries and forwards itself."""

import os
import signal
import sys
import time

import pcaputil
from test_chains import stats, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_restarted_nfv_gets_its_ports_and_patches_back(null_panel, tmp_path):
    p = null_panel
    p.start_nfv(1)
    sock = tmp_path / "v.sock"
    for line in ("nfv 1; add ring:0", f"nfv 1; add vhost:1 path={sock}",
                 "nfv 1; patch phy:0 ring:0", "nfv 1; patch ring:0 vhost:1",
                 "nfv 1; forward"):
        p.cmd(line)
    before = p.cmd("nfv 1; status")
    p.kill("nfv1")
    p.start_nfv(1)
    wait_until(lambda: p.cmd("nfv 1; status")["status"] == "running",
               what="nfv 1 restored")
    after = p.cmd("nfv 1; status")
    assert after["ports"] == before["ports"]
    assert after["patches"] == before["patches"]
    assert after["port_options"] == {"vhost:1": {"path": str(sock)}}
    assert sock.exists()
    # and it really forwards again
    n = stats(p, 1)["phy:0"]["rx"]
    wait_until(lambda: stats(p, 1)["phy:0"]["rx"] > n, what="traffic")
    p.cmd("nfv 1; stop")


def test_controller_restart_keeps_traffic_and_relearns(null_panel):
    p = null_panel
    p.start_nfv(1)
    for line in ("nfv 1; add ring:0", "nfv 1; add ring:1",
                 "nfv 1; patch phy:0 ring:0", "nfv 1; patch ring:0 ring:1",
                 "nfv 1; patch ring:1 phy:1", "nfv 1; forward"):
        p.cmd(line)
    p.kill("ctl")
    # the processes keep forwarding with nobody to talk to
    pri_counter = p.procs["primary"]
    assert pri_counter.poll() is None
    time.sleep(0.5)
    p.start_controller()
    started = time.monotonic()
    p.wait_process("nfv", 1, timeout=5)
    p.wait_process("primary", 0, timeout=5)
    assert time.monotonic() - started < 2     # they re-dial every second
    st = p.cmd("nfv 1; status")
    assert st["status"] == "running"
    assert len(st["patches"]) == 3
    a = st["stats"]["phy:1"]["tx"]
    time.sleep(0.3)
    assert stats(p, 1)["phy:1"]["tx"] > a
    # what it relearnt is what it restores: restart the nfv once more
    p.kill("nfv1")
    p.start_nfv(1)
    wait_until(lambda: len(p.cmd("nfv 1; status")["patches"]) == 3,
               what="patches restored from relearnt state")
    p.cmd("nfv 1; stop")


def _components(p, kind, cid):
    st = p.rest("GET", f"/v1/{kind}s/{cid}")[1]
    return {k: st.get(k) for k in ("components", "classifier_table",
                                   "port_options")}


def test_restarted_vf_mirror_and_pcap_get_their_work_back(null_panel,
                                                          tmp_path):
    """kill -9 of a vf, a mirror and a pcap, started again: components
    (cores, types, ports with VLAN ops and options, copy mode), the
    classifier table and the capture come back; and again after the
    controller restarted and relearnt them from the processes."""
    p = null_panel
    pcaputil.write(tmp_path / "in.pcap", pcaputil.make_packets(50))
    p.start_vf(2, lcores="3@1,4@1")
    p.start_mirror(3, lcores="5@1,6@1")
    p.start_pcap(4, "ring:3", tmp_path, lcores="7@0,8@0")
    for line in ("vf 2; component start cls 4 classifier",
                 f"vf 2; port add pcap:1 tx cls tx={tmp_path}/cls.pcap",
                 "vf 2; port add ring:1 tx cls add_vlantag 100 3",
                 "vf 2; classifier_table add mac 52:54:00:00:00:01 pcap:1",
                 "vf 2; classifier_table add vlan 100 default ring:1",
                 "vf 2; port add ring:0 rx cls del_vlantag",
                 "vf 2; component start fwd 4 forward",
                 "vf 2; port add ring:2 tx fwd",
                 f"vf 2; port add pcap:5 rx fwd rx={tmp_path}/in.pcap",
                 "mirror 3; component start mr 6 mirror",
                 "mirror 3; component copy mr deep",
                 "mirror 3; port add ring:2 rx mr",
                 "mirror 3; port add ring:3 tx mr",
                 "mirror 3; port add null:7 tx mr",
                 "pcap 4; start"):
        p.cmd(line)
    before = {"vf": _components(p, "vf", 2),
              "mirror": _components(p, "mirror", 3)}
    assert before["mirror"]["components"][0]["copy"] == "deep"

    def restart_all():
        for kind, cid in (("vf", 2), ("mirror", 3), ("pcap", 4)):
            p.kill(f"{kind}{cid}")
        p.start_vf(2, lcores="3@1,4@1")
        p.start_mirror(3, lcores="5@1,6@1")
        p.start_pcap(4, "ring:3", tmp_path, lcores="7@0,8@0")
        for kind, cid in (("vf", 2), ("mirror", 3)):
            wait_until(lambda: _components(p, kind, cid) == before[kind],
                       what=f"{kind} {cid}'s components back")
        wait_until(lambda: p.rest("GET", "/v1/pcaps/4")[1]["status"] ==
                   "running", what="the capture back")
        # and traffic flows the whole way again: the file read once more
        wait_until(lambda: p.rest("GET", "/v1/mirrors/3")[1]["stats"][
            "null:7"]["tx"] == 50, what="50 copies")
    restart_all()
    p.kill("ctl")
    p.start_controller()
    for kind, cid in (("vf", 2), ("mirror", 3), ("pcap", 4)):
        p.wait_process(kind, cid, timeout=5)
    restart_all()
    p.cmd("pcap 4; stop")


def test_primary_launches_an_nfv_from_spp_request_body(null_panel):
    p = null_panel
    body = {"proc_name": "spp_nfv", "client_id": "2",
            "eal": {"-l": "1", "-m": "512", "--proc-type": "secondary"},
            "app": {"-n": "2", "-s": f"127.0.0.1:{p.sec_port}"}}
    assert p.rest("PUT", "/v1/primary/launch", body) == (204, None)
    p.wait_process("nfv", 2)
    pid = next(x["pid"] for x in p.connected()
               if x.get("client-id") == 2)
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")[:-1]
        assert argv[0].endswith(b"/patchbay-nfv")
        # what a secondary must share with the primary was added
        assert b"--file-prefix" in argv and p.prefix.encode() in argv
        assert b"--no-pci" in argv
        assert argv[argv.index(b"--") + 1:] == \
            [b"-n", b"2", b"-s", f"127.0.0.1:{p.sec_port}".encode()]
        # a second one with the same id is refused, and so are bad bodies
        assert p.rest("PUT", "/v1/primary/launch", body) == \
            (400, {"error": "nfv 2 is already running"})
        bad = dict(body, proc_name="spp_router", client_id="3")
        status, err = p.rest("PUT", "/v1/primary/launch", bad)
        assert status == 400 and "proc_name" in err["error"]
        bad = dict(body, client_id="3", app={"-n": "4"})
        status, err = p.rest("PUT", "/v1/primary/launch", bad)
        assert status == 400 and "must be the client_id" in err["error"]
        bad = dict(body, client_id="3", eal={"-l": [1]}, app={})
        status, err = p.rest("PUT", "/v1/primary/launch", bad)
        assert status == 400 and "string value" in err["error"]
        # a value-less flag is an empty string; nothing goes through a
        # shell (-s is the controller's to fill in: this one is refused)
        bad = dict(body, client_id="3", eal={"--lcores": "3@0"},
                   app={"-s": f"127.0.0.1:{p.sec_port}; touch /tmp/pwned"})
        status, err = p.rest("PUT", "/v1/primary/launch", bad)
        assert status == 400 and "app option -s" in err["error"]
        ok = dict(body, client_id="3", eal={
            "--lcores": "3@0", "--no-telemetry": "",
            "--vdev": "net_null9,size=64; touch /tmp/pwned"}, app={})
        assert p.rest("PUT", "/v1/primary/launch", ok)[0] == 204
        time.sleep(1)
        assert not os.path.exists("/tmp/pwned")
    finally:
        p.cmd("bye sec 2")
        for x in p.connected():
            if x.get("client-id") == 3:
                p.cmd("bye sec 3")
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), what="nfv 2 gone")


def test_primary_forwards_with_a_spare_lcore(panel):
    p = panel
    p.start_primary(vdevs=["net_null0", "net_null1"], cpus="0,1")
    st = p.cmd("pri; status")
    assert st["forwarder"]["status"] == "idling"
    assert st["forwarder"]["ports"] == ["phy:0", "phy:1"]
    for path, body in (("/v1/primary/ports", {"action": "add", "port": "ring:0"}),
                       ("/v1/primary/patches", {"src": "phy:0", "dst": "ring:0"}),
                       ("/v1/primary/patches", {"src": "ring:0", "dst": "phy:1"}),
                       ("/v1/primary/forward", {"action": "start"})):
        assert p.rest("PUT", path, body) == (204, None), path
    time.sleep(0.3)
    assert p.rest("PUT", "/v1/primary/forward", {"action": "stop"})[0] == 204
    st = p.cmd("pri; status")
    fwd = st["forwarder"]
    assert fwd["patches"] == [{"src": "phy:0", "dst": "ring:0"},
                              {"src": "ring:0", "dst": "phy:1"}]
    ring0 = next(r for r in st["ring_ports"] if r["id"] == 0)
    phy1 = next(r for r in st["phy_ports"] if r["id"] == 1)
    assert ring0["rx"] > 0 and ring0["rx"] == phy1["tx"] + phy1["tx_drop"]
    # the ring is the primary's now: an nfv may not write it
    p.start_nfv(1)
    p.cmd("nfv 1; add ring:0")
    status, err = p.rest("PUT", "/v1/nfvs/1/patches",
                         {"src": "phy:1", "dst": "ring:0"})
    assert (status, err) == (400, {"error": "ring:0 is already written by "
                                            "primary"})
    assert p.rest("DELETE", "/v1/primary/patches")[0] == 204
    assert p.cmd("pri; status")["forwarder"]["patches"] == []


def test_primary_without_spare_lcore_says_so(null_panel):
    p = null_panel
    status, err = p.rest("PUT", "/v1/primary/forward", {"action": "start"})
    assert status == 400
    assert "does not forward" in err["error"] and "-l 0,1" in err["error"]
    assert "forwarder" not in p.cmd("pri; status")


def test_secondaries_end_cleanly_when_the_primary_dies(null_panel):
    p = null_panel
    nfv = p.start_nfv(1)
    p.cmd("nfv 1; add ring:0")
    p.cmd("nfv 1; patch phy:0 ring:0")
    p.cmd("nfv 1; forward")
    p.kill("primary")
    assert nfv.wait(10) == 0
    assert "the primary (pid" in p.log("nfv1")
