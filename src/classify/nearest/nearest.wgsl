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
// One invocation per tile. The workgroup copies candidates' features into shared memory in
// chunks of 256, so a GPU reads each from memory once per workgroup, not once per tile (on
// lavapipe it measured neither faster nor slower than reading the storage buffer directly).
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

// Invocations per workgroup, set by the pipeline from gpu::WORKGROUP.
override WORKGROUP: u32;
const CHUNK: u32 = 256u;

var<workgroup> cache: array<vec4<f32>, 1024>;

fn byte_at(base: u32, b: u32) -> u32 {
    return (patches[base + b / 4u] >> (8u * (b % 4u))) & 0xffu;
}

fn pixel(base: u32, x: u32, y: u32) -> vec3<u32> {
    let b = (y * 10u + x) * 3u;
    return vec3<u32>(byte_at(base, b), byte_at(base, b + 1u), byte_at(base, b + 2u));
}

// Sum of the 5x5 quadrant whose top-left patch pixel is (x0, y0).
fn quadrant(base: u32, x0: u32, y0: u32) -> vec3<u32> {
    var s = vec3<u32>(0u);
    for (var y = y0; y < y0 + 5u; y++) {
        for (var x = x0; x < x0 + 5u; x++) {
            s += pixel(base, x, y);
        }
    }
    return s;
}

@compute @workgroup_size(WORKGROUP, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t = min(gid.x, params.tiles - 1u);
    let base = t * 75u;
    let s0 = quadrant(base, 0u, 0u);
    let s1 = quadrant(base, 5u, 0u);
    let s2 = quadrant(base, 0u, 5u);
    let s3 = quadrant(base, 5u, 5u);
    var bg = params.background.rgb;
    if (params.tile_background != 0u) {
        bg = vec3<f32>((s0 + s1 + s2 + s3 + vec3<u32>(50u)) / 100u);
    }
    // error = sum_q |P_q - (E_q + (1 - a_q) bg)|^2 = sum_q |(P_q - bg) - E_q + a_q bg|^2
    let d0 = vec3<f32>(s0) / 25.0 - bg;
    let d1 = vec3<f32>(s1) / 25.0 - bg;
    let d2 = vec3<f32>(s2) / 25.0 - bg;
    let d3 = vec3<f32>(s3) / 25.0 - bg;

    var best = 3.4e38;
    var best_i = 0u;
    for (var start = 0u; start < params.candidates; start += CHUNK) {
        for (var k = li; k < CHUNK * 4u; k += WORKGROUP) {
            let g = start * 4u + k;
            if (g < params.candidates * 4u) {
                cache[k] = features[g];
            }
        }
        workgroupBarrier();
        let n = min(CHUNK, params.candidates - start);
        for (var j = 0u; j < n; j++) {
            let f0 = cache[j * 4u];
            let f1 = cache[j * 4u + 1u];
            let f2 = cache[j * 4u + 2u];
            let f3 = cache[j * 4u + 3u];
            let e0 = d0 - f0.rgb + f0.a * bg;
            let e1 = d1 - f1.rgb + f1.a * bg;
            let e2 = d2 - f2.rgb + f2.a * bg;
            let e3 = d3 - f3.rgb + f3.a * bg;
            let err = dot(e0, e0) + dot(e1, e1) + dot(e2, e2) + dot(e3, e3);
            if (err < best) {
                best = err;
                best_i = start + j;
            }
        }
        workgroupBarrier();
    }
    if (gid.x < params.tiles) {
        choice[t] = candidates[best_i];
    }
}
