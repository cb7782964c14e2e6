"""SPP's command syntax, turned into REST calls.

    status                      GET    /v1/processes
    pri; status                 GET    /v1/primary/status
    pri; clear                  DELETE /v1/primary/status
    pri; exit                   DELETE /v1/primary
    pri; launch nfv N EAL.. -- APP..   PUT /v1/primary/launch
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
    usage = "usage: pri; launch nfv N [EAL options] -- [nfv options]"
    if len(words) < 2 or words[0] not in ("nfv", "spp_nfv") \
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
    raise SyntaxProblem(f"unknown process '{target.strip()}' "
                        "(use 'pri' or 'nfv N')")
