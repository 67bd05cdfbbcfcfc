#!/usr/bin/env bash
# Installs every system package emojicam's build, run and tests need (apt, dnf or pacman).
# Idempotent: when everything is present it only checks, in about a second.
#   ./setup.sh && cargo run --release -- demo
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

# What each group is for:
#   build:   C toolchain and pkg-config; libclang for bindgen (nokhwa's V4L2 layer)
#   media:   GStreamer and its plugins: demuxers and decoders for MP4/MOV/MKV/WebM/AVI,
#            H.264/HEVC/VP8/VP9/AV1, x264 and VP8 encoders, AAC/Opus/MP3, muxers;
#            libheif for HEIC and AVIF photos
#   gpu:     a Vulkan driver (Mesa's lavapipe runs the shaders on the CPU when there is no GPU)
#   window:  the X11 libraries winit loads at run time
#   python:  pip, which build.rs uses to fetch ONNX Runtime
#   tests:   Xvfb/xdotool/imagemagick for the window test, ffmpeg/ffprobe to make test clips
#            and check what we write, QEMU and friends for the camera lab (tests/lab)
apt_packages=(
    build-essential pkg-config clang libclang-dev
    libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
    gstreamer1.0-plugins-ugly gstreamer1.0-libav libheif-dev
    mesa-vulkan-drivers libvulkan1 libegl1 libegl-mesa0 libgl1-mesa-dri
    libxkbcommon-x11-0 libxcursor1 libxi6 libx11-xcb1
    python3 python3-pip
    xvfb xauth imagemagick xdotool ffmpeg
    qemu-system-x86 kmod cpio busybox-static
)
dnf_packages=(
    gcc gcc-c++ make pkgconf-pkg-config clang clang-devel
    gstreamer1-devel gstreamer1-plugins-base-devel gstreamer1-plugins-base
    gstreamer1-plugins-good gstreamer1-plugins-bad-free gstreamer1-plugins-ugly-free
    gstreamer1-plugin-libav gstreamer1-plugin-openh264 libheif-devel
    mesa-vulkan-drivers vulkan-loader mesa-libEGL mesa-dri-drivers
    libxkbcommon-x11 libXcursor libXi libX11-xcb
    python3 python3-pip
    xorg-x11-server-Xvfb xauth ImageMagick xdotool ffmpeg-free
    qemu-system-x86 kmod cpio busybox
)
pacman_packages=(
    base-devel pkgconf clang
    gstreamer gst-plugins-base gst-plugins-good gst-plugins-bad gst-plugins-ugly gst-libav libheif
    vulkan-swrast vulkan-icd-loader mesa
    libxkbcommon-x11 libxcursor libxi libx11
    python python-pip
    xorg-server-xvfb xorg-xauth imagemagick xdotool ffmpeg
    qemu-system-x86 kmod cpio busybox
)

if command -v apt-get >/dev/null; then
    missing=()
    for p in "${apt_packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "setup: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -qq
        $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
elif command -v dnf >/dev/null; then
    missing=()
    for p in "${dnf_packages[@]}"; do
        rpm -q "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "setup: installing ${missing[*]}"
        # Best effort: some names differ between Fedora releases; x264enc needs RPM Fusion's
        # gstreamer1-plugins-ugly (emojicam falls back on openh264enc without it).
        $SUDO dnf install -y --skip-unavailable "${missing[@]}" \
            || $SUDO dnf install -y --skip-broken "${missing[@]}"
    fi
elif command -v pacman >/dev/null; then
    $SUDO pacman -S --needed --noconfirm "${pacman_packages[@]}"
else
    echo "setup: no apt-get, dnf or pacman here: install GStreamer (with its good, bad, ugly and libav plugins), libheif, a Vulkan driver, libclang and python3-pip by hand" >&2
    exit 1
fi

if ! command -v cargo >/dev/null; then
    echo "setup: system packages are in place; now install Rust (1.89 or newer) with rustup, then: cargo run --release -- demo" >&2
    exit 1
fi
