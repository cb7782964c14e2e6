"""Captures with real traffic: patchbay-pcap's pcapng files read back by
tshark and scapy equal what was sent, across rotation and lz4; a passive
tap changes nothing for the patch it watches; a live FIFO feeds tshark -i;
a full disk is counted, never a crash or a leak."""

import os
import signal
import subprocess

from scapy.all import rdpcap, wrpcap

from machine import needs
from test_chains import wait_until
from test_steering import exit_and_wait, frame, seq_of

pytestmark = needs("tshark")


def sent_frames(count=500):
    return [frame(n, "52:54:00:00:00:0a", 100 if n % 3 == 0 else None,
                  size=60 + n * 7 % 1450) for n in range(count)]


def tshark_fields(path, *fields):
    out = subprocess.run(
        ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=|",
         *sum((["-e", f] for f in fields), [])],
        capture_output=True, text=True, timeout=60, check=True).stdout
    return [line.split("|") for line in out.splitlines()]


def captures(out_dir):
    return sorted((f for f in os.listdir(out_dir)
                   if f.startswith("spp_pcap.")),
                  key=lambda f: int(f.split(".")[4]))


def feed(p, frames, tmp_path, dst="ring:0", nfv=1):
    """nfv sends frames from a pcap file to dst."""
    src = tmp_path / f"in{nfv}.pcap"
    wrpcap(str(src), frames)
    p.cmd(f"nfv {nfv}; add pcap:0 rx={src}")
    if dst.startswith("ring"):
        p.cmd(f"nfv {nfv}; add {dst}")
    p.cmd(f"nfv {nfv}; patch pcap:0 {dst}")
    p.cmd(f"nfv {nfv}; forward")


def pcap_status(p, cid=4):
    return p.rest("GET", f"/v1/pcaps/{cid}")[1]


def test_capture_of_a_ring_reads_back_equal_in_tshark(null_panel, tmp_path):
    p = null_panel
    out = tmp_path / "cap"
    out.mkdir()
    p.start_nfv(1, lcores="5@0")
    p.start_pcap(4, "ring:0", out, lcores="8@1,9@1")
    st = pcap_status(p)
    assert st["status"] == "idle" and st["master-lcore"] == 8
    assert st["core"][0]["rx_port"] == [{"port": "ring:0"}]
    p.cmd("pcap 4; start")
    st = pcap_status(p)
    assert st["status"] == "running"
    name = st["core"][1]["filename"]
    assert os.path.exists(name + ".tmp") and not os.path.exists(name)
    frames = sent_frames()
    feed(p, frames, tmp_path)
    wait_until(lambda: pcap_status(p)["capture"]["packets"] == len(frames),
               what="every frame captured")
    p.cmd("pcap 4; stop")
    assert os.path.exists(name) and not os.path.exists(name + ".tmp")
    assert captures(out) == [os.path.basename(name)]
    assert [bytes(f) for f in rdpcap(name)] == [bytes(f) for f in frames]
    rows = tshark_fields(name, "frame.len", "frame.cap_len",
                         "frame.interface_name", "frame.time_epoch")
    assert [int(r[0]) for r in rows] == [len(f) for f in frames]
    assert {r[2] for r in rows} == {"ring:0"}
    assert all(len(r[3].split(".")[1]) == 9 for r in rows)   # ns
    times = [r[3] for r in rows]
    assert times == sorted(times)
    exit_and_wait(p, "pcap", 4)


def test_rotation_and_lz4_keep_every_frame_in_order(null_panel, tmp_path):
    p = null_panel
    for n, lz4 in enumerate((False, True)):
        out = tmp_path / f"cap-{lz4}"
        out.mkdir()
        nfv, pcap = 1 + n, 4 + n
        p.start_nfv(nfv, lcores=f"{5 + n}@0")
        p.start_pcap(pcap, "ring:0", out, "--fsize", "65536",
                     *(["--lz4"] if lz4 else []),
                     lcores=f"{8 + 2 * n}@1,{9 + 2 * n}@1")
        p.cmd(f"pcap {pcap}; start")
        frames = sent_frames(800)
        feed(p, frames, tmp_path, nfv=nfv)
        wait_until(lambda: pcap_status(p, pcap)["capture"]["packets"] ==
                   len(frames), what="every frame captured")
        p.cmd(f"pcap {pcap}; stop")
        files = captures(out)
        assert len(files) > 5
        got = []
        for f in files:
            path = out / f
            if lz4:
                assert f.endswith(".pcapng.lz4")
                subprocess.run(["lz4", "-d", "-q", "-f", str(path),
                                str(out / f[:-4])], check=True)
                path = out / f[:-4]
            else:
                assert os.path.getsize(path) <= 65536
            got += [bytes(x) for x in rdpcap(str(path))]
            assert tshark_fields(path, "frame.number")   # tshark reads it
        assert [seq_of(x) for x in got] == list(range(len(frames)))
        assert got == [bytes(f) for f in frames]
        exit_and_wait(p, "pcap", pcap)
        exit_and_wait(p, "nfv", nfv)


def test_passive_tap_changes_nothing_for_the_patch(null_panel, tmp_path):
    """nfv 1 patches pcap:0 -> pcap:1; pcap 4 taps pcap:0's rx: the patch
    delivers every frame, and the capture has them all too."""
    p = null_panel
    out = tmp_path / "cap"
    out.mkdir()
    p.start_nfv(1, lcores="5@0")
    dst = tmp_path / "delivered.pcap"
    p.cmd(f"nfv 1; add pcap:1 tx={dst}")
    frames = sent_frames()
    src = tmp_path / "in.pcap"
    wrpcap(str(src), frames)
    p.cmd(f"nfv 1; add pcap:0 rx={src}")
    p.start_pcap(4, "pcap:0", out, "--tap", "rx", lcores="8@1,9@1")
    p.cmd("pcap 4; start")
    in_use = p.rest("GET", "/v1/primary/status")[1]["mbufs"]["in_use"]
    p.cmd("nfv 1; patch pcap:0 pcap:1")
    p.cmd("nfv 1; forward")
    wait_until(lambda: pcap_status(p)["capture"]["packets"] == len(frames),
               what="every frame captured")
    st = pcap_status(p)["capture"]
    assert st["mode"] == "tap" and st["tap_drops"] == 0
    p.cmd("pcap 4; stop")
    name = st["last_file"]
    exit_and_wait(p, "nfv", 1)
    assert [bytes(f) for f in rdpcap(str(dst))] == [bytes(f) for f in frames]
    assert [bytes(f) for f in rdpcap(name)] == [bytes(f) for f in frames]
    assert {r[0] for r in tshark_fields(name, "frame.interface_name")} == \
        {"pcap:0"}
    assert p.rest("GET", "/v1/primary/status")[1]["mbufs"]["in_use"] <= \
        in_use


def test_live_fifo_feeds_tshark_while_capturing(null_panel, tmp_path):
    p = null_panel
    out = tmp_path / "cap"
    out.mkdir()
    fifo = tmp_path / "live"
    p.start_nfv(1, lcores="5@0")
    p.start_pcap(4, "ring:0", out, "--fifo", str(fifo), lcores="8@1,9@1")
    assert fifo.is_fifo()          # there before the capture starts
    frames = sent_frames(200)
    live = tmp_path / "live.pcapng"
    # hold both ends meanwhile, so tshark's open does not wait for a
    # writer and ours finds a reader; we never read or write on them
    hold_r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    hold_w = os.open(fifo, os.O_WRONLY)
    # its own session: tshark's dumpcap child is ended with it
    reader = subprocess.Popen(["tshark", "-i", str(fifo), "-c",
                               str(len(frames)), "-w", str(live)],
                              stdout=subprocess.DEVNULL,
                              stderr=open(tmp_path / "tshark.log", "w"),
                              start_new_session=True)
    try:
        wait_until(lambda: _has_open(reader.pid, fifo), timeout=20,
                   what="tshark reading the FIFO")
        p.cmd("pcap 4; start")
        feed(p, frames, tmp_path)
        assert reader.wait(30) == 0, (tmp_path / "tshark.log").read_text()
    finally:
        try:
            os.killpg(reader.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        reader.wait()
        os.close(hold_r)
        os.close(hold_w)
    assert [bytes(f) for f in rdpcap(str(live))] == \
        [bytes(f) for f in frames]
    st = pcap_status(p)["capture"]
    assert st["fifo_packets"] == len(frames) and st["fifo_drops"] == 0


def _descendants(pid):
    kids, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return kids


def _has_open(pid, path):
    for p in _descendants(pid):
        try:
            fds = os.listdir(f"/proc/{p}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{p}/fd/{fd}") == str(path):
                    return True
            except OSError:
                pass
    return False


def test_full_disk_is_counted_and_leaks_nothing(null_panel, tmp_path):
    p = null_panel
    out = tmp_path / "small"
    out.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "pbtest",
                    str(out)], check=True)
    try:
        p.start_nfv(1, lcores="5@0")
        p.start_pcap(4, "ring:0", out, lcores="8@1,9@1")
        in_use = p.rest("GET", "/v1/primary/status")[1]["mbufs"]["in_use"]
        p.cmd("pcap 4; start")
        frames = sent_frames(1000)      # about 750 kB of pcapng
        feed(p, frames, tmp_path)
        wait_until(lambda: p.cmd("nfv 1; status")["stats"]["ring:0"]["tx"]
                   == len(frames), what="every frame sent")
        wait_until(lambda: pcap_status(p)["capture"]["write_errors"] > 0,
                   what="the writes failing")
        wait_until(lambda: p.rest("GET", "/v1/primary/status")[1]["mbufs"][
            "in_use"] <= in_use, what="every mbuf back")
        st = pcap_status(p)["capture"]
        assert st["last_error"] == "No space left on device"
        assert p.procs["pcap4"].poll() is None
        exit_and_wait(p, "pcap", 4)
    finally:
        subprocess.run(["umount", "-l", str(out)], check=False)
