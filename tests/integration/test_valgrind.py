"""The C processes under valgrind's memcheck on a short run: commands of
every kind, packets forwarded, bad lines, exit. No invalid access, no use
of uninitialised memory in our code, nothing definitely lost.

A secondary must map the primary's hugepage memory at the primary's
addresses. valgrind gives a process at most 128 GB of address space and
keeps the top half for itself, so DPDK's 64 GB of reserved memseg lists
land where valgrind puts them: an nfv under valgrind can attach only to
a primary under valgrind too, which has the same layout, and which keeps
only the memory it uses (--legacy-mem), below valgrind's own."""

import os
import re
import time

import pytest

import pcaputil
from machine import needs
from pbctl.launcher import VALGRIND_PRIMARY_EAL, Panel, free_port, valgrind
from test_protocol import FakeController

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUPP = os.path.join(ROOT, "tests", "sanitizer", "valgrind.supp")
SLOW = 180    # seconds: DPDK's start under memcheck takes 10-30 s here

pytestmark = [pytest.mark.skipif("ASAN_OPTIONS" in os.environ,
                                 reason="valgrind cannot run an ASan build"),
              needs("valgrind")]


def memcheck(log):
    return valgrind("--leak-check=full",
            "--errors-for-leak-kinds=definite", "--error-exitcode=99",
            "--gen-suppressions=all",
            f"--suppressions={SUPP}", f"--log-file={log}")


def assert_clean(log):
    report = log.read_text()
    assert "ERROR SUMMARY: 0 errors" in report, report[-6000:]
    lost = re.search(r"definitely lost: ([\d,]+) bytes", report)
    assert lost is None or lost.group(1) == "0", report[-6000:]


def assert_below_valgrinds_own(pid):
    """Every large reservation of the process (DPDK's memseg lists) ends
    below 64 GB, where valgrind's own memory starts: those are the
    addresses a secondary under valgrind must map too."""
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            start, end = (int(a, 16) for a in line.split()[0].split("-"))
            if end - start >= 1 << 30:
                assert end <= 64 << 30, line


def dial(ctl):
    """Wait for a process under valgrind to dial the fake controller."""
    ctl.listener.settimeout(SLOW)
    hello = ctl.accept()["hello"]
    ctl.conn.settimeout(SLOW)
    return hello


def run(ctl, lines):
    for cmd, args in lines:
        reply = ctl.request(cmd, args)
        assert reply["ok"], (cmd, args, reply)


BAD_LINES = (b"{", b"[]", b'{"cmd": "patch", "args": {"src": "x:1"}}',
             b'{"cmd": "add", "args": {"port": "ring:0", "": 1}}',
             b'{"cmd": "add", "args": {"port": "vhost:1", "path": 7}}',
             b"\xff\xfe", b"[" * 5000 + b"]" * 5000)


def send_bad_lines(ctl):
    for bad in BAD_LINES:
        assert ctl.send_raw(bad + b"\n")["ok"] is False, bad


def test_primary_is_valgrind_clean(tmp_path):
    """The primary with its own forwarder, without hugepages (--no-huge:
    nothing attaches to it here)."""
    ctl = FakeController()
    log = tmp_path / "memcheck.log"
    p = Panel(str(tmp_path), ports=(ctl.port, free_port(), free_port()))
    try:
        proc = p.start_primary(
            vdevs=["net_null0", "net_null1"], cpus="0,1", wait=False,
            eal_extra=["--no-huge"], wrapper=memcheck(log))
        assert dial(ctl)["role"] == "primary"
        run(ctl, [
            ("status", None), ("add", {"port": "ring:0"}),
            ("patch", {"src": "phy:0", "dst": "ring:0"}),
            ("patch", {"src": "ring:0", "dst": "phy:1"}),
            ("forward", None), ("status", None), ("stop", None),
            ("add", {"port": "pcap:0", "tx": str(tmp_path / "o.pcap")}),
            ("patch", {"src": "phy:1", "dst": "pcap:0"}),
            ("forward", None), ("stop", None), ("del", {"port": "pcap:0"}),
            ("unpatch", {"src": "phy:0"}), ("patch_reset", None),
            ("clear", None), ("status", None),
        ])
        send_bad_lines(ctl)
        assert ctl.request("exit")["ok"]
        assert proc.wait(SLOW) == 0, log.read_text()[-4000:]
    finally:
        p.stop()
        ctl.close()
    assert_clean(log)


def test_nfv_is_valgrind_clean(tmp_path):
    """An nfv with a port of every kind that needs no peer: 300 packets
    from a pcap file through a shared ring into another file, unchanged;
    null, vhost (no guest), tap and memif (no peer) patched, forwarded,
    removed; bad lines; exit. The primary under valgrind as well."""
    pri_ctl, nfv_ctl = FakeController(), FakeController()
    pri_log, nfv_log = tmp_path / "primary.log", tmp_path / "nfv.log"
    sent = pcaputil.make_packets(300, max_size=1500)
    src, dst = tmp_path / "in.pcap", tmp_path / "out.pcap"
    pcaputil.write(src, sent)
    p = Panel(str(tmp_path), ports=(pri_ctl.port, nfv_ctl.port, free_port()))
    try:
        primary = p.start_primary(rings=2, wait=False,
                                  eal_extra=VALGRIND_PRIMARY_EAL,
                                  wrapper=memcheck(pri_log))
        assert dial(pri_ctl)["role"] == "primary"
        assert_below_valgrinds_own(primary.pid)
        nfv = p.start_nfv(1, wait=False, wrapper=memcheck(nfv_log))
        assert dial(nfv_ctl)["role"] == "nfv", p.log("nfv1")[-3000:]
        run(nfv_ctl, [
            ("add", {"port": "ring:0"}),
            ("add", {"port": "pcap:1", "tx": str(dst)}),
            ("add", {"port": "null:0"}),
            ("add", {"port": "vhost:0", "path": str(tmp_path / "v0.sock")}),
            ("add", {"port": "tap:0"}), ("add", {"port": "memif:0"}),
            ("patch", {"src": "ring:0", "dst": "pcap:1"}),
            ("patch", {"src": "null:0", "dst": "vhost:0"}),
            ("patch", {"src": "tap:0", "dst": "memif:0"}),
            ("forward", None),
            ("add", {"port": "pcap:0", "rx": str(src)}),
            ("patch", {"src": "pcap:0", "dst": "ring:0"}),
        ])
        for _ in range(SLOW):
            stats = nfv_ctl.request("status")["result"]["stats"]
            if stats["pcap:1"]["tx"] == len(sent):
                break
            time.sleep(1)
        run(nfv_ctl, [("stop", None), ("unpatch", {"src": "null:0"}),
                      ("patch_reset", None)])
        send_bad_lines(nfv_ctl)
        run(nfv_ctl, [("del", {"port": port}) for port in
                      ("pcap:0", "pcap:1", "null:0", "vhost:0", "tap:0",
                       "memif:0", "ring:0")])
        assert nfv_ctl.request("exit")["ok"]
        assert nfv.wait(SLOW) == 0, nfv_log.read_text()[-4000:]
        assert pri_ctl.request("exit")["ok"]
        assert primary.wait(SLOW) == 0, pri_log.read_text()[-4000:]
    finally:
        p.stop()
        pri_ctl.close()
        nfv_ctl.close()
    assert stats["pcap:1"]["tx"] == len(sent), stats
    assert pcaputil.read(dst) == sent
    assert_clean(nfv_log)
    assert_clean(pri_log)
