#!/usr/bin/env python3
"""Sets the TV standard of a capture device's current input and prints its frame interval:
python3 v4l2_std.py DEV NTSC|PAL. vivid's S-Video input (the lab's capture card) then delivers
720x480 at 1001/30000 s (29.97 fps) for NTSC, 720x576 at 1000/25000 s for PAL.

v4l2-ctl would do it, but v4l-utils is not on the machines the lab runs on (layouts from
linux/videodev2.h)."""
import fcntl
import struct
import sys

VIDIOC_S_STD = 0x40085618  # _IOW('V', 24, v4l2_std_id), 8 bytes
VIDIOC_G_PARM = 0xC0CC5615  # _IOWR('V', 21, struct v4l2_streamparm), 204 bytes
BUF_TYPE_VIDEO_CAPTURE = 1
STANDARDS = {"NTSC": 0x0000B000, "PAL": 0x000000FF}  # V4L2_STD_NTSC, V4L2_STD_PAL

dev, std = sys.argv[1], sys.argv[2].upper()
with open(dev, "rb", buffering=0) as f:
    fcntl.ioctl(f, VIDIOC_S_STD, bytearray(struct.pack("Q", STANDARDS[std])))
    parm = bytearray(struct.pack("I", BUF_TYPE_VIDEO_CAPTURE) + bytes(200))
    fcntl.ioctl(f, VIDIOC_G_PARM, parm)
    # struct v4l2_captureparm: capability, capturemode, timeperframe {numerator, denominator}
    num, den = struct.unpack_from("II", parm, 12)
    print(f"{dev}: {std}, frame interval {num}/{den} s")
