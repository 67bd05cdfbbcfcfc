// RGBA -> I420 for the live recorder: the rendered mosaic (an rgba8unorm texture) becomes the
// Y, U and V planes of one storage buffer, laid out as GStreamer lays out I420 (rows padded to
// 4 bytes, planes back to back), so the encoder takes it as it is.
//
//   0 image:  texture_2d<f32>, the rendered mosaic, src_width x src_height
//   1 p:      uniform Params
//   2 planes: array<u32>, the I420 bytes (little-endian: byte k of a word in bits 8k..8k+7)
//
// One invocation per 4 output bytes of a row: rows 0..height-1 are Y rows (4 pixels each),
// rows height..height + height/2 - 1 are chroma rows, where invocation x writes word x of the
// U row and word x of the V row (4 chroma samples, each the mean of a 2x2 block). Every row's
// stride is a multiple of 4 bytes, so no word straddles two rows. Pixels beyond the texture
// (the padding of an odd size, and the stride padding) repeat its last column and row.

struct Params {
    width: u32,       // the I420 picture, even
    height: u32,
    src_width: u32,   // the texture, <= the picture
    src_height: u32,
    y_stride: u32,    // bytes
    c_stride: u32,
    y_len: u32,       // bytes of the Y plane
    c_len: u32,       // bytes of each chroma plane
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
    // Rows of the limited-range matrix for RGB in 0..1: value = dot(row.xyz, rgb) + row.w.
    y_row: vec4<f32>,
    u_row: vec4<f32>,
    v_row: vec4<f32>,
}

// Invocations per workgroup, set by the pipeline from gpu::WORKGROUP.
override WORKGROUP: u32;

@group(0) @binding(0) var image: texture_2d<f32>;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read_write> planes: array<u32>;

fn rgb(x: u32, y: u32) -> vec3<f32> {
    let at = vec2<u32>(min(x, p.src_width - 1u), min(y, p.src_height - 1u));
    return textureLoad(image, at, 0).rgb;
}

fn byte(row: vec4<f32>, c: vec3<f32>) -> u32 {
    return u32(clamp(floor(dot(row.xyz, c) + row.w + 0.5), 0.0, 255.0));
}

@compute @workgroup_size(WORKGROUP, 1, 1)
fn i420(@builtin(global_invocation_id) gid: vec3<u32>) {
    let word = gid.x;
    let row = gid.y;
    if (row < p.height) {
        if (word * 4u >= p.y_stride) {
            return;
        }
        var packed = 0u;
        for (var k = 0u; k < 4u; k++) {
            packed |= byte(p.y_row, rgb(word * 4u + k, row)) << (8u * k);
        }
        planes[(row * p.y_stride) / 4u + word] = packed;
        return;
    }
    let crow = row - p.height;
    if (crow >= p.height / 2u || word * 4u >= p.c_stride) {
        return;
    }
    var u = 0u;
    var v = 0u;
    for (var k = 0u; k < 4u; k++) {
        let x = (word * 4u + k) * 2u;
        let y = crow * 2u;
        let c = (rgb(x, y) + rgb(x + 1u, y) + rgb(x, y + 1u) + rgb(x + 1u, y + 1u)) * 0.25;
        u |= byte(p.u_row, c) << (8u * k);
        v |= byte(p.v_row, c) << (8u * k);
    }
    let at = crow * p.c_stride + word * 4u;
    planes[(p.y_len + at) / 4u] = u;
    planes[(p.y_len + p.c_len + at) / 4u] = v;
}
