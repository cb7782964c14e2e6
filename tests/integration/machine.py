"""What this machine has: a test that needs a tool the machine lacks is
skipped with the reason, never failed or passed silently. And whether
the processes under test are the sanitizers' build (make test-sanitize)."""

import os
import shutil

import pytest

# Under ASan, memory and time are not the product's: freed memory waits
# in quarantine (LeakSanitizer at exit is the leak check, not the
# resident size), and every pass of a loop is slower.
SANITIZED = "ASAN_OPTIONS" in os.environ


def needs(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    return pytest.mark.skipif(bool(missing), reason="not on this machine: "
                              + ", ".join(missing))
