//! Decode speed per format through [`Pipeline`], the code the decoder thread and `reel decode`
//! run: symphonia decode → channel map → (optional) rubato resampler, to interleaved f32.
//!
//! # What is measured
//! One iteration decodes a whole 30 s stereo 44.1 kHz file, in two cases per format:
//! - `native`: the file's own rate and channels (`Pipeline::open(path, None)`), which is
//!   decode + an identity channel map;
//! - `resampled`: 44.1 → 48 kHz stereo, the common case of a CD-rate file on a 48 kHz device.
//!
//! Opening the file (probe, header parse, decoder and resampler set-up) and dropping the pipeline
//! are outside the timed section: they happen once per track, while this bench is about the
//! sustained rate at which the decoder thread can feed the ring. The file is read through the
//! page cache (it was decoded once, untimed, to count its frames), so disk speed is not part of
//! the figure either. Throughput is in elements = output audio frames, so criterion shows
//! frames/s; the summary also gives × realtime (audio seconds ÷ median wall seconds of one
//! decode), printed and written to `target/bench-results/decode.json`. The median comes from
//! the iterations of criterion's own measurement (the last `SAMPLE_SIZE` samples of each case,
//! after its warm-up), not from a second run.
//!
//! # Test data
//! Generated once with ffmpeg into `target/bench-data/v<DATA_VERSION>/`: a deterministic music-like signal
//! (a chord with tremolo, a stepping melody with decaying notes, different in each channel,
//! plus pink noise from fixed seeds), rendered to a 16-bit master WAV and encoded from it to
//! FLAC, WAV, MP3 (LAME 192 kb/s), Vorbis (q5), AAC (192 kb/s, .m4a), ALAC (.m4a) and AIFF.
//! Delete the directory to regenerate.

mod common;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use serde_json::json;

use common::RunMode;

use reel::engine::pipeline::{OutputFormat, Pipeline};

const SOURCE_RATE_HZ: u32 = 44_100;
const RESAMPLED_RATE_HZ: u32 = 48_000;
const CHANNELS: u16 = 2;
const SIGNAL_SECS: u32 = 30;

/// Criterion settings: whole-file iterations take tens to hundreds of ms, so few samples of
/// equal size (flat sampling) keep the full run, 14 cases, under about two minutes on 2 cores.
const SAMPLE_SIZE: usize = 10;
const WARM_UP_SECS: u64 = 1;
const MEASUREMENT_SECS: u64 = 4;

/// Under `cargo test --benches` (the test profile, where our code is barely optimised and
/// resampling ran at about 2× realtime) each decode stops after about this many frames: enough
/// to exercise every path, not to measure.
const TEST_MODE_DECODE_FRAMES: u64 = 44_100;

/// Bumped whenever the signal or encoder settings change, so stale files are not reused.
const DATA_VERSION: u32 = 1;

/// Left and right channels of the tonal part (ffmpeg `aevalsrc` expressions, t in seconds):
/// an A minor chord with a slow tremolo, and a melody that steps every 250 ms with each note
/// decaying, mirrored between channels. Peak ≤ 0.67 before the noise, so nothing clips.
const TONE_LEFT: &str = "0.22*sin(2*PI*220*t)*(0.75+0.25*sin(2*PI*0.5*t))\
    +0.15*sin(2*PI*261.63*t)+0.12*sin(2*PI*329.63*t)\
    +0.18*sin(2*PI*t*(440+55*floor(mod(4*t,8))))*exp(-6*mod(t,0.25))";
const TONE_RIGHT: &str = "0.22*sin(2*PI*220*t+1)*(0.75+0.25*sin(2*PI*0.5*t+2))\
    +0.12*sin(2*PI*164.81*t)+0.15*sin(2*PI*329.63*t)\
    +0.18*sin(2*PI*t*(880-55*floor(mod(4*t,8))))*exp(-6*mod(t,0.25))";
/// Pink noise amplitude (the `anoisesrc` parameter), and one fixed seed per channel.
const NOISE_AMPLITUDE: f32 = 0.06;
const NOISE_SEED_LEFT: u32 = 1;
const NOISE_SEED_RIGHT: u32 = 2;

/// One encoded test file.
struct Format {
    name: &'static str,
    file_name: &'static str,
    /// ffmpeg output options that select the codec.
    ffmpeg_codec_args: &'static [&'static str],
}

const FORMATS: [Format; 7] = [
    Format {
        name: "flac",
        file_name: "music.flac",
        ffmpeg_codec_args: &["-c:a", "flac"],
    },
    Format {
        name: "wav",
        file_name: "music.wav",
        ffmpeg_codec_args: &["-c:a", "pcm_s16le"],
    },
    Format {
        name: "mp3",
        file_name: "music.mp3",
        ffmpeg_codec_args: &["-c:a", "libmp3lame", "-b:a", "192k"],
    },
    Format {
        name: "vorbis",
        file_name: "music.ogg",
        ffmpeg_codec_args: &["-c:a", "libvorbis", "-q:a", "5"],
    },
    Format {
        name: "aac",
        file_name: "music-aac.m4a",
        ffmpeg_codec_args: &["-c:a", "aac", "-b:a", "192k"],
    },
    Format {
        name: "alac",
        file_name: "music-alac.m4a",
        ffmpeg_codec_args: &["-c:a", "alac"],
    },
    Format {
        name: "aiff",
        file_name: "music.aiff",
        ffmpeg_codec_args: &["-c:a", "pcm_s16be"],
    },
];

fn data_dir() -> PathBuf {
    common::target_dir()
        .join("bench-data")
        .join(format!("v{DATA_VERSION}"))
}

/// Run ffmpeg quietly with `args`, writing `out` through a temporary name so an interrupted
/// run never leaves a truncated file behind that later runs would take as finished.
fn ffmpeg_to(out: &Path, args: &[&str]) {
    let file_name = out.file_name().and_then(|n| n.to_str()).expect("file name");
    // Keep the extension last: ffmpeg picks the container from it.
    let partial = out.with_file_name(format!("partial-{file_name}"));
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-y", "-hide_banner", "-loglevel", "error"])
        .args(args)
        .args(["-map_metadata", "-1", "-fflags", "+bitexact"])
        .args(["-flags:a", "+bitexact"])
        .arg(&partial)
        .status()
        .unwrap_or_else(|e| panic!("cannot run ffmpeg (is it installed?): {e}"));
    assert!(status.success(), "ffmpeg failed writing {}", out.display());
    std::fs::rename(&partial, out).expect("rename generated file");
}

/// Generate the master and every encoded file that is not there yet; return the directory.
fn generate_test_files() -> PathBuf {
    let dir = data_dir();
    std::fs::create_dir_all(&dir).expect("create bench-data directory");
    let master = dir.join("master-s16.wav");
    if !master.exists() {
        let graph = format!(
            "aevalsrc=exprs='{TONE_LEFT}|{TONE_RIGHT}':sample_rate={SOURCE_RATE_HZ}\
             :channel_layout=stereo:duration={SIGNAL_SECS}[tone];\
             anoisesrc=sample_rate={SOURCE_RATE_HZ}:color=pink:amplitude={NOISE_AMPLITUDE}\
             :seed={NOISE_SEED_LEFT}:duration={SIGNAL_SECS}[nl];\
             anoisesrc=sample_rate={SOURCE_RATE_HZ}:color=pink:amplitude={NOISE_AMPLITUDE}\
             :seed={NOISE_SEED_RIGHT}:duration={SIGNAL_SECS}[nr];\
             [nl][nr]amerge=inputs=2[noise];\
             [tone][noise]amix=inputs=2:normalize=0,\
             aformat=sample_fmts=s16:channel_layouts=stereo[out]"
        );
        ffmpeg_to(
            &master,
            &[
                "-filter_complex",
                &graph,
                "-map",
                "[out]",
                "-c:a",
                "pcm_s16le",
            ],
        );
    }
    let master_arg = master.to_str().expect("UTF-8 path");
    for format in &FORMATS {
        let out = dir.join(format.file_name);
        if !out.exists() {
            let mut args = vec!["-i", master_arg];
            args.extend_from_slice(format.ffmpeg_codec_args);
            ffmpeg_to(&out, &args);
        }
    }
    dir
}

/// Decode to the end, or to the first chunk boundary at or past `limit_frames`; returns output
/// frames. This loop is the timed section.
fn drain(pipeline: &mut Pipeline, limit_frames: u64) -> u64 {
    let channels = pipeline.output().channels as u64;
    let mut frames = 0u64;
    while frames < limit_frames {
        let Some(chunk) = pipeline.next_chunk().expect("decode error") else {
            break;
        };
        frames += chunk.len() as u64 / channels;
        black_box(chunk);
    }
    frames
}

/// Output shape of a bench case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The file's own rate and channels.
    Native,
    /// Resampled to `RESAMPLED_RATE_HZ`, stereo.
    Resampled,
}

impl Mode {
    const ALL: [Mode; 2] = [Mode::Native, Mode::Resampled];

    fn name(self) -> &'static str {
        match self {
            Mode::Native => "native",
            Mode::Resampled => "resampled",
        }
    }

    fn output(self) -> Option<OutputFormat> {
        match self {
            Mode::Native => None,
            Mode::Resampled => Some(OutputFormat {
                rate: RESAMPLED_RATE_HZ,
                channels: CHANNELS,
            }),
        }
    }
}

/// One bench case (format × mode) and the timings criterion's run produced.
struct Case {
    format: &'static str,
    mode: Mode,
    path: PathBuf,
    file_bytes: u64,
    codec: String,
    container: String,
    out: Option<OutputFormat>,
    out_rate_hz: u32,
    /// Where each decode stops: `u64::MAX` (the whole file) except in test mode.
    limit_frames: u64,
    frames_out: u64,
    /// Per-iteration durations, one inner vector per call of criterion's routine.
    batches: Vec<Vec<Duration>>,
}

impl Case {
    fn new(format: &'static Format, dir: &Path, mode: Mode, run: RunMode) -> Case {
        let path = dir.join(format.file_name);
        let out = mode.output();
        // Untimed full decode: counts the frames, proves the file decodes, warms the page cache.
        let mut pipeline = Pipeline::open(&path, out).expect("open test file");
        let info = pipeline.info().clone();
        assert_eq!(
            (info.rate, info.channels),
            (SOURCE_RATE_HZ, CHANNELS),
            "{}: unexpected source format",
            path.display()
        );
        let out_rate_hz = pipeline.output().rate;
        let limit_frames = match run {
            RunMode::Test => TEST_MODE_DECODE_FRAMES,
            RunMode::Full | RunMode::List => u64::MAX,
        };
        let frames_out = drain(&mut pipeline, limit_frames);
        let expected_frames = (SIGNAL_SECS * out_rate_hz) as u64;
        // Lossy codecs add encoder delay and padding; a few tens of ms either way is fine.
        assert!(
            run == RunMode::Test || frames_out.abs_diff(expected_frames) < out_rate_hz as u64 / 10,
            "{}: decoded {frames_out} frames, expected about {expected_frames}",
            path.display()
        );
        Case {
            format: format.name,
            mode,
            file_bytes: std::fs::metadata(&path).map_or(0, |m| m.len()),
            path,
            codec: info.codec,
            container: info.container,
            out,
            out_rate_hz,
            limit_frames,
            frames_out,
            batches: Vec::new(),
        }
    }

    fn audio_secs(&self) -> f64 {
        self.frames_out as f64 / self.out_rate_hz as f64
    }

    /// Iteration durations (ns, ascending) of criterion's measurement: its last `SAMPLE_SIZE`
    /// routine calls, which follow the warm-up calls.
    fn measured_ns(&self) -> Vec<u64> {
        let skip = self.batches.len().saturating_sub(SAMPLE_SIZE);
        let mut ns: Vec<u64> = self.batches[skip..]
            .iter()
            .flatten()
            .map(|d| d.as_nanos() as u64)
            .collect();
        ns.sort_unstable();
        ns
    }

    /// `iters` whole-file decodes; only the decode loop is timed.
    fn time_decodes(&self, iters: u64) -> Vec<Duration> {
        (0..iters)
            .map(|_| {
                let mut pipeline = Pipeline::open(&self.path, self.out).expect("open test file");
                let start = Instant::now();
                let decoded = drain(&mut pipeline, self.limit_frames);
                let elapsed = start.elapsed();
                assert_eq!(
                    decoded,
                    self.frames_out,
                    "{}: frame count changed",
                    self.path.display()
                );
                drop(pipeline);
                elapsed
            })
            .collect()
    }
}

fn bench_cases(c: &mut Criterion, cases: &mut [Case]) {
    let mut group = c.benchmark_group("decode");
    group
        .sample_size(SAMPLE_SIZE)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(WARM_UP_SECS))
        .measurement_time(Duration::from_secs(MEASUREMENT_SECS));
    for case in cases.iter_mut() {
        group.throughput(Throughput::Elements(case.frames_out));
        let id = BenchmarkId::new(case.format, case.mode.name());
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let durations = case.time_decodes(iters);
                let total = durations.iter().sum();
                case.batches.push(durations);
                total
            });
        });
    }
    group.finish();
}

fn report(cases: &[Case], run: RunMode) {
    if run != RunMode::Full {
        // Test mode: an unoptimised smoke run of every case; its figures mean nothing.
        return;
    }
    let mut results = Vec::new();
    for case in cases {
        let ns = case.measured_ns();
        if ns.is_empty() {
            continue; // filtered out on the command line
        }
        if results.is_empty() {
            println!(
                "\ndecode speed (median of criterion's measured iterations; \
                 {SIGNAL_SECS} s stereo {SOURCE_RATE_HZ} Hz):"
            );
        }
        let median_ns = common::percentile_sorted(&ns, 50.0);
        let x_realtime = case.audio_secs() * 1e9 / median_ns.max(1) as f64;
        println!(
            "decode format={:<6} case={:<9} x_realtime={:>7.1} median={:>7.2} ms \
             frames_out={} rate_out={} Hz",
            case.format,
            case.mode.name(),
            x_realtime,
            median_ns as f64 / 1e6,
            case.frames_out,
            case.out_rate_hz
        );
        results.push(json!({
            "format": case.format,
            "case": case.mode.name(),
            "file": case.path.file_name().and_then(|n| n.to_str()),
            "file_bytes": case.file_bytes,
            "codec": case.codec,
            "container": case.container,
            "rate_in_hz": SOURCE_RATE_HZ,
            "rate_out_hz": case.out_rate_hz,
            "channels": CHANNELS,
            "frames_out": case.frames_out,
            "audio_secs": case.audio_secs(),
            "iterations": ns.len(),
            "median_ns": median_ns,
            "min_ns": ns[0],
            "max_ns": ns[ns.len() - 1],
            "x_realtime_median": x_realtime,
            "frames_per_sec_median": case.frames_out as f64 * 1e9 / median_ns.max(1) as f64,
        }));
    }
    if results.is_empty() {
        return;
    }
    let doc = json!({
        "bench": "decode",
        "generated_unix_s": common::unix_time_secs(),
        "signal_secs": SIGNAL_SECS,
        "sample_size": SAMPLE_SIZE,
        "measurement_secs": MEASUREMENT_SECS,
        "results": results,
    });
    match common::write_results("decode", &doc) {
        Ok(path) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("cannot write decode results: {e}"),
    }
}

fn main() {
    // No plots: on a loaded 2-core machine rendering them takes longer than measuring (about
    // 15 s per case), which would blow the run's time budget; the numbers are all in the
    // console, in criterion's estimates and in decode.json.
    let mut c = Criterion::default().without_plots().configure_from_args();
    let run = common::run_mode();
    let dir = generate_test_files();
    let mut cases: Vec<Case> = FORMATS
        .iter()
        .flat_map(|f| Mode::ALL.map(|mode| (f, mode)))
        .map(|(f, mode)| Case::new(f, &dir, mode, run))
        .collect();
    bench_cases(&mut c, &mut cases);
    report(&cases, run);
    c.final_summary();
}
