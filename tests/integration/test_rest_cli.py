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
