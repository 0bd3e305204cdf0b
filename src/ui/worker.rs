//! The cache worker: one thread that does what the window asks of the cache and may wait on
//! it, so the UI thread never waits on a file lock, a read or an fsync: looking up what is to
//! be queued (the session's [`look_up_all`]: folders expanded, hits pinned and quick-checked,
//! misses left to stream), recording plays, and managing the cache (list, stats, remove, cap).
//! Nothing is copied here: playing copies (src/session). Jobs come in on a crossbeam channel
//! and run one at a time, in order; reports go back on another, and each report wakes the
//! window (`request_repaint`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use eframe::egui;

use super::settings::Resume;
use crate::cache::{Cache, Entry, Stats};
use crate::session::{Batch, Plays, look_up_all};

/// What to do with the files once they are looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Only into the library.
    Library,
    /// Append to the queue.
    Queue,
    /// Append to the queue and play the first of them now.
    PlayNow,
    /// Replace the queue with them and play (`reel FILE...`).
    Replace,
    /// Restore the saved queue (append, do not play).
    Restore,
}

/// One queue entry: the user's file, as the engine plays it (through the session), and what
/// to show for it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    /// The file as the user knows it: what the engine's queue holds.
    pub source: PathBuf,
    /// The content hash of its cached copy, once known (a hit at once, a first play once its
    /// copy is committed).
    pub hash: Option<String>,
    /// Its cached copy, when it plays from one (cover art is read from it).
    pub object: Option<PathBuf>,
    pub title: String,
    pub artist: String,
    pub duration_secs: Option<f64>,
    pub cover_art: bool,
}

impl QueueItem {
    /// The item for `source`, from the cache's entry when it has one (tags read when it was
    /// copied), else named by its file until the library knows its tags.
    pub fn of(cache: &Cache, source: PathBuf, hash: Option<String>) -> QueueItem {
        let entry = hash.as_deref().and_then(|h| cache.entry(h));
        match entry {
            Some(e) => QueueItem {
                object: Some(cache.object_path(&e)),
                hash,
                title: display_title(&e),
                artist: e.tags.artist.clone().unwrap_or_default(),
                duration_secs: e.duration_secs,
                cover_art: e.tags.cover_art,
                source,
            },
            None => QueueItem {
                title: crate::library::title_or_stem(None, &source),
                hash,
                object: None,
                artist: String::new(),
                duration_secs: None,
                cover_art: false,
                source,
            },
        }
    }

    /// Fills in what the library knows of the track (its tags), where the cache did not.
    pub fn learn(&mut self, t: &crate::library::Track) {
        if self.object.is_none() {
            self.title = t.display_title();
            self.artist = t.artist.clone().unwrap_or_default();
            self.duration_secs = t.duration_secs;
            self.cover_art = t.has_cover;
        }
    }
}

/// The title tag, else the file name without its extension.
pub fn display_title(e: &Entry) -> String {
    crate::library::title_or_stem(e.tags.title.as_deref(), Path::new(&e.name))
}

#[derive(Debug)]
pub enum Job {
    /// Look files and folders up for the queue (folders recursively, audio files only).
    LookUp {
        paths: Vec<PathBuf>,
        then: Then,
    },
    /// Restore a queue saved by an older reel as the cache's hashes: looked up as the files
    /// those copies were made from (`resume`: the hash and position it was at).
    RestoreHashes {
        hashes: Vec<String>,
        resume: Option<(String, f64)>,
    },
    /// Record plays in the cache's index and the library: sent when audio stops, never
    /// while it flows.
    RecordPlays(Plays),
    /// Drop every pin and pin these (the queue changed).
    Repin(Vec<String>),
    Remove(Vec<String>),
    SetMaxSize(u64),
    Refresh,
}

#[derive(Debug)]
pub enum Report {
    /// Looked up: for the session to queue, with an item to show for each file it queues.
    Looked {
        batch: Box<Batch>,
        items: Vec<QueueItem>,
        then: Then,
    },
    Library {
        entries: Arc<Vec<Entry>>,
        stats: Option<Stats>,
        max_size_bytes: u64,
    },
    /// Where a queue restored by [`Job::RestoreHashes`] was (sent before it is looked up).
    ResumeAt(Resume),
    /// A line for the error banner.
    Error(String),
}

pub struct Worker {
    tx: Option<Sender<Job>>,
    pub reports: Receiver<Report>,
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Jobs sent and not yet finished (while any is, the window keeps repainting).
    busy: Arc<std::sync::atomic::AtomicUsize>,
}

impl Worker {
    /// `library_dir`: the library plays are recorded in (`None`: the default one).
    pub fn start(cache: Arc<Cache>, ctx: egui::Context, library_dir: Option<PathBuf>) -> Worker {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let (rtx, reports) = crossbeam_channel::unbounded::<Report>();
        let cancel = Arc::new(AtomicBool::new(false));
        let busy = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let thread = {
            let (cancel, busy) = (cancel.clone(), busy.clone());
            std::thread::Builder::new()
                .name("reel-cache-worker".into())
                .spawn(move || {
                    let mut w = Running {
                        cache,
                        out: rtx,
                        ctx,
                        cancel,
                        library_dir,
                    };
                    for job in rx {
                        // Once closing, only the jobs that save something still run.
                        let closing = w.cancel.load(Ordering::SeqCst);
                        if !closing || matches!(job, Job::RecordPlays(_) | Job::Repin(_)) {
                            w.run(job);
                        }
                        busy.fetch_sub(1, Ordering::SeqCst);
                        w.ctx.request_repaint();
                    }
                })
                .ok()
        };
        Worker {
            tx: Some(tx),
            reports,
            cancel,
            thread,
            busy,
        }
    }

    pub fn send(&self, job: Job) {
        if let Some(tx) = &self.tx {
            self.busy.fetch_add(1, Ordering::SeqCst);
            if tx.send(job).is_err() {
                self.busy.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Jobs waiting or running.
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst) > 0
    }

    /// Finish the job in hand and the plays to record; with `cancel`, skip the rest. Then the
    /// thread exits and is joined.
    pub fn shutdown(&mut self, cancel: bool) {
        if cancel {
            self.cancel.store(true, Ordering::SeqCst);
        }
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shutdown(true);
    }
}

struct Running {
    cache: Arc<Cache>,
    out: Sender<Report>,
    ctx: egui::Context,
    cancel: Arc<AtomicBool>,
    library_dir: Option<PathBuf>,
}

impl Running {
    fn send(&self, r: Report) {
        let _ = self.out.send(r);
        self.ctx.request_repaint();
    }

    fn run(&mut self, job: Job) {
        match job {
            Job::RestoreHashes { hashes, resume } => {
                let file_of = |h: &str| {
                    self.cache
                        .entry(h)
                        .and_then(|e| e.original().map(Path::to_path_buf))
                };
                // Copies evicted or removed since are dropped quietly, as restoring always did.
                let paths: Vec<PathBuf> = hashes.iter().filter_map(|h| file_of(h)).collect();
                if let Some((file, position_ms)) =
                    resume.and_then(|(h, at)| file_of(&h).map(|f| (f, at)))
                {
                    self.send(Report::ResumeAt(Resume { file, position_ms }));
                }
                self.run(Job::LookUp {
                    paths,
                    then: Then::Restore,
                });
            }
            Job::LookUp { paths, then } => {
                let batch = look_up_all(&self.cache, &paths);
                let items = batch
                    .files()
                    .into_iter()
                    .map(|(file, hash)| QueueItem::of(&self.cache, file, hash))
                    .collect();
                self.send(Report::Looked {
                    batch: Box::new(batch),
                    items,
                    then,
                });
            }
            Job::RecordPlays(plays) => {
                for line in plays.record(&self.cache, self.library_dir.as_deref()) {
                    self.send(Report::Error(line));
                }
                // The library view shows play counts: list again.
                self.refresh();
            }
            Job::Repin(hashes) => {
                self.cache.unpin_all();
                if let Err(e) = self.cache.pin(&hashes) {
                    self.send(Report::Error(e.to_string()));
                }
            }
            Job::Remove(hashes) => {
                for r in self.cache.remove(&hashes) {
                    if let Err(e) = r {
                        self.send(Report::Error(e.to_string()));
                    }
                }
                self.refresh();
            }
            Job::SetMaxSize(bytes) => {
                if let Err(e) = self.cache.set_max_size(bytes) {
                    self.send(Report::Error(e.to_string()));
                }
                self.refresh();
            }
            Job::Refresh => self.refresh(),
        }
    }

    fn refresh(&mut self) {
        if self.cancel.load(Ordering::SeqCst) {
            return;
        }
        match self.cache.list() {
            Ok(entries) => {
                let stats = self.cache.stats().ok();
                let max_size_bytes = self.cache.settings().max_size_bytes;
                self.send(Report::Library {
                    entries: Arc::new(entries),
                    stats,
                    max_size_bytes,
                });
            }
            Err(e) => self.send(Report::Error(e.to_string())),
        }
    }
}
