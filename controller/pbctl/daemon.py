"""patchbay-ctl: the controller daemon.

Primaries dial -p (5555), secondaries dial -s (6666); people and tools use
the REST API on -a (7777). Flags as spp-ctl's.

It listens on 127.0.0.1 unless told otherwise. Processes of this host
dial its Unix sockets (ctl-PORT.sock in PATCHBAY_RUN_DIR, /run/patchbay),
where the kernel names them; others dial TCP and prove they hold the key
(auth.py). With PATCHBAY_TOKEN in its environment that token is the key,
and every REST request must carry it too (Authorization: Bearer TOKEN);
the processes, the shell and the REST client take it from the same
variable.
"""

import argparse
import asyncio
import contextlib
import functools
import ipaddress
import logging
import os
import resource
import signal

from . import add_version, auth
from .procs import Registry, MAX_LINE
from .rest import Api, serve_http
from .state import DesiredStore


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        prog="patchbay-ctl",
        description="patchbay controller: relays commands to the primary "
                    "and secondaries and serves the REST API.")
    ap.add_argument("-b", "--bind-addr", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1)")
    ap.add_argument("-p", "--pri-port", type=int, default=5555,
                    help="port primaries dial (default 5555)")
    ap.add_argument("-s", "--sec-port", type=int, default=6666,
                    help="port secondaries dial (default 6666)")
    ap.add_argument("-a", "--api-port", type=int, default=7777,
                    help="REST API port (default 7777)")
    ap.add_argument("-v", "--verbose", action="store_true")
    add_version(ap)
    return ap.parse_args(argv)


def is_loopback(addr):
    if addr == "localhost":
        return True
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return False


async def run(args):
    token = os.environ.get("PATCHBAY_TOKEN") or None
    if token is None and not is_loopback(args.bind_addr):
        logging.warning("listening on %s without a token: anyone who can "
                        "reach its REST API can rewire the panel; set "
                        "PATCHBAY_TOKEN", args.bind_addr)
    auth.make_run_dir()
    registry = Registry(auth.controller_key(args.sec_port, token),
                        DesiredStore(auth.desired_path(args.sec_port)),
                        args.sec_port)
    api = Api(registry, token)
    servers = [await serve_http(api, args.bind_addr, args.api_port)]
    for port in (args.pri_port, args.sec_port):
        servers += [
            await asyncio.start_server(registry.serve, args.bind_addr, port,
                                       limit=MAX_LINE),
            await start_unix_server(functools.partial(registry.serve,
                                                      local=True), port)]
    logging.info("listening on %s: primaries %d, secondaries %d, REST %d; "
                 "local processes at %s", args.bind_addr, args.pri_port,
                 args.sec_port, args.api_port,
                 auth.socket_path(args.sec_port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()
    for port in (args.pri_port, args.sec_port):
        os.unlink(auth.socket_path(port))
    if not registry.desired and not registry.all() and not token:
        # the panel is gone: its next start makes a new key
        with contextlib.suppress(FileNotFoundError):
            os.unlink(auth.key_path(args.sec_port))


async def start_unix_server(serve, port):
    """The Unix socket for port, the owner's alone. One a live controller
    serves is not taken over; one left by a controller that died is."""
    path = auth.socket_path(port)
    try:
        _, writer = await asyncio.open_unix_connection(path)
        writer.close()
        raise OSError(f"{path}: another controller serves it")
    except (FileNotFoundError, ConnectionRefusedError):
        if os.path.exists(path):
            os.unlink(path)
    old = os.umask(0o177)
    try:
        return await asyncio.start_unix_server(serve, path, limit=MAX_LINE)
    finally:
        os.umask(old)


def raise_fd_limit():
    """As many file descriptors as the hard limit allows: connections of
    REST clients must not crowd out the processes'."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv=None):
    args = parse_args(argv)
    raise_fd_limit()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="patchbay-ctl: %(message)s")
    # requests that are not HTTP: aiohttp logs each with a traceback
    logging.getLogger("patchbay-ctl.http").setLevel(
        logging.DEBUG if args.verbose else logging.CRITICAL)
    try:
        asyncio.run(run(args))
    except OSError as e:
        logging.error("%s", e)
        return 1
    return 0
