// Nearest emoji: for every tile, the allowed emoji whose k x k grid colours (k = DETAIL,
// 2 by default: the 2x2 quadrants), composited over the background, are closest (squared
// error, sRGB bytes) to the tile's k x k grid means.
//
// Bindings (group 0):
//   0 params:     uniform Params (tile count, candidate count, background, plain count)
//   1 patches:    storage array<u32>, read: N patches of 300 bytes (10x10 RGB u8, row-major),
//                 4 bytes per word little-endian
//   2 features:   storage array<vec4<f32>>, read: k*k per candidate, grid cells row-major
//                 (for k = 2: TL, TR, BL, BR): (mean premultiplied R, G, B in 0..255, mean alpha
//                 in 0..1)
//   3 candidates: storage array<u32>, read: atlas index of each candidate
//   4 choice:     storage array<u32>, read_write: N atlas indices, the result
//
// One invocation per tile. The workgroup copies candidates' features into shared memory in
// chunks of 1024 / (k*k) candidates (256 at k = 2), so a GPU reads each from memory once per
// workgroup, not once per tile (on lavapipe it measured neither faster nor slower than reading
// the storage buffer directly).
// Ties go to the earliest candidate (lowest atlas index, as candidates are sorted).
// The candidates after the first `plain` (the atlas's dimmed copies, last in index order) are
// searched for dark tiles only (no rounded quadrant mean channel above DARK_LEVEL), as the
// model's member lists have them (atlas::DIM).

struct Params {
    tiles: u32,
    candidates: u32,
    tile_background: u32,  // 1: each tile's backdrop (domain::quads_backdrop) is its background
    plain: u32,            // the candidates before the dimmed copies
    background: vec4<f32>, // rgb in 0..255, used when tile_background == 0
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> patches: array<u32>;
@group(0) @binding(2) var<storage, read> features: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> candidates: array<u32>;
@group(0) @binding(4) var<storage, read_write> choice: array<u32>;

// Invocations per workgroup, set by the pipeline from gpu::WORKGROUP.
override WORKGROUP: u32;
// domain::BACKDROP_BLACK and BACKDROP_FADE, set by the pipeline: where the tile background is
// black, and over how many levels above that it fades in.
override BACKDROP_BLACK: u32;
override BACKDROP_FADE: u32;
// domain::GROUND_DARK and GROUND_BRIGHT: a tile with a quadrant at most GROUND_DARK and another
// at least GROUND_BRIGHT in its brightest channel is drawn over black (domain::dark_ground).
override GROUND_DARK: u32;
override GROUND_BRIGHT: u32;
// domain::likeness::DARK_LEVEL, set by the pipeline.
override DARK_LEVEL: u32;
// k, the grid per tile the objective compares (2..4, the classifier's detail), set by the
// pipeline: loops over the k x k cells bounded by a uniform ran once at k = 4 on lavapipe (every
// error then came from one cell: tests/gpu.rs, nearest_finer_detail_equals_cpu_brute_force).
override DETAIL: u32;
const CACHE: u32 = 1024u;

var<workgroup> cache: array<vec4<f32>, 1024>;

fn byte_at(base: u32, b: u32) -> u32 {
    return (patches[base + b / 4u] >> (8u * (b % 4u))) & 0xffu;
}

fn pixel(base: u32, x: u32, y: u32) -> vec3<u32> {
    let b = (y * 10u + x) * 3u;
    return vec3<u32>(byte_at(base, b), byte_at(base, b + 1u), byte_at(base, b + 2u));
}

// Overlap of patch pixel p with cell c of k equal cells of [0, 10): its weight in the cell's
// exact area mean (1 or 0 for k = 2).
fn overlap(p: u32, c: u32, k: u32) -> f32 {
    let lo = max(f32(p), f32(c) * 10.0 / f32(k));
    let hi = min(f32(p + 1u), f32(c + 1u) * 10.0 / f32(k));
    return max(hi - lo, 0.0);
}

@compute @workgroup_size(WORKGROUP, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let t = min(gid.x, params.tiles - 1u);
    let base = t * 75u;
    let k = DETAIL;
    let cells = k * k;
    // the tile's k x k grid sums (weighted by pixel overlap) and its quadrant sums
    var grid: array<vec3<f32>, 16>;
    for (var i = 0u; i < 16u; i++) {
        grid[i] = vec3<f32>(0.0);
    }
    var quad = array<vec3<u32>, 4>();
    for (var y = 0u; y < 10u; y++) {
        for (var x = 0u; x < 10u; x++) {
            let p = pixel(base, x, y);
            quad[(y / 5u) * 2u + x / 5u] += p;
            for (var cy = 0u; cy < k; cy++) {
                let wy = overlap(y, cy, k);
                for (var cx = 0u; cx < k; cx++) {
                    let w = wy * overlap(x, cx, k);
                    if (w > 0.0) {
                        grid[cy * k + cx] += vec3<f32>(p) * w;
                    }
                }
            }
        }
    }
    // the rounded quadrant means: their sum (for the tile background) and brightest channel
    // (dark: at most DARK_LEVEL, domain::likeness::is_dark)
    var sum = vec3<u32>(0u);
    var brightest_q = 0u;
    var dimmest_q = 255u;
    for (var q = 0u; q < 4u; q++) {
        let m = (quad[q] + vec3<u32>(12u)) / 25u;
        sum += m;
        let b = max(max(m.r, m.g), m.b);
        brightest_q = max(brightest_q, b);
        dimmest_q = min(dimmest_q, b);
    }
    let searched = select(min(params.plain, params.candidates), params.candidates, brightest_q <= DARK_LEVEL);
    var bg = params.background.rgb;
    if (params.tile_background != 0u) {
        // the tile's backdrop as the renderer draws it (domain::quads_backdrop): the rounded
        // mean of its four rounded quadrant means, faded to black where it is dark; black behind
        // bright detail over a dark ground (domain::dark_ground)
        let mean = (sum + vec3<u32>(2u)) / 4u;
        let brightest = max(max(mean.r, mean.g), mean.b);
        var scale = min(brightest, BACKDROP_BLACK + BACKDROP_FADE) - min(brightest, BACKDROP_BLACK);
        if (dimmest_q <= GROUND_DARK && brightest_q >= GROUND_BRIGHT) {
            scale = 0u;
        }
        bg = vec3<f32>((mean * scale + vec3<u32>(BACKDROP_FADE / 2u)) / BACKDROP_FADE);
    }
    // error = sum_cells |G_c - (E_c + (1 - a_c) bg)|^2 = sum_cells |(G_c - bg) - E_c + a_c bg|^2
    let area = 100.0 / f32(cells);
    for (var i = 0u; i < cells; i++) {
        grid[i] = grid[i] / area - bg;
    }

    let chunk = CACHE / cells;
    var best = 3.4e38;
    var best_i = 0u;
    for (var start = 0u; start < params.candidates; start += chunk) {
        for (var i = li; i < chunk * cells; i += WORKGROUP) {
            let g = start * cells + i;
            if (g < params.candidates * cells) {
                cache[i] = features[g];
            }
        }
        workgroupBarrier();
        let n = min(chunk, max(searched, start) - start);
        for (var j = 0u; j < n; j++) {
            var err = 0.0;
            for (var c = 0u; c < cells; c++) {
                let f = cache[j * cells + c];
                let e = grid[c] - f.rgb + f.a * bg;
                err += dot(e, e);
            }
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
