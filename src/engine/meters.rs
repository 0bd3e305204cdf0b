//! Meter snapshots: a plain copy of every figure, computed from the atomics on demand by any
//! non-real-time thread. Definitions follow shared/DESIGN.md; a meter that lies is worse than
//! none, so each figure says exactly what it measures.

use serde::Serialize;

use super::levels::{Levels, PEAK_HOLD_MS, RMS_WINDOW_MS};
use super::shared::{Link, Mode, Shared};
use super::status::PlayState;

/// Everything the meters panel, the status line and the metrics log show.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MeterSnapshot {
    /// Playing, paused or stopped (in JSON: "playing", "paused", "stopped").
    pub state: PlayState,
    /// Queue entry heard now.
    pub track: Option<usize>,
    /// The queue's modes, and whether Next and Previous go anywhere from the entry heard
    /// (`engine::Modes`). Not in the metrics log.
    #[serde(skip)]
    pub shuffle: bool,
    #[serde(skip)]
    pub repeat: super::queue::Repeat,
    #[serde(skip)]
    pub can_go_next: bool,
    #[serde(skip)]
    pub can_go_previous: bool,
    /// The id of the entry heard ([`super::queue::EntryId`]), with `track`.
    #[serde(skip)]
    pub entry_id: Option<super::queue::EntryId>,
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
    /// On a sound server this is mostly the server's buffer behind reel's stream.
    pub device_latency_ms: f64,
    /// What reel asks the sound server to keep queued (0 = no server buffer, e.g. ALSA): the
    /// target that `device_latency_ms` measures. The ring is this much larger than the
    /// `--buffer-ms` asked for, so that one priming fills both.
    pub server_buffer_ms: f64,
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
    /// Levels per channel, at what is heard now (engine/levels.rs says how each is measured),
    /// after the volume. Sample peak since the previous snapshot, dBFS.
    pub peak_dbfs: Vec<f64>,
    /// True peak (4x oversampled, ITU-R BS.1770-4 Annex 2) since the previous snapshot, dBTP.
    pub true_peak_dbtp: Vec<f64>,
    /// RMS over the last `rms_window_ms`, dBFS.
    pub rms_dbfs: Vec<f64>,
    pub rms_window_ms: f64,
    /// The highest sample peak and true peak in the last `peak_hold_ms`.
    pub peak_hold_dbfs: Vec<f64>,
    pub true_peak_hold_dbtp: Vec<f64>,
    pub peak_hold_ms: f64,
    /// A heard sample reached full scale (after the volume) since the indicator was last
    /// cleared ([`super::Engine::clear_clip`]).
    pub clipped: bool,
    /// False while the output device is gone.
    pub device_ok: bool,
    /// ReplayGain applied to the heard track, in dB (0 when none), and where it came from:
    /// "tag", "scan" or "none".
    pub gain_db: f64,
    pub gain_source: String,
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

/// A linear level in dB relative to full scale (-200 for silence).
pub fn dbfs(x: f64) -> f64 {
    if x <= 1e-10 { -200.0 } else { 20.0 * x.log10() }
}

/// Fill in the figures that come straight from the atomics. `now_ns` is the engine clock.
pub(crate) fn read_atomics(snap: &mut MeterSnapshot, shared: &Shared, link: Option<&Link>) {
    let c = shared.counters();
    snap.underruns = c.underrun_episodes;
    snap.silent_frames = c.silent_frames;
    snap.device_xruns = c.device_xruns;
    snap.frames_played = c.frames_played;
    snap.device_latency_ms = c.device_latency_ns as f64 / 1e6;

    let window = shared.callback_window();
    let mut durs = window.durations_ns;
    let mut loads = window.loads_ppm;
    durs.sort_unstable();
    loads.sort_unstable();
    snap.callback_last_us = window.last_ns as f64 / 1e3;
    snap.callback_p50_us = percentile(&durs, 0.5) as f64 / 1e3;
    snap.callback_p99_us = percentile(&durs, 0.99) as f64 / 1e3;
    snap.callback_max_us = durs.last().copied().unwrap_or(0) as f64 / 1e3;
    snap.callback_load_last = window.last_load_ppm as f64 / 1e6;
    snap.callback_load_p50 = percentile(&loads, 0.5) as f64 / 1e6;
    snap.callback_load_p99 = percentile(&loads, 0.99) as f64 / 1e6;
    snap.callback_load_max = loads.last().copied().unwrap_or(0) as f64 / 1e6;

    snap.decode_speed = if c.decode_busy_ns > 0 {
        c.decoded_audio_ns as f64 / c.decode_busy_ns as f64
    } else {
        0.0
    };

    if let Some(link) = link {
        let rate = link.rate().max(1) as f64;
        snap.device_rate = link.rate();
        snap.device_channels = link.channels();
        snap.ring_fill_frames = link.fill_frames();
        snap.ring_fill_ms = snap.ring_fill_frames as f64 * 1000.0 / rate;
        let min = shared.take_ring_low().unwrap_or(snap.ring_fill_frames);
        snap.ring_min_fill_ms = min as f64 * 1000.0 / rate;
        snap.ring_capacity_frames = link.capacity_frames();
        snap.ring_capacity_ms = link.capacity_frames() as f64 * 1000.0 / rate;
        snap.server_buffer_ms = link.server_buffer_frames() as f64 * 1000.0 / rate;
        snap.device_buffer_frames = link.period_frames();
        snap.device_buffer_ms = snap.device_buffer_frames as f64 * 1000.0 / rate;
    }
}

/// Fill in the level meters from `levels` (read at the heard index by the caller).
pub(crate) fn fill_levels(snap: &mut MeterSnapshot, levels: Levels) {
    let db = |v: Vec<f64>| v.into_iter().map(dbfs).collect();
    snap.peak_dbfs = db(levels.sample_peak);
    snap.true_peak_dbtp = db(levels.true_peak);
    snap.rms_dbfs = db(levels.rms);
    snap.peak_hold_dbfs = db(levels.sample_peak_hold);
    snap.true_peak_hold_dbtp = db(levels.true_peak_hold);
    snap.clipped = levels.clipped;
    snap.rms_window_ms = RMS_WINDOW_MS as f64;
    snap.peak_hold_ms = PEAK_HOLD_MS as f64;
}

/// The ring index the listener hears at engine time `now_ns` (see [`Link::heard_at`]).
pub(crate) fn heard_index(link: &Link, shared: &Shared, now_ns: u64) -> u64 {
    if link.mode() != Mode::Playing {
        return link.consumed();
    }
    link.heard_at(now_ns, shared.device_latency_ns())
}
