//! The window's [`TrackOpener`]: it opens nothing itself (the engine plays the cache's objects
//! as files), but tells the decoder what the library's loudness scan knows of each track, so
//! that a scanned track without ReplayGain tags plays levelled in the window as with
//! `reel play --no-gui`. The window's queue entries are cache objects named by their content
//! hash; the library is asked by that hash, and else by the files the cache knows hold that
//! content (the library learns a track's hash only when it next lists it).
//!
//! Runs on the decoder thread (once per track opened), with a database connection of its own
//! opened on first use, so neither the UI thread nor the library worker waits for it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use symphonia::core::io::MediaSource;

use crate::cache::Cache;
use crate::engine::analysis::loudness_of;
use crate::engine::{ScanKnown, TrackOpener, WaitTag};
use crate::error::FileError;
use crate::library::{Library, Scanned};

pub struct LibraryLoudness {
    dir: Option<PathBuf>,
    cache: Arc<Cache>,
    /// `None` inside: not opened yet; `Some(None)`: could not be opened (not tried again).
    lib: Mutex<Option<Option<Library>>>,
}

impl LibraryLoudness {
    /// For the library at `dir` (`--library-dir`, else the default one).
    pub fn new(dir: Option<PathBuf>, cache: Arc<Cache>) -> LibraryLoudness {
        LibraryLoudness {
            dir,
            cache,
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
        let Some(lib) = slot.get_or_insert_with(|| Library::open(self.dir.as_deref()).ok()) else {
            return ScanKnown::Unknown;
        };
        let mut known = lib.scanned_by_hash(hash).unwrap_or(Scanned::NotInLibrary);
        if !matches!(known, Scanned::Done { .. })
            && let Some(entry) = self.cache.entry(hash)
        {
            for s in &entry.sources {
                match lib.scanned(&s.path) {
                    Ok(Scanned::NotInLibrary) | Err(_) => {}
                    Ok(k) => {
                        known = k;
                        if matches!(k, Scanned::Done { .. }) {
                            break;
                        }
                    }
                }
            }
        }
        match known {
            Scanned::Done {
                integrated_lufs,
                true_peak_dbtp,
            } => ScanKnown::Scanned(loudness_of(integrated_lufs, true_peak_dbtp)),
            Scanned::NotYet => ScanKnown::Unscanned,
            Scanned::NotInLibrary => ScanKnown::Unknown,
        }
    }
}
