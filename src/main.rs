//! The `reel` binary: parse the command line, run the command, map the result to an exit code.

use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use reel::cache::commands::CacheCommand;
use reel::cli;
use reel::engine::{
    DEFAULT_PERIOD_FRAMES, DEFAULT_RING_MS, GainMode, GainSettings, OutputRequest, Repeat,
};
use reel::frontend::GuiOptions;
use reel::library::Sort;
use reel::library::commands::LibraryCommand;

#[derive(Parser)]
#[command(
    name = "reel",
    version,
    about = "A real-time audio player that shows what its audio pipeline is doing"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// The cache that played files are copied into [default: $REEL_CACHE_DIR, else
    /// $XDG_CACHE_HOME/reel or ~/.cache/reel].
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// The library, the collection of added files [default: $REEL_LIBRARY_DIR, else
    /// $XDG_DATA_HOME/reel or ~/.local/share/reel].
    #[arg(long, global = true, value_name = "DIR")]
    library_dir: Option<PathBuf>,
    /// Write the meters and the window's frame count as JSON Lines to this file.
    #[arg(long, value_name = "FILE")]
    metrics_log: Option<PathBuf>,
    /// Open a window of its own even when a reel window already runs (by default the files
    /// go to that window, queued and playing).
    #[arg(long, global = true)]
    new_instance: bool,
    /// Files to open in the window: imported, queued and played (`reel play --no-gui FILE...`
    /// plays in the terminal).
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
    /// The cache every played file is copied into: import, list, verify, evict.
    Cache {
        #[command(subcommand)]
        command: CacheCmd,
    },
    /// The library, your collection: add files and folders, list, search, remove.
    Library {
        #[command(subcommand)]
        command: LibraryCmd,
    },
}

#[derive(Subcommand)]
enum LibraryCmd {
    /// Add files, or folders scanned recursively (tags only; nothing is copied). Adding a
    /// folder again finds new, changed and removed files. Then scans the loudness (EBU R 128)
    /// and waveform of every track not scanned yet whose tags declare no ReplayGain.
    Add {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Skip the loudness scan: tracks are then scanned on their first play.
        #[arg(long)]
        no_scan: bool,
    },
    /// List the tracks (C: cached, !: file missing).
    List {
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
        /// Only tracks whose title, artist, album, album artist, genre or file name contains
        /// this text (ignoring case).
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        #[arg(long, value_enum, default_value_t = SortArg::Artist)]
        sort: SortArg,
    },
    /// Remove tracks (a file, or everything under a folder) from the library; the files and
    /// their cached copies are untouched.
    Remove {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Tracks, total duration, how many are cached and their bytes.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the library directory.
    Path,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SortArg {
    Title,
    Artist,
    Album,
    /// Most recently added first.
    Added,
    /// Most recently played first.
    Played,
}

impl From<SortArg> for Sort {
    fn from(s: SortArg) -> Sort {
        match s {
            SortArg::Title => Sort::Title,
            SortArg::Artist => Sort::Artist,
            SortArg::Album => Sort::Album,
            SortArg::Added => Sort::Added,
            SortArg::Played => Sort::Played,
        }
    }
}

/// `reel generate ...`: hidden, and attached to the parser only (see `parser`), so that the
/// man pages and completions it writes do not offer it.
#[derive(Subcommand)]
enum GenerateCmd {
    /// Write reel.1 and a page per subcommand (reel-play.1, ...) into DIR.
    Man { dir: PathBuf },
    /// Print the completion script for SHELL on standard output.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum CacheCmd {
    /// Copy files into the cache; folders are imported recursively (audio files only).
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List what is cached.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove objects, named by hash (or a unique prefix), original path or object path.
    Remove {
        #[arg(required = true, value_name = "HASH|PATH")]
        items: Vec<String>,
    },
    /// Evict the least recently played objects down to the size cap, and clean up.
    Gc {
        /// Evict down to this size instead of the configured cap (e.g. 500M, 2G, 1.5GiB).
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_size: Option<u64>,
    },
    /// Re-hash every object; remove damaged ones and copy them again from their originals.
    Verify {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove every object (except those a running reel is playing or has queued).
    Clear,
    /// Show the settings, or change them.
    Config {
        /// Size cap (e.g. 500M, 2G, 1.5GiB, or bytes); the default is 2G.
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_size: Option<u64>,
    },
    /// Entries, bytes, cap, hits, misses and evictions.
    Stats {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the cache directory.
    Path,
}

fn parse_size(text: &str) -> Result<u64, String> {
    reel::cache::size::parse_size(text)
}

#[derive(Args)]
struct PlayArgs {
    /// Play in the terminal, without a window (otherwise the files open in the window).
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
    /// ReplayGain: off, track, album, or auto (album gain while tracks of one album play in
    /// order, else track gain). The file is never changed.
    #[arg(long, value_name = "MODE", default_value = "auto")]
    replaygain: GainMode,
    /// Pre-amp added to every ReplayGain found, in dB (-24 to 24).
    #[arg(long, value_name = "DB", default_value_t = 0.0, allow_negative_numbers = true, value_parser = parse_preamp)]
    preamp: f64,
    /// Play the queue in a random order, every file once before any plays again.
    #[arg(long, requires = "no_gui")]
    shuffle: bool,
    /// At the end of a track: off (go on to the next, stop after the last), one (play the
    /// track again), all (after the last, start the queue again).
    #[arg(long, value_name = "MODE", default_value = "off", requires = "no_gui")]
    repeat: Repeat,
    /// Files to play, in order.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args)]
struct DecodeArgs {
    file: PathBuf,
    /// Output WAV (32-bit float).
    #[arg(long, required_unless_present = "null")]
    out: Option<PathBuf>,
    /// Decode and convert (and resample, with --rate) as for --out, then discard the samples:
    /// measures the decode path alone, like `ffmpeg -i FILE -f null -` (see `make bench`).
    #[arg(long, conflicts_with = "out")]
    null: bool,
    /// Resample to this rate with the engine's resampler.
    #[arg(long)]
    rate: Option<u32>,
    /// Map to this many channels with the engine's channel map.
    #[arg(long)]
    channels: Option<u16>,
    /// Start at this many seconds (the engine's sample-accurate seek).
    #[arg(long)]
    start: Option<f64>,
    /// ReplayGain: off, track, album, or auto (album gain while tracks of one album play in
    /// order, else track gain). The file is never changed.
    #[arg(long, value_name = "MODE", default_value = "auto")]
    replaygain: GainMode,
    /// Pre-amp added to every ReplayGain found, in dB (-24 to 24).
    #[arg(long, value_name = "DB", default_value_t = 0.0, allow_negative_numbers = true, value_parser = parse_preamp)]
    preamp: f64,
}

fn parse_preamp(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(db) if (-24.0..=24.0).contains(&db) => Ok(db),
        _ => Err(format!("{text:?} is not a pre-amp in dB from -24 to 24")),
    }
}

fn main() {
    // A write past RLIMIT_FSIZE should fail with EFBIG, which the cache reports as one clear
    // line ("file too large") and cleans up after, instead of killing reel with SIGXFSZ and
    // leaving the temp file for the next start to clean.
    // SAFETY: setting a signal to SIG_IGN before any thread exists has no preconditions.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let matches = parser().get_matches();
    if let Some(m) = matches.subcommand_matches(GENERATE) {
        let code = match GenerateCmd::from_arg_matches(m) {
            Ok(what) => generate(what),
            Err(e) => e.exit(),
        };
        std::process::exit(code);
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    // Which `play` options were typed (they override the window's saved settings; defaults
    // do not).
    let typed = |name: &str| {
        matches
            .subcommand_matches("play")
            .and_then(|m| m.value_source(name))
            == Some(ValueSource::CommandLine)
    };
    let mut left_out = false;
    let mut expand = |files: Vec<PathBuf>| {
        let (files, problems) = reel::playlist::expand(&files);
        for p in &problems {
            eprintln!("reel: {p}");
        }
        left_out |= !problems.is_empty();
        files
    };
    let new_instance = cli.new_instance;
    let code = match cli.command {
        Some(Cmd::Play(a)) if !a.no_gui => window(
            new_instance,
            GuiOptions {
                device: a.device,
                ring_ms: typed("buffer_ms").then_some(a.buffer_ms),
                period_frames: typed("period").then_some(a.period),
                volume: a.volume,
                start: a
                    .start
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(Duration::from_secs_f64),
                metrics_log: a.metrics_log,
                files: expand(a.files),
                cache_dir: cli.cache_dir,
                library_dir: cli.library_dir,
                gain: (typed("replaygain") || typed("preamp")).then_some(GainSettings {
                    mode: a.replaygain,
                    preamp_db: a.preamp,
                }),
                new_instance,
            },
        ),
        Some(Cmd::Play(mut a)) => {
            a.files = expand(a.files);
            if a.files.is_empty() {
                // Only playlists were given, and every entry was left out (each told above).
                std::process::exit(cli::EXIT_FILE_ERROR);
            }
            match play(a, cli.cache_dir, cli.library_dir) {
                // Entries left out of a playlist are bad inputs, as a missing file is.
                code if code == cli::EXIT_OK && left_out => cli::EXIT_FILE_ERROR,
                code => code,
            }
        }
        Some(Cmd::Decode(a)) => cli::decode(cli::DecodeOptions {
            file: a.file,
            out: a.out,
            rate: a.rate,
            channels: a.channels,
            start: a.start.map(Duration::from_secs_f64),
            gain: GainSettings {
                mode: a.replaygain,
                preamp_db: a.preamp,
            },
        }),
        Some(Cmd::Devices { json }) => cli::devices(json),
        Some(Cmd::Cache { command }) => reel::cache::commands::run(
            cli.cache_dir.as_deref(),
            match command {
                CacheCmd::Import { paths } => CacheCommand::Import { paths },
                CacheCmd::List { json } => CacheCommand::List { json },
                CacheCmd::Remove { items } => CacheCommand::Remove { items },
                CacheCmd::Gc { max_size } => CacheCommand::Gc { max_size },
                CacheCmd::Verify { json } => CacheCommand::Verify { json },
                CacheCmd::Clear => CacheCommand::Clear,
                CacheCmd::Config { max_size } => CacheCommand::Config { max_size },
                CacheCmd::Stats { json } => CacheCommand::Stats { json },
                CacheCmd::Path => CacheCommand::Path,
            },
        ),
        Some(Cmd::Library { command }) => reel::library::commands::run(
            cli.library_dir.as_deref(),
            cli.cache_dir.as_deref(),
            match command {
                LibraryCmd::Add { paths, no_scan } => LibraryCommand::Add {
                    paths,
                    scan: !no_scan,
                },
                LibraryCmd::List { json, search, sort } => LibraryCommand::List {
                    json,
                    search,
                    sort: sort.into(),
                },
                LibraryCmd::Remove { paths } => LibraryCommand::Remove { paths },
                LibraryCmd::Stats { json } => LibraryCommand::Stats { json },
                LibraryCmd::Path => LibraryCommand::Path,
            },
        ),
        // `reel` and `reel FILE...`: the window.
        None => window(
            new_instance,
            GuiOptions {
                files: expand(cli.files),
                metrics_log: cli.metrics_log,
                cache_dir: cli.cache_dir,
                library_dir: cli.library_dir,
                ..GuiOptions::default()
            },
        ),
    };
    std::process::exit(code);
}

/// The window, or the window that already runs: unless `--new-instance`, the files go to it
/// (see src/instance.rs) and this process is done.
#[cfg(feature = "gui")]
fn window(new_instance: bool, mut opts: GuiOptions) -> i32 {
    opts.new_instance = new_instance;
    if !new_instance {
        match reel::instance::hand_over(&opts.files) {
            Ok(true) => return 0,
            Ok(false) => {}
            Err(why) => eprintln!("reel: {why}; opening a window of its own"),
        }
    }
    reel::ui::run(opts)
}

/// A build without the `gui` feature (as fuzz/ builds the library) has no window.
#[cfg(not(feature = "gui"))]
fn window(_: bool, _: GuiOptions) -> i32 {
    eprintln!(
        "reel: this build has no window (built without the `gui` feature). To play without a \
         window, use `reel play --no-gui FILE...`"
    );
    reel::cli::EXIT_NO_DISPLAY
}

const GENERATE: &str = "generate";

/// The command line as parsed: [`Cli`] plus the hidden `generate` (which writes the man pages
/// and the completion scripts of [`Cli`] alone).
fn parser() -> clap::Command {
    Cli::command().subcommand(GenerateCmd::augment_subcommands(
        clap::Command::new(GENERATE)
            .about("Write the man pages or a shell completion script (for `make install`)")
            .subcommand_required(true)
            .hide(true),
    ))
}

/// `reel generate`: the man pages and completions come from the clap definitions above, so
/// they always describe the binary they were generated by.
fn generate(what: GenerateCmd) -> i32 {
    let mut cmd = Cli::command();
    match what {
        GenerateCmd::Man { dir } => match clap_mangen::generate_to(cmd, &dir) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("reel: {}: cannot write the man pages: {e}", dir.display());
                cli::EXIT_WRITE_ERROR
            }
        },
        GenerateCmd::Completions { shell } => {
            clap_complete::generate(shell, &mut cmd, "reel", &mut std::io::stdout());
            0
        }
    }
}

fn play(a: PlayArgs, cache_dir: Option<PathBuf>, library_dir: Option<PathBuf>) -> i32 {
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
        cache_dir,
        library_dir,
        gain: GainSettings {
            mode: a.replaygain,
            preamp_db: a.preamp,
        },
        shuffle: a.shuffle,
        repeat: a.repeat,
    })
}
