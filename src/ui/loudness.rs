//! The window's [`TrackOpener`]: it opens nothing itself (the engine plays the cache's objects
//! as files), but tells the decoder what the library's loudness scan knows of each track, so
//! that a scanned track without ReplayGain tags plays levelled in the window as with
//! `reel play --no-gui`. The window's queue entries are cache objects named by their content
//! hash; the library is asked by that hash.
//!
//! Runs on the decoder thread (once per track opened), with a database connection of its own
//! opened on first use, so neither the UI thread nor the library worker waits for it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use symphonia::core::io::MediaSource;

use crate::engine::analysis::loudness_of;
use crate::engine::{ScanKnown, TrackOpener, WaitTag};
use crate::error::FileError;
use crate::library::{Library, Scanned};

pub struct LibraryLoudness {
    dir: Option<PathBuf>,
    /// `None` inside: not opened yet; `Some(None)`: could not be opened (not tried again).
    lib: Mutex<Option<Option<Library>>>,
}

impl LibraryLoudness {
    /// For the library at `dir` (`--library-dir`, else the default one).
    pub fn new(dir: Option<PathBuf>) -> LibraryLoudness {
        LibraryLoudness {
            dir,
            lib: Mutex::new(None),
        }
    }
}

impl TrackOpener for LibraryLoudness {
    fn open(
        &self,
        _path: &Path,
        _wait: WaitTag,
    ) -> Option<Result<Box<dyn MediaSource>, FileError>> {
        None
    }

    fn loudness(&self, path: &Path) -> ScanKnown {
        // An object is `objects/ab/<hash>.<ext>`.
        let Some(hash) = path.file_stem().and_then(|s| s.to_str()) else {
            return ScanKnown::Unknown;
        };
        let mut slot = self.lib.lock().unwrap_or_else(|p| p.into_inner());
        let lib = slot.get_or_insert_with(|| Library::open(self.dir.as_deref()).ok());
        match lib.as_ref().map(|l| l.scanned_by_hash(hash)) {
            Some(Ok(Scanned::Done {
                integrated_lufs,
                true_peak_dbtp,
            })) => ScanKnown::Scanned(loudness_of(integrated_lufs, true_peak_dbtp)),
            Some(Ok(Scanned::NotYet)) => ScanKnown::Unscanned,
            _ => ScanKnown::Unknown,
        }
    }
}
