//! The library's loudness scan results: EBU R 128 figures and the waveform summary of each
//! track (engine/analysis.rs computes them), stored in the track's row, never in the file (its
//! bytes, and so its cache hash, stay as they are).
//!
//! Filled two ways: `reel library add` scans the tracks still unscanned after adding
//! ([`Library::scan_loudness`], on the caller's thread), and the first play of a track stores
//! what the decoder thread measured while playing it ([`Library::store_analysis`], called by
//! the session once playback is over). Each track's result is one transaction, written only
//! if the file is still the one measured (same size and mtime): a kill -9 leaves a track
//! scanned or not, never half, and two reels writing at once queue on SQLite's lock (busy
//! timeout, then [`Library::write`]'s retries).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{OptionalExtension, params};

use super::{Library, key, path_of};
use crate::cache::now_ms;
use crate::engine::analysis::{Analysis, FileScan, analyze_file};
use crate::error::{FileError, FileErrorKind, LibraryError};

/// What the library knows of a track's loudness, for playing it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scanned {
    /// Not in the library: nothing to look up, nothing to store.
    NotInLibrary,
    /// In the library, not scanned yet: a play to its end should store its scan.
    NotYet,
    /// Scanned: integrated loudness (LUFS) and true peak (dBTP), `None` for silence.
    Done {
        integrated_lufs: Option<f64>,
        true_peak_dbtp: Option<f64>,
    },
}

/// What [`Library::scan_loudness`] did.
#[derive(Debug, Default)]
pub struct LoudnessReport {
    /// Tracks scanned and stored.
    pub scanned: usize,
    /// Tracks whose tags declare their ReplayGain: not scanned (tags win over a scan).
    pub tagged: usize,
    /// One per track that could not be scanned (gone, damaged, unreadable).
    pub errors: Vec<LibraryError>,
    /// The database failed or the scan was interrupted: what was scanned before is kept.
    pub stopped: Option<LibraryError>,
}

impl LoudnessReport {
    /// `loudness: S scanned, T tagged (not scanned), E failed`.
    pub fn summary(&self) -> String {
        format!(
            "loudness: {} scanned, {} tagged (not scanned), {} failed",
            self.scanned,
            self.tagged,
            self.errors.len()
        )
    }
}

/// Progress of the loudness scan: tracks done of the tracks to scan.
#[derive(Debug, Clone)]
pub struct LoudnessProgress<'a> {
    pub file: &'a Path,
    pub done: usize,
    pub total: usize,
}

/// A track to scan: its canonical path, and the size and mtime its row was read at.
type ToScan = (PathBuf, u64, (i64, u32));

/// A file as it is now: its size and mtime (what a stored result is tied to).
fn stat(path: &Path) -> Option<(u64, (i64, u32))> {
    let m = fs::metadata(path).ok()?;
    Some((m.len(), (m.mtime(), m.mtime_nsec() as u32)))
}

impl Library {
    /// The tracks not scanned yet whose file was there when last looked for, in path order:
    /// (path, size, mtime).
    fn unscanned(&self) -> Result<Vec<ToScan>, LibraryError> {
        self.retry("while listing tracks to scan", |c| {
            let mut st = c.prepare_cached(
                "SELECT path, size, mtime_s, mtime_ns FROM tracks \
                 WHERE loudness_scanned_ms IS NULL AND source_missing = 0 ORDER BY path",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    path_of(r.get(0)?),
                    r.get::<_, i64>(1)? as u64,
                    (r.get(2)?, r.get::<_, i64>(3)? as u32),
                ))
            })?;
            rows.collect()
        })
    }

    /// Scans every track not scanned yet whose tags declare no ReplayGain, storing each
    /// result as it comes (see the module docs). `progress` is called before each track;
    /// `cancel` (Ctrl-C) stops between two blocks of audio, keeping what was stored.
    pub fn scan_loudness(
        &mut self,
        cancel: Option<&AtomicBool>,
        progress: &mut dyn FnMut(&LoudnessProgress<'_>),
    ) -> LoudnessReport {
        let mut report = LoudnessReport::default();
        let todo = match self.unscanned() {
            Ok(t) => t,
            Err(e) => {
                report.stopped = Some(e);
                return report;
            }
        };
        let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
        for (i, (path, size, mtime)) in todo.iter().enumerate() {
            progress(&LoudnessProgress {
                file: path,
                done: i,
                total: todo.len(),
            });
            // A file changed since it was added would be stored against the wrong row: it
            // waits for the next `library add`, which reads it again.
            if stat(path) != Some((*size, *mtime)) {
                continue;
            }
            // Another reel may have scanned it meanwhile (two `library add`s at once).
            if matches!(self.scanned(path), Ok(Scanned::Done { .. })) {
                continue;
            }
            match analyze_file(path, &|| !cancelled()) {
                Ok(None) => {
                    report.stopped = Some(LibraryError::Interrupted);
                    return report;
                }
                Ok(Some(FileScan::Tagged)) => report.tagged += 1,
                Ok(Some(FileScan::Scanned(a))) => {
                    match self.store_analysis(path, *size, *mtime, &a) {
                        Ok(_) => report.scanned += 1,
                        Err(e) => {
                            report.stopped = Some(e);
                            return report;
                        }
                    }
                }
                Err(e) => report.errors.push(LibraryError::File(e)),
            }
        }
        report
    }

    /// Stores the scan of the track at `path` (canonical), if the library has it with this
    /// size and mtime: the figures and the waveform together, in one transaction. Returns
    /// whether a track was updated.
    pub fn store_analysis(
        &mut self,
        path: &Path,
        size: u64,
        mtime: (i64, u32),
        a: &Analysis,
    ) -> Result<bool, LibraryError> {
        let now = now_ms() as i64;
        self.write("while saving a loudness scan", |tx| {
            tx.execute(
                "UPDATE tracks SET loudness_lufs = ?1, true_peak_dbtp = ?2, \
                 loudness_range_lu = ?3, waveform = ?4, loudness_scanned_ms = ?5 \
                 WHERE path = ?6 AND size = ?7 AND mtime_s = ?8 AND mtime_ns = ?9",
                params![
                    a.integrated_lufs,
                    a.true_peak_dbtp,
                    a.range_lu,
                    a.waveform,
                    now,
                    key(path),
                    size as i64,
                    mtime.0,
                    mtime.1
                ],
            )
        })
        .map(|n| n > 0)
    }

    /// [`Library::store_analysis`] for the file at `path` as it is now (canonicalised).
    pub fn store_analysis_of(&mut self, path: &Path, a: &Analysis) -> Result<bool, LibraryError> {
        let canon = fs::canonicalize(path)
            .map_err(|e| LibraryError::File(FileError::new(path, FileErrorKind::from_io(&e))))?;
        match stat(&canon) {
            Some((size, mtime)) => self.store_analysis(&canon, size, mtime, a),
            None => Ok(false),
        }
    }

    /// What the library knows of the loudness of the file at `path` (canonical) as it is
    /// now: a result stored for another size or mtime does not count.
    pub fn scanned(&self, path: &Path) -> Result<Scanned, LibraryError> {
        let Some((size, mtime)) = stat(path) else {
            return Ok(Scanned::NotInLibrary);
        };
        let row = self.retry("while reading it", |c| {
            c.query_row(
                "SELECT loudness_scanned_ms IS NOT NULL, loudness_lufs, true_peak_dbtp, size, \
                 mtime_s, mtime_ns FROM tracks WHERE path = ?1",
                [key(path)],
                |r| {
                    Ok((
                        r.get::<_, bool>(0)?,
                        r.get::<_, Option<f64>>(1)?,
                        r.get::<_, Option<f64>>(2)?,
                        r.get::<_, i64>(3)? as u64,
                        (r.get::<_, i64>(4)?, r.get::<_, i64>(5)? as u32),
                    ))
                },
            )
            .optional()
        })?;
        Ok(match row {
            None => Scanned::NotInLibrary,
            Some((true, lufs, tp, s, m)) if (s, m) == (size, mtime) => Scanned::Done {
                integrated_lufs: lufs,
                true_peak_dbtp: tp,
            },
            Some(_) => Scanned::NotYet,
        })
    }

    /// [`Library::scanned`] for content `hash` (the window plays cached copies, named by
    /// their hash): a scan is of the content, so any track with that content will do.
    pub fn scanned_by_hash(&self, hash: &str) -> Result<Scanned, LibraryError> {
        let row = self.retry("while reading it", |c| {
            c.query_row(
                "SELECT loudness_scanned_ms IS NOT NULL, loudness_lufs, true_peak_dbtp \
                 FROM tracks WHERE content_hash = ?1 \
                 ORDER BY loudness_scanned_ms IS NULL LIMIT 1",
                [hash],
                |r| {
                    Ok((
                        r.get::<_, bool>(0)?,
                        r.get::<_, Option<f64>>(1)?,
                        r.get::<_, Option<f64>>(2)?,
                    ))
                },
            )
            .optional()
        })?;
        Ok(match row {
            None => Scanned::NotInLibrary,
            Some((true, lufs, tp)) => Scanned::Done {
                integrated_lufs: lufs,
                true_peak_dbtp: tp,
            },
            Some(_) => Scanned::NotYet,
        })
    }

    /// The waveform summary stored for the track at `path` (canonical), or else for a track
    /// with content `hash` (the window plays cached copies), if scanned.
    pub fn waveform(
        &self,
        path: &Path,
        hash: Option<&str>,
    ) -> Result<Option<Vec<u8>>, LibraryError> {
        self.retry("while reading it", |c| {
            let by_path = c
                .query_row(
                    "SELECT waveform FROM tracks WHERE path = ?1",
                    [key(path)],
                    |r| r.get::<_, Option<Vec<u8>>>(0),
                )
                .optional()?
                .flatten();
            match (by_path, hash) {
                (Some(w), _) => Ok(Some(w)),
                (None, Some(h)) => c
                    .query_row(
                        "SELECT waveform FROM tracks WHERE content_hash = ?1 \
                         AND waveform IS NOT NULL LIMIT 1",
                        [h],
                        |r| r.get::<_, Option<Vec<u8>>>(0),
                    )
                    .optional()
                    .map(Option::flatten),
                (None, None) => Ok(None),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::{DB_FILE_NAME, MIGRATIONS, SCHEMA_VERSION};

    fn analysis(lufs: f64) -> Analysis {
        Analysis {
            integrated_lufs: Some(lufs),
            true_peak_dbtp: Some(-1.0),
            range_lu: Some(3.0),
            waveform: vec![0; 2048],
        }
    }

    #[test]
    fn a_library_from_before_the_scan_is_migrated_with_its_tracks_kept() {
        let dir = tempfile::tempdir().unwrap();
        let lib_dir = dir.path().join("lib");
        std::fs::create_dir(&lib_dir).unwrap();
        {
            // A version-1 database, as the reel before the scan left it, with one track.
            let c = rusqlite::Connection::open(lib_dir.join(DB_FILE_NAME)).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
            c.execute(
                "INSERT INTO tracks (path, path_text, size, mtime_s, mtime_ns, codec, container, \
                 rate, channels, added_ms, scanned_ms, search) \
                 VALUES (x'2f61', '/a', 1, 0, 0, 'flac', 'flac', 48000, 2, 0, 0, 'a')",
                [],
            )
            .unwrap();
        }
        let lib = Library::open_dir(lib_dir.clone()).unwrap();
        let v: i64 = lib
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let t = lib.list(&Default::default()).unwrap();
        assert_eq!(t.len(), 1);
        assert!(!t[0].loudness_scanned && t[0].loudness_lufs.is_none());
    }

    #[test]
    fn a_scan_is_stored_only_against_the_file_it_measured() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.wav");
        std::fs::write(
            &file,
            b"not really audio, but a file with a size and an mtime",
        )
        .unwrap();
        let file = std::fs::canonicalize(&file).unwrap();
        let mut lib = Library::open_dir(dir.path().join("lib")).unwrap();
        let (size, mtime) = stat(&file).unwrap();
        lib.write("test", |tx| {
            tx.execute(
                "INSERT INTO tracks (path, path_text, size, mtime_s, mtime_ns, codec, container, \
                 rate, channels, added_ms, scanned_ms, search) \
                 VALUES (?1, '', ?2, ?3, ?4, 'pcm', 'wav', 48000, 2, 0, 0, '')",
                params![key(&file), size as i64, mtime.0, mtime.1],
            )
        })
        .unwrap();
        assert_eq!(lib.scanned(&file).unwrap(), Scanned::NotYet);
        // Measured from another version of the file: not stored.
        assert!(
            !lib.store_analysis(&file, size + 1, mtime, &analysis(-20.0))
                .unwrap()
        );
        assert_eq!(lib.scanned(&file).unwrap(), Scanned::NotYet);
        assert!(lib.store_analysis_of(&file, &analysis(-20.0)).unwrap());
        assert_eq!(
            lib.scanned(&file).unwrap(),
            Scanned::Done {
                integrated_lufs: Some(-20.0),
                true_peak_dbtp: Some(-1.0)
            }
        );
        assert_eq!(lib.waveform(&file, None).unwrap().unwrap().len(), 2048);
        // The file changes: its scan no longer counts.
        std::fs::write(&file, b"changed, and longer than it was before the change").unwrap();
        assert_eq!(lib.scanned(&file).unwrap(), Scanned::NotYet);
    }
}
