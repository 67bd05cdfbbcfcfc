// Tiler: reduces every T x T tile of the frame to a 10x10 RGB patch (exact area average) and
// its 2x2 quadrant means, and measures how much each tile changed since it was last classified.
//
// Bindings (group 0):
//   0 frame:     texture_2d<u32> (Rgba32Uint), FRAME_ROW texels wide: the frame's bytes as
//                uploaded, 16 to a texel, row after row (byte i is in texel i / 16, at
//                (that % FRAME_ROW, that / FRAME_ROW), word (i / 4) % 4, little-endian), padded
//                with zeros to whole texels, in one of two layouts (the pipeline constant
//                FORMAT):
//                0: RGBA8 pixels, one word each (R in the low byte), row-major with no
//                   padding (pixel (x, y) is word y*width + x);
//                1: I420: the Y plane (width x height), then U and V (chroma_width x
//                   ceil(height/2) each, at byte offsets u_offset and v_offset), rows packed;
//                   one chroma sample covers a 2x2 block. Converted to RGB here with the
//                   stream's matrix and range (yuv_scale, yuv_weights).
//                A texture, not a storage buffer: on lavapipe the storage-buffer version of
//                this shader measured about 2x slower (README, Performance); an RGBA patch
//                row of 10 px is three texel fetches
//   1 params:    uniform Params (frame size, tile size, grid size, I420 plane offsets)
//   2 patches:   storage array<u32>, read_write: cols*rows patches of 300 bytes, 4 bytes per
//                word little-endian; tile t, pixel (px,py), channel c is byte
//                t*300 + (py*10+px)*3 + c (when PATCHES is 1; else a placeholder)
//   3 state:     storage array<vec4<u32>>, read_write: two arrays of one vec4 per tile in one
//                binding:
//                [0, tiles) reference: the 2x2-quadrant mean colours (TL, TR, BL, BR; R,G,B;
//                12 bytes in words x, y, z) of the patch last classified, and in w nonzero
//                when there is one (uploaded by the CPU, which knows which frame's patches it
//                classified);
//                [tiles, 2 tiles) summary: the new patch's quadrant means in x, y, z (as in the
//                reference, so accepting a tile is a copy) and in w the largest difference of
//                any quadrant mean channel (0..255, rounded) between the new patch and the
//                reference, or 0xffffffff when the tile was never classified
//
// Quadrant means without patches (PATCHES 0, FAST 1): the sums come straight from the frame's
// bytes: RGBA channels from whole words; I420 as Y'CbCr, Y from whole words and each chroma
// sample once with the share of its 2x2 block that falls in the quadrant, and each quadrant's
// MEAN Y'CbCr converted to RGB once (instead of converting every pixel and averaging).
// The contract of this path, per tile:
//   - a whole tile of even size T (inside the frame): each quadrant is a T/2 x T/2 block of
//     pixels, its mean the exact mean of those pixels (for 10 px tiles the same as the patch's
//     quadrant mean; for other sizes within one level of it, as the patch rounds each of its
//     pixels);
//   - any other tile: the patch's quadrant means (sums of 25 patch pixels / 25);
//   - I420: the above in Y'CbCr (every pixel with its 2x2 block's chroma; patch pixels the
//     rounded area averages of Y, Cb, Cr), the quadrant means (unrounded) converted with the
//     stream's matrix and range, rounded and clamped. This differs from the RGB patch's
//     quadrant means where pixels clip, and by rounding.
// FAST 0 keeps the patch's quadrant means with every pixel converted (for comparing).
//
// One invocation per tile (or per eight 10 px tiles side by side, for I420 without patches:
// eight10), no shared memory and no barriers: on software Vulkan (lavapipe)
// barriers cost far more than the arithmetic. Coordinates are in tenths of a pixel so the
// fractional coverage of every source pixel is an exact integer weight.

struct Params {
    width: u32,
    height: u32,
    tile: u32,
    cols: u32,
    rows: u32,
    // Tiles per invocation: 1, or 8 (eight 10 px tiles side by side in one invocation: see
    // `eight10`; set by the CPU only for yuv_quads() with tile 10 and a width that is a multiple
    // of 32).
    group: u32,
    chroma_width: u32,
    u_offset: u32,
    v_offset: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    // Y offset, Y scale, chroma scale, unused.
    yuv_scale: vec4<f32>,
    // R from Cr, G from Cb, G from Cr (both subtracted), B from Cb.
    yuv_weights: vec4<f32>,
}

@group(0) @binding(0) var frame: texture_2d<u32>;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> patches: array<u32>;
@group(0) @binding(3) var<storage, read_write> state: array<vec4<u32>>;

// Set by the pipeline (src/gpu/tiler/mod.rs): u32 words per patch (PATCH_BYTES / 4 = 75),
// and invocations per workgroup (gpu::WORKGROUP).
override WORDS: u32;
override WORKGROUP: u32;
// The frame's layout (binding 0): 0 RGBA, 1 I420; one pipeline per layout.
override FORMAT: u32;
// 1: write every tile's patch to `patches`; 0: only the summary (the quadrant means are all the
// ONNX classifier reads), `patches` is a placeholder and never written. One pipeline per value.
override PATCHES: u32;
// Texels per row of `frame`.
override FRAME_ROW: u32;
// 1: without patches, quadrant sums straight from the bytes and I420 converted per quadrant
// mean (see the top); 0: every pixel converted as for a patch. Read only when PATCHES is 0.
override FAST: u32;
// `change` of a tile never accepted as classified (tiler::NEVER_CLASSIFIED, u32::MAX).
override NEVER: u32;
// The shader is written for 10x10 patches (domain::PATCH, asserted in mod.rs): the row
// functions return 10 pixels, `write_pair` packs two rows into 15 words, and the whole-tile
// paths sum 5x5 quadrants.

// Texel v of the frame: its bytes 16v..16v+15.
fn quad(v: u32) -> vec4<u32> {
    return textureLoad(frame, vec2<u32>(v % FRAME_ROW, v / FRAME_ROW), 0);
}

// Word i of the frame: its bytes 4i..4i+3.
fn word(i: u32) -> u32 {
    let q = quad(i >> 2u);
    let k = i & 3u;
    return select(select(q.x, q.y, k == 1u), select(q.z, q.w, k == 3u), k >= 2u);
}

// Byte i of the frame.
fn byte_at(i: u32) -> f32 {
    return f32((word(i >> 2u) >> (8u * (i & 3u))) & 0xffu);
}

// Byte i of the frame, as u32.
fn byte_u(i: u32) -> u32 {
    return (word(i >> 2u) >> (8u * (i & 3u))) & 0xffu;
}

// Y'CbCr (as f32, bytes or means) to RGB: the stream's matrix and range (params).
fn yuv_rgb(y: f32, u: f32, v: f32) -> vec3<u32> {
    let s = params.yuv_scale;
    let k = params.yuv_weights;
    let l = (y - s.x) * s.y;
    let cb = (u - 128.0) * s.z;
    let cr = (v - 128.0) * s.z;
    // floor(v + 0.5), not round(): WGSL rounds halves to even, Yuv::to_rgb away from zero.
    let exact = vec3<f32>(l + k.x * cr, l - k.y * cb - k.z * cr, l + k.w * cb);
    return vec3<u32>(clamp(floor(exact + 0.5), vec3<f32>(0.0), vec3<f32>(255.0)));
}

// Y'CbCr bytes (as f32) to a packed RGB word.
fn yuv_pack(y: f32, u: f32, v: f32) -> u32 {
    let c = yuv_rgb(y, u, v);
    return c.r | (c.g << 8u) | (c.b << 16u);
}

// Whether the patch is kept in Y'CbCr and its quadrant means converted (see the top).
fn yuv_quads() -> bool {
    return FORMAT == 1u && PATCHES == 0u && FAST != 0u;
}

// Pixel (x, y) as a packed RGBA word (alpha not used), or for yuv_quads() its Y, Cb, Cr bytes
// packed the same way. FORMAT is a pipeline constant, so each pipeline holds one body.
fn pixel(x: u32, y: u32) -> u32 {
    if (FORMAT == 0u) {
        return word(y * params.width + x);
    }
    let c = (y / 2u) * params.chroma_width + x / 2u;
    if (yuv_quads()) {
        return byte_u(y * params.width + x) | (byte_u(params.u_offset + c) << 8u)
            | (byte_u(params.v_offset + c) << 16u);
    }
    return yuv_pack(byte_at(y * params.width + x), byte_at(params.u_offset + c), byte_at(params.v_offset + c));
}

// Sum of the four bytes of w.
fn bsum(w: u32) -> u32 {
    let s = (w & 0x00ff00ffu) + ((w >> 8u) & 0x00ff00ffu);
    return (s & 0xffffu) + (s >> 16u);
}

// Sums of the left and right five of the ten bytes from byte b on.
fn sum10(b: u32) -> vec2<u32> {
    if ((b & 1u) != 0u) {
        var l = 0u;
        var r = 0u;
        for (var i = 0u; i < 5u; i++) {
            l += byte_u(b + i);
            r += byte_u(b + 5u + i);
        }
        return vec2<u32>(l, r);
    }
    // Even: the ten bytes are in three words, from byte 0 or 2 of the first.
    let w = b >> 2u;
    let y0 = word(w);
    let y1 = word(w + 1u);
    let y2 = word(w + 2u);
    let odd = (b & 2u) != 0u;
    let a = select(y0, (y0 >> 16u) | (y1 << 16u), odd);
    let m = select(y1, (y1 >> 16u) | (y2 << 16u), odd);
    let c = select(y2, y2 >> 16u, odd);
    return vec2<u32>(bsum(a) + (m & 0xffu), bsum(m >> 8u) + bsum(c & 0xffffu));
}

// The five chroma bytes from byte b on, weighted by how many of their 2x2 block's pixels fall
// in the left and the right five pixel columns: (2, 2, 1, 0, 0) and (0, 0, 1, 2, 2).
fn chroma5(b: u32) -> vec2<u32> {
    let lo = word(b >> 2u);
    let hi = word((b >> 2u) + 1u);
    let s = b & 3u;
    let c0 = u32(byte2(lo, hi, s));
    let c1 = u32(byte2(lo, hi, s + 1u));
    let c2 = u32(byte2(lo, hi, s + 2u));
    let c3 = u32(byte2(lo, hi, s + 3u));
    let c4 = u32(byte2(lo, hi, s + 4u));
    return vec2<u32>(2u * (c0 + c1) + c2, c2 + 2u * (c3 + c4));
}

// Bytes [lo, hi) (0..=4) of a word as a mask.
fn byte_mask(lo: u32, hi: u32) -> u32 {
    let below = select(0xffffffffu, (1u << (8u * hi)) - 1u, hi < 4u);
    let above = select(0u, 0xffffffffu << (8u * lo), lo < 4u);
    return below & above;
}

// Sum of the n bytes (at most 32) of the frame from byte b on, a word at a time.
fn byte_sum(b: u32, n: u32) -> u32 {
    var sum = 0u;
    for (var i = b >> 2u; i * 4u < b + n; i++) {
        let lo = max(b, i * 4u) - i * 4u;
        let hi = min(b + n, i * 4u + 4u) - i * 4u;
        sum += bsum(word(i) & byte_mask(lo, hi));
    }
    return sum;
}

// R, G, B sums of the n RGBA pixels (at most 32) from word p on, a texel (4 pixels) at a time,
// R and B in two 16-bit lanes.
fn rgba_sum(p: u32, n: u32) -> vec3<u32> {
    var rb = 0u;
    var g = 0u;
    for (var v = p >> 2u; v * 4u < p + n; v++) {
        let t = quad(v);
        let words = array<u32, 4>(t.x, t.y, t.z, t.w);
        for (var k = 0u; k < 4u; k++) {
            let i = v * 4u + k;
            let w = select(0u, words[k], i >= p && i < p + n);
            rb += w & 0xff00ffu;
            g += (w >> 8u) & 0xffu;
        }
    }
    return vec3<u32>(rb & 0xffffu, g, rb >> 16u);
}

// Quadrant sums (TL, TR, BL, BR) of a whole tile of even size 2h at pixel (x, y) (both even),
// without a patch: each quadrant an h x h block of pixels (h*h of them), RGB or Y'CbCr.
fn quads_even(x: u32, y: u32, h: u32) -> array<vec3<u32>, 4> {
    var q = array<vec3<u32>, 4>();
    for (var r = 0u; r < 2u * h; r++) {
        let b = (y + r) * params.width + x;
        let k = select(0u, 2u, r >= h);
        if (FORMAT == 0u) {
            q[k] += rgba_sum(b, h);
            q[k + 1u] += rgba_sum(b + h, h);
        } else {
            q[k].x += byte_sum(b, h);
            q[k + 1u].x += byte_sum(b + h, h);
        }
    }
    if (FORMAT == 0u) {
        return q;
    }
    // Chroma: h rows of h samples, each sample's 2x2 block split between the quadrants (when
    // h is odd, the middle row and column half and half).
    let half = h / 2u;
    let odd = (h & 1u) != 0u;
    for (var j = 0u; j < h; j++) {
        let c = (y / 2u + j) * params.chroma_width + x / 2u;
        let u = params.u_offset + c;
        let v = params.v_offset + c;
        let um = select(0u, byte_u(u + half), odd);
        let vm = select(0u, byte_u(v + half), odd);
        let lr = vec4<u32>(
            2u * byte_sum(u, half) + um,
            2u * byte_sum(u + h - half, half) + um,
            2u * byte_sum(v, half) + vm,
            2u * byte_sum(v + h - half, half) + vm,
        );
        // Of the row's two pixel rows, how many are in the top half.
        let top = min(h - min(2u * j, h), 2u);
        let s_top = lr * top;
        let s_bottom = lr * (2u - top);
        q[0] += vec3<u32>(0u, s_top.x, s_top.z);
        q[1] += vec3<u32>(0u, s_top.y, s_top.w);
        q[2] += vec3<u32>(0u, s_bottom.x, s_bottom.z);
        q[3] += vec3<u32>(0u, s_bottom.y, s_bottom.w);
    }
    return q;
}

// Quadrant sums (TL, TR, BL, BR) of a whole 10 px tile at pixel (x, y), without a patch. RGBA:
// the channels of each word, R and B summed in two 16-bit lanes at once. I420: Y, Cb, Cr.
fn quads10(x: u32, y: u32) -> array<vec3<u32>, 4> {
    var q = array<vec3<u32>, 4>();
    if (FORMAT == 0u) {
        // Per half: left R|B, left G, right R|B, right G (25 px: at most 6375 a lane).
        var h = array<vec4<u32>, 2>();
        for (var py = 0u; py < 10u; py++) {
            let p = (y + py) * params.width + x;
            var row: array<u32, 10>;
            if ((p & 1u) == 0u) {
                row = rgba_row10(p);
            } else {
                for (var i = 0u; i < 10u; i++) {
                    row[i] = word(p + i);
                }
            }
            var s = vec4<u32>(0u);
            for (var i = 0u; i < 5u; i++) {
                s += vec4<u32>(row[i] & 0xff00ffu, (row[i] >> 8u) & 0xffu, row[5u + i] & 0xff00ffu,
                    (row[5u + i] >> 8u) & 0xffu);
            }
            h[py / 5u] += s;
        }
        for (var k = 0u; k < 2u; k++) {
            let s = h[k];
            q[2u * k] = vec3<u32>(s.x & 0xffffu, s.y, s.x >> 16u);
            q[2u * k + 1u] = vec3<u32>(s.z & 0xffffu, s.w, s.z >> 16u);
        }
        return q;
    }
    // Y: left and right sums of each half.
    var ys = array<vec2<u32>, 2>();
    for (var py = 0u; py < 10u; py++) {
        ys[py / 5u] += sum10((y + py) * params.width + x);
    }
    // Chroma rows: weighted by how many of their pixel rows fall in the top and bottom half.
    var top = vec4<u32>(0u);
    var bottom = vec4<u32>(0u);
    for (var i = 0u; i < 5u; i++) {
        let c = (y / 2u + i) * params.chroma_width + x / 2u;
        let s = vec4<u32>(chroma5(params.u_offset + c), chroma5(params.v_offset + c));
        top += s * select(select(0u, 1u, i == 2u), 2u, i < 2u);
        bottom += s * select(select(0u, 1u, i == 2u), 2u, i > 2u);
    }
    q[0] = vec3<u32>(ys[0].x, top.x, top.z);
    q[1] = vec3<u32>(ys[0].y, top.y, top.w);
    q[2] = vec3<u32>(ys[1].x, bottom.x, bottom.z);
    q[3] = vec3<u32>(ys[1].y, bottom.y, bottom.w);
    return q;
}

// Byte j (0..7) of the two words lo, hi (little-endian), as f32.
fn byte2(lo: u32, hi: u32, j: u32) -> f32 {
    return f32((select(lo, hi, j >= 4u) >> (8u * (j & 3u))) & 0xffu);
}

// Y byte k (0..11) of the three words y0, y1, y2, as f32.
fn byte3(y0: u32, y1: u32, y2: u32, k: u32) -> f32 {
    return f32((select(select(y0, y1, k >= 4u), y2, k >= 8u) >> (8u * (k & 3u))) & 0xffu);
}

// Ten RGBA pixels from word p (even) on: three texel fetches, the row starting at component 0
// or 2 of the first (the old texture tiler's reads).
fn rgba_row10(p: u32) -> array<u32, 10> {
    let a = quad(p >> 2u);
    let b = quad((p >> 2u) + 1u);
    let c = quad((p >> 2u) + 2u);
    let odd = (p & 2u) != 0u;
    return array<u32, 10>(
        select(a.x, a.z, odd), select(a.y, a.w, odd), select(a.z, b.x, odd),
        select(a.w, b.y, odd), select(b.x, b.z, odd), select(b.y, b.w, odd),
        select(b.z, c.x, odd), select(b.w, c.y, odd), select(c.x, c.z, odd),
        select(c.y, c.w, odd),
    );
}

// Ten I420 pixels from x0 (even) on row y, when the row's first Y byte is at an even byte
// offset: three words of Y and two each of U and V instead of three loads per pixel. Every
// index below is a constant but the byte offsets, so nothing lands in an indexed array.
fn i420_row10(x0: u32, y: u32) -> array<u32, 10> {
    let yb = y * params.width + x0;
    let yw = yb >> 2u;
    let y0 = word(yw);
    let y1 = word(yw + 1u);
    let y2 = word(yw + 2u);
    let c = (y / 2u) * params.chroma_width + x0 / 2u;
    let ub = params.u_offset + c;
    let vb = params.v_offset + c;
    let u0 = word(ub >> 2u);
    let u1 = word((ub >> 2u) + 1u);
    let v0 = word(vb >> 2u);
    let v1 = word((vb >> 2u) + 1u);
    let ks = yb & 3u;
    let us = ub & 3u;
    let vs = vb & 3u;
    var u = array<f32, 5>();
    var v = array<f32, 5>();
    u[0] = byte2(u0, u1, us);
    u[1] = byte2(u0, u1, us + 1u);
    u[2] = byte2(u0, u1, us + 2u);
    u[3] = byte2(u0, u1, us + 3u);
    u[4] = byte2(u0, u1, us + 4u);
    v[0] = byte2(v0, v1, vs);
    v[1] = byte2(v0, v1, vs + 1u);
    v[2] = byte2(v0, v1, vs + 2u);
    v[3] = byte2(v0, v1, vs + 3u);
    v[4] = byte2(v0, v1, vs + 4u);
    return array<u32, 10>(
        yuv_pack(byte3(y0, y1, y2, ks), u[0], v[0]),
        yuv_pack(byte3(y0, y1, y2, ks + 1u), u[0], v[0]),
        yuv_pack(byte3(y0, y1, y2, ks + 2u), u[1], v[1]),
        yuv_pack(byte3(y0, y1, y2, ks + 3u), u[1], v[1]),
        yuv_pack(byte3(y0, y1, y2, ks + 4u), u[2], v[2]),
        yuv_pack(byte3(y0, y1, y2, ks + 5u), u[2], v[2]),
        yuv_pack(byte3(y0, y1, y2, ks + 6u), u[3], v[3]),
        yuv_pack(byte3(y0, y1, y2, ks + 7u), u[3], v[3]),
        yuv_pack(byte3(y0, y1, y2, ks + 8u), u[4], v[4]),
        yuv_pack(byte3(y0, y1, y2, ks + 9u), u[4], v[4]),
    );
}

fn rgb(p: u32) -> vec3<u32> {
    return vec3<u32>(p & 0xffu, (p >> 8u) & 0xffu, (p >> 16u) & 0xffu);
}

// The source interval [a, b) in tenths of a pixel covered by patch pixel p along one axis,
// clipped to the image; a patch pixel wholly outside repeats the last pixel row/column.
fn span(origin: u32, p: u32, size: u32) -> vec2<u32> {
    let lo = origin * 10u + p * params.tile;
    let hi = lo + params.tile;
    let limit = size * 10u;
    if (lo >= limit) {
        return vec2<u32>(limit - 10u, limit);
    }
    return vec2<u32>(lo, min(hi, limit));
}

fn overlap(i: u32, s: vec2<u32>) -> u32 {
    return min(s.y, i * 10u + 10u) - max(s.x, i * 10u);
}

// Area average of a source rectangle, as a packed pixel.
fn average(sx: vec2<u32>, sy: vec2<u32>) -> u32 {
    var sum = vec3<u32>(0u);
    var area = 0u;
    for (var y = sy.x / 10u; y * 10u < sy.y; y++) {
        let wy = overlap(y, sy);
        for (var x = sx.x / 10u; x * 10u < sx.y; x++) {
            let w = wy * overlap(x, sx);
            sum += rgb(pixel(x, y)) * w;
            area += w;
        }
    }
    let m = (sum + vec3<u32>(area / 2u)) / area;
    return m.r | (m.g << 8u) | (m.b << 16u);
}

// Patch row py of tile (col, row): ten packed pixels.
fn patch_row(col: u32, row: u32, py: u32, whole10: bool) -> array<u32, 10> {
    var out: array<u32, 10>;
    if (whole10) {
        // 10 px tiles inside the frame: each patch pixel is one source pixel. The row starts
        // at an even pixel index (so at an even word, or an even Y byte) unless the width
        // is odd and the row too.
        let x = col * 10u;
        let y = row * 10u + py;
        if (((y * params.width) & 1u) == 0u) {
            if (FORMAT == 0u) {
                return rgba_row10(y * params.width + x);
            }
            return i420_row10(x, y);
        }
        for (var i = 0u; i < 10u; i++) {
            out[i] = pixel(x + i, y);
        }
    } else {
        let sy = span(row * params.tile, py, params.height);
        for (var px = 0u; px < 10u; px++) {
            out[px] = average(span(col * params.tile, px, params.width), sy);
        }
    }
    return out;
}

fn max3(v: vec3<u32>) -> u32 {
    return max(v.x, max(v.y, v.z));
}

fn absdiff(a: vec3<u32>, b: vec3<u32>) -> vec3<u32> {
    return max(a, b) - min(a, b);
}

fn ref_pixel(r: vec4<u32>, q: u32) -> vec3<u32> {
    // Quadrant q's R, G, B are bytes 3q, 3q+1, 3q+2 of words x, y, z.
    let words = array<u32, 3>(r.x, r.y, r.z);
    var out = vec3<u32>(0u);
    for (var c = 0u; c < 3u; c++) {
        let k = q * 3u + c;
        out[c] = (words[k / 4u] >> (8u * (k % 4u))) & 0xffu;
    }
    return out;
}

// Writes two patch rows (20 packed pixels, 60 bytes) as 15 words from word w on: four packed
// pixels p0..p3 make three words of RGB bytes.
fn write_pair(w: u32, r0: array<u32, 10>, r1: array<u32, 10>) {
    var px: array<u32, 20>;
    for (var i = 0u; i < 10u; i++) {
        px[i] = r0[i];
        px[10u + i] = r1[i];
    }
    for (var g = 0u; g < 5u; g++) {
        let p0 = px[4u * g];
        let p1 = px[4u * g + 1u];
        let p2 = px[4u * g + 2u];
        let p3 = px[4u * g + 3u];
        patches[w + 3u * g] = (p0 & 0xffffffu) | (p1 << 24u);
        patches[w + 3u * g + 1u] = ((p1 >> 8u) & 0xffffu) | (p2 << 16u);
        patches[w + 3u * g + 2u] = ((p2 >> 16u) & 0xffu) | (p3 << 8u);
    }
}

@compute @workgroup_size(WORKGROUP, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (params.group == 1u || !yuv_quads()) {
        tile_one(gid.x);
        return;
    }
    // Eight tiles of one tile row per invocation; a group with tiles outside the frame (the
    // last of a row, the last row when the height is not a multiple of 10) one by one.
    let per_row = (params.cols + 7u) / 8u;
    let row = gid.x / per_row;
    if (row >= params.rows) {
        return;
    }
    let first = (gid.x % per_row) * 8u;
    if (first + 8u <= params.cols && row * 10u + 10u <= params.height) {
        eight10(row, first);
        return;
    }
    for (var c = first; c < min(first + 8u, params.cols); c++) {
        tile_one(row * params.cols + c);
    }
}

// Tile t, one invocation.
fn tile_one(t: u32) {
    if (t >= params.cols * params.rows) {
        return;
    }
    let col = t % params.cols;
    let row = t / params.cols;
    let whole10 = params.tile == 10u && col * 10u + 10u <= params.width && row * 10u + 10u <= params.height;

    // 1. The quadrant sums: of the new patch (written when PATCHES asks for it), or without
    //    one straight from the frame's bytes.
    var q = array<vec3<u32>, 4>();
    // Pixels per quadrant: 25 patch pixels, or h*h frame pixels (quads_even).
    var n = 25u;
    let tile = params.tile;
    let whole = col * tile + tile <= params.width && row * tile + tile <= params.height;
    if (PATCHES == 0u && FAST != 0u && whole10) {
        q = quads10(col * 10u, row * 10u);
    } else if (PATCHES == 0u && FAST != 0u && whole && (tile & 1u) == 0u) {
        let h = tile / 2u;
        q = quads_even(col * tile, row * tile, h);
        n = h * h;
    } else {
        q = patch_quads(t, col, row, whole10);
    }
    store(t, q, n);
}

// 2. Tile t's quadrant means (rounded) from its sums `q` over `n` pixels each, packed as the
//    reference packs them, and their largest change since the reference.
fn store(t: u32, q: array<vec3<u32>, 4>, n: u32) {
    let r = state[t];
    var d = 0u;
    var bytes = array<u32, 12>();
    for (var k = 0u; k < 4u; k++) {
        var mean: vec3<u32>;
        if (yuv_quads()) {
            let m = vec3<f32>(q[k]) / f32(n);
            mean = yuv_rgb(m.x, m.y, m.z);
        } else {
            mean = (q[k] + vec3<u32>(n / 2u)) / n;
        }
        d = max(d, max3(absdiff(mean, ref_pixel(r, k))));
        bytes[3u * k] = mean.r;
        bytes[3u * k + 1u] = mean.g;
        bytes[3u * k + 2u] = mean.b;
    }
    var packed = vec3<u32>(0u);
    for (var i = 0u; i < 12u; i++) {
        packed[i / 4u] |= bytes[i] << (8u * (i % 4u));
    }
    state[params.cols * params.rows + t] = vec4<u32>(packed, select(NEVER, d, r.w != 0u));
}

// Eight I420 tiles side by side: for each row band one invocation reads whole texels, where
// one invocation per tile fetched three texels for every ten bytes of a row (on llvmpipe each
// fetch is a gather across the SIMD lanes). The same sums as quads10, so the same results.
// Needs (the CPU checks it before setting `group` to 8): 10 px tiles and a width that is a
// multiple of 32, so that each Y row of the group (80 bytes) starts on a texel, and each
// chroma row (40 bytes) on a texel or half way into one.
fn eight10(row: u32, first: u32) {
    let y = row * 10u;
    let x = first * 10u;
    let yt = (y * params.width + x) >> 4u;
    let step = params.width >> 4u;
    // Per pair of tiles: left, right of the first, left, right of the second.
    let ytop = y_rows(yt, step);
    let ybot = y_rows(yt + 5u * step, step);
    let c = (y / 2u) * params.chroma_width + x / 2u;
    let u = chroma_rows(params.u_offset + c);
    let v = chroma_rows(params.v_offset + c);
    for (var j = 0u; j < 8u; j++) {
        let p = j / 2u;
        let k = 2u * (j & 1u);
        var q = array<vec3<u32>, 4>();
        q[0] = vec3<u32>(ytop[p][k], u[p][k], v[p][k]);
        q[1] = vec3<u32>(ytop[p][k + 1u], u[p][k + 1u], v[p][k + 1u]);
        q[2] = vec3<u32>(ybot[p][k], u[4u + p][k], v[4u + p][k]);
        q[3] = vec3<u32>(ybot[p][k + 1u], u[4u + p][k + 1u], v[4u + p][k + 1u]);
        store(row * params.cols + first + j, q, 25u);
    }
}

// Left and right sums of two tiles' ten bytes each in the words w0..w4 (20 bytes).
fn pair10(w0: u32, w1: u32, w2: u32, w3: u32, w4: u32) -> vec4<u32> {
    return vec4<u32>(
        bsum(w0) + (w1 & 0xffu),
        bsum(w1 >> 8u) + bsum(w2 & 0xffffu),
        bsum(w2 >> 16u) + bsum(w3 & 0xffffffu),
        bsum(w3 >> 24u) + bsum(w4),
    );
}

// Five Y rows of eight tiles (80 bytes a row, five texels from texel t, rows `step` texels
// apart): per pair of tiles as pair10.
fn y_rows(t: u32, step: u32) -> array<vec4<u32>, 4> {
    var a = array<vec4<u32>, 4>();
    for (var r = 0u; r < 5u; r++) {
        let b = t + r * step;
        let t0 = quad(b);
        let t1 = quad(b + 1u);
        let t2 = quad(b + 2u);
        let t3 = quad(b + 3u);
        let t4 = quad(b + 4u);
        a[0] += pair10(t0.x, t0.y, t0.z, t0.w, t1.x);
        a[1] += pair10(t1.y, t1.z, t1.w, t2.x, t2.y);
        a[2] += pair10(t2.z, t2.w, t3.x, t3.y, t3.z);
        a[3] += pair10(t3.w, t4.x, t4.y, t4.z, t4.w);
    }
    return a;
}

fn byte_of(w: u32, k: u32) -> u32 {
    return (w >> (8u * k)) & 0xffu;
}

// Five chroma bytes weighted as chroma5 does: left, right.
fn lr5(c0: u32, c1: u32, c2: u32, c3: u32, c4: u32) -> vec2<u32> {
    return vec2<u32>(2u * (c0 + c1) + c2, c2 + 2u * (c3 + c4));
}

// chroma5 of four tiles' five bytes each in the words w0..w4 (20 bytes): per pair of tiles
// left, right of the first, left, right of the second.
fn chroma20(w0: u32, w1: u32, w2: u32, w3: u32, w4: u32) -> array<vec4<u32>, 2> {
    let a = lr5(byte_of(w0, 0u), byte_of(w0, 1u), byte_of(w0, 2u), byte_of(w0, 3u), byte_of(w1, 0u));
    let b = lr5(byte_of(w1, 1u), byte_of(w1, 2u), byte_of(w1, 3u), byte_of(w2, 0u), byte_of(w2, 1u));
    let c = lr5(byte_of(w2, 2u), byte_of(w2, 3u), byte_of(w3, 0u), byte_of(w3, 1u), byte_of(w3, 2u));
    let d = lr5(byte_of(w3, 3u), byte_of(w4, 0u), byte_of(w4, 1u), byte_of(w4, 2u), byte_of(w4, 3u));
    return array<vec4<u32>, 2>(vec4<u32>(a, b), vec4<u32>(c, d));
}

// Five chroma rows of eight tiles (40 bytes a row from byte b, on a texel or half way into
// one), weighted by how many of their pixel rows fall in the top (2, 2, 1, 0, 0) and bottom
// (0, 0, 1, 2, 2) half: per pair of tiles as chroma20, the top half in 0..3, the bottom in 4..7.
fn chroma_rows(b: u32) -> array<vec4<u32>, 8> {
    var a = array<vec4<u32>, 8>();
    let half = (b & 8u) != 0u;
    for (var i = 0u; i < 5u; i++) {
        let t = (b + i * params.chroma_width) >> 4u;
        let t0 = quad(t);
        let t1 = quad(t + 1u);
        let t2 = quad(t + 2u);
        let w0 = select(t0.x, t0.z, half);
        let w1 = select(t0.y, t0.w, half);
        let w2 = select(t0.z, t1.x, half);
        let w3 = select(t0.w, t1.y, half);
        let w4 = select(t1.x, t1.z, half);
        let w5 = select(t1.y, t1.w, half);
        let w6 = select(t1.z, t2.x, half);
        let w7 = select(t1.w, t2.y, half);
        let w8 = select(t2.x, t2.z, half);
        let w9 = select(t2.y, t2.w, half);
        let lo = chroma20(w0, w1, w2, w3, w4);
        let hi = chroma20(w5, w6, w7, w8, w9);
        let top = select(select(0u, 1u, i == 2u), 2u, i < 2u);
        let bottom = 2u - top;
        a[0] += lo[0] * top;
        a[1] += lo[1] * top;
        a[2] += hi[0] * top;
        a[3] += hi[1] * top;
        a[4] += lo[0] * bottom;
        a[5] += lo[1] * bottom;
        a[6] += hi[0] * bottom;
        a[7] += hi[1] * bottom;
    }
    return a;
}

// The quadrant sums of tile t's patch, two rows (20 pixels, 60 bytes, 15 words) at a time;
// the patch itself is written only when PATCHES asks for it.
// (For yuv_quads() only tiles that are not whole10 come here: pixel() reads Y'CbCr for them.)
fn patch_quads(t: u32, col: u32, row: u32, whole10: bool) -> array<vec3<u32>, 4> {
    var q = array<vec3<u32>, 4>();
    for (var pair = 0u; pair < 5u; pair++) {
        let r0 = patch_row(col, row, 2u * pair, whole10);
        let r1 = patch_row(col, row, 2u * pair + 1u, whole10);
        for (var i = 0u; i < 10u; i++) {
            // Quadrants TL, TR, BL, BR: rows 0..4 are the top half (r0 for pairs 0..2, r1
            // for pairs 0..1), columns 0..4 the left.
            let right = select(0u, 1u, i >= 5u);
            q[right + select(2u, 0u, pair <= 2u)] += rgb(r0[i]);
            q[right + select(2u, 0u, pair <= 1u)] += rgb(r1[i]);
        }
        if (PATCHES != 0u) {
            write_pair(t * WORDS + pair * 15u, r0, r1);
        }
    }
    return q;
}
