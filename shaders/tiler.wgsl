// Tiler: reduces every T x T tile of the frame to a 10x10 RGB patch (exact area average)
// and measures how much each tile changed since it was last classified.
//
// Bindings (group 0):
//   0 frame:     texture_2d<f32>, the input frame, Rgba8Unorm (sRGB bytes, read as bytes)
//   1 params:    uniform Params (frame size, tile size, grid size)
//   2 patches:   storage array<u32>, read_write: cols*rows patches of 300 bytes, 4 bytes per
//                word little-endian; tile t, pixel (px,py), channel c is byte
//                t*300 + (py*10+px)*3 + c
//   3 reference: storage array<u32>, read: per tile (at word t*75, the patch stride), the
//                2x2-quadrant mean colours (TL, TR, BL, BR; R,G,B; 12 bytes in 3 words) of the
//                patch last classified (uploaded by the CPU, which knows which frame's patches
//                it classified). Means, not whole patches: 3 reads per tile instead of 300.
//   4 valid:     storage array<u32>, read: per tile, nonzero = `reference` holds a patch
//   5 change:    storage array<u32>, read_write: per tile, the largest difference of any
//                2x2-quadrant mean channel (0..255, rounded) between the new patch and
//                `reference`, or 0xffffffff when the tile was never classified
//
// One invocation per tile, no shared memory and no barriers: on software Vulkan (lavapipe)
// barriers cost far more than the arithmetic. Coordinates are in tenths of a pixel so the
// fractional coverage of every source pixel is an exact integer weight.

struct Params {
    width: u32,
    height: u32,
    tile: u32,
    cols: u32,
    rows: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var frame: texture_2d<f32>;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> patches: array<u32>;
@group(0) @binding(3) var<storage, read> reference: array<u32>;
@group(0) @binding(4) var<storage, read> valid_ref: array<u32>;
@group(0) @binding(5) var<storage, read_write> change: array<u32>;

const WORDS: u32 = 75u;      // 300 bytes per patch
const NEVER: u32 = 0xffffffffu;

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

fn average(sx: vec2<u32>, sy: vec2<u32>) -> vec3<u32> {
    var sum = vec3<u32>(0u);
    var area = 0u;
    for (var y = sy.x / 10u; y * 10u < sy.y; y++) {
        let wy = overlap(y, sy);
        for (var x = sx.x / 10u; x * 10u < sx.y; x++) {
            let w = wy * overlap(x, sx);
            sum += vec3<u32>(round(textureLoad(frame, vec2<u32>(x, y), 0).rgb * 255.0)) * w;
            area += w;
        }
    }
    return (sum + vec3<u32>(area / 2u)) / area;
}

fn ref_byte(base: u32, k: u32) -> u32 {
    return (reference[base + k / 4u] >> (8u * (k % 4u))) & 0xffu;
}

fn ref_pixel(base: u32, b: u32) -> vec3<u32> {
    return vec3<u32>(ref_byte(base, b), ref_byte(base, b + 1u), ref_byte(base, b + 2u));
}

// Appends one byte to the patch, storing each word as soon as it is full.
fn push(word: ptr<function, u32>, filled: ptr<function, u32>, w: ptr<function, u32>, v: u32) {
    *word |= v << (8u * *filled);
    *filled += 1u;
    if (*filled == 4u) {
        patches[*w] = *word;
        *w += 1u;
        *word = 0u;
        *filled = 0u;
    }
}

fn max3(v: vec3<u32>) -> u32 {
    return max(v.x, max(v.y, v.z));
}

fn absdiff(a: vec3<u32>, b: vec3<u32>) -> vec3<u32> {
    return max(a, b) - min(a, b);
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let t = gid.x;
    if (t >= params.cols * params.rows) {
        return;
    }
    let col = t % params.cols;
    let row = t / params.cols;
    let base = t * WORDS;

    let valid = valid_ref[t] != 0u;

    // 1. New patch, packed into words as it is computed, with its quadrant sums.
    var new_q = array<vec3<u32>, 4>();
    var word = 0u;
    var filled = 0u;
    var w = base;
    let whole10 = params.tile == 10u && col * 10u + 10u <= params.width && row * 10u + 10u <= params.height;
    for (var py = 0u; py < 10u; py++) {
        let sy = span(row * params.tile, py, params.height);
        var left = vec3<u32>(0u);
        var right = vec3<u32>(0u);
        for (var px = 0u; px < 10u; px++) {
            var rgb: vec3<u32>;
            if (whole10) {
                // 10 px tiles inside the frame: each patch pixel is exactly one source pixel.
                rgb = vec3<u32>(round(textureLoad(frame, vec2<u32>(col * 10u + px, row * 10u + py), 0).rgb * 255.0));
            } else {
                rgb = average(span(col * params.tile, px, params.width), sy);
            }
            if (px < 5u) {
                left += rgb;
            } else {
                right += rgb;
            }
            push(&word, &filled, &w, rgb.r);
            push(&word, &filled, &w, rgb.g);
            push(&word, &filled, &w, rgb.b);
        }
        if (py < 5u) {
            new_q[0] += left;
            new_q[1] += right;
        } else {
            new_q[2] += left;
            new_q[3] += right;
        }
    }

    // 2. Largest quadrant-mean change since the reference (25 pixels per quadrant).
    if (valid) {
        // Quadrant means (25 pixels each, rounded) against the reference means.
        var d = 0u;
        for (var q = 0u; q < 4u; q++) {
            let mean = (new_q[q] + vec3<u32>(12u)) / 25u;
            d = max(d, max3(absdiff(mean, ref_pixel(base, q * 3u))));
        }
        change[t] = d;
    } else {
        change[t] = NEVER;
    }
}
