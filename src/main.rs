//! The `reel` binary: parse the command line, run the command, map the result to an exit code.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use reel::cli;
use reel::engine::{DEFAULT_PERIOD_FRAMES, DEFAULT_RING_MS, OutputRequest};

#[derive(Parser)]
#[command(
    name = "reel",
    version,
    about = "A real-time audio player that shows what its audio pipeline is doing"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Files to play (same as `reel play`).
    files: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Play files in order.
    Play(PlayArgs),
    /// Decode a file to 32-bit float WAV: exactly the samples the engine would play.
    Decode(DecodeArgs),
    /// List the output devices with their rates, formats and buffer sizes.
    Devices {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct PlayArgs {
    /// Play in the terminal, without a window.
    #[arg(long)]
    no_gui: bool,
    /// Output device id or name (see `reel devices`); default: the system default.
    #[arg(long)]
    device: Option<String>,
    /// Ring (decoder → device) capacity in milliseconds.
    #[arg(long, default_value_t = DEFAULT_RING_MS, value_parser = clap::value_parser!(u32).range(5..=10_000))]
    buffer_ms: u32,
    /// Device buffer (period) in frames.
    #[arg(long, default_value_t = DEFAULT_PERIOD_FRAMES, value_parser = clap::value_parser!(u32).range(16..=16_384))]
    period: u32,
    /// Write the meters as JSON Lines to this file (every 100 ms, then a summary).
    #[arg(long)]
    metrics_log: Option<PathBuf>,
    /// Volume, 0.0 to 1.0.
    #[arg(long)]
    volume: Option<f32>,
    /// Start the first file at this many seconds.
    #[arg(long)]
    start: Option<f64>,
    /// Files to play, in order.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args)]
struct DecodeArgs {
    file: PathBuf,
    /// Output WAV (32-bit float).
    #[arg(long)]
    out: PathBuf,
    /// Resample to this rate with the engine's resampler.
    #[arg(long)]
    rate: Option<u32>,
    /// Map to this many channels with the engine's channel map.
    #[arg(long)]
    channels: Option<u16>,
    /// Start at this many seconds (the engine's sample-accurate seek).
    #[arg(long)]
    start: Option<f64>,
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Cmd::Play(a)) => play(a),
        Some(Cmd::Decode(a)) => cli::decode(cli::DecodeOptions {
            file: a.file,
            out: a.out,
            rate: a.rate,
            channels: a.channels,
            start: a.start.map(Duration::from_secs_f64),
        }),
        Some(Cmd::Devices { json }) => cli::devices(json),
        None if !cli.files.is_empty() => play(PlayArgs {
            no_gui: true,
            device: None,
            buffer_ms: DEFAULT_RING_MS,
            period: DEFAULT_PERIOD_FRAMES,
            metrics_log: None,
            volume: None,
            start: None,
            files: cli.files,
        }),
        None => {
            eprintln!("reel: nothing to play. Try `reel play --no-gui FILE...` or `reel --help`.");
            2
        }
    };
    std::process::exit(code);
}

fn play(a: PlayArgs) -> i32 {
    // The window is a separate piece of work; until it lands, playback is headless either way.
    let _ = a.no_gui;
    cli::play(cli::PlayOptions {
        files: a.files,
        output: OutputRequest {
            device: a.device,
            ring_ms: a.buffer_ms,
            period_frames: a.period,
        },
        metrics_log: a.metrics_log,
        volume: a.volume,
        start: a
            .start
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64),
    })
}
