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

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use cpal::{FromSample, SizedSample};
use ringbuf::HeapCons;
use ringbuf::HeapProd;
use ringbuf::traits::{Consumer, Observer, Producer};

use super::shared::{
    Activity, CALLBACK_WINDOW, Episode, Link, METERED_CHANNELS, Mode, SQUARE_SCALE, Shared,
};

/// Samples converted per inner step. Lives inside the callback struct, not on the heap.
const SCRATCH_SAMPLES: usize = 4096;

/// Volume changes glide over this long, so they do not click.
pub const VOLUME_RAMP_MS: u32 = 10;

/// After a flush (seek, pause), the old audio fades out and the new fades in over this long:
/// short enough to feel instant, long enough not to click.
pub const DECLICK_MS: u32 = 3;

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
    scratch: [f32; SCRATCH_SAMPLES],
}

impl Callback {
    pub fn new(
        cons: HeapCons<f32>,
        link: Arc<Link>,
        shared: Arc<Shared>,
        episodes: HeapProd<Episode>,
        epoch: Instant,
    ) -> Callback {
        let rate = link.rate.max(1);
        let channels = link.channels.max(1) as usize;
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
        let ch = self.channels;
        let frames = out.len() / ch;
        let link = &*self.link;
        link.period_frames.store(frames as u32, Ordering::Relaxed);
        link.last_callback_ns.store(now_ns, Ordering::Relaxed);
        link.callbacks.fetch_add(1, Ordering::Relaxed);
        self.shared
            .device_latency_ns
            .store(device_latency_ns, Ordering::Relaxed);

        let mut written = 0usize; // frames of `out` already filled

        // 1. A flush asked for by the decoder (seek, pause, stop): fade out a few ms of what
        //    was queued, drop the rest, and acknowledge.
        let request = link.flush_request.load(Ordering::Acquire);
        if request != link.flush_done.load(Ordering::Relaxed) {
            end_episode(
                &mut self.in_underrun,
                &mut self.episode,
                &mut self.episodes,
                &self.shared,
                now_ns,
            );
            let consumed = link.consumed.load(Ordering::Relaxed);
            link.flush_at_index.store(consumed, Ordering::Relaxed);
            let queued = self.cons.occupied_len() / ch;
            let was_audible = self.fade_in_pos >= self.declick_frames && !self.in_underrun;
            let fade = if was_audible {
                queued.min(self.declick_frames as usize).min(frames)
            } else {
                0
            };
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
            link.consumed
                .store(consumed + queued as u64, Ordering::Release);
            link.flush_done.store(request, Ordering::Release);
            self.fade_in_pos = 0;
            self.in_underrun = false;
        }

        // 2. Play, prime, or stay silent.
        let fill_before = (self.cons.occupied_len() / ch) as u64;
        let mut mode = link.mode();
        if mode == Mode::Priming {
            let pushed = link.pushed.load(Ordering::Acquire);
            let whole_queue_ready = pushed >= link.end_index.load(Ordering::Acquire);
            if whole_queue_ready && fill_before == 0 {
                // Nothing was (or will be) queued: there is nothing to wait for.
                let _ = link.mode.compare_exchange(
                    Mode::Priming as u8,
                    Mode::Idle as u8,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            } else if (fill_before >= link.prime_frames.load(Ordering::Relaxed)
                || whole_queue_ready)
                && link
                    .mode
                    .compare_exchange(
                        Mode::Priming as u8,
                        Mode::Playing as u8,
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            {
                mode = Mode::Playing;
            }
        }

        let mut got = 0usize;
        if mode == Mode::Playing {
            let target = self.shared.volume();
            let start_index = link.consumed.load(Ordering::Relaxed);
            while written + got < frames {
                let want = ((frames - written - got) * ch).min(SCRATCH_SAMPLES / ch * ch);
                let n = self.cons.pop_slice(&mut self.scratch[..want]);
                let n_frames = n / ch;
                if n_frames == 0 {
                    break;
                }
                let base = (written + got) * ch;
                // Levels are summed locally and published once per step, not per sample.
                let mut peaks = [0.0f32; METERED_CHANNELS];
                let mut squares = [0.0f64; METERED_CHANNELS];
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
                        out[base + f * ch + c] = T::from_sample(s);
                        if c < METERED_CHANNELS {
                            peaks[c] = peaks[c].max(s.abs());
                            squares[c] += s as f64 * s as f64;
                        }
                    }
                }
                for c in 0..ch.min(METERED_CHANNELS) {
                    self.shared.peak_bits[c].fetch_max(peaks[c].to_bits(), Ordering::Relaxed);
                    self.shared.square_sum[c]
                        .fetch_add((squares[c] * SQUARE_SCALE) as u64, Ordering::Relaxed);
                }
                got += n_frames;
            }
            let consumed = start_index + got as u64;
            link.consumed.store(consumed, Ordering::Release);
            self.shared
                .frames_played
                .fetch_add(got as u64, Ordering::Relaxed);
            self.shared
                .level_frames
                .fetch_add(got as u64, Ordering::Relaxed);

            // Time to first audio: the first callback that writes the newest track's first frame.
            let watch = link.watch_index.load(Ordering::Acquire);
            if got > 0
                && watch >= start_index
                && watch < consumed
                && link.watch_hit_ns.load(Ordering::Relaxed) == 0
            {
                // An underrun that this frame ends was a gap before the track: report it.
                let gap = if self.in_underrun {
                    now_ns.saturating_sub(self.episode.start_ns)
                } else {
                    0
                };
                link.watch_gap_ns.store(gap, Ordering::Relaxed);
                link.watch_hit_ns.store(now_ns.max(1), Ordering::Release);
            }

            let missing = frames - written - got;
            if missing > 0 {
                if consumed >= link.end_index.load(Ordering::Acquire) {
                    // The queue has played out: the end, not an underrun.
                    let _ = link.mode.compare_exchange(
                        Mode::Playing as u8,
                        Mode::Idle as u8,
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                    );
                    end_episode(
                        &mut self.in_underrun,
                        &mut self.episode,
                        &mut self.episodes,
                        &self.shared,
                        now_ns,
                    );
                } else {
                    if !self.in_underrun {
                        self.in_underrun = true;
                        self.shared
                            .underrun_episodes
                            .fetch_add(1, Ordering::Relaxed);
                        self.episode = Episode {
                            start_ns: now_ns,
                            duration_ns: 0,
                            frames: 0,
                            cause: Activity::from_u8(link.activity.load(Ordering::Relaxed)),
                        };
                    }
                    self.episode.frames += missing as u64;
                    self.shared
                        .silent_frames
                        .fetch_add(missing as u64, Ordering::Relaxed);
                }
            } else {
                end_episode(
                    &mut self.in_underrun,
                    &mut self.episode,
                    &mut self.episodes,
                    &self.shared,
                    now_ns,
                );
            }
        } else if self.in_underrun {
            end_episode(
                &mut self.in_underrun,
                &mut self.episode,
                &mut self.episodes,
                &self.shared,
                now_ns,
            );
        }

        for s in out[(written + got) * ch..].iter_mut() {
            *s = T::EQUILIBRIUM;
        }

        // 3. Meters.
        let fill_after = (self.cons.occupied_len() / ch) as u64;
        if mode == Mode::Playing {
            self.shared
                .ring_min_frames
                .fetch_min(fill_after.min(fill_before), Ordering::Relaxed);
        }
        let dur_ns = t0.elapsed().as_nanos().min(u32::MAX as u128) as u32;
        let period_ns = (frames as u64 * 1_000_000_000 / link.rate.max(1) as u64).max(1);
        let load_ppm = (dur_ns as u64 * 1_000_000 / period_ns).min(u32::MAX as u64) as u32;
        let i = self.shared.callback_count.load(Ordering::Relaxed) as usize % CALLBACK_WINDOW;
        self.shared.callback_dur_ns[i].store(dur_ns, Ordering::Relaxed);
        self.shared.callback_load_ppm[i].store(load_ppm, Ordering::Relaxed);
        self.shared
            .callback_last_ns
            .store(dur_ns, Ordering::Relaxed);
        self.shared
            .callback_max_ns
            .fetch_max(dur_ns, Ordering::Relaxed);
        self.shared.callback_count.fetch_add(1, Ordering::Release);
    }
}

/// Close the running underrun episode (if any) and report it to the non-real-time side.
/// A free function over the fields it needs, so `process` can call it while borrowing others.
fn end_episode(
    in_underrun: &mut bool,
    episode: &mut Episode,
    episodes: &mut HeapProd<Episode>,
    shared: &Shared,
    now_ns: u64,
) {
    if !*in_underrun {
        return;
    }
    *in_underrun = false;
    episode.duration_ns = now_ns.saturating_sub(episode.start_ns);
    if episodes.try_push(*episode).is_err() {
        shared.episodes_dropped.fetch_add(1, Ordering::Relaxed);
    }
}
