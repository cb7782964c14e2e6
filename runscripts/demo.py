#!/usr/bin/python3
"""Run the panel conf.yml describes, wire its chains, and show the packets
flowing: per-port packet rates refreshed every second. Ctrl-C (or
--seconds) ends it and stops everything it started."""

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "controller"))

from pbctl import config  # noqa: E402
from pbctl.launcher import Panel, PanelError  # noqa: E402


def start(panel, conf):
    panel.start_controller()
    pri = conf["primary"]
    panel.start_primary(vdevs=pri["vdevs"], portmask=pri["portmask"],
                        rings=pri["rings"], lcores=pri["lcores"],
                        mem=pri["memory"])
    for sec in conf["secondaries"]:
        extra = ["--vhost-client"] if sec["vhost_client"] else []
        panel.start_nfv(sec["id"], lcores=sec["lcores"], extra=extra)


def wire(panel, conf):
    used = set()
    for name, chain in conf["chains"].items():
        for nfv, src, dst in config.chain_patches(chain):
            for port in (src, dst):
                if not port.startswith("phy:") and (nfv, port) not in used:
                    opts = chain["options"].get(port, {})
                    words = " ".join(f"{k}={v}" for k, v in opts.items())
                    panel.cmd(f"nfv {nfv}; add {port} {words}".strip())
                    used.add((nfv, port))
            panel.cmd(f"nfv {nfv}; patch {src} {dst}")
            print(f"chain {name}: nfv {nfv} patches {src} -> {dst}")
    for sec in conf["secondaries"]:
        panel.cmd(f"nfv {sec['id']}; forward")


def snapshot(panel, conf):
    """Counters by port. A port's counters live in shared memory, so every
    secondary that has it reports the same numbers: keep one copy."""
    counts = {}
    for sec in conf["secondaries"]:
        counts.update(panel.cmd(f"nfv {sec['id']}; status")["stats"])
    return counts


def show(prev, now, dt):
    lines = [f"{'port':<10} {'rx pps':>14} {'tx pps':>14} {'tx drops/s':>12}"]
    for port, c in sorted(now.items()):
        p = prev.get(port, c)
        rx, tx = (c["rx"] - p["rx"]) / dt, (c["tx"] - p["tx"]) / dt
        drop = (c["tx_drop"] - p["tx_drop"]) / dt
        lines.append(f"{port:<10} {rx:>14,.0f} {tx:>14,.0f} {drop:>12,.0f}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-c", "--conf", default=os.path.join(ROOT, "conf.yml"))
    ap.add_argument("--seconds", type=float, default=None,
                    help="run this long (default: until Ctrl-C; 10 when "
                         "not on a terminal)")
    args = ap.parse_args()
    seconds = args.seconds
    if seconds is None and not sys.stdout.isatty():
        seconds = 10
    try:
        conf = config.load(args.conf)
    except config.ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    ctl = conf["controller"]
    workdir = tempfile.mkdtemp(prefix="patchbay-demo-")
    panel = Panel(workdir, ports=(ctl["pri_port"], ctl["sec_port"],
                                  ctl["api_port"]))
    print(f"patchbay demo: logs in {workdir}")
    try:
        start(panel, conf)
        wire(panel, conf)
        prev, t0 = snapshot(panel, conf), time.monotonic()
        last = t0
        while seconds is None or time.monotonic() - t0 < seconds:
            time.sleep(1)
            now, t = snapshot(panel, conf), time.monotonic()
            table = show(prev, now, t - last)
            if sys.stdout.isatty():
                print("\033[H\033[J", end="")
            print(f"--- {t - t0:5.1f} s ---\n{table}", flush=True)
            prev, last = now, t
    except KeyboardInterrupt:
        pass
    except PanelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        print("stopping the panel")
        panel.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
