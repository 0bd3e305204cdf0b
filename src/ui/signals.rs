//! SIGTERM and SIGINT close the window the same way its close button does: the app saves its
//! settings, stops any import (nothing half-written is left), records what was played, stops
//! the engine, and `reel` exits 0.
//!
//! How: [`Watcher::install`] blocks both signals on the calling thread before any other
//! thread exists (every thread started later inherits the mask), and one watcher thread
//! takes them with `sigwait`. So no code runs in signal context at all, and the watcher can
//! do ordinary things: ask the window to close and wake it. A second signal while closing
//! exits at once (something hangs; the cache is still consistent, as after a crash).
//!
//! Hand-written rather than a crate: `ctrlc` (already a dependency) only forwards SIGTERM
//! with a feature that would change the headless player's behaviour too, and the sigwait
//! pattern is a dozen lines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use eframe::egui;

#[derive(Default)]
struct Shared {
    ctx: OnceLock<egui::Context>,
    requested: AtomicBool,
}

/// The signal watcher's handle; clone it freely.
#[derive(Clone, Default)]
pub struct Watcher {
    shared: Arc<Shared>,
}

impl Watcher {
    /// Blocks SIGINT and SIGTERM for this thread and every thread it starts later, and starts
    /// the watcher thread. Call from `main`'s thread before any other thread is started.
    pub fn install() -> Watcher {
        let w = Watcher::default();
        // SAFETY: sigset_t is plain data initialised by sigemptyset before use; the calls only
        // change this thread's signal mask.
        let set = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            set
        };
        let shared = w.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("reel-signals".into())
            .spawn(move || {
                loop {
                    let mut sig: libc::c_int = 0;
                    // SAFETY: `set` is a valid, initialised signal set, and both signals are
                    // blocked in every thread, so sigwait is the only taker.
                    let rc = unsafe { libc::sigwait(&set, &mut sig) };
                    if rc != 0 {
                        return;
                    }
                    if shared.requested.swap(true, Ordering::SeqCst) {
                        // Second signal: the graceful close is stuck.
                        std::process::exit(128 + sig);
                    }
                    if let Some(ctx) = shared.ctx.get() {
                        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                        ctx.request_repaint();
                    }
                }
            });
        if spawned.is_err() {
            // No watcher: let the signals kill the process as they would by default.
            // SAFETY: as above; unblocks what was blocked.
            unsafe {
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            }
        }
        w
    }

    /// The window is up: a signal from now on closes it through `ctx`.
    pub fn attach(&self, ctx: &egui::Context) {
        let _ = self.shared.ctx.set(ctx.clone());
    }

    /// A signal has asked the window to close (checked every frame, for a signal that came
    /// before [`Watcher::attach`]).
    pub fn close_requested(&self) -> bool {
        self.shared.requested.load(Ordering::SeqCst)
    }
}
