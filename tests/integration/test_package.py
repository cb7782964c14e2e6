"""Installed like a system service: every program's --version, make
install and uninstall, and the Debian package built from this tree —
lintian clean, installed, the default chain run by its systemd units'
own commands from the installed paths with packets flowing, and purged,
leaving the machine as it was."""

import glob
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from machine import needs
from pbctl import __version__
from pbctl.client import Client
from pbctl.launcher import BUILD, HUGE_DIR, RUNTIME_DIR, wait_gone
from systemd_unit import Unit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
C_PROGRAMS = ["patchbay-primary", "patchbay-nfv", "patchbay-vf",
              "patchbay-mirror", "patchbay-pcap", "pb-gen"]
PY_PROGRAMS = ["controller/patchbay", "controller/patchbay-ctl",
               "runscripts/panel", "runscripts/wakeup.py",
               "runscripts/demo.py", "vm/launch.py"]
UNITS = "/lib/systemd/system"
INSTALLED = ["/usr/bin/patchbay", "/usr/bin/patchbay-ctl",
             "/usr/bin/patchbay-primary", "/usr/bin/patchbay-nfv",
             "/usr/bin/patchbay-vf", "/usr/bin/patchbay-mirror",
             "/usr/bin/patchbay-pcap"]
# what dpkg, apt and man-db keep about every package, and scratch space
VOLATILE = ("/var/lib/dpkg", "/var/lib/apt", "/var/cache", "/var/log",
            "/var/tmp", "/var/lib/systemd/timers", "/var/lib/ucf")


def changelog_version():
    with open(os.path.join(ROOT, "debian", "changelog")) as f:
        return re.match(r"patchbay \(([^)]+)\)", f.readline()).group(1)


def test_every_program_tells_the_same_version():
    assert changelog_version() == __version__
    for prog in C_PROGRAMS:
        out = subprocess.run([os.path.join(BUILD, prog), "--version"],
                             capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, out.stderr
        assert re.fullmatch(rf"{prog} {re.escape(__version__)} "
                            r"\(DPDK [\d.]+\)\n", out.stdout), out.stdout
    for prog in PY_PROGRAMS:
        out = subprocess.run([sys.executable, os.path.join(ROOT, prog),
                              "--version"], capture_output=True, text=True,
                             timeout=30)
        assert out.stdout == f"{os.path.basename(prog)} {__version__}\n", \
            out.stderr


def files_under(top):
    found = set()
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if not os.path.isdir(path) or os.path.islink(path):
                found.add(os.path.relpath(path, top))
    return found


@pytest.mark.skipif("ASAN_OPTIONS" in os.environ,
                    reason="install's `all` must not relink the sanitizer "
                           "build: the plain run covers it")
def test_make_install_puts_everything_under_prefix_and_uninstall_removes_it(
        tmp_path):
    dest, make = tmp_path / "dest", ["make", "-C", ROOT, "-s"]
    args = [f"DESTDIR={dest}", "PREFIX=/opt/pb", f"BUILD={BUILD}"]
    subprocess.run(make + ["install"] + args, check=True, timeout=600)
    files = files_under(dest)
    assert all(f.startswith("opt/pb/") for f in files), files
    for name in ("bin/patchbay", "bin/patchbay-ctl", "bin/patchbay-primary",
                 "bin/patchbay-nfv", "share/man/man1/patchbay.1",
                 "share/man/man1/patchbay-nfv.1", "etc/patchbay/conf.yml",
                 "lib/systemd/system/patchbay-ctl.service",
                 "lib/systemd/system/patchbay.service",
                 "lib/patchbay/runscripts/panel",
                 "lib/patchbay/controller/pbctl/ui/live.js"):
        assert f"opt/pb/{name}" in files, name
    unit = (dest / "opt/pb/lib/systemd/system/patchbay.service").read_text()
    assert "ExecStart=/opt/pb/lib/patchbay/runscripts/panel -c " \
           "/opt/pb/etc/patchbay/conf.yml start all" in unit
    # the tools work from there: the shell finds its package through its
    # link, the controller's launcher finds the programs
    for prog in ("patchbay", "patchbay-ctl"):
        out = subprocess.run([str(dest / "opt/pb/bin" / prog), "--version"],
                             capture_output=True, text=True, timeout=30,
                             env={"PATH": "/usr/bin:/bin"})
        assert out.stdout == f"{prog} {__version__}\n", out.stderr
    assert os.path.realpath(dest / "opt/pb/lib/patchbay/build/"
                            "patchbay-nfv") == str(dest / "opt/pb/bin/"
                                                   "patchbay-nfv")
    subprocess.run(make + ["uninstall"] + args, check=True, timeout=60)
    assert files_under(dest) == set()


def snapshot():
    """Every file and link of the system outside what dpkg, apt and the
    package triggers keep, and patchbay's runtime places."""
    found = set()
    for top in ("/etc", "/usr", "/var", "/opt"):
        for dirpath, dirnames, filenames in os.walk(top):
            if dirpath.startswith(VOLATILE):
                dirnames[:] = []
                continue
            dirnames[:] = [d for d in dirnames
                           if os.path.join(dirpath, d) not in VOLATILE]
            found.update(os.path.join(dirpath, n) for n in filenames)
            found.update(os.path.join(dirpath, d) for d in dirnames)
    found.update(f for f in os.listdir(HUGE_DIR))
    found.update(os.path.join("/tmp", f) for f in os.listdir("/tmp")
                 if f.startswith("patchbay"))
    return found


def installed_status():
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "patchbay"],
                       capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else "not-installed"


def status(line):
    """The installed shell's answer, from /, as an operator runs it."""
    r = subprocess.run(["/usr/bin/patchbay", "-c", line], cwd="/",
                       capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    out = tmp_path_factory.mktemp("deb")
    lintian_caches = set(glob.glob("/tmp/mldbm-*"))
    r = subprocess.run([os.path.join(ROOT, "runscripts", "build-deb.sh"),
                        str(out)], capture_output=True, text=True,
                       timeout=1200)
    assert r.returncode == 0, r.stdout + r.stderr   # lintian: no error
    assert set(glob.glob("/tmp/mldbm-*")) == lintian_caches  # none left
    return r.stdout.strip().splitlines()[-1]


@needs("dpkg-buildpackage", "lintian", "systemd-analyze")
@pytest.mark.skipif("ASAN_OPTIONS" in os.environ,
                    reason="the package builds the tree its own way: the "
                           "plain run covers it")
def test_package_runs_the_default_chain_from_its_units_and_purges_clean(
        deb, tmp_path):
    assert installed_status() == "not-installed", \
        "patchbay's package is installed already: dpkg --purge patchbay"
    before = snapshot()
    ctl = panel_unit = None
    try:
        subprocess.run(["dpkg", "-i", deb], check=True, timeout=300,
                       capture_output=True)
        verify = subprocess.run(
            ["systemd-analyze", "verify", f"{UNITS}/patchbay-ctl.service",
             f"{UNITS}/patchbay.service"], capture_output=True, text=True)
        assert verify.returncode == 0 and verify.stderr == "", verify.stderr
        ctl_unit = Unit(f"{UNITS}/patchbay-ctl.service")
        panel_unit = Unit(f"{UNITS}/patchbay.service")
        assert ctl_unit.env["PATH"].split(":")[0] == "/usr/local/sbin"
        with open(tmp_path / "ctl.log", "w") as log:
            ctl = ctl_unit.spawn(log)
        deadline = time.monotonic() + 30
        while not Client("127.0.0.1", 7777).reachable():
            assert ctl.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "ctl.log").read_text()
            time.sleep(0.2)
        panel_unit.run("ExecStartPre")
        panel_unit.run("ExecStart")

        procs = Client("127.0.0.1", 7777).processes()
        assert sorted((p["type"], p.get("client-id", 0)) for p in procs) == \
            [("nfv", 1), ("nfv", 2), ("primary", 0)]
        for p in procs:   # the installed programs, not this tree's
            assert os.readlink(f"/proc/{p['pid']}/exe") in INSTALLED, p
        first = status("nfv 1; status")["stats"]
        time.sleep(1)
        second = status("nfv 1; status")["stats"]
        for port in ("null:0", "ring:1"):
            assert second[port]["rx"] > first[port]["rx"], (port, second)
        assert second["phy:1"]["tx"] > first["phy:1"]["tx"], second

        # the installed controller serves the live view and the metrics
        for path, has in (("/", b"/ui/live.js"), ("/ui/live.js", b"/v1/live"),
                          ("/metrics", b'patchbay_port_tx_packets_total'
                                       b'{process="nfv1",port="phy:1"')):
            with urllib.request.urlopen(f"http://127.0.0.1:7777{path}",
                                        timeout=10) as r:
                assert has in r.read(), path

        panel_unit.run("ExecStop")
        assert wait_gone([p["pid"] for p in procs]) == []
        assert [f for f in os.listdir(HUGE_DIR)
                if f.startswith("patchbay")] == []
        assert not os.path.exists(os.path.join(RUNTIME_DIR, "patchbay"))
        assert Unit.stop(ctl) in (0, -15)
        ctl = None
    finally:
        if ctl is not None:
            if panel_unit is not None:   # what a failed start left
                try:
                    panel_unit.run("ExecStop")
                except Exception as e:
                    print(f"ExecStop after a failure: {e}")
            Unit.stop(ctl)
        subprocess.run(["dpkg", "--purge", "patchbay"], timeout=300,
                       capture_output=True)
    assert installed_status() == "not-installed"
    left = snapshot() - before
    assert left == set(), sorted(left)
