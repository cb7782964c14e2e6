"""The line protocol, spoken directly to a real nfv by a test that plays
the controller: hello, replies echoing ids, re-dialling, and bad input of
every kind answered with a reason while the process and its state stay."""

import json
import os
import socket
import time

import pytest

from pbctl import auth
from pbctl.launcher import free_port


class FakeController:
    """Listens where an nfv told 127.0.0.1:port dials (the controller's
    Unix socket for port, as root: docs/security.md), and speaks to it
    line by line."""

    def __init__(self):
        self.port = free_port()
        self.path = auth.socket_path(self.port)
        auth.make_run_dir()
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(self.path)
        self.listener.listen(4)
        self.listener.settimeout(30)
        self.conn = None
        self.buf = b""

    def accept(self):
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(30)
        self.buf = b""
        return json.loads(self.read_line())

    def read_line(self):
        while b"\n" not in self.buf:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise ConnectionError("nfv closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def send_raw(self, data):
        self.conn.sendall(data)
        return json.loads(self.read_line())

    def request(self, cmd, args=None, req_id=1):
        msg = {"id": req_id, "cmd": cmd}
        if args is not None:
            msg["args"] = args
        return self.send_raw(json.dumps(msg).encode() + b"\n")

    def close(self):
        if self.conn:
            self.conn.close()
        self.listener.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


@pytest.fixture
def fake(null_panel):
    f = FakeController()
    null_panel.start_nfv(1, cpus="1", controller_port=f.port, wait=False)
    f.hello = f.accept()
    yield f
    f.close()


def status(fake):
    reply = fake.request("status", req_id="s")
    assert reply["ok"], reply
    return reply["result"]


def test_hello_and_reply_shape(fake, null_panel):
    hello = fake.hello["hello"]
    assert hello["role"] == "nfv" and hello["id"] == 1
    assert hello["pid"] == null_panel.procs["nfv1"].pid
    assert hello["node"] == socket.gethostname()
    assert hello["version"].count(".") == 2
    reply = fake.request("status", req_id=7)
    assert reply["id"] == 7 and reply["ok"] is True
    res = reply["result"]
    assert res["client-id"] == 1 and res["status"] == "idling"
    assert res["ports"] == ["phy:0", "phy:1"] and res["patches"] == []
    assert set(res["stats"]["phy:0"]) == {"rx", "tx", "rx_drop", "tx_drop",
                                          "rx_bytes", "tx_bytes"}
    # ids of any JSON type are echoed; a missing one is null
    assert fake.request("status", req_id="abc")["id"] == "abc"
    assert fake.send_raw(b'{"cmd": "status"}\n')["id"] is None


def test_redials_after_the_controller_drops_it(fake):
    fake.conn.close()
    started = time.monotonic()
    hello = fake.accept()
    assert hello["hello"]["id"] == 1
    assert time.monotonic() - started < 3
    assert status(fake)["client-id"] == 1


# (raw line, words the error must contain)
BAD_LINES = [
    (b"this is not json", "not valid JSON"),
    (b"[1, 2, 3]", "must be a JSON object"),
    (b"42", "must be a JSON object"),
    (b'"status"', "must be a JSON object"),
    (b"", "not valid JSON"),
    (b'{"id": 1}', "no 'cmd'"),
    (b'{"id": 1, "cmd": 5}', "'cmd' must be a string"),
    (b'{"id": 1, "cmd": "fly"}', "unknown command 'fly'"),
    (b'{"id": 1, "cmd": "status", "extra": 1}', "unknown field 'extra'"),
    (b'{"id": 1, "cmd": "add", "args": []}', "'args' must be a JSON object"),
    (b'{"id": 1, "cmd": "add", "args": {}}', "'port' is missing"),
    (b'{"id": 1, "cmd": "add", "args": {"port": 3}}', "must be a port"),
    (b'{"id": 1, "cmd": "add", "args": {"port": "ring"}}', "type:N"),
    (b'{"id": 1, "cmd": "add", "args": {"port": "ring:"}}', "index is missing"),
    (b'{"id": 1, "cmd": "add", "args": {"port": "ring:x"}}', "decimal"),
    (b'{"id": 1, "cmd": "add", "args": {"port": "ring:01"}}', "leading zeros"),
    (b'{"id": 1, "cmd": "add", "args": {"port": "ring:99999"}}', "too large"),
    (b'{"id": 1, "cmd": "add", "args": {"port": "eth:0"}}', "unknown port type"),
    (b'{"id": 1, "cmd": "add", "args": {"port": "ring:50"}}', "does not exist"),
    (b'{"id": 1, "cmd": "add", "args": {"port": "ring:1", "x": 1}}',
     "take no options"),
    (b'{"id": 1, "cmd": "add", "args": {"port": "null:0", "size": "big"}}',
     "'size' must be an integer"),
    (b'{"id": 1, "cmd": "add", "args": {"port": "null:0", "speed": 1}}',
     "unknown argument 'speed'"),
    (b'{"id": 1, "cmd": "add", "args": {"port": "pcap:0"}}', "need 'rx'"),
    (b'{"id": 1, "cmd": "add", "args": {"port": "pcap:0", "rx": "/nonexistent"}}',
     "cannot open pcap:0"),
    (b'{"id": 1, "cmd": "add", "args": {"port": "virtio:0", "path": "/a,b"}}',
     "must not contain ','"),
    (b'{"id": 1, "cmd": "add", "args": {"port": "phy:0"}}', "already added"),
    (b'{"id": 1, "cmd": "del", "args": {"port": "ring:1"}}', "not added"),
    (b'{"id": 1, "cmd": "del", "args": {"port": "phy:0"}}', "cannot be deleted"),
    (b'{"id": 1, "cmd": "patch", "args": {"src": "phy:0"}}', "'dst' is missing"),
    (b'{"id": 1, "cmd": "patch", "args": {"src": "phy:0", "dst": "ring:3"}}',
     "ring:3 is not added"),
    (b'{"id": 1, "cmd": "unpatch", "args": {"src": "phy:1"}}', "not patched"),
    (b'{"id": 1, "cmd": "forward", "args": {"now": true}}', "takes no arguments"),
    (b'{"id": 1, "cmd": "status", "cmd": "exit"}', "duplicate"),
    (b'{"id": 1, "cmd": "st\xff\xfe"}', "not valid JSON"),
    (b'{"id": 1, "cmd": "status\\u0000"}', "not valid JSON"),
    (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
    (b'{"id": 1, "cmd": "status"', "not valid JSON"),
]


def test_bad_input_gets_reasons_and_changes_nothing(fake):
    assert fake.request("add", {"port": "ring:0"})["ok"]
    assert fake.request("patch", {"src": "phy:0", "dst": "ring:0"})["ok"]
    before = status(fake)
    for line, words in BAD_LINES:
        reply = fake.send_raw(line + b"\n")
        assert reply["ok"] is False, (line, reply)
        assert words in reply["error"], (line, reply["error"])
        assert "(null)" not in reply["error"]
    after = status(fake)
    assert after["ports"] == before["ports"]
    assert after["patches"] == before["patches"]
    assert after["status"] == before["status"]


def test_overlong_line_is_refused_and_the_connection_keeps_working(fake):
    line = b'{"id": 1, "cmd": "status", "args": {"x": "' + \
        b"a" * (1024 * 1024 + 10) + b'"}}\n'
    reply = fake.send_raw(line)
    assert reply["ok"] is False and "longer than 1 MiB" in reply["error"]
    assert status(fake)["client-id"] == 1


def test_many_requests_in_one_write_get_one_reply_each(fake):
    lines = b"".join(json.dumps({"id": i, "cmd": "status"}).encode() + b"\n"
                     for i in range(200))
    fake.conn.sendall(lines)
    ids = [json.loads(fake.read_line())["id"] for _ in range(200)]
    assert ids == list(range(200))


def test_ring_with_a_writer_elsewhere_is_refused(fake, null_panel):
    """nfv 2 (on the real controller) writes ring:0; nfv 1 may read it but
    not write it too."""
    p = null_panel
    p.start_nfv(2, cpus="0")
    p.cmd("nfv 2; add ring:0")
    p.cmd("nfv 2; patch phy:0 ring:0")
    assert fake.request("add", {"port": "ring:0"})["ok"]
    reply = fake.request("patch", {"src": "phy:1", "dst": "ring:0"})
    assert not reply["ok"]
    assert reply["error"] == "ring:0 is already written by nfv 2"
    # reading it is fine: single producer, single consumer
    assert fake.request("patch", {"src": "ring:0", "dst": "phy:1"})["ok"]
    # and nobody else may read it now
    p.cmd("nfv 2; add ring:1")
    with pytest.raises(Exception, match="ring:0 is already read by nfv 1"):
        p.cmd("nfv 2; patch ring:0 ring:1")
    # a refused patch left the earlier ones as they were
    assert status(fake)["patches"] == [{"src": "ring:0", "dst": "phy:1"}]
    # once nfv 2 lets go, nfv 1 may write the ring
    p.cmd("nfv 2; patch reset")
    assert fake.request("patch", {"src": "phy:1", "dst": "ring:0"})["ok"]


def test_hot_added_port_belongs_to_one_process(fake, null_panel, tmp_path):
    p = null_panel
    p.start_nfv(2, cpus="0")
    assert fake.request("add", {"port": "null:3"})["ok"]
    with pytest.raises(Exception, match="null:3 is already added by another"):
        p.cmd("nfv 2; add null:3")
    assert fake.request("del", {"port": "null:3"})["ok"]
    p.cmd("nfv 2; add null:3")


def test_exit_ends_the_process_cleanly(fake, null_panel, tmp_path):
    sock = tmp_path / "v.sock"
    assert fake.request("add", {"port": "vhost:2", "path": str(sock)})["ok"]
    assert sock.exists()
    assert fake.request("exit")["ok"]
    proc = null_panel.procs["nfv1"]
    assert proc.wait(10) == 0
    assert not sock.exists(), "exit left the vhost socket behind"
