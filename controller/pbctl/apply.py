"""apply and diff: make the panel what conf.yml says, changing only the
difference.

plan() compares what runs (the processes' status, through the REST API)
with what the file asks for and returns the steps, each an SPP-syntax
line with what undoes it. apply() runs them in order; if one fails, the
steps this apply already made are undone in reverse, and the error says so.

Order: processes first (controller, primary, secondaries), then, across
all secondaries, patches and ports that go; ports that come (vhost before
virtio, which connects to a vhost socket); patches; forward/stop. So a
ring can move from one secondary to another in one apply.
"""

import os
import signal
import tempfile
import time

from . import components, config, guests, spp
from .launcher import Panel, PanelError, wait_gone
from .state import Desired

# Processes re-dial a controller every second.
REDIAL_WAIT = 1.5


class ApplyError(Exception):
    pass


class Step:
    """One change; part names what it changes ("nfv 1", "vm 2", ...)."""

    def __init__(self, text, run, undo=None, undo_text=None, part=None):
        self.text, self.run, self.undo = text, run, undo
        self.undo_text = undo_text
        self.part = part or " ".join(text.split(";")[0].split()[:2])

    def __repr__(self):
        return self.text


class Node:
    """The panel on this host: its REST client, and a starter for the
    processes conf.yml says how to start."""

    def __init__(self, conf, client):
        self.conf, self.client = conf, client
        ctl, pri = conf["controller"], conf["primary"]
        self.rundir = os.path.join(tempfile.gettempdir(),
                                   f"patchbay-{pri['file_prefix']}")
        self.starter = Panel(self.rundir, prefix=pri["file_prefix"],
                             ports=(ctl["pri_port"], ctl["sec_port"],
                                    client.port), detach=True)

    def cmd(self, line):
        method, path, body = spp.parse(line)
        return self.client.ok(method, path, body)

    def local(self):
        return self.client.host in ("127.0.0.1", "localhost", "::1")

    @property
    def pidfile(self):
        return os.path.join(self.rundir, "ctl.pid")

    def start_controller(self):
        self.starter.start_controller(self.conf["controller"]["bind"])
        guests.write_pidfile(self.pidfile, self.starter.procs['ctl'].pid)

    def controller_pid(self):
        return guests.read_pidfile(self.pidfile)

    def stop_controller(self):
        pid = self.controller_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            wait_gone([pid])
        if os.path.exists(self.pidfile):
            os.unlink(self.pidfile)

    def start_primary(self):
        pri = self.conf["primary"]
        self.starter.start_primary(vdevs=pri["vdevs"],
                                   portmask=pri["portmask"],
                                   rings=pri["rings"], lcores=pri["lcores"],
                                   mem=pri["memory"], no_pci=pri["no_pci"],
                                   huge_dir=pri["huge_dir"],
                                   queues=pri["queues"])

    def launch(self, sec, capture=None):
        """Start a secondary (a pcap with capture's options, or the
        file's)."""
        ctl = self.conf["controller"]
        app = {"-n": str(sec["id"]),
               "-s": f"{ctl['bind']}:{ctl['sec_port']}"}
        if sec["vhost_client"]:
            app["--vhost-client"] = ""
        if sec["type"] == "pcap":
            app.update(components.capture_app_options(
                capture or components.capture_wanted(sec)))
        self.client.ok("PUT", "/v1/primary/launch",
                       {"proc_name": sec["type"], "client_id": str(sec["id"]),
                        "eal": {"--lcores": sec["lcores"]}, "app": app})
        self.starter.wait_process(sec["type"], sec["id"])

    def end(self, kind, sid):
        """Stop a secondary and wait until it is gone: it holds its client
        id until its process ends."""
        pids = [p["pid"] for p in self.client.processes()
                if p["type"] == kind and p.get("client-id") == sid]
        self.client.ok("DELETE", f"/v1/{kind}s/{sid}")
        if self.local():
            wait_gone(pids)


def _port_line(nfv, port, opts):
    words = " ".join(f"{k}={_word(v)}" for k, v in opts.items())
    return f"nfv {nfv}; add {port} {words}".strip()


def _word(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Request:
    """One REST request of a step, carried as it is sent (never printed
    and parsed back), and the SPP line that tells people what it does."""

    def __init__(self, text, method, path, body=None):
        self.text, self.method, self.path, self.body = text, method, path, body

    def send(self, client):
        return client.ok(self.method, self.path, self.body)


def _add(nfv, port, opts):
    return Request(_port_line(nfv, port, opts), "PUT", f"/v1/nfvs/{nfv}/ports",
                   {"action": "add", "port": port, **opts})


def _del(nfv, port):
    return Request(f"nfv {nfv}; del {port}", "PUT", f"/v1/nfvs/{nfv}/ports",
                   {"action": "del", "port": port})


def _patch(nfv, src, dst):
    return Request(f"nfv {nfv}; patch {src} {dst}", "PUT",
                   f"/v1/nfvs/{nfv}/patches", {"src": src, "dst": dst})


def _unpatch(nfv, src):
    return Request(f"nfv {nfv}; unpatch {src}", "DELETE",
                   f"/v1/nfvs/{nfv}/patches/{src}")


def _forward(nfv, on):
    return Request(f"nfv {nfv}; {'forward' if on else 'stop'}", "PUT",
                   f"/v1/nfvs/{nfv}/forward",
                   {"action": "start" if on else "stop"})


def _request_step(node, do, undo=None):
    return Step(do.text, lambda: do.send(node.client),
                (lambda: undo.send(node.client)) if undo else None,
                undo.text if undo else None)


def _true(value):
    return value is True or str(value).lower() in ("true", "1", "yes")


def _socket_end(port, opts, vhost_client):
    """(path, "server" or "client") of a port that meets its peer on a
    unix socket (vhost and virtio, memif), else None. A client needs its
    server: it is added after it and removed before it."""
    kind, index = port.split(":")
    if kind == "vhost":
        client = _true(opts.get("client", vhost_client))
        return opts.get("path", f"/tmp/sock{index}"), \
            "client" if client else "server"
    if kind == "virtio":
        return opts.get("path", f"/tmp/sock{index}"), \
            "server" if _true(opts.get("server")) else "client"
    if kind == "memif":
        return opts.get("socket", f"/tmp/memif{index}.sock"), \
            opts.get("role", "server")
    return None


def _process_steps(node, running):
    steps = []
    conf = node.conf
    if not running.get("controller"):
        if not node.local():
            raise ApplyError(f"no patchbay-ctl answers at {node.client}, "
                             "and processes are started only on this host")
        steps.append(Step(f"start patchbay-ctl on {node.client}",
                          node.start_controller, node.stop_controller,
                          "stop patchbay-ctl", part="controller"))
    if not running.get("primary"):
        steps.append(Step("start patchbay-primary", node.start_primary,
                          lambda: node.cmd("pri; exit"), "pri; exit",
                          part="primary"))
    for sec in conf["secondaries"]:
        kind, sid = sec["type"], sec["id"]
        have = running["types"].get(sid)
        part = f"{kind} {sid}"
        old = running["captures"].get(sid)
        if have == kind and (kind != "pcap" or _capture_options(old) ==
                             _capture_options(components.capture_wanted(sec))):
            continue
        if have is not None:       # another type, or other capture options
            why = f"it is to be a {kind}" if have != kind else \
                "its capture options change"
            relaunch = None
            if have == kind:
                relaunch = lambda sec=sec, old=old: node.launch(sec, old)
            steps.append(Step(f"{have} {sid}; exit ({why})",
                              lambda have=have, sid=sid: node.end(have, sid),
                              relaunch, f"pri; launch {kind} {sid} (as it "
                              "was)" if relaunch else None, part=part))
        steps.append(Step(
            f"pri; launch {kind} {sid} --lcores {sec['lcores']}",
            lambda sec=sec: node.launch(sec),
            lambda kind=kind, sid=sid: node.end(kind, sid),
            f"{kind} {sid}; exit", part=part))
    return steps


def _capture_options(cap):
    return {k: v for k, v in cap.items() if k != "running"}


def _component_steps(node, running):
    """vf and mirror components, pcap start/stop."""
    steps = []
    for sec in node.conf["secondaries"]:
        kind, sid = sec["type"], sec["id"]
        if running["types"].get(sid) != kind:
            continue          # started in this apply: planned next round
        if kind in ("vf", "mirror"):
            for do, undo in components.steps(
                    Request, kind, sid, running["comps"][sid],
                    components.wanted(sec)):
                steps.append(_request_step(node, do, undo))
        elif kind == "pcap":
            want = sec["capture"]["running"]
            if running["captures"][sid]["running"] != want:
                do, undo = (("start", "stop") if want else ("stop", "start"))
                steps.append(_request_step(
                    node, Request(f"pcap {sid}; {do}", "PUT",
                                  f"/v1/pcaps/{sid}/capture",
                                  {"action": do}),
                    Request(f"pcap {sid}; {undo}", "PUT",
                            f"/v1/pcaps/{sid}/capture", {"action": undo})))
    return steps


def _forwarder_steps(node, current, wanted):
    """Steps, phase by phase, for every secondary at once: unpatch, delete
    (clients of a socket before its server), add (servers first), patch,
    forward/stop. A client whose server is made again is made again too:
    it would not find the new one by itself."""
    vhost_client = {s["id"]: s["vhost_client"]
                    for s in node.conf["secondaries"]}
    have = {nfv: current.get(nfv, Desired()) for nfv in wanted}

    def end(nfv, port, opts):
        return _socket_end(port, opts, vhost_client.get(nfv, False))

    deleted = {nfv: [p for p, o in have[nfv].ports.items()
                     if wanted[nfv].ports.get(p) != o] for nfv in wanted}
    remade = set()          # socket paths whose server is made again
    for nfv, ports in deleted.items():
        for port in ports:
            path, role = end(nfv, port, have[nfv].ports[port]) or ("", "")
            if role == "server":
                remade.add(path)
    for nfv, ports in deleted.items():
        for port, opts in have[nfv].ports.items():
            if port not in ports and end(nfv, port, opts) in \
                    {(path, "client") for path in remade}:
                ports.append(port)

    def order(nfv, port, opts, first):
        role = (end(nfv, port, opts) or ("", ""))[1]
        return 0 if role == first else 2 if role else 1

    unpatches, dels, adds, patches, toggles = [], [], [], [], []
    for nfv, want in sorted(wanted.items()):
        had = have[nfv]
        unpatched = set()
        for src, dst in had.patches.items():
            if src not in want.patches or {src, dst} & set(deleted[nfv]):
                unpatches.append(_request_step(node, _unpatch(nfv, src),
                                               _patch(nfv, src, dst)))
                unpatched.add(src)
        for port in deleted[nfv]:
            dels.append((order(nfv, port, had.ports[port], "client"),
                         _request_step(node, _del(nfv, port),
                                       _add(nfv, port, had.ports[port]))))
        for port, opts in want.ports.items():
            if had.ports.get(port) != opts or port in deleted[nfv]:
                adds.append((order(nfv, port, opts, "server"),
                             _request_step(node, _add(nfv, port, opts),
                                           _del(nfv, port))))
        for src, dst in want.patches.items():
            old = had.patches.get(src)
            if old == dst and src not in unpatched:
                continue
            undo = _patch(nfv, src, old) if old and src not in unpatched \
                else _unpatch(nfv, src)
            patches.append(_request_step(node, _patch(nfv, src, dst), undo))
        if want.forwarding != had.forwarding:
            toggles.append(_request_step(node, _forward(nfv, want.forwarding),
                                         _forward(nfv, had.forwarding)))
    by_order = lambda pairs: [step for _, step in  # noqa: E731
                              sorted(pairs, key=lambda pair: pair[0])]
    return unpatches + by_order(dels) + by_order(adds) + patches + toggles


def running_state(node):
    """What runs now: controller up?, primary up?, {nfv id: Desired}."""
    state = {"controller": node.client.reachable(), "primary": False,
             "nfvs": {}, "comps": {}, "captures": {}, "types": {},
             "others": []}
    if not state["controller"]:
        return state
    declared = {s["id"] for s in node.conf["secondaries"]}
    declared |= set(config.guest_nfvs(node.conf))
    for proc in node.client.processes():
        kind, sid = proc["type"], proc.get("client-id")
        if kind == "primary":
            state["primary"] = True
            continue
        if sid not in declared:
            state["others"].append(f"{kind} {sid}")
            continue
        state["types"][sid] = kind
        status = node.client.ok("GET", f"/v1/{kind}s/{sid}")
        if kind == "nfv":
            state["nfvs"][sid] = Desired.from_status(status)
        elif kind == "pcap":
            state["captures"][sid] = components.capture_from_status(status)
        else:
            state["comps"][sid] = components.from_status(status)
    return state


def _guest_steps(node):
    """Start the VMs and containers that are not running: after the host's
    ports, so their vhost sockets and shm regions exist."""
    steps = []
    for kind, gid, spec, start, stop, pid_of in guests.specs(node.conf,
                                                              node.rundir):
        if pid_of(spec) is not None:
            continue

        def run(spec=spec, start=start):
            try:
                start(spec)
            except (guests.qemu.VmError, guests.container.ContainerError) \
                    as e:
                raise PanelError(str(e)) from None
            if getattr(spec, "app", None) == "nfv":
                node.starter.wait_process("nfv", spec.secondary, 120)
        steps.append(Step(f"start {kind} {gid}", run,
                          lambda spec=spec, stop=stop: stop(spec),
                          f"stop {kind} {gid}", part=f"{kind} {gid}"))
    return steps


def _with_guest_options(conf, wanted):
    """Guest-side shm ports find their region by PCI address."""
    for nid, vm in config.guest_nfvs(conf).items():
        for port, opts in wanted[nid].ports.items():
            if not opts:
                wanted[nid].ports[port] = guests.guest_port_options(vm, port)
    return wanted


# The phases of a plan. Each starts from what runs once the one before is
# done: a process that starts may get its old state back from the
# controller, so its wiring is planned only after it runs.
PHASES = ("processes", "host wiring", "guests", "guest wiring")


def _phased(phase, steps):
    for step in steps:
        step.phase = phase
    return steps


def plan(node):
    """(steps, notes) that make the panel match node.conf."""
    running = running_state(node)
    wanted = _with_guest_options(node.conf,
                                 config.desired_forwarders(node.conf))
    in_guests = set(config.guest_nfvs(node.conf))
    on_host = {n: d for n, d in wanted.items() if n not in in_guests}
    steps = _phased(0, _process_steps(node, running))
    steps += _phased(1, _forwarder_steps(node, running["nfvs"], on_host))
    steps += _phased(1, _component_steps(node, running))
    steps += _phased(2, _guest_steps(node))
    steps += _phased(3, _forwarder_steps(node, running["nfvs"],
                                         {n: d for n, d in wanted.items()
                                          if n in in_guests}))
    notes = [f"{o} runs but is not in the file: left as it is"
             for o in running["others"]]
    return steps, notes


def apply(node, out, parts=None):
    """Run the plan (only the steps of parts, if given, with the controller
    and primary they need); on a failure undo what this apply did, then
    raise."""
    if parts is not None:
        parts = set(parts) | {"controller", "primary"}
    done, phase = [], 0
    while phase < len(PHASES):
        steps, notes = plan(node)
        if not done:
            for note in notes:
                print(f"note: {note}", file=out)
        todo = [s for s in steps if s.phase == phase and
                (parts is None or s.part in parts)]
        if phase == 0 and todo:
            # one process at a time: a controller that starts learns of
            # processes that still run, which then need no starting
            todo = todo[:1]
        else:
            phase += 1
        for step in todo:
            print(step.text, file=out, flush=True)
            try:
                step.run()
            except Exception as e:  # any failure: undo, then say why
                undone = _roll_back(done, out)
                raise ApplyError(f"'{step.text}' failed: {e}. {undone}") \
                    from None
            done.append(step)
            if step.part == "controller":
                time.sleep(REDIAL_WAIT)
    if not done:
        print("nothing to do: the panel is as the file says", file=out)
    register_guests(node)
    return done


def register_guests(node):
    """Tell the controller which VMs and containers run (their pids and
    ports), for the live view: it starts none of them, so it knows them
    only from here."""
    declared = {("vm", g["id"]): g for g in node.conf["vms"]}
    declared.update({("container", g["id"]): g
                     for g in node.conf["containers"]})
    for kind, gid, spec, _, _, pid_of in guests.specs(node.conf,
                                                       node.rundir):
        pid = pid_of(spec)
        if pid is not None:
            guest = declared[(kind, gid)]
            node.client.ok("PUT", f"/v1/guests/{kind}s/{gid}", {
                "pid": pid, "ports": guest["ports"], "app": guest["app"]})


def forget_guest(client, kind, gid):
    """Take a guest stopped on purpose off the controller's list."""
    if client.reachable():
        client.call("DELETE", f"/v1/guests/{kind}s/{gid}")


def _roll_back(done, out):
    failed = []
    for step in reversed(done):
        if step.undo is None:
            continue
        print(f"undo: {step.undo_text}", file=out, flush=True)
        try:
            step.undo()
        except Exception as e:  # keep undoing the rest
            failed.append(f"'{step.undo_text}' ({e})")
    if failed:
        return ("Rolled back, except: " + "; ".join(failed) +
                " — the panel is partly changed")
    return f"Rolled back the {len(done)} steps made before it; nothing changed."
