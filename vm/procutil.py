"""Whether a process still runs, for the scripts that start and stop the
panel's processes by PID."""

import os


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
