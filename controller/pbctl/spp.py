"""SPP's command syntax, turned into REST calls.

    status                      GET    /v1/processes
    pri; status                 GET    /v1/primary/status
    pri; clear                  DELETE /v1/primary/status
    pri; exit                   DELETE /v1/primary
    pri; launch nfv|vf|mirror|pcap N EAL.. -- APP..   PUT /v1/primary/launch
    pri; add|del|patch|unpatch|forward|stop ...   the primary's forwarder
    nfv N; status               GET    /v1/nfvs/N
    nfv N; add PORT [k=v ...]   PUT    /v1/nfvs/N/ports   {"action": "add", ...}
    nfv N; del PORT             PUT    /v1/nfvs/N/ports   {"action": "del", ...}
    nfv N; patch SRC DST        PUT    /v1/nfvs/N/patches {"src", "dst"}
    nfv N; patch reset          DELETE /v1/nfvs/N/patches
    nfv N; unpatch SRC          DELETE /v1/nfvs/N/patches/SRC
    nfv N; forward | stop       PUT    /v1/nfvs/N/forward {"action": ...}
    nfv N; exit                 DELETE /v1/nfvs/N
    bye sec N                   DELETE /v1/nfvs/N

    vf N; status                GET    /v1/vfs/N
    vf N; component start NAME CORE TYPE   POST /v1/vfs/N/components
    vf N; component stop NAME   DELETE /v1/vfs/N/components/NAME
    vf N; port add PORT [nq Q] rx|tx NAME [add_vlantag VID PCP | del_vlantag]
                                PUT    /v1/vfs/N/components/NAME/ports
    vf N; port del PORT [nq Q] rx|tx NAME   (the same, "detach")
    vf N; classifier_table add|del mac MAC|default PORT
    vf N; classifier_table add|del vlan VID MAC|default PORT
                                PUT    /v1/vfs/N/classifier_table
    vf N; exit                  DELETE /v1/vfs/N
    mirror N; ...               /v1/mirrors/N: status, component, port,
                                exit as vf's; and patchbay's
    mirror N; component copy NAME clone|deep
                                PUT    /v1/mirrors/N/components/NAME
    pcap N; status              GET    /v1/pcaps/N
    pcap N; start | stop        PUT    /v1/pcaps/N/capture {"action": ...}
    pcap N; exit                DELETE /v1/pcaps/N
"""


class SyntaxProblem(Exception):
    pass


def _option_value(text):
    if text in ("true", "false"):
        return text == "true"
    if text.isdigit():
        return int(text)
    return text


def _options(words):
    opts = {}
    for w in words:
        key, eq, value = w.partition("=")
        if not eq or not key:
            raise SyntaxProblem(f"option '{w}' must be written key=value")
        opts[key] = _option_value(value)
    return opts


def _expect(words, n, usage):
    if len(words) != n:
        raise SyntaxProblem(f"usage: {usage}")


def _options_argv(words):
    """SPP's "-l 1 -m 512 --no-pci" as {"-l": "1", "-m": "512",
    "--no-pci": ""}: a value-less flag is an empty string."""
    opts, i = {}, 0
    while i < len(words):
        key = words[i]
        if not key.startswith("-"):
            raise SyntaxProblem(f"'{key}' is not an option (-x or --xyz)")
        if i + 1 < len(words) and not words[i + 1].startswith("-"):
            opts[key], i = words[i + 1], i + 2
        else:
            opts[key], i = "", i + 1
    return opts


def _launch(words):
    usage = ("usage: pri; launch nfv|vf|mirror|pcap N [EAL options] -- "
             "[its options]")
    kinds = ("nfv", "vf", "mirror", "pcap")
    if len(words) < 2 or words[0].replace("spp_", "") not in kinds \
            or not words[1].isdigit():
        raise SyntaxProblem(usage)
    rest = words[2:]
    cut = rest.index("--") if "--" in rest else len(rest)
    return "PUT", "/v1/primary/launch", {
        "proc_name": words[0], "client_id": words[1],
        "eal": _options_argv(rest[:cut]), "app": _options_argv(rest[cut + 1:])}


def _nfv(nid, words):
    base = f"/v1/nfvs/{nid}"
    if not words:
        raise SyntaxProblem(f"nfv {nid}: which command? (status, add, del, "
                            "patch, unpatch, forward, stop, exit)")
    cmd, rest = words[0], words[1:]
    if cmd == "status":
        _expect(rest, 0, "nfv N; status")
        return "GET", base, None
    if cmd in ("add", "del"):
        if not rest:
            raise SyntaxProblem(f"usage: nfv N; {cmd} PORT"
                                + (" [key=value ...]" if cmd == "add" else ""))
        if cmd == "del":
            _expect(rest, 1, "nfv N; del PORT")
        body = {"action": cmd, "port": rest[0], **_options(rest[1:])}
        return "PUT", base + "/ports", body
    if cmd == "patch":
        if rest == ["reset"]:
            return "DELETE", base + "/patches", None
        _expect(rest, 2, "nfv N; patch SRC DST  |  nfv N; patch reset")
        return "PUT", base + "/patches", {"src": rest[0], "dst": rest[1]}
    if cmd == "unpatch":
        _expect(rest, 1, "nfv N; unpatch SRC")
        return "DELETE", f"{base}/patches/{rest[0]}", None
    if cmd in ("forward", "stop"):
        _expect(rest, 0, f"nfv N; {cmd}")
        return "PUT", base + "/forward", {
            "action": "start" if cmd == "forward" else "stop"}
    if cmd == "exit":
        _expect(rest, 0, "nfv N; exit")
        return "DELETE", base, None
    raise SyntaxProblem(f"unknown nfv command '{cmd}'")


def _pri(words):
    table = {"status": ("GET", "/v1/primary/status"),
             "clear": ("DELETE", "/v1/primary/status"),
             "exit": ("DELETE", "/v1/primary")}
    if words and words[0] == "launch":
        return _launch(words[1:])
    if words and words[0] in ("add", "del", "patch", "unpatch", "forward",
                              "stop"):
        method, path, body = _nfv(0, words)
        return method, path.replace("/v1/nfvs/0", "/v1/primary"), body
    if len(words) != 1 or words[0] not in table:
        raise SyntaxProblem("usage: pri; status | clear | exit | launch ... "
                            "| add | del | patch | unpatch | forward | stop")
    method, path = table[words[0]]
    return method, path, None


def _port_words(words, usage):
    """SPP's "PORT [nq Q]" at the front of words: "phy:0nq1" on the wire
    (spp-ctl's form), and the words after it."""
    if not words:
        raise SyntaxProblem(usage)
    if len(words) >= 3 and words[1] == "nq":
        if not words[2].isdigit():
            raise SyntaxProblem(f"nq takes a queue number, not '{words[2]}'")
        return f"{words[0]}nq{words[2]}", words[3:]
    return words[0], words[1:]


def _component(base, kind, words):
    usage = (f"usage: {kind} N; component start NAME CORE TYPE | "
             f"component stop NAME" +
             (" | component copy NAME clone|deep" if kind == "mirror" else ""))
    if not words:
        raise SyntaxProblem(usage)
    if words[0] == "start":
        _expect(words, 4, usage)
        if not words[2].isdigit():
            raise SyntaxProblem(f"CORE is an lcore id (a number), not "
                                f"'{words[2]}'")
        return "POST", base + "/components", {
            "name": words[1], "core": int(words[2]), "type": words[3]}
    if words[0] == "stop":
        _expect(words, 2, usage)
        return "DELETE", f"{base}/components/{words[1]}", None
    if words[0] == "copy" and kind == "mirror":
        _expect(words, 3, usage)
        return "PUT", f"{base}/components/{words[1]}", {"copy": words[2]}
    raise SyntaxProblem(usage)


def _port(base, kind, words):
    usage = (f"usage: {kind} N; port add|del PORT [nq Q] rx|tx NAME" +
             (" [add_vlantag VID PCP | del_vlantag]" if kind == "vf" else ""))
    if not words or words[0] not in ("add", "del"):
        raise SyntaxProblem(usage)
    action = words[0]
    port, rest = _port_words(words[1:], usage)
    if len(rest) < 2 or rest[0] not in ("rx", "tx"):
        raise SyntaxProblem(usage)
    body = {"action": "attach" if action == "add" else "detach",
            "port": port, "dir": rest[0]}
    name, extra = rest[1], rest[2:]
    if action == "add" and kind == "vf" and extra:
        if extra[0] == "add_vlantag" and len(extra) == 3:
            for what, value in (("VID", extra[1]), ("PCP", extra[2])):
                if not value.isdigit():
                    raise SyntaxProblem(f"{what} is a number, not '{value}'")
            body["vlan"] = {"operation": "add", "id": int(extra[1]),
                            "pcp": int(extra[2])}
            extra = []
        elif extra == ["del_vlantag"]:
            body["vlan"] = {"operation": "del"}
            extra = []
        elif extra[0] in ("add_vlantag", "del_vlantag"):
            raise SyntaxProblem(usage)
    if extra:
        body.update(_options(extra))     # port options: key=value
    return "PUT", f"{base}/components/{name}/ports", body


def _classifier(base, words):
    usage = ("usage: vf N; classifier_table add|del mac MAC|default PORT  "
             "|  classifier_table add|del vlan VID MAC|default PORT")
    if len(words) < 2 or words[0] not in ("add", "del") or \
            words[1] not in ("mac", "vlan"):
        raise SyntaxProblem(usage)
    body = {"action": words[0], "type": words[1]}
    rest = words[2:]
    if words[1] == "vlan":
        if not rest or not rest[0].isdigit():
            raise SyntaxProblem(usage)
        body["vlan"], rest = int(rest[0]), rest[1:]
    if not rest:
        raise SyntaxProblem(usage)
    body["mac_address"] = rest[0]
    body["port"], rest = _port_words(rest[1:], usage)
    if rest:
        raise SyntaxProblem(usage)
    return "PUT", base + "/classifier_table", body


def _components_proc(kind, cid, words):
    """vf N; ... and mirror N; ..."""
    base = f"/v1/{kind}s/{cid}"
    cmds = "status, component, port, " + \
        ("classifier_table, " if kind == "vf" else "") + "exit"
    if not words:
        raise SyntaxProblem(f"{kind} {cid}: which command? ({cmds})")
    cmd, rest = words[0], words[1:]
    if cmd == "status":
        _expect(rest, 0, f"{kind} N; status")
        return "GET", base, None
    if cmd == "exit":
        _expect(rest, 0, f"{kind} N; exit")
        return "DELETE", base, None
    if cmd == "component":
        return _component(base, kind, rest)
    if cmd == "port":
        return _port(base, kind, rest)
    if cmd == "classifier_table" and kind == "vf":
        return _classifier(base, rest)
    raise SyntaxProblem(f"unknown {kind} command '{cmd}' ({cmds})")


def _pcap(cid, words):
    base = f"/v1/pcaps/{cid}"
    usage = "usage: pcap N; status | start | stop | exit"
    if len(words) != 1:
        raise SyntaxProblem(usage)
    if words[0] == "status":
        return "GET", base, None
    if words[0] in ("start", "stop"):
        return "PUT", base + "/capture", {"action": words[0]}
    if words[0] == "exit":
        return "DELETE", base, None
    raise SyntaxProblem(f"unknown pcap command '{words[0]}' (status, start, "
                        "stop, exit)")


def parse(line):
    """One command line -> (method, path, body)."""
    target, semi, rest = line.partition(";")
    head = target.split()
    words = rest.split() if semi else []
    if not head:
        raise SyntaxProblem("empty command")
    if not semi:
        if head == ["status"]:
            return "GET", "/v1/processes", None
        if head[:2] == ["bye", "sec"] and len(head) == 3 and head[2].isdigit():
            return "DELETE", f"/v1/nfvs/{head[2]}", None
        raise SyntaxProblem(f"unknown command '{line.strip()}' (try "
                            "'status', 'pri; status', 'nfv 1; status')")
    if head == ["pri"]:
        return _pri(words)
    if len(head) == 2 and head[0] in ("nfv", "sec") and head[1].isdigit():
        return _nfv(int(head[1]), words)
    if len(head) == 2 and head[0] in ("vf", "mirror") and head[1].isdigit():
        return _components_proc(head[0], int(head[1]), words)
    if len(head) == 2 and head[0] == "pcap" and head[1].isdigit():
        return _pcap(int(head[1]), words)
    raise SyntaxProblem(f"unknown process '{target.strip()}' (use 'pri', "
                        "'nfv N', 'vf N', 'mirror N' or 'pcap N')")
