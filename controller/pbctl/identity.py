"""Whether a pid is still the process the panel knows.

A pid alone proves nothing: the process may have ended and the number
gone to another. What the kernel says of a process when the panel starts
it, or when it dials the controller's Unix socket, is kept as its
identity: pid, start time (clock ticks after boot), executable and DPDK
file prefix. It is signalled only while all four still match
(docs/security.md).
"""

import os


def _stat_start(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        raise OSError("a zombie")
    return int(fields[19])           # field 22: starttime


def _file_prefix(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        args = f.read().split(b"\0")
    for i, arg in enumerate(args):
        if arg == b"--file-prefix" and i + 1 < len(args):
            return args[i + 1].decode(errors="replace")
        if arg.startswith(b"--file-prefix="):
            return arg.split(b"=", 1)[1].decode(errors="replace")
    return None


def read(pid):
    """{"pid", "start", "exe", "file_prefix"} of a running pid, or None."""
    try:
        pid = int(pid)
        return {"pid": pid, "start": _stat_start(pid),
                "exe": os.readlink(f"/proc/{pid}/exe"),
                "file_prefix": _file_prefix(pid)}
    except (OSError, ValueError, IndexError, TypeError):
        return None


def check(identity):
    """The pid of identity if that very process still runs, else None.
    identity: as read() or from_line() gave it; every field it has must
    still match, and it must have at least pid, start and exe."""
    if not isinstance(identity, dict) or \
            not {"pid", "start", "exe"} <= set(identity):
        return None
    now = read(identity["pid"])
    if now is None or any(now.get(k) != v for k, v in identity.items()):
        return None
    return now["pid"]


def ours(identity, file_prefix):
    """check(), and of the panel with this DPDK file prefix."""
    pid = check(identity)
    return pid if pid is not None and \
        identity.get("file_prefix") == file_prefix else None


def to_line(identity):
    """For a pidfile: "PID START EXE" (the first word alone is what a
    pidfile of old held, and what other tools read)."""
    return f"{identity['pid']} {identity['start']} {identity['exe']}\n"


def from_line(text):
    """A pidfile's identity (file prefix not checked), or None."""
    words = text.split(maxsplit=2)
    try:
        return {"pid": int(words[0]), "start": int(words[1]),
                "exe": words[2].rstrip("\n")}
    except (IndexError, ValueError):
        return None


def check_pidfile(text):
    """The pid in a pidfile's text if that process still runs."""
    return check(from_line(text))
