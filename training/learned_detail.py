#!/usr/bin/env python3
"""Issue 15 item 4: a learned model for the richer objective (--detail 3), tested against the analytic one.

What is learned: the original's model family at its size, a 12-d embedding with score(p, e) = -|f(p) - E_e|^2,
but with f(p) = A g3(p) + a taking the tile's 3x3 grid of mean colours (27 values) instead of the 2x2 grid.
A (12x27), a and the emoji embeddings E (C x 12) are trained on the training photos (rocket, hubble, retina,
brick, grass, gravel, coins at 10/14/20/28 px tiles, mirrored) and synthetic smooth colour fields, distilling
the exhaustive 3x3 objective over black (soft targets softmax(-err3 / TAU) over the default set, KL loss),
initialised from the principal 12-d subspace of the emoji's 3x3 features (A = its basis, E = the projected
emoji). A search over a 12-d embedding costs what the analytic 2x2 search costs (same shapes), so the
comparison is at equal speed by construction; the script also measures it (ONNX Runtime, one batch of a
1280x720 frame, exhaustive single-stage graphs, interleaved).

Rules compared on the held-back photos (astronaut, chelsea, coffee; 10 px tiles, black background, default
set, exhaustive search, variety 0): analytic 2x2 (the product's objective), learned 3x3 -> 12, and the exact
3x3 objective (27 values per emoji: the quality a learned 12-d model could at best reach, at a higher cost).
Scored like training/detail.py: 2x2 and 3x3 PSNR of the rendered mosaic, NVIDIA FLIP (flip-evaluator),
distinct emoji.

usage: learned_detail.py [--minutes 12]      prints markdown tables (models/EVAL.md quotes them)
needs: numpy, pillow, torch, onnx, onnxruntime, flip-evaluator (/work/venv-variety has them)
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as cm  # noqa: E402
import detail  # noqa: E402
from mosaic_score import psnr  # noqa: E402

SEED = 20261202
D = 12
TAU = 300.0  # squared-error scale of the soft targets (about 3 levels of RMS on 27 values)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def synthetic(n, rng):
    corners = rng.integers(0, 256, (n, 2, 2, 3)).astype(np.float32)
    t = (np.arange(10) + 0.5) / 10
    wy, wx = t[:, None, None], t[None, :, None]
    c = corners
    top = c[:, 0, 0][:, None, None] * (1 - wx) + c[:, 0, 1][:, None, None] * wx
    bot = c[:, 1, 0][:, None, None] * (1 - wx) + c[:, 1, 1][:, None, None] * wx
    img = top * (1 - wy) + bot * wy + rng.normal(0, 6, (n, 10, 10, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def training_patches(rng):
    pats = []
    for name in cm.TRAIN_PHOTOS:
        img = cm.skimage_photo(name)
        for tile in (10, 14, 20, 28):
            for flip in (False, True):
                pats.append(cm.tile_patches(img[:, ::-1].copy() if flip else img, tile)[0])
    photo = np.concatenate(pats)
    return np.concatenate([photo, synthetic(len(photo) // 2, rng)])


def g3(patches):
    return cm.box_down(np.asarray(patches, np.float32), 3).reshape(len(patches), 27)


def train(x, e3, allowed, minutes, rng):
    import torch
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # a shared 2-core machine
    ea = e3[allowed].astype(np.float64)
    mean = ea.mean(0)
    _, _, vt = np.linalg.svd(ea - mean, full_matrices=False)
    basis = vt[:D]  # [12, 27]
    A = torch.tensor(basis, dtype=torch.float32, requires_grad=True)
    a = torch.tensor(-basis @ mean, dtype=torch.float32, requires_grad=True)
    E = torch.tensor((e3 - mean) @ basis.T, dtype=torch.float32, requires_grad=True)
    X = torch.tensor(x)
    Ea = torch.tensor(ea, dtype=torch.float32)
    idx = torch.tensor(allowed)
    opt = torch.optim.Adam([A, a, E], lr=0.5)
    t0, step, n = time.time(), 0, len(x)
    while time.time() - t0 < minutes * 60:
        b = X[torch.randint(0, n, (1024,))]
        with torch.no_grad():
            err = (b * b).sum(1, keepdim=True) - 2 * b @ Ea.T + (Ea * Ea).sum(1)[None]
            target = torch.softmax(-err / TAU, 1)
        f = b @ A.T + a
        Es = E[idx]
        d = (f * f).sum(1, keepdim=True) - 2 * f @ Es.T + (Es * Es).sum(1)[None]
        loss = torch.nn.functional.kl_div(torch.log_softmax(-d / TAU, 1), target, reduction="batchmean")
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            with torch.no_grad():
                agree = (d.argmin(1) == err.argmin(1)).float().mean().item()
            log(f"step {step}: KL {loss.item():.4f}, agreement with the 3x3 objective on the batch {agree:.1%}")
        if time.time() - t0 > 0.6 * minutes * 60 and opt.param_groups[0]["lr"] > 0.1:
            for g in opt.param_groups:
                g["lr"] = 0.1
    log(f"trained {step} steps in {time.time() - t0:.0f} s")
    return A.detach().numpy(), a.detach().numpy(), E.detach().numpy()


def nearest_emb(f, E, allowed):
    return np.asarray(allowed)[cm.nearest(f, E[allowed])[0]]


def compare(model, cells, allowed):
    import flip_evaluator as flip
    A, a, E = model
    over = cm.over_black(cells)
    e2 = cm.box_down(over, 2).reshape(len(cells), -1)
    e3 = cm.box_down(over, 3).reshape(len(cells), -1)
    tiles = cm.emoji_tiles(cells)
    rows = []
    for name in cm.HELD_BACK:
        img = cm.skimage_photo(name)
        p, (r, c) = cm.tile_patches(img, 10)
        src = np.ascontiguousarray(img[: r * 10, : c * 10])
        p2 = cm.box_down(p.astype(np.float32), 2).reshape(len(p), -1)
        p3 = g3(p)
        rules = {
            "analytic 2x2 (the product's objective)": cm.nearest(p2, e2, allowed)[0],
            "learned 3x3 -> 12-d embedding": nearest_emb(p3 @ A.T + a, E, allowed),
            "exact 3x3 objective (27-d, reference)": cm.nearest(p3, e3, allowed)[0],
        }
        for rule, idx in rules.items():
            mos = np.clip(np.rint(tiles[idx]), 0, 255).astype(np.uint8)
            mos = mos.reshape(r, c, 10, 10, 3).transpose(0, 2, 1, 3, 4).reshape(r * 10, c * 10, 3)
            _, fl, _ = flip.evaluate(src.astype(np.float32) / 255, mos.astype(np.float32) / 255, "LDR",
                                     applyMagma=False)
            rows.append((name, rule, psnr(detail.grid(src, r, c, 2), detail.grid(mos, r, c, 2)),
                         psnr(detail.grid(src, r, c, 3), detail.grid(mos, r, c, 3)), float(fl),
                         len(np.unique(idx))))
            log(rows[-1])
    return rows


def exhaustive_graph(dims, emb, allowed, path, proj=None):
    """One batch [N, dims] -> class index: argmax of 2 f.E - |E|^2 over the allowed classes, with
    f = x A^T + a computed in the graph when `proj` = (A, a) is given, else f = x."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = np.concatenate([2 * emb[allowed].T, -(emb[allowed] ** 2).sum(1)[None]]).astype(np.float32)
    nodes, inits = [], []
    f = "x"
    if proj is not None:
        nodes.append(helper.make_node("Gemm", ["x", "A", "a"], ["f"], transB=1))
        inits += [numpy_helper.from_array(proj[0].astype(np.float32), "A"),
                  numpy_helper.from_array(proj[1].astype(np.float32), "a")]
        f = "f"
    nodes += [
        helper.make_node("Pad", [f, "pads", "one"], ["x1"]),
        helper.make_node("MatMul", ["x1", "w"], ["s"]),
        helper.make_node("ArgMax", ["s"], ["k"], axis=1, keepdims=0),
        helper.make_node("Gather", ["classes", "k"], ["label"]),
    ]
    inits += [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([0, 0, 0, 1], np.int64), "pads"),
             numpy_helper.from_array(np.array(1, np.float32), "one"),
             numpy_helper.from_array(np.asarray(allowed, np.int64), "classes")]
    g = helper.make_graph(nodes, "exhaustive", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", dims])],
                          [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"])], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), path)


def speed(model, cells, allowed, tmp):
    """Classify ms of one 9216-tile batch (astronaut 1280x720 frame), 2 threads, interleaved, 15 rounds."""
    import onnxruntime as ort
    from evaluate import frame_1280x720
    A, a, E = model
    over = cm.over_black(cells)
    p = cm.tile_patches(frame_1280x720(cm.skimage_photo("astronaut")), 10)[0]
    graphs = {
        "analytic 2x2 (input 2x2 grid, 12-d)": (cm.box_down(over, 2).reshape(len(cells), -1),
                                                cm.box_down(p.astype(np.float32), 2).reshape(len(p), -1), None),
        "learned (input 3x3 grid, projected to 12-d in the graph)": (E, g3(p), (A, a)),
        "exact 3x3 (input 3x3 grid, 27-d)": (cm.box_down(over, 3).reshape(len(cells), -1), g3(p), None),
    }
    sessions = {}
    for name, (emb, x, proj) in graphs.items():
        path = os.path.join(tmp, f"g{len(sessions)}.onnx")
        exhaustive_graph(x.shape[1], emb.astype(np.float64), allowed, path, proj)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sessions[name] = (ort.InferenceSession(path, so), {"x": x.astype(np.float32)})
    times = {n: [] for n in sessions}
    for _ in range(16):
        for n, (s, feed) in sessions.items():
            t = time.perf_counter()
            s.run(None, feed)
            times[n].append((time.perf_counter() - t) * 1e3)
    return {n: (min(v[1:]), float(np.median(v[1:]))) for n, v in times.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=12.0)
    args = ap.parse_args()
    rng = np.random.default_rng(SEED)
    meta, cells = cm.load_atlas()
    allowed = np.asarray(meta["sets"]["default"])
    e3 = cm.box_down(cm.over_black(cells), 3).reshape(len(cells), -1)
    x = g3(training_patches(rng))
    log(f"{len(x)} training patches; training for {args.minutes} min")
    model = train(x, e3, allowed, args.minutes, rng)
    np.savez(os.path.join(cm.CACHE, "learned_detail.npz"), A=model[0], a=model[1], E=model[2])
    rows = compare(model, cells, allowed)
    print("| photo | rule | 2x2 PSNR | 3x3 PSNR | FLIP (lower is better) | distinct emoji |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n, rule, p2, p3, fl, d in rows:
        print(f"| {n} | {rule} | {p2:.2f} | {p3:.2f} | {fl:.4f} | {d} |")
    sp = speed(model, cells, allowed, cm.CACHE)
    print()
    print("| graph (exhaustive, one 9216-tile batch, 2 threads, 15 interleaved runs) | min ms | median ms |")
    print("| --- | --- | --- |")
    for n, (lo, med) in sp.items():
        print(f"| {n} | {lo:.1f} | {med:.1f} |")


if __name__ == "__main__":
    main()
