//! Keys of the preview window. The mapping is a pure function so it is tested without a window.

use winit::keyboard::{Key, NamedKey};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    TileUp,
    TileDown,
    Mirror,
    /// Original picture: off, beside the mosaic, blended with it.
    Original,
    NextEmojiSet,
    NextBackground,
    Record,
    Snapshot,
    Stats,
    Help,
    Fullscreen,
    Quit,
}

/// The help text (stderr and the overlay).
pub const HELP: &str = "\
+ / -   tile size up / down
M       mirror on / off
O       original: off / beside / blended
E       next emoji set
B       background: tile / black / white
R       record start / stop
S       snapshot to PNG
I       fps / latency overlay
H       this help
F, F11  fullscreen
Q, Esc  quit";

pub fn action(key: &Key) -> Option<Action> {
    match key {
        Key::Named(NamedKey::Escape) => Some(Action::Quit),
        Key::Named(NamedKey::F11) => Some(Action::Fullscreen),
        Key::Character(s) => match s.as_str() {
            "+" | "=" => Some(Action::TileUp),
            "-" | "_" => Some(Action::TileDown),
            c => match c.to_ascii_lowercase().as_str() {
                "m" => Some(Action::Mirror),
                "o" => Some(Action::Original),
                "e" => Some(Action::NextEmojiSet),
                "b" => Some(Action::NextBackground),
                "r" => Some(Action::Record),
                "s" => Some(Action::Snapshot),
                "i" => Some(Action::Stats),
                "h" | "?" => Some(Action::Help),
                "f" => Some(Action::Fullscreen),
                "q" => Some(Action::Quit),
                _ => None,
            },
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(s: &str) -> Key {
        Key::Character(s.into())
    }

    #[test]
    fn keys_map_to_actions() {
        assert_eq!(action(&ch("+")), Some(Action::TileUp));
        assert_eq!(action(&ch("=")), Some(Action::TileUp));
        assert_eq!(action(&ch("-")), Some(Action::TileDown));
        assert_eq!(action(&ch("M")), Some(Action::Mirror));
        assert_eq!(action(&ch("q")), Some(Action::Quit));
        assert_eq!(action(&Key::Named(NamedKey::Escape)), Some(Action::Quit));
        assert_eq!(action(&Key::Named(NamedKey::F11)), Some(Action::Fullscreen));
        assert_eq!(action(&ch("x")), None);
    }
}
