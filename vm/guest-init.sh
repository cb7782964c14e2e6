#!/bin/busybox sh
# /init of the patchbay guest. Reads its settings from the kernel command
# line (pb.*, set by vm/launch.py), gives the data NICs to DPDK (uio), the
# management NIC to the kernel, and starts the guest app:
#   pb.app=testpmd   dpdk-testpmd forwarding in pb.fwd mode (macswap_retry)
#   pb.app=nfv       patchbay-primary + patchbay-nfv -n pb.id, dialing the
#                    host's controller at pb.ctl:pb.sec over the mgmt NIC
#   pb.app=probe     say it booted and power off (the KVM probe)
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/hugepages /var/run /tmp

arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^pb\.$1=//p" | tail -1; }
APP=$(arg app); FWD=$(arg fwd | tr _ ' '); MGMT=$(arg mgmt)
CTL=$(arg ctl); SEC=$(arg sec); ID=$(arg id); HUGE=$(arg hugepages)
: "${APP:=testpmd}" "${FWD:=macswap retry}" "${HUGE:=256}"
say() { echo "pb-guest: $*" > /dev/console; }

if [ "$APP" = probe ]; then
    say "booted"
    poweroff -f
fi

echo "$HUGE" > /proc/sys/vm/nr_hugepages
mount -t hugetlbfs nodev /dev/hugepages

# virtio-net devices: DPDK's, except the management NIC, the kernel's
nports=0
for dev in /sys/bus/pci/devices/*; do
    [ "$(cat "$dev/vendor")" = 0x1af4 ] || continue
    case $(cat "$dev/device") in 0x1000|0x1041) ;; *) continue ;; esac
    if [ "$(basename "$dev")" = "$MGMT" ]; then
        echo virtio-pci > "$dev/driver_override"
    else
        echo uio_pci_generic > "$dev/driver_override"
        nports=$((nports + 1))
    fi
done
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m"; done
if [ -n "$MGMT" ]; then
    ip link set lo up
    ip link set eth0 up
    ip addr add 10.0.2.15/24 dev eth0
    ip route add default via 10.0.2.2
fi
# the controller's shared token, if the host has one (vm/qemu.py passes it
# as a firmware config file: it is on no command line)
TOKEN=/sys/firmware/qemu_fw_cfg/by_name/opt/patchbay/token/raw
[ -r "$TOKEN" ] && export PATCHBAY_TOKEN="$(cat "$TOKEN")"
say "$nports data ports; starting $APP"

EAL="--file-prefix guest --huge-dir /dev/hugepages --single-file-segments"
case $APP in
testpmd)
    echo "set fwd $FWD" > /tmp/testpmd.cmds
    dpdk-testpmd -l 0,1 $EAL -- --cmdline-file=/tmp/testpmd.cmds \
        --auto-start --stats-period 10 --rxd 1024 --txd 1024 \
        > /dev/console 2>&1 &
    ;;
nfv)
    # plugins' own dependencies live beside them (testpmd finds them
    # through its RUNPATH; there is no ld.so.cache here)
    export LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0
    mask=$(( (1 << nports) - 1 ))
    patchbay-primary -l 0 $EAL -m 128 -- -p "$mask" -n 4 -s none \
        > /tmp/primary.log 2>&1 &
    for i in $(seq 50); do
        grep -q "phy ports" /tmp/primary.log && break
        sleep 0.2
    done
    patchbay-nfv -l 1 $EAL --proc-type secondary -- -n "$ID" \
        -s "$CTL:$SEC" > /dev/console 2>&1 &
    ;;
esac
say "ready"
while :; do sleep 3600; done
