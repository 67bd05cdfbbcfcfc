// Overlay passes of the live window, drawn over the mosaic in the surface texture.
//
// rect_*: instanced rectangles (the 5x7 font's pixels and the panel behind them).
//   @group(0) @binding(0) screen: the target's size in pixels.
//   instance @location(0): x, y, w, h in pixels; @location(1): colour (linear if the target is sRGB).
//
// blit_*: the original camera frame, letterboxed into a rectangle, opaque or blended.
//   @group(0) @binding(0) blit: target rectangle in pixels, target size, alpha, and whether to
//                               decode sRGB (the frame texture is Rgba8Unorm holding sRGB bytes;
//                               an sRGB target encodes again on write).
//   @group(0) @binding(1) frame_tex: the tiler's frame texture.
//   @group(0) @binding(2) frame_smp: linear sampler.

struct Screen {
    size: vec2<f32>,
    _pad: vec2<f32>,
};

@group(0) @binding(0) var<uniform> screen: Screen;

struct RectOut {
    @builtin(position) pos: vec4<f32>,
    @location(0) color: vec4<f32>,
};

fn to_ndc(p: vec2<f32>, size: vec2<f32>) -> vec4<f32> {
    return vec4<f32>(p.x / size.x * 2.0 - 1.0, 1.0 - p.y / size.y * 2.0, 0.0, 1.0);
}

@vertex
fn rect_vs(@builtin(vertex_index) vi: u32, @location(0) r: vec4<f32>, @location(1) color: vec4<f32>) -> RectOut {
    let corner = vec2<f32>(f32(vi & 1u), f32(vi >> 1u));
    var out: RectOut;
    out.pos = to_ndc(r.xy + corner * r.zw, screen.size);
    out.color = color;
    return out;
}

@fragment
fn rect_fs(in: RectOut) -> @location(0) vec4<f32> {
    return in.color;
}

struct Blit {
    rect: vec4<f32>,
    size: vec2<f32>,
    alpha: f32,
    decode: f32,
};

@group(0) @binding(0) var<uniform> blit: Blit;
@group(0) @binding(1) var frame_tex: texture_2d<f32>;
@group(0) @binding(2) var frame_smp: sampler;

struct BlitOut {
    @builtin(position) pos: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

@vertex
fn blit_vs(@builtin(vertex_index) vi: u32) -> BlitOut {
    let corner = vec2<f32>(f32(vi & 1u), f32(vi >> 1u));
    var out: BlitOut;
    out.pos = to_ndc(blit.rect.xy + corner * blit.rect.zw, blit.size);
    out.uv = corner;
    return out;
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

@fragment
fn blit_fs(in: BlitOut) -> @location(0) vec4<f32> {
    var c = textureSample(frame_tex, frame_smp, in.uv).rgb;
    if (blit.decode > 0.5) {
        c = srgb_to_linear(c);
    }
    return vec4<f32>(c, blit.alpha);
}
