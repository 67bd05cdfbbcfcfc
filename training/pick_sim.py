#!/usr/bin/env python3
"""Issue 15's pick, simulated with the exhaustive search (every emoji of the default set scored for every
tile, numpy) instead of the model's two-stage lists: what a different pick or background would give before
anything is built. models/EVAL.md, "112 members, stage 1 in parts, and what still bounds the shirt".

For each photo (10 px tiles, the `tile` background unless said otherwise, T = 1000 x variety) it prints
top / region / right (texture as src/classify/texture.rs counts it) and the 2x2 PSNR cost against before
(black, variety 0; mosaic_score.py) for:

- key: the product's pick until the quantile pick replaced it (count ladder 12:0.3, saturated widening
  5:1.5:50, the highest key in the tile's phase bin among the emoji within the tile's tolerance);
- choice: the same pick where each emoji is scored over the better of the tile background and black (a
  per-tile background choice; the mosaic drawn over that background);
- quantile: the same candidates, the r-th of them in emoji order with r = floor(u n), u the tile's R2 phase
  and n the candidates (neighbouring tiles of a flat area never alike for n >= 5); the shipped graph picks
  this way among its member list, in list order (models/EVAL.md, "A quantile pick");
- quantile choice: the quantile pick over the per-tile background choice;
- quantile choice dark: the same with dark rungs (`--dark COUNT`, default 5: a tile whose mean's brightest
  channel is <= 40 keeps to the smallest of 0.1, 0.2, 0.3, 0.5, 0.75 x T with at least COUNT emoji within it,
  as `export.py --dark COUNT:0.1,0.2,0.3,0.5,0.75:40`): what would take the dark shirt's cost under 0.5 dB
  (models/EVAL.md, "A quantile pick");
- kbest: the cost of a uniform pick among each tile's k best emoji against the exact choice (the
  objective's mean error), the bound any pick among k emoji pays.

usage: pick_sim.py [--variety 1.5] [--dark 5] PHOTO...    needs: numpy, pillow, scipy
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as cm  # noqa: E402
import evaluate  # noqa: E402
import export  # noqa: E402
import graph  # noqa: E402
from mosaic_score import score as mosaic_score  # noqa: E402

LADDER = (12, 0.3)      # export.LADDER
WIDEN = (4, 1.5, 50)    # export.WIDEN_SAT: count, factor, saturation


class Emoji:
    def __init__(self):
        meta, cells = cm.load_atlas()
        self.D = np.asarray(meta["sets"]["default"])
        self.Q = cm.emoji_feat(cells).astype(np.float64)[self.D].reshape(-1, 4, 3)
        self.A = export.emoji_alpha(cells)[self.D]
        self.tiles = cm.emoji_tiles(cells)
        self.alpha10 = cm.emoji_alpha10(cells)
        self.keys = graph.key_table(meta["count"])[:, self.D]

    def errors(self, P, bg):
        """The objective's error of every default-set emoji over bg [N,3] for tiles P [N,4,3] -> [N,c]."""
        out = np.empty((len(P), len(self.D)))
        for i in range(0, len(P), 1024):
            r = P[i:i + 1024, None] - self.Q[None] - (1 - self.A)[None, :, :, None] * bg[i:i + 1024, None, None, :]
            out[i:i + 1024] = (r ** 2).sum((2, 3))
        return out

    def render(self, j, bg, rows, cols):
        """The mosaic of the chosen columns j over backgrounds bg [N,3], as the product draws it."""
        return Image.fromarray(evaluate.render_over(self.D[j], self.tiles, self.alpha10, bg, rows, cols))


DARK_FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.75)
DARK_LEVEL = 40


def candidates(e, tol, saturated, dark=None, count=0):
    """[N,c] bool: the emoji within each tile's tolerance (the ladder, then the saturated widening; with `count`,
    the dark rungs for the tiles where `dark` is true)."""
    best = e.min(1, keepdims=True)
    near = (e <= best + LADDER[1] * tol).sum(1)
    t = np.where(near >= LADDER[0], LADDER[1] * tol, tol)
    t = np.where(saturated & (near < WIDEN[0]), WIDEN[1] * tol, t)
    for f in DARK_FRACTIONS if count else ():
        t = np.where(dark & ((e <= best + f * tol).sum(1) >= count), np.minimum(t, f * tol), t)
    return e <= best + t[:, None]


def quantile_pick(within, u):
    """The floor(u n)-th of each tile's n candidates in emoji order."""
    n = within.sum(1)
    rank = np.minimum(np.floor(u * n), n - 1).astype(int)
    return ((np.cumsum(within, 1) == (rank + 1)[:, None]) & within).argmax(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variety", type=float, default=1.5)
    ap.add_argument("--dark", type=int, default=5, help="the dark rungs' count (quantile choice dark)")
    ap.add_argument("photos", nargs="+")
    a = ap.parse_args()
    em = Emoji()
    tol = a.variety * graph.VARIETY_UNIT
    for path in a.photos:
        img = np.asarray(Image.open(path).convert("RGB"))
        p, (rows, cols) = cm.tile_patches(img, 10)
        src = Image.fromarray(np.ascontiguousarray(img[:rows * 10, :cols * 10]))
        q = cm.patch_quads(p)
        P = q.astype(np.float64).reshape(-1, 4, 3)
        mean = cm.quads_mean(q)
        tile_bg, black = cm.backdrop(mean), np.zeros_like(mean)
        i = np.arange(len(P))
        col, row = i % cols, i // cols
        bins = graph.pattern_bin_np(col, row)
        u = np.mod(col * graph.R2_X + row * graph.R2_Y, 1.0)
        saturated = np.ptp(mean, 1) >= WIDEN[2]
        e_tile, e_black = em.errors(P, tile_bg), em.errors(P, black)
        before = mosaic_score(src, em.render(e_black.argmin(1), black, rows, cols), 10)["psnr_2x2"]

        def measure(j, bg):
            top, region, right, _ = cm.texture(em.D[j], rows, cols)
            cost = before - mosaic_score(src, em.render(j, bg, rows, cols), 10)["psnr_2x2"]
            return f"{100 * top:.1f}% / {region} / {100 * right:.1f}%, cost {cost:+.2f} dB"

        within = candidates(e_tile, tol, saturated)
        key = np.where(within, em.keys[bins], -1.0).argmax(1)
        quantile = quantile_pick(within, u)
        e_both = np.minimum(e_tile, e_black)
        over = lambda j: np.where((e_black[i, j] < e_tile[i, j])[:, None], black, tile_bg)
        choice = np.where(candidates(e_both, tol, saturated), em.keys[bins], -1.0).argmax(1)
        q_choice = quantile_pick(candidates(e_both, tol, saturated), u)
        q_dark = quantile_pick(candidates(e_both, tol, saturated, mean.max(1) <= DARK_LEVEL, a.dark), u)
        ranked = np.sort(e_tile, 1)
        kbest = ", ".join(f"k={k} {10 * np.log10(ranked[:, :k].mean(1).mean() / ranked[:, 0].mean()):.2f}"
                          for k in (2, 4, 7, 12))
        print(f"{os.path.basename(path)}: before {before:.2f} dB | key {measure(key, tile_bg)} | "
              f"choice {measure(choice, over(choice))} | quantile {measure(quantile, tile_bg)} | "
              f"quantile choice {measure(q_choice, over(q_choice))} | "
              f"quantile choice dark {measure(q_dark, over(q_dark))} | kbest (dB vs exact) {kbest}", flush=True)


if __name__ == "__main__":
    main()
