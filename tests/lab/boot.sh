#!/usr/bin/env bash
# Camera lab, step 2: boots Debian's kernel in QEMU (software emulation) with this machine's root
# shared read-only, runs SCRIPT inside as root, and leaves what it writes to /tmp/out in OUT_DIR
# (guest.log holds its output). Usage: boot.sh LAB_CACHE OUT_DIR SCRIPT [TIMEOUT_S]
set -euo pipefail
cache=$1 out=$2 script=$3 limit=${4:-900}
mkdir -p "$out"
# KVM is not used: on nested-virtualization hosts it hangs or stops on instructions it cannot
# emulate (see README, "Camera lab"); software emulation is slower but works everywhere.
# GStreamer's plugin registry, built here (seconds) for guest.sh: the guest's HOME is empty, and
# without it every emojicam process in the guest would load all installed plugins to rebuild
# it at its first recording, which takes minutes under software emulation.
GST_REGISTRY="$out/gst-registry.bin" gst-inspect-1.0 >/dev/null 2>&1 || true
chmod a+r "$out/gst-registry.bin" 2>/dev/null || true
timeout --foreground -k 10 "$limit" qemu-system-x86_64 \
    -accel tcg,thread=multi -cpu max -m 3072 -smp 2 \
    -nographic -no-reboot -monitor none -serial file:"$out/console.log" \
    -kernel "$cache/vmlinuz" -initrd "$cache/initrd.gz" \
    -append "console=ttyS0 quiet panic=-1 lab_script=$script" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap \
    -virtfs local,path="$out",mount_tag=out,security_model=none,multidevs=remap \
    </dev/null
