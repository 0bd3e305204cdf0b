//! The headless commands. `main.rs` parses arguments and calls these; they return the process
//! exit code and print one clear line per problem.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::engine::pipeline::{OutputFormat, Pipeline};
use crate::engine::{Command, Engine, EngineConfig, Event, MeterSnapshot, OutputRequest};
use crate::error::FileError;
use crate::metrics_log::MetricsLog;

/// Exit codes.
pub const EXIT_OK: i32 = 0;
/// At least one file could not be played (the others were).
pub const EXIT_FILE_ERROR: i32 = 1;
/// No usable audio output.
pub const EXIT_NO_DEVICE: i32 = 3;
/// Could not write an output file (decode, metrics log).
pub const EXIT_WRITE_ERROR: i32 = 4;

/// Metrics log period.
pub const METRICS_EVERY: Duration = Duration::from_millis(100);

pub struct PlayOptions {
    pub files: Vec<PathBuf>,
    pub output: OutputRequest,
    pub metrics_log: Option<PathBuf>,
    pub volume: Option<f32>,
    /// Start the first file at this position.
    pub start: Option<Duration>,
}

fn say(msg: impl std::fmt::Display) {
    eprintln!("reel: {msg}");
}

/// `reel play --no-gui FILE...`
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
    let engine = match Engine::start(EngineConfig {
        output: opts.output.clone(),
        require_device: true,
    }) {
        Ok(e) => e,
        Err(e) => {
            say(e);
            return EXIT_NO_DEVICE;
        }
    };
    if let Some(v) = opts.volume {
        engine.send(Command::Volume(v));
    }
    engine.send(Command::Load(opts.files.clone()));
    if let Some(start) = opts.start {
        engine.send(Command::Seek(start));
    }
    let status_line = std::io::stderr().is_terminal();
    let mut errors: Vec<String> = Vec::new();
    let mut next_tick = Instant::now() + METRICS_EVERY;
    let mut last_snapshot = MeterSnapshot::default();
    loop {
        let timeout = next_tick.saturating_duration_since(Instant::now());
        crossbeam_channel::select! {
            recv(engine.events()) -> ev => match ev {
                Ok(Event::FileError(e)) => {
                    if status_line { eprint!("\r\x1b[K"); }
                    say(&e);
                    errors.push(e.to_string());
                }
                Ok(Event::DeviceLost(why)) => {
                    if status_line { eprint!("\r\x1b[K"); }
                    say(format!("audio output lost: {why}; waiting for it to come back"));
                }
                Ok(Event::DeviceReady { device }) => {
                    if status_line { eprint!("\r\x1b[K"); }
                    say(format!("audio output back on {device}; resuming"));
                }
                Ok(Event::QueueFinished) | Err(_) => break,
                Ok(_) => {}
            },
            recv(int_rx) -> _ => {}
            default(timeout) => {}
        }
        if interrupted.load(Ordering::SeqCst) {
            engine.send(Command::Stop);
            break;
        }
        if Instant::now() >= next_tick {
            next_tick += METRICS_EVERY;
            let snap = engine.snapshot();
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
    if status_line {
        eprintln!("\r\x1b[K{}", status_text(&last_snapshot));
    }
    let snap = engine.snapshot();
    let tracks = engine.tracks();
    engine.shutdown();
    if let Some(log) = &mut log {
        let _ = log.sample(&snap);
        if let Err(e) = log.summary(&snap, &tracks, &errors) {
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
    pub out: PathBuf,
    pub rate: Option<u32>,
    pub channels: Option<u16>,
    /// Start decoding here (uses the engine's sample-accurate seek).
    pub start: Option<Duration>,
}

/// `reel decode FILE --out OUT.wav`: exactly the samples the engine would send, as float WAV.
pub fn decode(opts: DecodeOptions) -> i32 {
    match decode_inner(&opts) {
        Ok(()) => EXIT_OK,
        Err(DecodeFail::File(e)) => {
            say(e);
            EXIT_FILE_ERROR
        }
        Err(DecodeFail::Write(e)) => {
            say(format!("{}: cannot write: {e}", opts.out.display()));
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
    let spec = hound::WavSpec {
        channels: out_fmt.channels,
        sample_rate: out_fmt.rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    // Write to a temp name and rename, so a failed decode never leaves a half-written WAV
    // under the name the user asked for.
    let tmp = opts.out.with_extension("wav.partial");
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
        std::fs::rename(&tmp, &opts.out).map_err(|e| DecodeFail::Write(e.to_string()))
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
