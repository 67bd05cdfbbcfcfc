#!/usr/bin/env python3
"""Evaluate emojinet.onnx against simple matching rules on held-back photos; write models/EVAL.md,
tests/data/photos/ (the held-back photos as PNG, their LICENSE.md) and tests/data/photos/floors.json.

Every mosaic is rendered as the product renders it: each tile is the emoji cell area-averaged
64 -> 10 px with premultiplied alpha, composited over black; scored with mosaic_score.py (2x2 PSNR,
tile PSNR), the same ruler as /work/shared/tools/mosaic_score.py (training/mosaic_score.py is a copy).
"""
import json
import os
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as cm  # noqa: E402
from common import texture  # noqa: E402
import graph  # noqa: E402
from mosaic_score import score as mosaic_score  # noqa: E402

PHOTOS_DIR = os.path.join(cm.ROOT, "tests", "data", "photos")
OUT_DIR = os.path.join(cm.CACHE, "eval")


def render(idx, tiles, rows, cols):
    t = np.clip(np.rint(tiles[idx]), 0, 255).astype(np.uint8)  # [N,10,10,3]
    return t.reshape(rows, cols, 10, 10, 3).transpose(0, 2, 1, 3, 4).reshape(rows * 10, cols * 10, 3)


def frame_1280x720(img):
    """Scale to cover 1280x720 (area/lanczos), centre-crop."""
    h, w = img.shape[:2]
    s = max(1280 / w, 720 / h)
    im = Image.fromarray(img).resize((round(w * s), round(h * s)), Image.LANCZOS)
    l, t = (im.width - 1280) // 2, (im.height - 720) // 2
    return np.asarray(im.crop((l, t, l + 1280, t + 720)))


VARIETY_UNIT = 1000.0  # src/classify/mod.rs
DEFAULT_VARIETY = 1.5


def feeds(patches, mask, cols, background="black", variety=0.0):
    """The model's inputs for the tiles of a row-major grid `cols` wide, as the Rust classifier builds them
    (choice: 1 under the tile background, each emoji over the better of its backdrop and black; dark_budget and
    frame_flat: the patches are the whole frame; `run` drops any for a model without that input)."""
    n = len(patches)
    quads = cm.patch_quads(patches)
    bg = cm.tile_background(quads) if background == "tile" else np.zeros((n, 3))
    i = np.arange(n)
    pos = np.stack([i % cols, i // cols], 1)
    return {"quads": quads, "mask": mask, "background": bg.astype(np.float32),
            "position": pos.astype(np.float32), "tolerance": np.array([variety * VARIETY_UNIT], np.float32),
            "choice": np.array([1.0 if background == "tile" else 0.0], np.float32),
            "dark_budget": cm.dark_budget(quads), "frame_flat": cm.frame_flat(quads)}


def model_inputs(sess, f):
    """The feeds of `f` that the model takes (a model without the choice has no `choice` input, one without the
    dark budget no `dark_budget`, one without the flat frame's narrowing no `frame_flat`); `frame_black`, for a model
    that takes it, from f's quads (the whole frame: common.frame_black scores the atlas once per process)."""
    names = {i.name for i in sess.get_inputs()}
    out = {k: v for k, v in f.items() if k in names}
    if "frame_black" in names:
        out["frame_black"] = cm.frame_black(f["quads"])
    return out


def run(sess, f):
    """The model's emoji index for feeds `f`."""
    return sess.run(None, model_inputs(sess, f))[0]


def background_of(patches, background):
    return feeds(patches, None, 1, background)["background"].astype(np.float64)


def alt_of(patches, background, level=255):
    """The second background (the choice's): black under the tile background for the tiles whose rounded mean's
    brightest channel is at most `level`, else the background itself (no choice)."""
    bg = background_of(patches, background)
    if background != "tile":
        return bg
    dark = cm.quads_mean(cm.patch_quads(patches)).max(1) <= level
    return np.where(dark[:, None], 0.0, bg)


def choice_level(sess):
    """The model's choice level (alt_of), or None for a model without the choice."""
    if "choice" not in {i.name for i in sess.get_inputs()}:
        return None
    return float(sess.get_modelmeta().custom_metadata_map.get("choice_level", 255))


def _scores_over(patches, b):
    """(phi over backgrounds b [N,3], |P - b|^2 [N]): phi . psi_e + bias_e minus the second is minus emoji e's
    error drawn over b (graph.class_matrix)."""
    import export
    P = cm.patch_quads(patches).astype(np.float64).reshape(-1, 4, 3)
    return export.phi(patches, b), ((P - b[:, None, :]) ** 2).sum((1, 2))


def minus_errors(patches, bg, alt, psi, bias, allowed, plain=None):
    """[N, len(allowed)]: minus the objective's error of each allowed emoji over the better of bg and alt [N,3]
    (a model with the choice; alt None: over bg). plain: the atlas's file count; the dimmed copies (entries from it
    on) are candidates for the dark tiles only (cm.DARK_LEVEL), as the product's search has them."""
    over = [ph @ psi[allowed].T + bias[allowed] - dd[:, None]
            for ph, dd in (_scores_over(patches, b) for b in ((bg,) if alt is None else (bg, alt)))]
    s = np.maximum.reduce(over)
    if plain is not None:
        bright = cm.patch_quads(patches).max(1) > cm.DARK_LEVEL
        s[np.ix_(bright, np.asarray(allowed) >= plain)] = -np.inf
    return s


def drawn_background(idx, patches, bg, alt, psi, bias):
    """[N,3]: the background each tile's emoji idx is drawn over under the choice: alt where the emoji's error is
    smaller over alt than over bg, else bg (the rule the product's renderer would need; models/EVAL.md, "The
    better of two backgrounds"); alt None: bg)."""
    if alt is None:
        return bg
    over = [(ph * psi[idx]).sum(1) + bias[idx] - dd for ph, dd in (_scores_over(patches, b) for b in (bg, alt))]
    return np.where((over[1] > over[0])[:, None], alt, bg)


def timing(path, patches, mask, threads, runs=20, compare=None):
    """min / median ms of one run over the patches; with `compare` (an older model taking only patches
    and mask), that model's too, the two runs interleaved so that other load weighs on both alike."""
    s = graph.session(path, threads)
    f = feeds(patches, mask, 128, "tile", DEFAULT_VARIETY)
    o = graph.session(compare, threads) if compare else None
    f = model_inputs(s, f)
    s.run(None, f)
    if o:
        # the older model's classes are the atlas file's (no dimmed copies after them)
        old_mask = mask[: next(i.shape[0] for i in o.get_inputs() if i.name == "mask")]
        o.run(None, {"patches": patches, "mask": old_mask})
    ts, to = [], []
    for _ in range(runs):
        t = time.perf_counter()
        s.run(None, f)
        ts.append(time.perf_counter() - t)
        if o:
            t = time.perf_counter()
            o.run(None, {"patches": patches, "mask": old_mask})
            to.append(time.perf_counter() - t)
    out = (1000 * min(ts), 1000 * float(np.median(ts)))
    return out + ((1000 * min(to), 1000 * float(np.median(to))) if o else ())


def flip_error(src, mos):
    """Mean NVIDIA FLIP error (flip-evaluator, LDR, its default 67 pixels per degree; lower is better) of a
    mosaic against the photo it was made from (uint8 RGB arrays or PIL images of one size)."""
    import flip_evaluator as flip
    a, b = (np.asarray(x, np.float32) / 255 for x in (src, mos))
    return float(flip.evaluate(np.ascontiguousarray(a), np.ascontiguousarray(b), "LDR", applyMagma=False)[1])


def render_over(idx, tiles, alpha10, bg, rows, cols):
    """The product's mosaic over per-tile backgrounds bg [N,3]: premultiplied tile + (1 - alpha) * bg."""
    t = tiles[idx] + (1 - alpha10[idx])[..., None] * bg[:, None, None, :]
    t = np.clip(np.rint(t), 0, 255).astype(np.uint8)
    return t.reshape(rows, cols, 10, 10, 3).transpose(0, 2, 1, 3, 4).reshape(rows * 10, cols * 10, 3)


COMPARE = None

HANDHELD_LICENCE = """
`handheld.png` (480x288): frame 60 (0-based) of `assets/bench/handheld.mp4`, a real handheld camera clip (a
water-skier filmed from the towing boat: sky, trees, water), extracted losslessly with
`ffmpeg -i assets/bench/handheld.mp4 -vf "select=eq(n\\,60)" -frames:v 1 handheld.png`. Source and licence:
`assets/bench/LICENSE.md` (camocomp 0.1 example video, New BSD License, Copyright (c) 2012 Adrien Gaidon,
INRIA). Used by `tests/variety.rs` as the camera-like frame; not used in training.
"""


def variety_table(sess, mask, default, ef, tiles, cells, glyph):
    """Per photo, background and variety: texture measures and 2x2 PSNR of the model's mosaic, and the
    exhaustive search's 2x2 PSNR at variety 0 (the likeness upper bound)."""
    import export
    alpha = export.emoji_alpha(cells)
    alpha10 = cm.emoji_alpha10(cells)
    psi, bias = graph.class_matrix(ef, alpha)
    level = choice_level(sess)
    rows_out = []
    for name in cm.HELD_BACK + ["rocket.jpg", "handheld"]:
        # handheld: a frame of the real camera clip assets/bench/handheld.mp4 (tests/data/photos/LICENSE.md)
        img = np.asarray(Image.open(os.path.join(PHOTOS_DIR, "handheld.png")).convert("RGB")) if name == "handheld" \
            else cm.skimage_photo(name)
        p, (rows, cols) = cm.tile_patches(img, 10)
        src = Image.fromarray(np.ascontiguousarray(img[: rows * 10, : cols * 10]))
        for background in ("black", "tile"):
            bg = background_of(p, background)
            alt = None if level is None else alt_of(p, background, level)
            exact = default[minus_errors(p, bg, alt, psi, bias, default, int((glyph == np.arange(len(glyph))).sum())).argmax(1)]
            drawn = lambda idx: drawn_background(idx, p, bg, alt, psi, bias)
            best = mosaic_score(src, Image.fromarray(render_over(exact, tiles, alpha10, drawn(exact), rows, cols)),
                                10)["psnr_2x2"]
            for variety in (0.0, 0.5, 1.0, 1.5, 2.0):
                idx = run(sess, feeds(p, mask, cols, background, variety))
                mos = render_over(idx, tiles, alpha10, drawn(idx), rows, cols)
                sc = mosaic_score(src, Image.fromarray(mos), 10)
                rows_out.append((name, background, variety, texture(glyph[idx], rows, cols), sc["psnr_2x2"], best,
                                 flip_error(src, mos)))
    return rows_out


def main():
    global COMPARE
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--compare", help="an earlier emojinet.onnx (inputs patches, mask) to time against")
    COMPARE = ap.parse_args().compare
    meta, cells = cm.load_atlas()
    C = meta["count"]
    default = np.asarray(meta["sets"]["default"])
    cover = np.array([e["coverage"] for e in meta["emoji"]])
    ef = cm.emoji_feat(cells).astype(np.float64)
    tiles = cm.emoji_tiles(cells)  # [C,10,10,3] float, what the product draws
    mean1 = ef.reshape(C, 4, 3).mean(1)
    raw = tiles.reshape(C, 300).astype(np.float64)
    model_path = os.path.join(cm.MODELS, "emojinet.onnx")
    sess = graph.session(model_path, 1)
    mask = np.full(C, graph.NEG, np.float32)
    mask[default] = 0
    os.makedirs(OUT_DIR, exist_ok=True)
    os.makedirs(PHOTOS_DIR, exist_ok=True)
    rng = np.random.default_rng(7)

    results, floors, agreement = {}, {}, {}
    for name in cm.HELD_BACK:
        img = cm.skimage_photo(name)
        path = os.path.join(PHOTOS_DIR, f"{name}.png")
        Image.fromarray(img).save(path, optimize=True)
        img = np.asarray(Image.open(path).convert("RGB"))  # exactly the file the Rust tests read
        p, (rows, cols) = cm.tile_patches(img, 10)
        f12 = cm.patch_feat(p).astype(np.float64)
        methods = {
            "mean colour nearest": cm.nearest(f12.reshape(-1, 4, 3).mean(1), mean1, default)[0],
            "exhaustive 2x2 nearest (objective)": cm.nearest(f12, ef, default)[0],
            "raw 10x10 nearest": cm.nearest(p.reshape(len(p), 300).astype(np.float64), raw, default)[0],
            "random": rng.choice(default, len(p)),
            "emojinet.onnx": run(sess, feeds(p, mask, cols)),
        }
        assert np.isin(methods["emojinet.onnx"], default).all()
        agreement[name] = float(np.mean(methods["emojinet.onnx"] == methods["exhaustive 2x2 nearest (objective)"]))
        # Score against the whole tiles the mosaic covers: mosaic_score.py scales the mosaic to the
        # source's size, so a source with a partial edge tile would misalign the grids.
        src = Image.fromarray(np.ascontiguousarray(img[: rows * 10, : cols * 10]))
        res = {}
        for m, idx in methods.items():
            mos = render(idx, tiles, rows, cols)
            fn = os.path.join(OUT_DIR, f"{name}_{m.split()[0].replace('.onnx', '')}.png")
            Image.fromarray(mos).save(fn)
            sc = mosaic_score(src, Image.open(fn), 10)
            res[m] = dict(sc, distinct=int(len(np.unique(idx))), block_share=float(np.mean(cover[idx] >= 0.8)),
                          flip=flip_error(src, mos))
        results[name] = res
        mc, mo = res["mean colour nearest"], res["emojinet.onnx"]
        floors[name] = {
            "file": f"{name}.png", "width": int(img.shape[1]), "height": int(img.shape[0]), "tile": 10,
            "background": "black", "set": "default",
            "meancolour": {"psnr_2x2": mc["psnr_2x2"], "psnr_tile": mc["psnr_tile"]},
            "objective": {k: res["exhaustive 2x2 nearest (objective)"][k] for k in ("psnr_2x2", "psnr_tile")},
            "model": {"psnr_2x2": mo["psnr_2x2"], "psnr_tile": mo["psnr_tile"], "distinct": mo["distinct"]},
            "floor": {"psnr_2x2_min": round(mc["psnr_2x2"] + 2.0, 3), "psnr_tile_min": round(mc["psnr_tile"] - 3.5, 3)},
        }
        print(name, json.dumps(res), flush=True)

    # a full 1280x720 frame of each held-back photo: distinct emoji and speed
    frames = {}
    for name in cm.HELD_BACK:
        fr = frame_1280x720(cm.skimage_photo(name))
        p, _ = cm.tile_patches(fr, 10)
        assert len(p) == 9216
        idx = run(sess, feeds(p, mask, 128))
        obj = cm.nearest(cm.patch_feat(p).astype(np.float64), ef, default)[0]
        frames[name] = {"distinct": int(len(np.unique(idx))), "agreement": float(np.mean(idx == obj)), "patches": p}
        src = Image.fromarray(fr)
        for key, sel in (("meancolour", cm.nearest(cm.patch_feat(p).astype(np.float64).reshape(-1, 4, 3).mean(1), mean1, default)[0]),
                         ("objective", obj), ("model", idx)):
            frames[name][key] = mosaic_score(src, Image.fromarray(render(sel, tiles, 72, 128)), 10)
    p = frames["astronaut"]["patches"]
    speed = {th: timing(model_path, p, mask, th, compare=COMPARE) for th in (1, 2)}
    allmask = np.zeros(C, np.float32)
    speed_all = timing(model_path, p, allmask, 1)
    variety_rows = variety_table(sess, mask, default, ef, tiles, cells, cm.glyphs(meta))
    load = os.getloadavg()[0]

    # The exhaustive 2x2 choice is the upper bound of 2x2 PSNR for any one-emoji-per-tile rule (it minimises
    # every tile's 2x2 squared error), so a floor above it cannot be met by any classifier: say so, and give
    # the effective floor a test can assert (the floor, capped at the objective's own value - 0.25 dB).
    ok, verdicts = True, {}
    for name in cm.HELD_BACK:
        f = floors[name]
        f["floor"]["psnr_2x2_attainable"] = f["objective"]["psnr_2x2"] >= f["floor"]["psnr_2x2_min"]
        f["floor"]["psnr_2x2_effective_min"] = round(min(f["floor"]["psnr_2x2_min"], f["objective"]["psnr_2x2"] - 0.25), 3)
        f["model"]["distinct_1280x720"] = frames[name]["distinct"]
        meets = f["model"]["psnr_2x2"] >= f["floor"]["psnr_2x2_min"] and f["model"]["psnr_tile"] >= f["floor"]["psnr_tile_min"]
        meets_eff = f["model"]["psnr_2x2"] >= f["floor"]["psnr_2x2_effective_min"] and f["model"]["psnr_tile"] >= f["floor"]["psnr_tile_min"]
        verdicts[name] = "meets the floors" if meets else (
            "below the 2x2 floor, which is unattainable here (the exhaustive objective itself reaches only "
            f"{f['objective']['psnr_2x2']:.2f} dB); meets the effective floor" if meets_eff and not f["floor"]["psnr_2x2_attainable"]
            else "FAILS the floors")
        ok &= meets_eff and frames[name]["distinct"] >= 150
    json.dump({"note": "measured by training/evaluate.py (10 px tiles, black background, default set). Floors: "
                       "psnr_2x2 >= meancolour.psnr_2x2 + 2 and psnr_tile >= meancolour.psnr_tile - 3.5. 'objective' is "
                       "the exhaustive 2x2 nearest choice, the upper bound of psnr_2x2 for any one-emoji-per-tile rule; "
                       "where it is below the 2x2 floor (psnr_2x2_attainable false) assert psnr_2x2_effective_min "
                       "(= min(floor, objective - 0.25)) instead.",
               "photos": floors}, open(os.path.join(PHOTOS_DIR, "floors.json"), "w"), indent=1)
    # LICENSE.md is written only where there is none: the one in the repository also describes the
    # test photos added by hand since (camera.png, HEIC, AVIF, colour-profiled copies), which a rewrite
    # would drop.
    licence = os.path.join(PHOTOS_DIR, "LICENSE.md")
    if not os.path.exists(licence):
        with open(licence, "w") as f:
            f.write("# Test photos\n\nHeld-back photos (never used in training), copied losslessly as PNG from the "
                    "scikit-image 0.26.0 wheel (`skimage/data/`), licences as stated in scikit-image's "
                    "`skimage/data/_fetchers.py` docstrings:\n\n")
            for name in cm.HELD_BACK:
                img = floors[name]
                f.write(f"- `{name}.png` ({img['width']}x{img['height']}): {cm.HELD_BACK_LICENCE[name]}.\n")
            f.write("\n`floors.json`: the quality floors measured on these files by `training/evaluate.py`.\n")
            f.write(HANDHELD_LICENCE)

    md = json.load(open(os.path.join(cm.CACHE, "train_summary.json"))) if os.path.exists(
        os.path.join(cm.CACHE, "train_summary.json")) else {}
    L = ["Written by `training/evaluate.py` (this part only: the sections after it are written by hand and kept "
         "when it reruns). Held-back photos (never seen in training), 10 px tiles, black "
         "background, `default` set (%d emoji) for every rule. Each mosaic is rendered as the product renders it "
         "(emoji cell area-averaged 64->10 px with premultiplied alpha, over black) and scored with "
         "`mosaic_score.py --tile 10` (2x2 PSNR and tile PSNR, dB). distinct = distinct emoji in the mosaic; "
         "blocks = share of tiles whose emoji has coverage >= 0.8; FLIP = mean NVIDIA FLIP error of the mosaic "
         "against the photo (flip-evaluator, LDR, 67 pixels per degree; lower is better)." % len(default), ""]
    for name in cm.HELD_BACK:
        f = floors[name]
        L += [f"## {name} ({f['width']}x{f['height']}, {f['width'] // 10 * (f['height'] // 10)} tiles)", "",
              "| rule | 2x2 PSNR | tile PSNR | FLIP | distinct | blocks |", "| --- | --- | --- | --- | --- | --- |"]
        for m, r in results[name].items():
            L.append(f"| {m} | {r['psnr_2x2']:.2f} | {r['psnr_tile']:.2f} | {r['flip']:.4f} | {r['distinct']} | "
                     f"{r['block_share']:.1%} |")
        L += ["", f"Floors: 2x2 >= {f['floor']['psnr_2x2_min']:.2f} (model {f['model']['psnr_2x2']:.2f}), "
              f"tile >= {f['floor']['psnr_tile_min']:.2f} (model {f['model']['psnr_tile']:.2f}); "
              f"model = objective's choice on {agreement[name]:.1%} of tiles. Verdict: {verdicts[name]}.", ""]
    L += ["## 1280x720 frames (held-back photo scaled to cover and centre-cropped, 9216 tiles)", "",
          "| photo | distinct emoji (model) | agreement with the exhaustive objective | 2x2 / tile PSNR: mean colour | objective | model |",
          "| --- | --- | --- | --- | --- | --- |"]
    for name in cm.HELD_BACK:
        fr = frames[name]
        ps = " | ".join(f"{fr[k]['psnr_2x2']:.2f} / {fr[k]['psnr_tile']:.2f}" for k in ("meancolour", "objective", "model"))
        L.append(f"| {name} | {fr['distinct']} | {fr['agreement']:.1%} | {ps} |")
    L += ["", "## Speed", "",
          "One session run over the 9216 patches of the astronaut 1280x720 frame, onnxruntime %s CPU, graph "
          "optimisation all, `session.intra_op.allow_spinning`=0, no memory pattern (the product's settings), min / median of 20 runs:" % __import__("onnxruntime").__version__, "",
          f"- 1 thread, default mask, tile background, variety {DEFAULT_VARIETY:g}: {speed[1][0]:.1f} / {speed[1][1]:.1f} ms" +
          (f" (the previous model, black background only, no variety, interleaved: {speed[1][2]:.1f} / {speed[1][3]:.1f} ms)" if COMPARE else ""),
          f"- 2 threads, default mask, tile background, variety {DEFAULT_VARIETY:g}: {speed[2][0]:.1f} / {speed[2][1]:.1f} ms" +
          (f" (previous model: {speed[2][2]:.1f} / {speed[2][3]:.1f} ms)" if COMPARE else ""),
          f"- 1 thread, all-allowed mask: {speed_all[0]:.1f} / {speed_all[1]:.1f} ms", "",
          f"Machine: {os.cpu_count()} cores; 1-minute load average while measuring: {load:.1f} (other work was running, "
          "so these are upper bounds).", ""]
    L += ["## Variety and background", "",
          "Whole photos, 10 px tiles, `default` set, the model's mosaic rendered over the background (`tile` = each "
          "tile's rounded mean colour, black behind dark tiles: common.tile_background) and scored with `mosaic_score.py`. top = share of tiles of the most common "
          "emoji; region = largest 4-connected one-emoji region (tiles); right = share of tiles equal to their "
          "right-hand neighbour; FLIP as above (lower is better). Targets of issue 15: top <= 10%, region <= 25, right <= 15%, at a 2x2 PSNR cost "
          "<= 0.5 dB against today. exhaustive = the exact search at variety 0 (the 2x2 upper bound). cost vs before = "
          "2x2 PSNR lost against black at variety 0 (the default output before issue 15; negative = better). "
          f"The default is `tile` at variety {DEFAULT_VARIETY:g} (marked **default**); `handheld` is a frame of a real "
          "camera clip (tests/data/photos/LICENSE.md), `rocket.jpg` a training photo.", "",
          "| photo | background | variety | top | region | right | distinct | 2x2 PSNR | FLIP | cost vs variety 0 | cost vs before | exhaustive 2x2 |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    base = {}
    for name, background, variety, (top, region, right, distinct), psnr, best, fl in variety_rows:
        base.setdefault((name, background), psnr)
        mark = " **default**" if background == "tile" and variety == DEFAULT_VARIETY else ""
        L.append(f"| {name} | {background} | {variety:g}{mark} | {top:.1%} | {region} | {right:.1%} | {distinct} | "
                 f"{psnr:.2f} | {fl:.4f} | {base[(name, background)] - psnr:.2f} | {base[(name, 'black')] - psnr:.2f} | {best:.2f} |")
    L.append("")
    import detail
    L += ["## Detail: the grid the objective compares", "",
          "Exhaustive search on a k x k grid of mean colours per tile (the product uses 2x2), black background, "
          "variety 0, `default` set; FLIP = mean NVIDIA FLIP error of the mosaic against the photo "
          "(flip-evaluator, LDR, 67 pixels per degree; lower is better). A finer grid looks more like the photo "
          "to FLIP and on its own grid, but costs 2x2 likeness and most of the variety: it pulls toward "
          "full-cell emoji. The product's `--detail 3|4` (with `--classifier nearest`) makes this choice; "
          "`emojicam bench` measures it on its own frame with the product's renderer (README).", ""]
    L += detail.table(detail.frontier())
    L.append("")
    L += ["The learned model (issue 15, item 4): `training/learned_detail.py` trains a learned 12-d embedding of the tile's 3x3 grid for the `--detail 3` "
          "objective and compares it with the analytic graph on these photos under FLIP and 2x2/3x3 PSNR at equal "
          "speed; its run (12 minutes of training) is not repeated here: its tables and verdict are kept by hand "
          "in \"A learned model\" below after each run of that script. The earlier attempt (`train.py`, the same family on the "
          "2x2 grid, fine-tuned with cross-entropy on the objective's labels over black) agreed with the objective "
          "less than its analytic starting point and is not shipped.", ""]
    if md:
        L += ["## Training log summary", "", "```", open(os.path.join(cm.MODELS, "train.log")).read().strip(), "```", ""]
    L += [f"All floors met (2x2 floor capped at the attainable where the objective itself is below it; >= 150 "
          f"distinct emoji per 1280x720 frame): {'yes' if ok else 'NO'}.", ""]
    write_own_part(os.path.join(cm.MODELS, "EVAL.md"), "\n".join(L))
    print("\n".join(L))
    if not ok:
        raise SystemExit("quality floors not met")


BEGIN = "<!-- written by training/evaluate.py: begin -->"
END = "<!-- written by training/evaluate.py: end -->"


def write_own_part(path, text):
    """Replace only the part of `path` between BEGIN and END with `text`, keeping the hand-written
    sections around it (a file without the markers gets a title and the part, then its old text)."""
    old = open(path).read() if os.path.exists(path) else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
    else:
        head, tail = "# emojinet evaluation\n\n", ("\n" + old if old else "\n")
    with open(path, "w") as f:
        f.write(f"{head}{BEGIN}\n{text.strip()}\n{END}{tail}")


if __name__ == "__main__":
    main()
