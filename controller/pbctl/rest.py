"""The REST API, compatible with spp-ctl's v1 API (docs/rest.md).

A small HTTP/1.1 server on asyncio streams: one request per connection
turn, JSON bodies, keep-alive. Errors are {"error": "..."} with 400 (the
process refused, or the request is malformed) or 404 (no such process or
path).
"""

import asyncio
import hmac
import json
import logging
import re

from .procs import CommandError, NoSuchProcess

log = logging.getLogger("patchbay-ctl")

MAX_BODY = 1024 * 1024
REASONS = {200: "OK", 204: "No Content", 400: "Bad Request",
           401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
           413: "Payload Too Large", 500: "Internal Server Error"}


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
        raise HttpError(400, f"'{key}' must be a {kind.__name__}")
    return body[key]


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
        nfv = r"/v1/nfvs/(?P<id>\d+)"
        pri = r"/v1/(?P<pri>primary)"
        self.routes = [
            ("GET", r"/v1/processes", self.processes),
            ("GET", r"/v1/primary/status", self.status),
            ("DELETE", r"/v1/primary/status", self.primary_clear),
            ("DELETE", r"/v1/primary", self.exit),
            ("PUT", r"/v1/primary/launch", self.launch),
            ("GET", nfv, self.status),
            ("DELETE", nfv, self.exit),
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
        client_id = str(body.get("client_id", ""))
        if client_id.isdigit():
            try:
                self.reg.get("nfv", int(client_id))
                raise HttpError(400, f"nfv {client_id} is already running")
            except NoSuchProcess:
                pass
        await self.reg.run("primary", 0, "launch", body)
        return 204, None

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

    def check_token(self, headers):
        if self.token is None:
            return
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self.token.encode()):
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


async def _read_request(reader):
    """(method, path, body, headers) of the next request, or None at EOF."""
    line = await reader.readline()
    if not line:
        return None
    try:
        method, target, _version = line.decode("ascii").split()
    except (UnicodeDecodeError, ValueError):
        raise HttpError(400, "malformed request line") from None
    headers = {}
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise HttpError(400, "bad Content-Length") from None
    if length < 0 or length > MAX_BODY:
        raise HttpError(413, "request body is larger than 1 MiB")
    raw = await reader.readexactly(length) if length else b""
    body = None
    if raw.strip():
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise HttpError(400, f"request body is not valid JSON: {e}") \
                from None
        except RecursionError:
            raise HttpError(400, "request body is nested too deeply") \
                from None
    path = target.split("?", 1)[0]
    return method, path, body, headers


def _response(status, payload):
    data = b"" if payload is None else json.dumps(payload).encode()
    head = [f"HTTP/1.1 {status} {REASONS.get(status, '')}",
            f"Content-Length: {len(data)}"]
    if data:
        head.append("Content-Type: application/json")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


async def serve_http(api, reader, writer):
    try:
        while True:
            try:
                req = await _read_request(reader)
                if req is None:
                    break
                method, path, body, headers = req
                api.check_token(headers)
                status, payload = await api.dispatch(method, path, body)
            except HttpError as e:
                status, payload = e.status, {"error": str(e)}
            except NoSuchProcess as e:
                status, payload = 404, {"error": str(e)}
            except CommandError as e:
                status, payload = 400, {"error": str(e)}
            writer.write(_response(status, payload))
            await writer.drain()
            if status == 413:
                break
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    except Exception:  # a bug of ours: answer 500 and keep serving others
        log.exception("REST request failed")
        try:
            writer.write(_response(500, {"error": "internal error"}))
        except ConnectionError:
            pass
    finally:
        writer.close()
