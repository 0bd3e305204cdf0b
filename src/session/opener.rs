//! The session's [`TrackOpener`]: how the engine's decoder thread opens a queue entry. A
//! cached copy is opened as a file; a file being copied is read through its fill (starting
//! the copy if the prefetcher has not yet); a path the session does not know is left to the
//! engine.
//!
//! Runs on the decoder thread.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use symphonia::core::io::MediaSource;

use super::{LibrarySlot, Notice, Shared, Src};
use crate::cache::FillEnd;
use crate::engine::analysis::loudness_of;
use crate::engine::{ScanKnown, TrackOpener, WaitTag};
use crate::error::{FileError, FileErrorKind, StreamError};
use crate::library::Scanned;

pub(super) struct Opener(pub Arc<Shared>);

fn open_object(path: &Path, object: &Path) -> Result<Box<dyn MediaSource>, FileError> {
    File::open(object)
        .map(|f| Box::new(f) as Box<dyn MediaSource>)
        .map_err(|e| FileError::new(path, FileErrorKind::from_io(&e)))
}

impl TrackOpener for Opener {
    fn loudness(&self, path: &Path) -> ScanKnown {
        let mut slot = self.0.library.lock().unwrap_or_else(|p| p.into_inner());
        if let LibrarySlot::Waiting(dir) = &*slot
            && dir.join(crate::library::DB_FILE_NAME).exists()
        {
            *slot = match crate::library::Library::open_dir(dir.clone()) {
                Ok(l) => LibrarySlot::Open(l),
                Err(_) => LibrarySlot::None,
            };
        }
        let LibrarySlot::Open(lib) = &*slot else {
            return ScanKnown::Unknown;
        };
        // The library keys tracks by canonical path.
        let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        match lib.scanned(&canon) {
            Ok(Scanned::NotYet) => ScanKnown::Unscanned,
            Ok(Scanned::Done {
                integrated_lufs,
                true_peak_dbtp,
            }) => ScanKnown::Scanned(loudness_of(integrated_lufs, true_peak_dbtp)),
            // Not in it, or the library failed: play as without a library.
            Ok(Scanned::NotInLibrary) | Err(_) => ScanKnown::Unknown,
        }
    }

    fn open(&self, path: &Path, wait: WaitTag) -> Option<Result<Box<dyn MediaSource>, FileError>> {
        let shared = &self.0;
        let idx = *shared
            .by_path
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(path)?;
        let src = shared.src(idx);
        let mut src = src.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *src {
            Src::Object { object, .. } => Some(open_object(path, object)),
            Src::Stream { .. } => {
                let fill = match shared.fill_of(idx, &mut src) {
                    Ok(f) => f,
                    Err(StreamError::NotPlayable(e)) => return Some(Err(e)),
                    Err(e) => {
                        let kind = FileErrorKind::Io(e.line(path).unwrap_or_default());
                        if let StreamError::Cache(c) = &e {
                            shared.notify(Notice::CacheFailed(c.clone()));
                        }
                        return Some(Err(FileError::new(path, kind)));
                    }
                };
                drop(src);
                match fill.end() {
                    // Already in the cache: read the object, like a hit.
                    Some(FillEnd::Complete(imp)) => Some(open_object(path, &imp.object)),
                    _ => Some(
                        fill.reader(wait)
                            .map(|r| Box::new(r) as Box<dyn MediaSource>)
                            .map_err(|e| FileError::new(path, FileErrorKind::from_io(&e))),
                    ),
                }
            }
        }
    }
}
