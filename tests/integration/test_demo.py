"""The README's first command as a newcomer sees it: runscripts/demo.py
applies the repository's conf.yml and shows a healthy panel — a million
packets a second through every hop, no drops — and the live view's
address. (Ports, prefix and vhost socket moved out of the way.)"""

import os
import re
import subprocess
import sys

import pytest
import yaml

from pbctl.launcher import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RATE = 1_000_000     # conf.yml's null:0 rate


def monitor_blocks(out):
    """Each refresh of monitor: {port: (rx pps, tx pps, drops/s)}."""
    blocks = []
    for line in out.splitlines():
        if line.startswith("monitor "):
            blocks.append({})
        fields = line.split()
        if blocks and fields and re.fullmatch(r"[a-z_]+:\d+", fields[0]) \
                and len(fields) == 6:
            num = [float(f.replace(",", "")) for f in fields[1:]]
            blocks[-1][fields[0]] = (num[0], num[2], num[4])
    return blocks


@pytest.mark.skipif("ASAN_OPTIONS" in os.environ,
                    reason="the look of the optimised build")
def test_the_demo_shows_a_million_packets_a_second_and_no_drops(tmp_path):
    with open(os.path.join(ROOT, "conf.yml")) as f:
        conf = yaml.safe_load(f)
    api = free_port()
    conf["controller"].update(pri_port=free_port(), sec_port=free_port(),
                              api_port=api)
    conf["primary"]["file_prefix"] = f"pbdemo{os.getpid()}"
    sock = str(tmp_path / "vhost0.sock")
    for chain in conf["chains"].values():
        for opts in chain.get("options", {}).values():
            if "path" in opts:
                opts["path"] = sock
    path = tmp_path / "conf.yml"
    path.write_text(yaml.safe_dump(conf))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "runscripts",
                                                     "demo.py"),
                        "-c", str(path), "--seconds", "6"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"live view: http://127.0.0.1:{api}/" in r.stdout
    blocks = monitor_blocks(r.stdout)
    assert len(blocks) == 6, r.stdout
    for block in blocks[2:]:        # after the first seconds' start
        assert abs(block["null:0"][0] - RATE) <= 0.05 * RATE, block
        assert abs(block["phy:1"][1] - RATE) <= 0.05 * RATE, block
        drops = {port: v[2] for port, v in block.items() if v[2] != 0}
        assert drops == {}, block
    assert not os.path.exists(sock)
    assert not [f for f in os.listdir("/dev/hugepages")
                if f.startswith(conf["primary"]["file_prefix"])]
