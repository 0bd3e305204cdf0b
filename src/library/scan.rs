//! Scanning: `reel library add PATH...` and the window's "Add folder…". Runs on the caller's
//! thread (the CLI's main thread, the window's library worker).
//!
//! 1. Each path is looked at; folders are walked (sorted, depth first; symlinks to files are
//!    followed, symlinks to folders are not, so there are no loops). Paths are stored
//!    canonical, as the cache stores its sources.
//! 2. What the library already knows under those paths is read in one query per path.
//! 3. A file whose size and mtime match its row is unchanged and not read again; a file known
//!    not to be audio (same size and mtime) is counted as skipped without being read again.
//!    Any other file is probed by the cache's probe (`crate::cache::probe`: the engine's own
//!    open, plus the tags), which copies nothing.
//! 4. Rows are written in batches ([`BATCH_ROWS`] rows or [`BATCH_EVERY`], whichever comes
//!    first), one transaction each: a kill -9 loses at most the batch in progress, and the
//!    next scan finds the committed rows unchanged and goes on from there.
//! 5. Rows under a scanned folder whose file was not found are marked missing (kept: their
//!    play counts stay, and a cached copy can still play them).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::params;

use super::{Library, key, search_text, under};
use crate::cache::{Probed, now_ms, probe};
use crate::error::{FileError, FileErrorKind, LibraryError};
use crate::walk::Walked;

/// A scan commits at least every this many new or changed rows...
pub const BATCH_ROWS: usize = 500;
/// ...and at least this often, so that a slow scan's progress is saved and visible to other
/// reels as it goes.
pub const BATCH_EVERY: Duration = Duration::from_millis(500);

/// Progress of a scan: files looked at of the files found.
#[derive(Debug, Clone)]
pub struct ScanProgress<'a> {
    /// The file looked at now.
    pub file: &'a Path,
    pub files_done: usize,
    pub files_total: usize,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// What a scan did.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// New tracks.
    pub added: usize,
    /// Known tracks whose file changed (size or mtime), read again.
    pub updated: usize,
    /// Known tracks whose file is unchanged: not read.
    pub unchanged: usize,
    /// Tracks under the scanned paths whose file is gone (kept, marked missing).
    pub missing: usize,
    /// Files in folders that are not audio (not errors).
    pub skipped_not_audio: usize,
    /// One per file that could not be scanned (damaged audio, unreadable, not found).
    pub errors: Vec<LibraryError>,
    /// The database failed or the scan was interrupted: it stopped there, with everything
    /// before committed.
    pub stopped: Option<LibraryError>,
}

impl ScanReport {
    /// The one summary line: `library: A added, U updated, N unchanged, M missing, S skipped
    /// (not audio)`.
    pub fn summary(&self) -> String {
        format!(
            "library: {} added, {} updated, {} unchanged, {} missing, {} skipped (not audio)",
            self.added, self.updated, self.unchanged, self.missing, self.skipped_not_audio
        )
    }
}

/// How to scan.
#[derive(Debug, Default, Clone)]
pub struct AddOptions<'a> {
    /// Polled between files: set it (Ctrl-C) to stop after committing what was read.
    pub cancel: Option<&'a AtomicBool>,
    /// Folders not to enter (the cache, whose objects are copies of the user's files).
    pub skip_dirs: Vec<PathBuf>,
}

struct Found {
    /// As given, or found in a folder: for messages.
    shown: PathBuf,
    canon: PathBuf,
    size: u64,
    mtime: (i64, u32),
    /// Named on the command line: not being audio is an error for it, not a quiet skip.
    explicit: bool,
}

struct Known {
    id: i64,
    size: u64,
    mtime: (i64, u32),
    missing: bool,
}

/// What one batch writes.
#[derive(Default)]
struct Batch {
    tracks: Vec<(PathBuf, u64, (i64, u32), Probed)>,
    not_audio: Vec<(PathBuf, u64, (i64, u32))>,
    found_again: Vec<i64>,
}

impl Batch {
    fn len(&self) -> usize {
        self.tracks.len() + self.not_audio.len() + self.found_again.len()
    }
}

fn mtime_of(m: &fs::Metadata) -> (i64, u32) {
    (m.mtime(), m.mtime_nsec() as u32)
}

fn file_err(path: &Path, kind: FileErrorKind) -> LibraryError {
    LibraryError::File(FileError::new(path, kind))
}

/// Lists the files under `dir` (canonical) into `out` with the one folder walker
/// (src/walk.rs: sorted, depth first; symlinks to files followed, to folders not; `skip` not
/// entered), each also named under `shown`, the folder as given.
fn walk(
    dir: &Path,
    shown: &Path,
    skip: &[PathBuf],
    out: &mut Vec<Found>,
    errors: &mut Vec<LibraryError>,
) {
    let show = |p: &Path| match p.strip_prefix(dir) {
        Ok(rel) if rel.as_os_str().is_empty() => shown.to_path_buf(),
        Ok(rel) => shown.join(rel),
        Err(_) => p.to_path_buf(),
    };
    crate::walk::walk(dir, skip, &mut |w| match w {
        Walked::File { path, meta, link } => {
            // Under a canonical folder, only a link needs resolving.
            let canon = if link {
                match fs::canonicalize(&path) {
                    Ok(c) => c,
                    Err(_) => return,
                }
            } else {
                path.clone()
            };
            out.push(Found {
                shown: show(&path),
                canon,
                size: meta.len(),
                mtime: mtime_of(&meta),
                explicit: false,
            });
        }
        Walked::Unreadable(p, e) => errors.push(file_err(&show(&p), FileErrorKind::from_io(&e))),
    });
}

impl Library {
    /// Adds `paths` (files, or folders scanned recursively) to the library, or scans them
    /// again (see the module docs). `progress` is called after each file.
    pub fn add(
        &mut self,
        paths: &[PathBuf],
        opts: &AddOptions<'_>,
        progress: &mut dyn FnMut(&ScanProgress<'_>),
    ) -> ScanReport {
        let mut report = ScanReport::default();
        let skip: Vec<PathBuf> = std::iter::once(self.dir.clone())
            .chain(opts.skip_dirs.iter().cloned())
            .map(|d| fs::canonicalize(&d).unwrap_or(d))
            .collect();
        // What was found, and the paths under which a row without a file is missing.
        let mut found = Vec::new();
        let mut roots = Vec::new();
        for given in paths {
            match fs::metadata(given) {
                Ok(m) if m.is_dir() => {
                    let canon = fs::canonicalize(given).unwrap_or_else(|_| given.clone());
                    walk(&canon, given, &skip, &mut found, &mut report.errors);
                    roots.push(canon);
                }
                Ok(m) if m.is_file() => match fs::canonicalize(given) {
                    Ok(canon) => found.push(Found {
                        shown: given.clone(),
                        canon,
                        size: m.len(),
                        mtime: mtime_of(&m),
                        explicit: true,
                    }),
                    Err(e) => report
                        .errors
                        .push(file_err(given, FileErrorKind::from_io(&e))),
                },
                Ok(_) => report.errors.push(file_err(given, FileErrorKind::NotAudio)),
                Err(e) => {
                    report
                        .errors
                        .push(file_err(given, FileErrorKind::from_io(&e)));
                    // Gone: whatever the library has there is missing now.
                    roots.push(std::path::absolute(given).unwrap_or_else(|_| given.clone()));
                }
            }
        }
        if let Err(e) = self.scan(&found, &roots, opts, progress, &mut report) {
            report.stopped = Some(e);
        }
        report
    }

    /// Rows at or under `root`: (canonical path bytes → what is known).
    fn known_under(
        &self,
        root: &Path,
        table: &str,
        out: &mut HashMap<Vec<u8>, Known>,
    ) -> Result<(), LibraryError> {
        let (lo, hi) = under(root);
        let (id, missing) = if table == "tracks" {
            ("id", "source_missing")
        } else {
            ("0", "0")
        };
        let sql = format!(
            "SELECT path, {id}, size, mtime_s, mtime_ns, {missing} FROM {table} \
             WHERE path = ?1 OR (path >= ?2 AND path < ?3)"
        );
        self.retry("while reading it", |c| {
            let mut st = c.prepare_cached(&sql)?;
            let mut rows = st.query(params![key(root), lo, hi])?;
            while let Some(r) = rows.next()? {
                out.insert(
                    r.get(0)?,
                    Known {
                        id: r.get(1)?,
                        size: r.get::<_, i64>(2)? as u64,
                        mtime: (r.get(3)?, r.get::<_, i64>(4)? as u32),
                        missing: r.get(5)?,
                    },
                );
            }
            Ok(())
        })
    }

    fn scan(
        &mut self,
        found: &[Found],
        roots: &[PathBuf],
        opts: &AddOptions<'_>,
        progress: &mut dyn FnMut(&ScanProgress<'_>),
        report: &mut ScanReport,
    ) -> Result<(), LibraryError> {
        let mut known = HashMap::new();
        let mut known_not_audio = HashMap::new();
        for root in roots {
            self.known_under(root, "tracks", &mut known)?;
            self.known_under(root, "not_audio", &mut known_not_audio)?;
        }
        for f in found.iter().filter(|f| f.explicit) {
            self.known_under(&f.canon, "tracks", &mut known)?;
            self.known_under(&f.canon, "not_audio", &mut known_not_audio)?;
        }
        let bytes_total = found.iter().map(|f| f.size).sum();
        let mut bytes_done = 0;
        let mut seen: HashSet<&[u8]> = HashSet::with_capacity(found.len());
        let mut batch = Batch::default();
        let mut last_commit = Instant::now();
        for (i, f) in found.iter().enumerate() {
            if opts.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                self.commit(&mut batch)?;
                return Err(LibraryError::Interrupted);
            }
            let k = key(&f.canon);
            if !seen.insert(k) {
                continue; // the same file named twice (or through a link)
            }
            match known.get(k) {
                Some(row) if row.size == f.size && row.mtime == f.mtime => {
                    report.unchanged += 1;
                    if row.missing {
                        batch.found_again.push(row.id);
                    }
                }
                _ if !f.explicit
                    && known_not_audio
                        .get(k)
                        .is_some_and(|r| r.size == f.size && r.mtime == f.mtime) =>
                {
                    report.skipped_not_audio += 1;
                }
                row => match probe(&f.canon) {
                    Ok(p) => {
                        if row.is_some() {
                            report.updated += 1;
                        } else {
                            report.added += 1;
                        }
                        batch.tracks.push((f.canon.clone(), f.size, f.mtime, p));
                    }
                    Err(FileError {
                        kind: FileErrorKind::NotAudio | FileErrorKind::Empty,
                        ..
                    }) if !f.explicit => {
                        report.skipped_not_audio += 1;
                        batch.not_audio.push((f.canon.clone(), f.size, f.mtime));
                    }
                    Err(e) => report.errors.push(file_err(&f.shown, e.kind)),
                },
            }
            bytes_done += f.size;
            progress(&ScanProgress {
                file: &f.shown,
                files_done: i + 1,
                files_total: found.len(),
                bytes_done,
                bytes_total,
            });
            if batch.len() >= BATCH_ROWS
                || (batch.len() > 0 && last_commit.elapsed() >= BATCH_EVERY)
            {
                self.commit(&mut batch)?;
                last_commit = Instant::now();
            }
        }
        self.commit(&mut batch)?;
        // Known rows whose file was not found: missing now.
        let gone: Vec<i64> = known
            .iter()
            .filter(|(k, _)| !seen.contains(k.as_slice()))
            .map(|(_, row)| row.id)
            .collect();
        report.missing = gone.len();
        let stale: Vec<&Vec<u8>> = known_not_audio
            .keys()
            .filter(|k| !seen.contains(k.as_slice()))
            .collect();
        if !gone.is_empty() || !stale.is_empty() {
            self.write("while marking missing files", |tx| {
                let mut st = tx.prepare_cached(
                    "UPDATE tracks SET source_missing = 1 WHERE id = ?1 AND source_missing = 0",
                )?;
                for id in &gone {
                    st.execute([id])?;
                }
                let mut st = tx.prepare_cached("DELETE FROM not_audio WHERE path = ?1")?;
                for k in &stale {
                    st.execute([k])?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Writes `batch` in one transaction, and empties it.
    fn commit(&mut self, batch: &mut Batch) -> Result<(), LibraryError> {
        if batch.len() == 0 {
            return Ok(());
        }
        let now = now_ms() as i64;
        self.write("while saving a scan", |tx| {
            // A changed file keeps its play count and when it was added; what was derived
            // from its content (hash, loudness, waveform) is forgotten.
            let mut up = tx.prepare_cached(
                "INSERT INTO tracks (path, path_text, size, mtime_s, mtime_ns, title, artist,
                    album, album_artist, track_no, disc_no, year, genre, has_cover, codec,
                    container, rate, channels, bit_depth, duration_secs, added_ms, scanned_ms,
                    search)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                    ?17, ?18, ?19, ?20, ?21, ?21, ?22)
                 ON CONFLICT (path) DO UPDATE SET
                    size = excluded.size, mtime_s = excluded.mtime_s,
                    mtime_ns = excluded.mtime_ns, title = excluded.title,
                    artist = excluded.artist, album = excluded.album,
                    album_artist = excluded.album_artist, track_no = excluded.track_no,
                    disc_no = excluded.disc_no, year = excluded.year, genre = excluded.genre,
                    has_cover = excluded.has_cover, codec = excluded.codec,
                    container = excluded.container, rate = excluded.rate,
                    channels = excluded.channels, bit_depth = excluded.bit_depth,
                    duration_secs = excluded.duration_secs, scanned_ms = excluded.scanned_ms,
                    search = excluded.search, source_missing = 0,
                    content_hash = NULL, loudness_lufs = NULL, true_peak_dbtp = NULL,
                    loudness_range_lu = NULL, track_gain_db = NULL, track_peak = NULL,
                    album_gain_db = NULL, album_peak = NULL, waveform = NULL,
                    loudness_scanned_ms = NULL
                 WHERE tracks.size != excluded.size OR tracks.mtime_s != excluded.mtime_s
                    OR tracks.mtime_ns != excluded.mtime_ns",
            )?;
            for (path, size, (s, ns), p) in &batch.tracks {
                let t = &p.tags;
                let x = &p.extra;
                let search = search_text(
                    &[
                        t.title.as_deref(),
                        t.artist.as_deref(),
                        t.album.as_deref(),
                        x.album_artist.as_deref(),
                        x.genre.as_deref(),
                    ],
                    path,
                );
                up.execute(params![
                    key(path),
                    path.to_string_lossy(),
                    *size as i64,
                    s,
                    ns,
                    t.title,
                    t.artist,
                    t.album,
                    x.album_artist,
                    t.track.map(|n| n as i64),
                    x.disc.map(|n| n as i64),
                    x.year,
                    x.genre,
                    t.cover_art,
                    p.codec,
                    p.container,
                    p.rate,
                    p.channels,
                    x.bits_per_sample,
                    p.duration_secs,
                    now,
                    search,
                ])?;
            }
            let mut na = tx.prepare_cached(
                "INSERT OR REPLACE INTO not_audio (path, size, mtime_s, mtime_ns)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (path, size, (s, ns)) in &batch.not_audio {
                na.execute(params![key(path), *size as i64, s, ns])?;
            }
            let mut again =
                tx.prepare_cached("UPDATE tracks SET source_missing = 0 WHERE id = ?1")?;
            for id in &batch.found_again {
                again.execute([id])?;
            }
            Ok(())
        })?;
        *batch = Batch::default();
        Ok(())
    }
}
