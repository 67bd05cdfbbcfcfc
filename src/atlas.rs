//! The emoji atlas: one image with every emoji in a 64 px cell, plus what each emoji is.
//!
//! Colours are plain sRGB bytes averaged as bytes, because that is how mosaic likeness is
//! measured; nothing here converts to linear light.

use std::collections::BTreeMap;

use image::RgbaImage;
use serde::{Deserialize, Serialize};

use crate::error::{AtlasError, Error, Result};

/// What the catalogue says about one atlas cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmojiInfo {
    pub index: u32,
    /// Code points in hex, dash separated ("1F600", "1F44D-1F3FD").
    pub unified: String,
    pub text: String,
    pub name: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub subcategory: String,
    /// Fraction of the cell's pixels that are opaque: small emoji let the background through.
    #[serde(default)]
    pub coverage: f32,
    /// Square glyphs that turn a mosaic into pixel art when overused.
    #[serde(default)]
    pub block: bool,
    #[serde(default)]
    pub skin_tone: bool,
    /// A dimmed copy of another entry (same emoji, its colours divided by this; alpha kept):
    /// 0 for the emoji as drawn. See [`DIM`].
    #[serde(default)]
    pub dim: u32,
    /// The entry a dimmed copy was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<u32>,
}

/// Dimmed copies: every emoji of the `default` set that covers at least [`DIM_COVERAGE`] of
/// its cell is also an entry drawn darker, its colours divided by each of these (its shape and
/// alpha kept), appended after the catalogue's own entries and added to every set that holds the
/// emoji. Over a dark tile (drawn over black) few emoji come near as drawn, since any ink
/// brightens it; dimmed, any emoji whose shape and hue fit does, so a dark area gets as varied a
/// texture as a bright one (models/EVAL.md, "Dimmed emoji"). `training/common.py` builds the
/// same entries for the model.
pub const DIM: [u32; 2] = [4, 8];

/// The least coverage of an emoji with dimmed copies: dimmed, a small emoji is nearly black.
pub const DIM_COVERAGE: f32 = 0.3;

#[derive(Deserialize)]
struct Catalogue {
    cell: u32,
    columns: u32,
    count: u32,
    sets: BTreeMap<String, Vec<u32>>,
    emoji: Vec<EmojiInfo>,
}

pub struct Atlas {
    pub cell: u32,
    pub columns: u32,
    pub emoji: Vec<EmojiInfo>,
    pub sets: BTreeMap<String, Vec<u32>>,
    image: RgbaImage,
}

impl std::fmt::Debug for Atlas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Atlas")
            .field("cell", &self.cell)
            .field("columns", &self.columns)
            .field("count", &self.emoji.len())
            .field("sets", &self.sets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Atlas {
    /// The atlas compiled into the binary, so a single executable works anywhere.
    pub fn embedded() -> Result<Atlas> {
        const PNG: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/atlas.png"));
        const JSON: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/emoji.json"));
        Self::from_bytes(PNG, JSON)
    }

    /// Parses an atlas PNG and its `emoji.json` catalogue.
    pub fn from_bytes(png: &[u8], json: &[u8]) -> Result<Atlas> {
        let catalogue: Catalogue = serde_json::from_slice(json).map_err(|source| AtlasError::Catalogue { source })?;
        let image = image::load_from_memory_with_format(png, image::ImageFormat::Png)
            .map_err(|source| AtlasError::Image { source })?
            .into_rgba8();
        if catalogue.count as usize != catalogue.emoji.len() {
            return Err(AtlasError::Count {
                said: catalogue.count,
                listed: catalogue.emoji.len(),
            }
            .into());
        }
        Self::from_parts(
            catalogue.cell,
            catalogue.columns,
            image,
            catalogue.emoji,
            catalogue.sets,
        )?
        .with_dimmed()
    }

    /// This atlas with the dimmed copies of [`DIM`] appended: copy `d` of the `k`-th source
    /// emoji (in index order) is entry `count + j * sources + k` (`j` the index of `d` in
    /// [`DIM`]), its colours `(v + d / 2) / d`.
    fn with_dimmed(self) -> Result<Atlas> {
        let default: &[u32] = self.sets.get("default").map_or(&[], Vec::as_slice);
        let sources: Vec<u32> = default
            .iter()
            .copied()
            .filter(|&i| self.emoji[i as usize].coverage >= DIM_COVERAGE)
            .collect();
        if sources.is_empty() {
            return Ok(self);
        }
        let count = self.count();
        let total = count + DIM.len() as u32 * sources.len() as u32;
        let (w, cell, columns) = (self.image.width(), self.cell, self.columns);
        let mut image = RgbaImage::new(w, total.div_ceil(columns) * cell);
        image::imageops::replace(&mut image, &self.image, 0, 0);
        let mut emoji = self.emoji;
        let mut copies: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for &d in &DIM {
            for &s in &sources {
                let index = emoji.len() as u32;
                let (sx, sy) = (s % columns * cell, s / columns * cell);
                let (dx, dy) = (index % columns * cell, index / columns * cell);
                for y in 0..cell {
                    for x in 0..cell {
                        let [r, g, b, a] = self.image.get_pixel(sx + x, sy + y).0;
                        let dim = |v: u8| ((v as u32 + d / 2) / d) as u8;
                        image.put_pixel(dx + x, dy + y, image::Rgba([dim(r), dim(g), dim(b), a]));
                    }
                }
                let source = &emoji[s as usize];
                let copy = EmojiInfo {
                    index,
                    name: format!("{} (dim 1/{d})", source.name),
                    dim: d,
                    copy_of: Some(s),
                    ..source.clone()
                };
                emoji.push(copy);
                copies.entry(s).or_default().push(index);
            }
        }
        let mut sets = self.sets;
        for members in sets.values_mut() {
            let mut added: Vec<u32> = members
                .iter()
                .filter_map(|i| copies.get(i))
                .flatten()
                .copied()
                .collect();
            added.sort_unstable();
            members.extend(added);
        }
        Self::from_parts(cell, columns, image, emoji, sets)
    }

    /// Builds an atlas from parts, checking that they agree with each other.
    pub fn from_parts(
        cell: u32,
        columns: u32,
        image: RgbaImage,
        emoji: Vec<EmojiInfo>,
        sets: BTreeMap<String, Vec<u32>>,
    ) -> Result<Atlas> {
        if cell == 0 || !cell.is_power_of_two() {
            return Err(AtlasError::Cell(cell).into());
        }
        if columns == 0 || emoji.is_empty() {
            return Err(AtlasError::Empty.into());
        }
        let count = emoji.len() as u32;
        let rows = count.div_ceil(columns);
        let (w, h) = image.dimensions();
        if w != columns * cell || h < rows * cell {
            return Err(AtlasError::Size {
                width: w,
                height: h,
                count,
                cell,
                columns,
                rows,
            }
            .into());
        }
        for (i, e) in emoji.iter().enumerate() {
            if e.index as usize != i {
                return Err(AtlasError::Order {
                    entry: i,
                    index: e.index,
                }
                .into());
            }
        }
        for (name, members) in &sets {
            if members.is_empty() {
                return Err(AtlasError::EmptySet(name.clone()).into());
            }
            if let Some(bad) = members.iter().find(|&&i| i >= count) {
                return Err(AtlasError::SetMember {
                    set: name.clone(),
                    member: *bad,
                    count,
                }
                .into());
            }
        }
        // Rows past the last cell are cropped so that every mip level stays cell aligned.
        let image = if h != rows * cell {
            image::imageops::crop_imm(&image, 0, 0, w, rows * cell).to_image()
        } else {
            image
        };
        Ok(Atlas {
            cell,
            columns,
            emoji,
            sets,
            image,
        })
    }

    pub fn count(&self) -> u32 {
        self.emoji.len() as u32
    }

    /// The emoji entry `index` draws: a dimmed copy's source, else itself. Repetition is
    /// measured on these ([`crate::classify::texture::Texture`]): a dimmed emoji beside the
    /// same emoji as drawn is the same emoji.
    pub fn glyph(&self, index: u32) -> u32 {
        self.emoji.get(index as usize).and_then(|e| e.copy_of).unwrap_or(index)
    }

    /// The entries before the dimmed copies (all of them in an atlas without copies): the
    /// copies, appended last, are candidates for dark tiles only
    /// ([`crate::domain::likeness::is_dark`]), where the model's member lists hold them.
    pub fn plain_count(&self) -> u32 {
        self.emoji
            .iter()
            .position(|e| e.copy_of.is_some())
            .unwrap_or(self.emoji.len()) as u32
    }

    /// [`Atlas::glyph`] of every entry of a grid.
    pub fn glyphs(&self, emoji: &[u32]) -> Vec<u32> {
        emoji.iter().map(|&e| self.glyph(e)).collect()
    }

    pub fn set_names(&self) -> Vec<&str> {
        self.sets.keys().map(String::as_str).collect()
    }

    /// As [`Atlas::allowed`], without the dimmed copies unless `dimmed`.
    pub fn allowed_dimmed(&self, set: &str, dimmed: bool) -> Result<Vec<bool>> {
        let mut mask = self.allowed(set)?;
        if !dimmed {
            mask[self.plain_count() as usize..].fill(false);
        }
        Ok(mask)
    }

    /// The set as a mask over all emoji, the form classifiers take.
    pub fn allowed(&self, set: &str) -> Result<Vec<bool>> {
        let members = self.sets.get(set).ok_or_else(|| {
            Error::Usage(format!(
                "unknown emoji set '{set}': choose one of {}",
                self.set_names().join(", ")
            ))
        })?;
        let mut mask = vec![false; self.emoji.len()];
        for &i in members {
            mask[i as usize] = true;
        }
        Ok(mask)
    }

    /// Atlas image size in pixels (width, height).
    pub fn dimensions(&self) -> (u32, u32) {
        self.image.dimensions()
    }

    /// Top-left pixel of cell `index`.
    pub fn cell_origin(&self, index: u32) -> (u32, u32) {
        (index % self.columns * self.cell, index / self.columns * self.cell)
    }

    /// The straight-alpha RGBA pixels of one cell, row-major.
    pub fn cell_rgba(&self, index: u32) -> Vec<u8> {
        let (x0, y0) = self.cell_origin(index);
        let mut out = Vec::with_capacity((self.cell * self.cell * 4) as usize);
        for y in y0..y0 + self.cell {
            for x in x0..x0 + self.cell {
                out.extend_from_slice(&self.image.get_pixel(x, y).0);
            }
        }
        out
    }

    /// Mip chain of the premultiplied atlas, from full size down to one pixel per cell.
    ///
    /// Premultiplied so that box filtering never lets the colour of transparent pixels
    /// bleed into an emoji's edge; cells are power-of-two aligned so no level mixes two cells.
    pub fn premultiplied_mips(&self) -> Vec<(u32, u32, Vec<u8>)> {
        let (w, h) = self.image.dimensions();
        let mut level: Vec<u8> = self
            .image
            .pixels()
            .flat_map(|p| {
                let [r, g, b, a] = p.0;
                [premultiply(r, a), premultiply(g, a), premultiply(b, a), a]
            })
            .collect();
        let (mut lw, mut lh) = (w, h);
        let mut mips = Vec::new();
        let mut cell = self.cell;
        loop {
            let next = (cell > 1).then(|| halve(&level, lw, lh));
            mips.push((lw, lh, level));
            match next {
                Some(n) => {
                    level = n;
                    lw /= 2;
                    lh /= 2;
                    cell /= 2;
                }
                None => break,
            }
        }
        mips
    }

    /// Per emoji, for each quadrant (TL, TR, BL, BR): mean premultiplied R, G, B (0..255)
    /// and mean alpha (0..1). The 2x2 grid is the scale at which a viewer judges likeness.
    pub fn features_2x2(&self) -> Vec<[f32; 16]> {
        (0..self.count()).map(|i| self.feature_2x2(i)).collect()
    }

    /// [`Atlas::features_2x2`] of one entry.
    pub fn feature_2x2(&self, index: u32) -> [f32; 16] {
        let half = self.cell / 2;
        let n = (half * half) as f32;
        let (x0, y0) = self.cell_origin(index);
        let mut f = [0f32; 16];
        for q in 0..4u32 {
            let (qx, qy) = (x0 + q % 2 * half, y0 + q / 2 * half);
            let mut sum = [0u64; 4];
            for y in qy..qy + half {
                for x in qx..qx + half {
                    let [r, g, b, a] = self.image.get_pixel(x, y).0;
                    let a32 = a as u64;
                    sum[0] += r as u64 * a32;
                    sum[1] += g as u64 * a32;
                    sum[2] += b as u64 * a32;
                    sum[3] += a32;
                }
            }
            let q = q as usize * 4;
            for c in 0..3 {
                f[q + c] = sum[c] as f32 / 255.0 / n;
            }
            f[q + 3] = sum[3] as f32 / 255.0 / n;
        }
        f
    }
}

fn premultiply(c: u8, a: u8) -> u8 {
    ((c as u32 * a as u32 + 127) / 255) as u8
}

/// 2x2 box filter with rounding; `w` and `h` are even because cells are powers of two.
fn halve(src: &[u8], w: u32, h: u32) -> Vec<u8> {
    let (nw, nh) = (w / 2, h / 2);
    let mut out = Vec::with_capacity((nw * nh * 4) as usize);
    let at = |x: u32, y: u32, c: usize| src[((y * w + x) * 4) as usize + c] as u32;
    for y in 0..nh {
        for x in 0..nw {
            for c in 0..4 {
                let s = at(2 * x, 2 * y, c)
                    + at(2 * x + 1, 2 * y, c)
                    + at(2 * x, 2 * y + 1, c)
                    + at(2 * x + 1, 2 * y + 1, c);
                out.push(((s + 2) / 4) as u8);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn decoding_errors_keep_their_cause() {
        let png = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/atlas.png"));
        let err = Atlas::from_bytes(png, b"{\"cell\": 64").unwrap_err();
        assert!(matches!(err, Error::Atlas(AtlasError::Catalogue { .. })), "{err}");
        let cause = err.source().and_then(|e| e.source());
        assert!(cause.is_some_and(|c| c.is::<serde_json::Error>()), "{err}");
        assert!(err
            .to_string()
            .starts_with("model assets: emoji.json is not a valid catalogue: "));

        let json = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/models/emoji.json"));
        let err = Atlas::from_bytes(b"not a png", json).unwrap_err();
        let cause = err.source().and_then(|e| e.source());
        assert!(cause.is_some_and(|c| c.is::<image::ImageError>()), "{err}");
        assert!(err
            .to_string()
            .starts_with("model assets: atlas.png cannot be decoded: "));
    }
}
