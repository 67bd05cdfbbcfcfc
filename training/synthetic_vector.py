#!/usr/bin/env python3
"""Generic synthetic "flat vector art" frames for tuning (models/EVAL.md, "Routing flat tiles over black"):
25-55 layered flat shapes (circles, rectangles, polygons) of random colours of HSV saturation 0.5-1, drawn at
4x and box-downscaled to 640x480, no noise. Writes OUT/vec_0.png .. vec_3.png (default $TMPDIR/syn).

usage: synthetic_vector.py [OUT]
needs: numpy, pillow
"""
import colorsys
import os
import sys

import numpy as np
from PIL import Image, ImageDraw


def frame(seed, w=640, h=480, ss=4):
    rng = np.random.default_rng(1000 + seed)
    im = Image.new("RGB", (w * ss, h * ss))
    d = ImageDraw.Draw(im)

    def col():
        r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.5, 1), rng.uniform(0.35, 1))
        return (int(r * 255), int(g * 255), int(b * 255))

    d.rectangle([0, 0, w * ss, h * ss], fill=col())
    for _ in range(25 + 10 * seed):
        k = rng.integers(0, 3)
        x, y = rng.uniform(0, w * ss), rng.uniform(0, h * ss)
        r = rng.uniform(20, 160) * ss
        if k == 0:
            d.ellipse([x - r, y - r, x + r, y + r], fill=col())
        elif k == 1:
            d.rectangle([x - r, y - r * rng.uniform(0.3, 2), x + r, y + r], fill=col())
        else:
            pts = [(x + r * np.cos(a), y + r * np.sin(a)) for a in np.sort(rng.uniform(0, 2 * np.pi, rng.integers(3, 6)))]
            d.polygon(pts, fill=col())
    return im.resize((w, h), Image.BOX)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.environ.get("TMPDIR", "/tmp"), "syn")
    os.makedirs(out, exist_ok=True)
    for seed in range(4):
        frame(seed).save(os.path.join(out, f"vec_{seed}.png"))


if __name__ == "__main__":
    main()
