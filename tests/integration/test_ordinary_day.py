"""Ordinary days that broke the panel (the second reliability round): a
conf.yml edit, restarts, a mistyped address, the panel stopped in another
order. One test a defect; each failed on the code before its fix."""

import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time

import pytest

import pcaputil
from pbctl.launcher import Panel, PanelError, free_port
from test_chains import stats, wait_until
from test_config import SHELL, declared  # noqa: F401 (a fixture)
from test_security import local_hello

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def alive(p, name):
    return p.procs[name].poll() is None


def processes_of(prefix, words):
    """pids of this panel's processes whose argv holds words in a row."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        n = len(words)
        if prefix in argv and any(argv[i:i + n] == words
                                  for i in range(len(argv))):
            found.append(int(pid))
    return found


def exited(p, name, timeout=30):
    """The exit status of a process that must end by itself."""
    rc = p.procs[name].wait(timeout)
    p.killed.add(name)
    return rc


# ---- 1, 2, 3: apply -------------------------------------------------------

VHOST_LOOP = """\
out:
  hops: [phy:0, nfv {vhost_nfv}, vhost:0]
  options:
    vhost:0: {{path: {sock}}}
back:
  hops: [virtio:0, nfv 2, phy:1]
  options:
    virtio:0: {{path: {sock}}}
"""


def virtio_rx(d):
    return d.nfv(2)["stats"]["virtio:0"]["rx"]


def test_a_vhost_path_changed_in_conf_yml_kills_nothing(declared):
    """1. apply deleted vhost:0 before virtio:0, and the primary died of
    SIGPIPE, and every nfv with it."""
    d = declared
    r = d.shell("apply", d.write(VHOST_LOOP.format(
        vhost_nfv=2, sock=d.dir / "a.sock")))
    assert r.returncode == 0, r.stderr
    wait_until(lambda: virtio_rx(d) > 0, 10, "packets through the loop")
    r = d.shell("apply", d.write(VHOST_LOOP.format(
        vhost_nfv=2, sock=d.dir / "b.sock")))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines.index("nfv 2; del virtio:0") < lines.index("nfv 2; del vhost:0")
    types = sorted(p["type"] for p in d.client.processes())
    assert types == ["nfv", "nfv", "primary"]
    before = virtio_rx(d)
    wait_until(lambda: virtio_rx(d) > before, 10, "packets on the new path")


def test_deleting_a_vhost_port_before_its_virtio_kills_nothing(null_panel,
                                                               tmp_path):
    """1, by hand: the virtio_user device in the primary wrote to the
    socket its vhost peer had closed."""
    p = null_panel
    p.start_nfv(1)
    sock = tmp_path / "v.sock"
    p.cmd(f"nfv 1; add vhost:0 path={sock}")
    p.cmd(f"nfv 1; add virtio:0 path={sock}")
    p.cmd("nfv 1; del vhost:0")
    p.cmd("nfv 1; del virtio:0")
    time.sleep(0.5)
    assert alive(p, "primary") and alive(p, "nfv1")
    assert p.cmd("pri; status")["mbufs"]["in_use"] >= 0


def test_moving_a_vhost_port_remakes_its_virtio_client(declared):
    """2. vhost:0 moved to nfv 1 while virtio:0 stayed on nfv 2: virtio:0
    never found the new server, and apply said all was well."""
    d = declared
    sock = d.dir / "m.sock"
    assert d.shell("apply", d.write(VHOST_LOOP.format(
        vhost_nfv=2, sock=sock))).returncode == 0
    wait_until(lambda: virtio_rx(d) > 0, 10, "packets through the loop")
    r = d.shell("apply", d.write(VHOST_LOOP.format(vhost_nfv=1, sock=sock)))
    assert r.returncode == 0, r.stderr
    assert "nfv 2; del virtio:0" in r.stdout.splitlines()
    before = virtio_rx(d)
    wait_until(lambda: virtio_rx(d) > before + 1000, 10,
               "packets through the moved vhost port")
    assert "nothing to do" in d.shell("diff", d.write(VHOST_LOOP.format(
        vhost_nfv=1, sock=sock))).stdout


def test_an_option_with_a_space_is_applied_and_a_failure_rolled_back(
        declared):
    """3. apply printed each step in SPP syntax and parsed it back: a
    value with a space broke it half-way, with nothing undone."""
    d = declared
    caps = d.dir / "my caps"
    caps.mkdir()
    chains = f"""\
a:
  hops: [phy:0, nfv 1, ring:2, nfv 2, pcap:0]
  options:
    pcap:0: {{tx: "{caps}/out.pcap"}}
"""
    r = d.shell("apply", d.write(chains))
    assert r.returncode == 0, r.stderr
    assert d.nfv(2)["port_options"]["pcap:0"] == {"tx": f"{caps}/out.pcap"}
    assert (caps / "out.pcap").exists()
    # a step that fails after others: everything this apply did is undone
    before = (d.nfv(1), d.nfv(2))
    r = d.shell("apply", d.write(chains + """\
b:
  hops: [ring:3, nfv 1, pcap:1]
  options:
    pcap:1: {tx: "/nonexistent dir/x.pcap"}
"""))
    assert r.returncode == 1 and "Rolled back" in r.stderr, r.stderr
    after = (d.nfv(1), d.nfv(2))
    for b, a in zip(before, after):
        assert (a["ports"], a["patches"]) == (b["ports"], b["patches"])


# ---- 4, 5: launches and restores ------------------------------------------

def test_two_launches_of_one_id_start_one_process(null_panel):
    """4. Two quick launches of nfv 2 both started a process; the refused
    one re-dialled the controller without pause."""
    p = null_panel
    body = {"proc_name": "nfv", "client_id": "2", "eal": {"-m": "512"},
            "app": {"-s": f"127.0.0.1:{p.sec_port}"}}
    first = p.rest("PUT", "/v1/primary/launch", body)
    second = p.rest("PUT", "/v1/primary/launch", body)
    assert first == (204, None)
    assert second[0] == 400 and "nfv 2 is already" in second[1]["error"]
    p.wait_process("nfv", 2)
    time.sleep(1)
    nfvs = [q for q in p.connected() if q["type"] == "nfv"]
    assert len(nfvs) == 1
    assert len(processes_of(p.prefix, ["-n", "2"])) == 1


def test_a_process_the_controller_refuses_backs_off_then_gives_up(
        null_panel, tmp_path):
    """4. nfv 1 of another panel dials this controller, which has an nfv 1:
    refused, it tries again after 1, 2, 4, 8 s, then gives up saying so."""
    p = null_panel
    p.start_nfv(1)
    # no controller of its own (-s none), no REST port: stop() must not
    # see this panel's processes as its own
    other = Panel(str(tmp_path / "other"), ports=(free_port(), p.sec_port,
                                                  free_port()))
    try:
        other.start_primary(vdevs=["net_null0"], wait=False,
                            app_extra=["-s", "none"])
        time.sleep(2)
        t0 = time.monotonic()
        other.start_nfv(1, wait=False)
        rc = other.procs["nfv1"].wait(60)
        took = time.monotonic() - t0
        log = other.log("nfv1")
    finally:
        other.stop()
    assert rc == 1 and took > 10, (rc, took)
    assert log.count("the controller refused us") == 5, log
    assert "giving up" in log


def test_a_secondary_that_dies_during_its_restore_frees_its_id(null_panel):
    """5. A closed connection did not end the restore: the dead pid stayed
    listed for 30 s and its replacement was refused."""
    p = null_panel
    p.start_nfv(1)
    for i in range(4):
        p.cmd(f"nfv 1; add ring:{i}")
    p.kill("nfv1")
    wait_until(lambda: not p.is_connected("nfv", 1), 5, "nfv 1 gone")
    # a stand-in for nfv 1 says hello, answers that it has nothing, and
    # dies as the restore's first add comes
    with local_hello(p.sec_port, {"role": "nfv", "id": 1,
                                  "pid": os.getpid()}) as s:
        status = json.loads(s.makefile().readline())
        s.sendall(json.dumps({"id": status["id"], "ok": True, "result": {
            "ports": [], "patches": [], "status": "idling"}}).encode()
            + b"\n")
        assert b'"add"' in s.recv(4096)
    t0 = time.monotonic()
    wait_until(lambda: not p.is_connected("nfv", 1), 3, "the id freed")
    p.start_nfv(1)
    assert time.monotonic() - t0 < 5
    wait_until(lambda: "ring:3" in p.cmd("nfv 1; status")["ports"], 5,
               "the ports restored")


# ---- 7, 8, 9: REST and the shell ------------------------------------------

@pytest.fixture
def panel_at_1024_fds(tmp_path):
    """A controller started, as from a login shell, with a soft limit of
    1024 open files, and a primary."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    p = Panel(str(tmp_path))
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        try:
            p.start_controller()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        p.start_primary(vdevs=["net_null0", "net_null1"])
        yield p
    finally:
        p.stop()


def test_idle_and_half_sent_requests_lock_nobody_out(panel_at_1024_fds):
    """7. 1030 connections that sent half a request took every fd: REST
    stopped answering and a new nfv's hello was never served."""
    p = panel_at_1024_fds
    conns = []
    try:
        for _ in range(1030):
            s = socket.create_connection(("127.0.0.1", p.api_port))
            s.sendall(b"GET /v1/processes HTTP/1.1\r\nHost: x\r\n")
            conns.append(s)
        t0 = time.monotonic()
        assert p.rest("GET", "/v1/processes")[0] == 200
        assert time.monotonic() - t0 < 5
        p.start_nfv(1, wait=True)
    finally:
        for s in conns:
            s.close()
    assert len(p.log("ctl")) < 200000


def raw_http(port, request):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        got = b""
        while b"\r\n\r\n" not in got:
            got += s.recv(65536)
        return got


def test_http_that_real_clients_speak(null_panel):
    """8. Chunked bodies, Expect: 100-continue, percent-encoded paths,
    HEAD and Connection: close, as curl and python requests send them."""
    p = null_panel
    p.start_nfv(1)
    conn = http.client.HTTPConnection("127.0.0.1", p.api_port, timeout=10)
    conn.request("PUT", "/v1/nfvs/1/ports",
                 body=iter([b'{"action": "add", ', b'"port": "ring:0"}']),
                 encode_chunked=True)
    resp = conn.getresponse()
    assert (resp.status, resp.read()) == (204, b"")
    conn.request("PUT", "/v1/nfvs/1/patches",
                 body=b'{"src": "ring:0", "dst": "phy:1"}')
    resp = conn.getresponse()
    assert resp.status == 204 and resp.read() == b""
    conn.close()
    t0 = time.monotonic()
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        "-X", "PUT", "-H", "Expect: 100-continue",
                        "--data-binary", '{"action": "start"' + " " * 2000
                        + "}", f"http://127.0.0.1:{p.api_port}"
                        "/v1/nfvs/1/forward"], capture_output=True, text=True)
    assert r.stdout == "204" and time.monotonic() - t0 < 0.9
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        "-X", "DELETE", f"http://127.0.0.1:{p.api_port}"
                        "/v1/nfvs/1/patches/ring%3A0"], capture_output=True,
                       text=True)
    assert r.stdout == "204"
    assert p.cmd("nfv 1; status")["patches"] == []
    head = raw_http(p.api_port, b"HEAD /v1/processes HTTP/1.1\r\nHost: x\r\n"
                    b"Connection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")
    old = raw_http(p.api_port, b"GET /v1/processes HTTP/1.0\r\n\r\n")
    assert old.startswith(b"HTTP/1.") and b" 200 " in old.split(b"\r\n")[0]


def test_the_shell_pointed_at_the_process_port_says_so(null_panel):
    """9. A reply that is not HTTP raised a BadStatusLine traceback."""
    p = null_panel
    r = subprocess.run([sys.executable, SHELL, "-b",
                        f"127.0.0.1:{p.sec_port}", "-c", "status"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr + r.stdout
    assert "REST" in r.stdout + r.stderr


# ---- 10, 6, 11: vdevs and ownership ---------------------------------------

def test_vdev_ports_come_back_after_kill_9_every_time(null_panel, tmp_path):
    """6, 10. The restarted nfv's EAL had attached its old null, tap and
    memif devices, so adding them again failed with EEXIST, every other
    restart."""
    p = null_panel
    p.start_nfv(1)
    ports = ["null:5", "tap:3", "memif:2"]
    for port in ports:
        p.cmd(f"nfv 1; add {port}" + (f" socket={tmp_path}/m.sock"
                                      if port.startswith("memif") else ""))
    for _ in range(2):
        p.kill("nfv1")
        p.killed.discard("nfv1")
        p.start_nfv(1)
        wait_until(lambda: set(ports) <= set(p.cmd("nfv 1; status")["ports"]),
                   10, "every port restored")
    assert "File exists" not in p.log("ctl")


def test_a_port_deleted_by_one_nfv_can_be_added_by_another(null_panel):
    """10. nfv 2, started after nfv 1 added null:5 and tap:4, had them
    attached too: it could not take null:5 over, and it kept tap:4's
    interface alive after nfv 1 deleted it."""
    p = null_panel
    p.start_nfv(1)
    p.cmd("nfv 1; add null:5")
    p.cmd("nfv 1; add tap:4")
    p.start_nfv(2)
    p.cmd("nfv 1; del null:5")
    p.cmd("nfv 1; del tap:4")
    p.cmd("nfv 2; add null:5")
    link = subprocess.run(["ip", "link", "show", "pbtap4"],
                          capture_output=True)
    assert link.returncode != 0, "pbtap4 outlived its port"


def test_a_second_process_with_a_live_id_touches_nothing(null_panel):
    """11. A second -n 1 was refused by the controller, but its exit
    released nfv 1's holds: another nfv could then read ring:0 beside it."""
    p = null_panel
    p.start_nfv(1)
    for line in ("add ring:0", "add ring:1", "patch ring:0 ring:1",
                 "patch ring:1 phy:0",     # drained: nothing holds back
                 "add null:5", "patch null:5 ring:0", "forward"):
        p.cmd(f"nfv 1; {line}")
    p.procs["nfv1-again"] = p.procs.pop("nfv1")
    p.lcore_ids["nfv1-again"] = p.lcore_ids.pop("nfv1")
    p.start_nfv(1, wait=False)
    assert exited(p, "nfv1") != 0
    assert "nfv 1 is already running" in p.log("nfv1")
    p.start_nfv(2)
    p.cmd("nfv 2; add ring:0")
    with pytest.raises(PanelError, match="ring:0 is already read by nfv 1"):
        p.cmd("nfv 2; patch ring:0 phy:1")
    # nfv 1's null:5 device lives on: its counters still grow
    s1 = stats(p, 1)["null:5"]["rx"]
    time.sleep(0.3)
    assert stats(p, 1)["null:5"]["rx"] > s1 > 0


# ---- 12, 13, 14: stopping in any order, odd portmasks ----------------------

@pytest.mark.parametrize("how", ["pri-exit", "sigterm", "sigint-both"])
def test_an_nfv_with_a_tap_exits_cleanly_when_the_primary_goes_first(
        null_panel, tmp_path, how):
    """12. rte_eth_dev_info_get on the primary's freed tap data: SIGSEGV,
    and ports closed after it (a pcap file) lost their last records.
    Stopped by `pri; exit`, SIGTERM to the primary, or SIGINT to both at
    once (Ctrl-C to their process group)."""
    p = null_panel
    p.start_nfv(1)
    sent = pcaputil.make_packets(50)
    pcaputil.write(tmp_path / "in.pcap", sent)
    for line in ("add tap:0", f"add pcap:0 rx={tmp_path}/in.pcap "
                 f"tx={tmp_path}/out.pcap", "add ring:0",
                 "patch pcap:0 ring:0", "patch ring:0 pcap:0", "forward"):
        p.cmd(f"nfv 1; {line}")
    wait_until(lambda: stats(p, 1)["pcap:0"]["tx"] == 50, 10, "the stream")
    if how == "pri-exit":
        p.cmd("pri; exit")
    elif how == "sigterm":
        p.procs["primary"].send_signal(signal.SIGTERM)
    else:
        p.procs["primary"].send_signal(signal.SIGINT)
        p.procs["nfv1"].send_signal(signal.SIGINT)
    # the primary is our child and stays a zombie until reaped: the nfv
    # must see it as gone all the same
    assert exited(p, "nfv1") == 0, p.log("nfv1")
    assert exited(p, "primary") == 0
    assert pcaputil.read(tmp_path / "out.pcap") == sent


def test_a_portmask_with_a_gap(panel):
    """13. -p 0x2: phy ports were named by index on one side and by ethdev
    id on the other; every nfv failed to start."""
    p = panel
    p.start_primary(vdevs=["net_null0", "net_null1"], portmask=0x2,
                    cpus="0,1")
    p.start_nfv(1)
    assert p.cmd("nfv 1; status")["ports"] == ["phy:1"]
    p.cmd("nfv 1; add ring:0")
    p.cmd("nfv 1; patch phy:1 ring:0")
    p.cmd("pri; add ring:1")
    p.cmd("pri; patch ring:1 phy:1")
    with pytest.raises(PanelError, match="phy:0 does not exist"):
        p.cmd("nfv 1; add phy:0")


def test_an_unreachable_controller_leaves_the_nfv_listening(null_panel):
    """14. With the controller's address dropping SYNs, a blocking connect
    kept the nfv from seeing its primary end, and from SIGTERM, for 132 s."""
    p = null_panel
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)                 # never accepted: its backlog fills
    port = full.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        p.start_nfv(1, controller_port=port, wait=False)
        time.sleep(3)
        t0 = time.monotonic()
        p.procs["nfv1"].send_signal(signal.SIGTERM)
        p.procs["nfv1"].wait(10)
        assert time.monotonic() - t0 < 3
        p.start_nfv(2, controller_port=port, wait=False)
        time.sleep(3)
        p.stop_process("primary")
        t0 = time.monotonic()
        assert p.procs["nfv2"].wait(10) == 0
        assert time.monotonic() - t0 < 3
    finally:
        for s in fillers:
            s.close()
        full.close()


# ---- 15: counters and taps ------------------------------------------------

def test_counters_never_go_negative_while_cleared(null_panel):
    """15. clear moved a baseline another process read apart from its
    counter: ring:0 rx -3744."""
    p = null_panel
    p.start_nfv(1)
    for line in ("add ring:0", "patch phy:0 ring:0", "patch ring:0 phy:1",
                 "forward"):
        p.cmd(f"nfv 1; {line}")
    clearer = subprocess.Popen([sys.executable, "-c", f"""
import sys, time
sys.path.insert(0, {os.path.join(ROOT, 'controller')!r})
from pbctl.client import Client
c = Client('127.0.0.1', {p.api_port})
end = time.monotonic() + 4
while time.monotonic() < end:
    c.call('DELETE', '/v1/primary/status')
"""])
    negative, reads = 0, 0
    try:
        while clearer.poll() is None:
            for port in stats(p, 1).values():
                negative += sum(v < 0 for v in port.values())
            reads += 1
    finally:
        clearer.wait(30)
    assert reads > 50 and negative == 0, (reads, negative)


def test_two_tap_ports_on_one_interface_are_refused(null_panel):
    """15. Both were accepted; deleting one closed the other's fds."""
    p = null_panel
    p.start_nfv(1)
    p.cmd("nfv 1; add tap:0 iface=pbshared0")
    with pytest.raises(PanelError, match="its interface exists already"):
        p.cmd("nfv 1; add tap:1 iface=pbshared0")
    assert "tap:1" not in p.cmd("nfv 1; status")["ports"]
    p.cmd("nfv 1; del tap:0")


def test_free_ports_are_neither_ephemeral_nor_repeated():
    """A test's controller failed to bind its port ("address already in
    use"): free_port() handed out a port of the ephemeral range, which an
    outgoing connection took as its local port before the controller
    bound it. Ports now come from below that range, each once."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral = int(f.read().split()[0])
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= port < ephemeral for port in ports), \
        [port for port in ports if port >= ephemeral]
    for port in ports[:20]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
            s.listen()
