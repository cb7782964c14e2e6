"""The live view in a real browser (headless Chromium): every port of
every process's status shows with a rate that changes, a click shows a
port's counters, a killed nfv turns red within 2 s. A screenshot is kept
in build/artifacts/ (PB_ARTIFACTS to move it)."""

import glob
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from machine import needs
from pbctl.launcher import Panel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.environ.get("PB_ARTIFACTS") or os.path.join(ROOT, "build",
                                                           "artifacts")

ROWS = """[...document.querySelectorAll('tr.port')].map(r => ({
    process: r.dataset.process, port: r.dataset.port,
    rx: r.querySelector('.rx-pps').dataset.value,
    tx: r.querySelector('.tx-pps').dataset.value,
    down: r.classList.contains('down')}))"""


def wait_for(browser, expression, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.evaluate(expression)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"the page did not show {what} in {timeout} s")


def rows(browser):
    return {(r["process"], r["port"]): r for r in browser.evaluate(ROWS)}


def chain(p):
    """nfv 1: phy:0 -> ring:0 -> phy:1; nfv 2: ring:1 -> ring:2."""
    p.start_primary(vdevs=["net_null0", "net_null1"], rings=4)
    p.start_nfv(1)
    p.start_nfv(2, cpus="0")
    for line in ("nfv 1; add ring:0", "nfv 1; patch phy:0 ring:0",
                 "nfv 1; patch ring:0 phy:1", "nfv 1; forward",
                 "nfv 2; add ring:1", "nfv 2; add ring:2",
                 "nfv 2; patch ring:1 ring:2", "nfv 2; forward"):
        p.cmd(line)


@needs("chromium")
def test_the_live_view_draws_every_port_and_shows_a_killed_nfv_red(panel):
    from browser import Browser
    p = panel
    chain(p)
    tmp_before = set(glob.glob("/tmp/*"))
    browser = Browser(f"http://127.0.0.1:{p.api_port}/")
    try:
        # every port of every process's status, as a row
        wanted = {("primary", f"{kind}:{i}") for kind, n in (("phy", 2),
                                                            ("ring", 4))
                  for i in range(n)}
        for cid in (1, 2):
            wanted |= {(f"nfv {cid}", port)
                       for port in p.cmd(f"nfv {cid}; status")["ports"]}
        wait_for(browser, "document.querySelectorAll('tr.port [data-value]')"
                 ".length > 0", 30, "rates")
        shown = rows(browser)
        assert set(shown) == wanted, set(shown) ^ wanted
        assert "phy:0 --nfv 1--> ring:0 --nfv 1--> phy:1" in \
            browser.evaluate("document.getElementById('chains').textContent")

        assert "patches: ring:1 → ring:2" in browser.evaluate(
            "document.querySelector('section[data-process=\"nfv 2\"] "
            ".patches').textContent")
        os.makedirs(ARTIFACTS, exist_ok=True)
        browser.screenshot(os.path.join(ARTIFACTS, "live-view.png"))
        assert os.path.getsize(os.path.join(ARTIFACTS, "live-view.png")) > \
            10_000

        # a rate, then another once forwarding stops
        forwarding = float(shown[("nfv 1", "phy:0")]["rx"])
        assert forwarding > 0, shown[("nfv 1", "phy:0")]
        p.cmd("nfv 1; stop")
        wait_for(browser, "document.querySelector('section[data-process=\"nfv"
                 " 1\"] tr[data-port=\"phy:0\"] .rx-pps').dataset.value"
                 " === '0.0'", 5, "phy:0's rate fall to 0")

        # a click shows the port's counters
        browser.evaluate("document.querySelector('section[data-process=\"nfv"
                         " 1\"] tr[data-port=\"ring:0\"]').click()")
        details = wait_for(browser, """!document.getElementById('details')
            .hidden && Object.fromEntries([...document.querySelectorAll(
            '#details-table tr')].map(r => [r.dataset.counter,
            r.cells[1].textContent]))""", 5, "the port's counters")
        ring0 = p.cmd("nfv 1; status")["stats"]["ring:0"]
        assert int(details["tx"].replace(",", "")) == ring0["tx"] > 0
        assert set(details) >= {"rx", "tx", "rx_drop", "tx_drop",
                                "rx_bytes", "tx_bytes", "link"}

        # a guest apply registered: its ports' links, red once it is gone
        guest = subprocess.Popen(["sleep", "600"])
        try:
            p.client.ok("PUT", "/v1/guests/containers/7", {
                "pid": guest.pid, "ports": ["ring:1"], "app": "testpmd"})
            wait_for(browser, "document.querySelector('section[data-guest="
                     "\"container 7\"] tr[data-port=\"ring:1\"] .link')"
                     "?.textContent === 'up'", 5, "the guest's port")
            guest.kill()
            guest.wait()
            wait_for(browser, "document.querySelector('section[data-guest="
                     "\"container 7\"]').classList.contains('down')", 2.0,
                     "the gone guest in red")
        finally:
            if guest.poll() is None:
                guest.kill()
                guest.wait()
        p.client.ok("DELETE", "/v1/guests/containers/7")
        wait_for(browser, "!document.querySelector('section.guest')", 3,
                 "the guest taken off")

        # a killed nfv turns red within 2 s
        p.kill("nfv2")
        killed = time.monotonic()
        wait_for(browser, "document.querySelector('section[data-process="
                 "\"nfv 2\"]').classList.contains('down')", 2.0,
                 "nfv 2 in red")
        red_after = time.monotonic() - killed
        color = browser.evaluate(
            "getComputedStyle(document.querySelector('section[data-process="
            "\"nfv 2\"]')).borderTopColor")
        assert color == "rgb(217, 48, 37)", color
        print(f"nfv 2 red {red_after:.2f} s after its kill")
        browser.screenshot(os.path.join(ARTIFACTS, "live-view-killed.png"))
    finally:
        browser.close()
    assert set(glob.glob("/tmp/*")) - tmp_before == set()   # none of its files


def test_the_page_holds_no_data_and_the_stream_needs_the_token(
        tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHBAY_TOKEN", "view-token")
    p = Panel(str(tmp_path))
    try:
        p.start_controller()
        base = f"http://127.0.0.1:{p.api_port}"
        with urllib.request.urlopen(base + "/", timeout=10) as r:
            assert r.status == 200 and b"/ui/live.js" in r.read()
        for path in ("/ui/live.js", "/ui/live.css"):
            with urllib.request.urlopen(base + path, timeout=10) as r:
                assert r.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(base + "/v1/live", timeout=10)
        assert refused.value.code == 401
        req = urllib.request.Request(base + "/v1/live", headers={
            "Authorization": "Bearer view-token"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.headers["Content-Type"] == "text/event-stream"
            first = r.readline().decode()
        snapshot = json.loads(first.removeprefix("data: "))
        assert snapshot["processes"] == [] and \
            snapshot["chains"] == "(no patches)"
    finally:
        p.stop()


def test_guests_are_registered_checked_and_taken_off(panel):
    """PUT /v1/guests/{vms,containers}/N: what apply says it started; the
    list says running while the pid lives, gone after; bad bodies are
    refused with the reason."""
    p = panel
    guest = subprocess.Popen(["sleep", "600"])
    try:
        p.client.ok("PUT", "/v1/guests/vms/2", {
            "pid": guest.pid, "ports": ["vhost:0", "vhost:1"],
            "app": "nfv"})
        assert p.client.ok("GET", "/v1/guests") == [{
            "kind": "vm", "id": 2, "pid": guest.pid, "app": "nfv",
            "ports": ["vhost:0", "vhost:1"], "state": "running"}]
        guest.kill()
        guest.wait()
        assert p.client.ok("GET", "/v1/guests")[0]["state"] == "gone"
    finally:
        if guest.poll() is None:
            guest.kill()
            guest.wait()
    for body, why in (({"pid": 0}, "'pid' must be"),
                      ({"pid": "12"}, "'pid' must be"),
                      ({"pid": 5, "ports": ["vhost0"]}, "'ports' must be"),
                      ({"pid": 5, "ports": "vhost:0"}, "'ports' must be"),
                      ({"pid": 5, "app": 3}, "'app' must be"),
                      ({"pid": 5, "cpu": 1}, "unknown field 'cpu'"),
                      ([1], "must be a JSON object")):
        status, answer = p.client.call("PUT", "/v1/guests/vms/3", body)
        assert status == 400 and why in answer["error"], (body, answer)
    status, answer = p.client.call("PUT", "/v1/guests/disks/3", {"pid": 5})
    assert status == 404
    p.client.ok("DELETE", "/v1/guests/vms/2")
    status, answer = p.client.call("DELETE", "/v1/guests/vms/2")
    assert status == 404 and answer["error"] == "no vm 2 is registered"
    assert p.client.ok("GET", "/v1/guests") == []
