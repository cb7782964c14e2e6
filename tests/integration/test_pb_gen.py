"""pb-gen, the benchmarks' generator and sink: its counts and its latency
figures are what the performance pages stand on, so they are checked
against a delay the test makes itself."""

import json
import os
import subprocess
import threading
import time

from pbctl.launcher import BUILD


def gen(p, rate, seconds, tx="ring:0", rx="ring:1"):
    argv = [os.path.join(BUILD, "pb-gen")] + \
        p.eal_args(p.lcores("pb-gen", "1")) + \
        ["--proc-type", "secondary", "--", "--tx", tx, "--rx", rx,
         "--rate", str(rate), "--size", "64", "--seconds", str(seconds)]
    out = subprocess.run(argv, capture_output=True, text=True,
                         timeout=seconds + 60)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def ring_hop(p):
    p.start_primary(vdevs=[], rings=2)
    p.start_nfv(1, cpus="0")
    for line in ("add ring:0", "add ring:1", "patch ring:0 ring:1",
                 "forward"):
        p.cmd(f"nfv 1; {line}")


def test_every_packet_is_counted_once_with_its_latency(panel):
    ring_hop(panel)
    r = gen(panel, 100_000, 1.0)
    lat = r["latency_ns"]
    assert 99_000 <= r["sent"] <= 100_000 and r["received"] == r["sent"], r
    assert r["lost"] == 0 and r["out_of_order"] == 0
    assert lat["samples"] == r["received"]
    assert sum(n for _, n in lat["histogram"]) == lat["samples"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] \
        <= lat["p99_9"] <= lat["max"], lat
    tops = [t for t, _ in lat["histogram"]]
    assert tops == sorted(tops) and tops[-1] == lat["max"]
    # a ring hop through an idle-back-off worker: well under a millisecond
    # for half the packets, on any machine
    assert lat["p50"] < 1e6, lat


def test_a_stall_in_the_path_shows_as_latency_not_loss(panel):
    """The nfv stops forwarding for 0.3 s in the middle of a 2 kpps
    stream: the ring holds what arrives meanwhile (600 packets), so
    nothing is lost, and those packets come back up to 0.3 s late."""
    ring_hop(panel)
    stall = 0.3

    def stop_and_go():
        time.sleep(1.0)
        panel.cmd("nfv 1; stop")
        time.sleep(stall)
        panel.cmd("nfv 1; forward")

    t = threading.Thread(target=stop_and_go)
    t.start()
    r = gen(panel, 2000, 2.5)
    t.join()
    lat = r["latency_ns"]
    assert r["lost"] == 0 and r["out_of_order"] == 0, r
    assert 0.8 * stall * 1e9 < lat["max"] < 3 * stall * 1e9, lat
    # about 600 of 5000 were held: the median did not wait
    assert lat["p50"] < 1e7 and lat["p90"] > 1e7, lat


def test_a_relay_instead_of_the_nfv_passes_every_packet_in_order(panel):
    """pb-gen --relay, the benchmark's reference hop, moves ring:0 to
    ring:1 until it is told to stop, and says how many it passed on."""
    panel.start_primary(vdevs=[], rings=2)
    relay = subprocess.Popen(
        [os.path.join(BUILD, "pb-gen")] +
        panel.eal_args(panel.lcores("relay", "0")) +
        ["--proc-type", "secondary", "--", "--rx", "ring:0", "--tx",
         "ring:1", "--relay"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        r = gen(panel, 100_000, 1.0)
    finally:
        relay.terminate()
        out, _ = relay.communicate(timeout=30)
    assert relay.returncode == 0
    passed = json.loads(out.strip().splitlines()[-1])
    assert r["received"] == r["sent"] and r["out_of_order"] == 0, r
    assert passed["sent"] == passed["received"] == r["sent"], passed


def test_the_floor_serves_every_packet_of_the_stream_it_imagines(panel):
    """pb-gen --floor sends nothing: it times a stream of --rate served
    by a forwarder that costs nothing, on its own CPU."""
    panel.start_primary(vdevs=[], rings=2)
    argv = [os.path.join(BUILD, "pb-gen")] + \
        panel.eal_args(panel.lcores("pb-gen", "0")) + \
        ["--proc-type", "secondary", "--", "--rate", "1000000",
         "--seconds", "1", "--floor"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    lat = r["latency_ns"]
    assert 990_000 <= r["sent"] <= 1_000_001 and r["lost"] == 0, r
    assert lat["samples"] == r["sent"]
    # most packets find the CPU there: served within a round of the loop
    assert lat["p50"] < 1000, lat
    st = r["stalls"]
    assert st["count"] >= 0 and st["preempted"] >= 0, st
    assert 0 <= st["ns"] < 1e9, st


def test_pb_gen_streams_through_a_vhost_switch_from_its_own_virtio_ports(
        panel, tmp_path):
    """The latency bench's vhost hop: pb-gen's virtio:0 -> the nfv's
    vhost:0 -> vhost:1 -> pb-gen's virtio:1. It waits for the path to
    carry packets before it counts, so none is lost to the link coming
    up, and it gives its ports back at the end."""
    panel.start_primary(vdevs=[], rings=2)
    panel.start_nfv(1, cpus="0")
    socks = [str(tmp_path / f"vh{i}.sock") for i in (0, 1)]
    for i, s in enumerate(socks):
        panel.cmd(f"nfv 1; add vhost:{i} path={s}")
    panel.cmd("nfv 1; patch vhost:0 vhost:1")
    panel.cmd("nfv 1; forward")
    mbufs = panel.cmd("pri; status")["mbufs"]["in_use"]
    r = gen(panel, 20_000, 1.0, tx=f"virtio:0 path={socks[0]}",
            rx=f"virtio:1 path={socks[1]}")
    assert r["sent"] >= 19_000 and r["lost"] == 0, r
    assert r["out_of_order"] == 0, r
    st = panel.cmd("nfv 1; status")["stats"]
    assert st["vhost:1"]["tx"] >= r["received"], st
    # its virtio devices are gone from the primary, with their rx queues'
    # mbufs
    assert panel.cmd("pri; status")["mbufs"]["in_use"] == mbufs


def test_pb_gen_says_which_port_it_cannot_open(panel):
    panel.start_primary(vdevs=[], rings=2)
    for spec, why in (("bogus:0", "bogus:0: "),
                      ("ring:9", "ring:9: "),
                      ("virtio:0 path", "options are key=value"),
                      ("vhost:0", "stream through virtio")):
        argv = [os.path.join(BUILD, "pb-gen")] + \
            panel.eal_args(panel.lcores("pb-gen", "1")) + \
            ["--proc-type", "secondary", "--", "--tx", spec, "--rx",
             "ring:1", "--seconds", "0.1"]
        out = subprocess.run(argv, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 1, (spec, out.stderr[-500:])
        assert why in out.stderr, (spec, out.stderr[-500:])
    # nothing it opened is left behind: a stream still works
    r = gen(panel, 1000, 0.2, tx="ring:0", rx="ring:0")
    assert r["lost"] == 0, r
