//! The live preview: camera (or --input file) -> pipeline -> window, recorder, virtual camera.

use anyhow::Result;

use crate::cli::LiveArgs;

pub fn run(_args: &LiveArgs) -> Result<()> {
    Err(
        crate::Error::Other("the live preview is not built yet: use `emojicam render` or `emojicam demo`".into())
            .into(),
    )
}
