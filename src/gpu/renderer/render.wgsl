// Renderer: one instanced quad per tile, each showing its emoji from the mipmapped atlas
// composited over the tile's background colour.
//
// Bindings (group 0):
//   0 atlas:   texture_2d<f32>, premultiplied-alpha RGBA8 (Rgba8Unorm, sRGB bytes), full mip
//              chain down to one pixel per cell
//   1 samp:    sampler, linear/linear/mipmap linear, clamp to edge
//   2 params:  uniform Params (grid, tile size in NDC, atlas geometry, level of detail)
// Per-instance vertex attributes (one instance per tile, row-major):
//   location 0 emoji:      u32 atlas cell index
//   location 1 background: unorm8x4 RGBA colour drawn behind the emoji
// Draw 4 vertices (triangle strip) per instance.

struct Params {
    cols: u32,
    columns: u32,     // atlas cells per row
    cell: f32,        // cell size in atlas pixels at level 0
    lod: f32,         // mip level matching the on-screen tile size
    tile_ndc: vec2<f32>,
    atlas_size: vec2<f32>,
    max_level: f32,
    _pad0: f32,
    _pad1: f32,
    _pad2: f32,
}

@group(0) @binding(0) var atlas: texture_2d<f32>;
@group(0) @binding(1) var samp: sampler;
@group(0) @binding(2) var<uniform> params: Params;

struct VsOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
    @location(1) @interpolate(flat) origin: vec2<f32>,
    @location(2) @interpolate(flat) background: vec4<f32>,
}

@vertex
fn vs_main(
    @builtin(vertex_index) vi: u32,
    @builtin(instance_index) ii: u32,
    @location(0) emoji: u32,
    @location(1) background: vec4<f32>,
) -> VsOut {
    let corner = vec2<f32>(f32(vi & 1u), f32(vi >> 1u));
    let tile = vec2<f32>(f32(ii % params.cols), f32(ii / params.cols));
    let p = (tile + corner) * params.tile_ndc;
    var out: VsOut;
    out.position = vec4<f32>(p.x - 1.0, 1.0 - p.y, 0.0, 1.0);
    out.uv = corner;
    out.origin = vec2<f32>(f32(emoji % params.columns), f32(emoji / params.columns)) * params.cell;
    out.background = background;
    return out;
}

fn shade(in: VsOut) -> vec4<f32> {
    // Keep half a texel of the coarsest level sampled away from the cell edge, so bilinear
    // filtering never reaches into the neighbouring cell.
    let coarse = min(ceil(params.lod), params.max_level);
    let inset = 0.5 * exp2(coarse) / params.cell;
    let uv = clamp(in.uv, vec2<f32>(inset), vec2<f32>(1.0 - inset));
    let texel = (in.origin + uv * params.cell) / params.atlas_size;
    let emoji = textureSampleLevel(atlas, samp, texel, params.lod);
    return vec4<f32>(emoji.rgb + (1.0 - emoji.a) * in.background.rgb, 1.0);
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    return shade(in);
}

// For *Srgb targets (window surfaces): the hardware encodes to sRGB on write, so hand it
// linear values that encode back to the same sRGB bytes the offscreen path writes.
@fragment
fn fs_srgb(in: VsOut) -> @location(0) vec4<f32> {
    let c = shade(in);
    let lo = c.rgb / 12.92;
    let hi = pow((c.rgb + 0.055) / 1.055, vec3<f32>(2.4));
    return vec4<f32>(select(hi, lo, c.rgb <= vec3<f32>(0.04045)), c.a);
}
