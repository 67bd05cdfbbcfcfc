//! What shows through the transparent parts of each emoji.

use super::patch::{quads_backdrop, QUADS_BYTES};
use crate::error::{Error, Result};

/// What shows through the transparent parts of each emoji.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Background {
    Color([u8; 3]),
    /// Each tile's own mean colour, fading to black where the tile is dark ([`super::backdrop`]),
    /// black behind bright detail over a dark ground ([`super::quads_backdrop`]): the mosaic
    /// keeps the photo's colours where emoji are small.
    Tile,
}

impl Default for Background {
    fn default() -> Self {
        Background::Color([0, 0, 0])
    }
}

impl Background {
    /// "black", "white", "tile", "#rrggbb" or "rrggbb" (a usage error otherwise).
    pub fn parse(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "black" => return Ok(Background::Color([0, 0, 0])),
            "white" => return Ok(Background::Color([255, 255, 255])),
            "tile" => return Ok(Background::Tile),
            _ => {}
        }
        let hex = t.strip_prefix('#').unwrap_or(&t);
        if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16);
            if let (Ok(r), Ok(g), Ok(b)) = (byte(0), byte(2), byte(4)) {
                return Ok(Background::Color([r, g, b]));
            }
        }
        Err(Error::Usage(format!(
            "unknown background '{s}': use black, white, tile, or a colour like #20a0ff"
        )))
    }

    /// The colour drawn behind the emoji of a tile whose rounded quadrant means
    /// ([`super::quadrant_means`]) are `quads`: the colour itself, or with [`Background::Tile`]
    /// the tile's [`quads_backdrop`].
    pub fn behind(self, quads: &[u8; QUADS_BYTES]) -> [u8; 3] {
        match self {
            Background::Color(rgb) => rgb,
            Background::Tile => quads_backdrop(quads),
        }
    }

    /// The colour shown behind transparent pixels where one colour stands for the background
    /// (white for [`Background::Tile`], whose colour differs per tile).
    pub fn flat_color(self) -> [u8; 3] {
        match self {
            Background::Color(rgb) => rgb,
            Background::Tile => [255, 255, 255],
        }
    }
}

/// The name [`Background::parse`] reads back: "black", "white", "tile" or "#rrggbb".
impl std::fmt::Display for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Background::Color([0, 0, 0]) => f.write_str("black"),
            Background::Color([255, 255, 255]) => f.write_str("white"),
            Background::Color([r, g, b]) => write!(f, "#{r:02x}{g:02x}{b:02x}"),
            Background::Tile => f.write_str("tile"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for b in [
            Background::Color([0, 0, 0]),
            Background::Color([255, 255, 255]),
            Background::Color([0x20, 0xa0, 0xff]),
            Background::Tile,
        ] {
            assert_eq!(Background::parse(&b.to_string()).ok(), Some(b));
        }
        assert_eq!(Background::Color([0x20, 0xa0, 0xff]).to_string(), "#20a0ff");
    }

    #[test]
    fn parses_names_and_hex() {
        assert_eq!(Background::parse("White").ok(), Some(Background::Color([255; 3])));
        assert_eq!(
            Background::parse("#20a0ff").ok(),
            Some(Background::Color([0x20, 0xa0, 0xff]))
        );
        assert_eq!(Background::parse("tile").ok(), Some(Background::Tile));
        assert!(Background::parse("#12345").is_err());
    }
}
