//! reel: a real-time desktop audio player that shows what its audio pipeline is doing.
//!
//! The binary is a thin shell over this library; tests and benches use it directly.
//! - [`engine`]: decoder thread → lock-free ring → cpal callback, with a supervisor.
//! - [`cli`]: the headless commands (`reel play --no-gui`, `reel decode`, `reel devices`).
//! - [`cache`]: the per-user file cache every played file is copied into (`reel cache ...`).
//! - [`session`]: what both front ends do between the user's files and the engine: queue,
//!   cache hits, streaming through the cache, prefetch, integrity, plays.
//! - [`ui`]: the desktop window (eframe/egui): library, queue, transport and live meters.

pub mod cache;
pub mod cli;
pub mod engine;
pub mod error;
pub mod frontend;
pub mod metrics_log;
pub mod session;
#[cfg(feature = "gui")]
pub mod ui;
