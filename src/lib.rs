//! reel: a real-time desktop audio player that shows what its audio pipeline is doing.
//!
//! The binary is a thin shell over this library; tests and benches use it directly.
//! - [`engine`]: decoder thread → lock-free ring → cpal callback, with a supervisor.
//! - [`cli`]: the headless commands (`reel play --no-gui`, `reel decode`, `reel devices`).
//! - [`playlist`]: M3U/M3U8 and PLS in, M3U8 out; expands playlists among the files to play.
//! - [`cache`]: the per-user cache of what is played or queued (`reel cache ...`).
//! - [`library`]: the user's collection (`reel library ...`), in SQLite, apart from the cache.
//! - [`session`]: what both front ends do between the user's files and the engine: queue,
//!   cache hits, streaming through the cache, prefetch, integrity, plays.
//! - [`mpris`]: MPRIS2 on the session bus, so media keys and `playerctl` drive reel.
//! - [`ui`]: the desktop window (eframe/egui): library, queue, transport and live meters.

pub mod cache;
pub mod cli;
pub mod engine;
pub mod error;
pub mod frontend;
pub mod instance;
pub mod keys;
pub mod library;
pub mod metrics_log;
pub mod mpris;
pub mod playlist;
pub mod session;
#[cfg(feature = "gui")]
pub mod ui;
pub mod walk;
