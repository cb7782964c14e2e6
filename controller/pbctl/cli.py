"""patchbay: send SPP-syntax commands to patchbay-ctl's REST API.

    patchbay -c 'nfv 1; patch ring:0 vhost:0'
    patchbay -f commands.txt
    echo 'pri; status' | patchbay

A command that fails prints the reason and makes the exit status 1.
"""

import argparse
import http.client
import json
import sys

from . import spp


def call(host, port, method, path, body=None, timeout=60):
    """(status, payload) of one REST call."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if data else {}
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()


def run_line(host, port, line, out=sys.stdout):
    """Run one command line; return True on success."""
    line = line.strip()
    if not line or line.startswith("#"):
        return True
    try:
        method, path, body = spp.parse(line)
        status, payload = call(host, port, method, path, body)
    except spp.SyntaxProblem as e:
        print(f"error: {e}", file=sys.stderr)
        return False
    except OSError as e:
        print(f"error: cannot reach patchbay-ctl at {host}:{port}: {e}",
              file=sys.stderr)
        return False
    if status >= 400:
        reason = (payload or {}).get("error", f"HTTP {status}")
        print(f"error: {reason}", file=sys.stderr)
        return False
    print(json.dumps(payload, indent=2) if payload is not None else "ok",
          file=out)
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(prog="patchbay",
                                 description="patchbay command line")
    ap.add_argument("-b", "--bind-addr", default="127.0.0.1:7777",
                    help="patchbay-ctl's REST address (default "
                         "127.0.0.1:7777)")
    ap.add_argument("-c", "--command", help="run one command and exit")
    ap.add_argument("-f", "--file", help="run the commands in FILE")
    args = ap.parse_args(argv)
    host, _, port = args.bind_addr.rpartition(":")
    if not host or not port.isdigit():
        ap.error("-b takes HOST:PORT")

    if args.command is not None:
        lines = [args.command]
    elif args.file is not None:
        with open(args.file) as f:
            lines = f.read().splitlines()
    else:
        lines = sys.stdin.read().splitlines()
    ok = True
    for line in lines:
        ok = run_line(host, int(port), line) and ok
    return 0 if ok else 1
