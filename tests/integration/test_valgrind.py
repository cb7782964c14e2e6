"""The primary under valgrind's memcheck on a short run: commands of every
kind (its forwarder patches rings, phys and pcap files, forwards, stops),
bad lines, exit. No invalid access, no use of uninitialised memory in our
code, nothing definitely lost. (A secondary cannot run under valgrind: it
must map the primary's hugepages at their addresses, which valgrind does
not honour; the commands and the engine are the same code.)"""

import os
import re

import pytest

from pbctl.launcher import Panel, free_port
from test_protocol import FakeController

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUPP = os.path.join(ROOT, "tests", "sanitizer", "valgrind.supp")


@pytest.mark.skipif("ASAN_OPTIONS" in os.environ,
                    reason="valgrind cannot run an ASan build")
def test_primary_is_valgrind_clean(tmp_path):
    ctl = FakeController()
    ctl.listener.settimeout(120)
    log = tmp_path / "memcheck.log"
    p = Panel(str(tmp_path), ports=(ctl.port, free_port(), free_port()))
    try:
        proc = p.start_primary(
            vdevs=["net_null0", "net_null1"], lcores="0,1", wait=False,
            eal_extra=["--no-huge"],
            wrapper=["valgrind", "--leak-check=full",
                     "--errors-for-leak-kinds=definite", "--error-exitcode=99",
                     f"--suppressions={SUPP}", f"--log-file={log}"])
        assert ctl.accept()["hello"]["role"] == "primary"
        ctl.conn.settimeout(120)
        lines = [
            ("status", None), ("add", {"port": "ring:0"}),
            ("patch", {"src": "phy:0", "dst": "ring:0"}),
            ("patch", {"src": "ring:0", "dst": "phy:1"}),
            ("forward", None), ("status", None), ("stop", None),
            ("add", {"port": "pcap:0", "tx": str(tmp_path / "o.pcap")}),
            ("patch", {"src": "phy:1", "dst": "pcap:0"}),
            ("forward", None), ("stop", None), ("del", {"port": "pcap:0"}),
            ("unpatch", {"src": "phy:0"}), ("patch_reset", None),
            ("clear", None), ("status", None),
        ]
        for cmd, args in lines:
            assert ctl.request(cmd, args)["ok"], cmd
        for bad in (b"{", b"[]", b'{"cmd": "patch", "args": {"src": "x:1"}}',
                    b'{"cmd": "add", "args": {"port": "ring:0", "": 1}}',
                    b"\xff\xfe", b"[" * 5000 + b"]" * 5000):
            assert ctl.send_raw(bad + b"\n")["ok"] is False
        assert ctl.request("exit")["ok"]
        assert proc.wait(180) == 0, log.read_text()[-4000:]
    finally:
        p.stop()
        ctl.close()
    report = log.read_text()
    assert "ERROR SUMMARY: 0 errors" in report, report[-4000:]
    lost = re.search(r"definitely lost: ([\d,]+) bytes", report)
    assert lost is None or lost.group(1) == "0", report[-4000:]
