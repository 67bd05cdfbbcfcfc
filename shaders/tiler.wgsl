// Tiler: reduces every T x T tile of the frame to a 10x10 RGB patch (exact area average)
// and measures how much each tile changed since it was last classified.
//
// Bindings (group 0):
//   0 frame:     texture_2d<f32>, the input frame, Rgba8Unorm (sRGB bytes, read as bytes)
//   1 params:    uniform Params (frame size, tile size, grid size)
//   2 patches:   storage array<u32>, read_write: cols*rows patches of 300 bytes, 4 bytes per
//                word little-endian; tile t, pixel (px,py), channel c is byte
//                t*300 + (py*10+px)*3 + c. Holds the previous frame's patches on entry.
//   3 reference: storage array<u32>, read_write: the patches last classified, same layout
//   4 accept:    storage array<u32>, read: per tile, nonzero = the patch held in `patches`
//                on entry was classified; copy it into `reference` before overwriting it
//   5 change:    storage array<u32>, read_write: per tile, the largest difference of any
//                2x2-quadrant mean channel (0..255, rounded) between the new patch and
//                `reference`, or 0xffffffff when the tile was never classified. On entry it
//                holds the previous frame's value, which tells whether `reference` is valid.
//
// One workgroup per tile, one invocation per patch pixel. Coordinates are in tenths of a
// pixel so the fractional coverage of every source pixel is an exact integer weight.

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
@group(0) @binding(3) var<storage, read_write> reference: array<u32>;
@group(0) @binding(4) var<storage, read> accept: array<u32>;
@group(0) @binding(5) var<storage, read_write> change: array<u32>;

const WORDS: u32 = 75u;      // 300 bytes per patch
const NEVER: u32 = 0xffffffffu;

var<workgroup> bytes: array<u32, 300>;
var<workgroup> quad_diff: atomic<u32>;

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

fn byte_at(word: u32, k: u32) -> u32 {
    return (word >> (8u * k)) & 0xffu;
}

@compute @workgroup_size(10, 10, 1)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let t = wg.y * params.cols + wg.x;
    let base = t * WORDS;

    // 1. Remember the previous patch if the CPU classified it.
    let accepted = accept[t] != 0u;
    if (accepted && li < WORDS) {
        reference[base + li] = patches[base + li];
    }
    if (li == 0u) {
        atomicStore(&quad_diff, 0u);
    }
    storageBarrier();
    workgroupBarrier();

    // 2. Area average of this invocation's patch pixel.
    let sx = span(wg.x * params.tile, lid.x, params.width);
    let sy = span(wg.y * params.tile, lid.y, params.height);
    var sum = vec3<u32>(0u);
    var area = 0u;
    for (var y = sy.x / 10u; y * 10u < sy.y; y++) {
        let wy = overlap(y, sy);
        for (var x = sx.x / 10u; x * 10u < sx.y; x++) {
            let w = wy * overlap(x, sx);
            let c = vec3<u32>(round(textureLoad(frame, vec2<u32>(x, y), 0).rgb * 255.0));
            sum += c * w;
            area += w;
        }
    }
    let rgb = (sum + vec3<u32>(area / 2u)) / area;
    let o = li * 3u;
    bytes[o] = rgb.r;
    bytes[o + 1u] = rgb.g;
    bytes[o + 2u] = rgb.b;
    workgroupBarrier();

    // 3. Pack and store, then compare quadrant means with the reference.
    if (li < WORDS) {
        let k = li * 4u;
        patches[base + li] = bytes[k] | (bytes[k + 1u] << 8u) | (bytes[k + 2u] << 16u) | (bytes[k + 3u] << 24u);
    }
    // Invocations 0..11: quadrant q = li / 3, channel c = li % 3.
    if (li < 12u) {
        let q = li / 3u;
        let c = li % 3u;
        let qx = (q % 2u) * 5u;
        let qy = (q / 2u) * 5u;
        var new_sum = 0u;
        var ref_sum = 0u;
        for (var y = 0u; y < 5u; y++) {
            for (var x = 0u; x < 5u; x++) {
                let b = ((qy + y) * 10u + qx + x) * 3u + c;
                new_sum += bytes[b];
                ref_sum += byte_at(reference[base + b / 4u], b % 4u);
            }
        }
        let d = max(new_sum, ref_sum) - min(new_sum, ref_sum);
        atomicMax(&quad_diff, (d + 12u) / 25u);
    }
    workgroupBarrier();
    if (li == 0u) {
        // The CPU fills `change` with NEVER when it reallocates the grid, so a tile reports
        // NEVER until its first accept.
        let valid = accepted || (change[t] != NEVER);
        if (valid) {
            change[t] = atomicLoad(&quad_diff);
        } else {
            change[t] = NEVER;
        }
    }
}
