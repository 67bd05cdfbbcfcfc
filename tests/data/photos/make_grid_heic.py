"""Writes a tiled (grid) HEIC as phones do: the picture cut into equal tiles, each an HEVC image item coded by
heif-enc, assembled by a 'grid' item (the primary picture), optionally rotated with 'irot' (degrees counter-clockwise).

usage: python3 make_grid_heic.py IN.png OUT.heic TILE_W TILE_H ROTATION"""
import os, struct, subprocess, sys, tempfile
from PIL import Image

def boxes(b, off=0, end=None):
    end = len(b) if end is None else end
    while off < end:
        size, typ = struct.unpack(">I4s", b[off:off + 8])
        yield typ.decode(), off, off + size
        off += size

def child(b, start, end, name, full=False):
    body = start + 8 + (4 if full else 0)
    for t, s, e in boxes(b, body, end):
        if t == name:
            return s, e
    raise KeyError(name)

def tile_item(path):
    """(hvcC box bytes, HEVC data) of a single-picture HEIC written by heif-enc."""
    b = open(path, "rb").read()
    _, ms, me = next(x for x in boxes(b) if x[0] == "meta")
    ps, pe = child(b, ms, me, "iprp", True)
    cs, ce = child(b, ps, pe, "ipco")
    hs, he = child(b, cs, ce, "hvcC")
    ls, le = child(b, ms, me, "iloc", True)
    v = b[ls + 8]
    p = ls + 12
    off_size, len_size = b[p] >> 4, b[p] & 15
    base_size, idx_size = b[p + 1] >> 4, (b[p + 1] & 15) if v in (1, 2) else 0
    p += 2

    def num(k):
        nonlocal p
        x = int.from_bytes(b[p:p + k], "big") if k else 0
        p += k
        return x
    count = num(2)
    data = None
    for _ in range(count):
        num(2)
        if v in (1, 2):
            num(2)
        num(2)
        base = num(base_size)
        ext = []
        for _ in range(num(2)):
            num(idx_size)
            o, l = num(off_size), num(len_size)
            ext.append(b[base + o:base + o + l])
        if data is None:
            data = b"".join(ext)
    return b[hs:he], data

def box(t, body):
    return struct.pack(">I4s", 8 + len(body), t.encode()) + body

def full(t, body, v=0, f=0):
    return box(t, struct.pack(">I", (v << 24) | f) + body)

def main(src, out, tw, th, rot):
    im = Image.open(src).convert("RGB")
    W, H = im.size
    cols, rows = -(-W // tw), -(-H // th)
    pad = Image.new("RGB", (cols * tw, rows * th))
    pad.paste(im, (0, 0))
    # edge-replicate the padding so the tiles' edges code cleanly
    for x in range(W, cols * tw):
        pad.paste(im.crop((W - 1, 0, W, H)), (x, 0))
    for y in range(H, rows * th):
        pad.paste(pad.crop((0, H - 1, cols * tw, H)), (0, y))
    tiles = []
    tmp = tempfile.mkdtemp()
    for r in range(rows):
        for c in range(cols):
            png, heic = os.path.join(tmp, "t.png"), os.path.join(tmp, "t.heic")
            pad.crop((c * tw, r * th, (c + 1) * tw, (r + 1) * th)).save(png)
            subprocess.run(["heif-enc", "-q", "60", "-o", heic, png], check=True, capture_output=True)
            tiles.append(tile_item(heic))
    n = len(tiles)
    ids = list(range(2, 2 + n))
    grid = struct.pack(">BBBBHH", 0, 0, rows - 1, cols - 1, W, H)
    ftyp = box("ftyp", b"heic" + struct.pack(">I", 0) + b"mif1heic")
    hdlr = full("hdlr", struct.pack(">I", 0) + b"pict" + b"\0" * 12 + b"\0")
    pitm = full("pitm", struct.pack(">H", 1))
    infe = [full("infe", struct.pack(">HH", 1, 0) + b"grid" + b"\0", v=2)]
    infe += [full("infe", struct.pack(">HH", i, 0) + b"hvc1" + b"\0", v=2, f=1) for i in ids]
    iinf = full("iinf", struct.pack(">H", 1 + n) + b"".join(infe))
    iref = full("iref", box("dimg", struct.pack(">HH", 1, n) + b"".join(struct.pack(">H", i) for i in ids)))
    props = [h for h, _ in tiles]  # 1..n: each tile's own hvcC
    props.append(full("ispe", struct.pack(">II", tw, th)))  # n+1
    props.append(full("ispe", struct.pack(">II", W, H)))  # n+2
    grid_assoc = [n + 2]
    if rot:
        props.append(box("irot", bytes([rot // 90])))  # n+3, angle counter-clockwise in 90s
        grid_assoc.append(0x80 | (n + 3))
    ipco = box("ipco", b"".join(props))
    entries = [struct.pack(">HB", 1, len(grid_assoc)) + bytes(grid_assoc)]
    for k, i in enumerate(ids):
        entries.append(struct.pack(">HBBB", i, 2, 0x80 | (k + 1), n + 1))
    ipma = full("ipma", struct.pack(">I", 1 + n) + b"".join(entries))
    iprp = box("iprp", ipco + ipma)
    idat = box("idat", grid)

    def build(mdat_start):
        body = struct.pack(">BBH", 0x44, 0x00, 1 + n)
        body += struct.pack(">HHHHII", 1, 1, 0, 1, 0, len(grid))  # construction method 1: idat
        o = mdat_start + 8
        for i, (_, d) in zip(ids, tiles):
            body += struct.pack(">HHHHII", i, 0, 0, 1, o, len(d))
            o += len(d)
        iloc = full("iloc", body, v=1)
        return ftyp + full("meta", hdlr + pitm + iloc + iinf + iref + iprp + idat)

    head = build(0)
    head = build(len(head))
    mdat = box("mdat", b"".join(d for _, d in tiles))
    open(out, "wb").write(head + mdat)

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
