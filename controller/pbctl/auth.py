"""How a process proves who it is to the controller, and the controller to
it (docs/security.md).

- A process on this host dials the controller's Unix socket for the port
  it was given (ctl-PORT.sock in the run directory). The kernel names
  the peer (SO_PEERCRED): root or the controller's own user, and the
  hello's pid must be that pid. Nothing secret is exchanged.
- Any other process (a guest's, another host's) dials TCP and runs the
  handshake of common/pb_auth.h: HMAC-SHA256 over its hello and both
  nonces with the key, the controller proving itself first.

The key is PATCHBAY_TOKEN when set; otherwise the controller makes one
at its first start and keeps it in the run directory (ctl-PORT.key, the
owner's alone), where whoever starts a guest on this host reads it.
"""

import asyncio
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import struct

from . import identity

CONTROLLER = b"patchbay controller"
PROCESS = b"patchbay process"
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
HANDSHAKE_TIMEOUT = 10.0


def run_dir():
    """Where the controller keeps its sockets, key and desired state
    (PATCHBAY_RUN_DIR, /run/patchbay by default); the processes read the
    same variable."""
    return os.environ.get("PATCHBAY_RUN_DIR") or "/run/patchbay"


def socket_path(port):
    return os.path.join(run_dir(), f"ctl-{port}.sock")


def key_path(sec_port):
    return os.path.join(run_dir(), f"ctl-{sec_port}.key")


def desired_path(sec_port):
    return os.path.join(run_dir(), f"ctl-{sec_port}.desired.json")


def make_run_dir():
    os.makedirs(run_dir(), mode=0o755, exist_ok=True)


def controller_key(sec_port, token=None):
    """The key processes over TCP prove they hold: the token, or this
    controller's own, made once and kept for its restarts."""
    if token:
        return token
    path = key_path(sec_port)
    try:
        with open(path) as f:
            key = f.read().strip()
        if HEX64.match(key) and os.stat(path).st_mode & 0o077 == 0:
            return key
    except OSError:
        pass
    key = secrets.token_hex(32)
    tmp = f"{path}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    os.replace(tmp, path)
    return key


def guest_key(sec_port):
    """The key a guest of the controller on sec_port needs: the token, or
    the controller's own key (None if it has none yet)."""
    token = os.environ.get("PATCHBAY_TOKEN")
    if token:
        return token
    try:
        with open(key_path(sec_port)) as f:
            return f.read().strip() or None
    except OSError:
        return None


def proof(key, label, hello_line, nonce):
    msg = label + b"\0" + hello_line + b"\0" + nonce.encode()
    return hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()


def peer_credentials(writer):
    """(pid, uid, gid) of the process at the other end of a Unix socket,
    as the kernel recorded it when that process connected."""
    sock = writer.get_extra_info("socket")
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                            struct.calcsize("3i"))
    return struct.unpack("3i", creds)


def vouch_local(writer, hello):
    """The identity of a process on the Unix socket, or ValueError: root or
    our own user, and the pid it says is the pid the kernel says."""
    pid, uid, _ = peer_credentials(writer)
    if uid not in (0, os.geteuid()):
        raise ValueError(f"uid {uid} may not serve as a patchbay process")
    if hello.get("pid") != pid:
        raise ValueError(f"hello.pid {hello.get('pid')!r} is not the "
                         f"connecting process ({pid})")
    ident = identity.read(pid)
    if ident is None and os.geteuid() != 0:
        # a controller of its own user (systemd's DynamicUser) may not
        # read a root process's /proc: the pid alone, which no stop
        # takes for a whole identity
        ident = {"pid": pid}
    if ident is None:
        raise ValueError(f"process {pid} ended while saying hello")
    return ident


async def prove_remote(reader, writer, key, hello_line, hello):
    """Run the handshake with a process over TCP; ValueError if it does
    not prove it holds key. hello_line: the hello as received, without
    its line end."""
    nonce = hello.get("nonce")
    if not isinstance(nonce, str) or not HEX64.match(nonce):
        raise ValueError("over TCP the hello must carry a nonce (64 hex "
                         "digits) and the process must prove it holds "
                         "PATCHBAY_TOKEN; local processes dial the Unix "
                         "socket")
    ours = secrets.token_hex(32)
    challenge = {"challenge": {"nonce": ours, "proof": proof(
        key, CONTROLLER, hello_line, ours)}}
    writer.write(json.dumps(challenge).encode() + b"\n")
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), HANDSHAKE_TIMEOUT)
    try:
        answer = json.loads(line)
    except (ValueError, RecursionError):
        answer = None
    given = answer.get("proof") if isinstance(answer, dict) else None
    expected = proof(key, PROCESS, hello_line, ours)
    if not isinstance(given, str) or not hmac.compare_digest(
            given.encode(errors="replace"), expected.encode()):
        raise ValueError("wrong or missing proof (PATCHBAY_TOKEN differs)")
