"""GET /metrics as Prometheus reads it: the text format (promtool's own
check), the numbers against each process's status, the token, and a real
Prometheus server scraping a forwarding chain, whose rate() agrees with
the shell's monitor."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from machine import needs
from pbctl.launcher import BUILD, Panel, free_port
from test_chains import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHELL = os.path.join(ROOT, "controller", "patchbay")


def scrape(panel, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{panel.api_port}/metrics")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.headers["Content-Type"], r.read().decode()


def samples(text):
    """{(name, frozenset(labels)): value}"""
    found = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-z_]+)(?:\{(.*)\})? (\S+)', line)
        assert m, line
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        found[(m.group(1), labels)] = float(m.group(3))
    return found


def port_sample(found, name, process, port):
    return found[(name, frozenset({("process", process), ("port", port),
                                   ("type", port.split(":")[0])}))]


@needs("promtool")
def test_metrics_are_prometheus_text_that_match_the_status(null_panel):
    p = null_panel
    p.start_nfv(1)
    for line in ("add ring:0", "patch phy:0 ring:0", "patch ring:0 phy:1",
                 "forward"):
        p.cmd(f"nfv 1; {line}")
    with pytest.raises(Exception):
        p.cmd("nfv 1; patch ring:7 phy:1")         # refused
    time.sleep(0.5)
    p.cmd("nfv 1; stop")
    status = p.cmd("nfv 1; status")
    content_type, text = scrape(p)
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    lint = subprocess.run(["promtool", "check", "metrics"], input=text,
                          capture_output=True, text=True)
    assert lint.returncode == 0 and lint.stdout + lint.stderr == "", \
        lint.stdout + lint.stderr
    found = samples(text)
    for port, counters in status["stats"].items():
        for key, name in (("rx", "rx_packets"), ("tx", "tx_packets"),
                          ("rx_bytes", "rx_bytes"), ("tx_drop", "tx_dropped")):
            assert port_sample(found, f"patchbay_port_{name}_total", "nfv1",
                               port) == counters[key], (port, key)
        assert port_sample(found, "patchbay_port_link_up", "nfv1", port) == 1
    assert port_sample(found, "patchbay_port_rx_packets_total", "nfv1",
                       "phy:0") > 0
    pool = p.cmd("pri; status")["mbufs"]
    assert found[("patchbay_mbufs", frozenset())] == pool["size"]
    for role, label in (("primary", "primary"), ("nfv", "nfv1")):
        assert found[("patchbay_process_up", frozenset(
            {("process", label), ("role", role)}))] == 1
    assert found[("patchbay_commands_total", frozenset(
        {("process", "nfv1"), ("result", "refused")}))] == 1
    assert found[("patchbay_commands_total", frozenset(
        {("process", "nfv1"), ("result", "served")}))] >= 5
    # a process gone shows as down, not as missing
    p.kill("nfv1")
    wait_until(lambda: not p.is_connected("nfv", 1), 10, "nfv 1 to go")
    found = samples(scrape(p)[1])
    assert found[("patchbay_process_up", frozenset(
        {("process", "nfv1"), ("role", "nfv")}))] == 0
    assert not any(k[0].startswith("patchbay_port") and
                   ("process", "nfv1") in k[1] for k in found)


def test_metrics_need_the_token_when_one_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("PATCHBAY_TOKEN", "s3cret")
    p = Panel(str(tmp_path))
    try:
        p.start_controller()
        p.start_primary(vdevs=["net_null0"])
        with pytest.raises(urllib.error.HTTPError) as refused:
            scrape(p)
        assert refused.value.code == 401
        assert "token" in json.loads(refused.value.read())["error"]
        assert "patchbay_process_up" in scrape(p, "s3cret")[1]
    finally:
        p.stop()


def start_prometheus(tmp_path, target, token):
    port = free_port()
    (tmp_path / "token").write_text(token)
    (tmp_path / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: patchbay
    authorization:
      credentials_file: {tmp_path / "token"}
    static_configs:
      - targets: ["{target}"]
""")
    log = open(tmp_path / "prometheus.log", "w")
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    return proc, port


def query(port, expr):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + \
        urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        answer = json.loads(r.read())
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def monitor(panel, seconds):
    """The shell's monitor, its rows by port: {port: (rx pps, tx pps)}."""
    r = subprocess.run([sys.executable, SHELL, "-b",
                        f"127.0.0.1:{panel.api_port}", "-c",
                        f"monitor {seconds}"], capture_output=True,
                       text=True, timeout=seconds + 60,
                       env=dict(os.environ))
    assert r.returncode == 0, r.stderr
    rows = {}
    for line in r.stdout.splitlines():
        fields = line.split()
        if fields and re.fullmatch(r"[a-z]+:\d+", fields[0]):
            rows.setdefault(fields[0], []).append(
                (float(fields[1].replace(",", "")),
                 float(fields[3].replace(",", ""))))
    return rows


@needs("prometheus")
def test_prometheus_rate_agrees_with_monitor(tmp_path, monkeypatch):
    """pb-gen sends 100 kpps through nfv 1 (ring:0 -> ring:1) while a real
    Prometheus scrapes /metrics every second, with the token; its
    rate(patchbay_port_tx_packets_total[10s]) of ring:1 and monitor's
    over the same 10 s agree within 10 %."""
    monkeypatch.setenv("PATCHBAY_TOKEN", "prom-token")
    p = Panel(str(tmp_path / "panel"))
    prom = gen = None
    try:
        p.start_controller()
        p.start_primary(vdevs=[], rings=2)
        p.start_nfv(1, cpus="0")
        for line in ("add ring:0", "add ring:1", "patch ring:0 ring:1",
                     "forward"):
            p.cmd(f"nfv 1; {line}")
        rate = 100_000
        gen = subprocess.Popen(
            [os.path.join(BUILD, "pb-gen")] +
            p.eal_args(p.lcores("pb-gen", "1")) +
            ["--proc-type", "secondary", "--", "--tx", "ring:0", "--rx",
             "ring:1", "--rate", str(rate), "--size", "64", "--seconds",
             "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        prom, prom_port = start_prometheus(tmp_path, f"127.0.0.1:{p.api_port}",
                                           "prom-token")
        expr = 'rate(patchbay_port_tx_packets_total{process="nfv1",' \
               'port="ring:1"}[10s])'

        def has_samples():
            try:
                return bool(query(prom_port, expr))
            except (urllib.error.URLError, ConnectionError):
                assert prom.poll() is None, \
                    (tmp_path / "prometheus.log").read_text()
                return False     # not listening yet
        wait_until(has_samples, 60,
                   "Prometheus to have 10 s of ring:1's counter")
        rows = monitor(p, 10)
        answer = query(prom_port, expr)
        assert len(answer) == 1, answer
        prometheus_pps = float(answer[0]["value"][1])
        monitor_pps = sum(tx for _, tx in rows["ring:1"]) / len(rows["ring:1"])
        print(f"ring:1: Prometheus {prometheus_pps:.0f} pps, monitor "
              f"{monitor_pps:.0f} pps")
        assert abs(prometheus_pps - monitor_pps) <= 0.1 * monitor_pps, \
            (prometheus_pps, monitor_pps, rows["ring:1"])
        assert 0.8 * rate <= monitor_pps <= 1.1 * rate, rows["ring:1"]
        up = query(prom_port, 'up{job="patchbay"}')
        assert up[0]["value"][1] == "1", up        # the token was accepted
    finally:
        for proc in (prom, gen):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        p.stop()
