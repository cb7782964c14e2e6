"""The live view: a page the controller serves (GET /) that draws the
panel and updates it every second from GET /v1/live, a stream of
server-sent events.

Each event is one snapshot: every process seen (up, or gone: red), its
ports' counters and links, the VMs and containers apply registered (with
the links of their ports), the chains (pbctl.topo's text and edges). The
page turns successive counters into rates itself. The page, its script
and its style are files of this package (ui/), served as they are: no
build step, nothing fetched from elsewhere.
"""

import asyncio
import json
import os
import time

from aiohttp import web

from . import metrics, topo
from .procs import process_name

UI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ui")
PAGES = {"/": ("index.html", "text/html"),
         "/ui/live.js": ("live.js", "text/javascript"),
         "/ui/live.css": ("live.css", "text/css")}
PERIOD = 1.0          # s between snapshots
STATUS_TIMEOUT = 0.8  # a process slower than this shows as not answering


def page(path):
    """One of the view's files (no data in them: no token needed)."""
    name, content_type = PAGES[path]
    with open(os.path.join(UI, name), "rb") as f:
        return web.Response(body=f.read(), content_type=content_type,
                            charset="utf-8",
                            headers={"Cache-Control": "no-cache"})


def _rest_shape(role, status):
    """A vf's or mirror's status names its components "core"; the REST
    API and topo call them "components"."""
    if role in ("vf", "mirror") and "core" in status:
        status = dict(status, components=status["core"])
    return status


def _ports(status):
    links = status.get("links") or {}
    return {uid: {"rx": c.get("rx", 0), "tx": c.get("tx", 0),
                  "rx_drop": c.get("rx_drop", 0),
                  "tx_drop": c.get("tx_drop", 0),
                  "rx_bytes": c.get("rx_bytes", 0),
                  "tx_bytes": c.get("tx_bytes", 0),
                  "link": links.get(uid, "")}
            for uid, c in sorted(metrics.status_ports(status).items())}


async def snapshot(registry):
    processes, edges = [], []
    for proc, status in await registry.statuses(STATUS_TIMEOUT):
        about = {"name": proc.name(), "role": proc.role, "id": proc.id,
                 "pid": proc.pid, "node": proc.node,
                 "state": "up" if status is not None else "silent"}
        if status is not None:
            status = _rest_shape(proc.role, status)
            about["ports"] = _ports(status)
            about["lcores"] = status.get("lcores", [])
            about["components"] = [
                {"name": c.get("name"), "type": c.get("type"),
                 "counters": c.get("counters", {})}
                for c in status.get("components", []) if "name" in c]
            try:
                edges += topo.edges(proc.role, proc.name(), status)
            except (KeyError, TypeError, AttributeError):
                pass          # a status we cannot read draws no edge
        processes.append(about)
    for role, proc_id in registry.gone():
        processes.append({"name": process_name(role, proc_id), "role": role,
                          "id": proc_id, "state": "gone"})
    processes.sort(key=lambda p: (p["role"] != "primary", p["role"],
                                  p["id"]))
    return {"time": time.monotonic(), "processes": processes,
            "guests": _guests(registry, processes),
            "edges": edges, "chains": topo.to_text(edges)}


def _guests(registry, processes):
    """The VMs and containers apply registered, each port with the link
    the host's side of it reports (up while the guest holds it)."""
    links = {}
    for proc in processes:
        for uid, port in (proc.get("ports") or {}).items():
            if port["link"]:
                links.setdefault(uid, port["link"])
    guests = registry.guest_list()
    for guest in guests:
        guest["name"] = f"{guest['kind']} {guest['id']}"
        guest["links"] = {uid: links.get(uid, "") for uid in guest["ports"]}
    return guests


class SharedSnapshot:
    """One snapshot for every open view: each second's statuses are asked
    once, however many browsers watch."""

    def __init__(self):
        self.task, self.taken = None, 0.0

    async def get(self, registry):
        now = time.monotonic()
        if self.task is None or (self.task.done() and
                                 now - self.taken >= PERIOD / 2):
            self.taken = now
            self.task = asyncio.ensure_future(snapshot(registry))
        return await asyncio.shield(self.task)


async def stream(registry, request, shared):
    """Server-sent events, a snapshot a second, until the browser goes."""
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    try:
        while True:
            started = time.monotonic()
            data = json.dumps(await shared.get(registry),
                              separators=(",", ":"))
            await response.write(f"data: {data}\n\n".encode())
            await asyncio.sleep(max(0.0, PERIOD - (time.monotonic() -
                                                   started)))
    except ConnectionError:
        pass          # the browser went away
    return response
