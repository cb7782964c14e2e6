"""bench/compare.py: every figure's change, and exit 1 when one got worse
beyond its spread (the regression check)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_json(path, samples, instr=None):
    rows = [{"case": "null<->null", "impl": "patchbay", "size": 64,
             "mpps": sorted(samples)[len(samples) // 2], "samples": samples}]
    instructions = [{"case": "null<->null", "impl": "patchbay", "size": 64,
                     "instructions": instr}] if instr else []
    path.write_text(json.dumps({"rows": rows, "instructions": instructions}))
    return str(path)


def compare(a, b):
    return subprocess.run([sys.executable, os.path.join(ROOT, "bench",
                                                        "compare.py"), a, b],
                          capture_output=True, text=True, timeout=30)


def test_a_rate_worse_beyond_its_spread_fails(tmp_path):
    a = run_json(tmp_path / "a.json", [50.0, 52.0, 54.0, 51.0, 53.0])
    slower = run_json(tmp_path / "b.json", [40.0, 41.0, 42.0, 40.5, 41.5])
    r = compare(a, slower)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "WORSE" in r.stdout and "-21.2%" in r.stdout
    assert "52.00 (50.0-54.0)" in r.stdout


def test_noise_within_the_spread_passes(tmp_path):
    a = run_json(tmp_path / "a.json", [50.0, 52.0, 54.0, 51.0, 53.0])
    same = run_json(tmp_path / "b.json", [49.0, 51.5, 53.0, 50.0, 52.0])
    r = compare(a, same)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "WORSE" not in r.stdout


def test_more_instructions_a_packet_fail(tmp_path):
    a = run_json(tmp_path / "a.json", [50.0], instr=130.0)
    b = run_json(tmp_path / "b.json", [50.0], instr=135.0)
    r = compare(a, b)
    assert r.returncode == 1 and "130.0" in r.stdout and "135.0" in r.stdout
    assert compare(b, a).returncode == 0     # fewer is better


def test_bad_input_says_what_is_wrong(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    r = compare(str(tmp_path / "x.json"), str(tmp_path / "missing.json"))
    assert r.returncode == 2 and r.stderr.startswith("compare: ")
