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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

/// What the session shares with the opener and the prefetcher. Sources are only ever added
/// (a window appends to its queue while it plays), never renumbered.
pub(crate) struct Shared {
    cache: Arc<Cache>,
    sources: RwLock<Vec<Arc<Mutex<Src>>>>,
    /// Engine path → source.
    by_path: RwLock<HashMap<PathBuf, usize>>,
    stop: AtomicBool,
    notices: Sender<Notice>,
    /// Called after each notice sent (a window that sleeps between frames wakes for it).
    waker: RwLock<Option<Waker>>,
    /// The user's library, when there is one: what its loudness scan knows of each entry
    /// (asked by the opener on the decoder thread; [`Session::use_library`]).
    library: Mutex<LibrarySlot>,
    /// Bumped when the queue is cleared: the prefetcher skips what an older queue asked for.
    generation: AtomicU64,
    /// The attached engine's queue in play order: the prefetcher copies in this order.
    play_order: RwLock<Option<crate::engine::PlayOrder>>,
}

/// What wakes a front end for a notice.
type Waker = Arc<dyn Fn() + Send + Sync>;

/// The library the opener asks for loudness scans.
pub(crate) enum LibrarySlot {
    None,
    /// Opened once its database exists (a window whose library is created after it starts).
    Waiting(PathBuf),
    Open(crate::library::Library),
}

impl Shared {
    /// The prefetcher's copy of source `idx`, if it streams: starts its fill (or joins the
    /// decoder's) and waits for its end. False when the prefetcher must stop (the cache
    /// failed, or the session ends).
    fn prefetch(&self, idx: usize) -> bool {
        if self.stop.load(Ordering::SeqCst) {
            return false;
        }
        let src = self.src(idx);
        let fill = {
            let mut src = src.lock().unwrap_or_else(|p| p.into_inner());
            if !matches!(*src, Src::Stream { .. }) {
                return true;
            }
            match self.fill_of(idx, &mut src) {
                Ok(f) => f,
                Err(StreamError::Cache(_)) => return false,
                Err(_) => return true,
            }
        };
        let end = loop {
            if let Some(end) = fill.wait_end(COMMIT_WAIT) {
                break end;
            }
        };
        let fatal = matches!(end, FillEnd::Failed(StreamError::Cache(_)));
        self.notify(Notice::FillEnded { source: idx, end });
        !(fatal || self.stop.load(Ordering::SeqCst))
    }

    /// Of `pending` (sources), the one that plays first in the attached engine's queue; `None`
    /// when no engine is attached yet or it holds none of them yet (the front end loads it
    /// right after adding to the session).
    fn first_to_play(&self, pending: &[usize]) -> Option<usize> {
        let order = self
            .play_order
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let by_path = self.by_path.read().unwrap_or_else(|p| p.into_inner());
        order
            .files()
            .iter()
            .filter_map(|f| by_path.get(f))
            .find_map(|idx| pending.iter().position(|p| p == idx))
    }

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
                self.notify(Notice::FillEnded {
                    source: idx,
                    end: FillEnd::Failed(e.clone()),
                });
                Err(e)
            }
        }
    }

    /// Sends `n` to the front end, and wakes it.
    fn notify(&self, n: Notice) {
        let _ = self.notices.send(n);
        if let Some(wake) = &*self.waker.read().unwrap_or_else(|p| p.into_inner()) {
            wake();
        }
    }

    /// Source `idx` (sources are never removed).
    fn src(&self, idx: usize) -> Arc<Mutex<Src>> {
        self.sources.read().unwrap_or_else(|p| p.into_inner())[idx].clone()
    }

    /// Runs `f` on source `idx`, locked.
    fn with<R>(&self, idx: usize, f: impl FnOnce(&mut Src) -> R) -> R {
        let src = self.src(idx);
        let mut g = src.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// Every source, for a look at each.
    fn all(&self) -> Vec<Arc<Mutex<Src>>> {
        self.sources
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// One queue entry.
#[derive(Clone)]
struct Entry {
    /// The path the user gave (or that a folder held): what the engine is given.
    given: PathBuf,
    /// Which input it came from.
    origin: usize,
    source: usize,
}

/// A track that played: its file, its source, when it started (ms since the epoch), and
/// whether its play was handed over for the library already ([`Session::take_plays`]).
struct Play {
    given: PathBuf,
    source: usize,
    at: u64,
    in_library: bool,
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

/// Names looked up in the cache by [`look_up_all`], off the front end's thread, for
/// [`Session::add`].
pub struct Batch {
    items: Vec<Item>,
    skipped_non_audio: usize,
    fatal: Option<CacheError>,
}

enum Item {
    Failed(FileError),
    /// A file to queue: how it plays (a new source, or the same file as item `i` of the
    /// batch), and a line to say about it.
    Found {
        given: PathBuf,
        canon: Option<PathBuf>,
        src: Option<Box<Src>>,
        same_as: Option<usize>,
        line: Option<String>,
    },
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("files", &self.files())
            .field("skipped_non_audio", &self.skipped_non_audio)
            .field("fatal", &self.fatal)
            .finish()
    }
}

impl Batch {
    /// The files that [`Session::add`] will queue, in order, each with the content hash of
    /// its cached copy when it plays from one (a hit, or offline).
    pub fn files(&self) -> Vec<(PathBuf, Option<String>)> {
        let hash_of = |src: &Option<Box<Src>>| match src.as_deref() {
            Some(Src::Object { hash, .. }) => Some(hash.clone()),
            _ => None,
        };
        let mut out = Vec::new();
        for it in &self.items {
            if let Item::Found {
                given,
                src,
                same_as,
                ..
            } = it
            {
                let hash = match same_as {
                    Some(j) => match &self.items[*j] {
                        Item::Found { src, .. } => hash_of(src),
                        Item::Failed(_) => None,
                    },
                    None => hash_of(src),
                };
                out.push((given.clone(), hash));
            }
        }
        out
    }

    pub fn skipped_non_audio(&self) -> usize {
        self.skipped_non_audio
    }
}

/// Expands `paths` (folders in path order) and looks each file up in `cache`: a hit (pinned,
/// quick-checked), a damaged hit, a miss to stream, or a gone file whose copy plays offline.
/// Copies nothing, so it is quick, but it reads the cache index and the files' metadata:
/// call it where waiting is allowed (not a window's UI thread).
pub fn look_up_all(cache: &Cache, paths: &[PathBuf]) -> Batch {
    let skip = fs::canonicalize(cache.dir()).unwrap_or_else(|_| cache.dir().to_path_buf());
    let (list, skipped) = inputs::expand(paths, &skip);
    let mut batch = Batch {
        items: Vec::new(),
        skipped_non_audio: skipped,
        fatal: None,
    };
    let mut by_canon: HashMap<PathBuf, usize> = HashMap::new();
    for input in list {
        let given = match input {
            Input::Failed(e) => {
                batch.items.push(Item::Failed(e));
                continue;
            }
            Input::File(p) => p,
        };
        match look_up(cache, &given, &by_canon) {
            Err(Look::File(e)) => batch.items.push(Item::Failed(e)),
            Err(Look::Cache(e)) => {
                batch.fatal = Some(e);
                break;
            }
            Ok(Looked::Known(i)) => batch.items.push(Item::Found {
                given,
                canon: None,
                src: None,
                same_as: Some(i),
                line: None,
            }),
            Ok(Looked::New(src, canon, line)) => {
                if let Some(c) = &canon {
                    by_canon.insert(c.clone(), batch.items.len());
                }
                batch.items.push(Item::Found {
                    given,
                    canon,
                    src: Some(src),
                    same_as: None,
                    line,
                });
            }
        }
    }
    batch
}

/// What [`Session::add`] queued.
#[derive(Debug, Default)]
pub struct Added {
    /// The files appended to the session's queue, in order: give them to the engine.
    pub queued: Vec<PathBuf>,
    /// Lines to say (files that cannot play, repaired and offline copies), and whether each
    /// is an error.
    pub lines: Vec<(String, bool)>,
    /// The cache failed while looking: files after the failure were not looked at.
    pub fatal: Option<CacheError>,
}

pub struct Session {
    shared: Arc<Shared>,
    /// One per input (file given or found in a folder): its queue entry, or its error.
    inputs: Vec<(PathBuf, Result<usize, FileError>)>,
    entries: Vec<Entry>,
    /// Canonical path → source, so that a file named twice (or again later) plays one copy.
    by_canon: HashMap<PathBuf, usize>,
    notices: Receiver<Notice>,
    prefetch: Option<JoinHandle<()>>,
    /// Sources for the prefetcher to copy, with the queue generation that asked.
    prefetch_tx: Option<Sender<(u64, usize)>>,
    verifier: Option<Verifier>,
    /// Hits for the full check; `verified`: those given to it already.
    verify_tx: Option<Sender<String>>,
    verified: HashSet<String>,
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
    /// Sources that failed in the engine (their fills are not waited for at the end).
    errored: HashSet<usize>,
    played: Vec<Play>,
    /// Loudness scans made while playing (first plays of library tracks), stored in the
    /// library at the end with the plays.
    analysed: Vec<(PathBuf, crate::engine::analysis::Analysis)>,
}

/// How often the prefetcher looks again while the engine does not hold what it was asked to
/// copy yet (between a front end's [`Session::add`] and its load or [`Session::attach`]).
const PLAY_ORDER_RECHECK: Duration = Duration::from_millis(20);
/// How long the prefetcher waits for the engine to hold what it was asked to copy before it
/// copies in the order asked: an entry removed from the engine's queue before its copy, or a
/// session with no engine, must not keep it looking (and waking) for ever.
const PLAY_ORDER_PATIENCE: Duration = Duration::from_secs(1);

/// What the prefetcher was asked to copy and has not yet: sources with the queue generation
/// that asked. It hands them out in the engine's play order (a shuffled queue's, too), not in
/// the order they were added.
struct Asked {
    rx: Option<Receiver<(u64, usize)>>,
    pending: Vec<(u64, usize)>,
    /// Since when none of `pending` has been in the engine's queue.
    unclaimed_since: Option<Instant>,
}

impl Asked {
    fn new(rx: Receiver<(u64, usize)>) -> Asked {
        Asked {
            rx: Some(rx),
            pending: Vec::new(),
            unclaimed_since: None,
        }
    }

    /// Takes what was sent, waiting up to `wait` for something when nothing is pending.
    fn take(&mut self, wait: Option<Duration>) {
        let Some(rx) = &self.rx else { return };
        let first = match wait {
            None => rx.recv().map_err(|_| true),
            Some(w) => rx.recv_timeout(w).map_err(|e| e.is_disconnected()),
        };
        match first {
            Ok(x) => self.pending.push(x),
            Err(true) => self.rx = None,
            Err(false) => {}
        }
        if let Some(rx) = &self.rx {
            self.pending.extend(rx.try_iter());
        }
    }

    /// The next source to copy; `None` once nothing more can come.
    fn next(&mut self, shared: &Shared) -> Option<usize> {
        loop {
            if shared.stop.load(Ordering::SeqCst) {
                return None;
            }
            if self.pending.is_empty() {
                self.rx.as_ref()?;
                self.take(None);
            } else {
                self.take(Some(Duration::ZERO));
            }
            let now = shared.generation.load(Ordering::SeqCst);
            self.pending.retain(|&(g, _)| g == now);
            if self.pending.is_empty() {
                self.unclaimed_since = None;
                continue;
            }
            let sources: Vec<usize> = self.pending.iter().map(|&(_, i)| i).collect();
            let waited = self
                .unclaimed_since
                .get_or_insert_with(Instant::now)
                .elapsed();
            let pick = match shared.first_to_play(&sources) {
                Some(k) => Some(k),
                None if waited >= PLAY_ORDER_PATIENCE => Some(0),
                None => None,
            };
            if let Some(k) = pick {
                self.unclaimed_since = None;
                return Some(self.pending.remove(k).1);
            }
            // Not in the engine's queue yet: look again shortly (nothing else to do meanwhile).
            match &self.rx {
                Some(_) => self.take(Some(PLAY_ORDER_RECHECK)),
                None => std::thread::sleep(PLAY_ORDER_RECHECK),
            }
        }
    }
}

impl Session {
    /// Prepares `paths` for playing from `cache` (see the module docs): [`look_up_all`], then
    /// [`Session::add`] to a new session whose queue is complete. Nothing plays yet: the
    /// front end gives [`Session::queue`] to an engine after [`Session::attach`].
    pub fn prepare(cache: Arc<Cache>, paths: &[PathBuf]) -> (Session, Prepared) {
        let batch = look_up_all(&cache, paths);
        let skipped_non_audio = batch.skipped_non_audio;
        let mut session = Session::open(cache);
        let added = session.add(batch);
        // Nothing more comes: the prefetcher and the check end after this queue.
        session.prefetch_tx = None;
        session.verify_tx = None;
        let prep = Prepared {
            lines: added.lines,
            fatal: added.fatal,
            skipped_non_audio,
        };
        (session, prep)
    }

    /// A session with an empty queue, for a front end that adds to it as it goes (the
    /// window: [`look_up_all`] on its worker, then [`Session::add`]).
    pub fn open(cache: Arc<Cache>) -> Session {
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            cache: cache.clone(),
            sources: RwLock::new(Vec::new()),
            by_path: RwLock::new(HashMap::new()),
            stop: AtomicBool::new(false),
            notices: tx,
            waker: RwLock::new(None),
            library: Mutex::new(LibrarySlot::None),
            generation: AtomicU64::new(0),
            play_order: RwLock::new(None),
        });
        let (verify_tx, todo) = crossbeam_channel::unbounded();
        let mut session = Session {
            shared,
            inputs: Vec::new(),
            entries: Vec::new(),
            by_canon: HashMap::new(),
            notices: rx,
            prefetch: None,
            prefetch_tx: None,
            verifier: Some(Verifier::start(cache, todo)),
            verify_tx: Some(verify_tx),
            verified: HashSet::new(),
            verifying: true,
            hashes: Vec::new(),
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
        session.start_prefetch();
        session
    }

    /// Appends what `batch` found to the queue: new sources are copied ahead by the
    /// prefetcher, hits are given to the full check. Quick: no file is read here.
    pub fn add(&mut self, batch: Batch) -> Added {
        let mut added = Added {
            fatal: batch.fatal,
            ..Added::default()
        };
        // Batch item → source.
        let mut sources: Vec<Option<usize>> = Vec::with_capacity(batch.items.len());
        for item in batch.items {
            let (given, canon, src, same_as, line) = match item {
                Item::Failed(e) => {
                    added.lines.push((e.to_string(), true));
                    self.inputs.push((e.path.clone(), Err(e)));
                    sources.push(None);
                    continue;
                }
                Item::Found {
                    given,
                    canon,
                    src,
                    same_as,
                    line,
                } => (given, canon, src, same_as, line),
            };
            if let Some(l) = line {
                added.lines.push((l, false));
            }
            let source = match (same_as.and_then(|j| sources[j]), src) {
                (Some(i), _) => i,
                (None, Some(src)) => self.source_for(canon, *src),
                (None, None) => {
                    sources.push(None);
                    continue;
                }
            };
            sources.push(Some(source));
            self.shared
                .by_path
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(given.clone(), source);
            self.inputs.push((given.clone(), Ok(self.entries.len())));
            self.entries.push(Entry {
                given: given.clone(),
                origin: self.inputs.len() - 1,
                source,
            });
            added.queued.push(given);
        }
        added
    }

    /// The source for a file looked up again: the one it has in this session already when
    /// that one can still play (a copy under way, or the same cached object), else `src`,
    /// made a new source (copied ahead, or checked).
    fn source_for(&mut self, canon: Option<PathBuf>, src: Src) -> usize {
        if let Some(&i) = canon.as_ref().and_then(|c| self.by_canon.get(c)) {
            let failed = self.failure(i).is_some();
            let reuse = !failed
                && self.shared.with(i, |old| match (&*old, &src) {
                    (Src::Stream { .. }, _) => true,
                    (Src::Object { hash: a, .. }, Src::Object { hash: b, .. }) => a == b,
                    _ => false,
                });
            if reuse {
                return i;
            }
        }
        let hash = match &src {
            Src::Object { hash, .. } => Some(hash.clone()),
            Src::Stream { .. } => None,
        };
        let idx = {
            let mut list = self
                .shared
                .sources
                .write()
                .unwrap_or_else(|p| p.into_inner());
            list.push(Arc::new(Mutex::new(src)));
            list.len() - 1
        };
        self.hashes.push(hash.clone());
        if let Some(c) = canon {
            self.by_canon.insert(c, idx);
        }
        match hash {
            Some(h) => {
                if self.verified.insert(h.clone())
                    && let Some(tx) = &self.verify_tx
                {
                    let _ = tx.send(h);
                }
            }
            None => {
                if let Some(tx) = &self.prefetch_tx {
                    let _ = tx.send((self.shared.generation.load(Ordering::SeqCst), idx));
                }
            }
        }
        idx
    }

    /// The queue is now the entries at `order` (their indices before), in that order: for a
    /// front end that removes, moves or shuffles entries of the engine's queue, so that the
    /// session's queue stays the engine's (its events name entries by index). An index out of
    /// range is ignored.
    pub fn reorder(&mut self, order: &[usize]) {
        let new_index = |old: usize| order.iter().position(|&o| o == old);
        self.heard = self.heard.and_then(new_index);
        self.last_started = self.last_started.and_then(new_index);
        self.skip_on_start = self
            .skip_on_start
            .iter()
            .filter_map(|&i| new_index(i))
            .collect();
        let entries: Vec<Entry> = order
            .iter()
            .filter_map(|&i| self.entries.get(i).cloned())
            .collect();
        // Inputs whose entry went name no engine record any more.
        for (_, slot) in &mut self.inputs {
            if let Ok(i) = slot {
                *i = usize::MAX;
            }
        }
        for (j, e) in entries.iter().enumerate() {
            self.inputs[e.origin].1 = Ok(j);
        }
        self.entries = entries;
    }

    /// [`Session::reorder`] to the engine's queue as it now is (its files in order, after an
    /// edit it made: remove, move, play next): each entry is matched to the engine's by file,
    /// in order. Entries the engine does not hold yet (queued a moment ago) stay at the end.
    pub fn follow(&mut self, engine_files: &[PathBuf]) {
        let mut used = vec![false; self.entries.len()];
        let mut order = Vec::with_capacity(self.entries.len());
        for f in engine_files {
            if let Some(i) =
                (0..self.entries.len()).find(|&i| !used[i] && self.entries[i].given == *f)
            {
                used[i] = true;
                order.push(i);
            }
        }
        order.extend((0..self.entries.len()).filter(|&i| !used[i]));
        self.reorder(&order);
    }

    /// Empties the queue (the engine's is emptied too). Copies under way go on (a track that
    /// played is still committed); what the old queue asked to copy ahead is not copied.
    pub fn clear(&mut self) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.clear();
        self.inputs.clear();
        self.heard = None;
        self.last_started = None;
        self.skip_on_start.clear();
        self.engine_errors.clear();
    }

    /// Copies the queue's streamed files in play order, one at a time, in the background,
    /// as [`Session::add`] asks.
    fn start_prefetch(&mut self) {
        let (tx, rx) = crossbeam_channel::unbounded::<(u64, usize)>();
        self.prefetch_tx = Some(tx);
        let shared = self.shared.clone();
        self.prefetch = std::thread::Builder::new()
            .name("reel-prefetch".into())
            .spawn(move || {
                let mut asked = Asked::new(rx);
                while let Some(idx) = asked.next(&shared) {
                    if !shared.prefetch(idx) {
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
                    .unwrap_or_else(|p| p.into_inner()) = LibrarySlot::Open(l);
                None
            }
            Err(e) => Some(e.to_string()),
        }
    }

    /// As [`Session::use_library`], for a front end that runs while its library is created
    /// (the window): the opener opens it once it exists, and never creates it.
    pub fn use_library_once_there(&self, dir: Option<&Path>) {
        if let Ok(dir) = crate::library::resolve(dir) {
            *self
                .shared
                .library
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = LibrarySlot::Waiting(dir);
        }
    }

    /// Lets `engine` open this session's entries through their objects and fills.
    pub fn attach(&self, engine: &Engine) {
        engine.set_opener(Some(Arc::new(opener::Opener(self.shared.clone()))));
        *self
            .shared
            .play_order
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(engine.play_order());
    }

    /// Calls `wake` after each [`Notice`] (from the thread that sends it): for a front end
    /// that polls [`Session::notices`] when it wakes, not in a select.
    pub fn wake_with(&self, wake: impl Fn() + Send + Sync + 'static) {
        *self.shared.waker.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(wake));
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
                    if let Some(e) = self.entries.get(*index) {
                        self.played.push(Play {
                            given: e.given.clone(),
                            source: e.source,
                            at: crate::cache::now_ms(),
                            in_library: false,
                        });
                    }
                }
            }
            Event::TrackEnded { index } if self.heard == Some(*index) => self.heard = None,
            Event::FileError(e) => {
                let n = *self.engine_errors.get(&e.path).unwrap_or(&0);
                self.engine_errors.insert(e.path.clone(), n + 1);
                let index = self.entry_index_of(&e.path, n);
                if let Some(i) = index {
                    self.errored.insert(self.entries[i].source);
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
            Event::DeviceMoved { device } => {
                r.say(format!("audio output moved to {device}"), false);
            }
            Event::DeviceFallback { wanted, device } => {
                r.say(
                    format!(
                        "audio output {wanted} is gone; playing on the default ({device}) until it is back"
                    ),
                    false,
                );
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
        self.shared.with(idx, |src| match &*src {
            Src::Stream {
                failed: Some(e), ..
            } => Some(e.clone()),
            Src::Stream { fill: Some(f), .. } => match f.end() {
                Some(FillEnd::Failed(e)) => Some(e),
                _ => None,
            },
            _ => None,
        })
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

    /// A front end that runs on after the cache failed (the window, once the user queues
    /// more): the next failure is said again, and the engine's errors are no longer held back.
    pub fn forget_failure(&mut self) {
        self.fatal = false;
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
        self.show_source(snap, entry)
    }

    /// The source's state in `snap` (its track left as the engine's queue index, which is
    /// `entry`): whether playback waits for a source, and how the copy of the track heard is
    /// going.
    ///
    /// Never waits: a source locked now (its copy being started, which opens the source and
    /// may hang on a stalled share) is left out of this look, so a window's frame is not held.
    pub fn show_source(&self, mut snap: MeterSnapshot, entry: Option<usize>) -> MeterSnapshot {
        let sources = self.shared.all();
        if sources
            .iter()
            .filter_map(|s| peek_fill(s))
            .any(|f| f.status().waiting)
        {
            snap.source_waiting = true;
        }
        let fill = entry
            .and_then(|t| self.entries.get(t))
            .and_then(|e| peek_fill(&sources[e.source]));
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
        // The prefetcher ends with its queue.
        self.prefetch_tx = None;
        let keep: HashSet<usize> = if interrupted {
            HashSet::new()
        } else {
            self.played
                .iter()
                .map(|p| p.source)
                .filter(|s| !self.errored.contains(s))
                .collect()
        };
        for (idx, src) in self.shared.all().iter().enumerate() {
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
    pub fn finish(&mut self, interrupted: bool, library_dir: Option<&Path>) -> Vec<String> {
        let mut lines = Vec::new();
        self.verify_tx = None;
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
        let mut plays = self.take_plays();
        plays.analysed = std::mem::take(&mut self.analysed);
        lines.extend(plays.record(&self.shared.cache, library_dir));
        self.shared.cache.unpin_all();
        lines
    }

    /// The plays to record now (a front end that runs on: the window, when audio stops):
    /// in the cache those whose copy is known (a stream's once committed; the others stay
    /// for later), in the library all of them, once.
    pub fn take_plays(&mut self) -> Plays {
        let mut plays = Plays::default();
        for p in &mut self.played {
            if !p.in_library {
                p.in_library = true;
                plays.library.push((p.given.clone(), p.at));
            }
        }
        let hashes = &self.hashes;
        self.played.retain(|p| match &hashes[p.source] {
            Some(h) => {
                plays.cache.push((h.clone(), p.at));
                false
            }
            None => true,
        });
        plays
    }

    /// The loudness scans made while playing, for a front end that stores them itself (the
    /// window, through its library worker); what is taken is not stored by
    /// [`Session::finish`].
    pub fn take_analysed(&mut self) -> Vec<(PathBuf, crate::engine::analysis::Analysis)> {
        std::mem::take(&mut self.analysed)
    }

    /// The content hash of queue entry `i`'s copy, once known.
    pub fn hash_of(&self, i: usize) -> Option<String> {
        self.entry_hash(i)
    }
}

/// The fill of a streamed source, if it has one and is not locked now.
fn peek_fill(src: &Mutex<Src>) -> Option<Fill> {
    match &*src.try_lock().ok()? {
        Src::Stream { fill: Some(f), .. } => Some(f.clone()),
        _ => None,
    }
}

/// Plays to record: (content hash, when) for the cache, (file, when) for the library, and
/// loudness scans made while playing.
#[derive(Debug, Default)]
pub struct Plays {
    pub cache: Vec<(String, u64)>,
    pub library: Vec<(PathBuf, u64)>,
    pub analysed: Vec<(PathBuf, crate::engine::analysis::Analysis)>,
}

impl Plays {
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty() && self.library.is_empty() && self.analysed.is_empty()
    }

    /// Records them (cache index, library): writes files, so not on a UI thread. Returns
    /// lines to say (errors).
    pub fn record(self, cache: &Cache, library_dir: Option<&Path>) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.cache.is_empty()
            && let Err(e) = cache.record_played(&self.cache)
        {
            lines.push(e.to_string());
        }
        lines.extend(record_in_library(
            library_dir,
            &self.library,
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
        // A file named without an audio file's extension is probed now, so that what is not
        // audio is named at once and never queued or copied (an audio file is not read twice:
        // its first bytes are read once, by its copy).
        Ok(Found::Miss) if !inputs::looks_like_audio(given) => match crate::cache::probe(given) {
            Ok(_) => Ok(stream(None)),
            Err(e) => Err(Look::File(e)),
        },
        Ok(Found::Miss) => Ok(stream(None)),
        Err(e) if e.is_about_the_file() => Err(Look::File(match e {
            CacheError::File(fe) => fe,
            other => FileError::new(given, FileErrorKind::Io(other.to_string())),
        })),
        Err(e) => Err(Look::Cache(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reordered_queue_keeps_each_file_with_its_copy() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(Cache::open_dir(dir.path().join("cache")).unwrap());
        let files: Vec<PathBuf> = ["a.wav", "b.wav", "c.wav"]
            .iter()
            .map(|n| {
                let p = dir.path().join(n);
                fs::write(&p, n.as_bytes()).unwrap();
                p
            })
            .collect();
        let mut s = Session::open(cache.clone());
        let added = s.add(look_up_all(&cache, &files));
        assert_eq!(added.queued, files);
        // c moved first, a removed.
        s.reorder(&[2, 1]);
        assert_eq!(s.queue(), [files[2].clone(), files[1].clone()]);
        let by_path = s.shared.by_path.read().unwrap().clone();
        assert_eq!(s.entries[0].source, by_path[&files[2]]);
        assert_eq!(s.entries[1].source, by_path[&files[1]]);
        let slots: Vec<Option<usize>> = s.inputs.iter().map(|(_, r)| r.clone().ok()).collect();
        assert_eq!(slots, [Some(usize::MAX), Some(1), Some(0)]);
        // The engine moved b first; a file it does not hold yet stays last.
        s.add(look_up_all(&cache, &files[..1]));
        s.follow(&[files[1].clone(), files[2].clone()]);
        assert_eq!(
            s.queue(),
            [files[1].clone(), files[2].clone(), files[0].clone()]
        );
        s.end_streams(true, &|| true);
        s.finish(true, Some(dir.path()));
    }

    /// A second of a 48 kHz stereo tone, different per file (so each is its own object).
    fn tone(path: &Path, hz: f32) {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 48_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for n in 0..48_000 {
            let v = (f32::sin(n as f32 * hz * std::f32::consts::TAU / 48_000.0) * 8000.0) as i16;
            w.write_sample(v).unwrap();
            w.write_sample(v).unwrap();
        }
        w.finalize().unwrap();
    }

    #[test]
    fn files_no_engine_takes_are_still_copied_ahead_in_the_order_added() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(Cache::open_dir(dir.path().join("cache")).unwrap());
        let files: Vec<PathBuf> = (0..2)
            .map(|i| {
                let p = dir.path().join(format!("u{i}.wav"));
                tone(&p, 300.0 + 100.0 * i as f32);
                p
            })
            .collect();
        let mut s = Session::open(cache.clone());
        s.add(look_up_all(&cache, &files));
        let mut copied = Vec::new();
        while copied.len() < files.len() {
            match s.notices().recv_timeout(Duration::from_secs(30)) {
                Ok(Notice::FillEnded { source, .. }) => copied.push(source),
                Ok(_) => {}
                Err(e) => panic!("copied {copied:?} of {} files: {e}", files.len()),
            }
        }
        assert_eq!(copied, [0, 1]);
        s.end_streams(true, &|| true);
        s.finish(true, Some(dir.path()));
    }

    #[test]
    fn a_shuffled_queue_is_copied_ahead_in_the_order_it_will_play() {
        use crate::engine::mock::{MockConfig, mock};
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(Cache::open_dir(dir.path().join("cache")).unwrap());
        let files: Vec<PathBuf> = (0..8)
            .map(|i| {
                let p = dir.path().join(format!("t{i}.wav"));
                tone(&p, 200.0 + 50.0 * i as f32);
                p
            })
            .collect();
        // The device is never stepped: the decoder stays on the first track to play (longer
        // than the ring), and the prefetcher copies all the rest.
        let (backend, _device) = mock(MockConfig {
            rate: 48_000,
            channels: 2,
            period_frames: 512,
            device_latency_ns: 0,
        });
        let engine =
            Engine::start_with_backend(crate::engine::EngineConfig::default(), Box::new(backend))
                .unwrap();
        engine.send(Command::Shuffle(true));
        let mut s = Session::open(cache.clone());
        s.attach(&engine);
        let added = s.add(look_up_all(&cache, &files));
        engine.send(Command::Load(added.queued.clone()));

        let mut copied = Vec::new();
        while copied.len() < files.len() {
            match s.notices().recv_timeout(Duration::from_secs(30)) {
                Ok(Notice::FillEnded { source, end }) => {
                    assert!(matches!(end, FillEnd::Complete(_)), "{end:?}");
                    copied.push(source);
                }
                Ok(_) => {}
                Err(e) => panic!("copied {copied:?} of {} files: {e}", files.len()),
            }
        }
        let by_path = s.shared.by_path.read().unwrap().clone();
        let play_order: Vec<usize> = engine
            .play_order()
            .files()
            .iter()
            .map(|f| by_path[f])
            .collect();
        assert_eq!(copied, play_order, "copied in play order");
        drop(engine);
        s.end_streams(true, &|| true);
        s.finish(true, Some(dir.path()));
    }
}
