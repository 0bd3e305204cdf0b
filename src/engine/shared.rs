//! State shared with the audio thread: atomics only.
//!
//! Two structs:
//! - [`Shared`]: one per engine. Volume, and the cumulative meters the callback writes.
//! - [`Link`]: one per output stream (and its ring). The decoder and the callback coordinate
//!   through it: mode, flush requests, and ring-index counters that let non-real-time code
//!   map "the frame being played" back to a track and a position.
//!
//! Ring indices: every frame pushed into a link's ring gets the next index (`pushed`). The
//! callback consumes frames in order (`consumed` = index of the next frame it will take);
//! frames discarded by a flush count as consumed. So `consumed` names, at any instant, the
//! exact place in the decoder's output that the device is about to play.
//!
//! Orderings: a writer publishes with `Release` what a reader must see whole, readers `Acquire`.
//! Counters that are only ever read as independent figures use `Relaxed`.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

/// Callback durations kept for the p50/p99/max window: about 20 s of 512-frame periods at 48 kHz.
pub const CALLBACK_WINDOW: usize = 2048;

/// Channels for which peak and RMS levels are metered.
pub const METERED_CHANNELS: usize = 8;

/// Fixed-point scale for summed squares (x² ≤ 1, so 2^32 per frame leaves room for 2^31 frames).
pub const SQUARE_SCALE: f64 = (1u64 << 32) as f64;

/// What the callback does with the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Nothing to play: silence, no underruns.
    Idle = 0,
    /// Paused by the user: silence, no underruns.
    Paused = 1,
    /// Waiting for the ring to hold enough to start: silence, no underruns (priming).
    Priming = 2,
    /// Playing: a short ring is an underrun.
    Playing = 3,
}

impl Mode {
    pub fn from_u8(v: u8) -> Mode {
        match v {
            1 => Mode::Paused,
            2 => Mode::Priming,
            3 => Mode::Playing,
            _ => Mode::Idle,
        }
    }
}

/// What the decoder was doing, used to tag underrun episodes with a cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Activity {
    /// Decoding normally: a shortage means it could not keep up (CPU or a slow read).
    Decoding = 0,
    /// Opening the next track.
    Opening = 1,
    /// Seeking.
    Seeking = 2,
    /// Blocked on a file still being copied into the cache (engine/opener.rs).
    Source = 3,
}

impl Activity {
    pub fn from_u8(v: u8) -> Activity {
        match v {
            1 => Activity::Opening,
            2 => Activity::Seeking,
            3 => Activity::Source,
            _ => Activity::Decoding,
        }
    }

    /// The cause tag shown for an underrun episode that began while the decoder did this.
    pub fn cause(self) -> &'static str {
        match self {
            Activity::Decoding => "starved",
            Activity::Opening => "opening",
            Activity::Seeking => "seeking",
            Activity::Source => "source",
        }
    }
}

/// One underrun episode: a run of callbacks that found the ring short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Episode {
    /// Engine clock (ns since the engine started) when it began.
    pub start_ns: u64,
    /// How long it lasted.
    pub duration_ns: u64,
    /// Silent frames inserted.
    pub frames: u64,
    pub cause: Activity,
}

/// Per-stream coordination between the decoder thread and the callback.
pub struct Link {
    pub rate: u32,
    pub channels: u16,
    pub capacity_frames: u64,
    /// Callback size actually seen, in frames.
    pub period_frames: AtomicU32,
    pub mode: AtomicU8,
    pub activity: AtomicU8,
    /// Decoder asks for a flush by bumping this; the callback answers in `flush_done`.
    pub flush_request: AtomicU64,
    pub flush_done: AtomicU64,
    /// `consumed` at the moment of the last flush: what the listener heard last.
    pub flush_at_index: AtomicU64,
    /// The queue ends at this index: running dry there is the end, not an underrun.
    pub end_index: AtomicU64,
    pub pushed: AtomicU64,
    pub consumed: AtomicU64,
    /// Frames needed in the ring before Priming turns into Playing.
    pub prime_frames: AtomicU64,
    /// The first frame of the newest track, and when a callback first wrote it.
    pub watch_index: AtomicU64,
    pub watch_hit_ns: AtomicU64,
    /// Length of the underrun (if any) that the watched frame ended: the gap before the track.
    pub watch_gap_ns: AtomicU64,
    /// Engine clock of the newest callback.
    pub last_callback_ns: AtomicU64,
    /// Callbacks run on this stream (a stalled stream stops counting).
    pub callbacks: AtomicU64,
}

impl Link {
    pub fn new(rate: u32, channels: u16, capacity_frames: u64) -> Link {
        Link {
            rate,
            channels,
            capacity_frames,
            period_frames: AtomicU32::new(0),
            mode: AtomicU8::new(Mode::Idle as u8),
            activity: AtomicU8::new(Activity::Decoding as u8),
            flush_request: AtomicU64::new(0),
            flush_done: AtomicU64::new(0),
            flush_at_index: AtomicU64::new(0),
            end_index: AtomicU64::new(u64::MAX),
            pushed: AtomicU64::new(0),
            consumed: AtomicU64::new(0),
            prime_frames: AtomicU64::new(0),
            watch_index: AtomicU64::new(u64::MAX),
            watch_hit_ns: AtomicU64::new(0),
            watch_gap_ns: AtomicU64::new(0),
            last_callback_ns: AtomicU64::new(0),
            callbacks: AtomicU64::new(0),
        }
    }

    pub fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Ordering::Acquire))
    }

    pub fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::Release);
    }

    pub fn set_activity(&self, a: Activity) {
        self.activity.store(a as u8, Ordering::Relaxed);
    }

    /// Frames waiting in the ring.
    pub fn fill_frames(&self) -> u64 {
        self.pushed
            .load(Ordering::Acquire)
            .saturating_sub(self.consumed.load(Ordering::Acquire))
    }
}

/// Engine-wide controls and cumulative meters.
pub struct Shared {
    /// Target volume, f32 bits (0.0 ..= 1.0, linear gain).
    pub volume: AtomicU32,
    pub device_latency_ns: AtomicU64,
    pub underrun_episodes: AtomicU64,
    pub silent_frames: AtomicU64,
    pub frames_played: AtomicU64,
    pub episodes_dropped: AtomicU64,
    /// Lowest ring fill (frames) seen by a callback since the last reader reset it.
    pub ring_min_frames: AtomicU64,
    pub callback_last_ns: AtomicU32,
    pub callback_max_ns: AtomicU32,
    pub callback_count: AtomicU64,
    pub callback_dur_ns: [AtomicU32; CALLBACK_WINDOW],
    pub callback_load_ppm: [AtomicU32; CALLBACK_WINDOW],
    /// Peak |sample| per channel since the last read, f32 bits (non-negative, so bit order is
    /// value order and `fetch_max` works on the bits).
    pub peak_bits: [AtomicU32; METERED_CHANNELS],
    /// Sum of squares per channel since the last read, fixed point (`SQUARE_SCALE`).
    pub square_sum: [AtomicU64; METERED_CHANNELS],
    pub level_frames: AtomicU64,
    /// Audio decoded (ns of audio) and wall time spent decoding (ns, excluding time parked on a
    /// full ring): their ratio is the decode speed.
    pub decoded_audio_ns: AtomicU64,
    pub decode_busy_ns: AtomicU64,
    /// Device xruns reported by the host through the error callback.
    pub device_xruns: AtomicU64,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            volume: AtomicU32::new(1.0f32.to_bits()),
            device_latency_ns: AtomicU64::new(0),
            underrun_episodes: AtomicU64::new(0),
            silent_frames: AtomicU64::new(0),
            frames_played: AtomicU64::new(0),
            episodes_dropped: AtomicU64::new(0),
            ring_min_frames: AtomicU64::new(u64::MAX),
            callback_last_ns: AtomicU32::new(0),
            callback_max_ns: AtomicU32::new(0),
            callback_count: AtomicU64::new(0),
            callback_dur_ns: std::array::from_fn(|_| AtomicU32::new(0)),
            callback_load_ppm: std::array::from_fn(|_| AtomicU32::new(0)),
            peak_bits: std::array::from_fn(|_| AtomicU32::new(0)),
            square_sum: std::array::from_fn(|_| AtomicU64::new(0)),
            level_frames: AtomicU64::new(0),
            decoded_audio_ns: AtomicU64::new(0),
            decode_busy_ns: AtomicU64::new(0),
            device_xruns: AtomicU64::new(0),
        }
    }
}

impl Shared {
    pub fn volume(&self) -> f32 {
        f32::from_bits(self.volume.load(Ordering::Relaxed))
    }

    pub fn set_volume(&self, v: f32) {
        let v = if v.is_finite() {
            v.clamp(0.0, 1.0)
        } else {
            1.0
        };
        self.volume.store(v.to_bits(), Ordering::Relaxed);
    }
}
