#!/usr/bin/python3
"""Start or stop one guest that a conf.yml declares, as the panel's run
scripts do; with --follow, stay and show its console (a tmux window).

    vm/launch.py [-c conf.yml] start vm|container ID [--follow]
    vm/launch.py [-c conf.yml] stop  vm|container ID

Knobs (docs/vms.md): VM_START_CPU, VM_VCPUS, VM_MEM_SOCKET, HUGEPAGES_PATH,
FWD_MODE, BESS_QUEUES, PB_VM_ACCEL (auto|kvm|tcg), PB_VM_CACHE, VERBOSE."""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "controller"))

from pbctl import apply as applying  # noqa: E402
from pbctl import add_version, config, guests  # noqa: E402
from pbctl.client import Client, ClientError  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-c", "--conf", default=os.path.join(ROOT, "conf.yml"))
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("kind", choices=["vm", "container"])
    ap.add_argument("id", type=int)
    ap.add_argument("--follow", action="store_true",
                    help="after starting, show the console until it ends")
    add_version(ap)
    args = ap.parse_args()
    try:
        conf = config.load(args.conf)
    except config.ConfigError as e:
        raise SystemExit(f"launch: {e}")
    ctl = conf["controller"]
    node = applying.Node(conf, Client(ctl["bind"], ctl["api_port"]))
    for kind, gid, spec, start, stop, pid_of in guests.specs(conf,
                                                              node.rundir):
        if (kind, gid) != (args.kind, args.id):
            continue
        if args.action == "stop":
            stop(spec)
            applying.forget_guest(node.client, kind, gid)
            return 0
        if pid_of(spec) is None:
            try:
                start(spec)
            except (guests.qemu.VmError, guests.container.ContainerError) \
                    as e:
                raise SystemExit(f"launch: {e}")
        if node.client.reachable():        # for the live view
            try:
                applying.register_guests(node)
            except (ClientError, OSError) as e:
                print(f"launch: the controller was not told of it: {e}",
                      file=sys.stderr)
        accel = ""
        if kind == "vm":
            with open(spec.path("accel")) as f:
                accel = f" under {f.read().strip()}"
        print(f"{kind} {gid} is running{accel} (pid {pid_of(spec)})",
              flush=True)
        if args.follow:
            log = spec.path("console" if kind == "vm" else "log")
            os.execvp("tail", ["tail", "-n", "+1", "-F", log])
        return 0
    raise SystemExit(f"launch: {args.conf} declares no {args.kind} {args.id}")


if __name__ == "__main__":
    sys.exit(main())
