#!/bin/bash
# Make this machine ready for patchbay, idempotently: install what is
# missing (Debian packages), reserve 2 MB hugepages (1 GiB by default,
# PB_HUGEPAGES to change), mount hugetlbfs, and build.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HUGEPAGES=${PB_HUGEPAGES:-1024}
HUGE_DIR=${HUGEPAGES_PATH:-/dev/hugepages}
PACKAGES=(build-essential pkg-config libdpdk-dev dpdk libjansson-dev
          libcmocka-dev libpcap-dev python3 python3-yaml python3-pytest
          python3-aiohttp iproute2 procps graphviz python3-pexpect tmux
          dpdk-dev qemu-system-x86 busybox-static cpio kmod
          openvswitch-switch-dpdk valgrind clang libclang-rt-14-dev
          liblz4-dev lz4 tshark python3-scapy iperf3 iputils-ping
          dpdk-doc)

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

have=$(cat /proc/sys/vm/nr_hugepages)
if [ "$have" -lt "$HUGEPAGES" ]; then
    echo "$HUGEPAGES" | $SUDO tee /proc/sys/vm/nr_hugepages >/dev/null
    have=$(cat /proc/sys/vm/nr_hugepages)
    if [ "$have" -lt "$HUGEPAGES" ]; then
        echo "setup: only $have of $HUGEPAGES hugepages could be reserved" >&2
        exit 1
    fi
fi
$SUDO mkdir -p "$HUGE_DIR"
mountpoint -q "$HUGE_DIR" || $SUDO mount -t hugetlbfs nodev "$HUGE_DIR"

make -C "$ROOT" -s -j"$(nproc)"
echo "setup: ready ($have hugepages of 2 MB, hugetlbfs on $HUGE_DIR)"
