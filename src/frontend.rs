//! What the two front ends (`reel play --no-gui` in cli.rs, the window in ui/) share besides
//! the session layer: the exit codes and the window's options. Neither front end imports the
//! other.

use std::path::PathBuf;
use std::time::Duration;

/// Exit codes.
pub const EXIT_OK: i32 = 0;
/// At least one file could not be played (the others were).
pub const EXIT_FILE_ERROR: i32 = 1;
/// No usable audio output.
pub const EXIT_NO_DEVICE: i32 = 3;
/// Could not write an output file (decode, metrics log).
pub const EXIT_WRITE_ERROR: i32 = 4;
/// The cache cannot be used (another user's, unwritable, full): see README, "Cache".
pub const EXIT_CACHE: i32 = crate::cache::commands::EXIT_CACHE;
/// Exit code: the window could not open (no display, or the display refused).
pub const EXIT_NO_DISPLAY: i32 = 6;

/// What `reel` / `reel FILE...` / `reel play FILE...` asked of the window.
#[derive(Debug, Default)]
pub struct GuiOptions {
    /// Imported, queued (replacing the saved queue) and played at start.
    pub files: Vec<PathBuf>,
    /// `--device`, `--buffer-ms`, `--period` when given: override the saved settings.
    pub device: Option<String>,
    pub ring_ms: Option<u32>,
    pub period_frames: Option<u32>,
    pub volume: Option<f32>,
    /// Start the first file here.
    pub start: Option<Duration>,
    /// `--metrics-log FILE`: JSON Lines with the meters and `ui_frames`.
    pub metrics_log: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    /// `--library-dir`: the library the window shows.
    pub library_dir: Option<PathBuf>,
    /// `--replaygain` / `--preamp` when given: override the saved setting.
    pub gain: Option<crate::engine::GainSettings>,
    /// `--new-instance`: a window of its own, which other `reel FILE...` do not hand files to
    /// (the first window keeps that role).
    pub new_instance: bool,
}
