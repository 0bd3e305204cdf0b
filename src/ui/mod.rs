//! The desktop window (eframe/egui): library, queue and transport, and the live meters.
//!
//! ```text
//!  UI thread (eframe; app.rs and the panels)    cache worker (worker.rs)       engine threads
//!  ─────────────────────────────────────────    ────────────────────────       ──────────────
//!  drops, pickers, clicks ──Job──────────────▶  import (copy + hash), pin,     (src/engine)
//!                         ◀──Report (+repaint)  list, stats, remove, cap
//!  Command::Play/Seek/... ─────────────────────────────────────────────────▶  decoder
//!  engine.snapshot() once per frame (a few µs: two short locks, no I/O)
//!  ◀──Event (forwarded by the event thread below, which also wakes the window)
//!  file pickers (rfd) run on their own short-lived threads (dialogs.rs), and so do playlist
//!  reads and the "Save queue…" dialog and write (playlists.rs)
//!  the metrics log (metrics.rs) and the signal watcher (signals.rs) run on their own threads
//!  MPRIS (src/mpris, mpris.rs here): clients' requests wake the window; it publishes its
//!  state once per frame when it changed
//! ```
//!
//! Contract of the UI thread: it never waits on the cache (imports, pins, listing, eviction
//! all happen on the worker), never opens a file, and talks to the engine only through
//! `Engine::send` (a channel send) and `Engine::snapshot` (atomics plus two short locks). It
//! repaints 25 times a second while something moves (playing, importing) and not at
//! all otherwise: an idle window draws no frames.
//!
//! Who calls this: `main.rs` calls [`run`] for `reel`, `reel FILE...` and `reel play FILE...`
//! (without `--no-gui`); the tests build [`App`] directly inside `egui_kittest`.

pub mod app;
mod charts;
mod cover;
mod dialogs;
mod drop_overlay;
mod format;
pub mod labels;
mod library;
mod library_worker;
mod meters;
mod metrics;
mod mpris;
pub mod notices;
mod playlists;
mod queue_edit;
mod settings;
mod settings_window;
pub mod signals;
mod top_bar;
mod transport;
mod worker;

use std::sync::Arc;
use std::time::Duration;

pub use crate::frontend::{EXIT_NO_DISPLAY, GuiOptions};
pub use app::{App, AppOptions};
pub use metrics::GuiMetricsLog;
pub use settings::Settings;

use crate::cache::Cache;
use crate::engine::OutputRequest;

/// How often the window repaints while something moves (playing, importing): 25 Hz. Smooth
/// enough for the meters and the seek bar (PAL video's rate), and under software GL a
/// fifth cheaper than 30 Hz (see README, "Frame rate and CPU").
pub const REPAINT_EVERY: Duration = Duration::from_millis(40);

/// How often the window repaints while something moves but it is minimised or covered.
pub const HIDDEN_REPAINT_EVERY: Duration = Duration::from_secs(1);

/// Why the window could not open, as one line that says what to do instead.
pub fn no_display_line(why: &str) -> String {
    format!(
        "reel: cannot open the window: {why}. To play without a window, use \
         `reel play --no-gui FILE...`"
    )
}

/// Whether a display server is named in the environment at all.
pub fn display_available() -> bool {
    let set = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
    set("DISPLAY") || set("WAYLAND_DISPLAY")
}

/// Asks glibc's allocator to keep the memory of freed blocks of up to 16 MiB rather than
/// handing it back to the kernel at once. Every frame allocates and frees a few such blocks
/// (vertex and index buffers, and the software renderer's own), and by default each one is a
/// fresh mmap or a heap that grows and shrinks: the page faults and zeroing cost about 2 ms
/// of a 12 ms frame under software GL (measured with the same frames with and without
/// `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=…:trim_threshold=…`). The price is that up to
/// 32 MiB freed at the top of the heap may stay resident. Window only: the headless player
/// keeps glibc's defaults.
fn keep_frame_buffers_mapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets two allocator parameters; it is called before the window's
    // threads exist, and glibc serialises it against allocation anyway.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 16 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
    }
}

/// Opens the window and runs it until it is closed (or SIGTERM/SIGINT); returns the exit code.
pub fn run(opts: GuiOptions) -> i32 {
    if !display_available() {
        eprintln!(
            "{}",
            no_display_line("no display (neither DISPLAY nor WAYLAND_DISPLAY is set)")
        );
        return EXIT_NO_DISPLAY;
    }
    keep_frame_buffers_mapped();
    // Before any thread exists, so that every thread inherits the blocked mask and only the
    // watcher receives the signals (see signals.rs).
    let signals = signals::Watcher::install();

    let metrics_log = match &opts.metrics_log {
        Some(p) => match GuiMetricsLog::create(p) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("reel: {}: cannot write metrics log: {e}", p.display());
                return crate::frontend::EXIT_WRITE_ERROR;
            }
        },
        None => None,
    };
    let cache = match Cache::open(opts.cache_dir.as_deref()) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("reel: {e}");
            return crate::frontend::EXIT_CACHE;
        }
    };
    // Other `reel FILE...` hand their files to this window (src/instance.rs).
    let wake: Arc<std::sync::OnceLock<eframe::egui::Context>> = Arc::default();
    let wake_ctx = wake.clone();
    let instance = if opts.new_instance {
        None
    } else {
        match crate::instance::Listener::start(move || {
            if let Some(ctx) = wake_ctx.get() {
                ctx.request_repaint();
            }
        }) {
            Ok(l) => Some((l, wake)),
            Err(why) => {
                eprintln!("reel: other reel commands will open windows of their own: {why}");
                None
            }
        }
    };
    let app_opts = AppOptions {
        cache,
        instance,
        files: opts.files,
        output: OutputOverride {
            device: opts.device,
            ring_ms: opts.ring_ms,
            period_frames: opts.period_frames,
        },
        volume: opts.volume,
        start: opts.start,
        metrics_log,
        close_on_signal: Some(signals.clone()),
        library_dir: opts.library_dir,
        gain: opts.gain,
    };
    let native = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title("reel")
            .with_app_id("reel")
            .with_inner_size([1180.0, 760.0])
            .with_min_inner_size([640.0, 420.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    let result = eframe::run_native(
        "reel",
        native,
        Box::new(move |cc| Ok(Box::new(App::new(cc, app_opts)?))),
    );
    match result {
        Ok(()) => 0,
        Err(eframe::Error::AppCreation(e)) => {
            eprintln!("reel: {e}");
            crate::frontend::EXIT_NO_DEVICE
        }
        Err(e) => {
            eprintln!("{}", no_display_line(&one_line(&e.to_string())));
            EXIT_NO_DISPLAY
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Output settings given on the command line; each `Some` overrides the saved setting.
#[derive(Debug, Clone, Default)]
pub struct OutputOverride {
    pub device: Option<String>,
    pub ring_ms: Option<u32>,
    pub period_frames: Option<u32>,
}

impl OutputOverride {
    fn apply(&self, s: &Settings) -> OutputRequest {
        OutputRequest {
            device: self.device.clone().or_else(|| s.device.clone()),
            ring_ms: self.ring_ms.unwrap_or(s.ring_ms),
            period_frames: self.period_frames.unwrap_or(s.period_frames),
        }
    }
}
