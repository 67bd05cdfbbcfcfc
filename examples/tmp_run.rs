use emojicam::classify::onnx::{OnnxClassifier, OnnxOptions, PatchModel};
use emojicam::classify::Classifier;
use emojicam::domain::patch::quadrant_means;
use emojicam::Background;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let img = image::open(&args[0]).unwrap().to_rgb8();
    let rounds: usize = args.get(1).map_or(30, |s| s.parse().unwrap());
    let (w, h) = (img.width() as usize / 10, img.height() as usize / 10);
    let (mut patches, mut means) = (Vec::new(), Vec::new());
    for r in 0..h {
        for c in 0..w {
            let mut p = Vec::with_capacity(300);
            for y in 0..10 {
                for x in 0..10 {
                    p.extend_from_slice(&img.get_pixel((c * 10 + x) as u32, (r * 10 + y) as u32).0);
                }
            }
            means.push(quadrant_means(&p));
            patches.extend_from_slice(&p);
        }
    }
    let atlas = emojicam::Atlas::embedded().unwrap();
    let opts = OnnxOptions::default();
    let allowed = atlas.allowed_dimmed("default", true).unwrap();
    let mut g = OnnxClassifier::for_atlas(&atlas, &opts).unwrap();
    g.set_allowed(&allowed).unwrap();
    g.set_background(Background::Tile);
    g.set_variety(1.5);
    g.set_frame(&means);
    let bytes = std::fs::read("models/before-issue-15.onnx").unwrap();
    let mut r = PatchModel::from_bytes(&bytes, &opts).unwrap().unwrap();
    r.set_allowed(&atlas.allowed("default").unwrap());
    let pos: Vec<[u32; 2]> = (0..means.len() as u32).map(|i| [i % w as u32, i / w as u32]).collect();
    let backdrops: Vec<[u8; 3]> = means.iter().map(emojicam::domain::patch::quads_backdrop).collect();
    let quads = means.as_flattened();
    let mut out = Vec::new();
    let (mut tg, mut tr) = (Vec::new(), Vec::new());
    for i in 0..rounds + 1 {
        for k in 0..2 {
            let t = Instant::now();
            if (i + k) % 2 == 0 {
                g.classify_over(quads, &pos, &backdrops, &mut out).unwrap();
            } else {
                r.classify(&patches, &mut out).unwrap();
            }
            let e = t.elapsed().as_secs_f64() * 1e3;
            if i > 0 {
                if (i + k) % 2 == 0 {
                    tg.push(e)
                } else {
                    tr.push(e)
                }
            }
        }
    }
    let p25 = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 4]
    };
    let (a, b) = (p25(&mut tg), p25(&mut tr));
    println!(
        "threads {} new p25 {a:.2} ref p25 {b:.2} ratio {:.3} (min {:.3})",
        opts.threads,
        a / b,
        tg[0] / tr[0]
    );
}
