#!/usr/bin/env python3
"""Export models/emojinet.onnx: the objective as an ONNX graph, with the background each emoji is
drawn over and the variety tolerance as inputs (see models/README.md, "The graph").

The graph is analytic: its weights are the emoji's own 2x2 colours and coverage, so it computes the
objective exactly; nothing is fitted. (train.py's learned embedding is the attempt at a learned
model; see models/EVAL.md.)
"""
import argparse
import hashlib
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as cm  # noqa: E402
import graph  # noqa: E402


def emoji_alpha(cells):
    """Mean coverage (alpha, 0..1) of each 32x32 quadrant of every cell, [C,4]: TL, TR, BL, BR."""
    a = cells[..., 3].astype(np.float64)
    return a.reshape(len(cells), 2, 32, 2, 32).mean((2, 4)).reshape(len(cells), 4) / 255.0


SEED = 20261202
TOLERANCES = (0.0, 500.0, 1000.0, 2000.0)   # variety 0..2: member lists cover the near-best emoji too


RELATIVE = ""  # per-tile tolerance, tried and not shipped: models/EVAL.md, "Relative tolerance"
FLAT = 30000  # near-flat index tiles (walls, ceilings, shirts): models/EVAL.md, "Unseen photos"
TEXTURED = 30000  # near-flat index tiles with faint texture: models/EVAL.md, "Textured flat tiles"
# near-flat tiles of a saturated colour go to stage 1 as if over black: models/EVAL.md, "Routing saturated flat tiles"
ROUTE_FLAT = 8.0   # within this many levels of the background, each channel
ROUTE_SAT = 40.0   # and the background's largest minus smallest channel at least this
# count ladder: a tile keeps only the members within 0.3 x the tolerance when at least 12 of them are there
# (smooth grey, pale or dark areas): models/EVAL.md, "Count ladder"
LADDER = "12:0.3"
# a tile over a saturated colour (at the tile background: its own) with fewer than 4 members within the ladder's 0.3 T
# picks within 1.5 T: models/EVAL.md, "Widening saturated tiles" (5 until "Pale walls")
WIDEN_SAT = "4:1.5:50"
WIDEN_PALE = "200:12:3"   # and pale near-flat tiles: models/EVAL.md, "Pale walls"
DARK_TILES = 20000  # dark index tiles for the dark member lists: models/EVAL.md, "Dimmed emoji"
DARK_BUDGET = "1:0.3:40"  # a dark tile's tolerance from the frame's detail: models/EVAL.md, "A dark budget"
NARROW_TEXTURED = 0.3   # a tile with detail that fails the rung: within 0.3 T: models/EVAL.md, "Detail keeps near its best"
DARK_CAP = 0.15   # a dark tile's budget at most 0.15 T (same section)
# in a frame mostly of one flat colour (frame_flat 0.6 -> 0.98) a nearly flat tile keeps within 1.25 x the error of
# the picture before issue 15: models/EVAL.md, "A dim plain frame" (--flat-frame-count: tried, not shipped, 1.5x time)
FLAT_FRAME = "1.25:0.6:0.98"
FRAME_BLACK = 0.3
DETAIL_CAP = "0.8:0.1"   # a tile with detail within 0.8 x its share of before + 0.1 frame_black: models/EVAL.md, "A budget for tiles with detail"


def flat_patches(n, rng):
    """Near-flat tiles of colours spread over the whole RGB cube: one colour per tile, a slight linear
    gradient (up to 8 levels across) and sensor noise (sigma 0..3): what most of a webcam frame (a wall,
    a ceiling, a shirt) is made of. The training photos have few of them outside a few colours, so
    without these the member lists missed the best emoji of flat tiles of other colours over their
    own mean colour (the default background)."""
    base = rng.uniform(0, 255, (n, 1, 1, 3))
    t = (np.arange(10) - 4.5) / 9
    g = rng.uniform(-4, 4, (n, 2, 1, 1, 3))
    img = base + g[:, 0] * t[:, None, None] + g[:, 1] * t[None, :, None]
    img = img + rng.normal(0, 1, img.shape) * rng.uniform(0, 3, (n, 1, 1, 1))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def textured_patches(n, rng):
    """Near-flat tiles with low-amplitude texture: one colour per tile (half of them pale or grey: a
    lightness of 120..255 with a small tint, half uniform over the RGB cube) under one of five
    textures: noise (sigma 2..20 levels, the same on the three channels or not), blurred noise (a
    coarse 3x3..5x5 noise field, bilinear), a faint gradient (8..30 levels across), a faint straight
    edge (5..30 levels) and a faint blob, the last three with slight noise (sigma 0..4). What plaster,
    paper, fabric and out-of-focus backgrounds look like at 10 px tiles; flat_patches has only
    sigma 0..3 and 8-level gradients, and their member lists missed the best emoji of such tiles."""
    pale = rng.random(n) < 0.5
    base = rng.uniform(0, 255, (n, 3))
    light = rng.uniform(120, 255, (n, 1)) + rng.normal(0, 1, (n, 3)) * rng.uniform(0, 20, (n, 1))
    base[pale] = light[pale]
    kind = rng.integers(0, 5, n)
    t = (np.arange(10) - 4.5) / 9
    yy, xx = np.meshgrid(t, t, indexing="ij")
    mono = rng.random(n) < 0.5
    z = rng.normal(0, 1, (n, 10, 10, 3))
    z[mono] = z[mono][..., :1]
    tex = np.zeros((n, 10, 10, 3))
    sel = kind == 0
    tex[sel] = z[sel] * rng.uniform(2, 20, (sel.sum(), 1, 1, 1))
    sel = kind == 1
    grid = rng.integers(3, 6, n)
    for g in (3, 4, 5):
        s2 = sel & (grid == g)
        coarse = rng.normal(0, 1, (s2.sum(), g, g, 3))
        coarse[mono[s2]] = coarse[mono[s2]][..., :1]
        u = np.linspace(0, g - 1, 10)
        i0 = np.minimum(np.floor(u).astype(int), g - 2)
        f = u - i0
        rows = coarse[:, i0] * (1 - f)[None, :, None, None] + coarse[:, i0 + 1] * f[None, :, None, None]
        field = rows[:, :, i0] * (1 - f)[None, None, :, None] + rows[:, :, i0 + 1] * f[None, None, :, None]
        tex[s2] = field * rng.uniform(4, 25, (s2.sum(), 1, 1, 1))
    ang = rng.uniform(0, 2 * np.pi, n)
    along = np.cos(ang)[:, None, None] * xx + np.sin(ang)[:, None, None] * yy       # [n,10,10]
    tint = rng.uniform(0.7, 1.0, (n, 1, 1, 3))
    sel = kind == 2
    tex[sel] = (along[sel] * rng.uniform(8, 30, (sel.sum(), 1, 1)))[..., None] * tint[sel]
    sel = kind == 3
    off = rng.uniform(-0.4, 0.4, (n, 1, 1))
    step = np.where(along[sel] > off[sel], 0.5, -0.5) * rng.uniform(5, 30, (sel.sum(), 1, 1))
    tex[sel] = step[..., None] * tint[sel]
    sel = kind == 4
    cy, cx = rng.uniform(-0.5, 0.5, (2, n, 1, 1))
    r = rng.uniform(0.15, 0.5, (n, 1, 1))
    blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r ** 2)) * rng.choice([-1, 1], (n, 1, 1))
    tex[sel] = (blob[sel] * rng.uniform(5, 30, (sel.sum(), 1, 1)))[..., None] * tint[sel]
    small = rng.uniform(0, 4, (n, 1, 1, 1)) * z
    tex[kind >= 2] += small[kind >= 2]
    return np.clip(np.rint(base[:, None, None, :] + tex), 0, 255).astype(np.uint8)


def backgrounds(p, rng):
    """Each tile's background: black, white, its own mean colour faded to black where the tile is dark
    (cm.mean_backdrop: the `tile` background as the lists were counted, before black behind bright detail
    over a dark ground, cm.dark_ground, which the black index tiles stand for) or a random colour."""
    n = len(p)
    kind = rng.choice(4, n, p=[0.35, 0.1, 0.45, 0.1])
    tile = cm.mean_backdrop(cm.patch_quads(p))
    bg = np.zeros((n, 3))
    bg[kind == 1] = 255
    bg[kind == 2] = tile[kind == 2]
    bg[kind == 3] = rng.integers(0, 256, ((kind == 3).sum(), 3))
    return bg


def dark_patches(n, rng):
    """Dark tiles (the brightest channel 4..44 levels): flat_patches and textured_patches scaled down, so the
    member lists of dark tiles (build_index's dark_rows) are counted on dark walls, shirts and shadows of every
    hue and texture, not only the dark parts of the training photos."""
    t = np.concatenate([flat_patches(n // 2, rng), textured_patches(n - n // 2, rng)]).astype(np.float64)
    top = t.reshape(n, -1).max(1)
    scale = rng.uniform(4, 44, n) / np.maximum(top, 1)
    return np.clip(np.rint(t * scale[:, None, None, None]), 0, 255).astype(np.uint8)


def index_tiles(rng, flat=FLAT, textured=TEXTURED, dark=0):
    """Training tiles for the search index (never the held-back photos): the training photos at tile
    sizes 10/16/24 px and mirrored, synthetic smooth colour fields, and `flat` near-flat tiles (drawn
    from a second generator, after the others, so that `flat=0` gives the earlier index exactly);
    each with a background drawn from black, white, its `tile` background or a random colour, and a
    random grid position; then `textured` near-flat tiles with faint texture (a third generator, last,
    so that `textured=0` gives the index before them exactly). Returns patches u8 [N,10,10,3],
    backgrounds f64 [N,3], positions [N,2]."""
    from train import synthetic_patches
    pats = []
    for name in cm.TRAIN_PHOTOS:
        img = cm.skimage_photo(name)
        for tile in (10, 16, 24):
            for flip in (False, True):
                pats.append(cm.tile_patches(img[:, ::-1].copy() if flip else img, tile)[0])
    pats.append(synthetic_patches(20000, rng))
    p = np.concatenate(pats)
    bg = backgrounds(p, rng)
    pos = rng.integers(0, 400, (len(p), 2))
    for seed, make, n in ((SEED + 1, flat_patches, flat), (SEED + 2, textured_patches, textured),
                          (SEED + 3, dark_patches, dark)):
        if n:
            g = np.random.default_rng(seed)
            t = make(n, g)
            p = np.concatenate([p, t])
            bg = np.concatenate([bg, backgrounds(t, g)])
            pos = np.concatenate([pos, g.integers(0, 400, (n, 2))])
    return p, bg, pos


def phi(patches, bg):
    """The tile side of graph.class_matrix: [N,20], from the patches' rounded quadrant means (the graph's
    quads input)."""
    P = cm.patch_quads(patches).astype(np.float64).reshape(-1, 4, 3)
    d = P - bg[:, None, :]
    return np.concatenate([d.reshape(-1, 12), (d * bg[:, None, :]).sum(2), bg, (bg ** 2).sum(1, keepdims=True)], 1)


def alt_backgrounds(p, bg, level=255):
    """The second background of index tiles (graph.build_stacked's choice): black for the tiles drawn over their
    `tile` background whose rounded mean's brightest channel is at most `level`, their own background for the
    others (black, white or a colour the user chose: no choice)."""
    q = cm.patch_quads(p)
    tile = (bg == cm.mean_backdrop(q)).all(1) & (cm.quads_mean(q).max(1) <= level)
    return np.where(tile[:, None], 0.0, bg)


def exact_choice(ph, pos, tol, psi, bias, keys, allowed, chunk=8192, widen=None, alt=None):
    """The exhaustive graph's choice over the allowed classes, in numpy. widen = (count, factor, rung, saturated
    [N] bool): a saturated tile with fewer than `count` allowed emoji within rung * tol picks within factor * tol
    (the graph's widen_sat; the ladder itself is not applied here). alt = (phi over the second background, |P - b|^2
    over the first, over the second): each emoji scored over either (graph.build_stacked's choice), the label C + e
    where e is picked over the second."""
    # keys None: the fast graph's key pick, the highest key among the emoji within tol of the best (the member
    # tables are still counted with it: over many tiles it and the shipped quantile pick draw each candidate
    # about equally often, and the counts, hence the tables, stay those of the file before)
    if keys is None:
        T = graph.key_table(len(psi))[:, allowed]
        bins = graph.pattern_bin_np(pos[:, 0], pos[:, 1])
        w = psi[allowed].T
        b = bias[allowed]
        out = []
        for i in range(0, len(ph), chunk):
            s = ph[i:i + chunk] @ w + b
            keys_i = T[bins[i:i + chunk]]
            if alt is not None:
                ph_a, dd_b, dd_a, same = (x[i:i + chunk] for x in alt)
                s_a = np.where(same[:, None], -1e18, ph_a @ w + b - dd_a[:, None])   # no second background: none
                s = np.concatenate([s - dd_b[:, None], s_a], 1)                   # [n, 2A]: over bg, over alt
                keys_i = np.concatenate([keys_i, keys_i], 1)
            t = tol
            if widen and tol > 0:
                few = (s >= s.max(1, keepdims=True) - widen[2] * tol).sum(1) < widen[0]
                t = np.where(few & widen[3][i:i + chunk], widen[1] * tol, tol)[:, None]
            j = graph.key_choice_np(s, keys_i, t)
            out.append(allowed[j % len(allowed)] + len(psi) * (j >= len(allowed)))
        return np.concatenate(out)
    g = graph.pattern_np(pos[:, 0], pos[:, 1]) * tol
    w = np.concatenate([psi, keys], 1)[allowed].T
    b = bias[allowed]
    out = []
    for i in range(0, len(ph), chunk):
        x = np.concatenate([ph[i:i + chunk], g[i:i + chunk]], 1)
        out.append(allowed[(x @ w + b).argmax(1)])
    return np.concatenate(out)


def kmeans_classes(x, k, rng, iters=30):
    """k-means of the rows of x; returns each row's cluster."""
    c = x[rng.choice(len(x), k, replace=False)].copy()
    xn = (x ** 2).sum(1)
    for _ in range(iters):
        a = (xn[:, None] - 2 * x @ c.T + (c ** 2).sum(1)[None]).argmin(1)
        for j in range(k):
            sel = a == j
            c[j] = x[sel].mean(0) if sel.any() else x[rng.integers(len(x))]
    return a


def fit_prototypes(P, bg, cell, protos, ridge=1e3):
    """One Lloyd step: each prototype becomes the pseudo-emoji (Q [12], alpha [4]) whose composite over
    each of its tiles' backgrounds fits their 2x2 colours best (least squares per quadrant:
    P_qc - b_c = Q_qc - a_q b_c; alpha pulled towards its previous value where backgrounds are dark)."""
    Qk, ak = protos[0].copy(), protos[1].copy()
    for k in range(len(Qk)):
        sel = cell == k
        if not sel.any():
            continue
        y = P[sel].reshape(-1, 4, 3) - bg[sel][:, None, :]
        b = bg[sel]
        for q in range(4):
            # normal equations for [Q_q0, Q_q1, Q_q2, a_q]
            A = np.zeros((4, 4))
            r = np.zeros(4)
            n = len(b)
            for c in range(3):
                A[c, c] += n
                A[c, 3] -= b[:, c].sum()
                A[3, c] -= b[:, c].sum()
                A[3, 3] += (b[:, c] ** 2).sum()
                r[c] += y[:, q, c].sum()
                r[3] -= (y[:, q, c] * b[:, c]).sum()
            A[3, 3] += ridge
            r[3] += ridge * ak[k, q]
            sol = np.linalg.solve(A + 1e-6 * np.eye(4), r)
            ak[k, q] = np.clip(sol[3], 0.0, 1.0)
            Qk[k, q * 3:q * 3 + 3] = np.clip(sol[:3], 0.0, 255.0 * ak[k, q])
    return Qk, ak


def assign(ph, protos):
    ppsi, pbias = graph.class_matrix(*protos)
    return np.concatenate([(ph[i:i + 8192] @ ppsi.T + pbias).argmax(1) for i in range(0, len(ph), 8192)])


def build_index(Q, alpha, sets, K, tables, rng, log, lloyd=0, fast=True, flat=FLAT, textured=TEXTURED, dark_tiles=0,
                counts_cache=None, route_black=False, route_flat=0.0, route_sat=0.0, widen_sat=None, choice=False,
                choice_level=255, owned=None, dark_rows=None, copy_protos=0, exact_blend=0.0):
    """Prototypes and the member tables of the two-stage search, one [K,M] per (M, own_share[, tolerances]) of
    `tables`, its lists counted on the index tiles' choices at those tolerances (TOLERANCES when not given).
    Prototypes are pseudo-emoji (2x2 colour and coverage), so stage 1 is the objective itself over K
    pseudo-emoji drawn over the tile's background: started from k-means of the emoji (by colour and
    coverage) and refined on the index tiles (fit_prototypes). Members: every class in the list of
    the prototype it falls under itself (always reachable); the other slots hold the classes the
    exhaustive search picks most often (under the named sets, the backgrounds of index_tiles and the
    variety tolerances) for the tiles of that prototype; own_share of each list is reserved for the
    classes under that prototype. The counts of the tiles before the textured ones are computed on
    their own (and kept in counts_cache, a .npy file, when given; an experiment's shortcut: the file is
    the same with or without it). choice: the exhaustive search scores each emoji over the better of a tile's
    background and alt_backgrounds, and the tables hold labels e (over the background) or C + e (over black:
    graph.build_stacked's choice). dark_rows = LEVEL: each table has 2K rows, prototype k's list for the tiles
    with a quadrant channel above LEVEL in row k and for the dark ones (none above it) in row K + k, each counted on
    such tiles alone and each holding the prototype's own classes (graph.build_stacked's dark_rows).
    copy_protos > 0: the K prototypes start from k-means of the classes before `owned` (the emoji as drawn) and
    copy_protos more from k-means of the dimmed copies, so the copies do not take prototypes from the emoji as
    drawn (with all classes in one k-means, 89 of 256 held only copies)."""
    C = len(Q)
    x = np.concatenate([Q, 255 * alpha], 1)
    if copy_protos and owned and owned < C:
        groups = np.concatenate([kmeans_classes(x[:owned], K, rng), K + kmeans_classes(x[owned:], copy_protos, rng)])
        K += copy_protos
    else:
        groups = kmeans_classes(x, K, rng)
    protos = (np.stack([Q[groups == k].mean(0) if (groups == k).any() else np.full(12, 1e4) for k in range(K)]),
              np.stack([alpha[groups == k].mean(0) if (groups == k).any() else np.zeros(4) for k in range(K)]))
    psi, bias = graph.class_matrix(Q, alpha)
    keys = None if fast else graph.emoji_keys(C)
    p, bg, pos = index_tiles(rng, flat, textured, dark_tiles)
    ph = phi(p, bg)
    P = cm.patch_quads(p).astype(np.float64)
    alt = None
    if choice:
        bg_a = alt_backgrounds(p, bg, choice_level)
        sq = lambda b: ((P.reshape(-1, 4, 3) - b[:, None, :]) ** 2).sum((1, 2))
        alt = (phi(p, bg_a), sq(bg), sq(bg_a), (bg_a == bg).all(1))
    for it in range(lloyd):
        cell = assign(ph, protos)
        protos = fit_prototypes(P, bg, cell, protos)
    K0 = K - (copy_protos if copy_protos and owned and owned < C else 0)
    dark = P.max(1) <= dark_rows if dark_rows is not None else np.zeros(len(P), bool)

    def route_cells(route_flat, route_sat):
        """Each index tile's prototype (stage 1 with this routing), and without the copy prototypes."""
        near = None
        if route_black:
            cell = assign(phi(p, np.zeros_like(bg)), protos)
        elif route_flat:
            near = (np.abs(P.reshape(-1, 4, 3) - bg[:, None, :]) <= route_flat).all((1, 2))
            if route_sat:
                near &= bg.max(1) - bg.min(1) >= route_sat
            cell = assign(np.where(near[:, None], phi(p, np.zeros_like(bg)), ph), protos)
        else:
            cell = assign(ph, protos)
        cell_plain = cell
        if K0 < K and dark_rows is not None:
            # the copy prototypes are for dark tiles only (graph.build_stacked's dark_protos); the first rows are
            # counted on every tile's prototype among the others, as before them
            cell_plain = assign(np.where(near[:, None], phi(p, np.zeros_like(bg)), ph) if near is not None
                                else ph, (protos[0][:K0], protos[1][:K0]))
            cell = np.where(dark, cell, cell_plain)
        return cell, cell_plain

    default_routing = (route_flat, route_sat)
    cells = {default_routing: route_cells(*default_routing)}
    cell, cell_plain = cells[default_routing]
    log(f"index data: {len(ph)} tiles, {len(set(cell))} of {K} prototypes used after {lloyd} refinements")
    # each class's own prototype: the one it falls under drawn over black and over white (balanced)
    # (a class whose nearest prototype's own list is full goes to the next nearest with room, so
    # every class is in some list)
    ppsi, pbias = graph.class_matrix(*protos)
    # (with copy prototypes, the emoji as drawn own slots in the lists of their own prototypes only)
    rank = np.argsort(-(class_phi(Q, alpha) @ ppsi[:K0].T + pbias[:K0]), 1, kind="stable")
    # the member lists hold the widened picks too (graph.build_stacked's widen_sat)
    widen = (widen_sat[0], widen_sat[1], widen_sat[3]) if widen_sat else None
    sat = np.ptp(bg, axis=1) >= widen_sat[2] if widen_sat else None

    rows = 2 * K if dark_rows is not None else K

    def part_counts(sl, tolerances=TOLERANCES, routing=default_routing):
        cell, cell_plain = cells[routing]
        counts = np.zeros((rows, 2 * C if choice else C))
        tiles = np.arange(len(ph))[sl]
        # with dark rows, the dimmed copies (classes from `owned` on) are candidates for the dark tiles only: the
        # first K rows count every tile's pick among the emoji as drawn (the lists of before), the dark rows the
        # dark tiles' picks among all
        # (the synthetic dark tiles, last, count for the dark rows only)
        first = tiles[tiles < len(ph) - dark_tiles]
        parts = [(first, True, cell_plain), (tiles[dark[tiles]], False, K + cell)] if dark_rows is not None else [(tiles, False, cell)]
        for allowed, weight in sets:
            allowed = np.asarray(allowed)
            for g, plain, to in parts:
                al = allowed[allowed < owned] if plain and owned else allowed
                for tol in tolerances:
                    lab = exact_choice(ph[g], pos[g], tol, psi, bias, keys, al, widen=widen and widen + (sat[g],),
                                       alt=alt and tuple(x[g] for x in alt))
                    np.add.at(counts, (to[g], lab), weight)
        return counts

    base = slice(0, len(ph) - textured - dark_tiles)

    def under_one_pick(c, top):
        """Counts `c` (none above `top`) scaled below the least weight of one pick (0.25): a top-up that orders only
        what no pick did."""
        return 0.25 / (2 * top + 1) * c

    def tol_counts(tolerances, routing):
        """The counts of every index tile's choices at these tolerances with this routing (the first tiles' from
        the cache when it holds them: the cache of TOLERANCES and the routing is counts_cache itself, of others a
        file beside it)."""
        if routing not in cells:
            cells[routing] = route_cells(*routing)
        cache = counts_cache and (counts_cache if (tolerances, routing) == (TOLERANCES, default_routing) else
                                  counts_cache[:-4] + "_tol" + "_".join(f"{t:g}" for t in tolerances)
                                  + ("" if routing == default_routing else "_route%g_%g" % routing) + ".npy")
        if cache and os.path.exists(cache) and np.load(cache, mmap_mode="r").shape[0] == rows:
            counts = np.load(cache)
            log(f"counts of the first {base.stop} index tiles from {cache}")
        else:
            counts = part_counts(base, tolerances, routing)
            if cache:
                np.save(cache, counts)
        if textured or dark_tiles:
            counts = counts + part_counts(slice(base.stop, len(ph)), tolerances, routing)
        if dark_rows is not None:
            # a dark row's list is topped up with its prototype's other picks, so a prototype that few dark index tiles
            # reached still offers a full list; the top-up comes after every pick of the row's own tiles
            assert not choice, "dark rows hold emoji labels, not choices"
            counts = np.concatenate([counts[:K], counts[K:] + under_one_pick(counts[:K], counts.max())])
        return counts

    by_tols = {}
    out = []
    for M, own_share, *more in tables:
        tols = tuple(more[0]) if more else TOLERANCES
        routing = tuple(more[1]) if len(more) > 1 and more[1] else default_routing
        for t in {(tols, routing), (TOLERANCES, default_routing)}:
            if t not in by_tols:
                by_tols[t] = tol_counts(*t)
        counts = by_tols[(tols, routing)]
        if (tols, routing) != (TOLERANCES, default_routing):
            # topped up with the choices at every tolerance: a prototype whose tiles' exact choices are few still
            # offers a full list, of the emoji near them
            every = by_tols[(TOLERANCES, default_routing)]
            counts = counts + (exact_blend * every if exact_blend else under_one_pick(every, every.max()))
        own = [[] for _ in range(K)]
        for c in range(owned or C):                    # the dimmed copies (after them) own no slot
            k = next(k for k in rank[c] if len(own[k]) < max(1, int(M * own_share)))
            own[k].append(c)
        own_rows = own * (rows // K)
        if dark_rows is not None and K0 < K:
            # the dimmed copies own slots in the dark lists of the copy prototypes they fall under (k-means)
            cap = max(1, int(M * own_share))
            for c in range(owned, C):
                k = K + groups[c]
                if len(own_rows[k]) < cap:
                    own_rows[k] = own_rows[k] + [c]
        table = cm.fill_members(own_rows, counts, M, log, classes=C)
        if dark_rows is not None and K0 < K:
            # no tile that is not dark reaches a copy prototype, so its first row repeats its dark row (stage 1
            # allows a prototype where both rows have an allowed member)
            table[K0:K] = table[K + K0:]
        out.append(table)
    return protos, out


def class_phi(Q, alpha):
    """phi of each emoji as a tile over black (its own 2x2 colours): where it falls in stage 1."""
    return phi_from(Q.astype(np.float64), np.zeros((len(Q), 3)))


def phi_from(P12, bg):
    d = P12.reshape(-1, 4, 3) - bg[:, None, :]
    return np.concatenate([d.reshape(-1, 12), (d * bg[:, None, :]).sum(2), bg, (bg ** 2).sum(1, keepdims=True)], 1)


def _numbers(text, kind):
    """An option's colon-separated numbers (A:B:...) as a tuple of `kind`, or None for an empty option."""
    return tuple(kind(x) for x in text.split(":")) if text else None


def floats(text):
    """An option's colon-separated numbers (A:B:...) as a tuple of floats, or None for an empty option."""
    return _numbers(text, float)


def ints(text):
    """An option's colon-separated whole numbers (A:B:...) as a tuple of ints, or None for an empty option."""
    return _numbers(text, int)


def dark_rungs(text):
    """--dark COUNT:F1[,F2...]:LEVEL -> (count, [fractions], level), or None."""
    if not text:
        return None
    count, fracs, level, *swap = text.split(":")
    return (float(count), [float(f) for f in fracs.split(",")], float(level)) + tuple(swap)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(cm.MODELS, "emojinet.onnx"))
    ap.add_argument("--exhaustive", action="store_true", help="score every emoji for every tile (slower)")
    ap.add_argument("--one-graph", action="store_true",
                    help="write one graph, which computes the emoji set's tables on every run (the product loads the "
                         "two files of graph.split_tables)")
    ap.add_argument("--prototypes", type=int, default=256)
    ap.add_argument("--copy-prototypes", type=int, default=64,
                    help="prototypes of the dimmed copies, after --prototypes of the emoji as drawn (0: one k-means of "
                         "all classes)")
    ap.add_argument("--members", type=int, default=96)
    ap.add_argument("--slow", action="store_true", help="the earlier two-stage graph (variety pattern as 4 extra weights per emoji)")
    ap.add_argument("--flat", type=int, default=FLAT,
                    help="near-flat index tiles for the member lists (0: the index before them; models/EVAL.md)")
    ap.add_argument("--textured", type=int, default=TEXTURED,
                    help="near-flat index tiles with faint texture (0: the index before them; models/EVAL.md)")
    ap.add_argument("--route-black", action="store_true",
                    help="stage 1 routes every tile as if over black (models/EVAL.md, \"Routing flat tiles over black\")")
    ap.add_argument("--route-flat", type=float, default=ROUTE_FLAT,
                    help="L > 0: only tiles within L levels of their background are routed as if over black (0: every "
                         "tile over its background, the file before; models/EVAL.md)")
    ap.add_argument("--route-sat", type=float, default=ROUTE_SAT,
                    help="S > 0 (with --route-flat): only those whose background's largest minus smallest channel is >= S "
                         "levels (saturated colours); 0: every near-flat tile")
    ap.add_argument("--dark-tiles", type=int, default=DARK_TILES,
                    help="dark index tiles (export.dark_patches) for the dark member lists, with --dark-rows")
    ap.add_argument("--counts-cache", help="a .npy file for the counts of the index tiles before the textured ones "
                    "(written when absent, read when present; the same file either way, faster experiments; only valid "
                    "for the same --route-* options)")
    ap.add_argument("--lloyd", type=int, default=0, help="refinements of the prototypes on the index tiles")
    ap.add_argument("--own-share", type=float, default=0.5, help="share of each member list reserved for the classes under that prototype")
    ap.add_argument("--varied-members", type=int, default=0,
                    help="members per prototype for tolerances above 0 (0: one table for every tolerance, the "
                         "shipped graph; 64 was shipped before stage 2 ran in parts: models/EVAL.md)")
    ap.add_argument("--varied-own-share", type=float, default=0.25)
    ap.add_argument("--if-node", action="store_true",
                    help="choose the member table with an If node (the earlier graph; slower: models/EVAL.md)")
    ap.add_argument("--chunks", type=int, default=8,
                    help="stage 2 runs on this many consecutive parts of the batch, for cache locality (models/EVAL.md)")
    ap.add_argument("--pick-in-parts", action="store_true",
                    help="the pick runs in stage 2's parts too (the file before the saturated widening; models/EVAL.md)")
    ap.add_argument("--stage1-parts", type=int, default=2,
                    help="stage 1 (the prototypes' scores and their largest) runs on this many parts of the batch, each "
                         "reading its scores while they are in cache (models/EVAL.md, \"Speed\", \"Speed: element gathers\")")
    ap.add_argument("--stage1-groups", type=int, default=32,
                    help="stage 1's nearest prototype in two steps over groups of this many prototypes (the same index as "
                         "a TopK, faster; models/EVAL.md, \"Speed: element gathers\"); 0: a TopK")
    ap.add_argument("--route-zeroed", action=argparse.BooleanOptionalAction, default=True,
                    help="stage 1's input for a routed flat tile from its features over a zeroed background, not a Where "
                         "(the same numbers, faster)")
    ap.add_argument("--integer-counts", action=argparse.BooleanOptionalAction, default=True,
                    help="the pick counts the members within the tolerance as bytes with one MatMulInteger (the same counts)")
    ap.add_argument("--cheaper-kernels", action=argparse.BooleanOptionalAction, default=True,
                    help="the same numbers from kernels ONNX Runtime runs faster: stage 2's biases added once after "
                         "its parts, d as a Sub, the second best's penalty and the dark ladder's count from bytes "
                         "(graph._cheaper_kernels)")
    ap.add_argument("--exact-parts", default="%d:%d" % graph.EXACT_PARTS,
                    help="PARTS:LEAST, at tolerance 0 the search of the exact lists' both halves runs in one table "
                         "and in PARTS parts of max(N / PARTS, LEAST) tiles (graph.exact_in_one_table: the same "
                         "choices, faster; models/EVAL.md, \"The exact search in one table\"); empty: two tables "
                         "in --chunks parts (the file before)")
    ap.add_argument("--stage2-parts", default="%d:%d" % graph.STAGE2_PARTS,
                    help="PARTS:CAP, stage 2 above tolerance 0 runs in PARTS parts of min(N / --chunks, CAP) tiles "
                         "(graph.stage2_capped_parts: the same choices, a large frame faster; models/EVAL.md, \"The "
                         "exact search in one table\"); empty: --chunks parts of N / --chunks (the file before)")
    ap.add_argument("--stage2-block", type=int, default=graph.STAGE2_BLOCK,
                    help="stage 2 of both tolerances scores the tiles in blocks of this many tiles of one prototype, "
                         "sorted by it, instead of gathering the member weights per tile (graph.stage2_blocked: "
                         "the same dot products from ONNX Runtime's GEMM kernel, faster; models/EVAL.md, \"Stage 2 "
                         "in blocks of one prototype\"); 0: in parts (--exact-parts, --stage2-parts: the file before)")
    ap.add_argument("--stage1-matmul", default="%d:%d" % graph.STAGE1_MATMUL,
                    help="PARTS:LEAST, stage 1's prototype scores from one MatMul with the biases inside it, in PARTS "
                         "parts of max(N / PARTS, LEAST) tiles (graph.stage1_matmul: the same choices, faster; "
                         "models/EVAL.md, \"Stage 1 as one MatMul\"); empty: --stage1-parts parts of a MatMul and an "
                         "Add (the file before)")
    ap.add_argument("--selected-biases", action=argparse.BooleanOptionalAction, default=True,
                    help="each run masks only the member table its tolerance reads (graph.selected_table_biases: the "
                         "same choices, about 0.1 ms less a run)")
    ap.add_argument("--stage1-in-parts", action="store_true",
                    help="stage 1 (the prototypes' scores and their TopK) runs in stage 2's parts too: the same choices, "
                         "faster at 1 thread, slower at 2 (models/EVAL.md, \"112 members\"; not shipped)")
    ap.add_argument("--widen", default="",
                    help="COUNT:FACTOR, an experiment not shipped (models/EVAL.md): a tile with fewer than COUNT members "
                         "within the tolerance picks among those within FACTOR x tolerance (COUNT < 0: the -COUNT best "
                         "within FACTOR x tolerance)")
    ap.add_argument("--relative", default=RELATIVE,
                    help="K:FLOOR, each tile's tolerance min(T, T/1000 * (K * best error + FLOOR)) (models/EVAL.md, "
                         "\"Relative tolerance\"); empty: the fixed tolerance T (the shipped file)")
    ap.add_argument("--ladder", default=LADDER,
                    help="COUNT:F1[,F2...], each tile's tolerance T * f, f the smallest F (descending, < 1) that leaves at "
                         "least COUNT members within it, else T (models/EVAL.md, \"Count ladder\"); empty: T for every tile")
    ap.add_argument("--widen-sat", default=WIDEN_SAT,
                    help="COUNT:FACTOR:SAT (with --ladder), a tile whose background's largest minus smallest channel is "
                         ">= SAT levels and that has fewer than COUNT members within the ladder's first rung picks among "
                         "those within FACTOR x T "
                         "(models/EVAL.md, \"Widening saturated tiles\"); empty: no widening (the file before)")
    ap.add_argument("--widen-pale", default=WIDEN_PALE,
                    help="LEVEL:COUNT:FACTOR (with --widen-sat and --dark-budget), a tile within the routing's flat levels "
                         "of a background whose smallest channel is >= LEVEL, not saturated, with fewer than COUNT members "
                         "within the ladder's first rung picks among those within FACTOR x T (models/EVAL.md, \"Pale "
                         "walls\"); empty: no such widening (the file before)")
    ap.add_argument("--narrow", type=int, default=0,
                    help="N > 0: a tile picks among at most its N best members within the tolerance (an experiment, "
                         "not shipped: models/EVAL.md, \"Relative tolerance\")")
    ap.add_argument("--pick", choices=("key", "quantile"), default="quantile",
                    help="among the members within a tile's tolerance: the floor(u n)-th in list order, u its R2 phase "
                         "(quantile, the shipped file), or the highest key in its phase bin (key, the file before; "
                         "models/EVAL.md, \"A quantile pick\")")
    ap.add_argument("--dark", default="",
                    help="COUNT:F1[,F2...]:LEVEL (with --ladder), more rungs for dark tiles (the brightest channel of their "
                         "mean colour <= LEVEL): the smallest F with at least COUNT members within F x T keeps them to it "
                         "(models/EVAL.md, \"A quantile pick\"); COUNT:F1[,F2...]:LEVEL:swap, a dark tile's ladder "
                         "rungs are F1... with COUNT instead of the ladder's own (no extra comparison; models/EVAL.md, "
                         "\"The better of two backgrounds\"); empty: no dark rung")
    ap.add_argument("--choice", action="store_true",
                    help="an experiment, not shipped (models/EVAL.md, \"The better of two backgrounds\"): the member lists "
                         "also hold emoji over black, and a `choice` input [1] at 1 scores those over black (the caller "
                         "draws each emoji over the better of its tile background and black); default: the shipped file")
    ap.add_argument("--choice-level", type=float, default=255,
                    help="with --choice, only for tiles whose rounded mean's brightest channel is at most this")
    ap.add_argument("--dark-rel", default="",
                    help="K:FLOOR:LEVEL, an experiment: a dark tile (the brightest channel of its mean <= LEVEL) keeps to "
                         "within (K x its best error + FLOOR) x T / 1500 of its best (models/EVAL.md, \"The better of two "
                         "backgrounds\")")
    ap.add_argument("--dark-budget", default=DARK_BUDGET,
                    help="K:C:LEVEL: a dark tile (no quadrant channel above LEVEL) keeps to within (K x its best error + C "
                         "x the dark_budget input) x T / 1500 of its best, never less than its second best nor more than T "
                         "(models/EVAL.md, \"A dark budget\"); empty: none, per-tile numbers [N,1] (the file before)")
    ap.add_argument("--checker", type=int, choices=(0, 2, 3), default=3,
                    help="with --dark-budget, a tile with two (2) or two or three (3) candidates takes the (col + row) "
                         "mod n-th, not the one its R2 phase gives; 0: by the phase as any other (the file before)")
    ap.add_argument("--narrow-textured", type=float, default=NARROW_TEXTURED,
                    help="with the dark budget: a tile with detail (a quadrant more than --route-flat levels from its "
                         "background) that fails the ladder's rung picks within F x T of its best (at least its second "
                         "best), not T; 0: within T (the file before; models/EVAL.md, \"Detail keeps near its best\")")
    ap.add_argument("--dark-cap", type=float, default=DARK_CAP,
                    help="with the dark budget: a dark tile's budget at most F x T (at least its second best); 0: at most T")
    ap.add_argument("--flat-frame", default=FLAT_FRAME,
                    help="K:LO:HI (with --dark-budget and --route-flat): in a frame of nearly one flat colour a nearly flat "
                         "tile keeps to at most K x (the best error over black of a flat tile of its mean colour + its "
                         "detail) - its best error (at least its second best), blended in as the frame_flat input (the "
                         "share of the frame's tiles near its median colour) goes from LO to HI; empty: no frame_flat "
                         "input (the file before)")
    ap.add_argument("--frame-black", type=float, default=FRAME_BLACK,
                    help="C (with --flat-frame): the cap holds in every frame, allowing C x the frame_black input (the "
                         "frame's mean over its tiles of e_black + h(detail), common.frame_black) more, faded out by the "
                         "flat share's gate; 0 (with --detail-cap ''): the cap only in flat frames, by the gate (the file "
                         "before \"The flat-tile cap in every frame\")")
    ap.add_argument("--detail-cap", default=DETAIL_CAP,
                    help="KD:CD (with --frame-black): a tile with detail keeps within KD x (e_black + h(detail)) + CD x "
                         "frame_black of its best, h(d) = d / (1 + sqrt(d) / common.DETAIL_KNEE); empty: no cap (the "
                         "model before models/EVAL.md, \"A budget for tiles with detail\")")
    ap.add_argument("--flat-frame-count", default="",
                    help="PER:EXEMPT:MOST[:STEPS] (with --flat-frame), tried, not shipped: the cap at least the n-th best "
                         "member's distance, n = ceil(PER x frame_flat) within 2..MOST, 2 from a flat share of EXEMPT on; "
                         "by a TopK of every member (1.5x the time), or with STEPS by that many counts on a geometric "
                         "bisection, only in a frame above the gate (an If: 1.15x the time there); empty: none")
    ap.add_argument("--exact-table", action=argparse.BooleanOptionalAction, default=True,
                    help="a second member table for variety 0, counted on the index tiles' exact choices alone (the "
                         "table above it is counted on every tolerance, as with one table): item 2's search reaches the "
                         "emoji that fit faint textures (models/EVAL.md, \"An exact table\")")
    ap.add_argument("--exact-members", type=int, default=None,
                    help="with --exact-table: its list length, --members or twice that (the default): each tile then "
                         "also searches the second half of its prototype's list, at variety 0 only (an If on the "
                         "tolerance; the graph above "
                         "variety 0 is as with --members; models/EVAL.md, \"Longer exact lists\")")
    ap.add_argument("--exact-own-share", type=float, default=0.25,
                    help="--own-share of the --exact-table (0.25: 24 of 96 slots; every emoji still owns one somewhere)")
    ap.add_argument("--exact-route-flat", type=float, default=None,
                    help="with --exact-table: --route-flat at variety 0 (default: the same)")
    ap.add_argument("--exact-route-sat", type=float, default=None,
                    help="with --exact-table: --route-sat at variety 0 (default: the same)")
    ap.add_argument("--exact-blend", type=float, default=0.0,
                    help="with --exact-table: its counts plus this share of every tolerance's (0: those only to fill "
                         "the lists' last slots)")
    ap.add_argument("--dark-rows", action=argparse.BooleanOptionalAction, default=True,
                    help="member lists of their own for the dark tiles (the dark budget's test), counted on dark index "
                         "tiles: the dimmed emoji fill them, the other tiles' lists keep their slots (models/EVAL.md, "
                         "\"Dimmed emoji\")")
    a = ap.parse_args()
    meta, cells = cm.load_atlas()
    C = meta["count"]
    Q = cm.emoji_feat(cells).astype(np.float64)
    alpha = emoji_alpha(cells)
    atlas_sha = hashlib.sha256(open(os.path.join(cm.MODELS, "atlas.png"), "rb").read()).hexdigest()
    pick = ("the highest key[phase bin(tile position), e]" if a.pick == "key" or a.exhaustive or a.slow or a.if_node
            else "the floor(phase(tile position) x n)-th of the n in list order")
    md = {"classes": C, "atlas_sha256": atlas_sha,
          "objective": f"among allowed emoji e with score(e) >= max score - tolerance, {pick}; "
                       "score(e) = -sum_2x2,RGB (quads - (emoji_premultiplied + (1 - emoji_alpha) * background))^2, sRGB 0..255",
          "pattern": f"R2 phase frac(col*{graph.R2_X} + row*{graph.R2_Y})" + (
              f", key seed {graph.PATTERN_SEED}" if pick.startswith("the highest") else ""),
          "tile": 10}
    if a.exhaustive:
        model = graph.build_exhaustive(Q, alpha, md)
    else:
        sets = meta["sets"]
        weights = [(sets["default"], 4.0), (sets["all"], 2.0), (sets["skin-tones"], 1.0), (sets["no-flags"], 1.0)]
        weights += [(v, 0.25) for k, v in sets.items() if k not in ("default", "all", "skin-tones", "no-flags")]
        tables = [(a.members, a.own_share)]
        exact_route = None
        if a.exact_members is None:
            a.exact_members = 2 * a.members
        exact_split = bool(a.exact_table and not a.slow and a.exact_members == 2 * a.members)
        if a.exact_table and not a.slow:
            # variety 0 reads lists counted on the exact choices alone; above it, the lists of every tolerance
            exact_route = ((a.route_flat if a.exact_route_flat is None else a.exact_route_flat,
                            a.route_sat if a.exact_route_sat is None else a.exact_route_sat)
                           if a.route_flat and not a.route_black else None)
            if exact_route == (a.route_flat, a.route_sat):
                exact_route = None
            if a.exact_members not in (a.members, 2 * a.members):
                ap.error("--exact-members is --members or twice it")
            tables = [(a.exact_members, a.exact_own_share, (0.0,), exact_route),
                      (a.members, a.own_share, TOLERANCES)]
        elif a.varied_members and not a.slow:
            tables.append((a.varied_members, a.varied_own_share))
        # (count, factor, saturation, the ladder's first fraction: the rung whose count it reads)
        dark_level = floats(a.dark_budget)[2] if a.dark_rows and a.dark_budget else None
        if a.dark_rows and dark_level is None:
            ap.error("--dark-rows needs --dark-budget (its dark test)")
        widen_sat = (floats(a.widen_sat) + (float(a.ladder.split(":")[1].split(",")[0]),)
                     if a.widen_sat and a.ladder and not a.slow and not a.if_node else None)
        protos, members = build_index(Q, alpha, weights, a.prototypes, tables, np.random.default_rng(SEED), print,
                                      a.lloyd, fast=not a.slow, flat=a.flat, textured=a.textured,
                                      dark_tiles=a.dark_tiles if a.dark_rows else 0,
                                      counts_cache=a.counts_cache,
                                      route_black=a.route_black, route_flat=a.route_flat, route_sat=a.route_sat,
                                      widen_sat=widen_sat, choice=a.choice and not a.slow and not a.if_node,
                                      choice_level=a.choice_level, owned=meta.get("file_count"),
                                      dark_rows=dark_level, copy_protos=a.copy_prototypes,
                                      exact_blend=a.exact_blend)
        md.update(prototypes=len(protos[0]), members=a.members)
        if a.slow:
            model = graph.build_two_stage(Q, alpha, protos, members[0], md)
        else:
            if a.pick == "key" or a.if_node:
                md["pattern"] += f", {graph.PATTERN_BINS} phase bins, pick: highest key among the emoji within tolerance of the best"
            if len(members) > 1 and not a.exact_table:
                md["members"] = f"{a.members} at tolerance 0, {a.varied_members} above"
            if a.route_flat and not a.route_black:
                md["routing"] = (f"stage 1 scores as if over black the tiles whose 2x2 means are within {a.route_flat:g} "
                                 f"levels of their background" + (f" (each channel) when the background's largest minus "
                                                                   f"smallest channel is >= {a.route_sat:g}" if a.route_sat else ""))
            if exact_route:
                md["routing"] += (f"; at tolerance 0 (its own member lists) within {exact_route[0]:g} levels and "
                                  f">= {exact_route[1]:g}")
            widen = floats(a.widen)
            if a.if_node:
                model = graph.build_fast(Q, alpha, protos, members[0] if len(members) == 1 else tuple(members), md,
                                         stage1="topk")
            else:
                relative = floats(a.relative)
                if relative:
                    md["tolerance"] = (f"per tile min(tolerance, tolerance / {graph.VARIETY_UNIT:g} * ({relative[0]:g} * "
                                       f"best error + {relative[1]:g}))")
                ladder = None
                if a.ladder:
                    count, fracs = a.ladder.split(":")
                    ladder = (float(count), [float(f) for f in fracs.split(",")])
                    md["tolerance"] = (f"per tile T * f, f the smallest of {fracs} that leaves at least {count} allowed "
                                       f"members within T * f of the best, else 1 (T: the tolerance input)")
                if widen_sat:
                    md["tolerance"] += (f"; a tile whose background's largest minus smallest channel is >= {widen_sat[2]:g} "
                                        f"and that has fewer than {widen_sat[0]:g} allowed members within the first "
                                        f"fraction: T * {widen_sat[1]:g}")
                if a.choice:
                    md["choice_level"] = f"{a.choice_level:g}"
                    md["background"] = ("at choice 1, each emoji over the better of the background and black for the tiles "
                                        f"whose rounded mean's brightest channel is <= {a.choice_level:g}")
                dark_budget = floats(a.dark_budget)
                widen_pale = floats(a.widen_pale) if widen_sat and dark_budget else None
                if widen_pale:
                    md["tolerance"] += (f"; a tile within {a.route_flat:g} levels of a background whose smallest channel "
                                        f"is >= {widen_pale[0]:g}, not saturated, with fewer than {widen_pale[1]:g} allowed "
                                        f"members within the first fraction: T * {widen_pale[2]:g}")
                checker = a.checker if a.pick == "quantile" else 0
                if checker and not dark_budget:
                    ap.error("--checker 2 or 3 needs --dark-budget (its graph's per-tile [N] numbers)")
                if dark_budget:
                    md["dark_budget"] = (f"a dark tile (no quadrant channel above {dark_budget[2]:g}): the ladder's rung is "
                                         f"({dark_budget[0]:g} x its best error + {dark_budget[1]:g} x dark_budget) x T / 1500, "
                                         f"at least its second best, at most {f'{a.dark_cap:g} x T' if a.dark_cap else 'T'}, and needs "
                                         f"2 members, not the ladder's count; dark_budget = the frame's summed sum_q,c "
                                         f"(quads - the tile's mean)^2 over its count of dark tiles")
                    if a.narrow_textured:
                        md["tolerance"] += (f"; a tile with a quadrant more than {a.route_flat:g} levels from its "
                                            f"background in a channel that has fewer than {ladder[0]:g} within the first "
                                            f"fraction and is not widened: T * {a.narrow_textured:g}, at least its second best")
                flat_frame = None
                if dark_budget and a.flat_frame and a.route_flat and not a.route_black:
                    k_f, lo_f, hi_f = floats(a.flat_frame)
                    plain = np.asarray(sets["default"])
                    plain = plain[cm.glyphs(meta)[plain] == plain]
                    flat_frame = (k_f, lo_f, hi_f, cm.black_floor(Q, plain), floats(a.flat_frame_count), a.frame_black)
                    md["frame_flat"] = (f"the share of the frame's tiles whose rounded mean is within {cm.FLAT_NEAR} "
                                        f"levels (each channel) of the frame's median tile colour")
                    if a.frame_black:
                        md["frame_black"] = ("the mean over the frame's tiles of e_black (the table's cell of the tile's "
                                             "mean colour, rounded half to even) + h(the tile's detail), h(d) = d / (1 + "
                                             f"sqrt(d) / {cm.DETAIL_KNEE:g})")
                    md["tolerance"] += (f"; last, a tile within {a.route_flat:g} levels of its background: its tolerance "
                                        f"t - g max(t - cap, 0), cap = {k_f:g} x (e_black + its detail) - its best error "
                                        f"(at least its second best), e_black the best error over black of a flat tile of "
                                        f"its mean colour (default set, 64-step table), g = clip((frame_flat - {lo_f:g}) "
                                        f"/ {hi_f - lo_f:g}, 0, 1)")
                    if a.frame_black:
                        md["tolerance"] += (f"; outside a flat frame the cap holds too, allowing {a.frame_black:g} x "
                                            f"frame_black x (1 - g) more")
                    if a.detail_cap:
                        if not a.frame_black:
                            ap.error("--detail-cap needs --frame-black")
                        kd, cd = floats(a.detail_cap)
                        md["tolerance"] += (f"; a tile with detail (not within {a.route_flat:g} levels): at most "
                                            f"{kd:g} x (e_black + h(its detail)) + {cd:g} x frame_black - its best error "
                                            f"(at least its second best)")
                    if a.flat_frame_count:
                        per_f, exempt_f, most_f = floats(a.flat_frame_count)[:3]
                        md["tolerance"] += (f", the cap at least its n-th best member's distance, n = ceil({per_f:g} x "
                                            f"frame_flat) within 2..{most_f:g}, 2 when frame_flat >= {exempt_f:g}")
                elif a.flat_frame:
                    ap.error("--flat-frame needs --dark-budget and --route-flat")
                if dark_level is not None:
                    md["members"] = (f"{a.members} per prototype for the tiles with a quadrant channel above "
                                     f"{dark_level:g}, {a.members} for the others")
                if a.exact_table:
                    md["members"] = (md.get("members", f"{a.members} per prototype")
                                     + "; at tolerance 0 lists of their own, counted on the exact choices alone")
                    if exact_split:
                        md["members"] += f" and {a.exact_members} long (the second half searched at tolerance 0 only)"
                if checker:
                    md["pattern"] += f", {'two or three' if checker == 3 else 'two'} candidates: the (col + row) mod n-th"
                model = graph.build_stacked(Q, alpha, protos, tuple(members), md, widen=widen, chunks=a.chunks,
                                            relative=relative, narrow=a.narrow, route_black=a.route_black,
                                            route_flat=a.route_flat, route_sat=a.route_sat, ladder=ladder,
                                            widen_sat=widen_sat and widen_sat[:3], widen_pale=widen_pale, chunk_scores=not a.pick_in_parts,
                                            chunk_stage1=a.stage1_in_parts, pick=a.pick,
                                            stage1_parts=1 if a.stage1_in_parts else a.stage1_parts,
                                            stage1_groups=a.stage1_groups, integer_counts=a.integer_counts,
                                            cheaper_kernels=a.cheaper_kernels,
                                            route_zeroed=(a.route_zeroed and bool(a.route_flat) and dark_level is not None
                                                          and a.copy_prototypes > 0),
                                            dark=dark_rungs(a.dark), choice=a.choice,
                                            choice_level=a.choice_level,
                                            dark_rel=floats(a.dark_rel), dark_budget=dark_budget, checker=checker,
                                            dark_rows=dark_level is not None,
                                            dark_protos=a.copy_prototypes if dark_level is not None else 0,
                                            narrow_textured=a.narrow_textured if dark_budget else 0.0,
                                            exact_route=exact_route,
                                            flat_frame=flat_frame,
                                            detail_cap=(floats(a.detail_cap) + (cm.DETAIL_KNEE,)
                                                        if flat_frame and a.detail_cap else None),
                                            exact_split=exact_split,
                                            exact_parts=ints(a.exact_parts),
                                            stage2_parts=ints(a.stage2_parts),
                                            selected_biases=a.selected_biases,
                                            stage2_block=a.stage2_block,
                                            stage1_matmul_parts=ints(a.stage1_matmul),
                                            dark_cap=a.dark_cap if dark_budget else 0.0)
    import onnx
    if not a.one_graph:
        # what depends only on the emoji set and the variety runs once per setting (models/README.md)
        name = os.path.splitext(os.path.basename(a.out))[0] + "-tables.onnx"
        model, tables = graph.split_tables(model, name)
        # what depends only on each tile's quads and background is computed by the caller (models/README.md)
        model = graph.features_outside(model)
        # stage 2's set biases inside its blocks' product, from one table of the tables graph
        model, tables = graph.stage2_biases_in_blocks(model, tables)
        path = os.path.join(os.path.dirname(a.out), name)
        onnx.save(tables, path)
        print(f"wrote {path} ({os.path.getsize(path)} bytes)")
    onnx.save(model, a.out)
    print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes)")


if __name__ == "__main__":
    main()
