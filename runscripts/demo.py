#!/usr/bin/python3
"""Apply conf.yml (start the panel it declares and wire its chains), show
the chains and the live view's address, and watch packets flow: per-port
rates refreshed every second until a key, Ctrl-C or --seconds. Then stop
everything it started."""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "controller"))

from pbctl import apply as applying  # noqa: E402
from pbctl import add_version, config  # noqa: E402
from pbctl.client import Client  # noqa: E402
from pbctl.launcher import stop_panel  # noqa: E402
from pbctl.shell import Shell  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-c", "--conf", default=os.path.join(ROOT, "conf.yml"))
    ap.add_argument("--seconds", type=float, default=None,
                    help="watch this long (default: until a key or Ctrl-C; "
                         "10 when not on a terminal)")
    add_version(ap)
    args = ap.parse_args()
    seconds = args.seconds
    if seconds is None and not sys.stdout.isatty():
        seconds = 10
    try:
        conf = config.load(args.conf)
    except config.ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    client = Client(conf["controller"]["bind"], conf["controller"]["api_port"])
    if client.reachable():
        print(f"error: a patchbay-ctl already answers at {client}; stop it "
              "or use that panel", file=sys.stderr)
        return 1
    node = applying.Node(conf, client)
    shell = Shell([client])
    try:
        shell.onecmd(f"apply {args.conf}")
        if not shell.failed:
            shell.onecmd("topo")
            print(f"live view: http://{client.host}:{client.port}/  "
                  "(the panel in a browser, updated every second)")
            shell.onecmd(f"monitor {seconds if seconds else ''}")
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping the panel")
        stop_panel(client, conf["primary"]["file_prefix"], node.rundir)
    return 1 if shell.failed else 0


if __name__ == "__main__":
    sys.exit(main())
