"""A control plane that trusts no claim (docs/security.md): a party that
cannot prove who it is changes nothing and learns nothing.

Processes on this host reach the controller over its Unix sockets, where
the kernel names them; others over TCP, proving with HMAC-SHA256 that
they hold the key, after the controller proved it first."""

import json
import os
import random
import resource
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

from pbctl import auth, identity, launcher
from pbctl.launcher import Panel, PanelError, free_port, stop_panel
from test_chains import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HOST_ADDR, GUEST_ADDR = "169.254.213.1", "169.254.213.2"


def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True)


@pytest.fixture
def other_host():
    """A second network namespace, as another host: a veth to this one,
    HOST_ADDR here and GUEST_ADDR there. Its name."""
    n = os.getpid() % 100000
    ns, here, there = f"pbsec{n}", f"pbh{n}", f"pbg{n}"
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", here, "type", "veth", "peer", "name", there,
           "netns", ns)
        sh("ip", "addr", "add", f"{HOST_ADDR}/30", "dev", here)
        sh("ip", "link", "set", here, "up")
        for cmd in (["ip", "addr", "add", f"{GUEST_ADDR}/30", "dev", there],
                    ["ip", "link", "set", there, "up"],
                    ["ip", "link", "set", "lo", "up"]):
            sh("ip", "netns", "exec", ns, *cmd)
        yield ns
    finally:
        subprocess.run(["ip", "link", "del", here], capture_output=True)
        sh("ip", "netns", "del", ns)


def read_line(sock, timeout=5):
    """One line from sock (what came before, if it closed first)."""
    sock.settimeout(timeout)
    got = b""
    while not got.endswith(b"\n"):
        try:
            chunk = sock.recv(1)
        except ConnectionResetError:     # closed with our bytes unread
            break
        if not chunk:
            break
        got += chunk
    return got


def local_hello(port, hello):
    """A connection to the controller's Unix socket for port that said
    hello (a dict)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(auth.socket_path(port))
    s.sendall(json.dumps({"hello": hello}).encode() + b"\n")
    return s


def remote_hello(addr, key, hello):
    """A TCP connection that ran the handshake with key; (socket, the
    controller's challenge)."""
    s = socket.create_connection(addr)
    hello = dict(hello, nonce=secrets.token_hex(32))
    line = json.dumps({"hello": hello}).encode()
    s.sendall(line + b"\n")
    challenge = json.loads(read_line(s))["challenge"]
    assert challenge["proof"] == auth.proof(key, auth.CONTROLLER, line,
                                            challenge["nonce"])
    s.sendall(json.dumps({"proof": auth.proof(
        key, auth.PROCESS, line, challenge["nonce"])}).encode() + b"\n")
    return s, challenge


def listed(p):
    return sorted((x["type"], x.get("client-id", 0)) for x in p.connected())


# ---- 1: an impostor controller, across hosts -------------------------------

def test_across_hosts_both_prove_and_an_impostor_controller_gets_nothing(
        other_host, tmp_path, monkeypatch):
    """1. An nfv on another host (namespace) proves it holds the token
    over TCP and is commanded; while the controller is down, a program
    listening on its address gets no token and no answer to its
    commands; the nfv goes back to the real one after."""
    token = "cross-host-" + secrets.token_hex(8)
    monkeypatch.setenv("PATCHBAY_TOKEN", token)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    p = Panel(str(tmp_path / "panel"))
    try:
        p.start_controller(bind=HOST_ADDR)
        p.start_primary(vdevs=["net_null0", "net_null1"])
        netns = ["ip", "netns", "exec", other_host]
        p.start_nfv(1, wrapper=netns,
                    controller=f"{HOST_ADDR}:{p.sec_port}")
        p.cmd("nfv 1; add ring:0")
        nfv = [x for x in p.connected() if x["type"] == "nfv"][0]
        assert nfv["pid"] is None and "identity" not in nfv   # its host's pid
        # a process there with another token never gets in
        p.start_nfv(2, wrapper=["env", "PATCHBAY_TOKEN=wrong"] + netns,
                    controller=f"{HOST_ADDR}:{p.sec_port}", wait=False)
        wait_until(lambda: "PATCHBAY_TOKEN differs" in p.log("nfv2"), 10,
                   "nfv 2 to find the controller's proof wrong")
        assert not p.is_connected("nfv", 2)
        p.stop_process("nfv2")          # the impostor's dials are nfv 1's

        # a challenge the real controller made, for another hello
        s, replayed = remote_hello((HOST_ADDR, p.sec_port), token,
                                   {"role": "nfv", "id": 8})
        s.close()
        nfv_fds = open_fds(p.procs["nfv1"].pid)
        p.kill("ctl")
        impostor = socket.socket()
        impostor.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        impostor.bind((HOST_ADDR, p.sec_port))
        impostor.listen()
        impostor.settimeout(10)
        answers = [
            # a made-up challenge, a request straight away, a refusal
            json.dumps({"challenge": {"nonce": secrets.token_hex(32),
                                      "proof": secrets.token_hex(32)}}),
            json.dumps({"id": 1, "cmd": "add", "args": {
                "port": "pcap:3", "tx": str(victim)}}),
            json.dumps({"id": None, "ok": False, "error": "go away"}),
            json.dumps({"challenge": replayed}),              # replayed
            json.dumps({"proof": secrets.token_hex(32)}),      # out of turn
            "\x00\xff{{{" * 50,                                 # garbage
        ]
        heard = []
        for answer in answers * 2:
            conn, _ = impostor.accept()
            with conn:
                hello = read_line(conn)
                heard.append(hello)
                conn.sendall(answer.encode() + b"\n")
                conn.sendall(json.dumps({"id": 2, "cmd": "status"}).encode()
                             + b"\n")
                assert read_line(conn) == b""   # closed, unanswered
        impostor.close()
        for hello in heard:
            assert token.encode() not in hello
            assert json.loads(hello)["hello"]["nonce"]
        assert victim.read_text() == "precious\n"
        log = p.log("nfv1")
        assert "did not prove it holds our key" in log
        assert "not a challenge" in log
        assert "refused us before proving itself: go away" in log
        assert p.procs["nfv1"].poll() is None      # an impostor's "no"
        assert open_fds(p.procs["nfv1"].pid) <= nfv_fds
        # ... is no reason to give up: back to the real controller
        p.start_controller(bind=HOST_ADDR)
        p.wait_process("nfv", 1, timeout=10)
        st = p.cmd("nfv 1; status")
        assert "ring:0" in st["ports"] and "pcap:3" not in st["ports"]
    finally:
        p.stop()


# ---- 3: a process's report is not what is desired --------------------------

NOBODY_TRIES = r"""
import json, secrets, socket, sys
path, port = sys.argv[1], int(sys.argv[2])
out = {}
try:
    socket.socket(socket.AF_UNIX).connect(path)
    out["unix"] = "connected"
except OSError as e:
    out["unix"] = type(e).__name__
s = socket.create_connection(("127.0.0.1", port))
hello = {"hello": {"role": "nfv", "id": 1, "pid": 1,
                   "nonce": secrets.token_hex(32)}}
s.sendall(json.dumps(hello).encode() + b"\n")
f = s.makefile("rb")
out["challenge"] = json.loads(f.readline())
s.sendall(json.dumps({"proof": secrets.token_hex(32)}).encode() + b"\n")
out["after"] = json.loads(f.readline())
print(json.dumps(out))
"""


def test_an_unprivileged_program_cannot_pose_as_a_process(null_panel,
                                                          tmp_path):
    """3. After kill -9 of nfv 1, a program of another user says hello as
    nfv 1: the Unix socket is not its to dial, and over TCP it cannot
    prove it holds the key. nfv 1, restarted, gets what was desired."""
    p = null_panel
    p.start_nfv(1)
    p.cmd("nfv 1; add ring:0")
    p.kill("nfv1")
    wait_until(lambda: not p.is_connected("nfv", 1), 5, "nfv 1 gone")
    run = subprocess.run([sys.executable, "-c", NOBODY_TRIES,
                          auth.socket_path(p.sec_port), str(p.sec_port)],
                         user=65534, group=65534, capture_output=True,
                         text=True, timeout=30, cwd="/")
    tried = json.loads(run.stdout)
    assert tried["unix"] == "PermissionError"
    assert set(tried["challenge"]) == {"challenge"}
    assert tried["after"]["ok"] is False and \
        "wrong or missing proof" in tried["after"]["error"]
    assert listed(p) == [("primary", 0)]
    p.start_nfv(1)
    assert p.cmd("nfv 1; status")["ports"] == ["phy:0", "phy:1", "ring:0"]


def test_a_report_never_becomes_the_desired_state(null_panel, tmp_path):
    """3. A process (here root's, which the kernel vouches for) that
    reports running something no command asked for is corrected: its
    extra port is deleted, the desired one added, and a restarted nfv 1
    gets only what was desired."""
    p = null_panel
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    p.start_nfv(1)
    p.cmd("nfv 1; add ring:0")
    p.kill("nfv1")
    wait_until(lambda: not p.is_connected("nfv", 1), 5, "nfv 1 gone")
    s = local_hello(p.sec_port, {"role": "nfv", "id": 1,
                                 "pid": os.getpid()})
    with s:
        asked = []
        for _ in range(3):
            req = json.loads(read_line(s))
            asked.append((req["cmd"], req["args"]))
            result = {"ports": ["phy:0", "pcap:3"], "patches": [],
                      "status": "idling", "port_options": {
                          "pcap:3": {"tx": str(victim)}}} \
                if req["cmd"] == "status" else {}
            s.sendall(json.dumps({"id": req["id"], "ok": True,
                                  "result": result}).encode() + b"\n")
    assert asked == [("status", {}), ("del", {"port": "pcap:3"}),
                     ("add", {"port": "ring:0"})]
    assert "runs what no command here asked for" in p.log("ctl")
    wait_until(lambda: not p.is_connected("nfv", 1), 5, "stand-in gone")
    p.start_nfv(1)
    assert p.cmd("nfv 1; status")["ports"] == ["phy:0", "phy:1", "ring:0"]
    assert victim.read_text() == "precious\n"


# ---- 4: a pid is not believed -----------------------------------------------

def test_a_stop_ends_no_process_it_cannot_vouch_for(null_panel, tmp_path):
    """4. A local hello claiming the pid of an unrelated process is
    refused; a process over TCP (which proved the key) is listed without
    a pid of this host; the stop that panel stop all runs leaves the
    unrelated process alone and ends the panel's own."""
    p = null_panel
    p.start_nfv(1)
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        s = local_hello(p.sec_port, {"role": "nfv", "id": 9,
                                     "pid": bystander.pid})
        with s:
            refusal = json.loads(read_line(s))
        assert "is not the connecting process" in refusal["error"]
        key = auth.guest_key(p.sec_port)
        s, _ = remote_hello(("127.0.0.1", p.sec_port), key,
                            {"role": "nfv", "id": 9, "pid": bystander.pid})
        with s:
            wait_until(lambda: p.is_connected("nfv", 9), 5, "nfv 9")
            nine = [x for x in p.connected() if x.get("client-id") == 9][0]
            assert nine["pid"] is None and "identity" not in nine
            nfv1 = [x for x in p.connected() if x.get("client-id") == 1][0]
            assert identity.ours(nfv1["identity"], p.prefix) == \
                p.procs["nfv1"].pid
            # nfv 9 never answers its exit; stop gives up on it, never
            # signalling the pid it named
            stop_panel(p.client, p.prefix, str(tmp_path / "rundir"))
        assert bystander.poll() is None
        assert p.procs["nfv1"].wait(10) == 0 and \
            p.procs["primary"].wait(10) == 0
    finally:
        bystander.kill()
        bystander.wait()


def test_pidfiles_name_a_process_not_a_number(tmp_path):
    """A pidfile's pid that now belongs to another process (same number,
    another start or program) is no one's."""
    sys.path.insert(0, os.path.join(ROOT, "vm"))
    import procutil
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        path = tmp_path / "x.pid"
        procutil.write_pidfile(path, sleeper.pid)
        assert procutil.read_pidfile(path) == sleeper.pid
        words = path.read_text().split()
        path.write_text(f"{words[0]} {int(words[1]) + 1} {words[2]}\n")
        assert procutil.read_pidfile(path) is None
        path.write_text(f"{sleeper.pid}\n")          # a bare number
        assert procutil.read_pidfile(path) is None
    finally:
        sleeper.kill()
        sleeper.wait()


# ---- the hostile client -------------------------------------------------------

def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(x for x in f if x.startswith("VmRSS")).split()[1])


def misbehave(s, rng, kind, line, replay):
    """Send one kind of wrong handshake; what came back meanwhile."""
    if kind == 0:                                   # random bytes
        s.sendall(rng.randbytes(rng.randrange(1, 300)) + b"\n")
    elif kind == 1:                                 # cut short
        s.sendall(line[:rng.randrange(len(line))])
        s.shutdown(socket.SHUT_WR)
    elif kind == 2:                                 # proof first
        s.sendall(json.dumps({"proof": secrets.token_hex(32)}).encode()
                  + b"\n" + line + b"\n")
    elif kind == 3 and replay:                      # a replayed proof
        s.sendall(replay[0] + b"\n" + replay[1] + b"\n")
    elif kind == 4:                                 # a request
        s.sendall(json.dumps({"id": 1, "cmd": "exit"}).encode() + b"\n")
    else:                                           # a wrong proof
        s.sendall(line + b"\n")
        got = read_line(s)
        s.sendall(json.dumps({"proof": secrets.token_hex(32)}).encode()
                  + b"\n")
        return got
    return b""


def hostile(rng, address, replay):
    """One connection to address (a Unix socket's path or a TCP port)
    that does something wrong; the bytes it got."""
    kind = rng.randrange(7)
    local = isinstance(address, str)
    s = socket.socket(socket.AF_UNIX) if local else socket.socket()
    if not local:    # closed with a reset: no TIME_WAIT, no port shortage
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
    s.settimeout(5)
    s.connect(address if local else ("127.0.0.1", address))
    nonce = secrets.token_hex(32)
    role = rng.choice(["nfv", "vf", "primary", "pcap"])
    pid = rng.randrange(1, 99999)
    if pid == os.getpid():     # ours would be the kernel's word: let in
        pid += 1
    hello = {"hello": {"role": role, "id": 0 if role == "primary" else
                       rng.randrange(2, 9), "pid": pid, "nonce": nonce}}
    line = json.dumps(hello).encode()
    got = b""
    with s:
        try:
            got += misbehave(s, rng, kind, line, replay)
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except OSError:                  # it hung up on us: fine
            pass
    return got


def test_hostile_handshakes_record_nothing_and_learn_nothing(null_panel):
    """10 000 connections to each process port (TCP and Unix, primaries'
    and secondaries'): random bytes, cut-short hellos, proofs first,
    replayed proofs, requests instead of hellos, wrong proofs. Nothing is
    recorded or obeyed, the key is never sent, the real processes keep
    serving, and the controller's fds and memory stay flat."""
    p = null_panel
    p.start_nfv(1)
    p.cmd("nfv 1; add ring:0")
    key = auth.guest_key(p.sec_port)
    ctl = p.procs["ctl"].pid
    tcp = {"pri": p.pri_port, "sec": p.sec_port}
    unix = {name: auth.socket_path(port) for name, port in tcp.items()}
    # a proof that was good once, for the replays
    s, challenge = remote_hello(("127.0.0.1", p.sec_port), key,
                                {"role": "nfv", "id": 7})
    s.close()
    wait_until(lambda: not p.is_connected("nfv", 7), 5, "nfv 7 gone")
    hello7 = {"hello": {"role": "nfv", "id": 7, "nonce": "0" * 64}}
    replay = (json.dumps(hello7).encode(), json.dumps({"proof": auth.proof(
        key, auth.PROCESS, json.dumps(hello7).encode(),
        challenge["nonce"])}).encode())
    rng = random.Random(23)
    before = {}
    ports = [tcp["pri"], tcp["sec"], unix["pri"], unix["sec"]]
    for i in range(10000 * len(ports)):
        if i == 500:
            before = {"fds": open_fds(ctl), "rss": rss_kb(ctl)}
        got = hostile(rng, ports[i % len(ports)], replay)
        assert key.encode() not in got
        for line in got.splitlines():
            msg = json.loads(line)
            assert "challenge" in msg or msg["ok"] is False, msg
        if i % 1000 == 0:
            assert listed(p) == [("nfv", 1), ("primary", 0)]
    assert listed(p) == [("nfv", 1), ("primary", 0)]
    assert p.cmd("nfv 1; status")["ports"] == ["phy:0", "phy:1", "ring:0"]
    p.cmd("pri; status")
    wait_until(lambda: open_fds(ctl) <= before["fds"], 10, "fds back")
    assert rss_kb(ctl) < before["rss"] + 8 * 1024, (before, rss_kb(ctl))
    assert p.procs["nfv1"].poll() is None
    assert p.procs["primary"].poll() is None


# ---- 2, 6: what a launch may start ------------------------------------------

EVIL = r"""
#include <stdio.h>
__attribute__((constructor)) static void pwn(void)
{
	FILE *f = fopen("MARKER", "w");
	if (f) { fputs("ran as root\n", f); fclose(f); }
}
"""


def test_a_launch_sets_only_eal_options_of_a_fixed_list(null_panel,
                                                        tmp_path):
    """2. PUT /v1/primary/launch with -d (load a library), a vdev that
    reads a file, another panel's file prefix, a trace directory: each a
    400 naming the option, nothing started; the library's constructor
    never runs."""
    p = null_panel
    marker = tmp_path / "marker"
    src = tmp_path / "evil.c"
    src.write_text(EVIL.replace("MARKER", str(marker)))
    lib = tmp_path / "evil.so"
    sh("cc", "-shared", "-fPIC", "-o", str(lib), str(src))
    refused = [({"-d": str(lib)}, "eal option '-d' may not be set"),
               ({"--vdev": "net_pcap9,rx_pcap=/etc/shadow"},
                "--vdev 'net_pcap9,rx_pcap=/etc/shadow'"),
               ({"--file-prefix": "other"},
                f"--file-prefix must be the primary's, {p.prefix}"),
               ({"--trace-dir": str(tmp_path)}, "'--trace-dir' may not"),
               ({"-m": "512; reboot"}, "-m must be a number"),
               ({"--no-pci": "x"}, "--no-pci is a flag")]
    for eal, why in refused:
        status, body = p.rest("PUT", "/v1/primary/launch", {
            "proc_name": "nfv", "client_id": "2",
            "eal": {"--lcores": "3@1", **eal}})
        assert status == 400 and why in body["error"], (eal, body)
    time.sleep(1)
    assert not marker.exists()
    assert listed(p) == [("primary", 0)]
    # what a launch needs still goes: lcores, memory, the panel's prefix
    assert p.rest("PUT", "/v1/primary/launch", {
        "proc_name": "nfv", "client_id": "2",
        "eal": {"--lcores": "3@1", "-m": 512, "--file-prefix": p.prefix,
                "--proc-type": "secondary", "--vdev": "net_null5"}}) == \
        (204, None)
    p.wait_process("nfv", 2)


def test_a_launched_secondary_dials_the_controller_that_launched_it(
        null_panel):
    """6. pri; launch without -s: the nfv dials this controller (its
    ports are not 5555/6666), not the default address; -s naming
    another port is refused; a -s the caller knows this controller by
    is replaced by how the primary reaches it."""
    p = null_panel
    p.cmd("pri; launch nfv 2 --lcores 3@1 -- -n 2")
    p.wait_process("nfv", 2, timeout=10)
    with pytest.raises(PanelError, match=r"app option -s '127.0.0.1:1' is "
                       r"not this controller, whose secondaries dial "
                       rf"127.0.0.1:{p.sec_port}"):
        p.cmd("pri; launch nfv 3 --lcores 4@1 -- -n 3 -s 127.0.0.1:1")
    p.cmd(f"pri; launch nfv 3 --lcores 4@1 -- -n 3 -s localhost:{p.sec_port}")
    p.wait_process("nfv", 3, timeout=10)
    nfv3 = [x for x in p.connected() if x.get("client-id") == 3][0]
    with open(f"/proc/{nfv3['pid']}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    assert argv[argv.index(b"-s") + 1] == f"127.0.0.1:{p.sec_port}".encode()


# ---- 5: a tmux session is ended by what it is, not by its name -------------

def tmux(*args):
    return subprocess.run(["tmux", *args], capture_output=True, text=True)


def test_panel_stop_ends_only_the_tmux_session_it_made(tmp_path):
    """5. panel -c other.yml stop all (with PB_TMUX_SESSION naming it)
    killed another panel's session of that name and its panes. Now a
    stop ends the session its own wakeup recorded, and only while it is
    that very session."""
    name = f"pbother{os.getpid()}"
    conf = tmp_path / "other.yml"
    prefix = f"pbtmux{os.getpid()}"
    conf.write_text(f"controller: {{api_port: {free_port()}, pri_port: "
                    f"{free_port()}, sec_port: {free_port()}}}\n"
                    f"primary: {{file_prefix: {prefix}}}\n")
    assert tmux("new-session", "-d", "-s", name, "sleep 300").returncode == 0
    try:
        sleeper = int(tmux("display-message", "-p", "-t", f"={name}:",
                           "#{pane_pid}").stdout)
        out = subprocess.run([sys.executable, os.path.join(
            ROOT, "runscripts", "panel"), "-c", str(conf), "stop", "all"],
            capture_output=True, text=True, timeout=120,
            env=dict(os.environ, PB_TMUX_SESSION=name))
        assert out.returncode == 0, out.stderr
        assert tmux("has-session", "-t", f"={name}").returncode == 0
        assert identity.read(sleeper) is not None
        # what wakeup records names that session; another of its name,
        # made after, is not it
        rundir = launcher.private_dir(str(tmp_path / "rundir"))
        launcher.record_tmux_session(rundir, name)
        first = launcher.recorded_tmux_session(rundir)
        assert first is not None and first.startswith("$")
        tmux("kill-session", "-t", first)
        assert tmux("new-session", "-d", "-s", name, "sleep 300") \
            .returncode == 0
        assert launcher.recorded_tmux_session(rundir) is None
    finally:
        tmux("kill-session", "-t", f"={name}")


def test_a_run_directory_somebody_else_could_write_is_refused(tmp_path):
    """A panel's folder made beforehand by another user (in /tmp, anyone
    can) would let them name the pids and session a stop ends."""
    planted = tmp_path / "planted"
    planted.mkdir()
    os.chown(planted, 65534, 65534)
    with pytest.raises(launcher.PanelError, match="not a folder of ours"):
        launcher.private_dir(str(planted))
    os.chown(planted, 0, 0)
    planted.chmod(0o777)
    with pytest.raises(launcher.PanelError, match="mode 777"):
        launcher.private_dir(str(planted))


# ---- 7: REST stays answerable -------------------------------------------------

def timed_processes(p):
    t0 = time.monotonic()
    status, procs = p.rest("GET", "/v1/processes")
    assert status == 200
    return time.monotonic() - t0


def raw_get(port, path):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return s


def test_rest_answers_while_streams_and_waiting_requests_pile_up(null_panel):
    """7. 1000 open /v1/live streams, then 1000 GET /v1/nfvs/1 to a
    SIGSTOPped nfv: GET /v1/processes answers within 1 s all along; the
    streams and the waiting requests beyond their pools get 503 saying
    why, at once."""
    p = null_panel
    p.start_nfv(1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4096), hard))
    socks = []
    try:
        for _ in range(1000):
            socks.append(raw_get(p.api_port, "/v1/live"))
        assert timed_processes(p) < 1.0
        head = socks[-1].recv(4096)
        assert head.startswith(b"HTTP/1.1 503") and b"live views are open" \
            in head, head
        for s in socks:
            s.close()
        socks = []
        os.kill(p.procs["nfv1"].pid, signal.SIGSTOP)
        try:
            for _ in range(1000):
                socks.append(raw_get(p.api_port, "/v1/nfvs/1"))
            assert timed_processes(p) < 1.0
            head = socks[-1].recv(4096)
            assert head.startswith(b"HTTP/1.1 503") and \
                b"requests waiting for its answers" in head, head
        finally:
            os.kill(p.procs["nfv1"].pid, signal.SIGCONT)
    finally:
        for s in socks:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    wait_until(lambda: p.rest("GET", "/v1/nfvs/1")[0] == 200, 35,
               "nfv 1 answering again")


# ---- 8: hostile bytes get a 400 or 401 -------------------------------------

def raw_request(port, data):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(10)
        s.sendall(data)
        return s.recv(4096)


@pytest.mark.parametrize("token", [None, "t0ken"])
def test_header_bytes_never_make_a_500(tmp_path, monkeypatch, token):
    """8. An Authorization header (or any) with bytes that are not ASCII
    answered 500, with a traceback, before any token check."""
    if token:
        monkeypatch.setenv("PATCHBAY_TOKEN", token)
    else:
        monkeypatch.delenv("PATCHBAY_TOKEN", raising=False)
    p = Panel(str(tmp_path))
    try:
        p.start_controller()
        for header in (b"Authorization: Bearer \xff\xfe",
                       b"Authorization: \xc3\x28 x", b"X-Odd: \x80\x81",
                       b"Authorization: Bearer t0ken\xff"):
            reply = raw_request(p.api_port, b"GET /v1/processes HTTP/1.1\r\n"
                                b"Host: x\r\n" + header + b"\r\n\r\n")
            code = int(reply.split()[1])
            assert code in ((401, 400) if token else (200, 400)), reply
        assert "Traceback" not in p.log("ctl")
    finally:
        p.stop()


def test_a_status_of_the_wrong_shape_is_refused_not_relayed(null_panel):
    """8. A process whose status is a list made GET /v1/cpu_usage answer
    500 for everyone; {"rx": Infinity} was relayed as JSON no parser
    reads. Now each is that process's refusal, said at once."""
    p = null_panel
    s = local_hello(p.sec_port, {"role": "nfv", "id": 5, "pid": os.getpid()})
    answers = iter([
        b'{"id": %d, "ok": true, "result": {"ports": [], "patches": [],'
        b' "status": "idling"}}',                         # the restore's
        b'{"id": %d, "ok": true, "result": [1, 2]}',        # cpu_usage's
        b'{"id": %d, "ok": true, "result": {"client-id": 5, "stats": '
        b'{"ring:0": {"rx": Infinity}}}}',                   # GET's
        b'{"id": %d, "ok": true, "result": {"client-id": 5, "ports": '
        b'[1]}}'])

    def serve():
        for answer in answers:
            req = json.loads(read_line(s, 30))
            s.sendall(answer % req["id"] + b"\n")
    import threading
    t = threading.Thread(target=serve)
    t.start()
    try:
        wait_until(lambda: p.is_connected("nfv", 5), 5, "nfv 5")
        status, usage = p.rest("GET", "/v1/cpu_usage")
        assert status == 200 and [u["proc-type"] for u in usage] == \
            ["primary"]
        for why in ("Infinity is not a number JSON has",
                    "status.ports[0] is not a string"):
            t0 = time.monotonic()
            status, body = p.rest("GET", "/v1/nfvs/5")
            assert status == 400 and why in body["error"], body
            assert time.monotonic() - t0 < 5
    finally:
        s.close()
        t.join(40)
