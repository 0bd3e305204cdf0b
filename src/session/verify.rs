//! The full check of cached copies during play (moved here from `reel play` so that the
//! window runs it too). Runs on its own low-priority thread, `reel-cache-verify`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::cache::Cache;

/// The full check of cached copies during play. Before a hit plays, only its size and its
/// first and last 64 KiB are checked (README, "Cache": a full hash of a 100 MB file before
/// playing would cost about 100 ms of time to first audio). Once the first track is heard,
/// this thread re-hashes every hit in queue order, at low priority; a corrupt one is removed
/// from the cache and reported, and the player skips it (or stops it, if it is playing).
pub struct Verifier {
    /// Corrupt objects found (hashes), as they are found.
    pub corrupt_rx: crossbeam_channel::Receiver<String>,
    go: Option<crossbeam_channel::Sender<()>>,
    stop: Arc<AtomicBool>,
    flagged: Arc<Mutex<HashSet<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Verifier {
    /// Checks what comes on `todo` (the hits of the queue, in queue order, each once) once
    /// [`Verifier::go`], until `todo` is closed.
    pub fn start(cache: Arc<Cache>, todo: crossbeam_channel::Receiver<String>) -> Verifier {
        let (go_tx, go_rx) = crossbeam_channel::bounded::<()>(1);
        let (corrupt_tx, corrupt) = crossbeam_channel::unbounded::<String>();
        let stop = Arc::new(AtomicBool::new(false));
        let flagged = Arc::new(Mutex::new(HashSet::new()));
        let thread = {
            let (stop, flagged) = (stop.clone(), flagged.clone());
            std::thread::Builder::new()
                .name("reel-cache-verify".into())
                .spawn(move || {
                    if go_rx.recv().is_err() {
                        return;
                    }
                    // Behind the decoder and everything else.
                    // SAFETY: plain syscalls on this thread's own id.
                    unsafe {
                        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
                    }
                    for hash in todo {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        if cache.entry(&hash).is_some() && !cache.full_check(&hash) {
                            // Flag it before removing it, so the engine's "not found" for a
                            // track it had not opened yet is known for what it is.
                            flagged
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(hash.clone());
                            let _ = cache.discard(&hash);
                            let _ = corrupt_tx.send(hash);
                        }
                    }
                })
                .ok()
        };
        Verifier {
            corrupt_rx: corrupt,
            go: Some(go_tx),
            stop,
            flagged,
            thread,
        }
    }

    /// Audio is playing: start checking.
    pub fn go(&self) {
        if let Some(tx) = &self.go {
            let _ = tx.try_send(());
        }
    }

    pub fn is_corrupt(&self, hash: &str) -> bool {
        self.flagged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(hash)
    }

    /// Lets a started check finish (unless `interrupted`); returns the corrupt objects not
    /// yet received.
    pub fn finish(mut self, interrupted: bool) -> Vec<String> {
        if interrupted {
            self.stop.store(true, Ordering::Relaxed);
        }
        drop(self.go.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.corrupt_rx.try_iter().collect()
    }
}
