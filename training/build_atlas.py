#!/usr/bin/env python3
"""Build models/atlas.png and models/emoji.json from the emoji-datasource-google npm package.

Cells are 64x64 RGBA, 64 per row, in class-index order (row-major): first every base emoji
(by the package's sort_order), then every skin-tone variant (by its base's sort_order, then
the variant key). Each cell sits exactly at (col*64, row*64), so box-filtered mip levels
never mix two cells.

usage: build_atlas.py [--tarball PATH] [--out models]
"""
import argparse
import hashlib
import json
import os
import subprocess
import tarfile
import tempfile

import numpy as np
from PIL import Image

PACKAGE = "emoji-datasource-google"
VERSION = "16.0.0"
CELL, COLUMNS = 64, 64
SOURCE = f"{PACKAGE} {VERSION} (Noto Color Emoji, Apache-2.0)"
BLOCK_COVERAGE = 0.80
MAX_ATLAS_BYTES = 12 * 1000 * 1000

# Pixel-art glyphs excluded from the "default" set: solid squares and circles.
SOLID_GEOMETRIC_WORDS = ("SQUARE", "CIRCLE")
COMPONENT_CODEPOINTS = {f"1F3F{c}" for c in "BCDEF"} | {f"1F9B{c}" for c in "0123"}


def find_tarball(path):
    if path and os.path.exists(path):
        return path
    for cand in ("/tmp/npm/emoji-datasource-google-16.0.0.tgz", "training/.cache/emoji-datasource-google-16.0.0.tgz"):
        if os.path.exists(cand):
            return cand
    os.makedirs("training/.cache", exist_ok=True)
    subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}"], cwd="training/.cache", check=True)
    return "training/.cache/emoji-datasource-google-16.0.0.tgz"


def text_of(unified):
    return "".join(chr(int(cp, 16)) for cp in unified.split("-"))


def is_default(e):
    """Emoji art, not pixel art: see models/README.md."""
    if e["skin_tone"]:
        return False
    if e["category"] == "Component" or e["unified"].split("-")[0] in COMPONENT_CODEPOINTS:
        return False
    if e["subcategory"] in ("keycap", "alphanum"):
        return False
    if e["unified"] in {f"{0x1F1E6 + i:X}" for i in range(26)}:  # lone regional indicators (not flags)
        return False
    if e["subcategory"] == "geometric" and any(w in e["name"].upper() for w in SOLID_GEOMETRIC_WORDS):
        return False
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tarball")
    ap.add_argument("--out", default="models")
    ap.add_argument("--no-multi-person-skin", action="store_true",
                    help="drop skin-tone variants of multi-person emoji (only if the atlas is too large)")
    a = ap.parse_args()
    tgz = find_tarball(a.tarball)
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(tgz) as t:
            t.extractall(tmp, filter="data")
        pkg = os.path.join(tmp, "package")
        meta = json.load(open(os.path.join(pkg, "emoji.json")))
        imgdir = os.path.join(pkg, "img", "google", "64")
        meta.sort(key=lambda x: x["sort_order"])
        base, skins = [], []
        for x in meta:
            if not x.get("has_img_google") or not os.path.exists(os.path.join(imgdir, x["image"])):
                continue
            common = dict(category=x["category"], subcategory=x["subcategory"])
            base.append(dict(unified=x["unified"], name=x["name"].lower(), image=x["image"], skin_tone=False, **common))
            for key in sorted(x.get("skin_variations", {})):
                v = x["skin_variations"][key]
                if not v.get("has_img_google") or not os.path.exists(os.path.join(imgdir, v["image"])):
                    continue
                if a.no_multi_person_skin and "-" in key:
                    continue
                skins.append(dict(unified=v["unified"], name=f"{x['name'].lower()} ({key.lower()})",
                                  image=v["image"], skin_tone=True, **common))
        entries = base + skins
        count = len(entries)
        rows = (count + COLUMNS - 1) // COLUMNS
        atlas = np.zeros((rows * CELL, COLUMNS * CELL, 4), np.uint8)
        for i, e in enumerate(entries):
            im = Image.open(os.path.join(imgdir, e["image"])).convert("RGBA")
            if im.size != (CELL, CELL):
                im = im.resize((CELL, CELL), Image.LANCZOS)
            px = np.asarray(im)
            r, c = divmod(i, COLUMNS)
            atlas[r * CELL:(r + 1) * CELL, c * CELL:(c + 1) * CELL] = px
            cov = float(px[..., 3].astype(np.float64).mean() / 255.0)
            e["coverage"] = round(cov, 4)
            e["block"] = cov >= BLOCK_COVERAGE
    os.makedirs(a.out, exist_ok=True)
    atlas_path = os.path.join(a.out, "atlas.png")
    Image.fromarray(atlas, "RGBA").save(atlas_path, optimize=True)
    size = os.path.getsize(atlas_path)
    if size > MAX_ATLAS_BYTES and not a.no_multi_person_skin:
        raise SystemExit(f"atlas is {size} bytes (> {MAX_ATLAS_BYTES}): rerun with --no-multi-person-skin")

    emoji = []
    for i, e in enumerate(entries):
        emoji.append({"index": i, "unified": e["unified"], "text": text_of(e["unified"]), "name": e["name"],
                      "category": e["category"], "subcategory": e["subcategory"], "coverage": e["coverage"],
                      "block": e["block"], "skin_tone": e["skin_tone"]})
    default = [e["index"] for e in emoji if is_default(e)]
    dset = set(default)
    sets = {
        "default": default,
        "all": list(range(count)),
        "skin-tones": sorted(dset | {e["index"] for e in emoji if e["skin_tone"]}),
        "no-flags": [i for i in default if emoji[i]["category"] != "Flags"],
        "faces": [i for i in default if emoji[i]["subcategory"].startswith("face-")],
        "smileys": [i for i in default if emoji[i]["category"] == "Smileys & Emotion"],
        "people": [i for i in default if emoji[i]["category"] == "People & Body"],
        "animals-nature": [i for i in default if emoji[i]["category"] == "Animals & Nature"],
        "food": [i for i in default if emoji[i]["category"] == "Food & Drink"],
        "travel-places": [i for i in default if emoji[i]["category"] == "Travel & Places"],
        "activities": [i for i in default if emoji[i]["category"] == "Activities"],
        "objects": [i for i in default if emoji[i]["category"] == "Objects"],
        "symbols": [i for i in default if emoji[i]["category"] == "Symbols"],
        "flags": [i for i in default if emoji[i]["category"] == "Flags"],
        "hearts": [i for i in default if emoji[i]["subcategory"] == "heart"],
        "no-blocks": [i for i in default if not emoji[i]["block"]],
    }
    for k, v in sets.items():
        assert v, f"set {k} is empty"
    doc = {"cell": CELL, "columns": COLUMNS, "count": count, "source": SOURCE,
           "atlas_sha256": hashlib.sha256(open(atlas_path, "rb").read()).hexdigest(),
           "sets": sets, "emoji": emoji}
    with open(os.path.join(a.out, "emoji.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"atlas {atlas.shape[1]}x{atlas.shape[0]} count={count} ({len(base)} base, {len(skins)} skin-tone) "
          f"{size} bytes; default={len(default)} " + " ".join(f"{k}={len(v)}" for k, v in sets.items()))


if __name__ == "__main__":
    main()
