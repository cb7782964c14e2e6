"""The REST API, compatible with spp-ctl's v1 API (docs/rest.md).

HTTP/1.1 is aiohttp's: keep-alive, chunked bodies, Expect: 100-continue,
HEAD, percent-encoded paths. JSON bodies; errors are {"error": "..."} with
400 (the process refused, or the request is malformed) or 404 (no such
process or path).
"""

import asyncio
import collections
import hmac
import json
import logging
import re

from aiohttp import web

from . import config, cpus, live, metrics
from .procs import Busy, CommandError, NoSuchProcess

log = logging.getLogger("patchbay-ctl")

MAX_BODY = 1024 * 1024
MAX_CONNECTIONS = 256      # REST connections open at once
# Long-lived answers draw from pools of their own, smaller than that, so
# an ordinary request always finds a connection: live views here, and
# requests waiting on one process in procs.MAX_WAITING.
MAX_STREAMS = 64
IDLE_TIMEOUT = 15.0        # s a connection may stay quiet
BODY_TIMEOUT = 10.0        # s a request's body may take to arrive


class HttpError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _require(body, key, kind=str):
    if not isinstance(body, dict):
        raise HttpError(400, "request body must be a JSON object")
    if key not in body:
        raise HttpError(400, f"'{key}' is missing from the request body")
    if not isinstance(body[key], kind):
        names = " or ".join(k.__name__ for k in
                            (kind if isinstance(kind, tuple) else (kind,)))
        raise HttpError(400, f"'{key}' must be a {names}")
    return body[key]


def _int(body, key):
    """An integer, or its decimal digits as a string (SPP's CLI sends
    "101"; spp-ctl took both)."""
    value = _require(body, key, (int, str))
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise HttpError(400, f"'{key}' must be an integer, not {value!r}")
    return value


def _vlan(body):
    """A port's optional "vlan": {"operation", "id", "pcp"}, its numbers
    as integers."""
    vlan = body.get("vlan")
    if not isinstance(vlan, dict):
        return vlan             # the process says what is wrong with it
    vlan = dict(vlan)
    for key in ("id", "pcp"):
        if key in vlan:
            vlan[key] = _int(vlan, key)
    return vlan


def _port(body):
    """body's port; "phy:0 nq 1" (as SPP's status writes it) is phy:0nq1."""
    port = _require(body, "port")
    return re.sub(r" +nq +", "nq", port) if isinstance(port, str) else port


def _action(body, allowed):
    action = _require(body, "action")
    if action not in allowed:
        raise HttpError(400, "'action' must be " +
                        " or ".join(f'"{a}"' for a in allowed))
    return action


class Api:
    """Routes: (method, path regex) -> coroutine(match, body).

    The primary and the nfvs share the forwarding routes: under
    /v1/primary they reach the primary's own forwarder."""

    def __init__(self, registry, token=None):
        self.reg = registry
        self.token = token       # when set, every request must carry it
        self.answers = collections.Counter()    # status code -> requests
        self.streams = 0                        # live views open
        self.snapshots = live.SharedSnapshot()
        nfv = r"/v1/nfvs/(?P<id>\d+)"
        pri = r"/v1/(?P<pri>primary)"
        self.routes = [
            ("GET", r"/metrics", self.metrics),
            ("GET", r"/v1/processes", self.processes),
            ("GET", r"/v1/cpu_layout", self.cpu_layout),
            ("GET", r"/v1/cpu_usage", self.cpu_usage),
            ("GET", r"/v1/primary/status", self.status),
            ("DELETE", r"/v1/primary/status", self.primary_clear),
            ("DELETE", r"/v1/primary", self.exit),
            ("PUT", r"/v1/primary/launch", self.launch),
            ("GET", nfv, self.status),
            ("DELETE", nfv, self.exit),
        ]
        for kind in ("vfs", "mirrors"):
            base = rf"/v1/(?P<kind>{kind})/(?P<cid>\d+)"
            comp = base + r"/components/(?P<name>[^/]+)"
            self.routes += [
                ("GET", base, self.comp_status),
                ("DELETE", base, self.comp_exit),
                ("POST", base + r"/components", self.comp_start),
                ("DELETE", comp, self.comp_stop),
                ("PUT", comp + r"/ports", self.comp_ports),
            ]
        self.routes += [
            ("PUT", r"/v1/(?P<kind>vfs)/(?P<cid>\d+)/classifier_table",
             self.classifier_table),
            ("PUT", r"/v1/(?P<kind>mirrors)/(?P<cid>\d+)/components/"
             r"(?P<name>[^/]+)", self.mirror_copy),
        ]
        guest = r"/v1/guests/(?P<gkind>vms|containers)/(?P<gid>\d+)"
        self.routes += [
            ("GET", r"/v1/guests", self.guest_list),
            ("PUT", guest, self.guest_put),
            ("DELETE", guest, self.guest_delete),
        ]
        pcap = r"/v1/pcaps/(?P<pid>\d+)"
        self.routes += [
            ("GET", pcap, self.pcap_status),
            ("DELETE", pcap, self.pcap_exit),
            ("PUT", pcap + r"/capture", self.pcap_capture),
        ]
        for base in (nfv, pri):
            self.routes += [
                ("PUT", base + r"/forward", self.forward),
                ("PUT", base + r"/ports", self.ports),
                ("PUT", base + r"/patches", self.patch),
                ("DELETE", base + r"/patches", self.patch_reset),
                ("DELETE", base + r"/patches/(?P<src>[^/]+)", self.unpatch),
            ]

    @staticmethod
    def _target(match):
        if match.groupdict().get("id") is not None:
            return "nfv", int(match["id"])
        return "primary", 0

    async def _run(self, match, cmd, args=None):
        role, proc_id = self._target(match)
        return await self.reg.run(role, proc_id, cmd, args)

    async def processes(self, match, body):
        return 200, [p.describe() for p in self.reg.all()]

    async def metrics(self, match, body):
        return 200, await metrics.exposition(self.reg, self.answers)

    async def cpu_layout(self, match, body):
        return 200, cpus.layout()

    async def cpu_usage(self, match, body):
        """Each process's lcores; one that does not answer is left out,
        as spp-ctl leaves it out."""
        usage = []
        for proc in self.reg.all():
            try:
                status = await proc.request("status")
                usage.append(cpus.usage_entry(proc.role, proc.id, status))
            except (CommandError, KeyError, IndexError, TypeError) as e:
                log.warning("cpu_usage: %s: %s", proc.name(), e)
        return 200, usage

    async def status(self, match, body):
        return 200, await self._run(match, "status")

    async def primary_clear(self, match, body):
        await self._run(match, "clear")
        return 204, None

    async def exit(self, match, body):
        await self._run(match, "exit")
        return 204, None

    async def launch(self, match, body):
        if not isinstance(body, dict):
            raise HttpError(400, "request body must be a JSON object")
        app = body.get("app") or {}
        if not isinstance(app, dict):
            raise HttpError(400, "'app' must be an object of options")
        body = dict(body, app=dict(app, **{"-s": self._dial_back(
            app.get("-s"))}))
        client_id = str(body.get("client_id", ""))
        if client_id.isdigit():
            for proc in self.reg.all():
                if proc.role != "primary" and proc.id == int(client_id):
                    raise HttpError(400, f"{proc.name()} is already "
                                    "running")
        await self.reg.run("primary", 0, "launch", body)
        return 204, None

    def _dial_back(self, given):
        """The address a secondary the primary launches dials: this
        controller's, as the primary reaches it, whatever the caller
        thinks it is (a CLI may know it by another address); a -s that
        names another port is refused."""
        own = self.reg.secondary_address(self.reg.get("primary", 0))
        if given is not None and \
                str(given).rpartition(":")[2] != str(self.reg.sec_port):
            raise HttpError(400, f"app option -s {str(given)[:80]!r} is not "
                            f"this controller, whose secondaries dial "
                            f"{own}: leave -s out and it is added")
        return own

    async def forward(self, match, body):
        action = _action(body, ("start", "stop"))
        await self._run(match, "forward" if action == "start" else "stop")
        return 204, None

    async def ports(self, match, body):
        action = _action(body, ("add", "del"))
        _require(body, "port")
        args = {k: v for k, v in body.items() if k != "action"}
        await self._run(match, action, args)
        return 204, None

    async def patch(self, match, body):
        args = {"src": _require(body, "src"), "dst": _require(body, "dst")}
        await self._run(match, "patch", args)
        return 204, None

    async def patch_reset(self, match, body):
        await self._run(match, "patch_reset")
        return 204, None

    async def unpatch(self, match, body):
        await self._run(match, "unpatch", {"src": match["src"]})
        return 204, None

    # ---- vf and mirror: components (spp-ctl's /v1/vfs and /v1/mirrors) --

    async def _comp_run(self, match, cmd, args=None):
        role = {"vfs": "vf", "mirrors": "mirror"}[match["kind"]]
        return await self.reg.run(role, int(match["cid"]), cmd, args)

    async def comp_status(self, match, body):
        return 200, spp_info(await self._comp_run(match, "status"))

    async def comp_exit(self, match, body):
        await self._comp_run(match, "exit")
        return 204, None

    async def comp_start(self, match, body):
        args = {"name": _require(body, "name"),
                "core": _int(body, "core"),
                "type": _require(body, "type")}
        await self._comp_run(match, "component_start", args)
        return 204, None

    async def comp_stop(self, match, body):
        await self._comp_run(match, "component_stop", {"name": match["name"]})
        return 204, None

    async def comp_ports(self, match, body):
        action = _action(body, ("attach", "detach"))
        args = {k: v for k, v in body.items() if k != "action"}
        args.update(port=_port(body), dir=_require(body, "dir"),
                    name=match["name"])
        if action == "detach":
            args.pop("vlan", None)
            await self._comp_run(match, "port_del", args)
        else:
            if match["kind"] == "mirrors":
                args.pop("vlan", None)   # spp-ctl's mirrors take none
            elif "vlan" in args:
                args["vlan"] = _vlan(args)
            await self._comp_run(match, "port_add", args)
        return 204, None

    async def classifier_table(self, match, body):
        action = _action(body, ("add", "del"))
        args = {"type": _require(body, "type"),
                "mac": _require(body, "mac_address"),
                "port": _port(body)}
        if args["type"] == "vlan":
            args["vlan"] = _int(body, "vlan")
        await self._comp_run(match, "classifier_" + action, args)
        return 204, None

    async def mirror_copy(self, match, body):
        args = {"name": match["name"], "copy": _require(body, "copy")}
        await self._comp_run(match, "mirror_copy", args)
        return 204, None

    # ---- guests: VMs and containers, as apply started them --------------

    async def guest_list(self, match, body):
        return 200, self.reg.guest_list()

    @staticmethod
    def _guest_key(match):
        return match["gkind"][:-1], int(match["gid"])

    async def guest_put(self, match, body):
        if not isinstance(body, dict):
            raise HttpError(400, "request body must be a JSON object")
        unknown = set(body) - {"pid", "app", "ports"}
        if unknown:
            raise HttpError(400, f"unknown field '{sorted(unknown)[0]}' "
                            "(known: pid, app, ports)")
        pid, ports = body.get("pid"), body.get("ports", [])
        if isinstance(pid, bool) or not isinstance(pid, int) or pid < 1:
            raise HttpError(400, "'pid' must be a process id (a whole "
                            "number from 1)")
        if not isinstance(ports, list) or not all(
                isinstance(p, str) and config.PORT_RE.match(p)
                for p in ports):
            raise HttpError(400, "'ports' must be a list of port names "
                            "(type:N, e.g. vhost:0)")
        app = body.get("app", "")
        if not isinstance(app, str):
            raise HttpError(400, "'app' must be a string")
        self.reg.guests[self._guest_key(match)] = {
            "pid": pid, "app": app, "ports": ports}
        return 204, None

    async def guest_delete(self, match, body):
        key = self._guest_key(match)
        if self.reg.guests.pop(key, None) is None:
            raise HttpError(404, f"no {key[0]} {key[1]} is registered")
        return 204, None

    # ---- pcap (spp-ctl's /v1/pcaps) -------------------------------------

    async def _pcap_run(self, match, cmd):
        return await self.reg.run("pcap", int(match["pid"]), cmd)

    async def pcap_status(self, match, body):
        return 200, await self._pcap_run(match, "status")

    async def pcap_exit(self, match, body):
        await self._pcap_run(match, "exit")
        return 204, None

    async def pcap_capture(self, match, body):
        await self._pcap_run(match, _action(body, ("start", "stop")))
        return 204, None

    def check_token(self, headers):
        if self.token is None:
            return
        # a header's bytes arrive as text with the undecodable ones kept
        # as surrogates: any of them is a wrong token, never an error
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(errors="replace"), self.token.encode()):
            raise HttpError(401, "this controller needs its token: send "
                            "'Authorization: Bearer TOKEN' (the patchbay "
                            "shell sends $PATCHBAY_TOKEN)")

    async def dispatch(self, method, path, body):
        allowed = False
        for route_method, pattern, handler in self.routes:
            match = re.fullmatch(pattern, path)
            if match is None:
                continue
            allowed = True
            if route_method == method:
                return await handler(match, body)
        if allowed:
            raise HttpError(405, f"{method} is not allowed on {path}")
        raise HttpError(404, f"no such path: {path}")


def spp_info(status):
    """A vf's or mirror's status as spp-ctl's GET returns it (client-id,
    ports, master-lcore, components, classifier_table), with patchbay's
    counters beside."""
    info = {"client-id": status["client-id"], "ports": status["ports"],
            "master-lcore": status["master-lcore"],
            "components": status["core"]}
    if "classifier_table" in status:
        info["classifier_table"] = status["classifier_table"]
    for key in ("lcores", "stats", "links", "port_options", "tsc"):
        info[key] = status.get(key)
    return info


def _json_body(raw):
    """A request's body as JSON (None if empty). spp-ctl's clients send
    JSON without a Content-Type, so none is required."""
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as e:
        raise HttpError(400, f"request body is not valid JSON: {e}") \
            from None
    except RecursionError:
        raise HttpError(400, "request body is nested too deeply") from None


def _response(status, payload):
    if payload is None:
        return web.Response(status=status)
    if isinstance(payload, metrics.Exposition):
        return web.Response(status=status, body=payload.encode(),
                            headers={"Content-Type": metrics.CONTENT_TYPE})
    return web.Response(status=status, body=json.dumps(payload).encode(),
                        content_type="application/json")


async def _live(api, request):
    """The live view's stream, one of at most MAX_STREAMS: streams never
    end by themselves, so they must not take every connection."""
    if api.streams >= MAX_STREAMS:
        raise HttpError(503, f"{MAX_STREAMS} live views are open: close one "
                        "or try again later")
    api.streams += 1
    api.answers[200] += 1
    try:
        return await live.stream(api.reg, request, api.snapshots)
    finally:
        api.streams -= 1


async def handle(api, request):
    """One request, as aiohttp parsed it (chunked bodies, percent-encoded
    paths); HEAD is GET without a body."""
    if request.method in ("GET", "HEAD") and request.path in live.PAGES:
        return live.page(request.path)     # the view's files hold no data
    try:
        api.check_token(request.headers)
        if request.method == "GET" and request.path == "/v1/live":
            return await _live(api, request)
        if (request.content_length or 0) > MAX_BODY:
            # say so before the body comes, and read no more of it
            raise HttpError(413, "request body is larger than 1 MiB")
        if request.headers.get("Expect", "").lower() == "100-continue":
            # curl waits a second for this before it sends a body; the
            # low-level server leaves it to us (a router would send it)
            await request.writer.write(b"HTTP/%d.%d 100 Continue\r\n\r\n"
                                       % request.version)
        try:
            raw = await asyncio.wait_for(request.read(), BODY_TIMEOUT)
        except web.HTTPRequestEntityTooLarge:
            raise HttpError(413, "request body is larger than 1 MiB") \
                from None
        except asyncio.TimeoutError:
            raise HttpError(408, f"request body did not arrive in "
                            f"{BODY_TIMEOUT:g} s") from None
        method = "GET" if request.method == "HEAD" else request.method
        status, payload = await api.dispatch(method, request.path,
                                             _json_body(raw))
    except HttpError as e:
        status, payload = e.status, {"error": str(e)}
    except NoSuchProcess as e:
        status, payload = 404, {"error": str(e)}
    except Busy as e:
        status, payload = 503, {"error": str(e)}
    except CommandError as e:
        status, payload = 400, {"error": str(e)}
    except Exception:  # a bug of ours: answer 500 and keep serving others
        log.exception("REST request failed")
        status, payload = 500, {"error": "internal error"}
    api.answers[status] += 1
    response = _response(status, payload)
    if status in (408, 413):
        response.force_close()     # the rest of its body is not a request
    return response


class _Tracked(asyncio.Protocol):
    """aiohttp's protocol for one connection, its traffic noted for
    _Connections (aiohttp's class has __slots__: it is wrapped, not
    patched)."""

    def __init__(self, conns, inner):
        self.conns, self.inner = conns, inner
        self.transport = None

    def connection_made(self, transport):
        if not self.conns.admit(transport):
            transport.abort()       # every one is being answered
            return
        self.transport = transport
        self.inner.connection_made(transport)

    def data_received(self, data):
        self.conns.heard(self.transport)
        self.inner.data_received(data)

    def eof_received(self):
        # a client that has sent all it will (shutdown(SHUT_WR)) still gets
        # its answers: finish what is in hand, then close
        self.inner.close()
        return True

    def connection_lost(self, exc):
        if self.transport is not None:
            self.conns.forget(self.transport)
            self.inner.connection_lost(exc)

    def pause_writing(self):
        self.inner.pause_writing()

    def resume_writing(self):
        self.inner.resume_writing()


class _Connections:
    """The REST port's connections, bounded in number (a new one closes the
    one quiet longest), each closed once it has sent nothing for
    IDLE_TIMEOUT s and has no request being answered: half-sent requests
    and idle keep-alives cannot use up the process's file descriptors, nor
    keep new clients out (the processes' port must stay reachable)."""

    def __init__(self, limit, idle_timeout):
        self.limit, self.idle_timeout = limit, idle_timeout
        self.last_heard = {}       # transport -> loop time of its last bytes
        self.busy = {}             # transport -> requests being answered
        self.sweeper = asyncio.get_running_loop().create_task(self.sweep())

    def admit(self, transport):
        if len(self.last_heard) >= self.limit and not self.make_room():
            return False
        self.heard(transport)
        return True

    def heard(self, transport):
        self.last_heard[transport] = asyncio.get_running_loop().time()

    def forget(self, transport):
        self.last_heard.pop(transport, None)
        self.busy.pop(transport, None)

    def make_room(self):
        """Close the connection that has been quiet longest and is not
        being answered; False if there is none."""
        idle = [(heard, t) for t, heard in self.last_heard.items()
                if not self.busy.get(t)]
        if not idle:
            return False
        _, oldest = min(idle, key=lambda pair: pair[0])
        self.last_heard.pop(oldest, None)
        oldest.close()
        return True

    async def sweep(self):
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1)
            now = loop.time()
            for transport, heard in list(self.last_heard.items()):
                if now - heard > self.idle_timeout and \
                        not self.busy.get(transport):
                    transport.close()
                    self.last_heard.pop(transport, None)

    def answering(self, request, delta):
        t = request.transport
        if t is not None:
            self.busy[t] = self.busy.get(t, 0) + delta


async def serve_http(api, host, port, limit=MAX_CONNECTIONS,
                     idle_timeout=IDLE_TIMEOUT):
    """Start the REST API on host:port; returns the asyncio server."""
    conns = _Connections(limit, idle_timeout)

    async def handler(request):
        conns.answering(request, +1)
        try:
            return await handle(api, request)
        finally:
            conns.answering(request, -1)

    loop = asyncio.get_running_loop()

    def request(message, payload, protocol, writer, task):
        return web.BaseRequest(message, payload, protocol, writer, task,
                               loop, client_max_size=MAX_BODY)

    # not HTTP at all is answered 400 by aiohttp and logged here at debug
    # level only: a port scan must not fill the log with tracebacks
    server = web.Server(handler, request_factory=request,
                        keepalive_timeout=idle_timeout, lingering_time=0,
                        access_log=None, logger=log.getChild("http"))
    return await loop.create_server(lambda: _Tracked(conns, server()), host, port)
