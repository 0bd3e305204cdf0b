//! Meter snapshots: a plain copy of every figure, computed from the atomics on demand by any
//! non-real-time thread. Definitions follow shared/DESIGN.md; a meter that lies is worse than
//! none, so each figure says exactly what it measures.

use std::sync::atomic::Ordering;

use serde::Serialize;

use super::shared::{CALLBACK_WINDOW, Link, METERED_CHANNELS, Mode, SQUARE_SCALE, Shared};

/// Everything the meters panel, the status line and the metrics log show.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MeterSnapshot {
    /// "playing", "paused", "stopped".
    pub state: String,
    /// Queue entry heard now.
    pub track: Option<usize>,
    pub track_path: Option<String>,
    /// Frames waiting in the ring, and that as time at the device rate.
    pub ring_fill_frames: u64,
    pub ring_fill_ms: f64,
    /// Lowest fill a callback saw since the previous snapshot (resets on read).
    pub ring_min_fill_ms: f64,
    pub ring_capacity_frames: u64,
    pub ring_capacity_ms: f64,
    /// Device period (frames per callback) and as time.
    pub device_buffer_frames: u32,
    pub device_buffer_ms: f64,
    /// cpal's playback − callback timestamp: how far ahead of the DAC the callback writes.
    pub device_latency_ms: f64,
    /// The resampler's filter delay (0 without resampling).
    pub resampler_delay_ms: f64,
    /// ring + device + resampler: from "decoded" to "heard".
    pub output_latency_ms: f64,
    /// What the listener hears now, in the current track.
    pub position_ms: f64,
    pub duration_ms: Option<f64>,
    /// Underrun episodes and the silent frames they inserted (priming and flushes excluded).
    pub underruns: u64,
    pub silent_frames: u64,
    /// Xruns the host itself reported.
    pub device_xruns: u64,
    /// Callback duration over the last window, in microseconds.
    pub callback_last_us: f64,
    pub callback_p50_us: f64,
    pub callback_p99_us: f64,
    pub callback_max_us: f64,
    /// Callback duration ÷ period (1.0 = the whole period).
    pub callback_load_last: f64,
    pub callback_load_p50: f64,
    pub callback_load_p99: f64,
    pub callback_load_max: f64,
    /// Audio seconds decoded per wall second spent decoding (× realtime).
    pub decode_speed: f64,
    pub file_rate: u32,
    pub device_rate: u32,
    pub device_channels: u16,
    pub codec: String,
    pub sample_format: String,
    pub device: String,
    pub host: String,
    /// How the audio thread is scheduled, e.g. "SCHED_FIFO 60".
    pub audio_thread: String,
    pub frames_played: u64,
    /// From the request (play, seek, resume) to the first callback that wrote its audio.
    pub time_to_first_audio_ms: Option<f64>,
    /// Peak and RMS level per channel since the previous snapshot, in dBFS.
    pub peak_dbfs: Vec<f64>,
    pub rms_dbfs: Vec<f64>,
    /// False while the output device is gone.
    pub device_ok: bool,
    /// The decoder is waiting for a file still being copied into the cache (its source is
    /// slower than playback, or stalled). Filled in by the session layer.
    pub source_waiting: bool,
    /// While the track heard is still being copied: its source's read speed, MB/s.
    pub source_speed_mb_s: Option<f64>,
    /// ... and how far the copy is ahead of the play head, in ms of audio.
    pub source_ahead_ms: Option<f64>,
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn dbfs(x: f64) -> f64 {
    if x <= 1e-10 { -200.0 } else { 20.0 * x.log10() }
}

/// Fill in the figures that come straight from the atomics. `now_ns` is the engine clock.
pub(crate) fn read_atomics(snap: &mut MeterSnapshot, shared: &Shared, link: Option<&Link>) {
    snap.underruns = shared.underrun_episodes.load(Ordering::Relaxed);
    snap.silent_frames = shared.silent_frames.load(Ordering::Relaxed);
    snap.device_xruns = shared.device_xruns.load(Ordering::Relaxed);
    snap.frames_played = shared.frames_played.load(Ordering::Relaxed);
    snap.device_latency_ms = shared.device_latency_ns.load(Ordering::Relaxed) as f64 / 1e6;

    let count = shared.callback_count.load(Ordering::Acquire) as usize;
    let n = count.min(CALLBACK_WINDOW);
    let mut durs: Vec<u32> = (0..n)
        .map(|i| shared.callback_dur_ns[i].load(Ordering::Relaxed))
        .collect();
    let mut loads: Vec<u32> = (0..n)
        .map(|i| shared.callback_load_ppm[i].load(Ordering::Relaxed))
        .collect();
    durs.sort_unstable();
    loads.sort_unstable();
    let last_i = count.wrapping_sub(1) % CALLBACK_WINDOW;
    snap.callback_last_us = shared.callback_last_ns.load(Ordering::Relaxed) as f64 / 1e3;
    snap.callback_p50_us = percentile(&durs, 0.5) as f64 / 1e3;
    snap.callback_p99_us = percentile(&durs, 0.99) as f64 / 1e3;
    snap.callback_max_us = durs.last().copied().unwrap_or(0) as f64 / 1e3;
    snap.callback_load_last = if count > 0 {
        shared.callback_load_ppm[last_i].load(Ordering::Relaxed) as f64 / 1e6
    } else {
        0.0
    };
    snap.callback_load_p50 = percentile(&loads, 0.5) as f64 / 1e6;
    snap.callback_load_p99 = percentile(&loads, 0.99) as f64 / 1e6;
    snap.callback_load_max = loads.last().copied().unwrap_or(0) as f64 / 1e6;

    let busy = shared.decode_busy_ns.load(Ordering::Relaxed);
    let audio = shared.decoded_audio_ns.load(Ordering::Relaxed);
    snap.decode_speed = if busy > 0 {
        audio as f64 / busy as f64
    } else {
        0.0
    };

    let frames = shared.level_frames.swap(0, Ordering::Relaxed).max(1) as f64;
    let channels = link
        .map_or(2, |l| l.channels as usize)
        .min(METERED_CHANNELS);
    snap.peak_dbfs = (0..channels)
        .map(|c| dbfs(f32::from_bits(shared.peak_bits[c].swap(0, Ordering::Relaxed)) as f64))
        .collect();
    snap.rms_dbfs = (0..channels)
        .map(|c| {
            let sq = shared.square_sum[c].swap(0, Ordering::Relaxed) as f64 / SQUARE_SCALE;
            dbfs((sq / frames).sqrt())
        })
        .collect();

    if let Some(link) = link {
        let rate = link.rate.max(1) as f64;
        snap.device_rate = link.rate;
        snap.device_channels = link.channels;
        snap.ring_fill_frames = link.fill_frames();
        snap.ring_fill_ms = snap.ring_fill_frames as f64 * 1000.0 / rate;
        let min = shared.ring_min_frames.swap(u64::MAX, Ordering::Relaxed);
        let min = if min == u64::MAX {
            snap.ring_fill_frames
        } else {
            min
        };
        snap.ring_min_fill_ms = min as f64 * 1000.0 / rate;
        snap.ring_capacity_frames = link.capacity_frames;
        snap.ring_capacity_ms = link.capacity_frames as f64 * 1000.0 / rate;
        snap.device_buffer_frames = link.period_frames.load(Ordering::Relaxed);
        snap.device_buffer_ms = snap.device_buffer_frames as f64 * 1000.0 / rate;
    }
}

/// The ring index the listener hears at engine time `now_ns`: the first frame of the last
/// callback plays at callback time + device latency, and time runs on from there.
pub(crate) fn heard_index(link: &Link, shared: &Shared, now_ns: u64) -> u64 {
    let consumed = link.consumed.load(Ordering::Acquire);
    if link.mode() != Mode::Playing {
        return consumed;
    }
    let period = link.period_frames.load(Ordering::Relaxed) as u64;
    let cb_ns = link.last_callback_ns.load(Ordering::Relaxed);
    let latency_ns = shared.device_latency_ns.load(Ordering::Relaxed);
    let first_of_last = consumed.saturating_sub(period);
    let since_ns = now_ns.saturating_sub(cb_ns) as i128 - latency_ns as i128;
    let advanced = since_ns * link.rate as i128 / 1_000_000_000;
    let heard = first_of_last as i128 + advanced;
    heard.clamp(0, consumed as i128) as u64
}
