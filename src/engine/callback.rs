//! The only code that runs on the audio thread.
//!
//! # Real-time contract
//! [`Callback::process`] is called by cpal for every device period. It:
//! - allocates nothing, frees nothing, takes no locks, does no I/O and no logging, and never
//!   waits;
//! - reads the ring (ringbuf SPSC consumer), atomics in [`Link`] and [`Shared`], and a scratch
//!   array that lives inside `self` (allocated once, when the stream is built);
//! - reads the clock with `Instant::now()`, which on Linux is a vDSO call that does not enter
//!   the kernel (it is needed for the callback-load meter and time-to-first-audio).
//!
//! Teardown: the `Callback` itself lives in an `Arc` slot (`output::CallbackSlot`) whose other
//! clone the supervisor keeps, and everything it owns that points at the heap is an `Arc` too
//! (the ring, the episode queue, `Link`, `Shared`). So when cpal drops its closure on the audio
//! thread, only reference counts change there; the memory is freed on the supervisor thread
//! after the stream is gone. (cpal's own boxed closure, a few bytes, is cpal's to free.)
//!
//! `tests/callback_is_allocation_free.rs` drives `process` through every state under
//! `assert_no_alloc`.

//!
//! # Phases of one call
//! [`Callback::process`] runs, in order: [`Callback::serve_flush`] (a flush the decoder asked
//! for), [`Link::settle_priming`] (whether to play this period), [`Callback::play`] (ring →
//! device, with gain, then [`Callback::account`]: first audio, end of queue or
//! underrun), silence for the rest, and [`Callback::publish_meters`]. The protocol steps they
//! take, and the memory-ordering rules, are in [`super::shared`].
//!
//! # Wiring
//! [`wire`] builds a callback together with its ring, [`Link`], [`Feed`] and episode queue.
//! The output backends, the benchmark and the allocation test all use it, so what they run is
//! what plays.

use std::sync::Arc;
use std::time::Instant;

use cpal::{FromSample, SizedSample};
use ringbuf::traits::{Consumer, Observer, Producer};
use ringbuf::{HeapCons, HeapProd, HeapRb};

use super::mock::DecoderGate;
use super::shared::{Activity, Episode, Feed, Link, Mode, Shared};

/// Samples converted per inner step. Lives inside the callback struct, not on the heap.
const SCRATCH_SAMPLES: usize = 4096;

/// Volume changes glide over this long, so they do not click.
pub const VOLUME_RAMP_MS: u32 = 10;

/// After a flush (seek, pause), the old audio fades out and the new fades in over this long:
/// short enough to feel instant, long enough not to click.
pub const DECLICK_MS: u32 = 3;

/// Underrun episodes the callback can report before a reader drains them.
pub const EPISODE_QUEUE: usize = 256;

pub struct Callback {
    cons: HeapCons<f32>,
    link: Arc<Link>,
    shared: Arc<Shared>,
    episodes: HeapProd<Episode>,
    epoch: Instant,
    channels: usize,
    gain: f32,
    gain_step: f32,
    /// Frames into the fade-in after a flush; `declick_frames` when no fade is running.
    fade_in_pos: u32,
    declick_frames: u32,
    in_underrun: bool,
    episode: Episode,
    /// The first call registers its thread (see [`Link::register_audio_thread`]).
    registered: bool,
    scratch: [f32; SCRATCH_SAMPLES],
}

/// A callback and everything around it, as [`wire`] builds it.
pub struct Wiring {
    /// For the device's audio thread.
    pub callback: Callback,
    /// For the decoder thread.
    pub feed: Feed,
    pub link: Arc<Link>,
    /// For the supervisor: the underrun episodes the callback reports.
    pub episodes: HeapCons<Episode>,
    /// Holds the ring's and the episode queue's memory. Whoever tears the stream down keeps
    /// this until the audio thread has let go of the callback, so the memory is freed there,
    /// never on the audio thread (see the module docs, "Teardown").
    pub storage: RingStorage,
}

/// The heap storage behind a callback's rings; see [`Wiring::storage`].
pub struct RingStorage {
    _samples: Arc<HeapRb<f32>>,
    _episodes: Arc<HeapRb<Episode>>,
}

/// Build a callback for a stream of `rate` and `channels` with a ring of `capacity_frames`,
/// with its feed, link and episode queue. `gate` is the mock backend's test hook (`None` for a
/// real device).
pub fn wire(
    rate: u32,
    channels: u16,
    capacity_frames: u64,
    shared: &Arc<Shared>,
    epoch: Instant,
    gate: Option<Arc<DecoderGate>>,
) -> Wiring {
    let samples = Arc::new(HeapRb::<f32>::new(
        capacity_frames as usize * channels.max(1) as usize,
    ));
    let episodes = Arc::new(HeapRb::<Episode>::new(EPISODE_QUEUE));
    let link = Arc::new(Link::with_gate(rate, channels, capacity_frames, gate));
    let callback = Callback::new(
        HeapCons::new(samples.clone()),
        link.clone(),
        shared.clone(),
        HeapProd::new(episodes.clone()),
        epoch,
    );
    Wiring {
        callback,
        feed: Feed::new(
            HeapProd::new(samples.clone()),
            link.clone(),
            shared.observed(),
        ),
        link,
        episodes: HeapCons::new(episodes.clone()),
        storage: RingStorage {
            _samples: samples,
            _episodes: episodes,
        },
    }
}

impl Callback {
    fn new(
        cons: HeapCons<f32>,
        link: Arc<Link>,
        shared: Arc<Shared>,
        episodes: HeapProd<Episode>,
        epoch: Instant,
    ) -> Callback {
        let rate = link.rate().max(1);
        let channels = link.channels().max(1) as usize;
        let declick_frames = (rate * DECLICK_MS / 1000).max(1);
        Callback {
            cons,
            gain: shared.volume(),
            gain_step: 1.0 / (rate * VOLUME_RAMP_MS / 1000).max(1) as f32,
            link,
            shared,
            episodes,
            epoch,
            channels,
            fade_in_pos: declick_frames,
            declick_frames,
            in_underrun: false,
            episode: Episode {
                start_ns: 0,
                duration_ns: 0,
                frames: 0,
                cause: Activity::Decoding,
            },
            registered: false,
            scratch: [0.0; SCRATCH_SAMPLES],
        }
    }

    /// Fill one device buffer. `device_latency_ns` is cpal's playback − callback timestamp.
    pub fn process<T>(&mut self, out: &mut [T], device_latency_ns: u64)
    where
        T: SizedSample + FromSample<f32>,
    {
        let t0 = Instant::now();
        let now_ns = t0.saturating_duration_since(self.epoch).as_nanos() as u64;
        let frames = out.len() / self.channels;
        if !self.registered {
            self.registered = true;
            self.link.register_audio_thread();
        }
        self.link.begin_callback(frames, now_ns);
        self.shared.publish_device_latency(device_latency_ns);

        let mut written = self.serve_flush(out, now_ns);
        let fill_before = self.ring_frames();
        let mode = self.link.settle_priming(fill_before, now_ns);
        if mode == Mode::Playing {
            written += self.play(&mut out[written * self.channels..], now_ns);
        } else {
            self.end_episode(now_ns);
        }
        for s in out[written * self.channels..].iter_mut() {
            *s = T::EQUILIBRIUM;
        }
        self.publish_meters(t0, frames, fill_before, mode);
    }

    /// Frames in the ring.
    fn ring_frames(&self) -> u64 {
        (self.cons.occupied_len() / self.channels) as u64
    }

    /// Phase 1. A flush asked for by the decoder (seek, pause, stop): fade out a few ms of
    /// what was queued into `out`, drop the rest, and acknowledge. Returns the frames written.
    fn serve_flush<T>(&mut self, out: &mut [T], now_ns: u64) -> usize
    where
        T: SizedSample + FromSample<f32>,
    {
        let Some(request) = self.link.pending_flush() else {
            return 0;
        };
        let ch = self.channels;
        self.end_episode(now_ns);
        let queued = self.cons.occupied_len() / ch;
        let was_audible = self.fade_in_pos >= self.declick_frames && !self.in_underrun;
        let fade = if was_audible {
            queued.min(self.declick_frames as usize).min(out.len() / ch)
        } else {
            0
        };
        let mut written = 0;
        if fade > 0 {
            let n = self.cons.pop_slice(&mut self.scratch[..fade * ch]);
            let fade_frames = n / ch;
            for f in 0..fade_frames {
                let g = self.gain * (1.0 - (f + 1) as f32 / fade_frames as f32);
                for c in 0..ch {
                    out[f * ch + c] =
                        T::from_sample((self.scratch[f * ch + c] * g).clamp(-1.0, 1.0));
                }
            }
            written = fade_frames;
        }
        let rest = self.cons.occupied_len();
        self.cons.skip(rest);
        self.link.acknowledge_flush(
            request,
            queued as u64,
            now_ns,
            self.shared.device_latency_ns(),
        );
        self.fade_in_pos = 0;
        self.in_underrun = false;
        written
    }

    /// Phase 2 (Playing). Fill `out` from the ring (skipping a cut the decoder asked for:
    /// [`Link::cut`]), then account for what it held. Returns the frames written.
    fn play<T>(&mut self, out: &mut [T], now_ns: u64) -> usize
    where
        T: SizedSample + FromSample<f32>,
    {
        let ch = self.channels;
        let frames = out.len() / ch;
        let start_index = self.link.consumed();
        let mut got = 0usize;
        // Frames of a cut skipped this period (they count as consumed, not as played).
        let mut skipped = 0u64;
        while got < frames {
            let mut want = ((frames - got) * ch).min(SCRATCH_SAMPLES / ch * ch);
            if let Some((from, to)) = self.link.cut() {
                let at = start_index + got as u64 + skipped;
                if at >= from {
                    let n = (to.saturating_sub(at) as usize).min(self.cons.occupied_len() / ch);
                    self.cons.skip(n * ch);
                    skipped += n as u64;
                    self.link.finish_cut(from);
                    continue;
                }
                want = want.min((from - at) as usize * ch);
            }
            let n_frames = self.cons.pop_slice(&mut self.scratch[..want]) / ch;
            if n_frames == 0 {
                break;
            }
            self.render(&mut out[got * ch..], n_frames);
            got += n_frames;
        }
        let consumed = start_index + got as u64 + skipped;
        self.link.publish_consumed(consumed);
        self.account(start_index, consumed, frames - got, now_ns);
        got
    }

    /// Convert `n_frames` from the scratch array into `out` with the gain (volume ramp and
    /// fade-in). Their levels were measured by the decoder (engine/levels.rs), not here.
    fn render<T>(&mut self, out: &mut [T], n_frames: usize)
    where
        T: SizedSample + FromSample<f32>,
    {
        let ch = self.channels;
        let target = self.shared.volume();
        for f in 0..n_frames {
            // Volume glides towards its target; a fade-in follows any flush.
            if self.gain < target {
                self.gain = (self.gain + self.gain_step).min(target);
            } else if self.gain > target {
                self.gain = (self.gain - self.gain_step).max(target);
            }
            let mut g = self.gain;
            if self.fade_in_pos < self.declick_frames {
                self.fade_in_pos += 1;
                g *= self.fade_in_pos as f32 / self.declick_frames as f32;
            }
            for c in 0..ch {
                let s = (self.scratch[f * ch + c] * g).clamp(-1.0, 1.0);
                out[f * ch + c] = T::from_sample(s);
            }
        }
        self.shared.publish_played(n_frames as u64);
    }

    /// After playing ring indices `from..to` with `missing` frames short: stamp the first
    /// audio of a new segment, and tell the end of the queue from an underrun.
    fn account(&mut self, from: u64, to: u64, missing: usize, now_ns: u64) {
        if to > from {
            // An underrun that this period ends was a gap before the watched frame.
            let gap = if self.in_underrun {
                now_ns.saturating_sub(self.episode.start_ns)
            } else {
                0
            };
            self.link.note_first_audio(from, to, now_ns, gap);
        }
        // A full period, or a short one at the end of the queue (not an underrun).
        if missing == 0 || self.link.finish_if_played_out(to) {
            self.end_episode(now_ns);
        } else {
            if !self.in_underrun {
                self.in_underrun = true;
                self.shared.count_underrun();
                self.episode = Episode {
                    start_ns: now_ns,
                    duration_ns: 0,
                    frames: 0,
                    cause: self.link.activity(),
                };
            }
            self.episode.frames += missing as u64;
            self.shared.add_silent_frames(missing as u64);
        }
    }

    /// Phase 3. Ring low-water mark and the callback-load window.
    fn publish_meters(&self, t0: Instant, frames: usize, fill_before: u64, mode: Mode) {
        if mode == Mode::Playing {
            self.shared
                .note_ring_low(self.ring_frames().min(fill_before));
        }
        let dur_ns = t0.elapsed().as_nanos().min(u32::MAX as u128) as u32;
        let period_ns = (frames as u64 * 1_000_000_000 / self.link.rate().max(1) as u64).max(1);
        let load_ppm = (dur_ns as u64 * 1_000_000 / period_ns).min(u32::MAX as u64) as u32;
        self.shared.record_callback(dur_ns, load_ppm);
    }

    /// Close the running underrun episode (if any) and report it to the non-real-time side.
    fn end_episode(&mut self, now_ns: u64) {
        if !self.in_underrun {
            return;
        }
        self.in_underrun = false;
        self.episode.duration_ns = now_ns.saturating_sub(self.episode.start_ns);
        if self.episodes.try_push(self.episode).is_err() {
            self.shared.count_dropped_episode();
        }
    }
}
