#!/bin/bash
# Reserve at least N 2 MB hugepages (default: PB_HUGEPAGES, else 1024) and
# mount hugetlbfs on HUGEPAGES_PATH (default /dev/hugepages). Idempotent;
# never lowers a reservation. Used by setup.sh and patchbay.service.
set -euo pipefail

HUGEPAGES=${1:-${PB_HUGEPAGES:-1024}}
HUGE_DIR=${HUGEPAGES_PATH:-/dev/hugepages}
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

case $HUGEPAGES in
    ''|*[!0-9]*) echo "hugepages: '$HUGEPAGES' is not a number of pages" >&2
                 exit 2 ;;
esac
have=$(cat /proc/sys/vm/nr_hugepages)
if [ "$have" -lt "$HUGEPAGES" ]; then
    echo "$HUGEPAGES" | $SUDO tee /proc/sys/vm/nr_hugepages >/dev/null
    have=$(cat /proc/sys/vm/nr_hugepages)
    if [ "$have" -lt "$HUGEPAGES" ]; then
        echo "hugepages: only $have of $HUGEPAGES hugepages could be reserved" >&2
        exit 1
    fi
fi
$SUDO mkdir -p "$HUGE_DIR"
mountpoint -q "$HUGE_DIR" || $SUDO mount -t hugetlbfs nodev "$HUGE_DIR"
echo "hugepages: $have of 2 MB, hugetlbfs on $HUGE_DIR"
