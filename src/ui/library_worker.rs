//! The window's library worker: one thread of its own (`reel-library`) owns the library's
//! database connection and does everything that touches it (listing, scanning a folder,
//! removing tracks) and asks the cache what is cached, so the UI thread never waits on SQLite
//! or the disk. Jobs come in over a crossbeam channel; reports go back over another, and each
//! one wakes the window.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use eframe::egui;

use crate::cache::{Cache, Entry};
use crate::engine::analysis::{Analysis, Waveform};
use crate::library::{AddOptions, CacheView, Library, Query, Track};

/// A scan reports its progress at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub enum LibraryJob {
    /// List again: the cache changed (which tracks are cached), and this is what it holds
    /// now (`None`: ask it).
    Refresh(Option<Arc<Vec<Entry>>>),
    /// Scan these files and folders into the library. `quiet`: they are being imported into
    /// the cache at the same time, which reports on them; only the progress is reported.
    Add { paths: Vec<PathBuf>, quiet: bool },
    /// Remove these tracks from the library (not their files, not their cached copies).
    Remove(Vec<PathBuf>),
    /// Store the loudness scan the decoder made while the track at `source` played (its
    /// first play), if the file is still the one measured.
    StoreAnalysis {
        source: PathBuf,
        analysis: Box<Analysis>,
    },
    /// The waveform summary of the track at `source` (or of content `hash`), for the seek
    /// bar: answered by [`LibraryReport::Waveform`], without listing again.
    Waveform { source: PathBuf, hash: String },
}

#[derive(Debug)]
pub enum LibraryReport {
    /// The whole library, with cached and missing marks.
    Tracks(Arc<Vec<Track>>),
    /// A scan in progress: files looked at of the files found.
    Progress {
        done: usize,
        total: usize,
    },
    /// A scan ended: its summary line, and one line per file that could not be added (none
    /// for a quiet one).
    Scanned {
        summary: Option<String>,
        errors: Vec<String>,
    },
    Error(String),
    /// The background loudness scan stored another track's figures and waveform (or ended):
    /// a waveform asked for in vain may be there now.
    LoudnessStored,
    /// The waveform summary asked for by [`LibraryJob::Waveform`], read back here (not on
    /// the UI thread); `None` when the track is not scanned (yet).
    Waveform {
        hash: String,
        wave: Option<Arc<Waveform>>,
    },
}

pub struct LibraryWorker {
    tx: Option<Sender<LibraryJob>>,
    pub reports: Receiver<LibraryReport>,
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Jobs sent and not yet done (the first listing counts as one).
    busy: Arc<AtomicUsize>,
}

impl LibraryWorker {
    /// Starts the thread; it opens the library at `dir` (`None`: `$REEL_LIBRARY_DIR` or the
    /// user's data directory) and lists it.
    pub fn start(dir: Option<PathBuf>, cache: Arc<Cache>, ctx: egui::Context) -> LibraryWorker {
        let (tx, rx) = crossbeam_channel::unbounded::<LibraryJob>();
        let (rtx, reports) = crossbeam_channel::unbounded::<LibraryReport>();
        let cancel = Arc::new(AtomicBool::new(false));
        let stop = cancel.clone();
        let busy = Arc::new(AtomicUsize::new(1));
        let pending = busy.clone();
        let thread = std::thread::Builder::new()
            .name("reel-library".into())
            .spawn(move || {
                let send = |r: LibraryReport| {
                    let _ = rtx.send(r);
                    ctx.request_repaint();
                };
                let mut lib = match Library::open(dir.as_deref()) {
                    Ok(l) => l,
                    Err(e) => {
                        pending.store(0, Ordering::SeqCst);
                        send(LibraryReport::Error(e.to_string()));
                        return;
                    }
                };
                list(&mut lib, &cache, None, &send);
                pending.fetch_sub(1, Ordering::SeqCst);
                let mut loudness: Option<JoinHandle<()>> = None;
                for job in rx {
                    let mut entries = None;
                    match job {
                        LibraryJob::Refresh(e) => entries = e,
                        LibraryJob::Add { paths, quiet } => {
                            let skip = vec![cache.dir().to_path_buf()];
                            scan(&mut lib, &paths, skip, quiet, &stop, &send);
                            if loudness.as_ref().is_none_or(|t| t.is_finished()) {
                                loudness = scan_loudness(
                                    lib.dir().to_path_buf(),
                                    stop.clone(),
                                    rtx.clone(),
                                    ctx.clone(),
                                );
                            }
                        }
                        LibraryJob::StoreAnalysis { source, analysis } => {
                            if let Err(e) = lib.store_analysis_of(&source, &analysis)
                                && !e.is_about_the_file()
                            {
                                send(LibraryReport::Error(e.to_string()));
                            }
                            send(LibraryReport::LoudnessStored);
                            pending.fetch_sub(1, Ordering::SeqCst);
                            continue;
                        }
                        LibraryJob::Waveform { source, hash } => {
                            let canon = std::fs::canonicalize(&source).unwrap_or(source);
                            let wave = lib
                                .waveform(&canon, Some(&hash))
                                .ok()
                                .flatten()
                                .and_then(|b| Waveform::from_bytes(&b))
                                .map(Arc::new);
                            send(LibraryReport::Waveform { hash, wave });
                            pending.fetch_sub(1, Ordering::SeqCst);
                            continue;
                        }
                        LibraryJob::Remove(paths) => {
                            for r in lib.remove(&paths) {
                                if let Err(e) = r {
                                    send(LibraryReport::Error(e.to_string()));
                                }
                            }
                        }
                    }
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    list(
                        &mut lib,
                        &cache,
                        entries.as_deref().map(Vec::as_slice),
                        &send,
                    );
                    pending.fetch_sub(1, Ordering::SeqCst);
                }
                if let Some(t) = loudness {
                    let _ = t.join();
                }
            })
            .ok();
        LibraryWorker {
            tx: Some(tx),
            reports,
            cancel,
            thread,
            busy,
        }
    }

    pub fn send(&self, job: LibraryJob) {
        if let Some(tx) = &self.tx {
            self.busy.fetch_add(1, Ordering::SeqCst);
            if tx.send(job).is_err() {
                self.busy.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// A job is waiting or running (a scan, a listing).
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst) > 0
    }

    /// Stops a scan in progress (it saves what it read) and waits for the thread.
    pub fn shutdown(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LibraryWorker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Lists the library, marked from `entries` (what the cache holds) or, without them, from
/// the cache's index read now.
fn list(
    lib: &mut Library,
    cache: &Cache,
    entries: Option<&[Entry]>,
    send: &impl Fn(LibraryReport),
) {
    let mut tracks = match lib.list(&Query::default()) {
        Ok(t) => t,
        Err(e) => return send(LibraryReport::Error(e.to_string())),
    };
    let view = match entries {
        Some(e) => Ok(CacheView::from_entries(e)),
        None => CacheView::of(cache),
    };
    let marked = match view {
        Ok(view) => lib.mark_cached(&mut tracks, &view),
        Err(e) => Err(crate::error::LibraryError::Db {
            dir: lib.dir().to_path_buf(),
            why: e.to_string(),
            doing: "while asking the cache what is cached".into(),
        }),
    };
    if let Err(e) = marked.and_then(|()| lib.check_sources(&mut tracks)) {
        send(LibraryReport::Error(e.to_string()));
    }
    send(LibraryReport::Tracks(Arc::new(tracks)));
}

/// The loudness scan of what the add left unscanned (library/loudness.rs), on a thread of its
/// own (`reel-loudness`) with its own connection, so that listing and the seek bar's
/// waveforms are not held up by minutes of decoding; SQLite (WAL) lets both write. Closing the
/// window (`stop`) ends it between two blocks of audio, keeping what was stored.
fn scan_loudness(
    dir: PathBuf,
    stop: Arc<AtomicBool>,
    reports: Sender<LibraryReport>,
    ctx: egui::Context,
) -> Option<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("reel-loudness".into())
        .spawn(move || {
            let stored = || {
                let _ = reports.send(LibraryReport::LoudnessStored);
                ctx.request_repaint();
            };
            if let Ok(mut lib) = Library::open_dir(dir) {
                // Called before each track: the one before it is stored by then.
                let _ = lib.scan_loudness(Some(&stop), &mut |p| {
                    if p.done > 0 {
                        stored();
                    }
                });
                stored();
            }
        })
        .ok()
}

fn scan(
    lib: &mut Library,
    paths: &[PathBuf],
    skip_dirs: Vec<PathBuf>,
    quiet: bool,
    stop: &AtomicBool,
    send: &impl Fn(LibraryReport),
) {
    let opts = AddOptions {
        cancel: Some(stop),
        skip_dirs,
    };
    let mut last = None::<Instant>;
    let report = lib.add(paths, &opts, &mut |p| {
        if last.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY) || p.files_done == p.files_total {
            last = Some(Instant::now());
            send(LibraryReport::Progress {
                done: p.files_done,
                total: p.files_total,
            });
        }
    });
    let mut errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    if let Some(e) = &report.stopped {
        errors.push(e.to_string());
    }
    if quiet {
        send(LibraryReport::Scanned {
            summary: None,
            errors: Vec::new(),
        });
    } else {
        send(LibraryReport::Scanned {
            summary: Some(report.summary()),
            errors,
        });
    }
}
