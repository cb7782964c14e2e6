"""The controller's REST API and the SPP-syntax command line, against a
real controller, primary and secondary."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.path.join(ROOT, "controller", "patchbay")


def run_cli(panel, *args, stdin=None):
    return subprocess.run([sys.executable, CLI, "-b",
                           f"127.0.0.1:{panel.api_port}", *args],
                          input=stdin, capture_output=True, text=True,
                          timeout=60)


def test_rest_endpoints(null_panel):
    p = null_panel
    p.start_nfv(1)
    status, procs = p.rest("GET", "/v1/processes")
    assert status == 200
    assert [{k: x[k] for k in x if k in ("type", "client-id")}
            for x in procs] == [{"type": "primary"},
                                {"type": "nfv", "client-id": 1}]
    assert procs[1]["pid"] == p.procs["nfv1"].pid
    status, body = p.rest("GET", "/v1/primary/status")
    assert status == 200 and len(body["phy_ports"]) == 2
    assert [r["id"] for r in body["ring_ports"]] == [0, 1, 2, 3]
    assert p.rest("PUT", "/v1/nfvs/1/ports",
                  {"action": "add", "port": "ring:1"}) == (204, None)
    assert p.rest("PUT", "/v1/nfvs/1/patches",
                  {"src": "phy:0", "dst": "ring:1"}) == (204, None)
    assert p.rest("PUT", "/v1/nfvs/1/forward", {"action": "start"}) == \
        (204, None)
    status, body = p.rest("GET", "/v1/nfvs/1")
    assert body["status"] == "running"
    assert body["patches"] == [{"src": "phy:0", "dst": "ring:1"}]
    assert p.rest("PUT", "/v1/nfvs/1/forward", {"action": "stop"})[0] == 204
    assert p.rest("DELETE", "/v1/nfvs/1/patches/phy:0")[0] == 204
    assert p.rest("GET", "/v1/nfvs/1")[1]["patches"] == []
    assert p.rest("PUT", "/v1/nfvs/1/patches",
                  {"src": "phy:0", "dst": "ring:1"})[0] == 204
    assert p.rest("DELETE", "/v1/nfvs/1/patches")[0] == 204
    assert p.rest("GET", "/v1/nfvs/1")[1]["patches"] == []
    assert p.rest("PUT", "/v1/nfvs/1/ports",
                  {"action": "del", "port": "ring:1"})[0] == 204
    assert p.rest("DELETE", "/v1/primary/status")[0] == 204
    assert p.rest("DELETE", "/v1/nfvs/1")[0] == 204
    assert p.procs["nfv1"].wait(10) == 0


def test_rest_errors_say_what_is_wrong(null_panel):
    p = null_panel
    p.start_nfv(1)
    assert p.rest("GET", "/v1/nfvs/9") == \
        (404, {"error": "no nfv 9 is connected"})
    assert p.rest("GET", "/v1/nowhere")[0] == 404
    assert p.rest("POST", "/v1/processes")[0] == 405
    # the process's own reason, never a false success
    assert p.rest("PUT", "/v1/nfvs/1/patches",
                  {"src": "phy:0", "dst": "ring:2"}) == \
        (400, {"error": "ring:2 is not added; add it first"})
    assert p.rest("PUT", "/v1/nfvs/1/ports",
                  {"action": "add", "port": "ring:77"})[0] == 400
    assert p.rest("PUT", "/v1/nfvs/1/ports", {"action": "add"}) == \
        (400, {"error": "'port' is missing from the request body"})
    assert p.rest("PUT", "/v1/nfvs/1/forward", {"action": "go"})[0] == 400
    assert p.rest("PUT", "/v1/nfvs/1/patches", [1, 2])[0] == 400
    # and the process is still there, unchanged
    assert p.rest("GET", "/v1/nfvs/1")[1]["ports"] == ["phy:0", "phy:1"]


def test_cli_speaks_spp_syntax(null_panel, tmp_path):
    p = null_panel
    p.start_nfv(1)
    r = run_cli(p, "-c", "nfv 1; add ring:0")
    assert r.returncode == 0 and r.stdout.strip() == "ok"
    script = tmp_path / "cmds"
    script.write_text("# a chain\nnfv 1; patch phy:0 ring:0\nnfv 1; forward\n"
                      "nfv 1; stop\nnfv 1; status\n")
    r = run_cli(p, "-f", str(script))
    assert r.returncode == 0, r.stderr
    assert '"dst": "ring:0"' in r.stdout
    r = run_cli(p, stdin="pri; status\nstatus\n")
    assert r.returncode == 0 and '"phy_ports"' in r.stdout
    assert '"client-id": 1' in r.stdout


def test_cli_failures_print_the_reason_and_exit_nonzero(null_panel):
    p = null_panel
    p.start_nfv(1)
    r = run_cli(p, "-c", "nfv 1; patch phy:0 ring:3")
    assert r.returncode == 1
    assert "ring:3 is not added" in r.stderr
    r = run_cli(p, "-c", "nfv 1; patch phy:0")
    assert r.returncode == 1 and "usage: nfv N; patch SRC DST" in r.stderr
    r = run_cli(p, "-c", "nfv 4; status")
    assert r.returncode == 1 and "no nfv 4 is connected" in r.stderr
    r = run_cli(p, "-c", "launch rockets")
    assert r.returncode == 1 and "unknown command" in r.stderr
    # one failure in a script fails the script, the rest still runs
    r = run_cli(p, stdin="nfv 1; add ring:9\nnfv 1; add ring:1\n")
    assert r.returncode == 1
    assert p.cmd("nfv 1; status")["ports"][-1] == "ring:1"
    r = run_cli(p, "-c", "bye sec 1")
    assert r.returncode == 0
    assert p.procs["nfv1"].wait(10) == 0


def test_script_mistakes_name_the_file_and_line(null_panel, tmp_path):
    """-f, standard input and playback: a failing line is named FILE:LINE
    (nested playbacks show the chain); a file that cannot be read, is not
    UTF-8 or plays itself back is an error, not a traceback."""
    p = null_panel
    p.start_nfv(1)
    script = tmp_path / "chain.cmds"
    script.write_text("# a chain\nnfv 1; add ring:0\n\nnfv 1; patch ring:0\n"
                      "nfv 1; add rung:1\nnfv 1; add ring:1\n")
    r = run_cli(p, "-f", str(script))
    assert r.returncode == 1
    assert f"error: {script}:4: usage: nfv N; patch SRC DST" in r.stderr
    assert f"error: {script}:5: " in r.stderr and "rung" in r.stderr
    assert p.cmd("nfv 1; status")["ports"][-2:] == ["ring:0", "ring:1"]
    r = run_cli(p, stdin="nfv 1; status\nnfv x; status\n")
    assert r.returncode == 1 and "error: stdin:2: unknown process" in r.stderr
    outer = tmp_path / "outer.cmds"
    outer.write_text(f"nfv 1; status\nplayback {script}\n")
    r = run_cli(p, "-c", f"playback {outer}")
    assert f"error: {script}:4 < {outer}:2: usage" in r.stderr
    loop = tmp_path / "loop.cmds"
    loop.write_text(f"playback {loop}\n")
    binary = tmp_path / "binary.cmds"
    binary.write_bytes(b"nfv 1; status\n\xff\xfe status\n")
    for args, reason in (
            (("-f", str(tmp_path / "missing")), "missing: No such file"),
            (("-c", f"playback {tmp_path}/missing"), "No such file"),
            (("-c", f"record {tmp_path}/no/dir"), "No such file"),
            (("-c", f"playback {loop}"), "playback nested too deeply"),
            (("-f", str(binary)), f"{binary}:2: not UTF-8 text (byte 1)")):
        r = run_cli(p, *args)
        assert r.returncode == 1, args
        assert reason in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert p.cmd("nfv 1; status")["ports"][-2:] == ["ring:0", "ring:1"]


def test_spp_documented_bodies_and_every_error_path(null_panel):
    """Bodies as spp-ctl's documentation gives them (numbers included),
    and every way a request can be wrong."""
    p = null_panel
    body = {"proc_name": "spp_nfv", "client_id": 1,
            "eal": {"-l": "1", "-m": "512"},
            "app": {"-n": 1, "-s": f"127.0.0.1:{p.sec_port}"}}
    assert p.rest("PUT", "/v1/primary/launch", body) == (204, None)
    p.wait_process("nfv", 1)
    for method, path, req in (
            ("PUT", "/v1/nfvs/1/ports", {"action": "add", "port": "ring:0"}),
            ("PUT", "/v1/nfvs/1/ports", {"action": "add", "port": "ring:1"}),
            ("PUT", "/v1/nfvs/1/patches", {"src": "ring:0", "dst": "ring:1"}),
            ("PUT", "/v1/nfvs/1/forward", {"action": "start"}),
            ("PUT", "/v1/nfvs/1/forward", {"action": "stop"}),
            ("DELETE", "/v1/nfvs/1/patches", None),
            ("PUT", "/v1/nfvs/1/ports", {"action": "del", "port": "ring:0"})):
        assert p.rest(method, path, req) == (204, None), (path, req)
    errors = [
        ("GET", "/v1/nfvs/5", None, 404, "no nfv 5 is connected"),
        ("PUT", "/v1/nfvs/5/forward", {"action": "start"}, 404, "no nfv 5"),
        ("GET", "/v1/vfs/1", None, 404, "no vf 1 is connected"),
        ("PATCH", "/v1/nfvs/1", None, 405, "PATCH is not allowed"),
        ("PUT", "/v1/nfvs/1/ports", {"port": "ring:0"}, 400,
         "'action' is missing"),
        ("PUT", "/v1/nfvs/1/ports", {"action": "move", "port": "ring:0"}, 400,
         "'action' must be"),
        ("PUT", "/v1/nfvs/1/ports", {"action": "add", "port": 0}, 400,
         "'port' must be a str"),
        ("PUT", "/v1/nfvs/1/ports", {"action": "add", "port": "ring:1"}, 400,
         "ring:1 is already added"),
        ("PUT", "/v1/nfvs/1/patches", {"src": "ring:1"}, 400,
         "'dst' is missing"),
        ("DELETE", "/v1/nfvs/1/patches/ring:1", None, 400, "not patched"),
        ("PUT", "/v1/nfvs/1/forward", "start", 400, "must be a JSON object"),
        ("PUT", "/v1/primary/launch", {"proc_name": "nfv"}, 400,
         "'client_id' must be a number"),
        ("PUT", "/v1/primary/launch", dict(body), 400,
         "nfv 1 is already running"),
    ]
    for method, path, req, status, words in errors:
        got_status, got = p.rest(method, path, req)
        assert got_status == status, (method, path, req, got)
        assert words in got["error"], (method, path, req, got)
    # a body that is not JSON, and one too large
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", p.api_port, timeout=10)
    conn.request("PUT", "/v1/nfvs/1/patches", body="{not json")
    resp = conn.getresponse()
    assert resp.status == 400 and b"not valid JSON" in resp.read()
    conn.close()
    import socket
    with socket.create_connection(("127.0.0.1", p.api_port), timeout=10) as s:
        s.sendall(b"PUT /v1/nfvs/1/patches HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 2097152\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 413 ")
    assert p.cmd("nfv 1; status")["ports"] == ["phy:0", "phy:1", "ring:1"]
