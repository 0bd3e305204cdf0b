//! "Add files…" and "Add folder…": the system file picker (rfd, through the desktop portal)
//! runs on its own thread, so the window keeps drawing and playing while it is open. The
//! chosen paths come back on a channel and wake the window. Without a desktop portal the
//! picker returns nothing at once, and the window says so.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender};
use eframe::egui;

/// The "Audio" filter of the file picker: what symphonia's formats usually carry. The
/// picker's "All files" filter still lets anything through; the cache's probe decides.
const AUDIO_EXTENSIONS: &[&str] = &[
    "flac", "wav", "wave", "mp3", "mp2", "ogg", "oga", "m4a", "mp4", "aac", "aif", "aiff", "caf",
    "mka", "mkv", "webm", "wv", "ape",
];
/// Playlists the picker also offers: their entries are brought in (see playlists.rs).
const PLAYLIST_EXTENSIONS: &[&str] = &["m3u", "m3u8", "pls"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    Files,
    Folder,
}

/// What a picker answered: the paths chosen (empty when cancelled or when no picker exists).
pub struct Picked {
    pub kind: Pick,
    pub paths: Vec<PathBuf>,
}

pub struct Dialogs {
    tx: Sender<Picked>,
    pub rx: Receiver<Picked>,
    open: Arc<AtomicBool>,
}

impl Default for Dialogs {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Dialogs {
            tx,
            rx,
            open: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Dialogs {
    /// A picker is open now (only one at a time).
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }

    pub fn open(&self, kind: Pick, ctx: &egui::Context) {
        if self.open.swap(true, Ordering::SeqCst) {
            return;
        }
        let (tx, ctx, open) = (self.tx.clone(), ctx.clone(), self.open.clone());
        let spawned = std::thread::Builder::new()
            .name("reel-file-picker".into())
            .spawn(move || {
                let dialog = rfd::FileDialog::new().set_title(match kind {
                    Pick::Files => "Add files to reel",
                    Pick::Folder => "Add a folder to reel",
                });
                let paths = match kind {
                    Pick::Files => dialog
                        .add_filter(
                            "Audio and playlists",
                            &[AUDIO_EXTENSIONS, PLAYLIST_EXTENSIONS].concat(),
                        )
                        .add_filter("All files", &["*"])
                        .pick_files()
                        .unwrap_or_default(),
                    Pick::Folder => dialog.pick_folder().into_iter().collect(),
                };
                open.store(false, Ordering::SeqCst);
                let _ = tx.send(Picked { kind, paths });
                ctx.request_repaint();
            });
        if spawned.is_err() {
            self.open.store(false, Ordering::SeqCst);
        }
    }
}
