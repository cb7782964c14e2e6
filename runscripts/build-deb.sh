#!/bin/bash
# Build patchbay's Debian package from this tree: dpkg-buildpackage -b in
# a copy of the tree (so nothing is written beside it), then lintian.
# Usage: runscripts/build-deb.sh [OUTDIR]   (default: build/deb)
# Prints the .deb's path last. Needs debhelper, dh-python and lintian
# (runscripts/setup.sh installs them).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/build/deb}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/patchbay" "$OUT"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    # what is tracked, as it is in the work tree, and what is new
    (cd "$ROOT" && git ls-files -co --exclude-standard -z |
        xargs -0 cp --parents -t "$work/patchbay" 2>/dev/null || true)
else
    tar -C "$ROOT" --exclude=./build --exclude=./build-san -cf - . |
        tar -C "$work/patchbay" -xf -
fi
# their temporary files (lintian's caches) go with the work folder
export TMPDIR="$work"
(cd "$work/patchbay" && dpkg-buildpackage -b -us -uc -j"$(nproc)") \
    > "$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; exit 1; }
deb=$(ls "$work"/patchbay_*.deb)
lintian --fail-on error "$work"/patchbay_*.changes >&2
mv "$work"/patchbay_* "$OUT"/
echo "$OUT/$(basename "$deb")"
