"""Garbage over the wire, to a real nfv, a real primary and the REST API:
every message answered with a reason (or the connection closed), the
process alive, its state unchanged, no file descriptor or memory leaked.
And the security defaults: loopback, tokens, socket permissions."""

import io
import json
import os
import random
import socket
import subprocess

from pbctl.client import Client
from pbctl.launcher import Panel, free_port
from pbctl.shell import Shell
from machine import SANITIZED
from test_chains import wait_until
from test_protocol import FakeController, fake, status  # noqa: F401
from test_security import local_hello

ROUNDS = 1500      # messages of each kind per round; two rounds a process


def garbage(rng):
    """One bad request line (no '\\n' inside) of a random kind."""
    kind = rng.randrange(6)
    if kind == 0:                                    # random bytes
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        return data.replace(b"\n", b" ")
    if kind == 1:                                    # truncated valid JSON
        line = json.dumps({"id": 1, "cmd": "patch",
                           "args": {"src": "ring:0", "dst": "ring:1"}})
        return line[:rng.randrange(1, len(line))].encode()
    if kind == 2:                                    # deeply nested
        depth = rng.choice((100, 5000, 100000))
        return b'{"id": 1, "cmd": "status", "args": ' + b"[" * depth + \
            b"]" * depth + b"}"
    if kind == 3:                                    # not UTF-8
        return rng.choice([b'{"id": 1, "cmd": "\xff\xfe\xc3(", "args": {}}',
                           # the parser's message quotes these bytes
                           b'{"cmd": "patc\\u000\xda\x97\x8c"}'])
    if kind == 4:                                    # valid but wrong
        return json.dumps(rng.choice([
            {"id": 1, "cmd": "patch", "args": {"src": "ring:0",
                                               "dst": "vhost:7"}},
            {"id": 1, "cmd": "patch", "args": {"src": "ring:99999"}},
            {"id": 1, "cmd": "add", "args": {"port": "vhost:1",
                                             "queues": -1}},
            {"id": 1, "cmd": "add", "args": {"port": "tap:1", "": True}},
            {"id": 1, "cmd": "del", "args": {"port": "phy:0"}},
            {"id": 1, "cmd": "unpatch", "args": {"src": 3}},
            {"id": 1, "cmd": "forward", "args": {"now": True}},
            {"cmd": "bye"},
            [], "status", None, 1e400,
        ])).encode()
    return b'{"id": 1, "cmd": "status", "x": "' + b"A" * \
        rng.randrange(1000, 100000) + b'"}'             # big, unknown field


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_anon_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def flood(ctl, rng, n):
    """Send n garbage lines; every one must get an error reply."""
    for _ in range(n):
        reply = ctl.send_raw(garbage(rng) + b"\n")
        assert reply["ok"] is False and reply["error"], reply


def test_garbage_to_an_nfv(fake, null_panel):
    rng = random.Random(6)
    fake.request("add", {"port": "ring:0"})
    fake.request("patch", {"src": "phy:0", "dst": "ring:0"})
    before = status(fake)
    pid = null_panel.procs["nfv1"].pid
    flood(fake, rng, ROUNDS)                 # warm up allocator caches
    fds, rss = open_fds(pid), rss_anon_kb(pid)
    flood(fake, rng, ROUNDS)
    # a line over 1 MiB is refused and the connection kept
    reply = fake.send_raw(b'{"id": 1, "cmd": "status", "x": "' +
                          b"B" * (1 << 20) + b'"}\n')
    assert reply["ok"] is False and "1 MiB" in reply["error"]
    after = status(fake)
    for key in ("ports", "patches"):
        assert after[key] == before[key]
    assert open_fds(pid) == fds
    assert SANITIZED or rss_anon_kb(pid) - rss < 1024, "memory grew by 1 MiB"


def test_garbage_to_the_primary(tmp_path):
    """The primary dials its own port of the controller: play that part."""
    ctl = FakeController()
    try:
        p = Panel(str(tmp_path), ports=(ctl.port, free_port(), free_port()))
        proc = p.start_primary(vdevs=["net_null0"], wait=False)
        try:
            assert ctl.accept()["hello"]["role"] == "primary"
            first = ctl.send_raw(b'{"id": 1, "cmd": "status"}\n')
            assert first["ok"]
            before = first["result"]
            rng = random.Random(7)
            flood(ctl, rng, ROUNDS)
            fds, rss = open_fds(proc.pid), rss_anon_kb(proc.pid)
            flood(ctl, rng, ROUNDS)
            after = ctl.send_raw(b'{"id": 2, "cmd": "status"}\n')["result"]
            for key in ("phy_ports", "ring_ports"):
                assert after[key] == before[key]
            assert open_fds(proc.pid) == fds
            assert SANITIZED or rss_anon_kb(proc.pid) - rss < 1024
            assert proc.poll() is None
        finally:
            p.stop()
    finally:
        ctl.close()


def http_raw(port, data, timeout=10):
    """Send raw bytes to the REST port; the response's status, or None if
    the server closed the connection without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    if not got:
        return None
    return int(got.split(b" ", 2)[1])


def rest_garbage(rng):
    kind = rng.randrange(5)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
    if kind == 1:
        body = b"[" * 100000 + b"]" * 100000
        return (b"PUT /v1/nfvs/1/components HTTP/1.1\r\nContent-Length: " +
                str(len(body)).encode() + b"\r\n\r\n" + body)
    if kind == 2:
        return (b"PUT /v1/nfvs/1/ports HTTP/1.1\r\nContent-Length: 2000000"
                b"\r\n\r\n")
    if kind == 3:
        body = rng.choice([b'{"action": "add", "port": "vhost:x"}',
                           b'{"action": "del"}', b'\xff\xfe',
                           b'{"action": "add", "port": 1}',
                           b'{"src": "ring:0", "dst": "ring:77"}'])
        path = rng.choice([b"/v1/nfvs/1/ports", b"/v1/nfvs/1/patches",
                           b"/v1/nfvs/9/ports", b"/v1/nothing"])
        return (b"PUT " + path + b" HTTP/1.1\r\nContent-Length: " +
                str(len(body)).encode() + b"\r\n\r\n" + body)
    return b"GET /v1/processes HTTP/1.1\r\nContent-Length: -5\r\n\r\n"


def test_garbage_to_the_rest_api(null_panel):
    null_panel.start_nfv(1)
    null_panel.cmd("nfv 1; add ring:0")
    null_panel.cmd("nfv 1; patch phy:0 ring:0")
    before = null_panel.cmd("nfv 1; status")
    ctl = null_panel.procs["ctl"].pid
    rng = random.Random(8)
    answered = {}
    for i in range(600):
        if i == 300:
            fds, rss = open_fds(ctl), rss_anon_kb(ctl)
        code = http_raw(null_panel.api_port, rest_garbage(rng))
        assert code is None or 400 <= code < 500, code
        answered[code] = answered.get(code, 0) + 1
    assert null_panel.procs["ctl"].poll() is None
    after = null_panel.cmd("nfv 1; status")
    for key in ("ports", "patches"):
        assert after[key] == before[key]
    wait_until(lambda: open_fds(ctl) <= fds, 5, "the controller's fds back")
    assert rss_anon_kb(ctl) - rss < 4096     # Python: not sanitized
    assert set(answered) - {None} >= {400, 404, 413}


def test_garbage_to_the_controllers_process_ports(null_panel):
    """Whoever dials where processes dial and says something else than a
    hello is refused with a reason; a process that then sends garbage
    instead of replies is not believed; the controller carries on."""
    p = null_panel
    p.start_nfv(1)
    ctl = p.procs["ctl"].pid
    rng = random.Random(9)
    for i in range(300):
        if i == 100:
            fds = open_fds(ctl)
        with socket.create_connection(("127.0.0.1", p.sec_port)) as s:
            s.settimeout(10)
            s.sendall(garbage(rng) + b"\n")
            got = b""
            while not got.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        if got:
            reply = json.loads(got)
            assert reply["ok"] is False and "bad hello" in reply["error"]
    # a second nfv 1 is refused; a fake nfv 2 that answers with garbage
    # makes requests to it fail with a reason, not hang the controller
    me = os.getpid()
    with local_hello(p.sec_port, {"role": "nfv", "id": 1, "pid": me}) as s:
        assert b"already connected" in s.recv(4096)
    with local_hello(p.sec_port, {"role": "nfv", "id": 2, "pid": me}) as s:
        wait_until(lambda: p.is_connected("nfv", 2), 5, "the fake nfv 2")
        s.sendall(b"[[[[\n" + b"\xff" * 100 + b"\n" + b"[" * 100000 +
                  b"\n{}\n")
        s.close()
    assert p.cmd("nfv 1; status")["status"] == "idling"
    assert p.procs["ctl"].poll() is None
    wait_until(lambda: open_fds(ctl) <= fds, 5, "the controller's fds back")


# ---- security ---------------------------------------------------------------

def listening_addresses(pid):
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True,
                         text=True).stdout
    return {line.split()[3].rsplit(":", 1)[0] for line in out.splitlines()
            if f"pid={pid}," in line}


def test_controller_listens_on_loopback_by_default(panel):
    assert listening_addresses(panel.procs["ctl"].pid) == {"127.0.0.1"}


def test_token_is_required_when_set(tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHBAY_TOKEN", "s3cret")
    p = Panel(str(tmp_path))
    try:
        p.start_controller()
        p.start_primary(vdevs=["net_null0"])         # says the token
        assert Client("127.0.0.1", p.api_port).processes()
        status, body = Client("127.0.0.1", p.api_port,
                              token="wrong").call("GET", "/v1/processes")
        assert status == 401 and "token" in body["error"]
        monkeypatch.delenv("PATCHBAY_TOKEN")
        status, body = Client("127.0.0.1", p.api_port).call(
            "GET", "/v1/processes")
        assert status == 401
        # processes prove the token over TCP (test_security.py); on this
        # host they dial the Unix socket, where the kernel vouches
        monkeypatch.setenv("PATCHBAY_TOKEN", "guess")
        p.start_nfv(1)
        monkeypatch.setenv("PATCHBAY_TOKEN", "s3cret")
        assert p.is_connected("nfv", 1)
    finally:
        monkeypatch.setenv("PATCHBAY_TOKEN", "s3cret")
        p.stop()


def test_vhost_sockets_are_for_their_owner_only(null_panel, tmp_path):
    null_panel.start_nfv(1)
    path = str(tmp_path / "vm0.sock")
    null_panel.cmd(f"nfv 1; add vhost:0 path={path}")
    wait_until(lambda: os.path.exists(path), 5, "the socket")
    assert os.stat(path).st_mode & 0o077 == 0
    null_panel.cmd("nfv 1; del vhost:0")


def test_no_shell_anywhere():
    """No C or Python code of ours hands a string to a shell."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    found = subprocess.run(
        ["grep", "-rnE",
         r"(^|[^.[:alnum:]_])(system|popen)\(|shell=True|os\.(system|popen)",
         "--include=*.c", "--include=*.h", "--include=*.py",
         "common", "primary", "secondary", "controller", "vm", "runscripts",
         "bench"], cwd=root, capture_output=True, text=True).stdout
    assert found == "", found


def test_deep_json_body_is_a_clear_400(null_panel):
    body = b"[" * 100000 + b"]" * 100000
    with socket.create_connection(("127.0.0.1", null_panel.api_port)) as s:
        s.sendall(b"PUT /v1/nfvs/1/ports HTTP/1.1\r\nContent-Length: " +
                  str(len(body)).encode() + b"\r\n\r\n" + body)
        got = b""
        while b"\r\n\r\n" not in got or not got.endswith(b"}"):
            chunk = s.recv(65536)     # head and body may come apart
            assert chunk, got
            got += chunk
        status = int(got.split(b" ", 2)[1])
        payload = json.loads(got.split(b"\r\n\r\n", 1)[1])
    assert status == 400 and "nested" in payload["error"]


SHELL_WORDS = ("nfv", "pri", "1", "0", "-1", "99999999999999999999", ";",
               "add", "del", "patch", "unpatch", "reset", "forward", "stop",
               "exit", "status", "launch", "bye", "sec", "all", "ring:0",
               "vhost:1", "phy:0", "path=/x", "=", "k=", "--", "-l", "\x00",
               "\x1b[A", "\u00e9", "\uff11", "help", "record", "playback",
               "server", "topo", "diff", "clear", "'", '"', "\\",
               "#", "?", "!", "EOF", "x.dot", "/dev/null", "/nonexistent/a",
               ".", "-", "svg", "2", "conf.yml")


def test_random_shell_lines_get_reasons(tmp_path, monkeypatch, capsys):
    """5000 random lines of the shell's words, control characters and
    file names (no controller listening): each one a reason or a result,
    never an exception out of the shell. (Not `apply`: a valid file, like
    /dev/null, would start a panel.)"""
    monkeypatch.chdir(tmp_path)          # `record` writes where it is told
    (tmp_path / "conf.yml").write_text("chains:\n  a: {hops: [phy:0]}\n")
    dead = free_port()
    shell = Shell([Client("127.0.0.1", dead, timeout=2)],
                  stdout=io.StringIO())
    rng = random.Random(6)
    for _ in range(5000):
        line = " ".join(rng.choice(SHELL_WORDS)
                        for _ in range(rng.randrange(1, 7)))
        if line.split()[0] == "monitor":
            continue
        shell.failed = False
        shell.onecmd(line)            # raises if the shell would die
        err = capsys.readouterr().err
        assert shell.failed == ("error: " in err), (line, err)
