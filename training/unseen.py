#!/usr/bin/env python3
"""Issue 15's targets on any photos (e.g. ones the model and its tables were never tuned on): one
markdown row per photo.

By default the model file runs in onnxruntime and each mosaic is rendered as evaluate.py renders it
(the product's 64->10 px premultiplied cell over the background); with --bin the product itself
(`emojicam render`, its embedded model) makes each mosaic (.json grid and .png), slower.

Settings (10 px tiles, default set): before = `--background black --variety 0 --no-dim` (the output before issue 15),
v0 = `--variety 0` (tile background, the exact choice), default = no options (tile background, variety 1.5,
onnx), nearest = `--classifier nearest` (tile background, the exhaustive search; in Python, the objective's exact
choice). For each: top = share of
tiles of the most common emoji, region = largest 4-connected one-emoji region (tiles), right = share of
tiles equal to their right-hand neighbour, distinct emoji (from the `.json` grid, as common.texture and
src/classify/texture.rs count them), and 2x2 PSNR of the `.png` mosaic against the photo
(mosaic_score.py --tile 10). flat = share of tiles whose mean colour is within 8 levels (each channel) of
the frame's median tile colour: a frame near 100% is "nearly one flat colour".

usage: unseen.py [--model models/emojinet.onnx | --bin target/release/emojicam] [--out DIR] PHOTO...
needs: numpy, pillow, scipy
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import texture  # noqa: E402
from mosaic_score import score as mosaic_score  # noqa: E402

SETTINGS = {
    "before": ["--background", "black", "--variety", "0", "--no-dim"],
    "v0": ["--variety", "0"],
    "default": [],
    "nearest": ["--classifier", "nearest"],
}


def flat_share(img, tile=10):
    h, w = img.shape[0] // tile * tile, img.shape[1] // tile * tile
    t = img[:h, :w].astype(np.float64).reshape(h // tile, tile, w // tile, tile, 3).mean((1, 3)).reshape(-1, 3)
    return float((np.abs(t - np.median(t, 0)) <= 8).all(1).mean())


def render(binary, photo, out, args):
    subprocess.run([binary, "render", "-i", photo, "-o", out, *args], check=True, capture_output=True)


class Model:
    """The model file in onnxruntime, and what evaluate.py needs to render its mosaics."""

    def __init__(self, path):
        import common as cm
        import evaluate
        import export
        import graph
        meta, cells = cm.load_atlas()
        self.C = meta["count"]
        self.plain_count = meta.get("file_count")
        # the emoji each entry draws (a dimmed copy's source): repetition is measured on these
        self.glyph = cm.glyphs(meta)
        self.default = np.asarray(meta["sets"]["default"])
        self.tiles = cm.emoji_tiles(cells)
        self.alpha10 = cm.emoji_alpha10(cells)
        self.psi, self.bias = graph.class_matrix(cm.emoji_feat(cells).astype(np.float64), export.emoji_alpha(cells))
        self.sess = graph.session(path, 1)
        # a model with the `choice` input scores (and its product would draw) each emoji over the better background
        self.level = evaluate.choice_level(self.sess)
        self.mask = np.full(self.C, graph.NEG, np.float32)
        self.mask[self.default] = 0
        # before issue 15: every emoji as drawn (`--no-dim`: no dimmed copies)
        self.plain = np.where(self.glyph == np.arange(self.C), self.mask, graph.NEG).astype(np.float32)
        self.cm, self.ev, self.export = cm, evaluate, export

    def mosaics(self, img):
        """{setting: (emoji index [N], rendered mosaic)}, rows, cols, source cropped to whole tiles."""
        p, (rows, cols) = self.cm.tile_patches(img, 10)
        out = {}
        for name, (background, variety) in {"before": ("black", 0.0), "v0": ("tile", 0.0),
                                              "default": ("tile", 1.5), "nearest": ("tile", None)}.items():
            bg = self.ev.background_of(p, background)
            alt = None if self.level is None else self.ev.alt_of(p, background, self.level)
            if variety is None:
                s = self.ev.minus_errors(p, bg, alt, self.psi, self.bias, self.default, self.plain_count)
                idx = self.default[s.argmax(1)]
            else:
                mask = self.plain if name == "before" else self.mask
                idx = self.ev.run(self.sess, self.ev.feeds(p, mask, cols, background, variety))
            drawn = self.ev.drawn_background(idx, p, bg, alt, self.psi, self.bias)
            out[name] = (idx, self.ev.render_over(idx, self.tiles, self.alpha10, drawn, rows, cols))
        return out, rows, cols, np.ascontiguousarray(img[: rows * 10, : cols * 10])


def measure_model(model, photo):
    img = np.asarray(Image.open(photo).convert("RGB"))
    row = {"photo": os.path.basename(photo), "size": f"{img.shape[1]}x{img.shape[0]}", "flat": flat_share(img)}
    mos, rows, cols, src = model.mosaics(img)
    for name, (idx, m) in mos.items():
        top, region, right, distinct = texture(model.glyph[idx], rows, cols)
        p2 = mosaic_score(Image.fromarray(src), Image.fromarray(m), 10)["psnr_2x2"]
        row[name] = {"top": top, "region": region, "right": right, "distinct": distinct, "psnr_2x2": p2}
    return row


def measure(binary, photo, out_dir):
    base = os.path.join(out_dir, os.path.splitext(os.path.basename(photo))[0])
    src = Image.open(photo).convert("RGB")
    row = {"photo": os.path.basename(photo), "size": f"{src.width}x{src.height}",
           "flat": flat_share(np.asarray(src))}
    for name, args in SETTINGS.items():
        render(binary, photo, f"{base}.{name}.json", args)
        render(binary, photo, f"{base}.{name}.png", args)
        with open(f"{base}.{name}.json") as f:
            grid = json.load(f)
        _, idx = np.unique(np.array(grid["emoji"]), return_inverse=True)
        top, region, right, distinct = texture(idx, grid["rows"], grid["cols"])
        p2 = mosaic_score(src, Image.open(f"{base}.{name}.png"), 10)["psnr_2x2"]
        row[name] = {"top": top, "region": region, "right": right, "distinct": distinct, "psnr_2x2": p2}
    return row


def cell(m):
    return f"{100 * m['top']:.1f}% / {m['region']} / {100 * m['right']:.1f}% / {m['distinct']}, {m['psnr_2x2']:.2f}"


def markdown(rows):
    print("| photo | size | flat | before: black, variety 0 | tile, variety 0 | **default** | cost vs before | "
          "nearest (tile) | nearest - variety 0 | targets |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        d = r["default"]
        cost = r["before"]["psnr_2x2"] - d["psnr_2x2"]
        gap = r["nearest"]["psnr_2x2"] - r["v0"]["psnr_2x2"]
        fails = [n for n, bad in (("top", d["top"] > 0.10), ("region", d["region"] > 25),
                                  ("right", d["right"] > 0.15), ("cost", cost > 0.5), ("nearest", gap > 0.5)) if bad]
        print(f"| {r['photo']} | {r['size']} | {100 * r['flat']:.0f}% | {cell(r['before'])} | {cell(r['v0'])} | "
              f"**{cell(d)}** | {cost:.2f} | {cell(r['nearest'])} | {gap:.2f} | {', '.join(fails) or 'met'} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models",
                                                     "emojinet.onnx"))
    ap.add_argument("--bin", help="measure the product (emojicam render) instead of the model file")
    ap.add_argument("--out", default=os.environ.get("TMPDIR", "/tmp"))
    ap.add_argument("--json", help="also write the measures to this file")
    ap.add_argument("photos", nargs="+")
    a = ap.parse_args()
    rows = []
    model = None if a.bin else Model(a.model)
    for p in a.photos:
        rows.append(measure(a.bin, p, a.out) if a.bin else measure_model(model, p))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    markdown(rows)


if __name__ == "__main__":
    main()
