#!/bin/bash
# Build the guest the VMs boot: a Debian cloud kernel and an initramfs with
# busybox, dpdk-testpmd, patchbay-primary and patchbay-nfv (with every
# library they load), the uio and virtio modules of that kernel, and
# vm/guest-init.sh as /init. Nothing is downloaded but Debian packages.
#
# Output: $PB_VM_CACHE (default /var/cache/patchbay/vm)/{vmlinuz,initrd.gz}.
# Rebuilt only when an input changed (kernel, binaries, init, this script).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${PB_VM_CACHE:-/var/cache/patchbay/vm}
VERBOSE=${VERBOSE:-0}
PMDS=/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0
BINARIES=(/usr/bin/dpdk-testpmd "$ROOT/build/patchbay-primary"
          "$ROOT/build/patchbay-nfv")
# testpmd links the PCI and vdev buses; these two it loads as plugins
PLUGINS=(librte_net_virtio.so.23 librte_mempool_ring.so.23)
MODULES=(uio_pci_generic virtio_pci virtio_net qemu_fw_cfg)
log() { [ "$VERBOSE" = 0 ] || echo "build-guest: $*" >&2; }

mkdir -p "$CACHE"
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
       awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kpkg" ] || { echo "build-guest: no cloud kernel package found (apt-get update?)" >&2; exit 1; }
for b in "${BINARIES[@]}"; do
    [ -x "$b" ] || { echo "build-guest: $b is missing (make; apt-get install dpdk-dev)" >&2; exit 1; }
done

stamp=$( { echo "$kpkg"; sha256sum "${BINARIES[@]}" "$ROOT/vm/guest-init.sh" "$0"; } | sha256sum | cut -d' ' -f1)
if [ -f "$CACHE/stamp" ] && [ "$(cat "$CACHE/stamp")" = "$stamp" ] &&
   [ -f "$CACHE/initrd.gz" ] && [ -f "$CACHE/vmlinuz" ]; then
    log "up to date"
    echo "$CACHE"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "kernel $kpkg"
(cd "$work" && apt-get download -q "$kpkg" >/dev/null 2>&1) ||
    { echo "build-guest: cannot download $kpkg" >&2; exit 1; }
dpkg -x "$work"/linux-image-*.deb "$work/kernel"
kver=${kpkg#linux-image-}
cp "$work/kernel/boot/vmlinuz-$kver" "$CACHE/vmlinuz.new"

root="$work/root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,mnt,var/run,lib/modules,usr/bin,etc} "$root$PMDS"
cp /bin/busybox "$root/bin/busybox"

# a file and the symlink chain that leads to it, at the same paths
copy_path() {
    local f=$1
    while :; do
        mkdir -p "$root$(dirname "$f")"
        [ -e "$root$f" ] || cp -a "$f" "$root$f"
        [ -L "$f" ] || break
        local t; t=$(readlink "$f")
        case $t in /*) f=$t ;; *) f=$(dirname "$f")/$t ;; esac
    done
}
libs_of() { ldd "$1" | awk '/=> \// {print $3} /^\t\/lib/ {print $1}'; }

for b in "${BINARIES[@]}"; do
    cp "$b" "$root/usr/bin/$(basename "$b")"
    for l in $(libs_of "$b"); do copy_path "$l"; done
done
for p in "${PLUGINS[@]}"; do
    copy_path "$PMDS/$p"
    for l in $(libs_of "$PMDS/$p"); do copy_path "$l"; done
done

moddir="$work/kernel/lib/modules/$kver"
depmod -b "$work/kernel" "$kver"   # the package ships no modules.dep
# each module after the ones it depends on (modules.dep), once
deps() {
    local m; m=$(grep -E "(^|/)$1\.ko:" "$moddir/modules.dep" | head -1)
    [ -n "$m" ] || { echo "build-guest: module $1 not found" >&2; exit 1; }
    for d in ${m#*:}; do deps "$(basename "$d" .ko)"; done
    echo "${m%%:*}"
}
: > "$root/lib/modules/order"
for m in "${MODULES[@]}"; do
    paths=$(deps "$m") || exit 1
    for path in $paths; do
        name=$(basename "$path")
        grep -qx "$name" "$root/lib/modules/order" && continue
        cp "$moddir/$path" "$root/lib/modules/$name"
        echo "$name" >> "$root/lib/modules/order"
    done
done
cp "$ROOT/vm/guest-init.sh" "$root/init"
chmod +x "$root/init"

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$CACHE/initrd.gz.new"
mv "$CACHE/vmlinuz.new" "$CACHE/vmlinuz"
mv "$CACHE/initrd.gz.new" "$CACHE/initrd.gz"
echo "$stamp" > "$CACHE/stamp"
log "built $(du -h "$CACHE/initrd.gz" | cut -f1) initramfs in $CACHE"
echo "$CACHE"
