//! The library: the user's collection, every file the user added (`reel library add`, the
//! window's "Add folder…"), kept in an SQLite database in the user's data directory. It is not
//! the cache: the cache is a fast, size-capped copy of what was played, and may be cleared or
//! evicted at any time; the library is user data and outlives it. Whether a track is cached is
//! asked of the cache index when it is listed (by content hash, or by path, size and mtime),
//! never stored as a fact that eviction could falsify.
//!
//! ```text
//! <data dir>/reel/          0700 ($REEL_LIBRARY_DIR or --library-dir override it)
//!   library.sqlite3         the database (WAL mode)
//!   library.sqlite3-wal     SQLite's write-ahead log, and its -shm index
//! ```
//!
//! Why SQLite: a scan writes in transactions of a few hundred rows, so a kill -9 leaves the
//! database as of the last committed batch (never half a row) and the next scan goes on from
//! there; WAL lets two running reels read while one writes, and a busy timeout (plus a retry)
//! serialises their writes; indexes keep `list --search` and sorting fast at 100,000 tracks.
//!
//! Threads: a [`Library`] is one SQLite connection, used by whichever thread owns it (the CLI's
//! main thread, the window's library worker); it is `Send`, not `Sync`. Nothing here runs on
//! the audio path.

pub mod commands;
mod loudness;
mod scan;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

pub use loudness::{LoudnessProgress, LoudnessReport, Scanned};
pub use scan::{AddOptions, BATCH_EVERY, BATCH_ROWS, ScanProgress, ScanReport};

use crate::cache::{Cache, Entry};
use crate::error::{CacheError, LibraryError};

/// Environment variable that overrides the library location (`--library-dir` overrides it).
pub const LIBRARY_DIR_ENV: &str = "REEL_LIBRARY_DIR";

/// The database's file name inside the library directory.
pub const DB_FILE_NAME: &str = "library.sqlite3";

/// How long a write waits for another reel's write to finish before it retries.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times a write that still finds the database busy after [`BUSY_TIMEOUT`] is tried
/// again before it is reported.
const BUSY_RETRIES: usize = 3;

/// The schema each version adds, in order: `MIGRATIONS[n]` takes a database from version `n`
/// (its `user_version`) to `n + 1`. A new column or table is a new entry here; an existing
/// entry is never edited, since databases out there were built by it.
const MIGRATIONS: &[&str] = &[
    // 1: the tracks, the files known not to be audio, and the indexes listing uses.
    "
    CREATE TABLE tracks (
        id INTEGER PRIMARY KEY,
        -- The canonical path's bytes (paths need not be UTF-8); path_text is for display.
        path BLOB NOT NULL UNIQUE,
        path_text TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_s INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        title TEXT,
        artist TEXT,
        album TEXT,
        album_artist TEXT,
        track_no INTEGER,
        disc_no INTEGER,
        year INTEGER,
        genre TEXT,
        has_cover INTEGER NOT NULL DEFAULT 0,
        codec TEXT NOT NULL,
        container TEXT NOT NULL,
        rate INTEGER NOT NULL,
        channels INTEGER NOT NULL,
        bit_depth INTEGER,
        duration_secs REAL,
        play_count INTEGER NOT NULL DEFAULT 0,
        last_played_ms INTEGER,
        added_ms INTEGER NOT NULL,
        scanned_ms INTEGER NOT NULL,
        -- BLAKE3 of the content (the cache's object name), once known.
        content_hash TEXT,
        source_missing INTEGER NOT NULL DEFAULT 0,
        -- Lower-cased title, artist, album, album artist, genre and file name: what
        -- --search matches.
        search TEXT NOT NULL,
        -- Filled by loudness analysis (EBU R 128, ReplayGain); NULL until then, and reset
        -- when the file changes.
        loudness_lufs REAL,
        true_peak_dbtp REAL,
        loudness_range_lu REAL,
        track_gain_db REAL,
        track_peak REAL,
        album_gain_db REAL,
        album_peak REAL,
        waveform BLOB
    );
    CREATE INDEX tracks_by_artist ON tracks (artist COLLATE NOCASE, album COLLATE NOCASE,
                                             disc_no, track_no);
    CREATE INDEX tracks_by_album ON tracks (album COLLATE NOCASE, disc_no, track_no);
    CREATE INDEX tracks_by_title ON tracks (title COLLATE NOCASE);
    CREATE INDEX tracks_by_added ON tracks (added_ms);
    CREATE INDEX tracks_by_played ON tracks (last_played_ms);
    CREATE INDEX tracks_by_hash ON tracks (content_hash);
    -- Files met in folders that are not audio, with the size and mtime they had: a rescan
    -- counts them again without reading them again.
    CREATE TABLE not_audio (
        path BLOB PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_s INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL
    ) WITHOUT ROWID;
    ",
    // 2: when reel's own loudness scan (EBU R 128 and the waveform, engine/analysis.rs) ran on
    // the track, NULL until it has: a silent track (no integrated loudness) is then not
    // scanned again. Reset with the other derived columns when the file changes.
    "
    ALTER TABLE tracks ADD COLUMN loudness_scanned_ms INTEGER;
    CREATE INDEX tracks_unscanned ON tracks (id) WHERE loudness_scanned_ms IS NULL;
    ",
];

/// The schema version this reel writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// One track of the library.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Track {
    #[serde(skip)]
    pub id: i64,
    #[serde(serialize_with = "ser_path")]
    pub path: PathBuf,
    pub size: u64,
    #[serde(skip)]
    pub mtime: (i64, u32),
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub album_artist: Option<String>,
    pub track: Option<u64>,
    pub disc: Option<u64>,
    pub year: Option<u32>,
    pub genre: Option<String>,
    pub has_cover: bool,
    pub codec: String,
    pub container: String,
    pub rate: u32,
    pub channels: u16,
    pub bit_depth: Option<u32>,
    pub duration_secs: Option<f64>,
    pub play_count: u64,
    pub last_played_ms: Option<u64>,
    pub added_ms: u64,
    pub content_hash: Option<String>,
    /// A cached copy exists now (asked of the cache index; see [`Library::mark_cached`]).
    pub cached: bool,
    /// The file was not there when last looked for.
    pub source_missing: bool,
    /// reel's loudness scan (EBU R 128), once done: integrated loudness (LUFS), true peak
    /// (dBTP), loudness range (LU). `None` until scanned, or for silence.
    pub loudness_lufs: Option<f64>,
    pub true_peak_dbtp: Option<f64>,
    pub loudness_range_lu: Option<f64>,
    /// Whether the scan ran (its waveform summary is stored then).
    pub loudness_scanned: bool,
}

fn ser_path<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

impl Track {
    /// The title, or the file's name without its extension when it has none.
    pub fn display_title(&self) -> String {
        title_or_stem(self.title.as_deref(), &self.path)
    }
}

/// What a track is called wherever reel shows it (library, queue, window title, CLI): its
/// title tag when that says something, else its file's name without the extension. One
/// function, so that a queue entry named from the cache and the same entry named from the
/// library never read differently.
pub fn title_or_stem(title: Option<&str>, file: &Path) -> String {
    match title {
        Some(t) if !t.trim().is_empty() => t.to_string(),
        _ => file
            .file_stem()
            .or(file.file_name())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.to_string_lossy().into_owned()),
    }
}

/// Listing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    Title,
    /// Artist, then album, disc and track number.
    #[default]
    Artist,
    /// Album, then disc and track number.
    Album,
    /// Most recently added first.
    Added,
    /// Most recently played first; never played last.
    Played,
}

impl Sort {
    fn order_by(self) -> &'static str {
        match self {
            Sort::Title => "coalesce(title, path_text) COLLATE NOCASE, path",
            Sort::Artist => {
                "artist IS NULL, artist COLLATE NOCASE, album COLLATE NOCASE, disc_no, track_no, path"
            }
            Sort::Album => "album IS NULL, album COLLATE NOCASE, disc_no, track_no, path",
            Sort::Added => "added_ms DESC, path",
            Sort::Played => "last_played_ms IS NULL, last_played_ms DESC, path",
        }
    }
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Case-insensitive text to find in the title, artist, album, album artist, genre or file
    /// name.
    pub search: Option<String>,
    /// Only this artist (or album artist), exactly.
    pub artist: Option<String>,
    /// Only this album, exactly.
    pub album: Option<String>,
    pub sort: Sort,
}

/// `reel library stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub tracks: u64,
    pub total_duration_secs: f64,
    /// Tracks whose content is in the cache now, and the bytes of those objects.
    pub cached_tracks: u64,
    pub cached_bytes: u64,
    pub missing_sources: u64,
}

/// An open library database.
pub struct Library {
    dir: PathBuf,
    conn: Connection,
}

/// The library directory: `--library-dir`, else `$REEL_LIBRARY_DIR`, else the user's data
/// directory (`$XDG_DATA_HOME/reel`, or `~/.local/share/reel`), made absolute.
pub fn resolve(explicit: Option<&Path>) -> Result<PathBuf, LibraryError> {
    let dir = match explicit {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os(LIBRARY_DIR_ENV).filter(|v| !v.is_empty()) {
            Some(v) => PathBuf::from(v),
            None => directories::BaseDirs::new()
                .map(|b| b.data_dir().join("reel"))
                .ok_or_else(|| LibraryError::Refused {
                    dir: PathBuf::from("~/.local/share/reel"),
                    why: format!(
                        "no home directory to put it in; set {LIBRARY_DIR_ENV} or use --library-dir"
                    ),
                })?,
        },
    };
    std::path::absolute(&dir).map_err(|e| LibraryError::Db {
        dir: dir.clone(),
        why: crate::error::io_cause(&e),
        doing: "while resolving its path".into(),
    })
}

/// The bytes a path is stored as.
/// Another connection holds the lock past the busy timeout: worth trying again.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if matches!(
            f.code,
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
        )
    )
}

fn key(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

fn path_of(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes))
}

/// The half-open key range of everything strictly under folder `dir`: `dir/` up to `dir0`
/// (`'0'` follows `'/'` in byte order).
fn under(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let mut lo = key(dir).to_vec();
    if lo.last() != Some(&b'/') {
        lo.push(b'/');
    }
    let mut hi = lo.clone();
    *hi.last_mut().expect("not empty") = b'0';
    (lo, hi)
}

/// The columns [`row_to_track`] reads, in order.
const TRACK_COLUMNS: &str = "id, path, size, mtime_s, mtime_ns, title, artist, album, \
    album_artist, track_no, disc_no, year, genre, has_cover, codec, container, rate, channels, \
    bit_depth, duration_secs, play_count, last_played_ms, added_ms, content_hash, source_missing, \
    loudness_lufs, true_peak_dbtp, loudness_range_lu, loudness_scanned_ms IS NOT NULL";

fn row_to_track(r: &rusqlite::Row<'_>) -> rusqlite::Result<Track> {
    Ok(Track {
        id: r.get(0)?,
        path: path_of(r.get(1)?),
        size: r.get::<_, i64>(2)? as u64,
        mtime: (r.get(3)?, r.get::<_, i64>(4)? as u32),
        title: r.get(5)?,
        artist: r.get(6)?,
        album: r.get(7)?,
        album_artist: r.get(8)?,
        track: r.get::<_, Option<i64>>(9)?.map(|n| n as u64),
        disc: r.get::<_, Option<i64>>(10)?.map(|n| n as u64),
        year: r.get::<_, Option<i64>>(11)?.map(|n| n as u32),
        genre: r.get(12)?,
        has_cover: r.get(13)?,
        codec: r.get(14)?,
        container: r.get(15)?,
        rate: r.get::<_, i64>(16)? as u32,
        channels: r.get::<_, i64>(17)? as u16,
        bit_depth: r.get::<_, Option<i64>>(18)?.map(|n| n as u32),
        duration_secs: r.get(19)?,
        play_count: r.get::<_, i64>(20)? as u64,
        last_played_ms: r.get::<_, Option<i64>>(21)?.map(|n| n as u64),
        added_ms: r.get::<_, i64>(22)? as u64,
        content_hash: r.get(23)?,
        cached: false,
        source_missing: r.get(24)?,
        loudness_lufs: r.get(25)?,
        true_peak_dbtp: r.get(26)?,
        loudness_range_lu: r.get(27)?,
        loudness_scanned: r.get(28)?,
    })
}

/// What the cache holds, looked up by the library: content hashes (with their object sizes)
/// and the original files known to hold them.
pub struct CacheView {
    by_hash: HashMap<String, u64>,
    by_source: HashMap<PathBuf, (u64, i64, u32, String)>,
}

impl CacheView {
    /// Reads the cache index once.
    pub fn of(cache: &Cache) -> Result<CacheView, CacheError> {
        Ok(CacheView::from_entries(&cache.list()?))
    }

    pub fn from_entries(entries: &[Entry]) -> CacheView {
        let mut view = CacheView {
            by_hash: HashMap::with_capacity(entries.len()),
            by_source: HashMap::new(),
        };
        for e in entries {
            view.by_hash.insert(e.hash.clone(), e.size);
            for s in &e.sources {
                view.by_source.insert(
                    s.path.clone(),
                    (s.size, s.mtime_s, s.mtime_ns, e.hash.clone()),
                );
            }
        }
        view
    }

    /// The hash of `t`'s content if it is cached: its own known hash, or the one of the cached
    /// copy of the very same file (path, size and mtime match).
    fn cached_hash(&self, t: &Track) -> Option<String> {
        if let Some(h) = &t.content_hash
            && self.by_hash.contains_key(h)
        {
            return Some(h.clone());
        }
        match self.by_source.get(&t.path) {
            Some((size, s, ns, hash))
                if *size == t.size && (*s, *ns) == t.mtime && self.by_hash.contains_key(hash) =>
            {
                Some(hash.clone())
            }
            _ => None,
        }
    }
}

impl Library {
    /// Opens (creating if needed) the library at `--library-dir` / `$REEL_LIBRARY_DIR` / the
    /// user's data directory.
    pub fn open(explicit: Option<&Path>) -> Result<Library, LibraryError> {
        Library::open_dir(resolve(explicit)?)
    }

    /// [`Library::open`] on an exact directory: made private (0700) and the user's own, as the
    /// cache is (`cache::location::secure_dir`); the schema created or migrated.
    pub fn open_dir(dir: PathBuf) -> Result<Library, LibraryError> {
        crate::cache::location::secure_dir(&dir).map_err(|e| match e {
            CacheError::Refused { dir, why } => LibraryError::Refused { dir, why },
            CacheError::Io { dir, why, doing } => LibraryError::Db { dir, why, doing },
            other => LibraryError::Db {
                dir: dir.clone(),
                why: other.to_string(),
                doing: String::new(),
            },
        })?;
        let conn = Connection::open(dir.join(DB_FILE_NAME)).map_err(|e| LibraryError::Db {
            dir: dir.clone(),
            why: e.to_string(),
            doing: "while opening it".into(),
        })?;
        let mut lib = Library { dir, conn };
        lib.setup()?;
        Ok(lib)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn db_err(&self, doing: &str) -> impl Fn(rusqlite::Error) -> LibraryError + '_ {
        let doing = doing.to_string();
        move |e| LibraryError::Db {
            dir: self.dir.clone(),
            why: e.to_string(),
            doing: doing.clone(),
        }
    }

    /// WAL, the busy timeout, and the schema brought up to [`SCHEMA_VERSION`].
    fn setup(&mut self) -> Result<(), LibraryError> {
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(self.db_err("while opening it"))?;
        // In WAL mode readers never block the writer nor the writer them, so two reels can
        // list while one scans. NORMAL sync: a commit is safe from a crash of reel (kill -9);
        // a power cut may lose the last commits, never consistency.
        let _mode: String = self.retry("while opening it", |c| {
            c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        })?;
        self.conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(self.db_err("while opening it"))?;
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(self.db_err("while reading its version"))?;
        if version > SCHEMA_VERSION {
            return Err(LibraryError::TooNew {
                dir: self.dir.clone(),
                version,
            });
        }
        if version < SCHEMA_VERSION {
            self.write("while creating its tables", |tx| {
                // Another reel may have migrated it meanwhile: read the version again inside
                // the write transaction.
                let v: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
                for sql in MIGRATIONS.iter().skip(v.max(0) as usize) {
                    tx.execute_batch(sql)?;
                }
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Runs `f`, again after a pause while another reel keeps the database busy beyond the
    /// busy timeout.
    fn retry<R>(
        &self,
        doing: &str,
        mut f: impl FnMut(&Connection) -> rusqlite::Result<R>,
    ) -> Result<R, LibraryError> {
        let mut tries = 0;
        loop {
            match f(&self.conn) {
                Err(e) if is_busy(&e) && tries < BUSY_RETRIES => {
                    tries += 1;
                }
                other => return other.map_err(self.db_err(doing)),
            }
        }
    }

    /// Runs `f` in one write transaction (taken at once, so two writers queue instead of
    /// failing to upgrade a read), committed whole or not at all; retried while busy.
    fn write<R>(
        &mut self,
        doing: &str,
        mut f: impl FnMut(&rusqlite::Transaction<'_>) -> rusqlite::Result<R>,
    ) -> Result<R, LibraryError> {
        let mut tries = 0;
        loop {
            let attempt = (|| {
                let tx = self
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)?;
                let r = f(&tx)?;
                tx.commit()?;
                Ok(r)
            })();
            match attempt {
                Err(e) if is_busy(&e) && tries < BUSY_RETRIES => {
                    tries += 1;
                }
                other => return other.map_err(self.db_err(doing)),
            }
        }
    }

    /// The tracks `q` asks for, in its order. `cached` is false until [`Library::mark_cached`].
    pub fn list(&self, q: &Query) -> Result<Vec<Track>, LibraryError> {
        let mut sql = format!("SELECT {TRACK_COLUMNS} FROM tracks WHERE 1");
        let mut args: Vec<String> = Vec::new();
        if let Some(s) = q.search.as_deref().filter(|s| !s.is_empty()) {
            args.push(s.to_lowercase());
            sql.push_str(&format!(" AND instr(search, ?{}) > 0", args.len()));
        }
        if let Some(a) = &q.artist {
            args.push(a.clone());
            sql.push_str(&format!(
                " AND (artist = ?{n} OR album_artist = ?{n})",
                n = args.len()
            ));
        }
        if let Some(a) = &q.album {
            args.push(a.clone());
            sql.push_str(&format!(" AND album = ?{}", args.len()));
        }
        sql.push_str(" ORDER BY ");
        sql.push_str(q.sort.order_by());
        self.retry("while listing it", |c| {
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(args.iter()), row_to_track)?;
            rows.collect()
        })
    }

    /// The track at exactly `path` (canonical), if any.
    pub fn get(&self, path: &Path) -> Result<Option<Track>, LibraryError> {
        let sql = format!("SELECT {TRACK_COLUMNS} FROM tracks WHERE path = ?1");
        self.retry("while reading it", |c| {
            c.query_row(&sql, [key(path)], row_to_track).optional()
        })
    }

    /// Sets `cached` on each track from the cache index, and records the content hashes this
    /// taught us (a cached copy of the same path, size and mtime).
    pub fn mark_cached(
        &mut self,
        tracks: &mut [Track],
        view: &CacheView,
    ) -> Result<(), LibraryError> {
        let mut learned = Vec::new();
        for t in tracks.iter_mut() {
            match view.cached_hash(t) {
                Some(h) => {
                    t.cached = true;
                    if t.content_hash.as_deref() != Some(&h) {
                        t.content_hash = Some(h.clone());
                        learned.push((t.id, t.size, t.mtime, h));
                    }
                }
                None => t.cached = false,
            }
        }
        if learned.is_empty() {
            return Ok(());
        }
        self.write("while saving content hashes", |tx| {
            let mut st = tx.prepare_cached(
                "UPDATE tracks SET content_hash = ?1 WHERE id = ?2 AND size = ?3 \
                 AND mtime_s = ?4 AND mtime_ns = ?5",
            )?;
            for (id, size, (s, ns), h) in &learned {
                st.execute(params![h, id, *size as i64, s, ns])?;
            }
            Ok(())
        })
    }

    /// Looks for each track's file, and records those that have gone (or come back).
    pub fn check_sources(&mut self, tracks: &mut [Track]) -> Result<(), LibraryError> {
        let mut flipped = Vec::new();
        for t in tracks.iter_mut() {
            let missing = !t.path.is_file();
            if missing != t.source_missing {
                t.source_missing = missing;
                flipped.push((t.id, missing));
            }
        }
        if flipped.is_empty() {
            return Ok(());
        }
        self.write("while marking missing files", |tx| {
            let mut st =
                tx.prepare_cached("UPDATE tracks SET source_missing = ?1 WHERE id = ?2")?;
            for (id, missing) in &flipped {
                st.execute(params![missing, id])?;
            }
            Ok(())
        })
    }

    /// Removes from the library the track at each path, or every track under each folder;
    /// nothing else (the file and its cached copy stay). One result per path: how many tracks
    /// went.
    pub fn remove(&mut self, paths: &[PathBuf]) -> Vec<Result<usize, LibraryError>> {
        let mut out = Vec::with_capacity(paths.len());
        for given in paths {
            // The library holds canonical paths; a path that no longer exists is taken as
            // given (made absolute).
            let path = std::fs::canonicalize(given)
                .or_else(|_| std::path::absolute(given))
                .unwrap_or_else(|_| given.clone());
            let (lo, hi) = under(&path);
            let r = self.write("while removing tracks", |tx| {
                let mut n = tx.execute("DELETE FROM tracks WHERE path = ?1", [key(&path)])?;
                n += tx.execute(
                    "DELETE FROM tracks WHERE path >= ?1 AND path < ?2",
                    params![lo, hi],
                )?;
                tx.execute(
                    "DELETE FROM not_audio WHERE path = ?1 OR (path >= ?2 AND path < ?3)",
                    params![key(&path), lo, hi],
                )?;
                Ok(n)
            });
            out.push(match r {
                Ok(0) => Err(LibraryError::NotInLibrary(given.clone())),
                other => other,
            });
        }
        out
    }

    /// Counts a play of the track at `path` (canonical) at `at_ms` (milliseconds since the
    /// epoch); the session layer calls this when a track starts. Not an error when the path is
    /// not in the library.
    pub fn record_played(&mut self, path: &Path, at_ms: u64) -> Result<(), LibraryError> {
        self.write("while recording a play", |tx| {
            tx.execute(
                "UPDATE tracks SET play_count = play_count + 1, last_played_ms = ?1 \
                 WHERE path = ?2",
                params![at_ms as i64, key(path)],
            )
        })
        .map(|_| ())
    }

    /// Records the content hash of the file at `path` as it is now (size and mtime), e.g. once
    /// the cache has hashed it while copying.
    pub fn set_content_hash(
        &mut self,
        path: &Path,
        size: u64,
        mtime: (i64, u32),
        hash: &str,
    ) -> Result<(), LibraryError> {
        self.write("while saving a content hash", |tx| {
            tx.execute(
                "UPDATE tracks SET content_hash = ?1 WHERE path = ?2 AND size = ?3 \
                 AND mtime_s = ?4 AND mtime_ns = ?5",
                params![hash, key(path), size as i64, mtime.0, mtime.1],
            )
        })
        .map(|_| ())
    }

    /// Tracks, total duration, missing sources, and how much of it is cached (`view`).
    pub fn stats(&mut self, view: Option<&CacheView>) -> Result<Stats, LibraryError> {
        let mut tracks = self.list(&Query::default())?;
        let mut stats = Stats {
            tracks: tracks.len() as u64,
            total_duration_secs: tracks.iter().filter_map(|t| t.duration_secs).sum(),
            missing_sources: tracks.iter().filter(|t| t.source_missing).count() as u64,
            ..Stats::default()
        };
        if let Some(view) = view {
            self.mark_cached(&mut tracks, view)?;
            let mut seen = std::collections::HashSet::new();
            for t in tracks.iter().filter(|t| t.cached) {
                stats.cached_tracks += 1;
                if let Some(h) = &t.content_hash
                    && seen.insert(h.clone())
                {
                    stats.cached_bytes += view.by_hash.get(h).copied().unwrap_or(0);
                }
            }
        }
        Ok(stats)
    }

    /// The distinct artists and albums, for the window's filters.
    pub fn artists_and_albums(&self) -> Result<(Vec<String>, Vec<String>), LibraryError> {
        let distinct = |sql: &str| {
            self.retry("while listing it", |c| {
                let mut st = c.prepare_cached(sql)?;
                let rows = st.query_map([], |r| r.get::<_, String>(0))?;
                rows.collect::<rusqlite::Result<Vec<String>>>()
            })
        };
        Ok((
            distinct(
                "SELECT DISTINCT artist FROM tracks WHERE artist IS NOT NULL \
                 ORDER BY artist COLLATE NOCASE",
            )?,
            distinct(
                "SELECT DISTINCT album FROM tracks WHERE album IS NOT NULL \
                 ORDER BY album COLLATE NOCASE",
            )?,
        ))
    }
}

/// The lower-cased text `--search` looks in.
fn search_text(parts: &[Option<&str>], path: &Path) -> String {
    let mut s = String::new();
    for p in parts.iter().flatten() {
        s.push_str(&p.to_lowercase());
        s.push('\n');
    }
    s.push_str(
        &path
            .file_name()
            .unwrap_or(OsStr::new(""))
            .to_string_lossy()
            .to_lowercase(),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::title_or_stem;
    use std::path::Path;

    #[test]
    fn a_track_is_called_by_its_title_else_by_its_file_name_without_the_extension() {
        let f = Path::new("/music/Artist/01 Song.flac");
        assert_eq!(title_or_stem(Some("Song"), f), "Song");
        assert_eq!(title_or_stem(None, f), "01 Song");
        assert_eq!(title_or_stem(Some("  "), f), "01 Song");
        assert_eq!(title_or_stem(None, Path::new("/music/.hidden")), ".hidden");
    }
}
