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
// row. The words are named values, not a private array indexed in a loop: llvmpipe on QEMU's
// emulated CPU lost one byte of every 8 pixels that way.

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

// A 2x2 block at (x, y): its two Y bytes in each row (bits 0..15) and its chroma bytes.
struct Quad {
    y_top: u32,
    y_bottom: u32,
    u: u32,
    v: u32,
}

fn quad(x: u32, y: u32) -> Quad {
    let a = rgb(x, y);
    let b = rgb(x + 1u, y);
    let c = rgb(x, y + 1u);
    let d = rgb(x + 1u, y + 1u);
    let m = (a + b + c + d) * 0.25;
    return Quad(
        byte(p.y_row, a) | (byte(p.y_row, b) << 8u),
        byte(p.y_row, c) | (byte(p.y_row, d) << 8u),
        byte(p.u_row, m),
        byte(p.v_row, m),
    );
}

@compute @workgroup_size(WORKGROUP, 1, 1)
fn i420(@builtin(global_invocation_id) gid: vec3<u32>) {
    let block = gid.x;
    let crow = gid.y;
    let x = block * 8u;
    if (crow >= p.height / 2u || x >= max(p.y_stride, p.c_stride * 2u)) {
        return;
    }
    let y = crow * 2u;
    let q0 = quad(x, y);
    let q1 = quad(x + 2u, y);
    let q2 = quad(x + 4u, y);
    let q3 = quad(x + 6u, y);
    // Pixels x .. x + 3 are the bytes of the first word of their row, x + 4 .. x + 7 the second.
    let top = (y * p.y_stride + x) / 4u;
    let bottom = top + p.y_stride / 4u;
    if (x < p.y_stride) {
        planes[top] = q0.y_top | (q1.y_top << 16u);
        planes[bottom] = q0.y_bottom | (q1.y_bottom << 16u);
    }
    if (x + 4u < p.y_stride) {
        planes[top + 1u] = q2.y_top | (q3.y_top << 16u);
        planes[bottom + 1u] = q2.y_bottom | (q3.y_bottom << 16u);
    }
    if (x / 2u < p.c_stride) {
        let at = (crow * p.c_stride + x / 2u) / 4u;
        planes[p.y_len / 4u + at] = q0.u | (q1.u << 8u) | (q2.u << 16u) | (q3.u << 24u);
        planes[(p.y_len + p.c_len) / 4u + at] = q0.v | (q1.v << 8u) | (q2.v << 16u) | (q3.v << 24u);
    }
}
