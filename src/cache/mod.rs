//! The file cache: every file reel plays is first copied into a per-user cache and played from
//! there, so a file on a slow, sleeping or vanishing disk (a network share, a USB stick) plays
//! from local storage, and a second play costs nothing.
//!
//! ```text
//! <cache dir>/              0700, the user's own (refused otherwise)
//!   lock                    flock: held by whoever changes the index, the objects or the pins
//!   index.json              what is cached (see index.rs); replaced atomically
//!   settings.json           { "max_size_bytes": ... }
//!   objects/ab/<blake3>.ext the content, named by its hash; written once, never modified
//!   tmp/<pid>-<nonce>       imports in progress (flocked while alive)
//!   pins/<pid>-<nonce>.json what a running reel plays or has queued (flocked while alive)
//!   dirty                   present only while objects/ is being changed (see below)
//! ```
//!
//! The rules that keep it safe:
//! - Nothing is ever half-written where a reader looks: objects are copied into `tmp/`, fsynced,
//!   and renamed into `objects/` (then the directory is fsynced); the index and the settings
//!   are written beside and renamed over. A crash leaves at most a temp file, removed at the
//!   next start once its creator is known to be dead.
//! - Everything that changes the index, the objects or the pins runs under the `lock` file
//!   (read-modify-write of the index happens entirely under it), so any number of reels can
//!   import, play and evict at once. Copies run outside the lock; only the rename and the index
//!   update take it.
//! - Eviction never removes an object that any live reel has pinned (see pins.rs), and writes
//!   the index before unlinking, so the index never points at a missing object.
//! - Every change to `objects/` (renaming new objects in, unlinking evicted ones) is bracketed
//!   by the `dirty` marker, written and fsynced first, listing the objects about to be
//!   removed, and deleted when the index and `objects/` agree again. At every start, crashed
//!   imports' temp files and dead processes' pins are cleaned, and if `dirty` is there (a reel
//!   died mid-change) the index is checked against `objects/`: an entry without its object is
//!   dropped; an object without an entry is deleted if it was being removed, otherwise
//!   re-hashed, probed and adopted (so none is lost). A missing or unreadable index is rebuilt
//!   the same way. Without the marker, start-up only reads the index (`reel cache list` over
//!   10,000 entries must stay fast); `reel cache gc` and `verify` always do the full check.

pub mod commands;
mod copy;
pub mod fill;
mod import;
pub mod index;
pub mod location;
mod lookup;
mod maintain;
mod pins;
mod probe;
pub mod size;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use copy::{CHECK_BYTES, COPY_BUFFER};
pub use fill::{Fill, FillEnd, FillReader, FillStatus};
pub use import::{ImportOptions, ImportReport, Imported, Progress};
pub use index::{Counters, Entry, EntryView, SourceRef, Tags, TagsView};
pub use lookup::Found;
pub use maintain::{ClearReport, GcReport, Stats, VerifyProblem, VerifyReport};
pub use probe::{Cover, Probed, open_for_metadata, probe, read_cover, read_tags};

use crate::error::{CacheError, io_cause};
use index::Index;
use pins::PinFile;

/// Default size cap: 2 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 2 << 30;

/// A temp file whose creating pid is alive is still removed once it is this old and unlocked
/// (the pid was reused).
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// An `index.json` bigger than this is taken for damaged (and rebuilt) rather than read into
/// memory: an entry takes about 500 bytes, so this is two million entries, far more than a
/// cache of any size holds.
pub const MAX_INDEX_BYTES: u64 = 1 << 30;

/// The `dirty` marker's content.
#[derive(Serialize, Deserialize, Default)]
struct Dirty {
    removing: Vec<String>,
}

/// What `reel cache config` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Size cap: eviction keeps the objects' total at or under this.
    pub max_size_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_size_bytes: DEFAULT_MAX_SIZE,
        }
    }
}

/// An open cache. Safe to share between threads; any number of processes may have the same
/// cache open.
pub struct Cache {
    dir: PathBuf,
    lock: File,
    state: Mutex<State>,
}

struct State {
    /// The index as last read or written (plus nothing else: changes are saved at once, under
    /// the lock, except the counters below).
    index: Index,
    /// Which `index.json` `index` came from; a different one means another process wrote it.
    ident: Option<Ident>,
    /// That file, held open so that its inode cannot be freed and its number handed to a
    /// newer index (the file system reuses a freed inode number at once, so two saves by
    /// another reel could otherwise bring back the same device, inode, length and mtime).
    index_file: Option<File>,
    /// Counter increments not yet saved (hits are counted without rewriting the index; they
    /// go out with the next save).
    pending: Counters,
    /// This process's pins, created on first use.
    pins: Option<PinFile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ident {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i64,
}

impl Ident {
    fn of(m: &fs::Metadata) -> Ident {
        Ident {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: m.mtime().saturating_mul(1_000_000_000) + m.mtime_nsec(),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Cache {
    /// Opens (creating if needed) the cache at `--cache-dir` / `$REEL_CACHE_DIR` / the user's
    /// cache directory, checks that it is the user's own and private, and recovers from
    /// whatever a crash left behind.
    pub fn open(explicit: Option<&Path>) -> Result<Cache, CacheError> {
        Cache::open_dir(location::resolve(explicit)?)
    }

    /// [`Cache::open`] on an exact directory.
    pub fn open_dir(dir: PathBuf) -> Result<Cache, CacheError> {
        location::secure_dir(&dir)?;
        for sub in ["objects", "tmp", "pins"] {
            location::ensure_subdir(&dir, &dir.join(sub))?;
        }
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(dir.join("lock"))
            .map_err(|e| CacheError::Io {
                dir: dir.clone(),
                why: io_cause(&e),
                doing: "while opening its lock file".into(),
            })?;
        let cache = Cache {
            dir,
            lock,
            state: Mutex::new(State {
                index: Index::default(),
                ident: None,
                index_file: None,
                pending: Counters::default(),
                pins: None,
            }),
        };
        cache.recover()?;
        Ok(cache)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn object_path(&self, e: &Entry) -> PathBuf {
        self.dir.join(e.object_rel())
    }

    fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    fn pins_dir(&self) -> PathBuf {
        self.dir.join("pins")
    }

    fn objects_dir(&self) -> PathBuf {
        self.dir.join("objects")
    }

    fn io_err(&self, e: &std::io::Error, doing: impl Into<String>) -> CacheError {
        CacheError::Io {
            dir: self.dir.clone(),
            why: io_cause(e),
            doing: doing.into(),
        }
    }

    /// Runs `f` holding the cache lock, on an index that is up to date.
    fn locked<R>(
        &self,
        f: impl FnOnce(&mut State) -> Result<R, CacheError>,
    ) -> Result<R, CacheError> {
        // The mutex serialises this process's threads (a flock is per open file, so it would
        // not); the flock serialises processes.
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.lock
            .lock()
            .map_err(|e| self.io_err(&e, "while taking its lock"))?;
        let r = self
            .refresh(&mut st)
            .and_then(|()| self.finish_dead_change(&mut st))
            .and_then(|()| f(&mut st));
        let _ = self.lock.unlock();
        r
    }

    /// Every change to `objects/` begins and ends within one hold of the lock, so a `dirty`
    /// marker found on taking it was left by a reel that died mid-change since this one
    /// started (start-up handles the earlier ones). Make the index and `objects/` agree
    /// before changing anything: the change about to be made would otherwise end by deleting
    /// the marker, and the dead reel's objects would stay outside the index (and the cap).
    /// Lock held.
    fn finish_dead_change(&self, st: &mut State) -> Result<(), CacheError> {
        if let Some(removing) = self.read_dirty() {
            self.reconcile(st, &removing)?;
            self.end_change();
        }
        Ok(())
    }

    /// Runs `f` on an up-to-date index, holding the cache lock only while bringing it up to
    /// date (so printing a long list does not hold up other reels).
    fn read<R>(&self, f: impl FnOnce(&mut State) -> R) -> Result<R, CacheError> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.lock
            .lock()
            .map_err(|e| self.io_err(&e, "while taking its lock"))?;
        let r = self.refresh(&mut st);
        let _ = self.lock.unlock();
        r?;
        Ok(f(&mut st))
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    /// Re-reads `index.json` if another process replaced it; rebuilds it from the objects if
    /// it is missing or unreadable. Lock held.
    fn refresh(&self, st: &mut State) -> Result<(), CacheError> {
        let path = self.index_path();
        let reading = |e: &std::io::Error| self.io_err(e, "while reading its index");
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return self.rebuild(st),
            Err(e) => return Err(reading(&e)),
        };
        let meta = file.metadata().map_err(|e| reading(&e))?;
        let ident = Ident::of(&meta);
        if st.ident == Some(ident) {
            return Ok(());
        }
        if meta.len() > MAX_INDEX_BYTES {
            return self.rebuild(st);
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| reading(&e))?;
        match Index::parse(&bytes) {
            Ok(index) => {
                st.index = index;
                st.ident = Some(ident);
                st.index_file = Some(file);
                Ok(())
            }
            Err(_) => self.rebuild(st),
        }
    }

    /// Writes the index (with the pending counters) atomically. Lock held. On failure the
    /// in-memory index is marked stale, so the next refresh re-reads what is on disk.
    fn save(&self, st: &mut State) -> Result<(), CacheError> {
        let mut counters = st.index.counters;
        counters.add(&st.pending);
        let bytes = st.index.to_json(counters);
        let tmp = self.dir.join("index.json.tmp");
        let dst = self.index_path();
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &dst)?;
            Ok(f)
        })();
        if result.is_ok()
            && let Err(e) = index_dir_fsync(&self.dir)
        {
            // The new index is in place and every reel now reads it: this commit happened, and
            // its callers must not undo it (an import would remove objects the index lists).
            // Only the rename's survival of a power cut is in doubt; were it lost, the old
            // index would come back and start-up recovery adopts the objects it does not list.
            eprintln!(
                "reel: cache {}: the new index is in place but its directory could not be \
                 synced ({e}); a power cut could bring back the old one",
                self.dir.display()
            );
        }
        match result {
            Ok(f) => {
                st.index.counters = counters;
                st.pending = Counters::default();
                st.ident = f.metadata().ok().map(|m| Ident::of(&m));
                st.index_file = Some(f);
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                st.ident = None;
                st.index_file = None;
                Err(self.io_err(&e, "while saving its index"))
            }
        }
    }

    /// Every file under `objects/` that is named like an object: hash → [(ext, path)].
    fn scan_objects(&self) -> Result<HashMap<String, Vec<(String, PathBuf)>>, CacheError> {
        let mut found: HashMap<String, Vec<(String, PathBuf)>> = HashMap::new();
        let top = match fs::read_dir(self.objects_dir()) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(self.io_err(&e, "while listing its objects")),
        };
        for sub in top.flatten() {
            if !sub.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let Ok(files) = fs::read_dir(sub.path()) else {
                continue;
            };
            for f in files.flatten() {
                let name = f.file_name();
                if let Some((hash, ext)) = index::parse_object_name(&name.to_string_lossy())
                    && hash[..2] == *sub.file_name().to_string_lossy()
                {
                    found.entry(hash).or_default().push((ext, f.path()));
                }
            }
        }
        Ok(found)
    }

    /// Makes an entry for an object found without one: re-hashes it (a mismatch means it is
    /// damaged: `None`) and probes it. Its original path is unknown.
    fn adopt(&self, path: &Path, hash: &str, ext: &str) -> Option<Entry> {
        let (h, len) = copy::hash_file(path).ok()?;
        if h != hash {
            return None;
        }
        let file = File::open(path).ok()?;
        let check = copy::quick_check(&file, len).ok()?;
        let imported_at_ms = file
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as u64)
            .unwrap_or_else(now_ms);
        let probed = probe::probe(path).ok();
        Some(Entry {
            hash: hash.to_string(),
            ext: ext.to_string(),
            size: len,
            check,
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sources: Vec::new(),
            codec: probed.as_ref().map(|p| p.codec.clone()).unwrap_or_default(),
            container: probed
                .as_ref()
                .map(|p| p.container.clone())
                .unwrap_or_default(),
            rate: probed.as_ref().map_or(0, |p| p.rate),
            channels: probed.as_ref().map_or(0, |p| p.channels),
            duration_secs: probed.as_ref().and_then(|p| p.duration_secs),
            tags: probed.map(|p| p.tags).unwrap_or_default(),
            imported_at_ms,
            last_played_ms: None,
            play_count: 0,
        })
    }

    /// The index is missing or unreadable: rebuild it from the objects, re-hashing and
    /// re-probing each (a damaged object is removed: nothing could play it). What this process
    /// already knew about an object (its sources, plays) is kept. Lock held.
    fn rebuild(&self, st: &mut State) -> Result<(), CacheError> {
        let found = self.scan_objects()?;
        let mut index = Index::default();
        index.counters = st.index.counters;
        for (hash, files) in found {
            let mut files = files.into_iter();
            let Some((ext, path)) = files.next() else {
                continue;
            };
            for (_, extra) in files {
                let _ = fs::remove_file(extra);
            }
            let known = st.index.get(&hash).filter(|e| e.ext == ext).cloned();
            match known.or_else(|| self.adopt(&path, &hash, &ext)) {
                Some(e) => index.insert(e),
                None => {
                    let _ = fs::remove_file(&path);
                }
            }
        }
        st.index = index;
        st.ident = None;
        self.save(st)
    }

    /// Makes the index and `objects/` agree; objects without entries are deleted if listed in
    /// `removing`, adopted otherwise. Lock held. Returns whether anything changed.
    fn reconcile(&self, st: &mut State, removing: &HashSet<String>) -> Result<bool, CacheError> {
        let found = self.scan_objects()?;
        let mut changed = false;
        let missing: Vec<String> = st
            .index
            .entries()
            .filter(|e| {
                !found
                    .get(&e.hash)
                    .is_some_and(|files| files.iter().any(|(ext, _)| *ext == e.ext))
            })
            .map(|e| e.hash.clone())
            .collect();
        for h in missing {
            st.index.remove(&h);
            changed = true;
        }
        for (hash, files) in found {
            let known_ext = st.index.get(&hash).map(|e| e.ext.clone());
            match known_ext {
                Some(ext) => {
                    // The same content under a second name: redundant.
                    for (e, p) in files {
                        if e != ext {
                            let _ = fs::remove_file(p);
                        }
                    }
                }
                None if removing.contains(&hash) => {
                    for (_, p) in files {
                        let _ = fs::remove_file(p);
                    }
                }
                None => {
                    let mut files = files.into_iter();
                    let Some((ext, path)) = files.next() else {
                        continue;
                    };
                    for (_, extra) in files {
                        let _ = fs::remove_file(extra);
                    }
                    match self.adopt(&path, &hash, &ext) {
                        Some(e) => st.index.insert(e),
                        None => {
                            let _ = fs::remove_file(&path);
                        }
                    }
                    changed = true;
                }
            }
        }
        if changed {
            self.save(st)?;
        }
        Ok(changed)
    }

    /// Start-up recovery: crashed imports' temp files, dead processes' pins, and an index that
    /// does not match the objects.
    /// (The index itself is read when first needed: `reel cache list` reads it its own way.)
    fn recover(&self) -> Result<(), CacheError> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.lock
            .lock()
            .map_err(|e| self.io_err(&e, "while taking its lock"))?;
        copy::clean_tmp(&self.tmp_dir());
        let _ = pins::live_pins(&self.pins_dir());
        let r = match self.read_dirty() {
            Some(removing) => self
                .refresh(&mut st)
                .and_then(|()| self.reconcile(&mut st, &removing))
                .map(|_| self.end_change()),
            None => Ok(()),
        };
        let _ = self.lock.unlock();
        r
    }

    /// Hashes pinned by live reels → their pids (cleaning dead reels' pin files).
    fn live_pins(&self) -> Result<HashMap<String, Vec<u32>>, CacheError> {
        let _st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.lock
            .lock()
            .map_err(|e| self.io_err(&e, "while taking its lock"))?;
        let r = pins::live_pins(&self.pins_dir());
        let _ = self.lock.unlock();
        r.map_err(|e| self.io_err(&e, "while reading its pins"))
    }

    /// Runs `f` on the counters and a view of every entry, read straight from `index.json`
    /// without building the index (fast for a big one); falls back to the index in memory
    /// (rebuilding a missing or unreadable one) when the file cannot be read that way.
    pub fn with_entries<R>(
        &self,
        f: impl FnOnce(&Counters, Vec<EntryView<'_>>) -> R,
    ) -> Result<R, CacheError> {
        let bytes = {
            let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            self.lock
                .lock()
                .map_err(|e| self.io_err(&e, "while taking its lock"))?;
            let path = self.index_path();
            let bytes = match fs::metadata(&path) {
                Ok(m) if m.len() > MAX_INDEX_BYTES => None,
                _ => fs::read(&path).ok(),
            };
            let _ = self.lock.unlock();
            let pending = st.pending;
            bytes.map(|b| (b, pending))
        };
        if let Some((bytes, pending)) = &bytes
            && let Ok((mut counters, views)) = index::parse_views(bytes)
        {
            counters.add(pending);
            return Ok(f(&counters, views));
        }
        self.read(|st| {
            let mut counters = st.index.counters;
            counters.add(&st.pending);
            f(&counters, st.index.entries().map(EntryView::of).collect())
        })
    }

    fn dirty_path(&self) -> PathBuf {
        self.dir.join("dirty")
    }

    /// Marks `objects/` as being changed (lock held): written and fsynced before any rename or
    /// unlink, with the hashes of the objects about to be unlinked, so that recovery after a
    /// crash deletes those rather than adopting them back.
    fn begin_change(&self, removing: &[String]) -> Result<(), CacheError> {
        let path = self.dirty_path();
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)?;
            // With nothing to remove the marker's existence is all it says, and the directory
            // fsync below makes that durable; only a list of removals needs its own fsync.
            if !removing.is_empty() {
                f.write_all(&serde_json::to_vec(&Dirty {
                    removing: removing.to_vec(),
                })?)?;
                f.sync_all()?;
            }
            copy::fsync_dir(&self.dir)
        })();
        result.map_err(|e| self.io_err(&e, "while starting a change"))
    }

    /// The change is complete: the index and `objects/` agree (lock held).
    fn end_change(&self) {
        let _ = fs::remove_file(self.dirty_path());
    }

    /// What an unfinished change was removing, if one is unfinished.
    fn read_dirty(&self) -> Option<HashSet<String>> {
        let bytes = fs::read(self.dirty_path()).ok()?;
        Some(
            serde_json::from_slice::<Dirty>(&bytes)
                .map(|d| d.removing.into_iter().collect())
                .unwrap_or_default(),
        )
    }

    /// Saves the index without `victims`' entries (already removed from it), then unlinks
    /// their objects, inside a change (lock held).
    fn remove_objects(&self, st: &mut State, victims: &[Entry]) -> Result<(), CacheError> {
        let hashes: Vec<String> = victims.iter().map(|e| e.hash.clone()).collect();
        // An import has already begun its change (for its renames) when it gets here; with
        // nothing to unlink, marking it again would only cost two more fsyncs.
        if !hashes.is_empty() || self.read_dirty().is_none() {
            self.begin_change(&hashes)?;
        }
        self.save(st)?;
        for e in victims {
            let _ = fs::remove_file(self.object_path(e));
        }
        self.end_change();
        Ok(())
    }

    /// The settings (defaults when none were saved).
    /// The settings; the defaults when none were saved, or (said once, on stderr) when
    /// settings.json cannot be read or parsed: a damaged settings file must not stop playback,
    /// but the user should know their cap is not the one in force.
    pub fn settings(&self) -> Settings {
        static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let path = self.dir.join("settings.json");
        let why = match fs::read(&path) {
            Ok(b) => match serde_json::from_slice(&b) {
                Ok(s) => return s,
                Err(e) => format!("cannot parse it ({e})"),
            },
            Err(e) if e.kind() == ErrorKind::NotFound => return Settings::default(),
            Err(e) => format!("cannot read it ({})", io_cause(&e)),
        };
        if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            eprintln!(
                "reel: cache settings {}: {why}; using the default cap ({}); `reel cache config --max-size SIZE` writes a new one",
                path.display(),
                size::format_size(DEFAULT_MAX_SIZE)
            );
        }
        Settings::default()
    }

    fn write_settings(&self, s: &Settings) -> Result<(), CacheError> {
        let tmp = self.dir.join("settings.json.tmp");
        let dst = self.dir.join("settings.json");
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(s).expect("settings serialise"))?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &dst)?;
            copy::fsync_dir(&self.dir)
        })();
        result.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            self.io_err(&e, "while saving its settings")
        })
    }

    /// Saves counters that are still pending (hits counted since the last save).
    pub fn flush(&self) -> Result<(), CacheError> {
        {
            let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.pending.is_zero() {
                return Ok(());
            }
        }
        self.locked(|st| {
            if st.pending.is_zero() {
                Ok(())
            } else {
                self.save(st)
            }
        })
    }

    /// Pins `hashes` in this process's pin file. Lock held.
    fn pin_locked(&self, st: &mut State, hashes: &[String]) -> Result<(), CacheError> {
        if hashes.is_empty() {
            return Ok(());
        }
        if st.pins.is_none() {
            st.pins = Some(
                PinFile::create(&self.pins_dir())
                    .map_err(|e| self.io_err(&e, "while pinning what is playing"))?,
            );
        }
        let pins = st.pins.as_mut().expect("created above");
        pins.add(hashes.iter().map(String::as_str))
            .map_err(|e| self.io_err(&e, "while pinning what is playing"))
    }

    /// Hashes this process has pinned.
    pub fn pinned(&self) -> Vec<String> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.pins
            .as_ref()
            .map(|p| p.hashes().iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Pins `hashes` (they must be in the cache): no reel evicts them while this `Cache`
    /// lives or until [`Cache::unpin_all`].
    pub fn pin(&self, hashes: &[String]) -> Result<(), CacheError> {
        self.locked(|st| self.pin_locked(st, hashes))
    }

    /// Drops every pin this process holds.
    pub fn unpin_all(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.pins = None;
    }

    /// The entry for `hash`, as of the last look at the index.
    pub fn entry(&self, hash: &str) -> Option<Entry> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.index.get(hash).cloned()
    }

    /// The cheap check run before playing an object: its size and the BLAKE3 of its first and
    /// last 64 KiB match what was recorded at import. `false` when damaged or gone.
    pub fn quick_check(&self, hash: &str) -> bool {
        let Some(e) = self.entry(hash) else {
            return false;
        };
        let Ok(f) = File::open(self.object_path(&e)) else {
            return false;
        };
        match f.metadata() {
            Ok(m) if m.len() == e.size => {}
            _ => return false,
        }
        copy::quick_check(&f, e.size).is_ok_and(|c| c == e.check)
    }

    /// The full check: the whole object re-hashed. `false` when damaged or gone.
    pub fn full_check(&self, hash: &str) -> bool {
        let Some(e) = self.entry(hash) else {
            return false;
        };
        copy::hash_file(&self.object_path(&e)).is_ok_and(|(h, len)| h == e.hash && len == e.size)
    }

    /// Removes a damaged object and its entry (and this process's pin on it).
    pub fn discard(&self, hash: &str) -> Result<(), CacheError> {
        self.locked(|st| {
            if let Some(p) = st.pins.as_mut() {
                let _ = p.remove(hash);
            }
            let Some(e) = st.index.remove(hash) else {
                return Ok(());
            };
            self.remove_objects(st, &[e])
        })
    }

    /// Records plays: for each (hash, when it started, in ms since the epoch), the last-played
    /// time and one more play; saves the index once (with any pending counters).
    pub fn record_played(&self, plays: &[(String, u64)]) -> Result<(), CacheError> {
        if plays.is_empty() {
            return self.flush();
        }
        self.locked(|st| {
            for (h, at) in plays {
                if let Some(e) = st.index.get_mut(h) {
                    e.last_played_ms = Some(e.last_played_ms.map_or(*at, |t| t.max(*at)));
                    e.play_count += 1;
                }
            }
            self.save(st)
        })
    }
}

impl Cache {
    /// For a process about to exit: saves pending counters, drops the pins (removing the pin
    /// file), and leaks the in-memory index instead of freeing it.
    pub fn forget_at_exit(self) {
        let _ = self.flush();
        self.unpin_all();
        std::mem::forget(self);
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// The directory fsync that makes the index's rename durable. Debug builds fail it when
/// `REEL_FAULT_INDEX_DIR_FSYNC` is set (tests/cache_crash.rs): a failing disk is otherwise hard
/// to come by in a test.
fn index_dir_fsync(dir: &Path) -> std::io::Result<()> {
    #[cfg(debug_assertions)]
    if std::env::var_os("REEL_FAULT_INDEX_DIR_FSYNC").is_some() {
        return Err(std::io::Error::other(
            "injected by REEL_FAULT_INDEX_DIR_FSYNC",
        ));
    }
    copy::fsync_dir(dir)
}
