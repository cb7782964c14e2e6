"""Whether a process still runs, for the scripts that start and stop the
panel's processes by PID."""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "controller"))
from pbctl import identity  # noqa: E402


def alive(pid):
    """Running and not a zombie; a zombie child of ours is reaped here."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def read_pidfile(path):
    """The pid in path if the very process that was started (same start
    time and executable) still runs, else None."""
    try:
        with open(path) as f:
            return identity.check_pidfile(f.read())
    except OSError:
        return None


def write_pidfile(path, pid):
    """pid's identity (identity.to_line), or nothing if it already
    ended."""
    ident = identity.read(pid)
    with open(path, "w") as f:
        f.write(identity.to_line(ident) if ident else "")


def end(pid, ask, timeout=10):
    """ask() asks pid to end; if it has not within timeout, SIGKILL its
    process group (it leads one: the run scripts start it in a session)."""
    ask()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.1)
    if alive(pid):
        os.killpg(pid, signal.SIGKILL)
        time.sleep(0.2)
        alive(pid)


def spawn(argv, log, pidfile):
    """Start argv in a session of its own (it outlives us), its output in
    log, its pid in pidfile."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                start_new_session=True)
    write_pidfile(pidfile, proc.pid)
    return proc
