#!/usr/bin/env python3
"""The likeness / variety frontier of the objective's grid ("detail"): each tile matched on a k x k grid
of mean colours (k = 2, the product's objective; 3; 4), exhaustive search, black background, default set,
on the held-back photos. Reports the 2x2 and 3x3 PSNR, NVIDIA's FLIP perceptual error (flip-evaluator,
mean over the picture at its default 67 pixels per degree; lower is better) and distinct emoji.

usage: detail.py            prints a markdown table (evaluate.py puts it in models/EVAL.md)
needs: numpy, pillow, flip-evaluator
"""
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as cm  # noqa: E402
from mosaic_score import psnr  # noqa: E402

DETAILS = (2, 3, 4)


def grid(img, rows, cols, k):
    """k x k area means of every 10 px tile of an image [rows*10, cols*10, 3]."""
    return np.asarray(Image.fromarray(img).resize((cols * k, rows * k), Image.BOX), np.float64)


def frontier(photos=cm.HELD_BACK):
    import flip_evaluator as flip
    meta, cells = cm.load_atlas()
    default = np.asarray(meta["sets"]["default"])
    over = cm.over_black(cells)
    tiles = cm.emoji_tiles(cells)
    rows_out = []
    for name in photos:
        img = cm.skimage_photo(name)
        p, (rows, cols) = cm.tile_patches(img, 10)
        src = np.ascontiguousarray(img[: rows * 10, : cols * 10])
        for k in DETAILS:
            ef = cm.box_down(over, k).reshape(len(cells), -1).astype(np.float64)
            pf = cm.box_down(p.astype(np.float32), k).reshape(len(p), -1).astype(np.float64)
            idx = cm.nearest(pf, ef, default)[0]
            t = np.clip(np.rint(tiles[idx]), 0, 255).astype(np.uint8)
            mos = t.reshape(rows, cols, 10, 10, 3).transpose(0, 2, 1, 3, 4).reshape(rows * 10, cols * 10, 3)
            _, mean_flip, _ = flip.evaluate(src.astype(np.float32) / 255, mos.astype(np.float32) / 255, "LDR",
                                            applyMagma=False)
            rows_out.append((name, k, psnr(grid(src, rows, cols, 2), grid(mos, rows, cols, 2)),
                             psnr(grid(src, rows, cols, 3), grid(mos, rows, cols, 3)), float(mean_flip),
                             int(len(np.unique(idx)))))
            print(rows_out[-1], flush=True)
    return rows_out


def table(rows):
    L = ["| photo | detail (grid per tile) | 2x2 PSNR | 3x3 PSNR | FLIP (lower is better) | distinct emoji |",
         "| --- | --- | --- | --- | --- | --- |"]
    L += [f"| {n} | {k}x{k} | {p2:.2f} | {p3:.2f} | {fl:.4f} | {d} |" for n, k, p2, p3, fl, d in rows]
    return L


if __name__ == "__main__":
    print("\n".join(table(frontier())))
