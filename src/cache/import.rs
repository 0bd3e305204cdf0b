//! Importing: `reel cache import PATH...` (playing does not import: it streams through a fill,
//! fill.rs, and commits through [`Cache::commit_one`] here).
//!
//! 1. Each path is looked at (`stat`); folders are walked when importing (audio files only).
//! 2. Under the lock, each file whose canonical path, size and mtime match an entry is a hit:
//!    nothing is copied (and, when asked, it is pinned at once, so no other reel can evict it).
//! 3. Each miss is probed exactly as the engine would open it (a file reel cannot play is
//!    rejected with the engine's own one-line reason before anything is written), then copied
//!    into `tmp/` while being hashed (copy.rs), outside the lock.
//! 4. Copied files are committed in batches under the lock: renamed to
//!    `objects/<ab>/<hash>.<ext>` (unless that content is already there, under any name),
//!    the directory fsynced, the index updated and saved once, and the cache evicted down to
//!    its cap. A batch is committed every 500 ms or 256 files, so a folder of 10,000 files
//!    does not rewrite the index 10,000 times. If a commit fails (disk full), the objects it
//!    renamed are removed again: nothing partial is left.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::copy::{self, CopyError, TempFile};
use super::index::{self, Entry, SourceRef};
use super::probe::{self, Probed};
use super::{Cache, State, now_ms};
use crate::error::{CacheError, FileError, FileErrorKind};
use crate::walk::Walked;

/// How often a long import commits what it has copied.
const COMMIT_EVERY: Duration = Duration::from_millis(500);
const COMMIT_FILES: usize = 256;

/// How to import.
#[derive(Default, Clone, Copy)]
pub struct ImportOptions<'a> {
    /// Walk folders (importing the audio files in them). Without it a folder is an error, as
    /// it is for `reel play`.
    pub recursive: bool,
    /// Pin every object returned (hits and copies) for as long as the `Cache` lives: what
    /// `reel play` does with what it is about to play.
    pub pin: bool,
    /// Polled between chunks: set it (Ctrl-C) to stop; nothing half-written is left.
    pub cancel: Option<&'a AtomicBool>,
}

/// Progress of the copying, for a progress bar or a window: bytes copied of the bytes there
/// are to copy (hits copy nothing and are not counted).
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    /// The file being copied now.
    pub file: &'a Path,
    pub done: u64,
    pub total: u64,
}

/// A file that is now in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The path as given (or found in a folder).
    pub path: PathBuf,
    pub hash: String,
    /// The object to play.
    pub object: PathBuf,
    pub size: u64,
    /// It was already cached (path, size and mtime matched): nothing was copied.
    pub hit: bool,
    /// It was copied, but its content was already cached under another name: stored once.
    pub duplicate: bool,
    /// It was cached unchanged, but its object was damaged (wrong size): copied again.
    pub repaired: bool,
}

impl Imported {
    /// A cache hit: `given` found cached as `hash` in `object`; nothing copied.
    pub(crate) fn hit(given: &Path, hash: String, object: PathBuf, size: u64) -> Imported {
        Imported {
            path: given.to_path_buf(),
            hash,
            object,
            size,
            hit: true,
            duplicate: false,
            repaired: false,
        }
    }
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// One per file, in the order given (a folder's files where the folder was named), but
    /// none for the non-audio files skipped in folders.
    pub results: Vec<Result<Imported, CacheError>>,
    /// Files in folders that are not audio (skipped, not errors).
    pub skipped_non_audio: usize,
    /// The cache itself failed (disk full, read-only, ...) or the import was interrupted: the
    /// run stopped there. The files after it have no result.
    pub stopped: Option<CacheError>,
}

struct Candidate {
    given: PathBuf,
    canon: PathBuf,
    size: u64,
    mtime: (i64, u32),
    /// Named on the command line (an error for it is reported); otherwise found in a folder
    /// (a non-audio file there is skipped quietly).
    explicit: bool,
}

enum Slot {
    Failed(CacheError),
    Candidate(Candidate),
}

enum Plan {
    Hit(Imported),
    /// Same canonical path as an earlier slot.
    SameAs(usize),
    /// To copy; `damaged`: the file is cached unchanged but its object is not intact.
    Miss {
        damaged: bool,
    },
}

/// A copied file waiting to be committed (by an import, or by a fill: fill.rs).
pub(super) struct Pending {
    pub slot: usize,
    pub given: PathBuf,
    pub repaired: bool,
    pub temp: TempFile,
    pub hash: String,
    pub check: String,
    pub len: u64,
    pub probed: Probed,
    pub source: SourceRef,
    pub name: String,
    pub ext: String,
}

fn mtime_of(m: &fs::Metadata) -> (i64, u32) {
    (m.mtime(), m.mtime_nsec() as u32)
}

fn file_err(path: &Path, kind: FileErrorKind) -> CacheError {
    CacheError::File(FileError::new(path, kind))
}

/// Lists the files under `dir` (canonical) with the one folder walker (src/walk.rs: sorted,
/// depth first; symlinks to files followed, to folders not); the cache directory `skip` is
/// not entered. What is audio is found out by probing each file, later.
fn walk(dir: &Path, skip: &Path, out: &mut Vec<Slot>) {
    crate::walk::walk(dir, &[skip.to_path_buf()], &mut |w| match w {
        Walked::File { path, meta, link } => {
            // Under a canonical folder, only a link needs resolving.
            let canon = if link {
                fs::canonicalize(&path)
            } else {
                Ok(path.clone())
            };
            out.push(match canon {
                Ok(canon) => Slot::Candidate(Candidate {
                    given: path,
                    canon,
                    size: meta.len(),
                    mtime: mtime_of(&meta),
                    explicit: false,
                }),
                Err(e) => Slot::Failed(file_err(&path, FileErrorKind::from_io(&e))),
            });
        }
        Walked::Unreadable(p, e) => {
            out.push(Slot::Failed(file_err(&p, FileErrorKind::from_io(&e))))
        }
    });
}

impl Cache {
    /// Imports `paths` (see the module docs). `progress` is called as bytes are copied.
    pub fn import(
        &self,
        paths: &[PathBuf],
        opts: ImportOptions<'_>,
        progress: &mut dyn FnMut(&Progress<'_>),
    ) -> ImportReport {
        let mut slots = Vec::new();
        for p in paths {
            match fs::metadata(p) {
                Err(e) => slots.push(Slot::Failed(file_err(p, FileErrorKind::from_io(&e)))),
                Ok(m) if m.is_dir() => {
                    if opts.recursive {
                        let skip = fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
                        let start = fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                        // Walk the canonical folder, so the cache inside it is recognised.
                        let before = slots.len();
                        walk(&start, &skip, &mut slots);
                        // Report the files under the name the folder was given by.
                        for slot in &mut slots[before..] {
                            if let Slot::Candidate(c) = slot
                                && let Ok(rel) = c.given.strip_prefix(&start)
                            {
                                c.given = p.join(rel);
                            }
                        }
                    } else {
                        slots.push(Slot::Failed(file_err(p, FileErrorKind::IsDirectory)));
                    }
                }
                Ok(m) if !m.is_file() => {
                    slots.push(Slot::Failed(file_err(p, FileErrorKind::NotAudio)));
                }
                Ok(m) => match fs::canonicalize(p) {
                    Ok(canon) => slots.push(Slot::Candidate(Candidate {
                        given: p.clone(),
                        canon,
                        size: m.len(),
                        mtime: mtime_of(&m),
                        explicit: true,
                    })),
                    Err(e) => slots.push(Slot::Failed(file_err(p, FileErrorKind::from_io(&e)))),
                },
            }
        }
        self.import_slots(slots, opts, progress)
    }

    fn import_slots(
        &self,
        slots: Vec<Slot>,
        opts: ImportOptions<'_>,
        progress: &mut dyn FnMut(&Progress<'_>),
    ) -> ImportReport {
        let mut report = ImportReport::default();
        // 2. Hits, under the lock (and pinned there, before anyone can evict them).
        let plans = match self.plan(&slots, opts.pin) {
            Ok(p) => p,
            Err(e) => {
                report.stopped = Some(e);
                return report;
            }
        };
        let mut results: Vec<Option<Result<Imported, CacheError>>> =
            (0..slots.len()).map(|_| None).collect();
        let mut skipped = vec![false; slots.len()];
        let mut total = 0u64;
        for (i, slot) in slots.iter().enumerate() {
            match (slot, &plans[i]) {
                (Slot::Failed(e), _) => results[i] = Some(Err(e.clone())),
                (Slot::Candidate(_), Plan::Hit(imp)) => results[i] = Some(Ok(imp.clone())),
                (Slot::Candidate(c), Plan::Miss { .. }) => total += c.size,
                _ => {}
            }
        }

        // 3 and 4. Copy the misses; commit in batches.
        let cap = self.settings().max_size_bytes;
        let mut done = 0u64;
        let mut batch: Vec<Pending> = Vec::new();
        let mut last_commit = Instant::now();
        for (i, slot) in slots.iter().enumerate() {
            let (Slot::Candidate(c), &Plan::Miss { damaged }) = (slot, &plans[i]) else {
                continue;
            };
            if opts.cancel.is_some_and(|f| f.load(Ordering::Relaxed)) {
                report.stopped = Some(CacheError::Interrupted);
                break;
            }
            match self.copy_one(c, opts, done, total, progress) {
                Ok(p) => {
                    batch.push(Pending {
                        slot: i,
                        repaired: damaged,
                        ..p
                    });
                }
                Err(CopyFail::File(e)) => {
                    let quiet = !c.explicit
                        && matches!(
                            &e,
                            CacheError::File(FileError {
                                kind: FileErrorKind::NotAudio | FileErrorKind::Empty,
                                ..
                            })
                        );
                    if quiet {
                        skipped[i] = true;
                    } else {
                        results[i] = Some(Err(e));
                    }
                }
                Err(CopyFail::Stop(e)) => {
                    report.stopped = Some(e);
                    break;
                }
            }
            done += c.size;
            if batch.len() >= COMMIT_FILES || last_commit.elapsed() >= COMMIT_EVERY {
                if let Err(e) = self.commit(&mut batch, &mut results, opts.pin, cap) {
                    report.stopped = Some(e);
                    break;
                }
                last_commit = Instant::now();
            }
        }
        if !batch.is_empty()
            && let Err(e) = self.commit(&mut batch, &mut results, opts.pin, cap)
        {
            report.stopped.get_or_insert(e);
        }
        // The same file named twice: the second time is a hit on the first, or fails as the
        // first did.
        let mut extra_hits = Vec::new();
        for (i, plan) in plans.iter().enumerate() {
            let (Plan::SameAs(j), Slot::Candidate(c)) = (plan, &slots[i]) else {
                continue;
            };
            match &results[*j] {
                Some(Ok(first)) => extra_hits.push((
                    i,
                    Imported {
                        path: c.given.clone(),
                        hit: true,
                        duplicate: false,
                        repaired: false,
                        ..first.clone()
                    },
                )),
                Some(Err(e)) => {
                    let e = match e {
                        CacheError::File(fe) => file_err(&c.given, fe.kind.clone()),
                        CacheError::Changed(_) => CacheError::Changed(c.given.clone()),
                        other => other.clone(),
                    };
                    results[i] = Some(Err(e));
                }
                None => skipped[i] = skipped[*j],
            }
        }
        if !extra_hits.is_empty() {
            let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
            for (i, imp) in extra_hits {
                st.pending.hits += 1;
                st.pending.bytes_saved += imp.size;
                results[i] = Some(Ok(imp));
            }
        }
        report.skipped_non_audio = skipped.iter().filter(|s| **s).count();
        report.results = results
            .into_iter()
            .zip(skipped)
            .filter_map(|(r, skipped)| if skipped { None } else { r })
            .collect();
        report
    }

    /// Step 2: which candidates are hits. Counts them and pins them (if asked) under the lock.
    fn plan(&self, slots: &[Slot], pin: bool) -> Result<Vec<Plan>, CacheError> {
        self.locked(|st| {
            let mut plans = Vec::with_capacity(slots.len());
            let mut seen: HashMap<&Path, usize> = HashMap::new();
            let mut hits = Vec::new();
            for (i, slot) in slots.iter().enumerate() {
                let Slot::Candidate(c) = slot else {
                    plans.push(Plan::Miss { damaged: false });
                    continue;
                };
                if let Some(&j) = seen.get(c.canon.as_path()) {
                    plans.push(Plan::SameAs(j));
                    continue;
                }
                seen.insert(&c.canon, i);
                let plan = match st.index.lookup_source(&c.canon) {
                    Some((e, s)) if s.size == c.size && (s.mtime_s, s.mtime_ns) == c.mtime => {
                        let object = self.object_path(e);
                        if fs::metadata(&object).is_ok_and(|m| m.len() == e.size) {
                            hits.push(e.hash.clone());
                            Plan::Hit(Imported::hit(&c.given, e.hash.clone(), object, e.size))
                        } else {
                            Plan::Miss { damaged: true }
                        }
                    }
                    _ => Plan::Miss { damaged: false },
                };
                plans.push(plan);
            }
            if pin {
                self.pin_locked(st, &hits)?;
            }
            for p in &plans {
                if let Plan::Hit(imp) = p {
                    st.pending.hits += 1;
                    st.pending.bytes_saved += imp.size;
                }
            }
            Ok(plans)
        })
    }

    /// Step 3 for one file: probe, copy into `tmp/` while hashing, check it did not change.
    fn copy_one(
        &self,
        c: &Candidate,
        opts: ImportOptions<'_>,
        done: u64,
        total: u64,
        progress: &mut dyn FnMut(&Progress<'_>),
    ) -> Result<Pending, CopyFail> {
        let probed = probe::probe(&c.given).map_err(|e| CopyFail::File(CacheError::File(e)))?;
        let src = File::open(&c.canon)
            .map_err(|e| CopyFail::File(file_err(&c.given, FileErrorKind::from_io(&e))))?;
        let before = src
            .metadata()
            .map_err(|e| CopyFail::File(file_err(&c.given, FileErrorKind::from_io(&e))))?;
        let temp = TempFile::create(&self.tmp_dir()).map_err(|e| {
            CopyFail::Stop(self.io_err(&e, format!("while importing {}", c.given.display())))
        })?;
        let mut on_bytes = |n: u64| {
            progress(&Progress {
                file: &c.given,
                done: done + n.min(c.size),
                total,
            })
        };
        let copied = copy::copy_and_hash(&src, before.len(), &temp, &mut on_bytes, opts.cancel)
            .map_err(|e| match e {
                CopyError::Read(e) => {
                    CopyFail::File(file_err(&c.given, FileErrorKind::from_io(&e)))
                }
                CopyError::Write(e) => CopyFail::Stop(
                    self.io_err(&e, format!("while importing {}", c.given.display())),
                ),
                CopyError::Cancelled => CopyFail::Stop(CacheError::Interrupted),
            })?;
        let after = fs::metadata(&c.canon).ok();
        let unchanged = after.is_some_and(|a| {
            a.len() == before.len() && mtime_of(&a) == mtime_of(&before) && a.ino() == before.ino()
        }) && copied.len == before.len();
        if !unchanged {
            return Err(CopyFail::File(CacheError::Changed(c.given.clone())));
        }
        Ok(Pending {
            slot: usize::MAX,
            given: c.given.clone(),
            repaired: false,
            temp,
            hash: copied.hash,
            check: copied.check,
            len: copied.len,
            probed,
            source: SourceRef {
                path: c.canon.clone(),
                size: before.len(),
                mtime_s: mtime_of(&before).0,
                mtime_ns: mtime_of(&before).1,
            },
            name: c
                .given
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            ext: index::ext_for(&c.given),
        })
    }

    /// Step 4: moves a batch of copies into `objects/`, updates and saves the index, evicts.
    /// All or nothing: on failure the objects it added are removed and the index is as it was.
    fn commit(
        &self,
        batch: &mut Vec<Pending>,
        results: &mut [Option<Result<Imported, CacheError>>],
        pin: bool,
        cap: u64,
    ) -> Result<(), CacheError> {
        let batch: Vec<Pending> = std::mem::take(batch);
        let mut added: Vec<PathBuf> = Vec::new();
        let done = self.locked(|st| {
            let pending_before = st.pending;
            let r = self.commit_locked(st, batch, pin, cap, &mut added);
            if r.is_err() {
                for obj in &added {
                    let _ = fs::remove_file(obj);
                }
                // Back as it was: the index on disk was not replaced.
                self.end_change();
                st.pending = pending_before;
                // The in-memory index has the failed batch in it: re-read the disk's.
                st.ident = None;
            }
            r
        })?;
        // (On error the batch's files get no result: the run stops with the error.)
        for (slot, imp) in done {
            results[slot] = Some(Ok(imp));
        }
        Ok(())
    }

    /// Commits one copy (a fill's) through the same path as an import's batch; `pin`: pin
    /// it for as long as this `Cache` lives.
    pub(super) fn commit_one(&self, pending: Pending, pin: bool) -> Result<Imported, CacheError> {
        let cap = self.settings().max_size_bytes;
        let mut results = vec![None];
        let mut batch = vec![Pending { slot: 0, ..pending }];
        self.commit(&mut batch, &mut results, pin, cap)?;
        results
            .pop()
            .flatten()
            .unwrap_or(Err(CacheError::Interrupted))
    }

    fn commit_locked(
        &self,
        st: &mut State,
        batch: Vec<Pending>,
        pin: bool,
        cap: u64,
        added: &mut Vec<PathBuf>,
    ) -> Result<Vec<(usize, Imported)>, CacheError> {
        self.begin_change(&[])?;
        let mut done = Vec::new();
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        let mut new_subdir = false;
        let mut hashes = Vec::new();
        for p in batch {
            let doing = || format!("while importing {}", p.source.path.display());
            let existing = st.index.get(&p.hash).cloned();
            let rel = match &existing {
                Some(e) => e.object_rel(),
                None => index::object_rel(&p.hash, &p.ext),
            };
            let object = self.dir.join(&rel);
            let present = fs::metadata(&object).is_ok_and(|m| m.len() == p.len);
            if !present {
                let sub = object.parent().expect("objects/<ab>/").to_path_buf();
                match fs::DirBuilder::new().mode(0o700).create(&sub) {
                    Ok(()) => new_subdir = true,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(self.io_err(&e, doing())),
                }
                p.temp
                    .persist(&object)
                    .map_err(|e| self.io_err(&e, doing()))?;
                added.push(object.clone());
                dirs.insert(sub);
            }
            let duplicate = existing.is_some() || present;
            match existing {
                Some(_) => st.index.add_source(&p.hash, p.source.clone()),
                None => st.index.insert(Entry {
                    hash: p.hash.clone(),
                    ext: p.ext.clone(),
                    size: p.len,
                    check: p.check.clone(),
                    name: p.name.clone(),
                    sources: vec![p.source.clone()],
                    codec: p.probed.codec.clone(),
                    container: p.probed.container.clone(),
                    rate: p.probed.rate,
                    channels: p.probed.channels,
                    duration_secs: p.probed.duration_secs,
                    tags: p.probed.tags.clone(),
                    imported_at_ms: now_ms(),
                    last_played_ms: None,
                    play_count: 0,
                }),
            }
            st.pending.misses += 1;
            hashes.push(p.hash.clone());
            done.push((
                p.slot,
                Imported {
                    path: p.given.clone(),
                    hash: p.hash.clone(),
                    object,
                    size: p.len,
                    hit: false,
                    duplicate,
                    repaired: p.repaired,
                },
            ));
        }
        for d in &dirs {
            copy::fsync_dir(d).map_err(|e| self.io_err(&e, "while saving new objects"))?;
        }
        if new_subdir {
            copy::fsync_dir(&self.objects_dir())
                .map_err(|e| self.io_err(&e, "while saving new objects"))?;
        }
        if pin {
            self.pin_locked(st, &hashes)?;
        }
        let protect: HashSet<String> = hashes.into_iter().collect();
        let evicted = self.plan_eviction(st, cap, &protect)?;
        // Saves the index, unlinks the evicted and ends the change.
        self.remove_objects(st, &evicted)?;
        Ok(done)
    }

    /// Chooses what to evict to bring the cache to `cap`, least recently played first (never
    /// played: by import time), skipping what any live reel has pinned and `protect`; removes
    /// it from the index and counts it. The caller saves the index, then unlinks the returned
    /// entries' objects. Lock held.
    pub(super) fn plan_eviction(
        &self,
        st: &mut State,
        cap: u64,
        protect: &HashSet<String>,
    ) -> Result<Vec<Entry>, CacheError> {
        let mut total = st.index.total_bytes();
        if total <= cap {
            return Ok(Vec::new());
        }
        let pinned = super::pins::live_pins(&self.pins_dir())
            .map_err(|e| self.io_err(&e, "while reading its pins"))?;
        let mut candidates: Vec<&Entry> = st
            .index
            .entries()
            .filter(|e| !pinned.contains_key(&e.hash) && !protect.contains(&e.hash))
            .collect();
        candidates.sort_by(|a, b| a.lru_key().cmp(&b.lru_key()).then(a.hash.cmp(&b.hash)));
        let mut victims = Vec::new();
        for e in candidates {
            if total <= cap {
                break;
            }
            total -= e.size;
            victims.push(e.hash.clone());
        }
        let mut evicted = Vec::new();
        for h in victims {
            if let Some(e) = st.index.remove(&h) {
                st.pending.evictions += 1;
                st.pending.bytes_evicted += e.size;
                evicted.push(e);
            }
        }
        Ok(evicted)
    }
}

enum CopyFail {
    /// This file cannot be imported; go on with the others.
    File(CacheError),
    /// The cache failed, or the import was interrupted: stop.
    Stop(CacheError),
}
