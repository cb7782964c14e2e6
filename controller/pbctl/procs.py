"""The processes that dialled the controller, and how to ask them things.

Each process speaks the line protocol of docs/protocol.md: it sends a hello
first, then answers every request line with exactly one reply line that
echoes the request's id.
"""

import asyncio
import collections
import itertools
import json
import logging
import os

from . import auth, replies
from .state import Desired, forwarder_status

log = logging.getLogger("patchbay-ctl")

# A process's replies are small; a status of many ports fits well within.
MAX_LINE = 4 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0
# requests that may wait on one process at once; more are refused at once
# (a stopped process must not take every REST connection for 30 s)
MAX_WAITING = 32


class CommandError(Exception):
    """The process refused a command; str(e) is its reason."""


class Busy(CommandError):
    """Too many requests wait on the process already: try again later."""


class ConnectionLost(CommandError):
    """The process's connection closed: nothing more can be asked of it."""


class NoSuchProcess(Exception):
    pass


def process_name(role, proc_id):
    """As people read it: primary, nfv 1 (also of a process now gone)."""
    return "primary" if role == "primary" else f"{role} {proc_id}"


def process_label(role, proc_id):
    """As metrics label it: primary, nfv1, vf2."""
    return "primary" if role == "primary" else f"{role}{proc_id}"


class Process:
    def __init__(self, hello, reader, writer, counts=None, identity=None):
        """counts: a Counter of (process label, result) its commands add
        to (the registry's, so they outlive a reconnection); identity:
        what the kernel said of it (identity.read), None for a process
        that dialled over TCP, whose pid is its host's."""
        self.role = hello["role"]
        self.id = hello["id"]
        self.identity = identity
        self.local = identity is not None      # over the Unix socket
        self.pid = identity["pid"] if identity else None
        # where a process over TCP reached us
        self.sockname = None if self.local else \
            writer.get_extra_info("sockname")
        self.node = hello.get("node")
        self.version = hello.get("version")
        self._reader = reader
        self._writer = writer
        self._pending = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self.closed = False       # its connection is gone
        self.counts = counts if counts is not None else collections.Counter()

    @property
    def key(self):
        return (self.role, self.id)

    def describe(self):
        """As spp-ctl lists it, plus where it runs."""
        about = {"type": "primary"} if self.role == "primary" else \
            {"type": self.role, "client-id": self.id}
        about.update({"pid": self.pid, "node": self.node})
        if self.identity is not None:
            about["identity"] = self.identity
        return about

    async def request(self, cmd, args=None, timeout=DEFAULT_TIMEOUT,
                      counted=True):
        """Send one command and return its result, or raise CommandError.
        counted=False: not one of patchbay_commands_total (a scrape's)."""
        result = "unanswered"
        try:
            reply = await self._exchange(cmd, args, timeout)
            result = "served" if reply.get("ok") else "refused"
        finally:
            if counted:
                self.counts[(self.label(), result)] += 1
        if not reply["ok"]:
            raise CommandError(reply["error"] or f"{cmd} failed")
        result = reply.get("result", {})
        if cmd == "status":
            try:
                replies.check_status(result)
            except ValueError as e:
                raise CommandError(f"{self.name()} sent a status that is "
                                   f"not one: {e}") from None
        return result

    async def _exchange(self, cmd, args, timeout):
        """The reply line to one request line."""
        if self.closed:
            raise ConnectionLost(f"{self.name()} is gone: its connection "
                                 "closed")
        if len(self._pending) >= MAX_WAITING:
            raise Busy(f"{self.name()} has {len(self._pending)} requests "
                       "waiting for its answers already: try again when "
                       "it answers")
        req_id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        line = json.dumps({"id": req_id, "cmd": cmd, "args": args or {}},
                          separators=(",", ":"))
        try:
            async with self._lock:
                self._writer.write(line.encode() + b"\n")
                # a process that stops reading must not hold the lock
                await asyncio.wait_for(self._writer.drain(), timeout)
            reply = await asyncio.wait_for(fut, timeout)
        except ConnectionError as e:
            raise ConnectionLost(f"{self.name()} did not answer '{cmd}': "
                                 f"{str(e) or 'its connection closed'}") \
                from None
        except asyncio.TimeoutError:
            raise CommandError(f"{self.name()} did not answer '{cmd}' in "
                               f"{timeout:g} s") from None
        finally:
            self._pending.pop(req_id, None)
        return reply

    def name(self):
        return process_name(self.role, self.id)

    def label(self):
        return process_label(self.role, self.id)

    async def read_replies(self):
        """Resolve pending requests from reply lines until EOF."""
        while True:
            try:
                line = await self._reader.readline()
            except (ConnectionError, ValueError) as e:   # reset, too long
                log.warning("%s: %s", self.name(), e)
                break
            if not line:
                break
            try:
                reply = replies.parse(line)
            except replies.BadReply as e:
                log.warning("%s sent a line that is not a reply (%s): %r",
                            self.name(), e, line[:200])
                if e.req_id is None:
                    continue
                reply = {"id": e.req_id, "ok": False, "error":
                         f"{self.name()} sent a reply that is not one: {e}"}
            try:
                fut = self._pending.get(reply["id"])
            except TypeError:      # an id no request of ours has
                continue
            if fut is not None and not fut.done():
                fut.set_result(reply)
        self.closed = True
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("connection closed"))

    def close(self):
        self._writer.close()


def pid_alive(pid):
    """kill(pid, 0): EPERM is alive too (a guest is root's, the controller
    may be a dynamic user that cannot see its /proc entry)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# SPP's process types: the primary and the kinds of secondary
ROLES = ("primary", "nfv", "vf", "mirror", "pcap")


HELLO_FIELDS = {"role": str, "id": int, "pid": int, "node": str,
                "version": str, "nonce": str}


def check_hello(msg):
    """Return the hello's body, or raise ValueError saying what is wrong.
    Its shape only: who sent it is auth's to prove."""
    if not isinstance(msg, dict) or not isinstance(msg.get("hello"), dict):
        raise ValueError("first line must be {\"hello\": {...}}")
    hello = msg["hello"]
    if hello.get("role") not in ROLES:
        raise ValueError("hello.role must be one of " +
                         ", ".join(f'"{r}"' for r in ROLES))
    for key, value in hello.items():
        kind = HELLO_FIELDS.get(key)
        if kind is None:
            raise ValueError(f"hello.{key[:40]!r} is not a field of a hello "
                             f"(known: {', '.join(HELLO_FIELDS)})")
        if not isinstance(value, kind) or isinstance(value, bool) or \
                (kind is str and len(value) > 256):
            raise ValueError(f"hello.{key} must be "
                             f"{'an integer' if kind is int else 'a short string'}")
    if "id" not in hello:
        raise ValueError("hello.id must be an integer")
    if (hello["role"] == "primary") != (hello["id"] == 0):
        raise ValueError("the primary's id is 0 and only the primary's")
    if not 0 <= hello["id"] <= 65535:
        raise ValueError("hello.id must be from 0 to 65535")
    return hello


class Registry:
    """Every connected process, by (role, id), and what each should run."""

    def __init__(self, key=None, store=None, sec_port=6666):
        """key: what processes over TCP prove they hold (auth); store:
        where the desired state outlives a restart of the controller;
        sec_port: where secondaries dial it."""
        self._procs = {}
        self.sec_port = sec_port
        self.store = store
        self.desired = store.load() if store is not None else {}
        self.commands = collections.Counter()   # (label, result) -> n
        # VMs and containers, as whoever started them (apply) said:
        # (kind, id) -> {"pid", "app", "ports"}
        self.guests = {}
        self.key = key

    def all(self):
        return sorted(self._procs.values(),
                      key=lambda p: (p.role != "primary", p.id))

    def guest_list(self):
        """[{kind, id, pid, app, ports, state}]: state "running" while its
        pid lives, "gone" once it ended without being taken off."""
        out = []
        for (kind, gid), guest in sorted(self.guests.items()):
            out.append({"kind": kind, "id": gid, **guest,
                        "state": "running" if pid_alive(guest["pid"])
                        else "gone"})
        return out

    def secondary_address(self, proc):
        """HOST:PORT a secondary started beside proc dials to reach us:
        loopback (our Unix socket) beside a local process, else the
        address proc's connection reached us at."""
        if proc.local:
            return f"127.0.0.1:{self.sec_port}"
        host = proc.sockname[0]
        return f"[{host}]:{self.sec_port}" if ":" in host else \
            f"{host}:{self.sec_port}"

    def gone(self):
        """(role, id) of processes seen before and not connected now (an
        exit on purpose forgets one)."""
        return sorted(set(self.desired) - set(self._procs))

    async def statuses(self, timeout):
        """[(process, its status, or None if it did not answer within
        timeout s)] of every connected process, asked all at once; not
        counted among the commands (a scrape's, the live view's)."""
        procs = self.all()

        async def ask(proc):
            try:
                return await proc.request("status", timeout=timeout,
                                          counted=False)
            except CommandError as e:
                log.warning("%s: status: %s", proc.name(), e)
                return None
        return list(zip(procs, await asyncio.gather(*map(ask, procs))))

    def get(self, role, proc_id):
        proc = self._procs.get((role, proc_id))
        if proc is None:
            name = "primary" if role == "primary" else f"{role} {proc_id}"
            raise NoSuchProcess(f"no {name} is connected")
        return proc

    async def run(self, role, proc_id, cmd, args=None):
        """Run a command on a process; remember what it changed."""
        proc = self.get(role, proc_id)
        result = await proc.request(cmd, args)
        if cmd == "exit":       # ended on purpose: it starts afresh
            self.desired.pop(proc.key, None)
        else:
            self.desired.setdefault(proc.key, Desired()).record(cmd,
                                                                args or {})
        if self.store is not None:
            self.store.save(self.desired)
        return result

    async def _restore(self, proc):
        """A process (re)connected: make it run what was desired of it
        (nothing, if no command ever asked it for anything). What it says
        it runs is never taken as desired: a process that runs something
        else is corrected, and the difference logged."""
        try:
            fwd = forwarder_status(proc.role, await proc.request("status"))
            if fwd is None:
                return
            running = Desired.from_status(fwd, proc.role)
            wanted = self.desired.get(proc.key) or Desired()
            if running == wanted:
                return
            if not running.empty():
                log.warning("%s runs what no command here asked for (%s); "
                            "correcting it to what was (%s)", proc.name(),
                            running.summary(), wanted.summary())
            else:
                log.info("%s restarted: restoring %s", proc.name(),
                         wanted.summary())
            for cmd, args in running.teardown() + wanted.commands():
                try:
                    await proc.request(cmd, args)
                except ConnectionLost:
                    raise
                except CommandError as e:
                    log.warning("%s: restoring '%s %s' failed: %s",
                                proc.name(), cmd, args, e)
        except ConnectionLost:
            log.warning("%s went away during its restore", proc.name())
        except CommandError as e:
            log.warning("%s: cannot read its state: %s", proc.name(), e)
        except Exception:    # a status we misread must not cut it off
            log.exception("%s: restore failed", proc.name())

    async def _admit(self, reader, writer, local):
        """The hello of a new connection, proven (auth); (hello, identity)
        or ValueError/TimeoutError/ConnectionError saying why not."""
        first = await asyncio.wait_for(reader.readline(),
                                       auth.HANDSHAKE_TIMEOUT)
        if not first.endswith(b"\n"):
            raise ValueError("no hello line")
        hello = check_hello(json.loads(first))
        if local:
            return hello, auth.vouch_local(writer, hello)
        if self.key is None:
            raise ValueError("this controller takes no processes over TCP")
        await auth.prove_remote(reader, writer, self.key,
                                first.rstrip(b"\r\n"), hello)
        return hello, None

    async def serve(self, reader, writer, local=False):
        """Handle one process's connection, from hello to EOF. local: it
        came over the Unix socket, where the kernel names the peer."""
        peer = "a local process" if local else \
            writer.get_extra_info("peername")
        try:
            hello, ident = await self._admit(reader, writer, local)
        except RecursionError:
            log.warning("refused %s: its hello is nested too deeply", peer)
            await _refuse(writer, "bad hello: nested too deeply")
            return
        except (ValueError, asyncio.TimeoutError, ConnectionError,
                asyncio.LimitOverrunError) as e:
            log.warning("refused %s: %s", peer, e or "no hello in time")
            await _refuse(writer, f"bad hello: {e or 'no hello in time'}")
            return
        proc = Process(hello, reader, writer, self.commands, ident)
        if proc.key in self._procs:
            log.warning("refused %s: %s is already connected", peer,
                        proc.name())
            await _refuse(writer, f"{proc.name()} is already connected")
            return
        self._procs[proc.key] = proc
        log.info("%s connected (%s)", proc.name(),
                 f"pid {proc.pid}" if local else
                 f"over TCP from {peer}, on {proc.node}")
        reading = asyncio.create_task(proc.read_replies())
        try:
            await self._restore(proc)
            await reading
        except (ConnectionError, ValueError) as e:
            log.warning("%s: %s", proc.name(), e)
        finally:
            del self._procs[proc.key]
            proc.close()
            log.info("%s disconnected", proc.name())


async def _refuse(writer, reason):
    line = json.dumps({"id": None, "ok": False, "error": reason})
    try:
        writer.write(line.encode() + b"\n")
        await writer.drain()
    except ConnectionError:
        pass
    writer.close()
