"""What this machine has: a test that needs a tool the machine lacks is
skipped with the reason, never failed or passed silently."""

import shutil

import pytest


def needs(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    return pytest.mark.skipif(bool(missing), reason="not on this machine: "
                              + ", ".join(missing))
