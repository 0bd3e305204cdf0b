//! Cover art of the playing track: the picture embedded in the file's tags (the front cover
//! when the file says which one is, else the first), read and decoded on a short-lived thread
//! so the UI thread never opens a file; the result comes back on a channel and wakes the window.

use std::path::{Path, PathBuf};

use crossbeam_channel::{Receiver, Sender};
use eframe::egui;

/// Covers are scaled down to at most this many pixels a side before they become a texture.
const COVER_MAX_PX: u32 = 512;

/// The cover loader: at most one request in flight is looked at; older answers are dropped.
pub struct Covers {
    tx: Sender<(String, Option<egui::ColorImage>)>,
    rx: Receiver<(String, Option<egui::ColorImage>)>,
    /// The hash whose cover is shown (or being loaded).
    pub current: Option<String>,
    pub texture: Option<egui::TextureHandle>,
}

impl Default for Covers {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Covers {
            tx,
            rx,
            current: None,
            texture: None,
        }
    }
}

impl Covers {
    /// Show the cover of `object` (cached object `hash`); `None` clears it.
    pub fn want(&mut self, ctx: &egui::Context, track: Option<(&str, &Path, bool)>) {
        let hash = track.map(|(h, _, _)| h.to_string());
        if hash == self.current {
            return;
        }
        self.current = hash.clone();
        self.texture = None;
        if let (Some(hash), Some((_, object, true))) = (hash, track) {
            let (tx, ctx, object): (_, _, PathBuf) = (self.tx.clone(), ctx.clone(), object.into());
            let _ = std::thread::Builder::new()
                .name("reel-cover".into())
                .spawn(move || {
                    let img = crate::cache::read_cover(&object).and_then(|c| decode(&c.data));
                    let _ = tx.send((hash, img));
                    ctx.request_repaint();
                });
        }
    }

    /// Takes answers that arrived; makes the texture for the one still wanted.
    pub fn poll(&mut self, ctx: &egui::Context) {
        for (hash, img) in self.rx.try_iter() {
            if Some(&hash) == self.current.as_ref()
                && let Some(img) = img
            {
                self.texture =
                    Some(ctx.load_texture(format!("cover-{hash}"), img, Default::default()));
            }
        }
    }
}

fn decode(bytes: &[u8]) -> Option<egui::ColorImage> {
    let img = image::load_from_memory(bytes).ok()?;
    let img = if img.width() > COVER_MAX_PX || img.height() > COVER_MAX_PX {
        img.thumbnail(COVER_MAX_PX, COVER_MAX_PX)
    } else {
        img
    };
    let rgba = img.to_rgba8();
    let size = [rgba.width() as usize, rgba.height() as usize];
    Some(egui::ColorImage::from_rgba_unmultiplied(
        size,
        rgba.as_raw(),
    ))
}
