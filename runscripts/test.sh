#!/bin/bash
# Set everything up, then run every test: the benchmarks' smoke test (every
# case runs and moves packets), the C unit tests and the integration tests
# on real DPDK processes, hugepages and QEMU guests, the integration tests
# again against ASan+UBSan builds of the processes, and a bounded run of
# each libFuzzer target (PB_FUZZ_SECONDS, 60 by default).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/runscripts/setup.sh"
report=$(mktemp -d)
trap 'rm -rf "$report"' EXIT
/usr/bin/python3 "$ROOT/bench/run.py" --short --out "$report"
make -C "$ROOT" -s test "$@"
make -C "$ROOT" -s test-sanitize
make -C "$ROOT" -s fuzz FUZZ_SECONDS="${PB_FUZZ_SECONDS:-60}"
