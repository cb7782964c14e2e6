#!/bin/bash
# Set everything up, then run conf.yml's default chain and show it forward.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/runscripts/setup.sh"
exec /usr/bin/python3 "$ROOT/runscripts/demo.py" "$@"
