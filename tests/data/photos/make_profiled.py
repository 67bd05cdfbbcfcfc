#!/usr/bin/env python3
"""Writes the colour-profiled copies of chelsea.png that tests/media.rs reads
(`photos_in_other_colour_spaces_come_out_in_srgb`). Each holds the same picture in another colour
space, converted by software other than emojicam's (LittleCMS, or the formulas below), and tagged
so that a colour-managed viewer shows it as chelsea.png:

- chelsea_prophoto.jpg: ProPhoto RGB (a very wide gamut; ICC profile from colord, CC0), by LittleCMS's jpgicc.
- chelsea_swapped.png: a profile whose red and green are swapped (colord's SwappedRedAndGreen.icc, CC0), by
  LittleCMS through Pillow's ImageCms: read without its profile, the cat turns the wrong colours.
- chelsea_p3.heic: Display P3 pixels (sRGB -> linear -> P3 primaries -> sRGB curve, numpy), tagged with an `nclx`
  box only (primaries 12, transfer 13) as many phones do, by libheif through pillow-heif.

Needs: liblcms2-utils (jpgicc), colord-data, Pillow, pillow-heif, numpy.
usage: python3 make_profiled.py   (in tests/data/photos)
"""
import os
import subprocess
import tempfile

import numpy as np
import pillow_heif
from PIL import Image, ImageCms

ICC = "/usr/share/color/icc/colord"
HERE = os.path.dirname(os.path.abspath(__file__))


def srgb_to_linear(v):
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(v):
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055)


def rgb_to_xyz(primaries, white):
    """The RGB -> XYZ matrix of primaries ((x, y) of red, green, blue) and a white point (x, y)."""
    m = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in primaries]).T
    wx, wy = white
    w = np.array([wx / wy, 1.0, (1 - wx - wy) / wy])
    return m * np.linalg.solve(m, w)


D65 = (0.3127, 0.3290)
SRGB = rgb_to_xyz([(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)], D65)
P3 = rgb_to_xyz([(0.680, 0.320), (0.265, 0.690), (0.150, 0.060)], D65)


def main():
    src = Image.open(os.path.join(HERE, "chelsea.png")).convert("RGB")
    with tempfile.TemporaryDirectory() as tmp:
        plain = os.path.join(tmp, "chelsea.jpg")
        src.save(plain, quality=97, subsampling=0)
        subprocess.run(["jpgicc", "-q97", "-e", f"-o{ICC}/ProPhotoRGB.icc", plain,
                        os.path.join(HERE, "chelsea_prophoto.jpg")], check=True)

        swapped = ImageCms.ImageCmsProfile(f"{ICC}/SwappedRedAndGreen.icc")
        out = ImageCms.profileToProfile(src, ImageCms.createProfile("sRGB"), swapped, outputMode="RGB")
        out.save(os.path.join(HERE, "chelsea_swapped.png"), icc_profile=swapped.tobytes(), optimize=True)

        rgb = np.asarray(src, dtype=np.float64) / 255.0
        p3 = linear_to_srgb(srgb_to_linear(rgb) @ (np.linalg.inv(P3) @ SRGB).T)
        p3_png = os.path.join(tmp, "p3.png")
        Image.fromarray(np.round(p3 * 255).astype(np.uint8)).save(p3_png)
        pillow_heif.from_pillow(Image.open(p3_png)).save(
            os.path.join(HERE, "chelsea_p3.heic"), quality=92, save_nclx_profile=True,
            color_primaries=12, transfer_characteristic=13, matrix_coefficients=6, full_range_flag=1)


if __name__ == "__main__":
    main()
