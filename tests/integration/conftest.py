"""Fixtures: a real panel (controller, primary, secondaries) on hugepages,
torn down by PID, with its hugepage files and sockets removed, even when a
test fails."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "controller"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pbctl.launcher import Panel  # noqa: E402


@pytest.fixture
def panel(tmp_path):
    p = Panel(str(tmp_path))
    try:
        p.start_controller()
    except Exception:      # a controller that never answered still runs
        p.stop()
        raise
    yield p
    p.stop()
    for name, proc in p.procs.items():
        # a process that crashed is a failure even if the test passed
        assert name in p.killed or proc.returncode in (0, -15), \
            f"{name} ended with {proc.returncode}:\n{p.log(name)}"


@pytest.fixture
def null_panel(panel):
    """Controller + primary with two net_null phys and 4 rings."""
    panel.start_primary(vdevs=["net_null0", "net_null1"], rings=4)
    return panel
