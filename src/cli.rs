//! The headless commands. `main.rs` parses arguments and calls these; they return the process
//! exit code and print one clear line per problem.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::cache::Cache;
use crate::engine::pipeline::{OutputFormat, Pipeline};
use crate::engine::{
    Command, Engine, EngineConfig, GainSettings, MeterSnapshot, OutputRequest, PlayState, Repeat,
};
use crate::error::{FileError, OutputError};
use crate::metrics_log::{MetricsLog, Startup};
use crate::mpris::{Feed, Mpris, MprisOptions, Request};
use crate::session::{Reaction, Session};

pub use crate::frontend::{
    EXIT_CACHE, EXIT_FILE_ERROR, EXIT_NO_DEVICE, EXIT_NO_DISPLAY, EXIT_OK, EXIT_WRITE_ERROR,
    GuiOptions,
};

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
    /// `--library-dir`; `None`: `$REEL_LIBRARY_DIR` or the user's data directory. Plays are
    /// counted there for the files it holds.
    pub library_dir: Option<PathBuf>,
    /// `--replaygain`, `--preamp`.
    pub gain: GainSettings,
    /// `--shuffle`, `--repeat`.
    pub shuffle: bool,
    pub repeat: Repeat,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn say(msg: impl std::fmt::Display) {
    eprintln!("reel: {msg}");
}

/// `reel play --no-gui FILE|FOLDER...`
///
/// A small loop over the session layer (src/session): it turns the names given into a queue
/// (folders in path order), plays cache hits from their objects and streams the rest through
/// the cache (the first sound needs only the first file's first bytes), copies the rest of the
/// queue ahead in the background, checks hits, and maps everything back to the user's files.
/// Here: signals, the output, the status line, the metrics log and the exit code. A file that
/// cannot play fails alone (one line, exit 1) unless the cache itself fails (refused, full,
/// read-only: one line, exit 5).
/// A terminal key, done on the engine. Returns whether it asks to quit.
fn on_key(key: crate::keys::Key, engine: &Engine, feed: &mut Feed, mpris: Option<&Mpris>) -> bool {
    use crate::keys::Key;
    let cmd = match key {
        Key::TogglePause => Command::TogglePause,
        Key::Seek(secs) => Command::SeekBy(secs),
        Key::Volume(step) => {
            let v = (engine.volume() + step).clamp(0.0, 1.0);
            // MPRIS clients see the new volume too.
            if let Some(m) = mpris {
                feed.set_volume(f64::from(v), m);
            }
            Command::Volume(v)
        }
        Key::Next => Command::Next,
        Key::Previous => Command::Previous,
        Key::Quit => return true,
    };
    engine.send(cmd);
    false
}

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

    // The queue is prepared (cache looked up, the first copy started) while the output opens.
    let launched = Instant::now();
    let output = opts.output.clone();
    // Of what `reel play` shows, only the metrics log has levels and the bit-perfect proof
    // (the status line has neither).
    let observed = opts.metrics_log.is_some();
    let (prepared, engine, cache_ms, output_ms) = std::thread::scope(|scope| {
        let opening = std::thread::Builder::new()
            .name("reel-open-output".into())
            .spawn_scoped(scope, move || {
                let r = Engine::start(EngineConfig {
                    output,
                    require_device: true,
                    observed,
                });
                (r, launched.elapsed())
            });
        let prepared = Cache::open(opts.cache_dir.as_deref())
            .map(|cache| Session::prepare(Arc::new(cache), &opts.files));
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
        (prepared, engine, cache_ms, ms(output_ms))
    });
    let (mut session, prep) = match prepared {
        Ok(p) => p,
        Err(e) => {
            say(e);
            return EXIT_CACHE;
        }
    };
    let quit = |mut session: Session| {
        session.end_streams(true, &|| true);
        session.finish(true, opts.library_dir.as_deref());
    };
    if let Some(e) = prep.fatal {
        say(e);
        quit(session);
        return EXIT_CACHE;
    }
    if interrupted.load(Ordering::SeqCst) {
        quit(session);
        return EXIT_OK;
    }
    let engine = match engine {
        Ok(e) => e,
        Err(e) => {
            say(e);
            quit(session);
            return EXIT_NO_DEVICE;
        }
    };
    let mut errors: Vec<String> = Vec::new();
    for (line, error) in &prep.lines {
        say(line);
        if *error {
            errors.push(line.clone());
        }
    }
    if let Some(v) = opts.volume {
        engine.send(Command::Volume(v));
    }
    let status_line = std::io::stderr().is_terminal();
    let mut next_tick = Instant::now() + METRICS_EVERY;
    let mut last_snapshot = MeterSnapshot::default();
    let queue = session.queue();
    let mut loaded_ms = None;
    if let Some(line) = session.use_library(opts.library_dir.as_deref()) {
        say(line);
    }
    session.attach(&engine);
    if !queue.is_empty() {
        loaded_ms = Some(ms(launched.elapsed()));
        // Before the load: the first track opens with it.
        engine.send(Command::ReplayGain(opts.gain));
        // Before the load too: a shuffled queue starts at a random entry.
        engine.send(Command::Shuffle(opts.shuffle));
        engine.send(Command::Repeat(opts.repeat));
        engine.send(Command::Load(queue.clone()));
        if let Some(start) = opts.start {
            engine.send(Command::Seek(start));
        }
    }
    let mut running = !queue.is_empty();
    let (mpris, mut feed) = start_mpris(&engine, &queue, &opts);
    let requests = mpris
        .as_ref()
        .map(|m| m.requests().clone())
        .unwrap_or_else(crossbeam_channel::never);
    let mut fatal = false;
    // Space, arrows, n/p and q when standard input is a terminal (src/keys.rs).
    let keys = crate::keys::Keys::start();
    let key_rx = keys
        .as_ref()
        .map_or_else(crossbeam_channel::never, |k| k.receiver().clone());
    let mut quit = false;
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
        let corrupt = session.corrupt();
        let notices = session.notices().clone();
        let reaction = crossbeam_channel::select! {
            recv(engine.events()) -> ev => match ev {
                Ok(ev) => {
                    if let Some(m) = &mpris {
                        feed.on_event(&ev, m);
                    }
                    session.on_event(&ev, &engine)
                }
                Err(_) => Reaction { finished: true, ..Reaction::default() },
            },
            recv(notices) -> n => match n {
                Ok(n) => session.on_notice(n),
                Err(_) => Reaction::default(),
            },
            recv(corrupt) -> h => session.on_corrupt(h.ok(), &engine),
            recv(requests) -> r => {
                if let (Ok(r), Some(m)) = (r, &mpris) {
                    on_request(r, &engine, &interrupted, &mut feed, m);
                }
                Reaction::default()
            }
            recv(int_rx) -> _ => Reaction::default(),
            recv(key_rx) -> k => {
                if let Ok(k) = k {
                    quit |= on_key(k, &engine, &mut feed, mpris.as_ref());
                }
                Reaction::default()
            },
            default(timeout) => Reaction::default(),
        };
        for (line, error) in &reaction.lines {
            if status_line {
                eprint!("\r\x1b[K");
            }
            say(line);
            if *error {
                errors.push(line.clone());
            }
        }
        if let Some(e) = &reaction.fatal {
            if status_line {
                eprint!("\r\x1b[K");
            }
            say(e);
            fatal = true;
            engine.send(Command::Stop);
        }
        if reaction.finished || fatal {
            running = false;
        }
        if quit || interrupted.load(Ordering::SeqCst) {
            engine.send(Command::Stop);
            break;
        }
        if ticking && Instant::now() >= next_tick {
            next_tick += METRICS_EVERY;
            let snap = session.show(engine.snapshot());
            if let Some(log) = &mut log
                && let Err(e) = log.sample(&snap)
            {
                say(format!("metrics log: {e}"));
                session.end_streams(true, &|| true);
                return EXIT_WRITE_ERROR;
            }
            if status_line {
                eprint!("\r\x1b[K{}", status_text(&snap));
                let _ = std::io::stderr().flush();
            }
            last_snapshot = snap;
        }
    }
    if status_line && !queue.is_empty() {
        eprintln!("\r\x1b[K{}", status_text(&last_snapshot));
    }
    drop(mpris);
    let stop_now = interrupted.clone();
    let interrupted = interrupted.load(Ordering::SeqCst);
    let snap = session.show(engine.snapshot());
    let tracks = session.tracks(engine.tracks());
    let episodes = engine.episodes();
    // Before the engine goes: its decoder may be waiting in a copy.
    session.end_streams(interrupted || fatal, &|| stop_now.load(Ordering::SeqCst));
    engine.shutdown();
    for line in session.finish(interrupted, opts.library_dir.as_deref()) {
        say(&line);
        errors.push(line);
    }
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
    if fatal {
        EXIT_CACHE
    } else if errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_FILE_ERROR
    }
}

/// MPRIS for the play loop, when the queue is not empty. No session bus (or a refusal) is one
/// line and playback goes on.
fn start_mpris(engine: &Engine, queue: &[PathBuf], opts: &PlayOptions) -> (Option<Mpris>, Feed) {
    let feed =
        Feed::new(queue.to_vec(), f64::from(engine.volume())).with_modes(opts.shuffle, opts.repeat);
    if queue.is_empty() {
        return (None, feed);
    }
    let mpris = match Mpris::start(MprisOptions {
        can_raise: false,
        probe: engine.heard_probe(),
        initial: feed.state().clone(),
        waker: None,
    }) {
        Ok(m) => Some(m),
        Err(e) => {
            say(e);
            None
        }
    };
    (mpris, feed)
}

/// What an MPRIS client asked for, done: an engine command, or quitting as Ctrl-C does.
fn on_request(r: Request, engine: &Engine, interrupted: &AtomicBool, feed: &mut Feed, m: &Mpris) {
    match r {
        Request::Quit => interrupted.store(true, Ordering::SeqCst),
        Request::Raise => {}
        Request::Volume(v) => {
            engine.send(Command::Volume(v as f32));
            feed.set_volume(v, m);
        }
        Request::Shuffle(_) | Request::Loop(_) => {
            feed.set_mode(&r, m);
            if let Some(cmd) = r.command() {
                engine.send(cmd);
            }
        }
        other => {
            if let Some(cmd) = other.command() {
                engine.send(cmd);
            }
        }
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
        match s.state {
            PlayState::Playing => "▶",
            PlayState::Paused => "⏸",
            PlayState::Stopped => "■",
        },
        clock(s.position_ms),
        total,
        name,
        s.ring_fill_ms,
        s.ring_capacity_ms,
        s.output_latency_ms,
        s.underruns
    ) + &source_text(s)
}

/// The status line's tail while the track heard is still being copied into the cache: how
/// far ahead the copy is, or that playback waits for it.
fn source_text(s: &MeterSnapshot) -> String {
    let speed = s
        .source_speed_mb_s
        .map(|v| format!(" at {v:.1} MB/s"))
        .unwrap_or_default();
    if s.source_waiting {
        format!("  waiting for the source{speed}")
    } else if let Some(ahead) = s.source_ahead_ms {
        format!("  copying{speed}, {:.1} s ahead", ahead / 1000.0)
    } else {
        String::new()
    }
}

pub struct DecodeOptions {
    pub file: PathBuf,
    /// `None` (`--null`): decode and convert everything, then discard it.
    pub out: Option<PathBuf>,
    pub rate: Option<u32>,
    pub channels: Option<u16>,
    /// Start decoding here (uses the engine's sample-accurate seek).
    pub start: Option<Duration>,
    /// `--replaygain`, `--preamp`: a single file has no neighbours, so `auto` is `track`.
    pub gain: GainSettings,
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
    let loudness = pipeline.info().loudness.clone();
    pipeline.set_gain(crate::engine::replaygain::choose(
        opts.gain, &loudness, false,
    ));
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
                Ok(None) => {
                    say_damage(&opts.file, &pipeline);
                    return Ok(());
                }
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
        std::fs::rename(&tmp, out).map_err(|e| DecodeFail::Write(e.to_string()))?;
        say_damage(&opts.file, &pipeline);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The one line for a file that decoded, but not whole (damaged frames, truncated).
fn say_damage(file: &Path, pipeline: &Pipeline) {
    if let Some(what) = pipeline.damage_line() {
        say(crate::error::FileWarning {
            path: file.to_path_buf(),
            what,
        });
    }
}

/// `reel devices`: every output device with its rates, formats and buffer-size ranges.
pub fn devices(json: bool) -> i32 {
    let choice = match crate::engine::output::host_choice() {
        Ok(c) => c,
        Err(e) => {
            say(e);
            return EXIT_NO_DEVICE;
        }
    };
    match crate::engine::output::list_devices() {
        Ok(list) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else {
                println!("host: {} ({})", choice.name(), choice.why);
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
