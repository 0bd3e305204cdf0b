//! Opening a queue entry through a reader someone else provides: the session layer plays a
//! file that is still being copied into the cache through the copy's reader (`cache::fill`).
//!
//! Runs on the decoder thread: [`TrackOpener::open`] is called where the decoder would
//! otherwise open the queue entry's path, and the reader it returns is read there. A reader
//! that must wait for its bytes (a slow source) says so through the [`WaitTag`], so that an
//! underrun while it waits is tagged `source` rather than `starved`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use symphonia::core::io::MediaSource;

use super::replaygain::Loudness;
use super::shared::{Activity, Link};
use crate::error::FileError;

/// Supplies readers for queue entries. Implemented by the session layer.
pub trait TrackOpener: Send + Sync {
    /// The reader for queue entry `path`, or `None` to open `path` as a file (as without an
    /// opener). `wait` is this track's handle for saying "waiting for the source".
    fn open(&self, path: &Path, wait: WaitTag) -> Option<Result<Box<dyn MediaSource>, FileError>>;

    /// What reel's own loudness scan (the library's) knows of queue entry `path`; asked once
    /// per open, on the decoder thread.
    fn loudness(&self, _path: &Path) -> ScanKnown {
        ScanKnown::Unknown
    }
}

/// What [`TrackOpener::loudness`] knows of a track.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ScanKnown {
    /// Nothing (not in the library, or no library): no scan is made while it plays.
    #[default]
    Unknown,
    /// A library track never scanned: the decoder scans it while playing it
    /// ([`crate::engine::Event::Analysed`] when it was decoded whole).
    Unscanned,
    /// Scanned: the loudness to play it at when its tags declare none.
    Scanned(Loudness),
}

/// Marks the decoder as waiting for its source's bytes, on the output link the track plays
/// into, so that an underrun that begins meanwhile is tagged `source`. Cheap to clone.
#[derive(Clone, Default)]
pub struct WaitTag {
    link: Option<Arc<Link>>,
}

impl WaitTag {
    pub(crate) fn on(link: Arc<Link>) -> WaitTag {
        WaitTag { link: Some(link) }
    }

    /// The reader is about to block for bytes that have not arrived. Returns what to restore.
    pub fn begin(&self) -> Activity {
        match &self.link {
            Some(l) => l.swap_activity(Activity::Source),
            None => Activity::Decoding,
        }
    }

    /// The bytes came (or the source ended): back to what the decoder was doing.
    pub fn end(&self, before: Activity) {
        if let Some(l) = &self.link {
            l.restore_activity(before);
        }
    }
}

/// The engine's current opener, shared by the engine handle (which sets it) and the decoder
/// thread (which asks it at each open).
#[derive(Default)]
pub(crate) struct OpenerSlot(Mutex<Option<Arc<dyn TrackOpener>>>);

impl OpenerSlot {
    pub fn set(&self, opener: Option<Arc<dyn TrackOpener>>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = opener;
    }

    pub fn get(&self) -> Option<Arc<dyn TrackOpener>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
