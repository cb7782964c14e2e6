"""Real QEMU guests in the chains (TCG when KVM does not work here):
testpmd macswapping between two vhost ports, and patchbay's own nfv in
the guest patched from the host's controller."""

import os
import sys

import pytest

import pcaputil
from machine import needs
from test_chains import stats, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "vm"))
import qemu  # noqa: E402

pytestmark = needs("qemu-system-x86_64")


@pytest.fixture
def vm_panel(null_panel):
    p = null_panel
    p.vms = []
    yield p
    for spec in p.vms:
        qemu.stop(spec)
    assert all(qemu.pid_of(s) is None for s in p.vms), "QEMU left running"


def boot(p, tmp_path, ports, **kw):
    spec = qemu.Spec(len(p.vms) + 1, ports=ports, rundir=str(tmp_path), **kw)
    p.vms.append(spec)
    qemu.start(spec)
    return spec


def swapped(packet):
    return packet[6:12] + packet[0:6] + packet[12:]


def through(p, tmp_path, into, out_of, sent, what, nfv=1):
    """Send packets (a pcap file) into port `into` of nfv, collect what
    comes out of `out_of`; return it once all of them are back."""
    pcaputil.write(tmp_path / "in.pcap", sent)
    p.cmd(f"nfv {nfv}; add pcap:1 tx={tmp_path / 'out.pcap'}")
    p.cmd(f"nfv {nfv}; patch {out_of} pcap:1")
    p.cmd(f"nfv {nfv}; forward")
    p.cmd(f"nfv {nfv}; add pcap:0 rx={tmp_path / 'in.pcap'}")
    p.cmd(f"nfv {nfv}; patch pcap:0 {into}")
    wait_until(lambda: stats(p, nfv)["pcap:1"]["tx"] == len(sent),
               timeout=60, what=what)
    counters = stats(p, nfv)
    p.cmd(f"nfv {nfv}; del pcap:1")
    return pcaputil.read(tmp_path / "out.pcap"), counters


def test_guest_testpmd_macswaps_between_two_vhost_ports(vm_panel, tmp_path):
    p = vm_panel
    p.start_nfv(1)
    socks = [str(tmp_path / f"vhost{i}.sock") for i in range(2)]
    for i, sock in enumerate(socks):
        p.cmd(f"nfv 1; add vhost:{i} path={sock}")
    spec = boot(p, tmp_path, socks)   # testpmd, "macswap retry"
    st = p.cmd("nfv 1; status")
    assert st["links"]["vhost:0"] == st["links"]["vhost:1"] == "up"
    sent = pcaputil.make_packets(500, max_size=1000)
    got, s = through(p, tmp_path, "vhost:0", "vhost:1", sent,
                     "the guest's packets back")
    assert s["vhost:0"]["tx"] == s["vhost:1"]["rx"] == len(sent)
    assert got == [swapped(x) for x in sent]
    assert "forwards packets on" in qemu.console(spec)


@pytest.fixture
def token(monkeypatch):
    """The controller requires a shared token (set before it starts)."""
    monkeypatch.setenv("PATCHBAY_TOKEN", "guest-s3cret")
    return "guest-s3cret"


def test_guest_nfv_is_patched_from_the_host_controller(token, vm_panel,
                                                       tmp_path):
    """The guest's nfv dials the host's controller, which requires a
    token: it reaches the guest as a firmware config file, on no command
    line."""
    p = vm_panel
    p.start_nfv(1)
    socks = [str(tmp_path / f"vhost{i}.sock") for i in range(2)]
    for i, sock in enumerate(socks):
        p.cmd(f"nfv 1; add vhost:{i} path={sock}")
    spec = boot(p, tmp_path, socks, app="nfv", secondary=11,
                controller_port=p.sec_port)
    p.wait_process("nfv", 11, timeout=60)
    with open(f"/proc/{qemu.pid_of(spec)}/cmdline", "rb") as f:
        assert token.encode() not in f.read()
    assert os.stat(spec.path("token")).st_mode & 0o777 == 0o600
    guest = p.cmd("nfv 11; status")
    assert guest["ports"] == ["phy:0", "phy:1"]   # the guest's virtio NICs
    p.cmd("nfv 11; patch phy:0 phy:1")
    p.cmd("nfv 11; forward")
    sent = pcaputil.make_packets(300, max_size=600)
    got, _ = through(p, tmp_path, "vhost:0", "vhost:1", sent,
                     "packets through the guest's nfv")
    g = p.cmd("nfv 11; status")["stats"]
    assert g["phy:0"]["rx"] == g["phy:1"]["tx"] == len(sent)
    assert got == sent   # unchanged


import container  # noqa: E402


def test_container_through_virtio_user(null_panel, tmp_path):
    p = null_panel
    p.start_nfv(1)
    sock = str(tmp_path / "c1.sock")
    p.cmd(f"nfv 1; add vhost:0 path={sock}")
    spec = container.Spec(1, ports=[sock], rundir=str(tmp_path))
    try:
        container.start(spec)
        assert p.cmd("nfv 1; status")["links"]["vhost:0"] == "up"
        # its own namespaces: another pid 1, another hostname namespace
        pid = container.pid_of(spec)
        child = open(f"/proc/{pid}/task/{pid}/children").read().split()[0]
        for ns in ("pid", "net", "mnt", "uts"):
            assert os.readlink(f"/proc/{child}/ns/{ns}") != \
                os.readlink(f"/proc/self/ns/{ns}"), ns
        sent = pcaputil.make_packets(400, max_size=900)
        got, s = through(p, tmp_path, "vhost:0", "vhost:0", sent,
                         "the container's packets back")
        assert s["vhost:0"]["tx"] == s["vhost:0"]["rx"] == len(sent)
        assert got == [swapped(x) for x in sent]
    finally:
        container.stop(spec)
    assert container.pid_of(spec) is None
    assert not os.path.exists(f"/var/run/dpdk/{spec.prefix}")


def test_ring_vm_moves_packets_both_ways_over_ivshmem(vm_panel, tmp_path):
    """SPP's ring VM, today: an shm port on the host and one in the guest
    share an ivshmem region; the guest's nfv sends back what it gets."""
    p = vm_panel
    p.start_nfv(1)
    region = tmp_path / "shm0"
    p.cmd(f"nfv 1; add shm:0 path={region}")
    boot(p, tmp_path, [], app="nfv", secondary=12, ivshmem=[str(region)],
         controller_port=p.sec_port)
    p.wait_process("nfv", 12, timeout=60)
    p.cmd(f"nfv 12; add shm:0 pci={qemu.IVSHMEM_ADDR.format(8)}")
    p.cmd("nfv 12; patch shm:0 shm:0")
    p.cmd("nfv 12; forward")
    sent = pcaputil.make_packets(400, max_size=1500)
    got, _ = through(p, tmp_path, "shm:0", "shm:0", sent,
                     "packets back from the ring VM")
    g = p.cmd("nfv 12; status")["stats"]["shm:0"]
    assert g["rx"] == g["tx"] == len(sent)
    assert got == sent


def test_vhost_client_mode_with_two_queue_pairs(vm_panel, tmp_path):
    """The panel's vhost ports as clients, QEMU the server; two queue
    pairs per port, all polled."""
    p = vm_panel
    p.start_nfv(1)
    socks = [str(tmp_path / f"vhost{i}.sock") for i in range(2)]
    spec = qemu.Spec(1, ports=socks, rundir=str(tmp_path), client=True,
                     queues=2)
    p.vms.append(spec)
    qemu.start(spec, wait_ready=False)   # QEMU serves the sockets
    wait_until(lambda: all(os.path.exists(s) for s in socks), timeout=30,
               what="QEMU's sockets")
    for i, sock in enumerate(socks):
        p.cmd(f"nfv 1; add vhost:{i} path={sock} client=true")
    assert p.cmd("nfv 1; status")["port_options"]["vhost:0"]["client"]
    wait_until(lambda: "forwards packets on" in qemu.console(spec),
               timeout=120, what="the guest's testpmd")
    # a client re-dials QEMU's socket about once a second: wait for both
    wait_until(lambda: set(p.cmd("nfv 1; status")["links"].values())
               == {"up"}, timeout=30, what="both client-mode ports up")
    sent = pcaputil.make_packets(300, max_size=500)
    got, _ = through(p, tmp_path, "vhost:0", "vhost:1", sent,
                     "packets back through the client-mode ports")
    assert got == [swapped(x) for x in sent]
    assert "queues=2" in " ".join(qemu.qemu_argv(spec, "k", "i", "tcg"))


VM_RESTARTS = int(os.environ.get("PB_VM_RESTARTS", "3"))


@pytest.mark.parametrize("mode", ["server", "client"])
def test_vm_restarted_vhost_recovers(vm_panel, tmp_path, mode):
    """A QEMU guest (testpmd) quit and started again VM_RESTARTS times
    (PB_VM_RESTARTS; 3 in CI, 100 by hand): link down when it quits, up
    and packets back each time, the nfv never restarted, no mbuf lost.
    Server mode: the port accepts QEMU again; client mode: QEMU serves
    and the port dials it again."""
    p = vm_panel
    nfv = p.start_nfv(1)
    start = p.cmd("pri; status")["mbufs"]["in_use"]
    sock = str(tmp_path / "vm.sock")
    client = mode == "client"
    p.cmd(f"nfv 1; add vhost:0 path={sock} client={str(client).lower()}")
    for line in ("patch phy:0 vhost:0", "patch vhost:0 phy:1", "forward"):
        p.cmd(f"nfv 1; {line}")
    spec = qemu.Spec(1, ports=[sock], rundir=str(tmp_path), client=client)
    p.vms.append(spec)
    back = 0
    for _ in range(VM_RESTARTS):
        qemu.start(spec)
        wait_until(lambda: stats(p, 1)["vhost:0"]["rx"] > back + 1000,
                   timeout=60, what="packets back from the guest")
        assert p.cmd("nfv 1; status")["links"]["vhost:0"] == "up"
        back = stats(p, 1)["vhost:0"]["rx"]
        qemu.stop(spec)
        wait_until(lambda: p.cmd("nfv 1; status")["links"]["vhost:0"]
                   == "down", what="link down")
    assert nfv.poll() is None and p.is_connected("nfv", 1)
    p.cmd("nfv 1; stop")
    p.cmd("nfv 1; del vhost:0")
    assert p.cmd("pri; status")["mbufs"]["in_use"] == start
