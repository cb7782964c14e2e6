"""The processes that dialled the controller, and how to ask them things.

Each process speaks the line protocol of docs/protocol.md: it sends a hello
first, then answers every request line with exactly one reply line that
echoes the request's id.
"""

import asyncio
import collections
import hmac
import itertools
import json
import logging
import os

from .state import Desired, forwarder_status

log = logging.getLogger("patchbay-ctl")

# A process's replies are small; a status of many ports fits well within.
MAX_LINE = 4 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0


class CommandError(Exception):
    """The process refused a command; str(e) is its reason."""


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
    def __init__(self, hello, reader, writer, counts=None):
        """counts: a Counter of (process label, result) its commands add
        to (the registry's, so they outlive a reconnection)."""
        self.role = hello["role"]
        self.id = hello["id"]
        self.pid = hello.get("pid")
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
        if not reply.get("ok"):
            raise CommandError(reply.get("error") or f"{cmd} failed")
        return reply.get("result", {})

    async def _exchange(self, cmd, args, timeout):
        """The reply line to one request line."""
        if self.closed:
            raise ConnectionLost(f"{self.name()} is gone: its connection "
                                 "closed")
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
            line = await self._reader.readline()
            if not line:
                break
            try:
                reply = json.loads(line)
                fut = self._pending.get(reply.get("id"))
            except (ValueError, AttributeError, TypeError, RecursionError):
                log.warning("%s sent a line that is not a reply: %r",
                            self.name(), line[:200])
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


def check_hello(msg, token=None):
    """Return the hello's body, or raise ValueError saying what is wrong."""
    if not isinstance(msg, dict) or not isinstance(msg.get("hello"), dict):
        raise ValueError("first line must be {\"hello\": {...}}")
    hello = msg["hello"]
    if token is not None:
        given = hello.get("token")
        if not isinstance(given, str) or not hmac.compare_digest(
                given.encode(), token.encode()):
            raise ValueError("wrong or missing token (set PATCHBAY_TOKEN "
                             "to the controller's)")
    if hello.get("role") not in ROLES:
        raise ValueError("hello.role must be one of " +
                         ", ".join(f'"{r}"' for r in ROLES))
    if not isinstance(hello.get("id"), int) or isinstance(hello["id"], bool):
        raise ValueError("hello.id must be an integer")
    if (hello["role"] == "primary") != (hello["id"] == 0):
        raise ValueError("the primary's id is 0 and only the primary's")
    return hello


class Registry:
    """Every connected process, by (role, id), and what each should run."""

    def __init__(self, token=None):
        self._procs = {}
        self.desired = {}
        self.commands = collections.Counter()   # (label, result) -> n
        # VMs and containers, as whoever started them (apply) said:
        # (kind, id) -> {"pid", "app", "ports"}
        self.guests = {}
        self.token = token       # processes must say it in their hello

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
        return result

    async def _restore(self, proc):
        """A process (re)connected: give it back what it should run, or, if
        it runs something already, learn that."""
        try:
            fwd = forwarder_status(proc.role, await proc.request("status"))
            if fwd is None:
                return
            running = Desired.from_status(fwd, proc.role)
            wanted = self.desired.get(proc.key)
            if wanted is None or wanted.empty() or not running.empty():
                self.desired[proc.key] = running
                return
            log.info("%s restarted: restoring %d ports, %d patches, %d "
                     "components, %d classifier entries", proc.name(),
                     len(wanted.ports), len(wanted.patches),
                     len(wanted.comps["components"]),
                     len(wanted.comps["classifier"]))
            for cmd, args in wanted.commands():
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

    async def serve(self, reader, writer):
        """Handle one process's connection, from hello to EOF."""
        peer = writer.get_extra_info("peername")
        try:
            first = await asyncio.wait_for(reader.readline(), 10)
            hello = check_hello(json.loads(first), self.token)
        except RecursionError:
            log.warning("refused %s: its hello is nested too deeply", peer)
            await _refuse(writer, "bad hello: nested too deeply")
            return
        except (ValueError, asyncio.TimeoutError, ConnectionError) as e:
            log.warning("refused %s: %s", peer, e or "no hello in time")
            await _refuse(writer, f"bad hello: {e}")
            return
        proc = Process(hello, reader, writer, self.commands)
        if proc.key in self._procs:
            log.warning("refused %s: %s is already connected", peer,
                        proc.name())
            await _refuse(writer, f"{proc.name()} is already connected")
            return
        self._procs[proc.key] = proc
        log.info("%s connected (pid %s on %s)", proc.name(), proc.pid,
                 proc.node)
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
