#!/bin/bash
# Make this machine ready for patchbay, idempotently: install what is
# missing (Debian packages), reserve 2 MB hugepages (1 GiB by default,
# PB_HUGEPAGES to change), mount hugetlbfs, and build.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HUGEPAGES=${PB_HUGEPAGES:-1024}
PACKAGES=(build-essential pkg-config libdpdk-dev dpdk libjansson-dev
          libcmocka-dev libpcap-dev python3 python3-yaml python3-pytest
          python3-aiohttp iproute2 procps graphviz python3-pexpect tmux
          dpdk-dev qemu-system-x86 busybox-static cpio kmod
          openvswitch-switch-dpdk valgrind clang libclang-rt-14-dev
          liblz4-dev libssl-dev lz4 tshark python3-scapy iperf3 iputils-ping
          dpdk-doc debhelper dh-python lintian prometheus chromium)

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

"$ROOT/runscripts/hugepages.sh" "$HUGEPAGES"

make -C "$ROOT" -s -j"$(nproc)"
echo "setup: ready"
