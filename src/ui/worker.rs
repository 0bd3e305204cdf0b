//! The cache worker: one thread that does everything the window asks of the cache (import with
//! progress, pin, list, stats, remove, cap), so the UI thread never waits on a file lock, a
//! copy or an fsync. Jobs come in on a crossbeam channel and run one at a time, in order;
//! reports go back on another, and each report wakes the window (`request_repaint`).
//!
//! Closing the window sets the cancel flag: an import in progress stops between two chunks and
//! removes its temp file (the cache's own guarantee), so nothing half-written is left.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use eframe::egui;

use crate::cache::{Cache, Entry, ImportOptions, Stats};
use crate::error::CacheError;

/// Progress reports are sent at most this often (a copy calls back for every chunk).
const PROGRESS_EVERY: Duration = Duration::from_millis(50);

/// What to do with the files once they are in the cache.
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

/// One queue entry: a cached object and what to show for it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    pub hash: String,
    /// The cached object the engine plays.
    pub object: PathBuf,
    /// The file as the user knows it (first original path).
    pub source: PathBuf,
    pub title: String,
    pub artist: String,
    pub duration_secs: Option<f64>,
    pub cover_art: bool,
}

impl QueueItem {
    pub fn of(cache: &Cache, e: &Entry) -> QueueItem {
        QueueItem {
            hash: e.hash.clone(),
            object: cache.object_path(e),
            source: e
                .original()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(&e.name)),
            title: display_title(e),
            artist: e.tags.artist.clone().unwrap_or_default(),
            duration_secs: e.duration_secs,
            cover_art: e.tags.cover_art,
        }
    }
}

/// The title tag, else the file name without its extension.
pub fn display_title(e: &Entry) -> String {
    match &e.tags.title {
        Some(t) if !t.trim().is_empty() => t.clone(),
        _ => Path::new(&e.name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| e.name.clone()),
    }
}

#[derive(Debug)]
pub enum Job {
    /// Import files and folders (folders recursively, audio files only).
    Import {
        paths: Vec<PathBuf>,
        then: Then,
    },
    /// Pin cached objects by hash and hand them back as queue items.
    Enqueue {
        hashes: Vec<String>,
        then: Then,
    },
    /// Drop every pin and pin these (the queue changed).
    Repin(Vec<String>),
    /// Record plays (hash, when) in the index: sent when audio stops, never while it flows.
    RecordPlayed(Vec<(String, u64)>),
    Remove(Vec<String>),
    SetMaxSize(u64),
    Refresh,
}

#[derive(Debug)]
pub enum Report {
    Progress {
        file: PathBuf,
        done: u64,
        total: u64,
    },
    /// Import or enqueue finished.
    Ready {
        items: Vec<QueueItem>,
        then: Then,
        /// One line per file that could not be added, naming it and why.
        errors: Vec<String>,
        skipped_non_audio: usize,
    },
    Library {
        entries: Arc<Vec<Entry>>,
        stats: Option<Stats>,
        max_size_bytes: u64,
    },
    /// A line for the error banner.
    Error(String),
}

pub struct Worker {
    tx: Option<Sender<Job>>,
    pub reports: Receiver<Report>,
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Jobs sent and not yet finished (imports in progress keep the window repainting).
    busy: Arc<std::sync::atomic::AtomicUsize>,
}

impl Worker {
    pub fn start(cache: Arc<Cache>, ctx: egui::Context) -> Worker {
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
                    };
                    for job in rx {
                        // Once closing, only the jobs that save something still run.
                        let closing = w.cancel.load(Ordering::SeqCst);
                        if !closing || matches!(job, Job::RecordPlayed(_) | Job::Repin(_)) {
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

    /// Finish the job in hand and the queued ones, but stop an import early (nothing is left
    /// half-written). Then the thread exits and is joined.
    pub fn shutdown(&mut self, cancel_imports: bool) {
        if cancel_imports {
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
}

impl Running {
    fn send(&self, r: Report) {
        let _ = self.out.send(r);
        self.ctx.request_repaint();
    }

    fn run(&mut self, job: Job) {
        match job {
            Job::Import { paths, then } => self.import(paths, then),
            Job::Enqueue { hashes, then } => self.enqueue(hashes, then),
            Job::Repin(hashes) => {
                self.cache.unpin_all();
                if let Err(e) = self.cache.pin(&hashes) {
                    self.send(Report::Error(e.to_string()));
                }
            }
            Job::RecordPlayed(plays) => {
                if let Err(e) = self.cache.record_played(&plays) {
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

    fn import(&mut self, paths: Vec<PathBuf>, then: Then) {
        let mut last = Instant::now() - PROGRESS_EVERY;
        let out = self.out.clone();
        let ctx = self.ctx.clone();
        let opts = ImportOptions {
            recursive: true,
            // What is about to be queued is pinned at once, so no other reel evicts it.
            pin: then != Then::Library,
            cancel: Some(&self.cancel),
        };
        let report = self.cache.import(&paths, opts, &mut |p| {
            if last.elapsed() >= PROGRESS_EVERY || p.done == p.total {
                last = Instant::now();
                let _ = out.send(Report::Progress {
                    file: p.file.to_path_buf(),
                    done: p.done,
                    total: p.total,
                });
                ctx.request_repaint();
            }
        });
        let mut items = Vec::new();
        let mut errors = Vec::new();
        for r in report.results {
            match r {
                Ok(imp) => match self.cache.entry(&imp.hash) {
                    Some(e) => {
                        let mut item = QueueItem::of(&self.cache, &e);
                        item.source = imp.path;
                        items.push(item);
                    }
                    None => errors.push(format!(
                        "{}: imported, but gone from the cache again (evicted by another reel?)",
                        imp.path.display()
                    )),
                },
                Err(e) => errors.push(e.to_string()),
            }
        }
        if let Some(e) = report.stopped
            && e != CacheError::Interrupted
        {
            errors.push(e.to_string());
        }
        self.send(Report::Ready {
            items,
            then,
            errors,
            skipped_non_audio: report.skipped_non_audio,
        });
        self.refresh();
    }

    fn enqueue(&mut self, hashes: Vec<String>, then: Then) {
        let mut items = Vec::new();
        let mut errors = Vec::new();
        let known: Vec<String> = hashes
            .iter()
            .filter(|h| self.cache.entry(h).is_some())
            .cloned()
            .collect();
        if let Err(e) = self.cache.pin(&known) {
            errors.push(e.to_string());
        }
        for h in &hashes {
            match self.cache.entry(h) {
                Some(e) if self.cache.quick_check(h) => items.push(QueueItem::of(&self.cache, &e)),
                Some(e) => errors.push(format!(
                    "{}: the cached copy is damaged; add the file again",
                    e.original().unwrap_or(Path::new(&e.name)).display()
                )),
                // A saved queue entry that was evicted or removed since: dropped quietly when
                // restoring, said otherwise.
                None if then == Then::Restore => {}
                None => errors.push(format!("{h}: no longer in the cache")),
            }
        }
        self.send(Report::Ready {
            items,
            then,
            errors,
            skipped_non_audio: 0,
        });
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
