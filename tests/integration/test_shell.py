"""The shell as a person uses it, through a pseudo-terminal (pexpect):
completion, history across sessions, help, monitor refreshing until a key
or Ctrl-C; and topo's text, DOT and graphviz output."""

import os
import subprocess
import sys
import time

import pexpect

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHELL = os.path.join(ROOT, "controller", "patchbay")
PROMPT = "patchbay> "


def spawn(panel, tmp_path):
    env = dict(os.environ, PATCHBAY_HISTORY=str(tmp_path / "history"),
               TERM="xterm")
    child = pexpect.spawn(sys.executable,
                          [SHELL, "-b", f"127.0.0.1:{panel.api_port}"],
                          env=env, encoding="utf-8", timeout=20,
                          dimensions=(40, 120))
    child.expect_exact(PROMPT)
    return child


def chain(panel):
    panel.start_nfv(1)
    for line in ("nfv 1; add ring:0", "nfv 1; add ring:1",
                 "nfv 1; patch phy:0 ring:0", "nfv 1; patch ring:0 ring:1",
                 "nfv 1; patch ring:1 phy:1"):
        panel.cmd(line)


def test_completion_help_and_history(null_panel, tmp_path):
    p = null_panel
    chain(p)
    sh = spawn(p, tmp_path)
    try:
        # command names
        sh.send("mon\t")
        sh.expect_exact("monitor")
        sh.sendcontrol("u")
        # process ids, then sub-commands, then the process's ports
        sh.send("nfv \t")
        sh.expect_exact("nfv 1;")
        sh.send(" pa\t")
        sh.expect_exact("patch")
        sh.send(" ring:\t\t")
        sh.expect("ring:0\\s+ring:1")
        sh.sendcontrol("u")
        sh.sendline("nfv 1; st\tatus")   # completes to status
        sh.expect_exact('"client-id": 1')
        sh.expect_exact(PROMPT)
        sh.sendline("help nfv")
        sh.expect_exact("nfv N; add PORT [key=value ...]")
        sh.expect_exact(PROMPT)
        sh.sendline("nfv 1; patch ring:0 ring:9")
        sh.expect_exact("error: ring:9 is not added; add it first")
        sh.expect_exact(PROMPT)
        sh.sendline("exit")
        sh.expect(pexpect.EOF)
    finally:
        sh.close(force=True)
    history = (tmp_path / "history").read_text()
    assert "nfv 1; patch ring:0 ring:9" in history
    # a new session remembers: up-arrow brings the last command back
    sh = spawn(p, tmp_path)
    try:
        sh.send("\x1b[A")
        sh.expect_exact("exit")
        sh.send("\x1b[A")
        sh.expect_exact("nfv 1; patch ring:0 ring:9")
    finally:
        sh.close(force=True)


def test_monitor_refreshes_until_a_key_or_ctrl_c(null_panel, tmp_path):
    p = null_panel
    chain(p)
    p.cmd("nfv 1; forward")
    sh = spawn(p, tmp_path)
    try:
        sh.sendline("monitor")
        sh.expect(r"monitor\s+1\.\d s")
        sh.expect(r"ring:0\s+[\d,]+")
        sh.expect(r"monitor\s+[2-9]\.\d s")  # refreshed in place
        sh.send("q")
        sh.expect_exact(PROMPT)
        sh.sendline("monitor")
        sh.expect(r"monitor\s+1\.\d s")
        sh.sendintr()
        sh.expect_exact(PROMPT)
        sh.sendline("nfv 1; status")     # still a working shell
        sh.expect_exact('"status": "running"')
    finally:
        sh.close(force=True)
        p.cmd("nfv 1; stop")


def test_scripted_monitor_and_record_playback(null_panel, tmp_path):
    p = null_panel
    p.start_nfv(1)
    rec = tmp_path / "session"
    cmds = f"record {rec}\nnfv 1; add ring:0\nnfv 1; patch phy:0 ring:0\n" \
           "nfv 1; patch phy:0 ring:7\nrecord\n"
    r = subprocess.run([sys.executable, SHELL, "-b",
                        f"127.0.0.1:{p.api_port}"], input=cmds,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1  # one command failed
    assert rec.read_text() == "nfv 1; add ring:0\nnfv 1; patch phy:0 ring:0\n"
    p.cmd("nfv 1; del ring:0")
    r = subprocess.run([sys.executable, SHELL, "-b",
                        f"127.0.0.1:{p.api_port}", "-c", f"playback {rec}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert p.cmd("nfv 1; status")["patches"] == [{"src": "phy:0",
                                                  "dst": "ring:0"}]
    p.cmd("nfv 1; patch ring:0 phy:1")    # drained, so phy:0 keeps flowing
    p.cmd("nfv 1; forward")
    r = subprocess.run([sys.executable, SHELL, "-b",
                        f"127.0.0.1:{p.api_port}", "-c", "monitor 2.5"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert r.stdout.count("monitor ") == 2
    line = next(x for x in r.stdout.splitlines() if x.startswith("phy:0"))
    assert int(line.split()[1].replace(",", "")) > 0   # rx pps
    p.cmd("nfv 1; stop")


def test_topo_text_dot_and_svg(null_panel, tmp_path):
    p = null_panel
    chain(p)
    p.start_nfv(2, cpus="0")
    p.cmd("nfv 2; add ring:2")
    p.cmd("nfv 2; add ring:3")
    p.cmd("nfv 2; patch ring:2 ring:3")

    def run(arg):
        return subprocess.run([sys.executable, SHELL, "-b",
                               f"127.0.0.1:{p.api_port}", "-c", arg],
                              capture_output=True, text=True, timeout=60)
    r = run("topo")
    assert r.stdout.splitlines() == [
        "phy:0 --nfv 1--> ring:0 --nfv 1--> ring:1 --nfv 1--> phy:1",
        "ring:2 --nfv 2--> ring:3"]
    dot = run("topo dot").stdout
    assert dot.startswith("digraph patchbay {")
    assert '"ring:0" -> "ring:1" [label="nfv 1"];' in dot
    # graphviz accepts it
    check = subprocess.run(["dot", "-Tcanon"], input=dot, text=True,
                           capture_output=True)
    assert check.returncode == 0, check.stderr
    svg = tmp_path / "chains.svg"
    r = run(f"topo {svg}")
    assert r.returncode == 0, r.stderr
    text = svg.read_text()
    assert "<svg" in text and "ring:2" in text and "nfv 2" in text
    r = run(f"topo {tmp_path / 'chains.bmp'}")
    assert r.returncode == 1 and ".dot, .svg or .png" in r.stderr


def test_bye_all_and_launch_from_the_shell(null_panel, tmp_path):
    p = null_panel
    sh = spawn(p, tmp_path)
    try:
        sh.sendline(f"pri; launch nfv 2 -l 1 -m 512 -- -n 2 "
                    f"-s 127.0.0.1:{p.sec_port}")
        sh.expect_exact("nfv 2 is connected", timeout=40)
        sh.expect_exact(PROMPT)
        sh.sendline("bye all")
        sh.expect_exact(PROMPT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and p.connected():
            time.sleep(0.1)
        assert p.connected() == []
        assert p.procs["primary"].wait(10) == 0
    finally:
        sh.close(force=True)


def test_vf_commands_complete_and_have_help(null_panel, tmp_path):
    p = null_panel
    p.start_vf(2, lcores="3@1,4@1")
    p.cmd("vf 2; component start fw1 4 forward")
    sh = spawn(p, tmp_path)
    try:
        sh.send("vf \t")
        sh.expect_exact("vf 2;")
        sh.send(" comp\t")
        sh.expect_exact("component")
        sh.send(" st\t\t")
        sh.expect("start\\s+stop")
        sh.sendcontrol("u")
        sh.send("vf 2; port add ring:0 r\t")
        sh.expect_exact("rx")
        sh.send(" fw\t")
        sh.expect_exact("fw1")
        sh.sendline("")
        sh.expect_exact(PROMPT)
        sh.sendline("help vf")
        sh.expect_exact("vf N; classifier_table add|del vlan VID MAC|default "
                        "PORT")
        sh.expect_exact(PROMPT)
        sh.sendline("vf 2; classifier_table add mac fa-16-3e-00-00-01 ring:0")
        sh.expect_exact("six two-digit hex octets separated by colons")
        sh.expect_exact(PROMPT)
        sh.sendline("help pcap")
        sh.expect_exact("pcap N; status | start | stop | exit")
        sh.expect_exact(PROMPT)
    finally:
        sh.sendline("exit")
        sh.close()
    assert p.cmd("vf 2; status")["components"][0]["rx_port"][0]["port"] == \
        "ring:0"


def test_several_commands_run_in_order_until_one_fails(null_panel):
    """patchbay -c A -c B -c C runs A, B and C in turn (it used to run C
    alone); the first that fails ends the run and is named."""
    p = null_panel
    p.start_nfv(1)

    def run(*lines):
        argv = [sys.executable, SHELL, "-b", f"127.0.0.1:{p.api_port}"]
        for line in lines:
            argv += ["-c", line]
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=60)
    r = run("nfv 1; add ring:0", "nfv 1; patch phy:0 ring:0",
            "nfv 1; status")
    assert r.returncode == 0, r.stderr
    assert p.cmd("nfv 1; status")["patches"] == [{"src": "phy:0",
                                                  "dst": "ring:0"}]
    assert '"patches"' in r.stdout       # the third one's output
    r = run("nfv 1; add ring:1", "nfv 1; patch phy:1 ring:7",
            "nfv 1; add ring:2")
    assert r.returncode == 1
    assert "error: command 2: ring:7 is not added" in r.stderr, r.stderr
    assert p.cmd("nfv 1; status")["ports"] == ["phy:0", "phy:1", "ring:0",
                                               "ring:1"]
