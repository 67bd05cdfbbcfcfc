//! Reading a pass's results back to the CPU: one mappable buffer, mapped when the commands
//! that fill it have run, read, unmapped. Every readback (tiles, rendered frames, the window
//! on a software adapter, the nearest classifier's choices) goes through [`Readback`]; a whole
//! texture's, with its padded rows, through [`TextureReadback`].

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

/// A [`Readback`] for a whole `width` x `height` texture of 4-byte texels (a rendered frame,
/// the window): the copy with its rows padded as wgpu asks, and the rows handed back unpadded.
pub(crate) struct TextureReadback {
    staging: Readback,
    width: u32,
    height: u32,
    /// Bytes per row in the buffer: `width * 4` rounded up to wgpu's row alignment.
    padded_row: u32,
}

impl TextureReadback {
    pub fn new(device: &wgpu::Device, what: &'static str, (width, height): (u32, u32)) -> Self {
        let padded_row = (width * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        Self {
            staging: Readback::new(device, what, u64::from(padded_row) * u64::from(height)),
            width,
            height,
            padded_row,
        }
    }

    /// Records the copy of `texture` (this size, 4 bytes a texel) into the buffer and asks for
    /// it to be mapped once `encoder`'s commands have run (call before submitting `encoder`).
    pub fn copy_on_submit(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        texture: &wgpu::Texture,
    ) -> Result<(), GpuError> {
        self.copy_bands_on_submit(encoder, texture, &[[0, self.height]])
    }

    /// Records the copy of `bands` of `texture`'s rows (`[first, end)`, top to bottom, within
    /// its height), each to its own place in the buffer, and asks for the buffer up to the last
    /// band to be mapped once `encoder`'s commands have run. With no band nothing is copied or
    /// mapped; [`Self::read_bands`] then reads nothing.
    pub fn copy_bands_on_submit(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        texture: &wgpu::Texture,
        bands: &[[u32; 2]],
    ) -> Result<(), GpuError> {
        let mut end = 0;
        for &[y0, y1] in bands {
            let y1 = y1.min(self.height);
            if y0 >= y1 {
                continue;
            }
            encoder.copy_texture_to_buffer(
                wgpu::TexelCopyTextureInfo {
                    origin: wgpu::Origin3d { x: 0, y: y0, z: 0 },
                    ..texture.as_image_copy()
                },
                wgpu::TexelCopyBufferInfo {
                    buffer: self.staging.buffer(),
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: u64::from(self.padded_row) * u64::from(y0),
                        bytes_per_row: Some(self.padded_row),
                        rows_per_image: Some(y1 - y0),
                    },
                },
                wgpu::Extent3d {
                    width: self.width,
                    height: y1 - y0,
                    depth_or_array_layers: 1,
                },
            );
            end = end.max(y1);
        }
        if end == 0 {
            return Ok(());
        }
        self.staging
            .map_on_submit(encoder, u64::from(self.padded_row) * u64::from(end))
    }

    /// Waits for the copy of [`Self::copy_bands_on_submit`] and hands each of the `bands`'
    /// rows to `row` (its index and `width * 4` bytes), top to bottom; unmaps the buffer.
    pub fn read_bands(
        &mut self,
        ctx: &GpuContext,
        bands: &[[u32; 2]],
        mut row: impl FnMut(usize, &[u8]),
    ) -> Result<(), GpuError> {
        if !self.staging.is_pending() {
            return Ok(());
        }
        let (bytes, padded) = (self.width as usize * 4, self.padded_row as usize);
        self.staging.read(ctx, |view| {
            for &[y0, y1] in bands {
                for y in y0 as usize..(y1 as usize).min(view.len() / padded) {
                    row(y, &view[y * padded..y * padded + bytes]);
                }
            }
        })
    }

    /// Waits for the copy, hands each row's `width * 4` bytes to `row`, top to bottom, and
    /// unmaps the buffer.
    pub fn read_rows(&mut self, ctx: &GpuContext, mut row: impl FnMut(&[u8])) -> Result<(), GpuError> {
        let (bytes, padded) = (self.width as usize * 4, self.padded_row as usize);
        self.staging.read(ctx, |view| {
            for line in view.chunks_exact(padded) {
                row(&line[..bytes]);
            }
        })
    }
}
