//! Playlists in the window: a dropped or picked `.m3u`/`.m3u8`/`.pls` brings in the files it
//! lists, and "Save queue…" writes the queue as M3U8 (see `crate::playlist`).
//!
//! Both read or write files, so neither runs on the UI thread: each runs on its own short-lived
//! thread (the save one also holds the system's save dialog, rfd through the desktop portal)
//! and sends its outcome back on a channel, waking the window.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender};
use eframe::egui;

use super::worker::Then;
use crate::playlist::{self, SaveEntry};

/// What a playlist thread sends back.
pub enum Outcome {
    /// The inputs with their playlists expanded, and a line for each entry left out.
    Expanded {
        files: Vec<PathBuf>,
        problems: Vec<String>,
        then: Then,
    },
    /// The queue was saved here.
    Saved(PathBuf),
    /// Saving failed, in one line.
    SaveFailed(String),
}

pub struct Playlists {
    tx: Sender<Outcome>,
    pub rx: Receiver<Outcome>,
    saving: Arc<AtomicBool>,
}

impl Default for Playlists {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Playlists {
            tx,
            rx,
            saving: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Playlists {
    /// Whether any of `paths` is a playlist (the others can go to the cache worker as they are).
    pub fn any(paths: &[PathBuf]) -> bool {
        paths.iter().any(|p| playlist::is_playlist(p))
    }

    /// Expands the playlists among `paths` on a thread; the outcome comes back as
    /// [`Outcome::Expanded`], keeping the order of `paths`.
    pub fn expand(&self, paths: Vec<PathBuf>, then: Then, ctx: &egui::Context) {
        let (tx, ctx) = (self.tx.clone(), ctx.clone());
        let spawned = std::thread::Builder::new()
            .name("reel-playlist-read".into())
            .spawn(move || {
                let (files, problems) = playlist::expand(&paths);
                let _ = tx.send(Outcome::Expanded {
                    files,
                    problems,
                    then,
                });
                ctx.request_repaint();
            });
        if let Err(e) = spawned {
            let _ = self.tx.send(Outcome::SaveFailed(format!(
                "cannot read the playlist: no thread for it ({e})"
            )));
        }
    }

    /// The save dialog is open now (only one at a time).
    pub fn is_saving(&self) -> bool {
        self.saving.load(Ordering::SeqCst)
    }

    /// Asks where to save `entries` (the system's save dialog) and writes them there as M3U8.
    pub fn save(&self, entries: Vec<SaveEntry>, ctx: &egui::Context) {
        if self.saving.swap(true, Ordering::SeqCst) {
            return;
        }
        let (tx, ctx, saving) = (self.tx.clone(), ctx.clone(), self.saving.clone());
        let spawned = std::thread::Builder::new()
            .name("reel-playlist-save".into())
            .spawn(move || {
                let chosen = rfd::FileDialog::new()
                    .set_title("Save the queue as a playlist")
                    .set_file_name("queue.m3u8")
                    .add_filter("M3U8 playlist", &["m3u8"])
                    .save_file();
                if let Some(path) = chosen {
                    let _ = tx.send(match playlist::write_m3u8(&path, &entries) {
                        Ok(()) => Outcome::Saved(path),
                        Err(e) => Outcome::SaveFailed(e.to_string()),
                    });
                }
                saving.store(false, Ordering::SeqCst);
                ctx.request_repaint();
            });
        if spawned.is_err() {
            self.saving.store(false, Ordering::SeqCst);
        }
    }
}
