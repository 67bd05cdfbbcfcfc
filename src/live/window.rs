//! The preview window: winit event loop + a wgpu surface on the pipeline's device. The mosaic
//! is drawn offscreen at its on-screen size (letterboxed to the source's aspect ratio, so the
//! emoji stay crisp at any window size) and copied 1:1 onto the surface with the overlay.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{ElementState, WindowEvent};
use winit::event_loop::{ActiveEventLoop, ControlFlow, EventLoop};
use winit::window::{Fullscreen, Window, WindowId};

use super::hotkeys::{self, Action, HELP};
use super::overlay::{Overlay, Rect, SLOT_MOSAIC, SLOT_ORIGINAL};
use super::session::{Original, Session};
use super::soft_present::SoftPresent;
use super::{SessionFactory, StopReason};
use crate::domain::Background;
use crate::error::{Error, Result};
use crate::gpu::renderer::{Scene, OFFSCREEN_FORMAT, TARGET_USAGE};
use crate::gpu::GpuContext;
use crate::pipeline::StageTimes;
use crate::source::reader::{FrameReader, ReadFrame, ReaderEvent};

/// Events the capture thread and the Ctrl-C handler send into the event loop.
#[derive(Debug, Clone, Copy)]
pub enum LiveEvent {
    /// A frame (or the end of the source) is waiting in the capture channel.
    Captured,
    /// Ctrl-C / SIGTERM.
    Stop,
}

pub const NO_DISPLAY: &str =
    "no display: run under a desktop session, use --no-window with --record/--output/--virtual-camera, or `emojicam render`";

/// Creates the event loop, or explains that there is no display to open a window on.
pub fn event_loop() -> Result<EventLoop<LiveEvent>> {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if !set("DISPLAY") && !set("WAYLAND_DISPLAY") {
        return Err(Error::display(NO_DISPLAY));
    }
    EventLoop::<LiveEvent>::with_user_event()
        .build()
        .map_err(|e| Error::display_caused(format!("{NO_DISPLAY} ({e})"), e))
}

/// This frame's surface texture (none on the software present), and the texture the window's
/// pixels are drawn into with its view.
type FrameTarget = (Option<wgpu::SurfaceTexture>, wgpu::Texture, wgpu::TextureView);

struct Gfx {
    window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    gpu: Arc<GpuContext>,
    overlay: Overlay,
    /// The mosaic at its on-screen size, before it is copied onto the surface; `None` until
    /// the first frame is drawn (its size is the letterboxed mosaic's).
    mosaic: Option<(wgpu::Texture, wgpu::TextureView)>,
    /// On a software adapter: the window presented through softbuffer instead of `surface`
    /// (which is then never configured).
    soft: Option<SoftPresent>,
}

pub struct WindowApp {
    factory: Option<SessionFactory>,
    capture: FrameReader,
    /// The first frame, taken before the window opened; shown as soon as it is up.
    pending: Option<ReadFrame>,
    /// `--duration`: counted from the first mosaic on screen, as without a window.
    duration: Option<std::time::Duration>,
    deadline: Option<Instant>,
    gfx: Option<Gfx>,
    pub session: Option<Session>,
    pub outcome: Option<std::result::Result<StopReason, Error>>,
    original: Original,
    show_stats: bool,
    show_help: bool,
    last_title: Instant,
    snapshot_dir: std::path::PathBuf,
    /// Set by the capture thread when it queues a wake-up, cleared here before draining.
    wake_pending: Arc<AtomicBool>,
    /// Capture time and drop count of the frame waiting to be drawn.
    shown: Option<(Instant, u64)>,
    /// `EMOJICAM_LATENCY_TRACE=1`: per frame, where its latency went (for measuring).
    trace: Option<Trace>,
}

/// Per-frame split of the window's latency, ms: capture to the redraw that takes the frame,
/// upload, tile (upload included, to the tiles read back), classify, the rest of `process`,
/// acquiring the surface, recording the draw, submitting it, and present. With
/// `EMOJICAM_LATENCY_TRACE=gpu` the submit waits for the GPU (so `submit` is the GPU's work
/// and `present` the window system's alone), which adds no work but serialises the two.
struct Trace {
    rows: Vec<[f32; 9]>,
    /// `EMOJICAM_LATENCY_TRACE=gpu`: wait for the GPU after each submit.
    wait_gpu: bool,
}

impl Trace {
    /// One frame captured `at`: its redraw began at `redraw`, its processing ended at
    /// `processed`, its surface was acquired, recorded and submitted at `drawn` (present
    /// returned now).
    fn record(&mut self, at: Instant, [redraw, processed]: [Instant; 2], drawn: [Instant; 3], times: &StageTimes) {
        let ms = |d: std::time::Duration| d.as_secs_f32() * 1e3;
        let process = processed - redraw;
        self.rows.push([
            ms(redraw.saturating_duration_since(at)),
            ms(times.upload),
            ms(times.tile),
            ms(times.classify),
            ms(process.saturating_sub(times.tile + times.classify)),
            ms(drawn[0] - processed),
            ms(drawn[1] - drawn[0]),
            ms(drawn[2] - drawn[1]),
            ms(drawn[2].elapsed()),
        ]);
    }

    fn from_env() -> Option<Self> {
        std::env::var_os("EMOJICAM_LATENCY_TRACE").map(|v| Self {
            rows: Vec::new(),
            wait_gpu: v == "gpu",
        })
    }

    fn report(&self) {
        if self.rows.len() < 3 {
            return;
        }
        let rows = &self.rows[2..];
        let median = |k: usize| {
            let mut v: Vec<f32> = rows.iter().map(|r| r[k]).collect();
            v.sort_by(f32::total_cmp);
            v[v.len() / 2]
        };
        let total: Vec<f32> = rows
            .iter()
            .map(|r| r[0] + r[2] + r[3] + r[4] + r[5] + r[6] + r[7] + r[8])
            .collect();
        let mut sorted = total.clone();
        sorted.sort_by(f32::total_cmp);
        crate::say!(
            "emojicam: trace medians ms: wait {:.1}, upload {:.1}, tile {:.1}, classify {:.1}, other {:.1}, acquire {:.1}, record {:.1}, submit {:.1}, present {:.1}; sum median {:.1}",
            median(0),
            median(1),
            median(2),
            median(3),
            median(4),
            median(5),
            median(6),
            median(7),
            median(8),
            sorted[sorted.len() / 2]
        );
        // Where the spread comes from: each column's mean over the slowest frames (those at
        // or above the 95th percentile of the sum) next to its median.
        let cut = sorted[(sorted.len() * 95 / 100).min(sorted.len() - 1)];
        let worst: Vec<&[f32; 9]> = rows
            .iter()
            .zip(&total)
            .filter(|(_, t)| **t >= cut)
            .map(|(r, _)| r)
            .collect();
        let mean = |k: usize| worst.iter().map(|r| r[k]).sum::<f32>() / worst.len().max(1) as f32;
        crate::say!(
            "emojicam: trace slowest {} frames (sum >= {:.1} ms, p99 {:.1}), mean ms: wait {:.1}, upload {:.1}, tile {:.1}, classify {:.1}, other {:.1}, acquire {:.1}, record {:.1}, submit {:.1}, present {:.1}",
            worst.len(),
            cut,
            sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)],
            mean(0),
            mean(1),
            mean(2),
            mean(3),
            mean(4),
            mean(5),
            mean(6),
            mean(7),
            mean(8)
        );
    }
}

impl WindowApp {
    pub fn new(
        factory: SessionFactory,
        capture: FrameReader,
        first: ReadFrame,
        duration: Option<std::time::Duration>,
        wake_pending: Arc<AtomicBool>,
    ) -> Self {
        Self {
            factory: Some(factory),
            capture,
            pending: Some(first),
            duration,
            deadline: None,
            gfx: None,
            session: None,
            outcome: None,
            original: Original::Off,
            show_stats: false,
            show_help: false,
            last_title: Instant::now(),
            snapshot_dir: std::path::PathBuf::from("."),
            wake_pending,
            shown: None,
            trace: Trace::from_env(),
        }
    }

    pub fn capture_mut(&mut self) -> &mut FrameReader {
        &mut self.capture
    }

    fn stop(&mut self, event_loop: &ActiveEventLoop, outcome: std::result::Result<StopReason, Error>) {
        if self.outcome.is_none() {
            self.outcome = Some(outcome);
            if let Some(t) = &self.trace {
                t.report();
            }
        }
        event_loop.exit();
    }

    fn open(&mut self, event_loop: &ActiveEventLoop) -> Result<()> {
        let Some(factory) = self.factory.take() else {
            return Ok(());
        };
        let (sw, sh) = (factory.info.width.max(1), factory.info.height.max(1));
        // Start at the source size, shrunk to fit the screen.
        let (mw, mh) = event_loop
            .primary_monitor()
            .or_else(|| event_loop.available_monitors().next())
            .map(|m| (m.size().width.max(320), m.size().height.max(240)))
            .unwrap_or((1280, 800));
        let scale = (1.0f64)
            .min(mw as f64 * 0.9 / sw as f64)
            .min(mh as f64 * 0.9 / sh as f64);
        let size = PhysicalSize::new(((sw as f64 * scale) as u32).max(1), ((sh as f64 * scale) as u32).max(1));
        let attrs = Window::default_attributes()
            .with_title(format!("emojicam — {}", factory.source_name))
            .with_inner_size(size);
        let window = Arc::new(
            event_loop
                .create_window(attrs)
                .map_err(|e| Error::display_caused(format!("cannot open a window: {e}"), e))?,
        );
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let surface = instance
            .create_surface(window.clone())
            .map_err(|source| crate::gpu::GpuError::Surface { source })?;
        // Only an adapter that can present to this surface will do.
        let gpu = Arc::new(GpuContext::with_instance(
            instance,
            factory.config.settings().adapter.clone(),
            Some(&surface),
        )?);
        let config = surface_config(&surface, &gpu, window.inner_size())?;
        let soft = SoftPresent::new(&window, &gpu, config.format);
        if soft.is_none() {
            surface.configure(&gpu.device, &config);
        }
        let overlay = Overlay::new(&gpu.device, config.format);
        let session = factory.build(gpu.clone())?;
        crate::note!(
            "emojicam: window {}x{} on {} ({:?}{}); press H for keys",
            config.width,
            config.height,
            gpu.describe(),
            config.format,
            if soft.is_some() { ", software present" } else { "" }
        );
        self.session = Some(session);
        self.gfx = Some(Gfx {
            window,
            surface,
            config,
            gpu,
            overlay,
            mosaic: None,
            soft,
        });
        Ok(())
    }

    /// Takes the newest captured frame (if any) through the pipeline and onto the screen.
    fn on_captured(&mut self, event_loop: &ActiveEventLoop) {
        self.wake_pending.store(false, Ordering::Release);
        let mut latest = self.pending.take();
        while let Some(ev) = self.capture.try_next() {
            match ev {
                ReaderEvent::Frame(c) => latest = Some(c),
                ReaderEvent::Started(_) => {}
                ReaderEvent::End => return self.stop(event_loop, Ok(StopReason::SourceEnded)),
                ReaderEvent::Failed(e) => return self.stop(event_loop, Ok(StopReason::SourceFailed(e))),
            }
        }
        let Some(mut captured) = latest else { return };
        let Some(session) = self.session.as_mut() else {
            self.pending = Some(captured);
            return;
        };
        if let Err(e) = session.process(&mut captured) {
            return self.stop(event_loop, Err(e));
        }
        self.shown = Some((captured.at, captured.dropped));
    }

    fn update_title(&mut self, force: bool) {
        if !force && self.last_title.elapsed().as_millis() < 1000 {
            return;
        }
        self.last_title = Instant::now();
        let (Some(gfx), Some(s)) = (&self.gfx, &self.session) else {
            return;
        };
        let mut title = format!("emojicam — {} — {:.1} fps", s.source_name, s.stats.fps());
        if s.recording().is_some() {
            title.push_str(" — REC");
        }
        if s.stats.carried > 0 {
            title.push_str(" — behind: changed tiles wait a frame");
        }
        if self.show_help {
            title.push_str(" — keys: + - M O E B R S I H F Q");
        }
        gfx.window.set_title(&title);
    }

    /// Draws the last classified frame into the window; when it was submitted (before the
    /// present), if it was drawn.
    fn draw(&mut self) -> Result<Option<[Instant; 3]>> {
        let (Some(gfx), Some(session)) = (self.gfx.as_mut(), self.session.as_mut()) else {
            return Ok(None);
        };
        // Nothing to draw until a frame is classified on the current grid.
        let (Some(grid), Some(mosaic)) = (session.pipeline.grid().cloned(), session.mosaic.as_ref()) else {
            return Ok(None);
        };
        // The source frame is uploaded as a texture only while it is shown.
        session.pipeline.keep_frame_view(self.original != Original::Off);
        let Some((surface_texture, target, view)) = gfx.frame_target()? else {
            return Ok(None);
        };
        let acquired = Instant::now();
        let (w, h) = (gfx.config.width, gfx.config.height);
        let (mosaic_rect, original_rect) = layout(self.original, (grid.src_width, grid.src_height), (w, h));
        let mut encoder = gfx
            .gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("window") });
        // A background changed by a hotkey shows at once, except `tile` over a mosaic classified
        // without tile colours (their count is the tile count only when it has them): that one
        // keeps its own background until the next frame brings the colours.
        let wanted = session.pipeline.settings().background;
        let has_colors = mosaic.tile_colors.len() == mosaic.emoji.len();
        let scene = if wanted == Background::Tile && !has_colors {
            Scene::of(mosaic)
        } else {
            Scene::over(mosaic, wanted)
        };
        // The mosaic is rendered offscreen at exactly its on-screen size and copied 1:1 onto
        // the surface: drawing the renderer straight into lavapipe's sRGB swapchain image hung
        // the queue (Mesa 22.3), and an offscreen target keeps what was drawn for the next
        // frame's partial redraw. In the surface's own format it is a plain texture copy;
        // otherwise (or under the original) a full-window blit.
        let (mosaic_texture, mosaic_view) = gfx.mosaic_target(&mosaic_rect);
        session
            .pipeline
            .renderer()
            .draw(&mut encoder, &mosaic_texture, &mosaic_view, &scene)?;
        let original = original_rect
            .zip(session.pipeline.frame_view())
            .map(|(rect, frame_view)| {
                let alpha = if self.original == Original::Blended { 0.5 } else { 1.0 };
                (frame_view, rect, alpha)
            });
        let text = overlay_text(self.show_stats.then(|| session.stats_text()), self.show_help);
        // What the window shows, whole: on the software present a mosaic that fills the
        // window with nothing over it is read back as it is.
        let window_pixels = match original {
            None if text.is_empty()
                && gfx.soft.as_ref().is_some_and(|s| s.direct)
                && gfx.fills(&mosaic_texture, &mosaic_rect) =>
            {
                mosaic_texture.clone()
            }
            None if gfx.can_copy(&mosaic_texture, &mosaic_rect) => {
                gfx.copy_mosaic(&mut encoder, &view, &target, &mosaic_texture, &mosaic_rect);
                gfx.draw_text(&mut encoder, &view, &text);
                target
            }
            _ => {
                gfx.draw_layers(&mut encoder, &view, (&mosaic_view, mosaic_rect), original, &text);
                target
            }
        };
        if let Some(soft) = gfx.soft.as_mut() {
            // The rows the renderer changed are the window's only where the window is the mosaic.
            let mut bands = Vec::new();
            let known = window_pixels == mosaic_texture && session.pipeline.renderer().changed_rows(&mut bands);
            soft.record_readback(&mut encoder, &window_pixels, known.then_some(bands.as_slice()))?;
        }
        let recorded = Instant::now();
        gfx.gpu.queue.submit([encoder.finish()]);
        if self.trace.as_ref().is_some_and(|t| t.wait_gpu) {
            let _ = gfx.gpu.device.poll(wgpu::PollType::wait_indefinitely());
        }
        let submitted = Instant::now();
        gfx.present(surface_texture)?;
        Ok(Some([acquired, recorded, submitted]))
    }

    fn on_action(&mut self, event_loop: &ActiveEventLoop, action: Action) {
        let Some(session) = self.session.as_mut() else { return };
        let result: Result<()> = (|| {
            match action {
                Action::Quit => {}
                Action::TileUp | Action::TileDown => {
                    let t = session.change_tile(action == Action::TileUp)?;
                    crate::note!("emojicam: tile {t} px");
                }
                Action::Mirror => {
                    session.mirror = !session.mirror;
                    // The next frame re-classifies the flipped picture; nothing to redo now.
                }
                Action::Original => self.original = self.original.next(),
                Action::NextEmojiSet => {
                    let s = session.next_emoji_set()?;
                    crate::note!("emojicam: emoji set {s}");
                }
                Action::NextBackground => {
                    let b = session.next_background()?;
                    crate::note!("emojicam: background {b}");
                }
                Action::Record => session.toggle_recording()?,
                Action::Snapshot => {
                    let p = session.snapshot(&self.snapshot_dir)?;
                    crate::safety::print_line(format_args!("{}", p.display()));
                    crate::note!("emojicam: snapshot saved to {}", p.display());
                }
                Action::Stats => self.show_stats = !self.show_stats,
                Action::Help => {
                    self.show_help = !self.show_help;
                    if self.show_help {
                        crate::note!("emojicam keys:\n{HELP}");
                    }
                }
                Action::Fullscreen => {
                    if let Some(gfx) = &self.gfx {
                        let fs = gfx
                            .window
                            .fullscreen()
                            .is_none()
                            .then_some(Fullscreen::Borderless(None));
                        gfx.window.set_fullscreen(fs);
                    }
                }
            }
            Ok(())
        })();
        if action == Action::Quit {
            return self.stop(event_loop, Ok(StopReason::User));
        }
        match result {
            // A setting the pipeline refused (e.g. a GPU limit) is reported, not fatal.
            Err(e @ Error::Usage(_)) => crate::say!("emojicam: {e}"),
            Err(e) => return self.stop(event_loop, Err(e)),
            Ok(()) => {}
        }
        // Redraw now so a still picture (an image input, a paused camera) shows the change.
        if let Some(gfx) = &self.gfx {
            gfx.window.request_redraw();
        }
        self.update_title(true);
    }
}

/// The window surface's configuration: the adapter's default for `size`, with a plain 8-bit
/// format where there is one, the present mode and frame latency from the environment.
fn surface_config(
    surface: &wgpu::Surface<'static>,
    gpu: &GpuContext,
    size: PhysicalSize<u32>,
) -> Result<wgpu::SurfaceConfiguration> {
    let mut config = surface
        .get_default_config(gpu.adapter(), size.width.max(1), size.height.max(1))
        .ok_or_else(|| Error::gpu(format!("{} cannot present to this window", gpu.describe())))?;
    // A plain (non-sRGB) format when there is one: the mosaic holds sRGB bytes already, so
    // they go to the screen as they are, with no decode-and-encode per pixel (which costs a
    // software GPU several milliseconds a frame).
    let caps = surface.get_capabilities(gpu.adapter());
    let plain = [wgpu::TextureFormat::Bgra8Unorm, wgpu::TextureFormat::Rgba8Unorm];
    if let Some(f) = caps
        .formats
        .iter()
        .find(|f| plain.contains(f))
        .or_else(|| caps.formats.iter().find(|f| f.is_srgb()))
    {
        config.format = *f;
    }
    // The mosaic is copied onto the surface where the adapter allows it.
    config.usage |= caps.usages & wgpu::TextureUsages::COPY_DST;
    config.present_mode = match std::env::var("EMOJICAM_PRESENT_MODE").as_deref() {
        Ok("fifo") => wgpu::PresentMode::Fifo,
        Ok("immediate") => wgpu::PresentMode::Immediate,
        Ok("mailbox") => wgpu::PresentMode::Mailbox,
        _ => wgpu::PresentMode::AutoNoVsync,
    };
    config.desired_maximum_frame_latency = std::env::var("EMOJICAM_FRAME_LATENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    Ok(config)
}

impl Gfx {
    /// The surface's next texture; None when there is nothing to draw into this time (the
    /// window is hidden, or the surface was out of date and has been reconfigured).
    fn acquire(&mut self) -> Result<Option<wgpu::SurfaceTexture>> {
        Ok(match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(t) | wgpu::CurrentSurfaceTexture::Suboptimal(t) => Some(t),
            wgpu::CurrentSurfaceTexture::Timeout | wgpu::CurrentSurfaceTexture::Occluded => None,
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                self.surface.configure(&self.gpu.device, &self.config);
                None
            }
            wgpu::CurrentSurfaceTexture::Validation => return Err(Error::gpu("the window surface failed validation")),
        })
    }

    /// The texture the window's pixels are drawn into this frame and its view: softbuffer's
    /// window texture on a software adapter, else the surface's next texture (also returned,
    /// for [`Self::present`]); None when there is nothing to draw into this time.
    fn frame_target(&mut self) -> Result<Option<FrameTarget>> {
        if let Some(soft) = self.soft.as_mut() {
            let (texture, view) = soft.target(&self.gpu, (self.config.width, self.config.height));
            return Ok(Some((None, texture, view)));
        }
        let Some(t) = self.acquire()? else {
            return Ok(None);
        };
        let (texture, view) = (t.texture.clone(), t.texture.create_view(&Default::default()));
        Ok(Some((Some(t), texture, view)))
    }

    /// Puts the submitted frame on screen: the surface's texture, or softbuffer's readback.
    fn present(&mut self, surface_texture: Option<wgpu::SurfaceTexture>) -> Result<()> {
        self.window.pre_present_notify();
        match (surface_texture, self.soft.as_mut()) {
            (Some(t), _) => self.gpu.queue.present(t),
            (None, Some(soft)) => soft.present(&self.gpu)?,
            (None, None) => {}
        }
        Ok(())
    }

    /// Records onto the surface `view`: the offscreen mosaic (its view and where), the
    /// original (its view, where, and its opacity) when shown, and the overlay `text`.
    fn draw_layers(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        view: &wgpu::TextureView,
        (mosaic_view, mosaic_rect): (&wgpu::TextureView, Rect),
        original: Option<(&wgpu::TextureView, Rect, f32)>,
        text: &str,
    ) {
        let (w, h) = (self.config.width, self.config.height);
        let (device, queue) = (&self.gpu.device, &self.gpu.queue);
        self.overlay.clear(encoder, view);
        self.overlay.draw_original(
            SLOT_MOSAIC,
            device,
            queue,
            encoder,
            view,
            (w, h),
            mosaic_view,
            mosaic_rect,
            1.0,
        );
        if let Some((frame_view, rect, alpha)) = original {
            let o = &mut self.overlay;
            o.draw_original(
                SLOT_ORIGINAL,
                device,
                queue,
                encoder,
                view,
                (w, h),
                frame_view,
                rect,
                alpha,
            );
        }
        self.draw_text(encoder, view, text);
    }

    /// Records the overlay `text` onto the surface `view` (twice the size on a tall window).
    fn draw_text(&mut self, encoder: &mut wgpu::CommandEncoder, view: &wgpu::TextureView, text: &str) {
        let (w, h) = (self.config.width, self.config.height);
        let scale = if h >= 600 { 2.0 } else { 1.0 };
        let (device, queue) = (&self.gpu.device, &self.gpu.queue);
        self.overlay
            .draw_text(device, queue, encoder, view, (w, h), text, scale);
    }

    /// The offscreen mosaic's format: the surface's where the mosaic can be written in it and
    /// copied onto the surface, else the renderer's own.
    fn mosaic_format(&self) -> wgpu::TextureFormat {
        let bgra = wgpu::TextureFormat::Bgra8Unorm;
        let storable = self.gpu.device.features().contains(wgpu::Features::BGRA8UNORM_STORAGE);
        if self.config.format == bgra && storable && self.config.usage.contains(wgpu::TextureUsages::COPY_DST) {
            bgra
        } else {
            OFFSCREEN_FORMAT
        }
    }

    /// Where `mosaic` lands on the surface at `rect`: its top-left corner in surface pixels, and
    /// whether it covers the whole surface.
    fn placement(&self, mosaic: &wgpu::Texture, rect: &Rect) -> ((u32, u32), bool) {
        let (x, y) = (rect.x.max(0.0) as u32, rect.y.max(0.0) as u32);
        let whole = (x, y, mosaic.width(), mosaic.height()) == (0, 0, self.config.width, self.config.height);
        ((x, y), whole)
    }

    /// Whether `mosaic` can be copied onto the surface at `rect` as it is.
    fn can_copy(&self, mosaic: &wgpu::Texture, rect: &Rect) -> bool {
        let ((x, y), _) = self.placement(mosaic, rect);
        mosaic.format() == self.config.format
            && self.config.usage.contains(wgpu::TextureUsages::COPY_DST)
            && x + mosaic.width() <= self.config.width
            && y + mosaic.height() <= self.config.height
    }

    /// Whether `mosaic` at `rect` is the whole window, in the software present's format.
    fn fills(&self, mosaic: &wgpu::Texture, rect: &Rect) -> bool {
        self.placement(mosaic, rect).1 && mosaic.format() == super::soft_present::FORMAT
    }

    /// Records the copy of `mosaic` onto the surface `texture` (its `view`) at `rect`, over
    /// black bars where it does not cover the window.
    fn copy_mosaic(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        view: &wgpu::TextureView,
        texture: &wgpu::Texture,
        mosaic: &wgpu::Texture,
        rect: &Rect,
    ) {
        let ((x, y), whole) = self.placement(mosaic, rect);
        if !whole {
            self.overlay.clear(encoder, view);
        }
        encoder.copy_texture_to_texture(
            mosaic.as_image_copy(),
            wgpu::TexelCopyTextureInfo {
                origin: wgpu::Origin3d { x, y, z: 0 },
                ..texture.as_image_copy()
            },
            mosaic.size(),
        );
    }

    /// The offscreen mosaic texture and its view at `rect`'s size (remade when the size
    /// changed).
    fn mosaic_target(&mut self, rect: &Rect) -> (wgpu::Texture, wgpu::TextureView) {
        let size = (rect.w.max(1.0) as u32, rect.h.max(1.0) as u32);
        let format = self.mosaic_format();
        let (texture, view) = match self.mosaic.take() {
            Some((t, v)) if (t.width(), t.height()) == size && t.format() == format => (t, v),
            _ => {
                let texture = crate::gpu::texture_2d(
                    &self.gpu.device,
                    "window mosaic",
                    size,
                    format,
                    TARGET_USAGE | wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_SRC,
                );
                let view = texture.create_view(&Default::default());
                (texture, view)
            }
        };
        self.mosaic = Some((texture.clone(), view.clone()));
        (texture, view)
    }
}

/// Where the mosaic and (when shown) the original go in a `w` x `h` window, letterboxed to the
/// source's aspect ratio.
fn layout(original: Original, src: (u32, u32), (w, h): (u32, u32)) -> (Rect, Option<Rect>) {
    let full = Rect::new(0.0, 0.0, w as f32, h as f32);
    match original {
        Original::Beside => {
            let half = w as f32 / 2.0;
            (
                Rect::fit(src, Rect::new(half, 0.0, half, h as f32)),
                Some(Rect::fit(src, Rect::new(0.0, 0.0, half, h as f32))),
            )
        }
        Original::Blended => {
            let r = Rect::fit(src, full);
            (r, Some(r))
        }
        Original::Off => (Rect::fit(src, full), None),
    }
}

/// The overlay's text: the stats and/or the keys.
fn overlay_text(stats: Option<String>, help: bool) -> String {
    let mut text = stats.unwrap_or_default();
    if help {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(HELP);
    }
    text
}

impl ApplicationHandler<LiveEvent> for WindowApp {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.gfx.is_some() {
            return;
        }
        if let Err(e) = self.open(event_loop) {
            return self.stop(event_loop, Err(e));
        }
        if let Some(gfx) = &self.gfx {
            gfx.window.request_redraw();
        }
    }

    fn user_event(&mut self, event_loop: &ActiveEventLoop, event: LiveEvent) {
        match event {
            // The frame is taken on the next redraw: heavy work inside user events would keep
            // the loop busy and starve redraws and the exit.
            LiveEvent::Captured => {
                if let Some(gfx) = &self.gfx {
                    gfx.window.request_redraw();
                }
            }
            LiveEvent::Stop => self.stop(event_loop, Ok(StopReason::Interrupted)),
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _id: WindowId, event: WindowEvent) {
        match event {
            WindowEvent::CloseRequested => self.stop(event_loop, Ok(StopReason::User)),
            WindowEvent::Resized(size) => {
                if let Some(gfx) = self.gfx.as_mut() {
                    gfx.config.width = size.width.max(1);
                    gfx.config.height = size.height.max(1);
                    if gfx.soft.is_none() {
                        gfx.surface.configure(&gfx.gpu.device, &gfx.config);
                    }
                    gfx.window.request_redraw();
                }
            }
            WindowEvent::RedrawRequested => {
                if self.outcome.is_some() {
                    return;
                }
                let redraw = Instant::now();
                self.on_captured(event_loop);
                if self.outcome.is_some() {
                    return;
                }
                let t0 = Instant::now();
                let submitted = match self.draw() {
                    Ok(s) => s,
                    Err(e) => return self.stop(event_loop, Err(e)),
                };
                if let (Some(trace), Some((at, _)), Some(submitted), Some(session)) =
                    (self.trace.as_mut(), self.shown, submitted, self.session.as_ref())
                {
                    trace.record(at, [redraw, t0], submitted, &session.pipeline.times());
                }
                // A new frame's draw and present count in its render time, which the frame
                // budget leaves room for on the next frame (GPU work still queued when
                // `present` returns shows in the next frame's tiling, which waits for it).
                if let (Some(_), Some(session)) = (self.shown, self.session.as_mut()) {
                    session.pipeline.add_render_time(t0.elapsed());
                }
                if let (Some((at, dropped)), Some(session)) = (self.shown.take(), self.session.as_mut()) {
                    session.stats.shown(at, dropped);
                    if session.stats.frames == 1 {
                        self.deadline = self.duration.map(|d| session.end_after(d));
                    }
                }
                self.update_title(false);
            }
            // Synthetic presses are winit's replay of keys held while the window gained focus:
            // acting on them would run a hotkey twice (once for the replay, once for the key).
            WindowEvent::KeyboardInput {
                event, is_synthetic, ..
            } if event.state == ElementState::Pressed && !event.repeat && !is_synthetic => {
                if let Some(action) = hotkeys::action(&event.logical_key) {
                    self.on_action(event_loop, action);
                }
            }
            _ => {}
        }
    }

    fn about_to_wait(&mut self, event_loop: &ActiveEventLoop) {
        match self.deadline {
            Some(d) if Instant::now() >= d => self.stop(event_loop, Ok(StopReason::Duration)),
            Some(d) => event_loop.set_control_flow(ControlFlow::WaitUntil(d)),
            None => event_loop.set_control_flow(ControlFlow::Wait),
        }
    }
}
