"""SPP's own CLI (src/cli/spp.py) against patchbay-ctl: these send the
requests it sends and check every key it reads, in the shapes it reads
them (SPP's code stays out of the repository)."""

import os


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def test_nfv_status_has_what_nfv_status_prints(null_panel):
    p = null_panel
    p.start_nfv(1, lcores="5@1")
    status, body = p.rest("GET", "/v1/nfvs/1")
    assert status == 200
    # nfv.py print_nfv_status: lcores minus the master, then [0] of the rest
    assert _is_int(body["master-lcore"]) and body["master-lcore"] == 5
    rest = list(body["lcores"])
    rest.remove(body["master-lcore"])
    assert rest == [5]          # one lcore: the worker shares it
    assert body["status"] in ("idling", "running")
    assert all(isinstance(x, str) for x in body["ports"])
    assert isinstance(body["patches"], list)


def test_nfv_with_a_worker_lcore_lists_it(null_panel):
    p = null_panel
    p.start_nfv(1, lcores="5@1,6@1")
    body = p.rest("GET", "/v1/nfvs/1")[1]
    assert (body["master-lcore"], body["lcores"]) == (5, [5, 6])


def test_primary_status_has_every_key_pri_status_prints(null_panel):
    status, body = null_panel.rest("GET", "/v1/primary/status")
    assert status == 200
    assert body["lcores"] and all(_is_int(x) for x in body["lcores"])
    assert len(body["phy_ports"]) == 2
    for port in body["phy_ports"]:
        for key in ("id", "rx", "tx", "tx_drop"):
            assert _is_int(port[key]), key
        assert port["nof_queues"] == {"rx": 1, "tx": 1}
        assert isinstance(port["eth"], str) and len(port["eth"]) == 17
    for ring in body["ring_ports"]:
        for key in ("id", "rx", "tx", "rx_drop", "tx_drop"):
            assert _is_int(ring[key]), key


def test_cpu_layout_is_the_machines(null_panel):
    status, body = null_panel.rest("GET", "/v1/cpu_layout")
    assert status == 200
    cpus = []
    for socket in body:
        assert _is_int(socket["socket_id"])
        for core in socket["cores"]:
            assert _is_int(core["core_id"])
            cpus += core["lcores"]
    assert sorted(cpus) == sorted(os.sched_getaffinity(0)) or \
        sorted(cpus) == list(range(os.cpu_count()))
    for cpu in cpus:
        topo = f"/sys/devices/system/cpu/cpu{cpu}/topology"
        with open(f"{topo}/core_id") as f:
            core_id = int(f.read())
        assert any(cpu in c["lcores"] and c["core_id"] == core_id
                   for s in body for c in s["cores"])


def test_cpu_usage_lists_each_process_lcores(null_panel):
    p = null_panel
    p.start_nfv(1, lcores="5@1,6@1")
    status, body = p.rest("GET", "/v1/cpu_usage")
    assert status == 200
    pri = [u for u in body if u["proc-type"] == "primary"]
    nfv = [u for u in body if u["proc-type"] == "nfv"]
    assert len(pri) == 1 and pri[0]["master-lcore"] == pri[0]["lcores"][0]
    assert nfv == [{"proc-type": "nfv", "client-id": 1, "master-lcore": 5,
                    "lcores": [5, 6]}]


def test_vf_and_mirror_status_have_what_their_status_prints(null_panel):
    """vf.py/mirror.py print_status and get_status read these keys."""
    p = null_panel
    p.start_vf(2, lcores="3@1,4@1")
    p.start_mirror(3, lcores="6@1,7@1")
    for line in ("component start fw1 4 forward",
                 "port add ring:0 rx fw1",
                 "port add ring:1 tx fw1 add_vlantag 101 3"):
        p.cmd(f"vf 2; {line}")
    p.cmd("mirror 3; component start mr1 7 mirror")
    p.cmd("mirror 3; port add ring:2 rx mr1")
    procs = p.rest("GET", "/v1/processes")[1]
    assert {(x["type"], x.get("client-id")) for x in procs} == \
        {("primary", None), ("vf", 2), ("mirror", 3)}
    vf = p.rest("GET", "/v1/vfs/2")[1]
    assert vf["client-id"] == 2 and vf["master-lcore"] == 3
    assert vf["ports"][:2] == ["phy:0", "phy:1"] and "ring:1" in vf["ports"]
    assert vf["classifier_table"] == []
    assert vf["components"] == [
        {"core": 4, "name": "fw1", "type": "forward",
         "rx_port": [{"port": "ring:0", "vlan": {"operation": "none",
                                                 "id": 0, "pcp": 0}}],
         "tx_port": [{"port": "ring:1", "vlan": {"operation": "add",
                                                 "id": 101, "pcp": 3}}],
         "counters": vf["components"][0]["counters"], "running": True}]
    mirror = p.rest("GET", "/v1/mirrors/3")[1]
    assert "classifier_table" not in mirror
    comp = mirror["components"][0]
    assert (comp["core"], comp["name"], comp["type"]) == (7, "mr1", "mirror")
    assert comp["rx_port"][0]["port"] == "ring:2" and comp["tx_port"] == []
    usage = p.rest("GET", "/v1/cpu_usage")[1]
    assert {"proc-type": "vf", "client-id": 2, "master-lcore": 3,
            "lcores": [3, 4]} in usage
    assert {"proc-type": "mirror", "client-id": 3, "master-lcore": 6,
            "lcores": [6, 7]} in usage


def test_pcap_status_has_what_pcap_status_prints(null_panel, tmp_path):
    p = null_panel
    p.start_pcap(4, "ring:0", tmp_path, lcores="8@1,9@1")
    st = p.rest("GET", "/v1/pcaps/4")[1]
    assert (st["client-id"], st["status"], st["master-lcore"]) == \
        (4, "idle", 8)
    assert [c["role"] for c in st["core"]] == ["receive", "write"]
    assert st["core"][0]["rx_port"] == [{"port": "ring:0"}]
    assert st["core"][0]["core"] == 9 and st["core"][1]["filename"] == ""
    assert p.rest("PUT", "/v1/pcaps/4/capture", {"action": "start"})[0] == 204
    assert p.rest("GET", "/v1/pcaps/4")[1]["status"] == "running"
    assert p.rest("PUT", "/v1/pcaps/4/capture",
                  {"action": "start"})[0] == 400    # running already
    assert p.rest("PUT", "/v1/pcaps/4/capture", {"action": "pause"})[0] == 400
    assert p.rest("PUT", "/v1/pcaps/4/capture", {"action": "stop"})[0] == 204
    assert p.rest("PUT", "/v1/pcaps/4/capture", {"action": "stop"})[0] == 400
    assert {"proc-type": "pcap", "client-id": 4, "master-lcore": 8,
            "lcores": [8, 9, 9]} in p.rest("GET", "/v1/cpu_usage")[1]
    assert p.rest("DELETE", "/v1/pcaps/4")[0] == 204
    assert p.procs["pcap4"].wait(10) == 0


def test_pri_launch_starts_each_kind_as_spp_cli_sends_it(null_panel,
                                                        tmp_path):
    """SPP's CLI: pri; launch vf 2 -l 3,4 ... -- --client-id 2 -s ..."""
    p = null_panel
    kinds = [("spp_vf", 2, {}), ("mirror", 3, {}),
             ("spp_pcap", 4, {"-c": "ring:0", "--out-dir": str(tmp_path)})]
    try:
        for n, (name, cid, extra) in enumerate(kinds):
            body = {"proc_name": name, "client_id": str(cid),
                    "eal": {"--lcores": f"{10 + 2 * n}@1,{11 + 2 * n}@1",
                            "-m": "512", "--proc-type": "secondary"},
                    "app": {"--client-id": str(cid),
                            "-s": f"127.0.0.1:{p.sec_port}", **extra}}
            assert p.rest("PUT", "/v1/primary/launch", body) == (204, None)
            kind = name.replace("spp_", "")
            p.wait_process(kind, cid)
            pid = next(x["pid"] for x in p.connected()
                       if x.get("client-id") == cid)
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                assert f.read().split(b"\0")[0].endswith(
                    f"/patchbay-{kind}".encode())
            again = p.rest("PUT", "/v1/primary/launch", body)
            assert again == (400, {"error": f"{kind} {cid} is already "
                                   "running"})
        assert p.cmd("vf 2; status")["master-lcore"] == 10
        assert p.cmd("pcap 4; status")["status"] == "idle"
    finally:
        for kind, cid in (("vf", 2), ("mirror", 3), ("pcap", 4)):
            if p.is_connected(kind, cid):
                p.cmd(f"{kind} {cid}; exit")
