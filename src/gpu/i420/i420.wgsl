// RGBA -> I420 for the live recorder: the rendered mosaic (an rgba8unorm texture) becomes the
// Y, U and V planes of one storage buffer, laid out as GStreamer lays out I420 (rows padded to
// 4 bytes, planes back to back), so the encoder takes it as it is.
//
//   0 image:  texture_2d<f32>, the rendered mosaic, src_width x src_height
//   1 p:      uniform Params
//   2 planes: array<u32>, the I420 bytes (little-endian: byte k of a word in bits 8k..8k+7)
//
// One invocation per block of 8 x 2 pixels: each pixel is loaded once, and the block gives
// two Y words in each of its two rows, one U word and one V word (4 chroma samples, each the
// mean of a 2x2 block). Every row's stride is a multiple of 4 bytes, so no word straddles two
// rows; a word past the stride (a stride of 4 but not 8 bytes) is not written. Pixels beyond
// the texture (the padding of an odd size, and the stride padding) repeat its last column and
// row.

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
    let block = gid.x;
    let crow = gid.y;
    if (crow >= p.height / 2u || block * 8u >= max(p.y_stride, p.c_stride * 2u)) {
        return;
    }
    var y_words = array<u32, 4>(0u, 0u, 0u, 0u);
    var u = 0u;
    var v = 0u;
    for (var k = 0u; k < 4u; k++) {
        let x = block * 8u + k * 2u;
        let y = crow * 2u;
        let a = rgb(x, y);
        let b = rgb(x + 1u, y);
        let c = rgb(x, y + 1u);
        let d = rgb(x + 1u, y + 1u);
        // Pixels x and x + 1 are bytes 2k % 4 and 2k % 4 + 1 of word k / 2 of their rows.
        let shift = 16u * (k % 2u);
        let w = k / 2u;
        y_words[w] |= (byte(p.y_row, a) | (byte(p.y_row, b) << 8u)) << shift;
        y_words[2u + w] |= (byte(p.y_row, c) | (byte(p.y_row, d) << 8u)) << shift;
        let m = (a + b + c + d) * 0.25;
        u |= byte(p.u_row, m) << (8u * k);
        v |= byte(p.v_row, m) << (8u * k);
    }
    let top = crow * 2u * p.y_stride + block * 8u;
    for (var w = 0u; w < 2u; w++) {
        if (block * 8u + w * 4u < p.y_stride) {
            planes[(top + w * 4u) / 4u] = y_words[w];
            planes[(top + p.y_stride + w * 4u) / 4u] = y_words[2u + w];
        }
    }
    if (block * 4u < p.c_stride) {
        let at = crow * p.c_stride + block * 4u;
        planes[(p.y_len + at) / 4u] = u;
        planes[(p.y_len + p.c_len + at) / 4u] = v;
    }
}
