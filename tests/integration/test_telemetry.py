"""DPDK telemetry: /patchbay/ports and /patchbay/patches, read with the
dpdk package's own dpdk-telemetry.py beside DPDK's /ethdev/stats. DPDK
serves telemetry from the primary only; its answers cover every
process's ports and patches."""

import json
import subprocess

from machine import needs
from test_chains import wait_until


def telemetry(panel, *commands):
    """dpdk-telemetry.py's answers to commands, in order, as a user gets
    them (each answer is {command without its parameter: value})."""
    r = subprocess.run(["dpdk-telemetry.py", "-f", panel.prefix],
                       input="\n".join(commands) + "\n",
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    answers, decoder, text = [], json.JSONDecoder(), r.stdout
    pos = text.find("{")
    while pos != -1:
        obj, end = decoder.raw_decode(text, pos)
        answers.append(next(iter(obj.values())))
        pos = text.find("{", end)
    assert len(answers) == len(commands), text
    return answers


@needs("dpdk-telemetry.py")
def test_telemetry_shows_every_process_ports_and_patches(null_panel):
    p = null_panel
    p.start_nfv(1)
    p.start_nfv(2, cpus="0")
    for line in ("nfv 1; add ring:0", "nfv 1; patch phy:0 ring:0",
                 "nfv 2; add ring:0", "nfv 2; patch ring:0 phy:1",
                 "nfv 1; forward", "nfv 2; forward"):
        p.cmd(line)
    wait_until(lambda: p.cmd("nfv 2; status")["stats"]["phy:1"]["tx"] > 0,
               10, "packets out of phy:1")
    p.cmd("nfv 1; stop")
    p.cmd("nfv 2; stop")
    patches, names, ethdev = telemetry(p, "/patchbay/patches",
                                       "/patchbay/ports", "/ethdev/stats,0")
    assert sorted(patches) == ["phy:0 -> ring:0 by nfv 1",
                               "ring:0 -> phy:1 by nfv 2"]
    assert sorted(names) == ["phy:0", "phy:1", "ring:0", "ring:1", "ring:2",
                             "ring:3"]
    wanted = ("phy:0", "phy:1", "ring:0", "ring:1")
    ports = dict(zip(wanted, telemetry(p, *(f"/patchbay/ports,{port}"
                                            for port in wanted))))
    assert ports["ring:0"]["written_by"] == "nfv 1"
    assert ports["ring:0"]["read_by"] == "nfv 2"
    assert ports["ring:0"]["patched_to"] == "phy:1"
    assert ports["ring:1"]["read_by"] == ports["ring:1"]["written_by"] == ""
    stats = p.cmd("nfv 2; status")["stats"]
    for port in ("ring:0", "phy:1"):
        for key in ("rx", "tx", "tx_drop", "rx_bytes"):
            assert ports[port][key] == stats[port][key], (port, key)
    assert ports["phy:0"]["rx"] == ethdev["ipackets"]
    assert telemetry(p, "/patchbay/ports,ring:9") == [None]
    # an unpatched port and a process gone leave no patch behind
    p.cmd("nfv 1; unpatch phy:0")
    p.kill("nfv2")
    wait_until(lambda: not p.is_connected("nfv", 2), 10, "nfv 2 to go")
    assert telemetry(p, "/patchbay/patches") == [[]]
