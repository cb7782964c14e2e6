"""Start and stop patchbay's guests under QEMU.

A guest boots vm/build-guest.sh's kernel and initramfs, with one
virtio-net per panel vhost-user port, an optional ivshmem region per ring
port, and a management NIC on QEMU user networking through which its
processes reach the host's controller (10.0.2.2 is the host's loopback).
KVM is used when a short probe boots a guest with it; otherwise TCG.
"""

import os
import signal
import socket
import subprocess
import sys
import time

from procutil import end, read_pidfile, spawn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "controller"))
from pbctl import auth  # noqa: E402
MGMT_ADDR = "0000:00:10.0"
IVSHMEM_ADDR = "0000:00:{:02x}.0"   # .format(8 + i) for the i-th region
# what a guest app prints on its console once it forwards
READY = {"testpmd": "forwards packets on", "nfv": "connected to controller"}
KVM_VERDICT = "/run/patchbay-kvm"     # cached for this boot of the host
FW_CFG_TOKEN = "opt/patchbay/token"   # guest-init.sh reads it from sysfs


class VmError(Exception):
    pass


class Spec:
    """What one guest is: its ports, app and size. Defaults follow the
    seed systems' knobs (BESS's VM_VCPUS, FWD_MODE, ...)."""

    def __init__(self, vm_id, ports=(), rundir="/tmp", **kw):
        env = os.environ
        self.id = vm_id
        self.ports = list(ports)            # vhost-user socket paths
        self.ivshmem = list(kw.get("ivshmem", ()))   # shared region files
        self.rundir = rundir
        self.client = kw.get("client", False)   # panel's vhost is a client
        self.queues = int(kw.get("queues", env.get("BESS_QUEUES", 1)))
        self.vq_size = int(kw.get("vq_size", 1024))
        self.memory = int(kw.get("memory", 1024))
        self.vcpus = int(kw.get("vcpus", env.get("VM_VCPUS", 2)))
        self.start_cpu = kw.get("start_cpu", env.get("VM_START_CPU"))
        self.mem_socket = kw.get("mem_socket", env.get("VM_MEM_SOCKET"))
        self.hugepages = kw.get("hugepages_path", env.get("HUGEPAGES_PATH"))
        self.app = kw.get("app", "testpmd")
        self.fwd_mode = kw.get("fwd_mode", env.get("FWD_MODE", "macswap retry"))
        self.secondary = kw.get("secondary")      # the guest nfv's id
        self.controller_port = kw.get("controller_port", 6666)
        self.accel = kw.get("accel", env.get("PB_VM_ACCEL", "auto"))
        # the key the guest's own processes prove they hold to the host's
        # controller: given, or PATCHBAY_TOKEN, or that controller's own
        self.token = kw.get("token") or env.get("PATCHBAY_TOKEN") or None

    def path(self, what):
        return os.path.join(self.rundir, f"vm{self.id}.{what}")


def guest_files():
    """(vmlinuz, initrd) of the guest, built or rebuilt as needed."""
    out = subprocess.run([os.path.join(HERE, "build-guest.sh")],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise VmError(f"building the guest failed: {out.stderr.strip()}")
    cache = out.stdout.strip().splitlines()[-1]
    return os.path.join(cache, "vmlinuz"), os.path.join(cache, "initrd.gz")


def _memory_args(spec):
    size = f"{spec.memory}M"
    if spec.hugepages:
        backend = (f"memory-backend-file,id=mem,size={size},share=on,"
                   f"mem-path={spec.hugepages}")
    else:
        backend = f"memory-backend-memfd,id=mem,size={size},share=on"
    if spec.mem_socket is not None:
        backend += f",host-nodes={spec.mem_socket},policy=bind"
    # the switch maps guest memory: it must be shared, not private
    return ["-m", size, "-object", backend, "-numa", "node,memdev=mem"]


def _port_args(spec):
    args = []
    for i, sock in enumerate(spec.ports):
        server = ",server=on,wait=off" if spec.client else ""
        mq = f",mq=on,vectors={2 * spec.queues + 2}" if spec.queues > 1 else ""
        args += ["-chardev", f"socket,id=c{i},path={sock}{server}",
                 "-netdev", f"vhost-user,id=n{i},chardev=c{i},"
                            f"queues={spec.queues}",
                 "-device", f"virtio-net-pci,netdev=n{i},addr={3 + i:#x},"
                            f"mac=52:54:00:{spec.id:02x}:00:{i:02x},"
                            f"rx_queue_size={spec.vq_size},"
                            f"tx_queue_size={spec.vq_size}{mq}"]
    for i, region in enumerate(spec.ivshmem):
        size = os.path.getsize(region)
        args += ["-object", f"memory-backend-file,id=hm{i},mem-path={region},"
                            f"size={size},share=on",
                 "-device", f"ivshmem-plain,memdev=hm{i},addr={0x8 + i:#x}"]
    # (the guest finds region i at IVSHMEM_ADDR.format(8 + i))
    args += ["-netdev", "user,id=mgmt",
             "-device", f"virtio-net-pci,netdev=mgmt,addr=0x10,"
                        f"mac=52:54:00:{spec.id:02x}:ff:ff"]
    return args


def _cmdline(spec, app=None):
    words = ["console=ttyS0", "quiet", "panic=-1",
             f"pb.app={app or spec.app}",
             f"pb.fwd={spec.fwd_mode.replace(' ', '_')}",
             f"pb.mgmt={MGMT_ADDR}", "pb.ctl=10.0.2.2",
             f"pb.sec={spec.controller_port}"]
    if spec.secondary is not None:
        words.append(f"pb.id={spec.secondary}")
    return " ".join(words)


def qemu_argv(spec, kernel, initrd, accel):
    cpu = "host" if accel == "kvm" else "max"  # DPDK's build needs SSE4.2
    return (["qemu-system-x86_64", "-machine", "pc", "-accel", accel,
             "-cpu", cpu, "-smp", str(spec.vcpus), "-nodefaults",
             "-display", "none", "-vga", "none", "-no-reboot",
             "-name", f"patchbay-vm{spec.id}",
             "-serial", f"file:{spec.path('console')}",
             "-monitor", f"unix:{spec.path('monitor')},server=on,wait=off",
             "-kernel", kernel, "-initrd", initrd,
             "-append", _cmdline(spec)]
            + _memory_args(spec) + _port_args(spec) + _token_args(spec))


def _token_args(spec):
    """The token reaches the guest as a firmware config file, not on the
    kernel command line, which any user of the host or guest can read."""
    if spec.token is None:
        return []
    return ["-fw_cfg", f"name={FW_CFG_TOKEN},file={spec.path('token')}"]


def _write_token(spec):
    path = spec.path("token")
    if os.path.exists(path):
        os.unlink(path)
    if spec.token is not None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(spec.token)


def kvm_works(kernel, initrd, timeout=20):
    """Boot a probe guest with KVM; on nested setups /dev/kvm can exist
    and hang at boot. The verdict is kept for this boot of the host."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    try:
        with open(KVM_VERDICT) as f:
            return f.read().strip() == "kvm"
    except OSError:
        pass
    console = f"/tmp/patchbay-kvm-probe-{os.getpid()}.log"
    probe = Spec(0, rundir="/tmp", memory=256, vcpus=1)
    argv = ["qemu-system-x86_64", "-machine", "pc", "-accel", "kvm", "-cpu",
            "host", "-m", "256", "-nodefaults", "-display", "none",
            "-no-reboot", "-serial", f"file:{console}", "-kernel", kernel,
            "-initrd", initrd, "-append", _cmdline(probe, app="probe")]
    ok = False
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout)
            with open(console, errors="replace") as f:
                ok = "pb-guest: booted" in f.read()
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    finally:
        if os.path.exists(console):
            os.unlink(console)
    try:
        with open(KVM_VERDICT, "w") as f:
            f.write("kvm\n" if ok else "tcg\n")
    except OSError:
        pass
    return ok


def choose_accel(spec, kernel, initrd):
    if spec.accel in ("kvm", "tcg"):
        return spec.accel
    return "kvm" if kvm_works(kernel, initrd) else "tcg"


def _pin(pid, spec):
    """VM_START_CPU: QEMU on cores X .. X+vcpus-1, as BESS's scripts do."""
    if spec.start_cpu is None:
        return
    first = int(spec.start_cpu)
    cpus = {c % os.cpu_count() for c in range(first, first + spec.vcpus)}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:
            pass


def start(spec, wait_ready=True, timeout=180):
    """Start the guest; return (pid, accel). With wait_ready, return once
    its app has started (the console says so)."""
    os.makedirs(spec.rundir, exist_ok=True)
    kernel, initrd = guest_files()
    accel = choose_accel(spec, kernel, initrd)
    for f in ("console", "monitor"):
        if os.path.exists(spec.path(f)):
            os.unlink(spec.path(f))
    if spec.token is None and spec.secondary is not None:
        spec.token = auth.guest_key(spec.controller_port)
    argv = qemu_argv(spec, kernel, initrd, accel)
    _write_token(spec)
    proc = spawn(argv, spec.path("qemu.log"), spec.path("pid"))
    with open(spec.path("accel"), "w") as f:
        f.write(f"{accel}\n")
    _pin(proc.pid, spec)
    if wait_ready:
        _wait_console(spec, proc, READY.get(spec.app, "pb-guest: ready"),
                      timeout)
    return proc.pid, accel


def console(spec):
    try:
        with open(spec.path("console"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _wait_console(spec, proc, text, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in console(spec):
            return
        if proc.poll() is not None:
            with open(spec.path("qemu.log"), errors="replace") as f:
                raise VmError(f"QEMU for vm {spec.id} exited "
                              f"({proc.returncode}): {f.read().strip()}")
        time.sleep(0.2)
    raise VmError(f"vm {spec.id} not ready after {timeout}s; console:\n"
                  f"{console(spec)[-2000:]}")


def pid_of(spec):
    return read_pidfile(spec.path("pid"))


def stop(spec, timeout=10):
    """Quit QEMU through its monitor (kill it if it does not), and remove
    the files it left."""
    pid = pid_of(spec)
    if pid is not None:
        end(pid, lambda: _monitor_quit(spec, pid), timeout)
    for f in ("pid", "monitor", "token"):
        if os.path.exists(spec.path(f)):
            os.unlink(spec.path(f))


def _monitor_quit(spec, pid):
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(spec.path("monitor"))
            s.sendall(b"quit\n")
    except OSError:
        os.kill(pid, signal.SIGTERM)
