#!/usr/bin/env python3
"""Regather the unseen photos of models/EVAL.md ("Unseen photos"; never used to build or tune anything) into
OUT (default $TMPDIR/unseen): not kept in the repository. Needs, first (licences in models/EVAL.md):

    python -m pip download --no-deps --only-binary=:all: scikit-image==0.26.0 -d training/.cache/wheels
    python -m pip download --no-deps --only-binary=:all: matplotlib -d $TMPDIR/wheels
    (cd $TMPDIR/deb && apt-get download mate-backgrounds lomiri-wallpapers-20.04 ukui-wallpapers &&
     for f in *.deb; do dpkg-deb -x $f x; done)

and ffmpeg for the video frames. Then: training/unseen.py $TMPDIR/unseen/*.png

`--second` gathers the second batch (models/EVAL.md, "Unseen photos, a second batch") into $TMPDIR/unseen2
instead; it needs

    (cd $TMPDIR/deb2 && apt-get download lomiri-wallpapers-16.04 gnome-backgrounds opencv-doc &&
     for f in *.deb; do dpkg-deb -x $f x; done)

`--third` gathers the third batch (models/EVAL.md, "A third batch, held back": chosen after every rule it
measures, so never used to tune one) into $TMPDIR/unseen3; it needs

    (cd $TMPDIR/deb3 && apt-get download plasma-workspace-wallpapers mypaint-data-extras lomiri-wallpapers &&
     for f in *.deb; do dpkg-deb -x $f x; done)

`--synthetic` writes 11 synthetic walls of one colour (480x360, a few under faint grey noise) into $TMPDIR/syn.

`--dim` writes the dim probes (dim walls, a person before a dim wall, underexposed copies of the first and third
batches and the test photos) into $TMPDIR/dim, $TMPDIR/dimscene and $TMPDIR/dimv (after the first and --third).
"""
import glob
import io
import os
import subprocess
import sys
import zipfile

from PIL import Image

T = os.environ.get("TMPDIR", "/tmp")
O = os.path.join(T, "unseen")


def cover(im, w=1280, h=720):
    s = max(w / im.width, h / im.height)
    im = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
    l, t = (im.width - w) // 2, (im.height - h) // 2
    return im.crop((l, t, l + w, t + h))


def z(zf, suffix):
    n = [x for x in zf.namelist() if x.endswith(suffix)][0]
    return Image.open(io.BytesIO(zf.read(n))).convert("RGB")


def grab(video, t, out, *vf):
    """The frame of `video` at `t` seconds as PNG `out` (ffmpeg; vf: e.g. "-vf", "scale=1280:720")."""
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-ss", t, "-i", video, "-frames:v", "1", *vf, out], check=True)


def crop(im, box, size, name):
    im.crop(box).resize(size, Image.LANCZOS).save(f"{O}/{name}.png")


def main():
    os.makedirs(O, exist_ok=True)
    sk = zipfile.ZipFile(glob.glob("training/.cache/wheels/scikit_image-*.whl")[0])
    mp = zipfile.ZipFile(glob.glob(os.path.join(T, "wheels", "matplotlib-*.whl"))[0])
    gh = z(mp, "sample_data/grace_hopper.jpg")
    gh.save(f"{O}/grace_hopper.png")
    z(sk, "data/motorcycle_left.png").save(f"{O}/motorcycle.png")
    z(sk, "data/ihc.png").save(f"{O}/ihc.png")
    cam = z(sk, "data/camera.png")
    cam.save(f"{O}/camera_grey.png")
    z(sk, "data/moon.png").save(f"{O}/moon_grey.png")
    D = os.path.join(T, "deb", "x", "usr", "share", "backgrounds")
    for n in ["Blinds", "Dune", "Garden", "LadyBird", "RainDrops", "Storm", "Wood"]:
        cover(Image.open(f"{D}/mate/nature/{n}.jpg").convert("RGB")).save(f"{O}/{n}_720p.png")
    kle = Image.open(f"{D}/Kleiber_by_Lukas_Baubkus.jpg").convert("RGB")
    cover(kle).save(f"{O}/Kleiber_720p.png")
    cover(Image.open(f"{D}/Fossa_by_Jasper_Roks.jpg").convert("RGB")).save(f"{O}/Fossa_720p.png")
    for n in ["city", "desert"]:
        cover(Image.open(f"{D}/{n}.png").convert("RGB")).save(f"{O}/{n}_720p.png")
    for t in ["0.5", "3.5", "5.0"]:
        grab("assets/bench/handheld.mp4", t, f"{O}/handheld_t{t}.png")
    for t in ["1.0", "4.0"]:
        grab("tests/data/video/bigbuckbunny.mp4", t, f"{O}/bbb_t{t}.png", "-vf", "scale=1280:720")
    # webcam-like crops (boxes in the source's pixels, then scaled: models/EVAL.md)
    wood = Image.open(f"{D}/mate/nature/Wood.jpg").convert("RGB")
    crop(wood, (1200, 900, 2480, 1860), (640, 480), "crop_wall_640")
    crop(kle, (3400, 700, 6028, 2178), (1280, 720), "crop_brightwall_720p")
    crop(gh, (390, 20, 510, 110), (640, 480), "crop_bluewall_640")
    crop(gh, (200, 150, 320, 240), (640, 480), "crop_skin_640")
    crop(gh, (60, 470, 220, 590), (640, 480), "crop_shirt_640")
    crop(gh, (60, 330, 512, 584), (1280, 720), "crop_shirt_720p")
    crop(cam, (230, 0, 310, 60), (640, 480), "crop_ceiling_640")
    st = Image.open(f"{D}/mate/nature/Storm.jpg").convert("RGB")
    crop(st, (0, 0, st.width // 3, st.width // 4), (640, 480), "crop_dark_640")
    crop(st, (0, 0, st.width, st.width * 9 // 16 // 2), (1280, 720), "crop_dark_720p")
    mo = Image.open(f"{O}/motorcycle.png")
    crop(mo, (180, 0, 340, 120), (640, 480), "crop_garage_640")
    print(f"wrote {len(os.listdir(O))} photos to {O}")


# the second batch: opencv-doc's sample photos at their own size, and frames of its sample videos
CV_PHOTOS = ["home.jpg", "messi5.jpg", "building.jpg", "stuff.jpg", "fruits.jpg", "baboon.jpg", "aero1.jpg",
             "left01.jpg", "left12.jpg", "squirrel_cls.jpg", "HappyFish.jpg", "basketball1.png", "rubberwhale1.png",
             "smarties.png", "butterfly.jpg", "orange.jpg", "apple.jpg", "pca_test1.jpg", "licenseplate_motion.jpg",
             "graf1.png", "leuvenA.jpg", "box_in_scene.png", "starry_night.jpg", "board.jpg", "Blender_Suzanne1.jpg"]
CV_VIDEOS = [("vtest.avi", ["1", "20", "60"]), ("Megamind.avi", ["2", "10"]), ("tree.avi", ["1"])]


def second():
    out = os.path.join(T, "unseen2")
    os.makedirs(out, exist_ok=True)
    share = os.path.join(T, "deb2", "x", "usr", "share")
    bg = os.path.join(share, "backgrounds")
    for f in sorted(os.listdir(bg)):                     # lomiri-wallpapers-16.04's photos
        if f.endswith(".jpg"):
            cover(Image.open(os.path.join(bg, f)).convert("RGB")).save(f"{out}/{f[:-4]}_720p.png")
    for f in ["wood-l", "wood-d"]:                        # gnome-backgrounds
        cover(Image.open(f"{bg}/gnome/{f}.webp").convert("RGB")).save(f"{out}/gnome_{f}_720p.png")
    cv = os.path.join(share, "doc", "opencv-doc", "examples", "data")
    for f in CV_PHOTOS:
        Image.open(f"{cv}/{f}").convert("RGB").save(f"{out}/cv_{f.rsplit('.', 1)[0]}.png")
    for v, times in CV_VIDEOS:
        for t in times:
            grab(f"{cv}/{v}", t, f"{out}/cv_{v[:-4]}_t{t}.png")
    print(f"wrote {len(os.listdir(out))} photos to {out}")


def third():
    """Every KDE Plasma wallpaper at its largest landscape size, MyPaint's paper backgrounds (640x480) and
    lomiri-wallpapers' two, each covering its frame (48 frames)."""
    out = os.path.join(T, "unseen3")
    os.makedirs(out, exist_ok=True)
    share = os.path.join(T, "deb3", "x", "usr", "share")
    for d in sorted(glob.glob(os.path.join(share, "wallpapers", "*", "contents"))):
        sizes = []
        for f in glob.glob(os.path.join(d, "images", "*")):
            w, _, h = os.path.basename(f).split(".")[0].partition("x")
            if f.endswith((".png", ".jpg")) and w.isdigit() and h.isdigit() and int(w) > int(h):
                sizes.append((int(w) * int(h), f))
        if sizes:
            name = os.path.basename(os.path.dirname(d))
            cover(Image.open(max(sizes)[1]).convert("RGB")).save(f"{out}/kde_{name}_720p.png")
    for f in sorted(glob.glob(os.path.join(share, "mypaint", "backgrounds", "*", "*.png"))):
        im = Image.open(f).convert("RGB")
        if im.width >= 320:
            cover(im, 640, 480).save(f"{out}/paper_{os.path.basename(f).replace(' ', '_')}")
    for f in ["warty-final-ubuntu", "lomiri-default-background"]:
        cover(Image.open(os.path.join(share, "backgrounds", f + ".png")).convert("RGB")).save(f"{out}/{f}_720p.png")
    print(f"wrote {len(os.listdir(out))} photos to {out}")


# synthetic 480x360 walls: one colour (name, colour, sigma of a grey noise added to every pixel, seeded)
SYNTHETIC = [("black", (0, 0, 0), 0), ("white", (255, 255, 255), 0), ("fafafa", (250, 250, 250), 0),
             ("fafafa_noise", (250, 250, 250), 3), ("f0f0f0", (240, 240, 240), 0), ("f0f0f0_s3n", (240, 240, 240), 3),
             ("808080", (128, 128, 128), 0), ("285ac8", (0x28, 0x5a, 0xc8), 0), ("c83c28", (0xc8, 0x3c, 0x28), 0),
             ("110f16_n", (0x11, 0x0f, 0x16), 4), ("1c1c20_n", (0x1c, 0x1c, 0x20), 4)]


def synthetic():
    import numpy as np
    out = os.path.join(T, "syn")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    for name, colour, sigma in SYNTHETIC:
        a = np.ones((360, 480, 3)) * np.array(colour, float)
        if sigma:
            a = a + rng.normal(0, sigma, (360, 480, 1))
        Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8)).save(f"{out}/syn_{name}.png")
    print(f"wrote {len(SYNTHETIC)} frames to {out}")


# dim walls (640x480, 6% and 4% lighting gradients across and down, noise sigma 3) and the ones a person stands before
DIM_WALLS = ["3c4650", "424442", "646464", "787878", "483c5a", "6e5a4b", "505050", "5a6e78"]
SCENE_WALLS = ["3c4650", "424442", "646464", "6e5a4b"]


def dim():
    """The dim probes of models/EVAL.md ("The spread reaches past the frame's emoji"): the dim walls into $TMPDIR/dim,
    the three test photos in a strip 15-50% of the width and 3/4 of the height at the bottom centre of four of them
    into $TMPDIR/dimscene, and underexposed copies (each level 255 (v/255)^g, g = 2 and 3) of the first batch, the
    held-back batch and the five test photos into $TMPDIR/dimv (run main() and --third first)."""
    import numpy as np
    w, h = 640, 480
    dirs = {k: os.path.join(T, k) for k in ("dim", "dimscene", "dimv")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)

    def wall(hexc, seed):
        c = np.array([int(hexc[i:i + 2], 16) for i in (0, 2, 4)], np.float64)
        x, y = np.linspace(-0.5, 0.5, w)[None, :, None], np.linspace(-0.5, 0.5, h)[:, None, None]
        return c * (1 + 0.06 * x + 0.04 * y) + np.random.default_rng(seed).normal(0, 3, (h, w, 3))

    def save(a, path):
        Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8)).save(path)

    photos = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "photos")
    for i, c in enumerate(DIM_WALLS):
        save(wall(c, i), f"{dirs['dim']}/wall_{c}.png")
    for j, c in enumerate(SCENE_WALLS):
        for p in ["astronaut", "chelsea", "coffee"]:
            ph = Image.open(os.path.join(photos, p + ".png")).convert("RGB")
            for pct in (15, 22, 30, 50):
                a, sw, sh = wall(c, 100 + j), w * pct // 100, h * 3 // 4
                a[h - sh:, (w - sw) // 2:(w - sw) // 2 + sw] = np.asarray(cover(ph, sw, sh), np.float64)
                save(a, f"{dirs['dimscene']}/scene_{c}_{p}_{pct}.png")
    srcs = sorted(glob.glob(os.path.join(O, "*.png")) + glob.glob(os.path.join(T, "unseen3", "*.png")) +
                  [os.path.join(photos, p + ".png") for p in ["astronaut", "camera", "chelsea", "coffee", "handheld"]])
    for f in srcs:
        a = np.asarray(Image.open(f).convert("RGB"), np.float64)
        for g in (2, 3):
            save(255 * (a / 255) ** g, f"{dirs['dimv']}/{os.path.basename(f)[:-4]}_g{g}.png")
    print(f"wrote {len(DIM_WALLS)} walls, {4 * 3 * len(SCENE_WALLS)} scenes and {2 * len(srcs)} underexposed frames")


if __name__ == "__main__":
    {"--second": second, "--third": third, "--synthetic": synthetic, "--dim": dim}.get(
        sys.argv[1] if sys.argv[1:] else "", main)()
