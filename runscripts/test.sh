#!/bin/bash
# Set everything up, then run every test: C unit tests and the integration
# tests on real DPDK processes and hugepages.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/runscripts/setup.sh"
exec make -C "$ROOT" -s test "$@"
