//! The headless commands. `main.rs` parses arguments and calls these; they return the process
//! exit code and print one clear line per problem.

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cache::commands::ProgressBar;
use crate::cache::{Cache, Imported};
use crate::engine::pipeline::{OutputFormat, Pipeline};
use crate::engine::{
    Command, Engine, EngineConfig, Event, MeterSnapshot, OutputRequest, TrackRecord,
};
use crate::error::{CacheError, FileError, FileErrorKind, OutputError};
use crate::metrics_log::{MetricsLog, Startup};

/// Exit codes.
pub const EXIT_OK: i32 = 0;
/// At least one file could not be played (the others were).
pub const EXIT_FILE_ERROR: i32 = 1;
/// No usable audio output.
pub const EXIT_NO_DEVICE: i32 = 3;
/// Could not write an output file (decode, metrics log).
pub const EXIT_WRITE_ERROR: i32 = 4;
/// The cache cannot be used (another user's, unwritable, full): see README, "Cache".
pub const EXIT_CACHE: i32 = crate::cache::commands::EXIT_CACHE;
/// Exit code: the window could not open (no display, or the display refused).
pub const EXIT_NO_DISPLAY: i32 = 6;

/// What `reel` / `reel FILE...` / `reel play FILE...` asked of the window.
#[derive(Debug, Default)]
pub struct GuiOptions {
    /// Imported, queued (replacing the saved queue) and played at start.
    pub files: Vec<PathBuf>,
    /// `--device`, `--buffer-ms`, `--period` when given: override the saved settings.
    pub device: Option<String>,
    pub ring_ms: Option<u32>,
    pub period_frames: Option<u32>,
    pub volume: Option<f32>,
    /// Start the first file here.
    pub start: Option<Duration>,
    /// `--metrics-log FILE`: JSON Lines with the meters and `ui_frames`.
    pub metrics_log: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    /// `--library-dir`: the library the window shows.
    pub library_dir: Option<PathBuf>,
}

/// Metrics log period.
pub const METRICS_EVERY: Duration = Duration::from_millis(100);
/// The play loop's wait when it has nothing to tick for: any long time (events and signals end
/// it early), short enough that `Instant + IDLE_WAIT` cannot overflow.
const IDLE_WAIT: Duration = Duration::from_secs(3600);

pub struct PlayOptions {
    pub files: Vec<PathBuf>,
    pub output: OutputRequest,
    pub metrics_log: Option<PathBuf>,
    pub volume: Option<f32>,
    /// Start the first file at this position.
    pub start: Option<Duration>,
    /// `--cache-dir`; `None`: `$REEL_CACHE_DIR` or the user's cache directory.
    pub cache_dir: Option<PathBuf>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn say(msg: impl std::fmt::Display) {
    eprintln!("reel: {msg}");
}

/// `reel play --no-gui FILE...`
///
/// Every file is first brought into the cache (copied, or found there unchanged) and pinned,
/// so no other reel evicts it while it plays or waits in the queue; the engine then plays the
/// cached objects. Errors still name the files as given, and the metrics log and the status
/// line show them too. A file that cannot be cached fails alone (one line, exit 1) unless the
/// cache itself fails (refused, full, read-only: one line, exit 5).
pub fn play(opts: PlayOptions) -> i32 {
    let interrupted = Arc::new(AtomicBool::new(false));
    let (int_tx, int_rx) = crossbeam_channel::bounded::<()>(1);
    {
        let flag = interrupted.clone();
        // SIGINT (Ctrl-C) stops cleanly: the main loop sees it within one tick.
        let _ = ctrlc::set_handler(move || {
            flag.store(true, Ordering::SeqCst);
            let _ = int_tx.try_send(());
        });
    }
    let mut log = match &opts.metrics_log {
        Some(p) => match MetricsLog::create(p) {
            Ok(l) => Some(l),
            Err(e) => {
                say(format!("{}: cannot write metrics log: {e}", p.display()));
                return EXIT_WRITE_ERROR;
            }
        },
        None => None,
    };

    // Into the cache first, while the output opens: connecting to the sound server and
    // starting a stream takes tens of ms, as long as copying a large file, so the two overlap
    // (a cold start then costs the longer of them, not their sum).
    let launched = Instant::now();
    let output = opts.output.clone();
    let (cache, prep, engine, cache_ms, output_ms) = std::thread::scope(|scope| {
        let opening = std::thread::Builder::new()
            .name("reel-open-output".into())
            .spawn_scoped(scope, move || {
                let r = Engine::start(EngineConfig {
                    output,
                    require_device: true,
                });
                (r, launched.elapsed())
            });
        let cache = Cache::open(opts.cache_dir.as_deref()).map(Arc::new);
        let prep = cache.as_ref().ok().map(|cache| {
            let mut bar = ProgressBar::on_stderr();
            let prep = cache.prepare_play(&opts.files, Some(&interrupted), &mut |p| bar.update(p));
            bar.clear();
            prep
        });
        let cache_ms = ms(launched.elapsed());
        let (engine, output_ms) = match opening {
            Ok(h) => h.join().unwrap_or_else(|_| {
                (
                    Err(OutputError::Unusable(
                        "opening it failed unexpectedly".into(),
                    )),
                    launched.elapsed(),
                )
            }),
            Err(e) => (
                Err(OutputError::Unusable(e.to_string())),
                launched.elapsed(),
            ),
        };
        (cache, prep, engine, cache_ms, ms(output_ms))
    });
    let cache = match cache {
        Ok(c) => c,
        Err(e) => {
            say(e);
            return EXIT_CACHE;
        }
    };
    let Some(prep) = prep else {
        return EXIT_CACHE;
    };
    if interrupted.load(Ordering::SeqCst) {
        return EXIT_OK;
    }
    if let Some(e) = prep.stopped {
        say(e);
        return EXIT_CACHE;
    }
    let plan = QueuePlan::new(opts.files.clone(), prep.results);

    let engine = match engine {
        Ok(e) => e,
        Err(e) => {
            say(e);
            return EXIT_NO_DEVICE;
        }
    };
    let mut errors: Vec<String> = Vec::new();
    for file in &prep.repaired {
        say(format!(
            "cache: the cached copy of {} was damaged; copied it again from the file",
            file.display()
        ));
    }
    for e in plan.failed.iter().flatten() {
        say(e);
        errors.push(e.to_string());
    }
    if let Some(v) = opts.volume {
        engine.send(Command::Volume(v));
    }
    let status_line = std::io::stderr().is_terminal();
    let mut next_tick = Instant::now() + METRICS_EVERY;
    let mut last_snapshot = MeterSnapshot::default();
    // Plays are recorded in the index when playback is over: no cache writes (and fsyncs)
    // while audio is flowing. What plays is pinned, so no other reel needs them sooner.
    let mut played: Vec<(String, u64)> = Vec::new();
    let mut verifier = None;
    let mut loaded_ms = None;
    if !plan.queue.is_empty() {
        loaded_ms = Some(ms(launched.elapsed()));
        engine.send(Command::Load(plan.queue.clone()));
        if let Some(start) = opts.start {
            engine.send(Command::Seek(start));
        }
        verifier = Some(Verifier::start(cache.clone(), &plan));
    }
    // The queue entry heard now, and the last one that started.
    let mut heard: Option<usize> = None;
    let mut last_started: Option<usize> = None;
    let mut skip_on_start: HashSet<usize> = HashSet::new();
    let mut engine_errors: HashMap<PathBuf, usize> = HashMap::new();
    let never = crossbeam_channel::never();
    let mut running = !plan.queue.is_empty();
    let mut verifying = true;
    // Ticks only feed the status line and the metrics log: with neither, the loop sleeps until
    // an event or a signal comes (a wakeup 10 times a second is a measurable share of playback
    // CPU, docs/PERFORMANCE.md §2).
    let ticking = status_line || log.is_some();
    while running {
        let timeout = if ticking {
            next_tick.saturating_duration_since(Instant::now())
        } else {
            IDLE_WAIT
        };
        // Once the verifier is done its channel is closed, and a closed channel is always
        // ready: select on it only while it is open, or this loop spins.
        let corrupt_rx = match &verifier {
            Some(v) if verifying => &v.corrupt,
            _ => &never,
        };
        // What to do about queue entry `i` that must not play on: skip it, or stop if it is
        // the last one.
        let skip = |i: usize| {
            if i + 1 < plan.queue.len() {
                engine.send(Command::Next);
                false
            } else {
                engine.send(Command::Stop);
                true
            }
        };
        crossbeam_channel::select! {
            recv(engine.events()) -> ev => match ev {
                Ok(Event::TrackStarted { index, .. }) => {
                    heard = Some(index);
                    last_started = Some(index);
                    if let Some(v) = &verifier {
                        v.go();
                    }
                    if skip_on_start.contains(&index) {
                        if skip(index) {
                            break;
                        }
                    } else if let Some(h) = plan.hashes.get(index) {
                        played.push((h.clone(), crate::cache::now_ms()));
                    }
                }
                Ok(Event::TrackEnded { index }) => {
                    if heard == Some(index) {
                        heard = None;
                    }
                }
                Ok(Event::FileError(e)) => {
                    let n = engine_errors.entry(e.path.clone()).or_insert(0);
                    let index = plan.queue_index_of(&e.path, *n);
                    *n += 1;
                    let corrupt = index.is_some_and(|i| {
                        verifier.as_ref().is_some_and(|v| v.is_corrupt(&plan.hashes[i]))
                    });
                    if !corrupt {
                        let e = plan.original_error(e, index);
                        if status_line { eprint!("\r\x1b[K"); }
                        say(&e);
                        errors.push(e.to_string());
                    }
                }
                Ok(Event::DeviceLost(why)) => {
                    if status_line { eprint!("\r\x1b[K"); }
                    say(format!("audio output lost: {why}; waiting for it to come back"));
                }
                Ok(Event::DeviceReady { device }) => {
                    if status_line { eprint!("\r\x1b[K"); }
                    say(format!("audio output back on {device}; resuming"));
                }
                Ok(Event::QueueFinished) | Err(_) => running = false,
                Ok(_) => {}
            },
            recv(corrupt_rx) -> msg => if let Ok(hash) = msg {
                let entries: Vec<usize> =
                    (0..plan.queue.len()).filter(|&i| plan.hashes[i] == hash).collect();
                // Per file given: whether any of its entries is playing or still to come.
                let mut files: Vec<(PathBuf, bool)> = Vec::new();
                for &i in &entries {
                    let upcoming = if heard == Some(i) {
                        if skip(i) {
                            running = false;
                        }
                        true
                    } else if last_started.is_some_and(|s| i <= s) {
                        false
                    } else {
                        skip_on_start.insert(i);
                        true
                    };
                    let file = plan.file_path(i);
                    match files.iter_mut().find(|(f, _)| *f == file) {
                        Some((_, u)) => *u |= upcoming,
                        None => files.push((file, upcoming)),
                    }
                }
                for (file, upcoming) in files {
                    let line = corrupt_line(&file, upcoming);
                    if status_line { eprint!("\r\x1b[K"); }
                    say(&line);
                    errors.push(line);
                }
            } else {
                verifying = false;
            },
            recv(int_rx) -> _ => {}
            default(timeout) => {}
        }
        if interrupted.load(Ordering::SeqCst) {
            engine.send(Command::Stop);
            break;
        }
        if ticking && Instant::now() >= next_tick {
            next_tick += METRICS_EVERY;
            let snap = plan.show(engine.snapshot());
            if let Some(log) = &mut log
                && let Err(e) = log.sample(&snap)
            {
                say(format!("metrics log: {e}"));
                return EXIT_WRITE_ERROR;
            }
            if status_line {
                eprint!("\r\x1b[K{}", status_text(&snap));
                let _ = std::io::stderr().flush();
            }
            last_snapshot = snap;
        }
    }
    if status_line && !plan.queue.is_empty() {
        eprintln!("\r\x1b[K{}", status_text(&last_snapshot));
    }
    let snap = plan.show(engine.snapshot());
    let tracks = plan.tracks(engine.tracks());
    let episodes = engine.episodes();
    engine.shutdown();
    if let Some(v) = verifier {
        // Corrupt objects found after their track was over: still said, and removed.
        let mut named = HashSet::new();
        for hash in v.finish(interrupted.load(Ordering::SeqCst)) {
            for i in (0..plan.queue.len()).filter(|&i| plan.hashes[i] == hash) {
                let file = plan.file_path(i);
                if named.insert(file.clone()) {
                    let line = corrupt_line(&file, false);
                    say(&line);
                    errors.push(line);
                }
            }
        }
    }
    if let Err(e) = cache.record_played(&played) {
        say(e);
    }
    cache.unpin_all();
    if let Some(log) = &mut log {
        let _ = log.sample(&snap);
        let first_audio = tracks
            .first()
            .and_then(|t| t.time_to_first_audio_ms)
            .zip(loaded_ms)
            .map(|(ttfa, loaded)| loaded + ttfa);
        let startup = Startup {
            cache_ms,
            output_open_ms: output_ms,
            first_audio_since_launch_ms: first_audio,
        };
        if let Err(e) = log.summary(&snap, &tracks, &errors, &episodes, Some(&startup)) {
            say(format!("metrics log: {e}"));
            return EXIT_WRITE_ERROR;
        }
    }
    if errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_FILE_ERROR
    }
}

/// How the files given map onto the engine's queue of cached objects.
struct QueuePlan {
    /// The files given.
    files: Vec<PathBuf>,
    /// The objects to play.
    queue: Vec<PathBuf>,
    /// Queue entry → index of the file given.
    origin: Vec<usize>,
    /// Queue entry → object hash.
    hashes: Vec<String>,
    /// Queue entry → whether it was a cache hit (only hits get the background full check: a
    /// fresh copy was hashed as it was written).
    hit: Vec<bool>,
    /// File given → its queue entry, or why it could not be cached.
    slots: Vec<Result<usize, CacheError>>,
    /// The errors of the files that could not be cached (`None` for the others).
    failed: Vec<Option<CacheError>>,
}

impl QueuePlan {
    fn new(files: Vec<PathBuf>, results: Vec<Result<Imported, CacheError>>) -> QueuePlan {
        let n = files.len();
        let mut plan = QueuePlan {
            files,
            queue: Vec::new(),
            origin: Vec::new(),
            hashes: Vec::new(),
            hit: Vec::new(),
            slots: Vec::new(),
            failed: Vec::new(),
        };
        for (i, r) in results.into_iter().enumerate().take(n) {
            match r {
                Ok(imp) => {
                    plan.slots.push(Ok(plan.queue.len()));
                    plan.failed.push(None);
                    plan.queue.push(imp.object);
                    plan.origin.push(i);
                    plan.hashes.push(imp.hash);
                    plan.hit.push(imp.hit);
                }
                Err(e) => {
                    plan.slots.push(Err(e.clone()));
                    plan.failed.push(Some(e));
                }
            }
        }
        plan
    }

    /// The queue entry that the `nth` engine error about `object` is about (errors come in
    /// queue order, so the nth error for an object queued twice is about its nth entry).
    fn queue_index_of(&self, object: &Path, nth: usize) -> Option<usize> {
        let entries: Vec<usize> = (0..self.queue.len())
            .filter(|&i| self.queue[i] == object)
            .collect();
        entries.get(nth).or(entries.last()).copied()
    }

    /// An engine error about an object, told about the file the user gave.
    fn original_error(&self, mut e: FileError, index: Option<usize>) -> FileError {
        if let Some(i) = index {
            e.path = self.file_path(i);
        }
        e
    }

    fn file_path(&self, queue_index: usize) -> PathBuf {
        self.files[self.origin[queue_index]].clone()
    }

    /// The meters as the user should see them: the file given, its index among the files
    /// given (as before the cache, so failed files keep their place).
    fn show(&self, mut snap: MeterSnapshot) -> MeterSnapshot {
        if let Some(t) = snap.track
            && let Some(&o) = self.origin.get(t)
        {
            snap.track = Some(o);
            snap.track_path = Some(self.files[o].display().to_string());
        }
        snap
    }

    /// One record per file given, in order: the engine's for the files that were queued
    /// (with the file's own path), an error record for the ones that could not be cached.
    fn tracks(&self, engine: Vec<TrackRecord>) -> Vec<TrackRecord> {
        self.files
            .iter()
            .zip(&self.slots)
            .map(|(file, slot)| match slot {
                Ok(qi) => {
                    let mut t = engine.get(*qi).cloned().unwrap_or(TrackRecord {
                        path: file.clone(),
                        info: None,
                        error: None,
                        time_to_first_audio_ms: None,
                        frames_decoded: 0,
                    });
                    t.path = file.clone();
                    if let Some(e) = &mut t.error {
                        e.path = file.clone();
                    }
                    t
                }
                Err(e) => TrackRecord {
                    path: file.clone(),
                    info: None,
                    error: Some(match e {
                        CacheError::File(fe) => fe.clone(),
                        other => FileError::new(file, FileErrorKind::Io(other.to_string())),
                    }),
                    time_to_first_audio_ms: None,
                    frames_decoded: 0,
                },
            })
            .collect()
    }
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

/// The full check of cached copies during play. Before a hit plays, only its size and its
/// first and last 64 KiB are checked (README, "Cache": a full hash of a 100 MB file before
/// playing would cost about 100 ms of time to first audio). Once the first track is heard,
/// this thread re-hashes every hit in queue order, at low priority; a corrupt one is removed
/// from the cache and reported, and the player skips it (or stops it, if it is playing).
struct Verifier {
    go: Option<crossbeam_channel::Sender<()>>,
    stop: Arc<AtomicBool>,
    corrupt: crossbeam_channel::Receiver<String>,
    flagged: Arc<Mutex<HashSet<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Verifier {
    fn start(cache: Arc<Cache>, plan: &QueuePlan) -> Verifier {
        let mut todo: Vec<String> = Vec::new();
        for (i, h) in plan.hashes.iter().enumerate() {
            if plan.hit[i] && !todo.contains(h) {
                todo.push(h.clone());
            }
        }
        let (go_tx, go_rx) = crossbeam_channel::bounded::<()>(1);
        let (corrupt_tx, corrupt) = crossbeam_channel::unbounded::<String>();
        let stop = Arc::new(AtomicBool::new(false));
        let flagged = Arc::new(Mutex::new(HashSet::new()));
        let thread = {
            let (stop, flagged) = (stop.clone(), flagged.clone());
            std::thread::Builder::new()
                .name("reel-cache-verify".into())
                .spawn(move || {
                    if todo.is_empty() || go_rx.recv().is_err() {
                        return;
                    }
                    // Behind the decoder and everything else.
                    // SAFETY: plain syscalls on this thread's own id.
                    unsafe {
                        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
                    }
                    for hash in todo {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        if cache.entry(&hash).is_some() && !cache.full_check(&hash) {
                            // Flag it before removing it, so the engine's "not found" for a
                            // track it had not opened yet is known for what it is.
                            flagged
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(hash.clone());
                            let _ = cache.discard(&hash);
                            let _ = corrupt_tx.send(hash);
                        }
                    }
                })
                .ok()
        };
        Verifier {
            go: Some(go_tx),
            stop,
            corrupt,
            flagged,
            thread,
        }
    }

    /// Audio is playing: start checking.
    fn go(&self) {
        if let Some(tx) = &self.go {
            let _ = tx.try_send(());
        }
    }

    fn is_corrupt(&self, hash: &str) -> bool {
        self.flagged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(hash)
    }

    /// Lets a started check finish (unless `interrupted`); returns the corrupt objects not
    /// yet received.
    fn finish(mut self, interrupted: bool) -> Vec<String> {
        if interrupted {
            self.stop.store(true, Ordering::Relaxed);
        }
        drop(self.go.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.corrupt.try_iter().collect()
    }
}

fn clock(ms: f64) -> String {
    let s = (ms / 1000.0).max(0.0) as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// The one-line terminal status: position, ring fill, latency and underruns.
pub fn status_text(s: &MeterSnapshot) -> String {
    let name = s
        .track_path
        .as_deref()
        .and_then(|p| Path::new(p).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let total = s.duration_ms.map(clock).unwrap_or_else(|| "?".into());
    format!(
        "{} {} / {}  {}  ring {:.0}/{:.0} ms  latency {:.1} ms  underruns {}",
        match s.state.as_str() {
            "playing" => "▶",
            "paused" => "⏸",
            _ => "■",
        },
        clock(s.position_ms),
        total,
        name,
        s.ring_fill_ms,
        s.ring_capacity_ms,
        s.output_latency_ms,
        s.underruns
    )
}

pub struct DecodeOptions {
    pub file: PathBuf,
    /// `None` (`--null`): decode and convert everything, then discard it.
    pub out: Option<PathBuf>,
    pub rate: Option<u32>,
    pub channels: Option<u16>,
    /// Start decoding here (uses the engine's sample-accurate seek).
    pub start: Option<Duration>,
}

/// `reel decode FILE --out OUT.wav`: exactly the samples the engine would send, as float WAV.
/// `reel decode FILE --null`: the same decode, conversion and resampling, with no output file.
pub fn decode(opts: DecodeOptions) -> i32 {
    match decode_inner(&opts) {
        Ok(()) => EXIT_OK,
        Err(DecodeFail::File(e)) => {
            say(e);
            EXIT_FILE_ERROR
        }
        Err(DecodeFail::Write(e)) => {
            let out = opts.out.as_deref().unwrap_or(Path::new("(null)"));
            say(format!("{}: cannot write: {e}", out.display()));
            EXIT_WRITE_ERROR
        }
    }
}

enum DecodeFail {
    File(FileError),
    Write(String),
}

fn decode_inner(opts: &DecodeOptions) -> Result<(), DecodeFail> {
    let probe = Pipeline::open(&opts.file, None).map_err(DecodeFail::File)?;
    let info = probe.info().clone();
    let out_fmt = OutputFormat {
        rate: opts.rate.unwrap_or(info.rate),
        channels: opts.channels.unwrap_or(info.channels),
    };
    let mut pipeline = if out_fmt.rate == info.rate && out_fmt.channels == info.channels {
        probe
    } else {
        drop(probe);
        Pipeline::open(&opts.file, Some(out_fmt)).map_err(DecodeFail::File)?
    };
    if let Some(start) = opts.start {
        let frame = (start.as_secs_f64() * out_fmt.rate as f64).round() as u64;
        pipeline
            .seek_out_frames(frame)
            .map_err(|k| DecodeFail::File(FileError::new(&opts.file, k)))?;
    }
    let Some(out) = &opts.out else {
        // `--null`: every chunk is produced exactly as for a WAV, then dropped.
        loop {
            match pipeline.next_chunk() {
                Ok(Some(chunk)) => {
                    std::hint::black_box(chunk);
                }
                Ok(None) => return Ok(()),
                Err(kind) => return Err(DecodeFail::File(FileError::new(&opts.file, kind))),
            }
        }
    };
    let spec = hound::WavSpec {
        channels: out_fmt.channels,
        sample_rate: out_fmt.rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    // Write to a temp name and rename, so a failed decode never leaves a half-written WAV
    // under the name the user asked for.
    let tmp = out.with_extension("wav.partial");
    let result = (|| -> Result<(), DecodeFail> {
        let mut w =
            hound::WavWriter::create(&tmp, spec).map_err(|e| DecodeFail::Write(e.to_string()))?;
        loop {
            match pipeline.next_chunk() {
                Ok(Some(chunk)) => {
                    for s in chunk {
                        w.write_sample(*s)
                            .map_err(|e| DecodeFail::Write(e.to_string()))?;
                    }
                }
                Ok(None) => break,
                Err(kind) => return Err(DecodeFail::File(FileError::new(&opts.file, kind))),
            }
        }
        w.finalize().map_err(|e| DecodeFail::Write(e.to_string()))?;
        std::fs::rename(&tmp, out).map_err(|e| DecodeFail::Write(e.to_string()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `reel devices`: every output device with its rates, formats and buffer-size ranges.
pub fn devices(json: bool) -> i32 {
    match crate::engine::output::list_devices() {
        Ok(list) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else {
                println!("host: {}", crate::engine::output::host_name());
                for d in &list {
                    println!(
                        "{}{} ({})",
                        if d.is_default { "* " } else { "  " },
                        d.id,
                        d.name
                    );
                    for c in &d.configs {
                        println!("      {c}");
                    }
                }
            }
            EXIT_OK
        }
        Err(e) => {
            say(e);
            EXIT_NO_DEVICE
        }
    }
}
