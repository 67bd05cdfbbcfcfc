// Nearest emoji: for every tile, the allowed emoji whose 2x2 quadrant colours, composited
// over the background, are closest (squared error, sRGB bytes) to the tile's quadrant means.
//
// Bindings (group 0):
//   0 params:     uniform Params (tile count, candidate count, background)
//   1 patches:    storage array<u32>, read: N patches of 300 bytes (10x10 RGB u8, row-major),
//                 4 bytes per word little-endian
//   2 features:   storage array<vec4<f32>>, read: 4 per candidate, quadrants TL, TR, BL, BR:
//                 (mean premultiplied R, G, B in 0..255, mean alpha in 0..1)
//   3 candidates: storage array<u32>, read: atlas index of each candidate
//   4 choice:     storage array<u32>, read_write: N atlas indices, the result
//
// One invocation per tile. The workgroup loads candidates' features into shared memory in
// chunks of 64, so each feature is read from memory once per workgroup, not once per tile.
// Ties go to the earliest candidate (lowest atlas index, as candidates are sorted).

struct Params {
    tiles: u32,
    candidates: u32,
    tile_background: u32,  // 1: each tile's rounded mean colour is its background
    _pad: u32,
    background: vec4<f32>, // rgb in 0..255, used when tile_background == 0
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> patches: array<u32>;
@group(0) @binding(2) var<storage, read> features: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> candidates: array<u32>;
@group(0) @binding(4) var<storage, read_write> choice: array<u32>;

const CHUNK: u32 = 64u;

var<workgroup> cache: array<vec4<f32>, 256>;

fn byte_at(base: u32, b: u32) -> u32 {
    return (patches[base + b / 4u] >> (8u * (b % 4u))) & 0xffu;
}

@compute @workgroup_size(64, 1, 1)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let t = gid.x;
    let live = t < params.tiles;

    // Quadrant sums and the tile's total, from the patch bytes.
    var quad = array<vec3<u32>, 4>(vec3<u32>(0u), vec3<u32>(0u), vec3<u32>(0u), vec3<u32>(0u));
    if (live) {
        let base = t * 75u;
        for (var y = 0u; y < 10u; y++) {
            for (var x = 0u; x < 10u; x++) {
                let b = (y * 10u + x) * 3u;
                let q = (y / 5u) * 2u + x / 5u;
                quad[q] += vec3<u32>(byte_at(base, b), byte_at(base, b + 1u), byte_at(base, b + 2u));
            }
        }
    }
    var bg = params.background.rgb;
    if (params.tile_background != 0u) {
        let total = quad[0] + quad[1] + quad[2] + quad[3];
        bg = vec3<f32>((total + vec3<u32>(50u)) / 100u);
    }
    // error = sum_q |P_q - (E_q + (1 - a_q) bg)|^2 = sum_q |(P_q - bg) - (E_q - a_q bg)|^2
    var d: array<vec3<f32>, 4>;
    for (var q = 0u; q < 4u; q++) {
        d[q] = vec3<f32>(quad[q]) / 25.0 - bg;
    }

    var best = 3.4e38;
    var best_i = 0u;
    for (var base = 0u; base < params.candidates; base += CHUNK) {
        let c = base + li;
        if (c < params.candidates) {
            for (var q = 0u; q < 4u; q++) {
                cache[li * 4u + q] = features[c * 4u + q];
            }
        }
        workgroupBarrier();
        let n = min(CHUNK, params.candidates - base);
        for (var j = 0u; j < n; j++) {
            var err = 0.0;
            for (var q = 0u; q < 4u; q++) {
                let f = cache[j * 4u + q];
                let e = d[q] - (f.rgb - f.a * bg);
                err += dot(e, e);
            }
            if (err < best) {
                best = err;
                best_i = base + j;
            }
        }
        workgroupBarrier();
    }
    if (live) {
        choice[t] = candidates[best_i];
    }
}
