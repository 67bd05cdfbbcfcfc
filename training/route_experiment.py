#!/usr/bin/env python3
"""Routing experiments (models/EVAL.md, "Routing saturated flat tiles over black"): the exhaustive search's
labels of every index tile (export.index_tiles, every set and tolerance export.build_index counts) are
computed once and kept in $TMPDIR/route_labels.npy (about 4 minutes, 26 MB): they do not depend on the
routing, so each rule then only reassigns the index tiles to prototypes, recounts and writes a model in
seconds. With no routing it writes export.py --route-flat 0's member tables, and with FLAT:SAT those of
export.py --route-flat FLAT --route-sat SAT (checked: the same tables, byte for byte); ROWS = all | split
gives the routed tiles member rows of their own (graph.build_stacked route_rows; not shipped), counted on
the routed index tiles only, the other rows on every index tile (all) or on the others (split).

OWN_SHARE (default 0.5, export.py --own-share): the share of each list reserved for the emoji under its prototype.

usage: route_experiment.py NAME:FLAT:SAT[:ROWS[:OWN_SHARE]] ...   (writes $TMPDIR/route_NAME.onnx)
needs: numpy, onnx; then training/unseen.py --model $TMPDIR/route_NAME.onnx PHOTOS"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as cm  # noqa: E402
import export as ex  # noqa: E402
import graph  # noqa: E402

T = os.environ.get("TMPDIR", "/tmp")


def setup():
    meta, cells = cm.load_atlas()
    C = meta["count"]
    Q = cm.emoji_feat(cells).astype(np.float64)
    alpha = ex.emoji_alpha(cells)
    sets = meta["sets"]
    weights = [(sets["default"], 4.0), (sets["all"], 2.0), (sets["skin-tones"], 1.0), (sets["no-flags"], 1.0)]
    weights += [(v, 0.25) for k, v in sets.items() if k not in ("default", "all", "skin-tones", "no-flags")]
    rng = np.random.default_rng(ex.SEED)
    K = 256
    x = np.concatenate([Q, 255 * alpha], 1)
    groups = ex.kmeans_classes(x, K, rng)
    protos = (np.stack([Q[groups == k].mean(0) if (groups == k).any() else np.full(12, 1e4) for k in range(K)]),
              np.stack([alpha[groups == k].mean(0) if (groups == k).any() else np.zeros(4) for k in range(K)]))
    psi, bias = graph.class_matrix(Q, alpha)
    p, bg, pos = ex.index_tiles(rng, ex.FLAT, ex.TEXTURED)
    ph = ex.phi(p, bg)
    P = cm.patch_quads(p).astype(np.float64)
    lpath = os.path.join(T, "route_labels.npy")
    if os.path.exists(lpath):
        labels = np.load(lpath)
    else:
        t0 = time.time()
        labels = np.zeros((len(weights), len(ex.TOLERANCES), len(ph)), np.int16)
        for i, (allowed, w) in enumerate(weights):
            allowed = np.asarray(allowed)
            for j, tol in enumerate(ex.TOLERANCES):
                labels[i, j] = ex.exact_choice(ph, pos, tol, psi, bias, None, allowed)
        np.save(lpath, labels)
        print(f"labels in {time.time() - t0:.0f} s", flush=True)
    return dict(meta=meta, C=C, Q=Q, alpha=alpha, weights=weights, K=K, protos=protos, p=p, bg=bg, pos=pos,
                ph=ph, P=P, labels=labels)


def members_for(S, route, M=96, own_share=0.5, log=print, only=None):
    """route: bool [N], the tiles routed as if over black; only: bool [N], the tiles counted (None: all)."""
    K, C, Q, alpha, protos, ph = S["K"], S["C"], S["Q"], S["alpha"], S["protos"], S["ph"]
    phb = ex.phi(S["p"], np.zeros_like(S["bg"]))
    cell = ex.assign(np.where(route[:, None], phb, ph), protos)
    if only is not None:
        cell = np.where(only, cell, K)   # a dropped row
    ppsi, pbias = graph.class_matrix(*protos)
    rank = np.argsort(-(ex.class_phi(Q, alpha) @ ppsi.T + pbias), 1, kind="stable")
    counts = np.zeros((K, C))
    # the same order of additions as export.build_index: base tiles first, then the textured ones
    nb = len(ph) - ex.TEXTURED
    for sl in (slice(0, nb), slice(nb, len(ph))):
        part = np.zeros((K + 1, C))
        for i, (allowed, w) in enumerate(S["weights"]):
            for j in range(len(ex.TOLERANCES)):
                np.add.at(part, (cell[sl], S["labels"][i, j, sl].astype(np.int64)), w)
        counts = part[:K] if sl.start == 0 else counts + part[:K]
    own = [[] for _ in range(K)]
    for c in range(C):
        k = next(k for k in rank[c] if len(own[k]) < max(1, int(M * own_share)))
        own[k].append(c)
    return cm.fill_members(own, counts, M, log)


def route_rule(P, bg, flat=0.0, sat=0.0):
    """Tiles within `flat` levels of their background (each channel) whose background's max - min channel is
    >= sat."""
    d = np.abs(P.reshape(-1, 4, 3) - bg[:, None, :]).max((1, 2))
    s = bg.max(1) - bg.min(1)
    return (d <= flat) & (s >= sat)


def build(S, out, flat=0.0, sat=0.0, rows="", own_share=0.5):
    import onnx
    route = route_rule(S["P"], S["bg"], flat, sat) if flat else np.zeros(len(S["P"]), bool)
    if rows:
        none = np.zeros(len(route), bool)
        base = members_for(S, none, only=None if rows == "all" else ~route)
        members = np.concatenate([base, members_for(S, route, only=route, own_share=own_share)])
    else:
        members = members_for(S, route, own_share=own_share)
    md = {"classes": S["C"], "atlas_sha256": None}
    model = graph.build_stacked(S["Q"], S["alpha"], S["protos"], (members,), md, chunks=16,
                                route_flat=flat, route_sat=sat, route_rows=bool(rows))
    onnx.save(model, out)
    return route.mean()


if __name__ == "__main__":
    S = setup()
    for spec in sys.argv[1:]:
        name, flat, sat, rows, own = (spec.split(":") + ["", ""])[:5]
        r = build(S, os.path.join(T, f"route_{name}.onnx"), float(flat), float(sat), rows, float(own or 0.5))
        print(f"{name}: routed {r:.1%} of index tiles", flush=True)
