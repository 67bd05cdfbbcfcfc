// Compute path of the renderer, for software rasterisers (lavapipe) where the instanced-quad
// pass of render.wgsl spends most of its time in trilinear texture filtering.
//
// Two entry points:
//   prescale: once per on-screen tile size, area-averages every atlas cell to C x C texels
//             (C = the tile size in output pixels, at most the cell size) into `cells`;
//   mosaic:   per output pixel, one (or, when tiles are not a whole number of pixels, four)
//             loads from the pre-scaled cell of its tile's emoji, composited over the tile's
//             background.
// Colours are premultiplied sRGB bytes throughout, as in render.wgsl, so both paths write the
// same bytes up to rounding.

// On lavapipe a storage-buffer load at a per-lane address runs lane by lane, while a texel
// fetch is one vector gather, so everything read per pixel lives in textures.

// ---- prescale ---------------------------------------------------------------------------
//   0 atlas:  texture_2d<f32>, premultiplied RGBA8 with its mip chain (render.wgsl's)
//   1 pp:     uniform PrescaleParams
//   2 cells_out: texture_storage_2d<rgba8unorm, write>: emoji e's C x C cell at
//             ((e % columns) * C, (e / columns) * C), premultiplied

struct PrescaleParams {
    size: u32,      // C
    src: u32,       // cell size at `level`: C <= src < 2C (or src = C at the top level)
    level: u32,
    columns: u32,   // atlas cells per row
    count: u32,     // atlas cells
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// Invocations per workgroup, set by the pipeline from gpu::WORKGROUP.
override WORKGROUP: u32;

@group(0) @binding(0) var atlas: texture_2d<f32>;
@group(0) @binding(1) var<uniform> pp: PrescaleParams;
@group(0) @binding(2) var cells_out: texture_storage_2d<rgba8unorm, write>;

// Overlap of source texel i ([i*C, (i+1)*C) in 1/C units) with [lo, hi).
fn overlap(i: u32, lo: u32, hi: u32) -> u32 {
    return min(hi, (i + 1u) * pp.size) - max(lo, i * pp.size);
}

// One invocation per output texel: x = texel within the cell, y = emoji.
@compute @workgroup_size(WORKGROUP, 1, 1)
fn prescale(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = pp.size;
    let t = gid.x;
    let e = gid.y;
    if (t >= c * c || e >= pp.count) {
        return;
    }
    let tx = t % c;
    let ty = t / c;
    let cell = vec2<u32>(e % pp.columns, e / pp.columns);
    let origin = cell * pp.src;
    // Output texel tx covers source texels [tx*src/C, (tx+1)*src/C): in 1/C units
    // [tx*src, (tx+1)*src), so every fractional coverage is an exact integer weight.
    let x_lo = tx * pp.src;
    let x_hi = x_lo + pp.src;
    let y_lo = ty * pp.src;
    let y_hi = y_lo + pp.src;
    var sum = vec4<f32>(0.0);
    for (var sy = y_lo / c; sy * c < y_hi; sy++) {
        let wy = f32(overlap(sy, y_lo, y_hi));
        for (var sx = x_lo / c; sx * c < x_hi; sx++) {
            let w = wy * f32(overlap(sx, x_lo, x_hi));
            sum += textureLoad(atlas, origin + vec2<u32>(sx, sy), i32(pp.level)) * w;
        }
    }
    let area = f32(pp.src * pp.src);
    textureStore(cells_out, cell * c + vec2<u32>(tx, ty), sum / area);
}

// ---- mosaic -----------------------------------------------------------------------------
//   0 cells:  texture_2d<f32>, as written by `prescale`
//   1 tiles:  texture_2d<u32> (Rg32Uint), cols x rows: per tile the atlas index (r) and the
//             background colour (g, RGBA8 packed as in the quad path's instance data)
//   2 maps:   texture_2d<u32> (R32Uint), four rows: row 0 per output column, row 1 per
//             output row: the tile column/row in bits 0..15, the cell texel it starts in
//             (0..C-1) in bits 16..23, and the fraction towards the next texel (0..255) in
//             bits 24..31 (0 whenever tiles are a whole number of pixels); row 2 per tile
//             column, row 3 per tile row: its first output pixel (then one past the last)
//   3 mp:     uniform MosaicParams
//   4 output: texture_storage_2d<rgba8unorm, write> (bgra8unorm for a window surface's format)
//   5 dirty:  storage array<u32>, read: for `mosaic_tiles`, the tiles to redraw

struct MosaicParams {
    width: u32,
    height: u32,
    size: u32,      // C
    columns: u32,   // atlas cells per row
    cols: u32,      // tile columns
    dirty: u32,     // entries in `dirty`
    exact: u32,     // 1: every pixel samples texel (x - tile start, y - tile start), no blend
    _pad0: u32,
}

@group(0) @binding(0) var cells: texture_2d<f32>;

fn cell_texel(p: vec2<u32>) -> vec4<f32> {
    return textureLoad(cells, p, 0);
}
@group(0) @binding(1) var tiles: texture_2d<u32>;
@group(0) @binding(2) var maps: texture_2d<u32>;
@group(0) @binding(3) var<uniform> mp: MosaicParams;
@group(0) @binding(4) var output: texture_storage_2d<rgba8unorm, write>;
@group(0) @binding(5) var<storage, read> dirty: array<u32>;

struct Tile {
    origin: vec2<u32>,
    bg: vec3<f32>,
}

fn load_tile(col: u32, row: u32) -> Tile {
    let tile = textureLoad(tiles, vec2<u32>(col, row), 0);
    let origin = vec2<u32>(tile.r % mp.columns, tile.r / mp.columns) * mp.size;
    return Tile(origin, unpack4x8unorm(tile.g).rgb);
}

// One output pixel, from its column's and row's map entries.
fn shade(tile: Tile, mx: u32, my: u32) -> vec4<f32> {
    let x0 = (mx >> 16u) & 0xffu;
    let fx = mx >> 24u;
    let y0 = (my >> 16u) & 0xffu;
    let fy = my >> 24u;
    var c = cell_texel(tile.origin + vec2<u32>(x0, y0));
    if ((fx | fy) != 0u) {
        // Tiles of a fractional pixel size: bilinear between the four nearest texels
        // (a fraction is only nonzero where the next texel is inside the cell).
        let x1 = x0 + select(0u, 1u, fx != 0u);
        let y1 = y0 + select(0u, 1u, fy != 0u);
        let wx = f32(fx) / 256.0;
        let top = mix(c, cell_texel(tile.origin + vec2<u32>(x1, y0)), wx);
        let bottom = mix(cell_texel(tile.origin + vec2<u32>(x0, y1)), cell_texel(tile.origin + vec2<u32>(x1, y1)), wx);
        c = mix(top, bottom, f32(fy) / 256.0);
    }
    return vec4<f32>(c.rgb + (1.0 - c.a) * tile.bg, 1.0);
}

// Output rows per invocation. Software Vulkan pays a fixed cost per invocation that dwarfs
// one pixel's work, so each invocation walks a column of ROWS pixels (lanes of a workgroup
// take neighbouring columns, so every row's loads and stores stay together).
// Set by the pipeline (src/gpu/mosaic/mod.rs), as is WORKGROUP.
override ROWS: u32;

@compute @workgroup_size(WORKGROUP, 1, 1)
fn mosaic(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = gid.x;
    if (x >= mp.width) {
        return;
    }
    let mx = textureLoad(maps, vec2<u32>(x, 0u), 0).r;
    let col = mx & 0xffffu;
    let y_end = min(gid.y * ROWS + ROWS, mp.height);
    // The tile under this pixel, fetched again only when the row reaches the next tile.
    var row = 0xffffffffu;
    var tile: Tile;
    for (var y = gid.y * ROWS; y < y_end; y++) {
        let my = textureLoad(maps, vec2<u32>(y, 1u), 0).r;
        if ((my & 0xffffu) != row) {
            row = my & 0xffffu;
            tile = load_tile(col, row);
        }
        textureStore(output, vec2<u32>(x, y), shade(tile, mx, my));
    }
}

// Redraws only the tiles listed in `dirty` (the rest of the output already shows them): one
// invocation per tile.
@compute @workgroup_size(WORKGROUP, 1, 1)
fn mosaic_tiles(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= mp.dirty) {
        return;
    }
    let t = dirty[gid.x];
    let col = t % mp.cols;
    let row = t / mp.cols;
    let tile = load_tile(col, row);
    let x_end = textureLoad(maps, vec2<u32>(col + 1u, 2u), 0).r;
    let y_end = textureLoad(maps, vec2<u32>(row + 1u, 3u), 0).r;
    if (mp.exact != 0u) {
        // What `shade` gives for map entries (x - x0, y - y0) with no fraction, without
        // loading them: one texel load and one store per pixel.
        let x0 = textureLoad(maps, vec2<u32>(col, 2u), 0).r;
        let y0 = textureLoad(maps, vec2<u32>(row, 3u), 0).r;
        for (var y = y0; y < y_end; y++) {
            for (var x = x0; x < x_end; x++) {
                let c = cell_texel(tile.origin + vec2<u32>(x - x0, y - y0));
                textureStore(output, vec2<u32>(x, y), vec4<f32>(c.rgb + (1.0 - c.a) * tile.bg, 1.0));
            }
        }
        return;
    }
    for (var y = textureLoad(maps, vec2<u32>(row, 3u), 0).r; y < y_end; y++) {
        let my = textureLoad(maps, vec2<u32>(y, 1u), 0).r;
        for (var x = textureLoad(maps, vec2<u32>(col, 2u), 0).r; x < x_end; x++) {
            textureStore(output, vec2<u32>(x, y), shade(tile, textureLoad(maps, vec2<u32>(x, 0u), 0).r, my));
        }
    }
}
