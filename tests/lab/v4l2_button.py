#!/usr/bin/env python3
"""Presses a V4L2 button control by name (vivid's "Disconnect"): python3 v4l2_button.py DEV NAME.

v4l2-ctl would do it, but v4l-utils is not on the machines the lab runs on; two ioctls are all
that is needed (layouts from linux/videodev2.h)."""
import fcntl
import struct
import sys

VIDIOC_QUERYCTRL = 0xC0445624  # _IOWR('V', 36, struct v4l2_queryctrl), 68 bytes
VIDIOC_S_CTRL = 0xC008561C  # _IOWR('V', 28, struct v4l2_control), 8 bytes
NEXT_CTRL = 0x80000000
QUERYCTRL = struct.Struct("II32siiiiI2I")

dev, want = sys.argv[1], sys.argv[2].lower()
with open(dev, "rb", buffering=0) as f:
    cid = 0
    while True:
        buf = bytearray(QUERYCTRL.pack(cid | NEXT_CTRL, 0, b"", 0, 0, 0, 0, 0, 0, 0))
        try:
            fcntl.ioctl(f, VIDIOC_QUERYCTRL, buf)
        except OSError:
            sys.exit(f"{dev}: no control named {sys.argv[2]!r}")
        cid, _, name = QUERYCTRL.unpack(buf)[:3]
        if name.split(b"\0")[0].decode(errors="replace").lower() == want:
            fcntl.ioctl(f, VIDIOC_S_CTRL, bytearray(struct.pack("Ii", cid, 1)))
            print(f"{dev}: pressed {sys.argv[2]} (control 0x{cid:08x})")
            break
