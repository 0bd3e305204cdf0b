//! The session: what both front ends (`reel play --no-gui`, the window) do between the user's
//! files and the engine, in one place.
//!
//! - [`Session::prepare`] turns the names given (files, folders: inputs.rs) into a queue. For
//!   each file it asks the cache: a hit (found by path, size and mtime, pinned, quick-checked)
//!   plays its object; a damaged hit is dropped and copied again; a miss streams: it plays
//!   *through* a fill (cache/fill.rs) that copies it into the cache while it plays, so the
//!   first sound needs only the first bytes of the first file. A file that is gone but whose
//!   copy is cached plays from the copy (offline), with one line saying so.
//! - The engine's queue holds the user's own paths; the session's [`TrackOpener`] (opener.rs)
//!   gives the decoder the object or the fill's reader for each. So the engine's events and
//!   errors already name the user's files.
//! - A prefetcher (`reel-prefetch` thread) copies the rest of the queue in play order in the
//!   background, one file at a time; it reports each fill's end as a [`Notice`].
//! - Hits get the full integrity check once audio plays (verify.rs); a corrupt copy is
//!   skipped (or stopped), named, and removed.
//! - Plays are recorded in the cache at the end; pins are dropped.
//!
//! Threads: the front end's thread calls [`Session`]; the decoder thread calls the opener;
//! fills and the prefetcher run on their own threads. Every line for the user is worded here.

pub mod inputs;
mod opener;
pub mod verify;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::cache::{Cache, Fill, FillEnd, Found};
use crate::engine::{Command, Engine, Event, MeterSnapshot, TrackRecord};
use crate::error::{CacheError, FileError, FileErrorKind, StreamError};
use inputs::Input;
use verify::Verifier;

/// The prefetcher's wait for a fill's end, per wait (any long time: an abandoned fill ends at
/// once, and wakes it).
const COMMIT_WAIT: Duration = Duration::from_secs(3600);
/// The end of a session waits for the copies of the tracks that played to commit, looking
/// this often whether it should give up instead (a second Ctrl-C).
const END_POLL: Duration = Duration::from_millis(100);

/// Something the session learned in the background, for the front end to pass to
/// [`Session::on_notice`].
#[derive(Debug, Clone)]
pub enum Notice {
    /// A fill ended (committed, or failed).
    FillEnded { source: usize, end: FillEnd },
    /// Writing into the cache failed: the player must stop.
    CacheFailed(CacheError),
}

/// What the front end should do after an event.
#[derive(Debug, Default)]
pub struct Reaction {
    /// Lines for the user (`reel: ` is the front end's), and whether each is an error.
    pub lines: Vec<(String, bool)>,
    /// The queue is over: stop.
    pub finished: bool,
    /// The cache failed: say it and stop (exit 5 for `reel play`).
    pub fatal: Option<CacheError>,
}

impl Reaction {
    fn say(&mut self, line: impl Into<String>, error: bool) {
        self.lines.push((line.into(), error));
    }
}

/// Where a queue entry's audio comes from.
pub(crate) enum Src {
    /// A cached copy (a hit, or offline): its object.
    Object { hash: String, object: PathBuf },
    /// Streamed through a fill, started by the prefetcher or the decoder, whichever first.
    Stream {
        given: PathBuf,
        canon: PathBuf,
        meta: Box<fs::Metadata>,
        fill: Option<Fill>,
        failed: Option<StreamError>,
    },
}

/// What the session shares with the opener and the prefetcher.
pub(crate) struct Shared {
    cache: Arc<Cache>,
    sources: Vec<Mutex<Src>>,
    /// Engine path → source.
    by_path: HashMap<PathBuf, usize>,
    stop: AtomicBool,
    notices: Sender<Notice>,
    /// The user's library, when there is one: what its loudness scan knows of each entry
    /// (asked by the opener on the decoder thread; [`Session::use_library`]).
    library: Mutex<Option<crate::library::Library>>,
}

impl Shared {
    /// The fill of stream source `idx`, started now if nobody has yet (`src` is its lock).
    fn fill_of(&self, idx: usize, src: &mut Src) -> Result<Fill, StreamError> {
        let Src::Stream {
            given,
            canon,
            meta,
            fill,
            failed,
        } = src
        else {
            return Err(StreamError::Cancelled);
        };
        if let Some(f) = fill {
            return Ok(f.clone());
        }
        if let Some(e) = failed {
            return Err(e.clone());
        }
        if self.stop.load(Ordering::SeqCst) {
            return Err(StreamError::Cancelled);
        }
        match self.cache.start_fill(given, canon, meta) {
            Ok(f) => {
                *fill = Some(f.clone());
                Ok(f)
            }
            Err(e) => {
                *failed = Some(e.clone());
                let _ = self.notices.send(Notice::FillEnded {
                    source: idx,
                    end: FillEnd::Failed(e.clone()),
                });
                Err(e)
            }
        }
    }

    fn lock(&self, idx: usize) -> std::sync::MutexGuard<'_, Src> {
        self.sources[idx].lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One queue entry.
struct Entry {
    /// The path the user gave (or that a folder held): what the engine is given.
    given: PathBuf,
    /// Which input it came from.
    origin: usize,
    source: usize,
}

/// The result of [`Session::prepare`].
#[derive(Debug, Default)]
pub struct Prepared {
    /// Lines to say before playing (files that cannot play, repaired and offline copies).
    pub lines: Vec<(String, bool)>,
    /// The cache failed: nothing plays.
    pub fatal: Option<CacheError>,
    /// Files in folders skipped as not audio.
    pub skipped_non_audio: usize,
}

pub struct Session {
    shared: Arc<Shared>,
    /// One per input (file given or found in a folder): its queue entry, or its error.
    inputs: Vec<(PathBuf, Result<usize, FileError>)>,
    entries: Vec<Entry>,
    notices: Receiver<Notice>,
    prefetch: Option<JoinHandle<()>>,
    verifier: Option<Verifier>,
    verifying: bool,
    /// Source → its object's hash, once known (hits at once, streams when committed).
    hashes: Vec<Option<String>>,
    /// Sources whose failure was said already: the engine's error about them is not repeated.
    said: HashSet<usize>,
    fatal: bool,
    heard: Option<usize>,
    last_started: Option<usize>,
    skip_on_start: HashSet<usize>,
    engine_errors: HashMap<PathBuf, usize>,
    /// Entries that failed in the engine (their fills are not waited for at the end).
    errored: HashSet<usize>,
    /// (entry, when it started, ms since the epoch).
    played: Vec<(usize, u64)>,
    /// Loudness scans made while playing (first plays of library tracks), stored in the
    /// library at the end with the plays.
    analysed: Vec<(PathBuf, crate::engine::analysis::Analysis)>,
}

impl Session {
    /// Prepares `paths` for playing from `cache` (see the module docs). Nothing plays yet:
    /// the front end gives [`Session::queue`] to an engine after [`Session::attach`].
    pub fn prepare(cache: Arc<Cache>, paths: &[PathBuf]) -> (Session, Prepared) {
        let skip = fs::canonicalize(cache.dir()).unwrap_or_else(|_| cache.dir().to_path_buf());
        let (list, skipped) = inputs::expand(paths, &skip);
        let mut prep = Prepared {
            skipped_non_audio: skipped,
            ..Prepared::default()
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut sources: Vec<Src> = Vec::new();
        let mut hashes = Vec::new();
        let mut by_canon: HashMap<PathBuf, usize> = HashMap::new();
        let mut by_path: HashMap<PathBuf, usize> = HashMap::new();
        let mut ins = Vec::new();
        let mut entries = Vec::new();
        for input in list {
            let given = match input {
                Input::Failed(e) => {
                    prep.lines.push((e.to_string(), true));
                    ins.push((e.path.clone(), Err(e)));
                    continue;
                }
                Input::File(p) => p,
            };
            if prep.fatal.is_some() {
                break;
            }
            let looked = look_up(&cache, &given, &by_canon);
            let source = match looked {
                Err(Look::File(e)) => {
                    prep.lines.push((e.to_string(), true));
                    ins.push((given, Err(e)));
                    continue;
                }
                Err(Look::Cache(e)) => {
                    prep.fatal = Some(e);
                    break;
                }
                Ok(Looked::Known(i)) => i,
                Ok(Looked::New(src, canon, line)) => {
                    if let Some(l) = line {
                        prep.lines.push((l, false));
                    }
                    hashes.push(match &*src {
                        Src::Object { hash, .. } => Some(hash.clone()),
                        _ => None,
                    });
                    sources.push(*src);
                    if let Some(c) = canon {
                        by_canon.insert(c, sources.len() - 1);
                    }
                    sources.len() - 1
                }
            };
            by_path.entry(given.clone()).or_insert(source);
            ins.push((given.clone(), Ok(entries.len())));
            entries.push(Entry {
                given,
                origin: ins.len() - 1,
                source,
            });
        }
        let shared = Arc::new(Shared {
            cache,
            sources: sources.into_iter().map(Mutex::new).collect(),
            by_path,
            stop: AtomicBool::new(false),
            notices: tx,
            library: Mutex::new(None),
        });
        let mut session = Session {
            shared,
            inputs: ins,
            entries,
            notices: rx,
            prefetch: None,
            verifier: None,
            verifying: false,
            hashes,
            said: HashSet::new(),
            fatal: false,
            heard: None,
            last_started: None,
            skip_on_start: HashSet::new(),
            engine_errors: HashMap::new(),
            errored: HashSet::new(),
            played: Vec::new(),
            analysed: Vec::new(),
        };
        if prep.fatal.is_none() {
            session.start_prefetch();
            let mut todo: Vec<String> = Vec::new();
            for e in &session.entries {
                if let Src::Object { hash, .. } = &*session.shared.lock(e.source)
                    && !todo.contains(hash)
                {
                    todo.push(hash.clone());
                }
            }
            session.verifier = Some(Verifier::start(session.shared.cache.clone(), todo));
            session.verifying = true;
        }
        (session, prep)
    }

    /// Copies the queue's streamed files in play order, one at a time, in the background.
    fn start_prefetch(&mut self) {
        let mut order: Vec<usize> = Vec::new();
        for e in &self.entries {
            if !order.contains(&e.source) {
                order.push(e.source);
            }
        }
        let shared = self.shared.clone();
        self.prefetch = std::thread::Builder::new()
            .name("reel-prefetch".into())
            .spawn(move || {
                for idx in order {
                    let fill = {
                        let mut src = shared.lock(idx);
                        if !matches!(*src, Src::Stream { .. }) {
                            continue;
                        }
                        match shared.fill_of(idx, &mut src) {
                            Ok(f) => f,
                            Err(StreamError::Cache(_)) => return,
                            Err(_) => continue,
                        }
                    };
                    let end = loop {
                        if let Some(end) = fill.wait_end(COMMIT_WAIT) {
                            break end;
                        }
                    };
                    let fatal = matches!(end, FillEnd::Failed(StreamError::Cache(_)));
                    let _ = shared.notices.send(Notice::FillEnded { source: idx, end });
                    if fatal || shared.stop.load(Ordering::SeqCst) {
                        return;
                    }
                }
            })
            .ok();
    }

    /// The engine's queue: the files to play, as the user named them.
    pub fn queue(&self) -> Vec<PathBuf> {
        self.entries.iter().map(|e| e.given.clone()).collect()
    }

    /// Looks up the entries' loudness scans in the library at `dir` (`--library-dir`, else
    /// the default), if there is one: playing never creates a library. A library that cannot
    /// be opened is one line; playback goes on without its scans.
    pub fn use_library(&self, dir: Option<&Path>) -> Option<String> {
        let dir = crate::library::resolve(dir).ok()?;
        if !dir.join(crate::library::DB_FILE_NAME).exists() {
            return None;
        }
        match crate::library::Library::open_dir(dir) {
            Ok(l) => {
                *self
                    .shared
                    .library
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(l);
                None
            }
            Err(e) => Some(e.to_string()),
        }
    }

    /// Lets `engine` open this session's entries through their objects and fills.
    pub fn attach(&self, engine: &Engine) {
        engine.set_opener(Some(Arc::new(opener::Opener(self.shared.clone()))));
    }

    /// Background news: select on it with the engine's events.
    pub fn notices(&self) -> &Receiver<Notice> {
        &self.notices
    }

    /// Corrupt cached copies found by the full check (hashes): select on it too. Never ready
    /// once the check is over.
    pub fn corrupt(&self) -> Receiver<String> {
        match &self.verifier {
            Some(v) if self.verifying => v.corrupt_rx.clone(),
            _ => crossbeam_channel::never(),
        }
    }

    /// The entry `i` must not play on: skip it, or stop if it is the last. True: stopped.
    fn skip(&self, i: usize, engine: &Engine) -> bool {
        if i + 1 < self.entries.len() {
            engine.send(Command::Next);
            false
        } else {
            engine.send(Command::Stop);
            true
        }
    }

    fn entry_hash(&self, i: usize) -> Option<String> {
        self.entries
            .get(i)
            .and_then(|e| self.hashes[e.source].clone())
    }

    /// Handles an engine event.
    pub fn on_event(&mut self, ev: &Event, engine: &Engine) -> Reaction {
        let mut r = Reaction::default();
        match ev {
            Event::TrackStarted { index, .. } => {
                self.heard = Some(*index);
                self.last_started = Some(*index);
                if let Some(v) = &self.verifier {
                    v.go();
                }
                if self.skip_on_start.contains(index) {
                    r.finished = self.skip(*index, engine);
                } else {
                    self.played.push((*index, crate::cache::now_ms()));
                }
            }
            Event::TrackEnded { index } if self.heard == Some(*index) => self.heard = None,
            Event::FileError(e) => {
                let n = *self.engine_errors.get(&e.path).unwrap_or(&0);
                self.engine_errors.insert(e.path.clone(), n + 1);
                let index = self.entry_index_of(&e.path, n);
                if let Some(i) = index {
                    self.errored.insert(i);
                }
                let corrupt = index.is_some_and(|i| {
                    self.entry_hash(i)
                        .is_some_and(|h| self.verifier.as_ref().is_some_and(|v| v.is_corrupt(&h)))
                });
                // A copy that failed says why in its own words, once, whichever comes first:
                // this error or the fill's notice.
                let source = index.map(|i| self.entries[i].source);
                // The cache itself failed (a full disk): that ends the session, said once,
                // whether this error or the fill's notice comes first.
                if let Some(StreamError::Cache(c)) = source.and_then(|s| self.failure(s)) {
                    self.fail(&mut r, c);
                    return r;
                }
                let own = source.and_then(|s| self.failure_line(s, &e.path));
                let said = source.is_some_and(|s| self.said.contains(&s));
                if !(corrupt || said || self.fatal) {
                    match (own, source) {
                        (Some(line), Some(s)) => {
                            self.said.insert(s);
                            r.say(line, true);
                        }
                        _ => r.say(e.to_string(), true),
                    }
                }
            }
            Event::FileWarning(w) => {
                // A file that played but not whole. When its copy failed (the source
                // vanished or was cut mid-play), the fill's own line says why, once; otherwise
                // the decoder's warning is said, and the exit code stays 0.
                let n = *self.engine_errors.get(&w.path).unwrap_or(&0);
                let source = self
                    .entry_index_of(&w.path, n)
                    .map(|i| self.entries[i].source);
                match source.and_then(|s| self.failure_line(s, &w.path).map(|l| (s, l))) {
                    Some((s, line)) => {
                        if self.said.insert(s) {
                            r.say(line, true);
                        }
                    }
                    None => r.say(w.to_string(), false),
                }
            }
            Event::DeviceLost(why) => {
                r.say(
                    format!("audio output lost: {why}; waiting for it to come back"),
                    false,
                );
            }
            Event::DeviceReady { device } => {
                r.say(format!("audio output back on {device}; resuming"), false);
            }
            Event::QueueFinished => r.finished = true,
            Event::Analysed { path, analysis, .. } => {
                self.analysed.push((path.clone(), analysis.clone()));
            }
            _ => {}
        }
        r
    }

    /// The line for stream source `idx` if its copy has failed in a way worth saying.
    fn failure_line(&self, idx: usize, file: &Path) -> Option<String> {
        self.failure(idx).and_then(|e| e.line(file))
    }

    /// Why the copy of source `idx` failed, if it did.
    fn failure(&self, idx: usize) -> Option<StreamError> {
        match &*self.shared.lock(idx) {
            Src::Stream {
                failed: Some(e), ..
            } => Some(e.clone()),
            Src::Stream { fill: Some(f), .. } => match f.end() {
                Some(FillEnd::Failed(e)) => Some(e),
                _ => None,
            },
            _ => None,
        }
    }

    /// Handles a [`Notice`].
    pub fn on_notice(&mut self, n: Notice) -> Reaction {
        let mut r = Reaction::default();
        match n {
            Notice::FillEnded { source, end } => match end {
                FillEnd::Complete(imp) => self.hashes[source] = Some(imp.hash),
                FillEnd::Failed(StreamError::Cache(e)) => self.fail(&mut r, e),
                FillEnd::Failed(e) => {
                    let file = self
                        .entries
                        .iter()
                        .find(|en| en.source == source)
                        .map(|en| en.given.clone())
                        .unwrap_or_default();
                    if let Some(line) = e.line(&file)
                        && self.said.insert(source)
                    {
                        r.say(line, true);
                    }
                }
            },
            Notice::CacheFailed(e) => self.fail(&mut r, e),
        }
        r
    }

    fn fail(&mut self, r: &mut Reaction, e: CacheError) {
        if !self.fatal {
            self.fatal = true;
            r.fatal = Some(e);
        }
    }

    /// Handles a corrupt object reported by the full check (from [`Session::corrupt`]), or
    /// the end of the check (`None`).
    pub fn on_corrupt(&mut self, hash: Option<String>, engine: &Engine) -> Reaction {
        let mut r = Reaction::default();
        let Some(hash) = hash else {
            self.verifying = false;
            return r;
        };
        let entries: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entry_hash(i).as_deref() == Some(hash.as_str()))
            .collect();
        // Per file given: whether any of its entries is playing or still to come.
        let mut files: Vec<(PathBuf, bool)> = Vec::new();
        for &i in &entries {
            let upcoming = if self.heard == Some(i) {
                if self.skip(i, engine) {
                    r.finished = true;
                }
                true
            } else if self.last_started.is_some_and(|s| i <= s) {
                false
            } else {
                self.skip_on_start.insert(i);
                true
            };
            let file = self.entries[i].given.clone();
            match files.iter_mut().find(|(f, _)| *f == file) {
                Some((_, u)) => *u |= upcoming,
                None => files.push((file, upcoming)),
            }
        }
        for (file, upcoming) in files {
            r.say(corrupt_line(&file, upcoming), true);
        }
        r
    }

    /// The queue entry that the `nth` engine error about `path` is about (errors come in
    /// queue order, so the nth error for a file queued twice is about its nth entry).
    fn entry_index_of(&self, path: &Path, nth: usize) -> Option<usize> {
        let list: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entries[i].given == path)
            .collect();
        list.get(nth).or(list.last()).copied()
    }

    /// The meters as the user should see them: the track as its index among the inputs, and
    /// the source's state when the track heard is still being copied.
    pub fn show(&self, mut snap: MeterSnapshot) -> MeterSnapshot {
        let entry = snap.track;
        if let Some(t) = entry
            && let Some(e) = self.entries.get(t)
        {
            snap.track = Some(e.origin);
            snap.track_path = Some(e.given.display().to_string());
        }
        for src in &self.shared.sources {
            if let Src::Stream { fill: Some(f), .. } =
                &*src.lock().unwrap_or_else(|p| p.into_inner())
                && f.status().waiting
            {
                snap.source_waiting = true;
            }
        }
        let fill = entry.and_then(|t| self.entries.get(t)).and_then(|e| {
            match &*self.shared.lock(e.source) {
                Src::Stream { fill: Some(f), .. } => Some(f.clone()),
                _ => None,
            }
        });
        if let Some(f) = fill {
            let st = f.status();
            if !st.ended {
                snap.source_speed_mb_s = Some(st.speed_bytes_per_sec / 1e6);
                if let Some(d) = snap.duration_ms.filter(|d| *d > 0.0) {
                    let bytes_per_ms = st.size as f64 / d;
                    if bytes_per_ms > 0.0 {
                        snap.source_ahead_ms =
                            Some(st.ahead_bytes as f64 / bytes_per_ms + snap.ring_fill_ms);
                    }
                }
            }
        }
        snap
    }

    /// One record per input, in order: the engine's for those queued, an error record for
    /// the others.
    pub fn tracks(&self, engine: Vec<TrackRecord>) -> Vec<TrackRecord> {
        self.inputs
            .iter()
            .map(|(file, slot)| match slot {
                Ok(qi) => engine.get(*qi).cloned().unwrap_or(TrackRecord {
                    path: file.clone(),
                    ..TrackRecord::default()
                }),
                Err(e) => TrackRecord {
                    path: file.clone(),
                    error: Some(e.clone()),
                    ..TrackRecord::default()
                },
            })
            .collect()
    }

    /// Ends the copies, before the engine shuts down (its decoder may be waiting in one).
    /// `interrupted`: drop every unfinished copy. Otherwise a copy whose track played is let
    /// finish and commit (unless `give_up` turns true meanwhile); the others are dropped.
    pub fn end_streams(&mut self, interrupted: bool, give_up: &dyn Fn() -> bool) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let keep: HashSet<usize> = if interrupted {
            HashSet::new()
        } else {
            self.played
                .iter()
                .filter(|(i, _)| !self.errored.contains(i))
                .map(|(i, _)| self.entries[*i].source)
                .collect()
        };
        for (idx, src) in self.shared.sources.iter().enumerate() {
            let fill = match &*src.lock().unwrap_or_else(|p| p.into_inner()) {
                Src::Stream { fill: Some(f), .. } => f.clone(),
                _ => continue,
            };
            if keep.contains(&idx) {
                while fill.wait_end(END_POLL).is_none() && !give_up() {}
            }
            // Committed by now, or dropped.
            fill.abandon();
        }
        if let Some(t) = self.prefetch.take() {
            let _ = t.join();
        }
        for n in self.notices.try_iter().collect::<Vec<_>>() {
            if let Notice::FillEnded {
                source,
                end: FillEnd::Complete(imp),
            } = n
            {
                self.hashes[source] = Some(imp.hash);
            }
        }
    }

    /// After the engine stopped: the full check's last findings (lines), plays recorded, pins
    /// dropped. Returns lines to say (errors).
    pub fn finish(mut self, interrupted: bool, library_dir: Option<&Path>) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(v) = self.verifier.take() {
            // Corrupt objects found after their track was over: still said, and removed.
            let mut named = HashSet::new();
            for hash in v.finish(interrupted) {
                for i in 0..self.entries.len() {
                    if self.entry_hash(i).as_deref() == Some(hash.as_str()) {
                        let file = self.entries[i].given.clone();
                        if named.insert(file.clone()) {
                            lines.push(corrupt_line(&file, false));
                        }
                    }
                }
            }
        }
        let plays: Vec<(String, u64)> = self
            .played
            .iter()
            .filter_map(|(i, at)| self.entry_hash(*i).map(|h| (h, *at)))
            .collect();
        let cache = &self.shared.cache;
        if let Err(e) = cache.record_played(&plays) {
            lines.push(e.to_string());
        }
        cache.unpin_all();
        let library_plays: Vec<(PathBuf, u64)> = self
            .played
            .iter()
            .map(|(i, at)| (self.entries[*i].given.clone(), *at))
            .collect();
        lines.extend(record_in_library(
            library_dir,
            &library_plays,
            &self.analysed,
        ));
        lines
    }
}

/// Plays of files that are in the user's library count there too (play count, last played),
/// recorded once playback is over, as the cache's are, and so do the loudness scans made while
/// playing (each in its own transaction, only if the file is unchanged). Playing never creates
/// a library: with none, or a file that is not in it, nothing is written.
fn record_in_library(
    library_dir: Option<&Path>,
    plays: &[(PathBuf, u64)],
    analysed: &[(PathBuf, crate::engine::analysis::Analysis)],
) -> Option<String> {
    if plays.is_empty() && analysed.is_empty() {
        return None;
    }
    let dir = crate::library::resolve(library_dir).ok()?;
    if !dir.join(crate::library::DB_FILE_NAME).exists() {
        return None;
    }
    let mut library = match crate::library::Library::open_dir(dir) {
        Ok(l) => l,
        Err(e) => return Some(e.to_string()),
    };
    for (given, at) in plays {
        // The library keys tracks by canonical path; a file whose source is gone (played
        // offline) keeps the path it was given.
        let path = fs::canonicalize(given).unwrap_or_else(|_| given.clone());
        if let Err(e) = library.record_played(&path, *at) {
            return Some(e.to_string());
        }
    }
    for (path, analysis) in analysed {
        match library.store_analysis_of(path, analysis) {
            Ok(_) => {}
            // The file went away since it played: nothing to store it against.
            Err(e) if e.is_about_the_file() => {}
            Err(e) => return Some(e.to_string()),
        }
    }
    None
}

/// The line for a cached copy found corrupt by the full check during play; `skipped`: it was
/// playing or still to come, and is not played (further).
fn corrupt_line(file: &Path, skipped: bool) -> String {
    format!(
        "{}: the cached copy is corrupt (its content does not match its BLAKE3 hash); {}removed \
         it from the cache, so the next play copies the file again",
        file.display(),
        if skipped { "skipped it and " } else { "" }
    )
}

enum Look {
    File(FileError),
    Cache(CacheError),
}

enum Looked {
    /// The same file as source `i` (named twice, or through another path).
    Known(usize),
    /// A new source (its canonical path, if it has one), and a line to say about it.
    New(Box<Src>, Option<PathBuf>, Option<String>),
}

/// What the cache has for `given`, and how it will play.
fn look_up(
    cache: &Cache,
    given: &Path,
    by_canon: &HashMap<PathBuf, usize>,
) -> Result<Looked, Look> {
    let fail = |kind| Look::File(FileError::new(given, kind));
    let meta = match fs::metadata(given) {
        Ok(m) => m,
        Err(e) => {
            let kind = FileErrorKind::from_io(&e);
            // Gone (or its share unmounted): a cached copy of it still plays.
            return match cache.find_offline(given) {
                Ok(Some(imp)) => Ok(Looked::New(
                    Box::new(Src::Object {
                        hash: imp.hash,
                        object: imp.object,
                    }),
                    None,
                    Some(format!(
                        "{}: the source is gone ({kind}); playing its cached copy",
                        given.display()
                    )),
                )),
                Ok(None) => Err(fail(kind)),
                Err(e) => Err(Look::Cache(e)),
            };
        }
    };
    if !meta.is_file() {
        return Err(fail(FileErrorKind::NotAudio));
    }
    if meta.len() == 0 {
        return Err(fail(FileErrorKind::Empty));
    }
    if let Err(e) = fs::File::open(given) {
        return Err(fail(FileErrorKind::from_io(&e)));
    }
    let canon = fs::canonicalize(given).map_err(|e| fail(FileErrorKind::from_io(&e)))?;
    if let Some(&i) = by_canon.get(&canon) {
        return Ok(Looked::Known(i));
    }
    let stream = |line| {
        Looked::New(
            Box::new(Src::Stream {
                given: given.to_path_buf(),
                canon: canon.clone(),
                meta: Box::new(meta.clone()),
                fill: None,
                failed: None,
            }),
            Some(canon.clone()),
            line,
        )
    };
    match cache.find_for_play(given, &canon, &meta) {
        Ok(Found::Hit(imp)) => Ok(Looked::New(
            Box::new(Src::Object {
                hash: imp.hash,
                object: imp.object,
            }),
            Some(canon.clone()),
            None,
        )),
        Ok(Found::Damaged) => Ok(stream(Some(format!(
            "cache: the cached copy of {} was damaged; copying it again from the file",
            given.display()
        )))),
        Ok(Found::Miss) => Ok(stream(None)),
        Err(e) if e.is_about_the_file() => Err(Look::File(match e {
            CacheError::File(fe) => fe,
            other => FileError::new(given, FileErrorKind::Io(other.to_string())),
        })),
        Err(e) => Err(Look::Cache(e)),
    }
}
