//! Cost of the audio callback, [`Callback::process`], per device buffer size.
//!
//! # What is measured
//! One call of `process` in the steady Playing state: the ring holds at least one period of real
//! audio, so every measured call takes a full period from the ring, applies the gain, converts
//! to the device sample format (f32 and i16, the two formats devices most often ask for), feeds
//! the level meters and writes the callback-load meters. Stereo, 48 kHz, periods of 64 to 2048
//! frames. Criterion reports the mean cost with `Throughput::Elements(frames)`, so it also shows
//! frames per second.
//!
//! # Why the ring refill is outside the timed section
//! On a real system the decoder thread fills the ring, concurrently and on another core; the
//! audio thread only ever pops. Timing the refill would charge the callback with the decoder's
//! memcpy, and letting the ring run dry would time the (cheaper) underrun path instead of
//! playback. So the ring is topped up between timed batches (`iter_custom`), each batch is at
//! most as many calls as the ring holds whole periods, and after each batch the meters are
//! checked: every call played exactly one full period and none wrote silence. The ring has the
//! engine's default size ([`DEFAULT_RING_MS`]), so the data it reads spans as much memory as in
//! the player.
//!
//! # Tail latency
//! A real-time deadline cares about the worst calls, not the mean. After criterion's run, each
//! size is also timed call by call (`Instant` around single calls, after a warm-up) and the
//! p50/p99 are printed as a share of the period (the time budget of one call) and written to
//! `target/bench-results/callback.json`. Single-call figures include one `Instant` pair (its
//! cost is printed and recorded as `timer_overhead_p50_ns`), and on a shared machine the p99
//! also includes preemption by other processes.

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cpal::{FromSample, SizedSample};
use criterion::{BenchmarkId, Criterion, Throughput};
use serde_json::json;

use common::RunMode;

use reel::engine::DEFAULT_RING_MS;
use reel::engine::callback::{Wiring, wire};
use reel::engine::shared::{Link, Mode, Shared};

const RATE_HZ: u32 = 48_000;
const CHANNELS: u16 = 2;
const PERIOD_SIZES_FRAMES: [usize; 6] = [64, 128, 256, 512, 1024, 2048];
/// The engine's default ring: 200 ms, 9600 frames at 48 kHz (4 periods of 2048).
const RING_CAPACITY_FRAMES: usize = (DEFAULT_RING_MS * RATE_HZ / 1000) as usize;
/// What cpal would report as playback − callback time; the callback only stores it.
const DEVICE_LATENCY_NS: u64 = 21_000_000;
/// Test tone in the ring: 440 Hz at half scale, so the gain and clamp see real values.
const TONE_HZ: f32 = 440.0;
const TONE_AMPLITUDE: f32 = 0.5;

/// Criterion's timing per case: calls take 1–40 µs, so a few seconds give 100 solid samples.
const CRITERION_WARM_UP_SECS: u64 = 1;
const CRITERION_MEASUREMENT_SECS: u64 = 3;

/// Single calls timed per size for the p50/p99 table, and untimed calls before them.
const LATENCY_CALLS: usize = 20_000;
const LATENCY_WARMUP_CALLS: usize = 2_000;
/// The same, under `cargo test --benches`: just enough to exercise the code.
const LATENCY_CALLS_TEST_MODE: usize = 200;
const LATENCY_WARMUP_CALLS_TEST_MODE: usize = 20;

const NS_PER_SEC: f64 = 1e9;

/// A callback wired to a real ring and real meters, by the engine's own [`wire`].
struct Rig<T> {
    wiring: Wiring,
    link: Arc<Link>,
    shared: Arc<Shared>,
    /// One ring's worth of interleaved tone, copied into the ring on refill.
    tone: Vec<f32>,
    out: Vec<T>,
    period_frames: usize,
    /// Calls made so far; each must have played exactly one period.
    calls: u64,
}

impl<T: SizedSample + FromSample<f32>> Rig<T> {
    fn new(period_frames: usize) -> Rig<T> {
        assert!(period_frames <= RING_CAPACITY_FRAMES);
        let ch = CHANNELS as usize;
        let shared = Arc::new(Shared::default());
        let wiring = wire(
            RATE_HZ,
            CHANNELS,
            RING_CAPACITY_FRAMES as u64,
            &shared,
            Instant::now(),
            None,
        );
        let link = wiring.link.clone();
        link.set_mode(Mode::Playing);
        let tone = (0..RING_CAPACITY_FRAMES)
            .flat_map(|i| {
                let phase = std::f32::consts::TAU * TONE_HZ * i as f32 / RATE_HZ as f32;
                let s = TONE_AMPLITUDE * phase.sin();
                [s; CHANNELS as usize]
            })
            .collect();
        let mut rig = Rig {
            wiring,
            link,
            shared,
            tone,
            out: vec![T::EQUILIBRIUM; period_frames * ch],
            period_frames,
            calls: 0,
        };
        rig.refill();
        rig
    }

    /// Top the ring up to full, as the decoder thread would. Never timed.
    fn refill(&mut self) {
        let ch = CHANNELS as usize;
        let vacant_frames = self.wiring.feed.vacant_frames();
        self.wiring.feed.push(&self.tone[..vacant_frames * ch]);
    }

    /// Calls the ring can serve with a full period each, before it needs a refill.
    fn calls_available(&self) -> usize {
        self.link.fill_frames() as usize / self.period_frames
    }

    /// One device callback: the code under test.
    #[inline(always)]
    fn call(&mut self) {
        self.wiring
            .callback
            .process(black_box(&mut self.out[..]), DEVICE_LATENCY_NS);
        black_box(&self.out);
    }

    /// Every call so far played a full period of ring data: none was silent or short.
    fn assert_all_calls_played(&self) {
        let counters = self.shared.counters();
        assert_eq!(
            counters.frames_played,
            self.calls * self.period_frames as u64,
            "a measured call did not play a full period"
        );
        assert_eq!(counters.silent_frames, 0);
        assert_eq!(counters.underrun_episodes, 0);
        assert_eq!(self.link.mode(), Mode::Playing);
    }

    /// `iters` calls, timed in batches that the ring can serve; refills are not timed.
    fn time_calls(&mut self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            self.refill();
            let batch = (self.calls_available() as u64).min(left);
            let start = Instant::now();
            for _ in 0..batch {
                self.call();
            }
            total += start.elapsed();
            self.calls += batch;
            left -= batch;
            self.assert_all_calls_played();
        }
        total
    }

    /// Durations of `calls` single calls (ns), after `warmup_calls` untimed ones.
    fn single_call_durations_ns(&mut self, warmup_calls: usize, calls: usize) -> Vec<u64> {
        self.time_calls(warmup_calls as u64);
        let mut durations = Vec::with_capacity(calls);
        for _ in 0..calls {
            if self.calls_available() == 0 {
                self.refill();
            }
            let start = Instant::now();
            self.call();
            durations.push(start.elapsed().as_nanos() as u64);
            self.calls += 1;
        }
        self.assert_all_calls_played();
        durations
    }
}

fn bench_format<T: SizedSample + FromSample<f32>>(c: &mut Criterion, format: &str) {
    let mut group = c.benchmark_group(format!("callback/{format}"));
    group
        .warm_up_time(Duration::from_secs(CRITERION_WARM_UP_SECS))
        .measurement_time(Duration::from_secs(CRITERION_MEASUREMENT_SECS));
    for &frames in &PERIOD_SIZES_FRAMES {
        group.throughput(Throughput::Elements(frames as u64));
        // One rig per size, kept across criterion's warm-up and samples, like a running stream.
        let mut rig = Rig::<T>::new(frames);
        group.bench_function(BenchmarkId::new("frames", frames), |b| {
            b.iter_custom(|iters| rig.time_calls(iters));
        });
    }
    group.finish();
}

/// p50/p99 of single calls, one row per format and size.
struct LatencyRow {
    format: &'static str,
    period_frames: usize,
    p50_ns: u64,
    p99_ns: u64,
    max_ns: u64,
    mean_ns: f64,
}

impl LatencyRow {
    fn period_ns(&self) -> f64 {
        self.period_frames as f64 * NS_PER_SEC / RATE_HZ as f64
    }

    fn share_pct(&self, ns: u64) -> f64 {
        ns as f64 * 100.0 / self.period_ns()
    }
}

fn latency_row<T: SizedSample + FromSample<f32>>(
    format: &'static str,
    period_frames: usize,
    warmup_calls: usize,
    calls: usize,
) -> LatencyRow {
    let mut rig = Rig::<T>::new(period_frames);
    let mut durations = rig.single_call_durations_ns(warmup_calls, calls);
    durations.sort_unstable();
    LatencyRow {
        format,
        period_frames,
        p50_ns: common::percentile_sorted(&durations, 50.0),
        p99_ns: common::percentile_sorted(&durations, 99.0),
        max_ns: durations.last().copied().unwrap_or(0),
        mean_ns: durations.iter().sum::<u64>() as f64 / durations.len().max(1) as f64,
    }
}

/// Median cost of the `Instant` pair wrapped around each single call.
fn timer_overhead_p50_ns() -> u64 {
    let mut samples: Vec<u64> = (0..LATENCY_CALLS)
        .map(|_| {
            let start = Instant::now();
            black_box(start.elapsed()).as_nanos() as u64
        })
        .collect();
    samples.sort_unstable();
    common::percentile_sorted(&samples, 50.0)
}

fn latency_table() {
    let mode = common::run_mode();
    let (warmup_calls, calls) = match mode {
        RunMode::Full => (LATENCY_WARMUP_CALLS, LATENCY_CALLS),
        RunMode::Test => (LATENCY_WARMUP_CALLS_TEST_MODE, LATENCY_CALLS_TEST_MODE),
        RunMode::List => return,
    };
    let mut rows = Vec::new();
    for &frames in &PERIOD_SIZES_FRAMES {
        rows.push(latency_row::<f32>("f32", frames, warmup_calls, calls));
    }
    for &frames in &PERIOD_SIZES_FRAMES {
        rows.push(latency_row::<i16>("i16", frames, warmup_calls, calls));
    }
    if mode == RunMode::Test {
        // An unoptimised smoke run: the code ran, its figures mean nothing.
        return;
    }
    let timer_ns = timer_overhead_p50_ns();
    println!(
        "\ncallback single-call latency: {calls} calls per size after {warmup_calls} warm-up \
         calls, {RATE_HZ} Hz, {CHANNELS} ch, ring {RING_CAPACITY_FRAMES} frames; \
         Instant pair p50={timer_ns} ns (included)"
    );
    for r in &rows {
        println!(
            "callback frames={} p50={} ns p99={} ns period={:.0} ns p50_share={:.4}% \
             p99_share={:.4}% format={}",
            r.period_frames,
            r.p50_ns,
            r.p99_ns,
            r.period_ns(),
            r.share_pct(r.p50_ns),
            r.share_pct(r.p99_ns),
            r.format
        );
    }
    let results: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "format": r.format,
                "frames": r.period_frames,
                "period_ns": r.period_ns(),
                "p50_ns": r.p50_ns,
                "p99_ns": r.p99_ns,
                "max_ns": r.max_ns,
                "mean_ns": r.mean_ns,
                "p50_share_pct": r.share_pct(r.p50_ns),
                "p99_share_pct": r.share_pct(r.p99_ns),
            })
        })
        .collect();
    let doc = json!({
        "bench": "callback",
        "generated_unix_s": common::unix_time_secs(),
        "rate_hz": RATE_HZ,
        "channels": CHANNELS,
        "ring_capacity_frames": RING_CAPACITY_FRAMES,
        "calls_per_size": calls,
        "warmup_calls": warmup_calls,
        "timer_overhead_p50_ns": timer_ns,
        "results": results,
    });
    match common::write_results("callback", &doc) {
        Ok(path) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("cannot write callback results: {e}"),
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_format::<f32>(&mut c, "f32");
    bench_format::<i16>(&mut c, "i16");
    latency_table();
    c.final_summary();
}
