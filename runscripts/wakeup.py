#!/usr/bin/python3
"""Run the panel conf.yml declares in one tmux session, a window per part:
the controller (daemon above, shell below), the primary, the secondaries,
each ring VM, each vhost VM, each container, and a working shell.

Things start in order, each once the one before is ready: the controller
(its REST API answers), the primary and the secondaries (they said hello),
the host's ports and patches (so vhost sockets and shm regions exist), the
guests (their app runs), and the guests' own patches. As SPP's runner:

    runscripts/wakeup.py -ns 2 -nr 1 -nv 1

-ns/-nr/-nv override how many secondaries, ring VMs and vhost VMs run;
missing ones are added, each guest in a chain. With BESS_VMS set, the
guests are BESS's vhost.bess topology instead (docs/vms.md). Stop it all
with `runscripts/panel stop all`."""

import argparse
import os
import shlex
import subprocess
import sys
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "controller"))

from pbctl import apply as applying  # noqa: E402
from pbctl import add_version, components, config, guests, topology  # noqa: E402
from pbctl.client import Client  # noqa: E402
from pbctl import launcher  # noqa: E402
from pbctl.launcher import BUILD, HUGE_DIR, primary_eal_extra  # noqa: E402

SESSION = os.environ.get("PB_TMUX_SESSION", "patchbay")
RUNDIR = [None]       # the panel's run directory, where its session is noted


def tmux(*args):
    out = subprocess.run(["tmux", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"wakeup: tmux {args[0]}: {out.stderr.strip()}")
    return out.stdout.strip()


def window(name, argv, first=False):
    """A window running argv; returns the pid of what it runs."""
    cmd = "exec " + " ".join(shlex.quote(a) for a in argv)
    if first:
        tmux("new-session", "-d", "-s", SESSION, "-n", name, "-x", "200",
             "-y", "50", "-c", ROOT, cmd)
        # a part that ends keeps its window, so its last words can be read
        tmux("set-option", "-t", SESSION, "remain-on-exit", "on")
        launcher.record_tmux_session(RUNDIR[0], SESSION)
    else:
        tmux("new-window", "-d", "-t", SESSION, "-n", name, "-c", ROOT, cmd)
    return int(tmux("display-message", "-p", "-t", f"{SESSION}:{name}",
                    "#{pane_pid}"))


def split(name, argv):
    cmd = "exec " + " ".join(shlex.quote(a) for a in argv)
    tmux("split-window", "-d", "-v", "-t", f"{SESSION}:{name}", cmd)


def wait_for(what, ready, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            print(f"wakeup: {what} ready", flush=True)
            return
        time.sleep(0.2)
    raise SystemExit(f"wakeup: {what} not ready after {timeout}s "
                     f"(tmux attach -t {SESSION} to see why)")


def connected(client, role, pid_id):
    try:
        return any(p["type"] == role and p.get("client-id", 0) == pid_id
                   for p in client.processes())
    except OSError:
        return False


def effective_conf(args):
    """conf.yml with the command line's counts (and BESS_*) applied,
    written beside the panel's logs for runscripts/panel -c."""
    try:
        raw, lines = config.read(args.conf)
        config.check(raw, args.conf, lines)   # the file as written first
        raw = topology.bess(raw or {}, os.environ)
        raw = topology.counts(raw, args.nof_sec, args.nof_ring,
                              args.nof_vhost)
        conf = config.check(raw, args.conf)
    except (ValueError, config.ConfigError) as e:
        raise SystemExit(f"wakeup: {e}")
    return raw, conf


def start_processes(conf, client, conf_path):
    ctl, pri = conf["controller"], conf["primary"]
    addr = f"{ctl['bind']}"
    pid = window("controller", [
        sys.executable, os.path.join(ROOT, "controller", "patchbay-ctl"),
        "-b", addr, "-p", str(ctl["pri_port"]), "-s", str(ctl["sec_port"]),
        "-a", str(ctl["api_port"])], first=True)
    node = applying.Node(conf, client)
    os.makedirs(node.rundir, exist_ok=True)
    wait_for("controller", client.reachable)
    # once it serves: its pane's shell has become the controller by then
    guests.write_pidfile(node.pidfile, pid)
    split("controller", [sys.executable,
                         os.path.join(ROOT, "controller", "patchbay"),
                         "-b", f"{addr}:{ctl['api_port']}"])
    eal = ["--file-prefix", pri["file_prefix"], "--single-file-segments",
           "--huge-dir", pri["huge_dir"] or HUGE_DIR]
    eal += ["--no-pci"] if pri["no_pci"] else []
    argv = [os.path.join(BUILD, "patchbay-primary"), "--lcores", pri["lcores"],
            "-m", str(pri["memory"])] + eal + primary_eal_extra()
    for v in pri["vdevs"]:
        argv += ["--vdev", v]
    argv += ["--", "-p", hex(pri["portmask"]), "-n", str(pri["rings"]),
             "-s", f"{addr}:{ctl['pri_port']}"]
    window("primary", argv)
    wait_for("primary", lambda: connected(client, "primary", 0))
    for i, sec in enumerate(conf["secondaries"]):
        kind = sec["type"]
        argv = [os.path.join(BUILD, f"patchbay-{kind}"), "--lcores",
                sec["lcores"], "--proc-type", "secondary"] + eal + \
               ["--", "-n", str(sec["id"]), "-s", f"{addr}:{ctl['sec_port']}"]
        argv += ["--vhost-client"] if sec["vhost_client"] else []
        if kind == "pcap":
            for opt, value in components.capture_app_options(
                    components.capture_wanted(sec)).items():
                argv += [opt] + ([value] if value else [])
        if i == 0:
            window("secondaries", argv)
        else:
            split("secondaries", argv)
        wait_for(f"{kind} {sec['id']}",
                 lambda sec=sec: connected(client, sec["type"], sec["id"]))
    return node


def start_guests(conf, node, conf_path):
    for kind, gid, spec, start, stop, pid_of in guests.specs(conf,
                                                              node.rundir):
        if kind == "vm":
            name = f"{'ring' if spec.ivshmem else 'vhost'}-vm{gid}"
        else:
            name = f"container{gid}"
        window(name, [sys.executable, os.path.join(ROOT, "vm", "launch.py"),
                      "-c", conf_path, "start", kind, str(gid), "--follow"])
        marker = guests.qemu.READY.get(getattr(spec, "app", ""), "") \
            if kind == "vm" else guests.container.READY
        log = spec.path("console" if kind == "vm" else "log")

        def ready(spec=spec, pid_of=pid_of, log=log, marker=marker):
            try:
                with open(log, errors="replace") as f:
                    return pid_of(spec) is not None and marker in f.read()
            except OSError:
                return False
        wait_for(f"{kind} {gid}", ready, timeout=300)
        if kind == "vm" and spec.app == "nfv":
            wait_for(f"nfv {spec.secondary} in vm {gid}",
                     lambda s=spec: connected(node.client, "nfv",
                                              s.secondary), timeout=120)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-c", "--conf", default=os.path.join(ROOT, "conf.yml"))
    ap.add_argument("-ns", "--nof-sec", type=int, metavar="NOF_SEC",
                    help="Number of secondaries")
    ap.add_argument("-nr", "--nof-ring", type=int, metavar="NOF_RING",
                    help="Number of VMs running ring (shm/ivshmem) ports")
    ap.add_argument("-nv", "--nof-vhost", type=int, metavar="NOF_VHOST",
                    help="Number of VMs running vhost ports")
    ap.add_argument("--no-attach", action="store_true",
                    help="do not attach to the session at the end")
    add_version(ap)
    args = ap.parse_args()
    raw, conf = effective_conf(args)
    ctl = conf["controller"]
    client = Client(ctl["bind"], ctl["api_port"])
    if client.reachable() or subprocess.run(
            ["tmux", "has-session", "-t", SESSION],
            stderr=subprocess.DEVNULL).returncode == 0:
        raise SystemExit(f"wakeup: a panel already runs (controller at "
                         f"{client} or tmux session '{SESSION}'); "
                         "runscripts/panel stop all first")
    rundir = applying.Node(conf, client).rundir
    launcher.private_dir(rundir)
    RUNDIR[0] = rundir
    conf_path = os.path.join(rundir, "conf.yml")
    with open(conf_path, "w") as f:
        yaml.safe_dump(raw, f, sort_keys=False)
    node = start_processes(conf, client, conf_path)
    host = {f"nfv {s['id']}" for s in conf["secondaries"]}
    try:
        applying.apply(node, sys.stdout, host)      # sockets, regions
        start_guests(conf, node, conf_path)
        applying.apply(node, sys.stdout)            # the guests' patches
    except applying.ApplyError as e:
        raise SystemExit(f"wakeup: {e} (the session stays for a look; "
                         f"runscripts/panel -c {conf_path} stop all)")
    window("work", [os.environ.get("SHELL", "/bin/sh")])
    print(f"wakeup: session '{SESSION}' is up; its conf is {conf_path}; "
          f"stop it with: runscripts/panel -c {conf_path} stop all",
          flush=True)
    if not args.no_attach and sys.stdin.isatty():
        os.execvp("tmux", ["tmux", "attach", "-t", SESSION])
    return 0


if __name__ == "__main__":
    sys.exit(main())
