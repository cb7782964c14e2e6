"""patchbay: the command shell. SPP's syntax, through patchbay-ctl's REST
API, interactively (readline editing, history, tab completion, help) or
from -c, -f or standard input. A failed command prints its reason and
makes the exit status 1."""

import argparse
import cmd
import json
import os
import re
import select
import signal
import sys
import time

from . import apply as applying
from . import add_version, config, spp, topo
from .client import Client, ClientError, NotRest

HISTORY = os.environ.get("PATCHBAY_HISTORY",
                         os.path.expanduser("~/.patchbay_history"))
NFV_CMDS = ["status", "add", "del", "patch", "unpatch", "forward", "stop",
            "exit"]
PRI_CMDS = ["status", "clear", "exit", "launch"] + NFV_CMDS[1:-1]
PORT_TYPES = ["phy", "ring", "vhost", "virtio", "pcap", "null", "tap",
              "memif", "shm", "af_packet"]


MAX_PLAYBACK_DEPTH = 16
CONTROL_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")   # tab is a space


class Shell(cmd.Cmd):
    prompt = "patchbay> "
    intro = "patchbay shell: 'help' lists the commands, Tab completes them."

    def __init__(self, clients, stdin=None, stdout=None):
        super().__init__(stdin=stdin, stdout=stdout)
        self.clients = clients
        self.current = 0
        self.failed = False
        self.recording = None
        self.where = None       # "FILE:LINE" while a script runs

    @property
    def client(self):
        return self.clients[self.current]

    def say(self, text=""):
        print(text, file=self.stdout, flush=True)

    def fail(self, msg):
        where = f"{self.where}: " if self.where else ""
        print(f"error: {where}{msg}", file=sys.stderr, flush=True)
        self.failed = True

    # ---- running lines ----------------------------------------------------

    def onecmd(self, line):
        line = line.strip()
        if not line or line.startswith("#"):
            return False
        control = CONTROL_CHAR.search(line)
        if control:
            self.fail(f"a control character (0x{ord(control.group()):02x}) "
                      f"at column {control.start() + 1}")
            return False
        failed_before, self.failed = self.failed, False
        try:
            stop = super().onecmd(line)
        except spp.SyntaxProblem as e:
            self.fail(str(e))
            stop = False
        except ClientError as e:
            self.fail(str(e))
            stop = False
        except OSError as e:
            if e.filename is not None:      # a file the command names
                self.fail(f"{e.filename}: {e.strerror}")
            elif isinstance(e, NotRest):
                self.fail(str(e))
            else:
                self.fail(f"cannot reach patchbay-ctl at {self.client}: {e}")
            stop = False
        if self.recording and not self.failed and \
                line.split()[0] not in ("record", "playback"):
            self.recording.write(line + "\n")
            self.recording.flush()
        self.failed = self.failed or failed_before
        return stop

    def emptyline(self):
        return False

    def default(self, line):
        self.fail(f"unknown command '{line}' (try 'help')")

    def rest(self, line):
        method, path, body = spp.parse(line)
        payload = self.client.ok(method, path, body)
        self.say(json.dumps(payload, indent=2) if payload is not None
                 else "ok")
        return payload

    # ---- SPP's commands ---------------------------------------------------

    def do_status(self, arg):
        """status: the processes connected to the controller."""
        self.rest("status" + (" " + arg if arg else ""))

    def do_pri(self, arg):
        """pri; status | clear | exit
        pri; launch nfv|vf|mirror|pcap N [EAL options] -- [its options]
            e.g. pri; launch nfv 2 -l 1 -m 512 -- -n 2 -s 127.0.0.1:6666
                 pri; launch pcap 4 -l 1,2 -- -n 4 -c phy:0 --out-dir /tmp
        pri; add PORT | del PORT | patch SRC DST | patch reset |
             unpatch SRC | forward | stop   (the primary's own forwarder)"""
        self.rest("pri" + arg)
        if arg.split()[1:2] == ["launch"]:
            body = spp.parse("pri" + arg)[2]
            self._wait_for_launch(body["proc_name"].replace("spp_", ""),
                                  body["client_id"])

    def _wait_for_launch(self, kind, client_id):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(p.get("client-id") == int(client_id)
                   for p in self.client.processes()):
                self.say(f"{kind} {client_id} is connected")
                return
            time.sleep(0.2)
        self.fail(f"{kind} {client_id} was started but did not connect in "
                  "30 s")

    def do_nfv(self, arg):
        """nfv N; status
        nfv N; add PORT [key=value ...]   e.g. nfv 1; add vhost:0 path=/tmp/vm0.sock
        nfv N; del PORT
        nfv N; patch SRC DST | patch reset | unpatch SRC
        nfv N; forward | stop | exit
        Ports: phy:N ring:N vhost:N virtio:N pcap:N null:N tap:N memif:N"""
        self.rest("nfv " + arg)

    do_sec = do_nfv

    def do_vf(self, arg):
        """vf N; status
        vf N; component start NAME CORE forward|merge|classifier
        vf N; component stop NAME
        vf N; port add PORT rx|tx NAME [add_vlantag VID PCP | del_vlantag]
        vf N; port del PORT rx|tx NAME
        vf N; classifier_table add|del mac MAC|default PORT
        vf N; classifier_table add|del vlan VID MAC|default PORT
        vf N; exit
            e.g. vf 2; component start cls1 3 classifier
                 vf 2; port add ring:0 rx cls1
                 vf 2; classifier_table add mac 52:54:00:12:34:56 ring:1"""
        self.rest("vf " + arg)

    def do_mirror(self, arg):
        """mirror N; status
        mirror N; component start NAME CORE mirror
        mirror N; component stop NAME
        mirror N; component copy NAME clone|deep   (by reference or bytes)
        mirror N; port add|del PORT rx|tx NAME   (tx: originals, then copies)
        mirror N; exit"""
        self.rest("mirror " + arg)

    def do_pcap(self, arg):
        """pcap N; status | start | stop | exit"""
        self.rest("pcap " + arg)

    def do_bye(self, arg):
        """bye sec N: end secondary N.  bye all: end every secondary, then
        the primary."""
        words = arg.split()
        kinds = {p.get("client-id"): p["type"]
                 for p in self.client.processes()}
        if words == ["all"]:
            for cid, kind in kinds.items():
                if kind != "primary":
                    self.rest(f"{kind} {cid}; exit")
            if "primary" in kinds.values():
                self.rest("pri; exit")
            return
        if len(words) == 2 and words[0] == "sec" and words[1].isdigit() \
                and kinds.get(int(words[1]), "nfv") != "nfv":
            self.rest(f"{kinds[int(words[1])]} {words[1]}; exit")
            return
        self.rest("bye " + arg)

    def do_record(self, arg):
        """record FILE: write every command that succeeds to FILE, until
        'record' alone stops it."""
        if self.recording:
            self.recording.close()
            self.recording = None
        if arg:
            self.recording = open(arg, "w")
            self.say(f"recording to {arg}")

    def do_playback(self, arg):
        """playback FILE: run the commands in FILE."""
        if not arg:
            raise spp.SyntaxProblem("usage: playback FILE")
        if self.where is not None and \
                self.where.count(" < ") >= MAX_PLAYBACK_DEPTH:
            raise spp.SyntaxProblem("playback nested too deeply (does a "
                                    "file play itself back?)")
        with open(arg, "rb") as f:
            return self.run_script(f.read(), arg, echo=True)

    def run_script(self, data, source, echo=False):
        """Run the lines of a script (bytes); a line that fails names
        source:line. True if a line ended the shell."""
        outer = self.where
        try:
            for number, raw in enumerate(data.splitlines(), 1):
                # where a nested playback runs: "inner:2 < outer:5"
                self.where = f"{source}:{number}" + \
                    (f" < {outer}" if outer else "")
                try:
                    line = raw.decode()
                except UnicodeDecodeError as e:
                    self.fail(f"not UTF-8 text (byte {e.start + 1})")
                    continue
                if echo and line.strip() and not line.startswith("#"):
                    self.say(f"{self.prompt}{line.rstrip()}")
                if self.onecmd(line):
                    return True
            return False
        finally:
            self.where = outer

    def do_server(self, arg):
        """server: list the controllers given with -b.  server N: talk to
        the Nth from now on."""
        if arg:
            if not arg.isdigit() or not 1 <= int(arg) <= len(self.clients):
                raise spp.SyntaxProblem(f"server takes 1 to {len(self.clients)}")
            self.current = int(arg) - 1
        for i, c in enumerate(self.clients):
            self.say(f"{'*' if i == self.current else ' '} {i + 1}: {c}")

    # ---- the panel, declared ----------------------------------------------

    def _node(self, path):
        if not path:
            raise spp.SyntaxProblem("usage: apply FILE | diff FILE")
        try:
            return applying.Node(config.load(path), self.client)
        except config.ConfigError as e:
            raise spp.SyntaxProblem(str(e)) from None

    def do_diff(self, arg):
        """diff FILE: what 'apply FILE' would do, without doing it."""
        steps, notes = applying.plan(self._node(arg.strip()))
        for note in notes:
            self.say(f"note: {note}")
        for step in steps:
            self.say(step.text)
        if not steps:
            self.say("nothing to do: the panel is as the file says")

    def do_apply(self, arg):
        """apply FILE: start what FILE declares and is not running, and
        change ports and patches to match it; only the difference. If a
        step fails, what this apply did is undone."""
        try:
            applying.apply(self._node(arg.strip()), self.stdout)
        except applying.ApplyError as e:
            self.fail(str(e))

    # ---- watching it --------------------------------------------------------

    def _counters(self):
        """({port: counters}, {component: counters}): ports of every
        process; each component's misses, floods and drops, each
        capture's packets and drops."""
        counts, parts = {}, {}
        for proc in self.client.processes():
            kind, cid = proc["type"], proc.get("client-id")
            if kind == "primary":
                st = self.client.ok("GET", "/v1/primary/status")
                counts.update((st.get("forwarder") or {}).get("stats", {}))
                continue
            st = self.client.ok("GET", f"/v1/{kind}s/{cid}")
            counts.update(st.get("stats") or {})
            for c in st.get("components", []):
                if "counters" in c:
                    parts[f"{kind} {cid} {c['name']}"] = c["counters"]
            if kind == "pcap":
                cap = st["capture"]
                parts[f"pcap {cid}"] = {
                    "captured": cap["packets"],
                    "capture_drops": cap["write_errors"] +
                    cap["tap_drops"] + cap["fifo_drops"]}
        return counts, parts

    @staticmethod
    def parts_table(prev, now, dt):
        """Components and captures: per second, what they count."""
        if not now:
            return ""
        keys = ("misses", "flooded", "vlan_drops", "copy_drops",
                "captured", "capture_drops")
        rows = [f"{'component':<18}" + "".join(f" {k:>13}" for k in keys)]
        for name in sorted(now):
            c, p = now[name], prev.get(name, now[name])
            rows.append(f"{name:<18}" + "".join(
                f" {(c[k] - p.get(k, 0)) / dt:>13,.0f}" if k in c else
                f" {'-':>13}" for k in keys))
        return "\n" + "\n".join(rows)

    @staticmethod
    def rates_table(prev, now, dt):
        head = (f"{'port':<10} {'rx pps':>12} {'rx Mbit/s':>10} "
                f"{'tx pps':>12} {'tx Mbit/s':>10} {'drops/s':>10}")
        rows = [head]
        for port in sorted(now):
            c, p = now[port], prev.get(port, now[port])

            def rate(key, scale=1.0):
                return (c.get(key, 0) - p.get(key, 0)) * scale / dt
            drops = rate("tx_drop") + rate("rx_drop")
            rows.append(f"{port:<10} {rate('rx'):>12,.0f} "
                        f"{rate('rx_bytes', 8e-6):>10,.1f} "
                        f"{rate('tx'):>12,.0f} "
                        f"{rate('tx_bytes', 8e-6):>10,.1f} {drops:>10,.0f}")
        return "\n".join(rows)

    def do_monitor(self, arg):
        """monitor [SECONDS]: per-port rx/tx packets and Mbit/s and drops
        per second, refreshed every second in place, until a key, Ctrl-C
        or SECONDS. Bytes are not counted on ring-to-ring patches."""
        try:
            refreshes = max(1, int(float(arg))) if arg.strip() else None
        except ValueError:
            raise spp.SyntaxProblem("usage: monitor [SECONDS]") from None
        tty = self.stdin.isatty() and self.stdout.isatty()
        restore = _cbreak(self.stdin) if tty else None
        try:
            prev, last, t0 = self._counters(), time.monotonic(), time.monotonic()
            while refreshes is None or refreshes > 0:
                refreshes = None if refreshes is None else refreshes - 1
                if tty and select.select([self.stdin], [], [], 1.0)[0]:
                    os.read(self.stdin.fileno(), 64)
                    break
                if not tty:
                    time.sleep(1.0)
                now, t = self._counters(), time.monotonic()
                table = self.rates_table(prev[0], now[0], t - last) + \
                    self.parts_table(prev[1], now[1], t - last)
                if tty:
                    self.stdout.write("\033[H\033[J")
                self.say(f"monitor {t - t0:5.1f} s"
                         f"{' (any key ends it)' if tty else ''}\n{table}")
                prev, last = now, t
        except KeyboardInterrupt:
            self.say("")
        finally:
            if restore:
                restore()

    def do_topo(self, arg):
        """topo: the chains as text.  topo dot: as DOT.
        topo FILE.svg | FILE.png | FILE.dot: drawn to a file (graphviz)."""
        edges = topo.patches(self.client)
        arg = arg.strip()
        if not arg or arg == "text":
            self.say(topo.to_text(edges))
        elif arg == "dot":
            self.say(topo.to_dot(edges).rstrip())
        else:
            try:
                topo.render(topo.to_dot(edges), arg)
            except ValueError as e:
                raise spp.SyntaxProblem(str(e)) from None
            self.say(f"wrote {arg}")

    def do_exit(self, arg):
        """exit: leave the shell (processes keep running)."""
        return True

    do_quit = do_exit

    def do_EOF(self, arg):
        self.say("")
        return True

    # ---- completion -------------------------------------------------------

    def _ports_of(self, nid):
        try:
            path = "/v1/primary/status" if nid == "pri" else f"/v1/nfvs/{nid}"
            st = self.client.ok("GET", path)
            st = st.get("forwarder", {}) if nid == "pri" else st
            return st.get("ports", [])
        except (ClientError, OSError):
            return []

    def _ids(self, kind="nfv"):
        try:
            return [str(p["client-id"]) for p in self.client.processes()
                    if p["type"] == kind]
        except (ClientError, OSError):
            return []

    def _complete_target(self, nid, words, text, cmds):
        """Words after 'nfv N;' or 'pri;'; words are those before text."""
        if not words:
            return [c for c in cmds if c.startswith(text)]
        sub = words[0]
        if sub == "add":
            candidates = [f"{t}:" for t in PORT_TYPES]
            candidates += [p for p in self._ports_of(nid)]
        elif sub in ("del", "patch", "unpatch"):
            candidates = self._ports_of(nid)
            if sub == "patch" and len(words) == 1:
                candidates = candidates + ["reset"]
        else:
            candidates = []
        return [c for c in candidates if c.startswith(text)]

    def complete_nfv(self, text, line, begidx, endidx):
        head, semi, tail = line[:begidx].partition(";")
        if not semi:
            return [f"{i};" for i in self._ids() if i.startswith(text)]
        nid = head.split()[1] if len(head.split()) > 1 else ""
        return self._complete_target(nid, tail.split(), text, NFV_CMDS)

    complete_sec = complete_nfv

    def _status_of(self, kind, nid):
        try:
            return self.client.ok("GET", f"/v1/{kind}s/{nid}")
        except (ClientError, OSError):
            return {}

    def _complete_components(self, kind, text, line, begidx):
        head, semi, tail = line[:begidx].partition(";")
        if not semi:
            return [f"{i};" for i in self._ids(kind) if i.startswith(text)]
        nid = head.split()[1] if len(head.split()) > 1 else ""
        words = tail.split()
        cmds = {"vf": ["status", "component", "port", "classifier_table",
                       "exit"],
                "mirror": ["status", "component", "port", "exit"],
                "pcap": ["status", "start", "stop", "exit"]}[kind]
        if not words:
            return [c for c in cmds if c.startswith(text)]
        st = self._status_of(kind, nid)
        comps = st.get("components", [])
        names = [c["name"] for c in comps if "name" in c]
        candidates = []
        n = len(words)
        if words[0] == "component":
            types = {"vf": ["forward", "merge", "classifier"],
                     "mirror": ["mirror"]}[kind]
            candidates = {1: ["start", "stop"] + (["copy"] if kind ==
                                                  "mirror" else []),
                          3: [str(c["core"]) for c in comps],
                          4: types}.get(n, [])
            if n == 2 and words[1] in ("stop", "copy"):
                candidates = names
            if n == 3 and words[1] == "copy":
                candidates = ["clone", "deep"]
        elif words[0] == "port":
            candidates = {1: ["add", "del"],
                          2: [f"{t}:" for t in PORT_TYPES] + st.get("ports",
                                                                  []),
                          3: ["rx", "tx"], 4: names,
                          5: ["add_vlantag", "del_vlantag"] if kind == "vf"
                          and words[1] == "add" else []}.get(n, [])
        elif words[0] == "classifier_table":
            candidates = {1: ["add", "del"], 2: ["mac", "vlan"]}.get(n, [])
            if n >= 3:
                candidates = ["default"] + st.get("ports", [])
        return [c for c in candidates if c.startswith(text)]

    def complete_vf(self, text, line, begidx, endidx):
        return self._complete_components("vf", text, line, begidx)

    def complete_mirror(self, text, line, begidx, endidx):
        return self._complete_components("mirror", text, line, begidx)

    def complete_pcap(self, text, line, begidx, endidx):
        return self._complete_components("pcap", text, line, begidx)

    def complete_pri(self, text, line, begidx, endidx):
        head, semi, tail = line[:begidx].partition(";")
        if not semi:
            return [";"]
        return self._complete_target("pri", tail.split(), text, PRI_CMDS)

    def complete_bye(self, text, line, begidx, endidx):
        words = line[:begidx].split()
        if len(words) == 1:
            return [w for w in ("sec", "all") if w.startswith(text)]
        return [i for i in self._ids() if i.startswith(text)]

    def completenames(self, text, *ignored):
        names = super().completenames(text, *ignored)
        return [n for n in names if n != "EOF"]


def _cbreak(stream):
    """Keys arrive one by one (for monitor's 'any key'); returns an undo."""
    import termios
    import tty
    fd = stream.fileno()
    old = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    return lambda: termios.tcsetattr(fd, termios.TCSADRAIN, old)


def _interactive(shell):
    # Ctrl-C must reach us even when started from somewhere that ignores
    # SIGINT (a background job of a script, whose children inherit that)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        import readline
    except ImportError:
        readline = None
    if readline:
        readline.set_completer_delims(" \t\n;")
        try:
            readline.read_history_file(HISTORY)
        except OSError:
            pass
    try:
        while True:
            try:
                shell.cmdloop()
                break
            except KeyboardInterrupt:
                shell.say("^C")
                shell.intro = None
    finally:
        if readline:
            try:
                readline.set_history_length(1000)
                readline.write_history_file(HISTORY)
            except OSError:
                pass


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="patchbay",
        description="patchbay shell: SPP's commands, plus apply/diff, "
                    "monitor and topo. Give COMMAND words to run one.")
    ap.add_argument("-b", "--bind-addr", action="append",
                    help="patchbay-ctl's REST address HOST:PORT (repeat to "
                         "drive several nodes; default 127.0.0.1:7777)")
    ap.add_argument("-c", "--command", action="append",
                    help="run a command and exit (repeat: each in turn)")
    ap.add_argument("-f", "--file", help="run the commands in FILE")
    ap.add_argument("--apply", metavar="FILE", help="apply FILE and exit")
    ap.add_argument("--diff", metavar="FILE", help="show what --apply "
                    "FILE would do and exit")
    ap.add_argument("words", nargs="*", help="a command, e.g. apply conf.yml")
    add_version(ap)
    args = ap.parse_args(argv)
    try:
        clients = [Client.parse(b) for b in args.bind_addr or
                   ["127.0.0.1:7777"]]
    except ValueError as e:
        ap.error(str(e))
    shell = Shell(clients)
    if args.command or args.words or args.apply or args.diff:
        lines = list(args.command or [])
        lines += [" ".join(args.words)] if args.words else []
        lines += [f"apply {args.apply}"] if args.apply else []
        lines += [f"diff {args.diff}"] if args.diff else []
        # in order; the first that fails ends the run, as in `sh -e`: the
        # next ones usually build on it
        for number, line in enumerate(lines, 1):
            shell.where = f"command {number}" if len(lines) > 1 else None
            if shell.onecmd(line) or shell.failed:
                break
    elif args.file is not None:
        try:
            with open(args.file, "rb") as f:
                script = f.read()
        except OSError as e:
            shell.fail(f"{args.file}: {e.strerror}")
            return 1
        shell.run_script(script, args.file)
    elif sys.stdin.isatty():
        _interactive(shell)
    else:
        shell.run_script(sys.stdin.buffer.read(), "stdin")
    return 1 if shell.failed else 0
