//! Reading a pass's results back to the CPU: one mappable buffer, mapped when the commands
//! that fill it have run, read, unmapped. Every readback (tiles, rendered frames, the nearest
//! classifier's choices) goes through [`Readback`].

use std::sync::mpsc;

use super::{GpuContext, GpuError};

type MapResult = std::result::Result<(), wgpu::BufferAsyncError>;

/// A `MAP_READ | COPY_DST` buffer and the map request in flight on it, if any.
pub(crate) struct Readback {
    buffer: wgpu::Buffer,
    /// What is read back ("tile", "render"), for messages.
    what: &'static str,
    /// Bytes mapped by the request in flight, and where its result arrives.
    pending: Option<(u64, mpsc::Receiver<MapResult>)>,
}

impl Readback {
    pub fn new(device: &wgpu::Device, what: &'static str, size: u64) -> Self {
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Self {
            buffer,
            what,
            pending: None,
        }
    }

    /// The buffer to copy results into.
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// Whether a map request is in flight (queued by [`Self::map_on_submit`], not yet read).
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Asks for the first `len` bytes to be mapped once `encoder`'s commands have run (call
    /// after recording the copies into the buffer, before submitting `encoder`).
    pub fn map_on_submit(&mut self, encoder: &mut wgpu::CommandEncoder, len: u64) -> Result<(), GpuError> {
        if self.pending.is_some() {
            return Err(GpuError::Busy { what: self.what });
        }
        let (tx, rx) = mpsc::channel();
        encoder.map_buffer_on_submit(&self.buffer, wgpu::MapMode::Read, ..len, move |r| {
            let _ = tx.send(r);
        });
        self.pending = Some((len, rx));
        Ok(())
    }

    /// Waits for the GPU to finish the submitted work, hands the mapped bytes to `read`, and
    /// unmaps the buffer.
    pub fn read<R>(&mut self, ctx: &GpuContext, read: impl FnOnce(&[u8]) -> R) -> Result<R, GpuError> {
        let what = self.what;
        let (len, rx) = self.pending.take().ok_or(GpuError::NotMapped { what })?;
        ctx.poll()?;
        rx.recv()
            .map_err(|_| GpuError::Dropped { what })?
            .map_err(|source| GpuError::Map { what, source })?;
        let result = {
            let view = self
                .buffer
                .get_mapped_range(..len)
                .map_err(|source| GpuError::View { what, source })?;
            read(&view)
        };
        self.buffer.unmap();
        Ok(result)
    }
}
