"""conf.yml's VMs and containers started and wired by apply; the panel
started, stopped and restarted part by part; wakeup's tmux session; and
`stop all` leaving nothing behind."""

import glob
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from pbctl.client import Client
from pbctl.launcher import free_port, stop_panel
from test_chains import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PANEL = os.path.join(ROOT, "runscripts", "panel")
WAKEUP = os.path.join(ROOT, "runscripts", "wakeup.py")


@pytest.fixture
def declared(tmp_path):
    prefix = f"pblife{os.getpid()}"
    api = free_port()
    sock = lambda i: tmp_path / f"vhost{i}.sock"  # noqa: E731
    conf = tmp_path / "conf.yml"
    conf.write_text(textwrap.dedent(f"""\
        controller: {{pri_port: {free_port()}, sec_port: {free_port()},
                      api_port: {api}}}
        primary:
          vdevs: [net_null0, net_null1]
          rings: 2
          file_prefix: {prefix}
        secondaries:
          - {{id: 1, lcores: "1"}}
        vms:
          - {{id: 1, ports: [vhost:0, vhost:1]}}
        containers:
          - {{id: 1, ports: [vhost:2]}}
        chains:
          to-vm:
            hops: [phy:0, nfv 1, vhost:0]
            options: {{vhost:0: {{path: {sock(0)}}}}}
          from-vm:
            hops: [vhost:1, nfv 1, phy:1]
            options: {{vhost:1: {{path: {sock(1)}}}}}
          container:
            hops: [vhost:2, nfv 1, ring:0]
            options: {{vhost:2: {{path: {sock(2)}}}}}
        """))
    client = Client("127.0.0.1", api)
    rundir = os.path.join(tempfile.gettempdir(), f"patchbay-{prefix}")
    d = type("Declared", (), dict(conf=str(conf), client=client,
                                  prefix=prefix, rundir=rundir,
                                  socks=[sock(i) for i in range(3)]))
    yield d
    panel(d, "stop", "all")
    stop_panel(client, prefix, rundir)


def panel(d, *args):
    return subprocess.run([sys.executable, PANEL, "-c", d.conf, *args],
                          capture_output=True, text=True, timeout=400)


def status(d):
    out = panel(d, "status").stdout
    return {line[:14].strip(): line[14:].split()[0]
            for line in out.splitlines()}


def left_behind(d):
    """What a stopped panel must not leave: processes, files."""
    found = []
    for pattern in (f"/dev/hugepages/{d.prefix}*", f"/dev/hugepages/pbcontainer*",
                    f"/var/run/dpdk/{d.prefix}", os.path.join(d.rundir, "*.pid")):
        found += glob.glob(pattern)
    found += [str(s) for s in d.socks if os.path.exists(s)]
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True,
                        text=True).stdout
    found += [line for line in ps.splitlines()
              if d.prefix in line or "patchbay-vm" in line]
    return found


def nfv_stats(d):
    return d.client.ok("GET", "/v1/nfvs/1")["stats"]


def test_apply_starts_guests_and_the_panel_stops_part_by_part(declared):
    d = declared
    r = panel(d, "start")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "start vm 1" in r.stdout and "start container 1" in r.stdout
    st = status(d)
    assert all(st[p] == "running" for p in ("controller", "primary", "nfv 1",
                                            "vm 1", "container 1")), st
    # packets go through the VM and come back
    wait_until(lambda: nfv_stats(d)["vhost:1"]["rx"] > 1000, timeout=60,
               what="traffic back from the VM")
    links = d.client.ok("GET", "/v1/nfvs/1")["links"]
    assert links["vhost:0"] == links["vhost:1"] == links["vhost:2"] == "up"
    # the controller knows the guests apply started (the live view's)
    guests = {(g["kind"], g["id"]): g for g in d.client.ok("GET",
                                                           "/v1/guests")}
    assert guests[("vm", 1)]["ports"] == ["vhost:0", "vhost:1"]
    assert guests[("container", 1)]["ports"] == ["vhost:2"]
    assert {g["state"] for g in guests.values()} == {"running"}

    # one part at a time
    r = panel(d, "stop", "vm", "1")
    assert r.returncode == 0 and status(d)["vm 1"] == "stopped"
    assert [(g["kind"], g["id"]) for g in d.client.ok(
        "GET", "/v1/guests")] == [("container", 1)]
    wait_until(lambda: d.client.ok("GET", "/v1/nfvs/1")["links"]["vhost:1"]
               == "down", what="vhost:1 down")
    r = panel(d, "start", "vm", "1")
    assert r.returncode == 0, r.stderr
    assert status(d)["vm 1"] == "running"
    assert len(d.client.ok("GET", "/v1/guests")) == 2
    n = nfv_stats(d)["vhost:1"]["rx"]
    wait_until(lambda: nfv_stats(d)["vhost:1"]["rx"] > n + 1000, timeout=60,
               what="traffic after the VM restarted")
    r = panel(d, "restart", "nfv", "1")
    assert r.returncode == 0, r.stderr
    st = d.client.ok("GET", "/v1/nfvs/1")
    assert len(st["patches"]) == 3 and st["status"] == "running"

    r = panel(d, "stop", "all")
    assert r.returncode == 0, r.stderr
    assert left_behind(d) == []
    assert set(status(d).values()) == {"stopped"}


def test_wakeup_builds_the_tmux_session(declared):
    d = declared
    env = dict(os.environ, PB_TMUX_SESSION="pbtest-wakeup")
    r = subprocess.run([sys.executable, WAKEUP, "-c", d.conf, "-ns", "1",
                        "-nr", "1", "-nv", "1", "--no-attach"],
                       capture_output=True, text=True, timeout=600, env=env)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        windows = subprocess.run(
            ["tmux", "list-windows", "-t", "pbtest-wakeup", "-F",
             "#{window_name}"], capture_output=True, text=True).stdout.split()
        assert windows == ["controller", "primary", "secondaries",
                           "vhost-vm1", "ring-vm2", "container1", "work"]
        pane = subprocess.run(["tmux", "capture-pane", "-p", "-t",
                               "pbtest-wakeup:primary"],
                              capture_output=True, text=True).stdout
        assert "patchbay-primary: 2 phy ports" in pane
        pane = subprocess.run(["tmux", "capture-pane", "-p", "-t",
                               "pbtest-wakeup:ring-vm2"],
                              capture_output=True, text=True).stdout
        assert "vm 2 is running" in pane
        procs = [p.get("client-id") for p in d.client.processes()]
        assert 12 in procs     # the ring VM's nfv dialled in
        # the ring VM is in its chain: the guest loops what the host sends
        guest = d.client.ok("GET", "/v1/nfvs/12")
        assert guest["patches"] == [{"src": "shm:0", "dst": "shm:0"}]
        # the guests launch.py started are the live view's too
        assert {(g["kind"], g["id"], g["state"]) for g in d.client.ok(
            "GET", "/v1/guests")} == {("vm", 1, "running"),
                                      ("vm", 2, "running"),
                                      ("container", 1, "running")}
    finally:
        conf = os.path.join(d.rundir, "conf.yml")
        r = subprocess.run([sys.executable, PANEL, "-c", conf, "stop", "all"],
                           capture_output=True, text=True, timeout=300,
                           env=env)
    assert r.returncode == 0, r.stderr
    assert subprocess.run(["tmux", "has-session", "-t", "pbtest-wakeup"],
                          stderr=subprocess.DEVNULL).returncode != 0
    assert left_behind(d) == []
    assert not glob.glob("/dev/shm/patchbay-shm*")


def test_bess_knobs_generate_guests_fed_and_drained(declared):
    """BESS_VMS x BESS_PORTS guests; every port gets BESS_PKT_SIZE-byte
    packets from a null source, and what comes back is counted."""
    d = declared
    env = dict(os.environ, PB_TMUX_SESSION="pbtest-bess", BESS_VMS="1",
               BESS_PORTS="2", BESS_QUEUES="1", BESS_PKT_SIZE="128")
    r = subprocess.run([sys.executable, WAKEUP, "-c", d.conf, "--no-attach"],
                       capture_output=True, text=True, timeout=600, env=env)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        st = d.client.ok("GET", "/v1/nfvs/1")
        assert {"src": "null:0", "dst": "vhost:0"} in st["patches"]
        assert {"src": "vhost:1", "dst": "null:1"} in st["patches"]
        wait_until(lambda: all(nfv_stats(d)[f"vhost:{i}"]["rx"] > 100
                               for i in (0, 1)), timeout=60,
                   what="packets back from both guest ports")
        s = nfv_stats(d)["null:0"]
        # 128-byte packets; status reads a port's two counters while the
        # worker forwards, so they may be a burst (64 packets) apart
        assert abs(s["rx_bytes"] - 128 * s["rx"]) <= 128 * 64, s
        r = subprocess.run([sys.executable, os.path.join(ROOT, "controller",
                                                         "patchbay"),
                            "-b", f"127.0.0.1:{d.client.port}",
                            "-c", "monitor 1"],
                           capture_output=True, text=True, timeout=60)
        row = next(x for x in r.stdout.splitlines() if x.startswith("vhost:1"))
        assert int(row.split()[1].replace(",", "")) > 0   # rx pps
    finally:
        conf = os.path.join(d.rundir, "conf.yml")
        subprocess.run([sys.executable, PANEL, "-c", conf, "stop", "all"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert left_behind(d) == []


@pytest.fixture
def small(tmp_path):
    """A panel without guests: controller, primary, one nfv, one chain."""
    prefix = f"pbsmall{os.getpid()}"
    api = free_port()
    conf = tmp_path / "conf.yml"
    conf.write_text(textwrap.dedent(f"""\
        controller: {{pri_port: {free_port()}, sec_port: {free_port()},
                      api_port: {api}}}
        primary: {{vdevs: [net_null0, net_null1], rings: 2,
                   file_prefix: {prefix}}}
        secondaries:
          - {{id: 1, lcores: "1"}}
        chains:
          through: {{hops: [phy:0, nfv 1, ring:0, nfv 1, phy:1]}}
        """))
    client = Client("127.0.0.1", api)
    rundir = os.path.join(tempfile.gettempdir(), f"patchbay-{prefix}")
    d = type("Declared", (), dict(conf=str(conf), client=client,
                                  prefix=prefix, rundir=rundir, socks=[]))
    yield d
    panel(d, "stop", "all")
    stop_panel(client, prefix, rundir)


def test_primary_killed_then_start_brings_the_panel_back(small):
    d = small
    assert panel(d, "start").returncode == 0
    wait_until(lambda: nfv_stats(d)["phy:1"]["tx"] > 1000, what="traffic")
    procs = d.client.processes()
    primary = next(p["pid"] for p in procs if p["type"] == "primary")
    os.kill(primary, 9)
    # the nfv notices, says so and ends by itself, cleanly
    wait_until(lambda: status(d)["nfv 1"] == "stopped", timeout=15,
               what="nfv 1 to end after its primary")
    assert status(d)["primary"] == "stopped"
    r = panel(d, "start")
    assert r.returncode == 0, r.stdout + r.stderr
    assert status(d)["nfv 1"] == "running"
    wait_until(lambda: nfv_stats(d)["phy:1"]["tx"] > 1000,
               what="traffic after start")
    assert panel(d, "stop", "all").returncode == 0
    assert left_behind(d) == []
