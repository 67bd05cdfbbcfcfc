#!/usr/bin/env bash
# Camera lab, step 1: everything the VM needs, cached in $LAB_CACHE (default
# ~/.cache/emojicam/lab): Debian's kernel (for vivid and the virtio/9p modules), the headers and
# kbuild to build v4l2loopback against it, busybox for the initramfs.
# Prints the cache directory on success; one line on stderr and exit 1 on failure.
set -euo pipefail

LAB_CACHE=${LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/emojicam/lab}
fail() { echo "camera lab: $*" >&2; exit 1; }
# depmod lives in /usr/sbin, which is not on an ordinary user's PATH.
export PATH="$PATH:/usr/sbin:/sbin"

# The host's tools, and the guest's (it runs this machine's own programs).
for tool in apt-get apt-cache dpkg-deb depmod cpio gzip make gcc qemu-system-x86_64 ffmpeg ffprobe python3 setpriv; do
    command -v "$tool" >/dev/null \
        || fail "missing '$tool' (apt-get install qemu-system-x86 kmod cpio gcc make ffmpeg python3 util-linux)"
done

# The kernel ABI moves with Debian's updates: take the one linux-image-amd64 points at now,
# unless a kernel is already cached (a cached lab keeps working offline).
# A cache made by another version of this script is made again.
STAMP=$(sha256sum "$0" | cut -d' ' -f1)
if [ "$(cat "$LAB_CACHE/ready" 2>/dev/null)" = "$STAMP" ]; then
    echo "$LAB_CACHE"
    exit 0
fi
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
[ -n "$KPKG" ] || fail "cannot find Debian's linux-image-amd64 (apt-get update; a Debian 12 machine is needed)"
KVER=${KPKG#linux-image-}                  # 6.1.0-57-amd64
KABI=${KVER%-amd64}                        # 6.1.0-57
KSERIES=$(echo "$KVER" | cut -d. -f1,2)   # 6.1

rm -rf "$LAB_CACHE.tmp"
mkdir -p "$LAB_CACHE.tmp/debs"
cd "$LAB_CACHE.tmp/debs"
# apt-get download drops privileges to _apt, which cannot write a root-owned cache.
chmod 777 . 2>/dev/null || true
apt-get download -q "$KPKG" "linux-headers-$KVER" "linux-headers-$KABI-common" "linux-kbuild-$KSERIES" \
    v4l2loopback-dkms busybox-static >/dev/null 2>download.log \
    || fail "apt-get download failed: $(tail -1 download.log)"
cd ..

mkdir -p k src
dpkg-deb -x debs/linux-image-*.deb k
for d in debs/linux-headers-*.deb debs/linux-kbuild-*.deb debs/v4l2loopback-dkms_*.deb debs/busybox-static_*.deb; do
    dpkg-deb -x "$d" src
done
depmod -b k "$KVER"

# v4l2loopback against the unpacked headers (their scripts/ and tools/ links are relative).
sed -i "s|/usr/src/|$PWD/src/usr/src/|" "src/usr/src/linux-headers-$KVER/Makefile"
LOOP=$(ls -d src/usr/src/v4l2loopback-* | head -1)
[ -d "$LOOP" ] || fail "v4l2loopback sources not found in the dkms package"
make -s -C "src/usr/src/linux-headers-$KVER" M="$PWD/$LOOP" modules >build.log 2>&1 \
    || fail "building v4l2loopback failed: $(tail -3 build.log | tr '\n' ' ')"
cp "$LOOP/v4l2loopback.ko" .

# initramfs: busybox and the modules that mount the host's root over virtio 9p.
I=initramfs
mkdir -p $I/bin $I/proc $I/sys $I/dev $I/host $I/mods
cp src/bin/busybox $I/bin/busybox
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p; do
    f=$(find "k/lib/modules/$KVER" -name "$m.ko*" | head -1)
    [ -n "$f" ] || fail "module $m not in $KPKG"
    case "$f" in
        *.xz) xz -dc "$f" >"$I/mods/$m.ko" ;;
        *.zst) zstd -qdc "$f" >"$I/mods/$m.ko" ;;
        *) cp "$f" "$I/mods/$m.ko" ;;
    esac
    echo "$m" >>$I/mods/order
done
cat >$I/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /mods/order); do insmod /mods/$m.ko; done
# cache=loose: the host's root does not change under the lab, and ffmpeg's hundred libraries
# load in seconds instead of a minute.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /host
for d in proc sys dev; do mount --bind /$d /host/$d; done
# Scratch space on /run (the host's /tmp stays visible: the build may live there), results on
# /run/out.
mount -t tmpfs -o size=1g scratch /host/run
mkdir -p /host/run/out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /host/run/out
script=$(sed -n 's/.*lab_script=\([^ ]*\).*/\1/p' /proc/cmdline)
chroot /host /bin/bash "$script" >/host/run/out/guest.log 2>&1
echo "lab guest exit $?" >>/host/run/out/guest.log
sync
poweroff -f
INIT
chmod +x $I/init
(cd $I && find . | cpio -o -H newc --quiet | gzip -1) >initrd.gz
cp "k/boot/vmlinuz-$KVER" vmlinuz
echo "$KVER" >kver
rm -rf src $I debs
echo "$STAMP" >ready
rm -rf "$LAB_CACHE"
mv "$LAB_CACHE.tmp" "$LAB_CACHE"
echo "$LAB_CACHE"
