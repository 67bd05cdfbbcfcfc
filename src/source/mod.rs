//! Where frames come from: image files, video files, cameras. All deliver RGBA frames
//! through the same trait so live and offline rendering share one pipeline.

use crate::error::Result;
use crate::frame::{Frame, StreamInfo};

/// A stream of frames. `next_frame` returns `Ok(None)` at the end of the stream.
pub trait Source: Send {
    fn info(&self) -> &StreamInfo;
    fn next_frame(&mut self) -> Result<Option<Frame>>;
}
