//! Level meters that agree in time with what is heard: sample peak, true peak, RMS, peak hold
//! and a latching clip indicator.
//!
//! # Threads
//! - [`LevelWriter`] runs on the **decoder thread**, inside [`super::shared::Feed::push`]: it
//!   measures each block of [`LEVEL_BLOCK_FRAMES`] frames as it goes into the ring, and
//!   publishes the figures in the [`LevelTape`] under the block's ring index.
//! - [`LevelTape`] is atomics only (one per output stream, inside its `Link`).
//! - [`LevelReader`] runs on whichever **non-real-time thread** takes the meter snapshot (the
//!   window, the metrics log): it reads the blocks at the ring index the listener hears now
//!   ([`super::meters::heard_index`]), so a meter moves when its sound comes out of the
//!   loudspeaker, not a ring and a device buffer earlier.
//!
//! The audio callback measures nothing: true peak needs a 4x oversampling filter, which has no
//! place on the audio thread, and with every figure taken in one place they all share one
//! clock.
//!
//! # What each figure is
//! - **Sample peak**: the largest |sample| heard since the previous snapshot, in dBFS.
//! - **True peak**: the largest |value| of the signal reconstructed between samples, 4x
//!   oversampled as ITU-R BS.1770-4 Annex 2 defines it (the `ebur128` crate's interpolator:
//!   a 48-tap polyphase FIR, 12 taps per phase; 2x from 96 kHz, none from 192 kHz), in dBTP.
//!   A full-scale sine at a quarter of the rate whose samples fall at 45° reads -3 dBFS
//!   sample peak but 0 dBTP: the loudspeaker's converter reconstructs the wave between them.
//! - **RMS**: the root mean square over the last [`RMS_WINDOW_MS`] heard (a rectangular
//!   window), in dBFS (a full-scale sine reads -3 dBFS).
//! - **Hold**: each peak's highest value in the last [`PEAK_HOLD_MS`].
//! - **Clipped**: latched once a heard sample reaches full scale after the volume
//!   (|x| ≥ [`CLIP_LEVEL`]: the device's converter cannot go beyond it, and the callback clamps
//!   there), until [`LevelReader::clear_clip`].
//!
//! A reading never takes more audio than the time since the previous one allows: a seek's
//! flush moves the heard index past audio that was dropped, never played.
//!
//! The decoder's samples already carry the ReplayGain; the volume is applied by the callback,
//! so the reader scales by the volume now (the callback glides to it within
//! [`super::callback::VOLUME_RAMP_MS`]).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

use ebur128::{EbuR128, Mode as EbuMode};

use super::shared::METERED_CHANNELS;

/// Frames per measured block: 5.3 ms at 48 kHz, the meters' time resolution.
pub const LEVEL_BLOCK_FRAMES: u64 = 256;

/// The RMS integration time: a rectangular window over this much of what was heard last.
pub const RMS_WINDOW_MS: u64 = 300;

/// How long a peak-hold marker stays at a peak before it falls to the present level.
pub const PEAK_HOLD_MS: u64 = 1500;

/// Full scale, linear: a sample this large (after the volume) clips.
pub const CLIP_LEVEL: f32 = 1.0;

/// The tape keeps this much audio behind the ring's capacity, for the RMS window and a reader
/// that comes late.
const TAPE_SPARE_MS: u64 = 1000;

/// Between two readings the heard index may run ahead of the clock by this much (a device
/// latency that shrank, a late callback) and still count as heard; a bigger jump is a flush
/// (seek, pause), whose dropped audio was never played.
const HEARD_SLACK_MS: u64 = 50;

/// A slot's tag while its writer is changing it.
const WRITING: u64 = u64::MAX;

/// One block's figures (linear, before the volume).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BlockLevels {
    /// Frames measured so far (the block being filled publishes as it grows).
    pub frames: u32,
    pub sample_peak: [f32; METERED_CHANNELS],
    pub true_peak: [f32; METERED_CHANNELS],
    /// Sum of squares of the block's samples.
    pub squares: [f32; METERED_CHANNELS],
}

/// One block on the tape, behind a sequence tag (a seqlock made of atomics: the writer never
/// waits, a reader that raced a write sees a changed tag and skips the block).
struct Slot {
    /// Block number + 1 (0: never written), or [`WRITING`].
    tag: AtomicU64,
    frames: AtomicU32,
    sample_peak: [AtomicU32; METERED_CHANNELS],
    true_peak: [AtomicU32; METERED_CHANNELS],
    squares: [AtomicU32; METERED_CHANNELS],
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            tag: AtomicU64::new(0),
            frames: AtomicU32::new(0),
            sample_peak: std::array::from_fn(|_| AtomicU32::new(0)),
            true_peak: std::array::from_fn(|_| AtomicU32::new(0)),
            squares: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }
}

/// The measured blocks of one stream, addressed by ring index: block `b` holds ring indices
/// `b * LEVEL_BLOCK_FRAMES ..` and lives in slot `b % slots`.
pub struct LevelTape {
    slots: Box<[Slot]>,
}

impl LevelTape {
    /// A tape for a stream of `rate` whose ring holds `capacity_frames`: long enough for
    /// everything in the ring plus [`TAPE_SPARE_MS`] behind it.
    pub fn new(rate: u32, capacity_frames: u64) -> LevelTape {
        let frames = capacity_frames + rate as u64 * TAPE_SPARE_MS / 1000;
        let slots = (frames / LEVEL_BLOCK_FRAMES + 2).next_power_of_two() as usize;
        LevelTape {
            slots: (0..slots).map(|_| Slot::default()).collect(),
        }
    }

    /// Decoder: publish block `block`'s figures (so far).
    fn publish(&self, block: u64, levels: &BlockLevels) {
        let slot = &self.slots[(block % self.slots.len() as u64) as usize];
        slot.tag.store(WRITING, Ordering::Relaxed);
        fence(Ordering::Release);
        slot.frames.store(levels.frames, Ordering::Relaxed);
        for c in 0..METERED_CHANNELS {
            slot.sample_peak[c].store(levels.sample_peak[c].to_bits(), Ordering::Relaxed);
            slot.true_peak[c].store(levels.true_peak[c].to_bits(), Ordering::Relaxed);
            slot.squares[c].store(levels.squares[c].to_bits(), Ordering::Relaxed);
        }
        slot.tag.store(block + 1, Ordering::Release);
    }

    /// Reader: block `block`'s figures, if the tape still holds them (and no write raced).
    pub fn block(&self, block: u64) -> Option<BlockLevels> {
        let slot = &self.slots[(block % self.slots.len() as u64) as usize];
        if slot.tag.load(Ordering::Acquire) != block + 1 {
            return None;
        }
        let bits = |a: &[AtomicU32; METERED_CHANNELS]| {
            std::array::from_fn(|c| f32::from_bits(a[c].load(Ordering::Relaxed)))
        };
        let levels = BlockLevels {
            frames: slot.frames.load(Ordering::Relaxed),
            sample_peak: bits(&slot.sample_peak),
            true_peak: bits(&slot.true_peak),
            squares: bits(&slot.squares),
        };
        fence(Ordering::Acquire);
        (slot.tag.load(Ordering::Relaxed) == block + 1).then_some(levels)
    }

    /// Blocks the tape holds at most.
    fn len(&self) -> u64 {
        self.slots.len() as u64
    }
}

/// Decoder thread: measures what is pushed into the ring, block by block.
pub struct LevelWriter {
    /// The true-peak interpolator (peak modes only). `None` if it could not be built (no
    /// channels); the true peak then reads as the sample peak.
    /// Boxed: it is 2 KB, and the feed travels in a message to the decoder.
    true_peak: Option<Box<EbuR128>>,
    channels: usize,
    block: u64,
    acc: BlockLevels,
}

impl LevelWriter {
    pub fn new(rate: u32, channels: u16) -> LevelWriter {
        LevelWriter {
            true_peak: EbuR128::new(channels as u32, rate, EbuMode::TRUE_PEAK)
                .ok()
                .map(Box::new),
            channels: channels.max(1) as usize,
            block: u64::MAX,
            acc: BlockLevels::default(),
        }
    }

    /// Decoder: `samples` (interleaved, whole frames) go into the ring from index `first`.
    pub fn add(&mut self, tape: &LevelTape, first: u64, samples: &[f32]) {
        let ch = self.channels;
        let metered = ch.min(METERED_CHANNELS);
        let mut index = first;
        let mut rest = samples;
        while rest.len() >= ch {
            let block = index / LEVEL_BLOCK_FRAMES;
            if block != self.block {
                self.block = block;
                self.acc = BlockLevels::default();
            }
            let room = (LEVEL_BLOCK_FRAMES - index % LEVEL_BLOCK_FRAMES) as usize;
            let frames = room.min(rest.len() / ch);
            let (part, next) = rest.split_at(frames * ch);
            for frame in part.chunks_exact(ch) {
                for (c, &s) in frame[..metered].iter().enumerate() {
                    self.acc.sample_peak[c] = self.acc.sample_peak[c].max(s.abs());
                    self.acc.squares[c] += s * s;
                }
            }
            let measured = self
                .true_peak
                .as_mut()
                .is_some_and(|m| m.add_frames_f32(part).is_ok());
            let tp = self.true_peak.as_ref().filter(|_| measured);
            for c in 0..metered {
                let t = tp.map_or(0.0, |m| m.prev_true_peak(c as u32).unwrap_or(0.0) as f32);
                self.acc.true_peak[c] = self.acc.true_peak[c].max(t).max(self.acc.sample_peak[c]);
            }
            self.acc.frames += frames as u32;
            tape.publish(block, &self.acc);
            index += frames as u64;
            rest = next;
        }
    }
}

/// The figures of one snapshot, linear (1.0 = full scale), per channel, after the volume.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Levels {
    pub sample_peak: Vec<f64>,
    pub true_peak: Vec<f64>,
    pub rms: Vec<f64>,
    pub sample_peak_hold: Vec<f64>,
    pub true_peak_hold: Vec<f64>,
    pub clipped: bool,
}

/// A held peak: its value and when (engine clock) it was reached.
#[derive(Debug, Clone, Copy, Default)]
struct Hold {
    value: f64,
    at_ns: u64,
}

impl Hold {
    fn update(&mut self, value: f64, now_ns: u64) -> f64 {
        if value >= self.value || now_ns.saturating_sub(self.at_ns) > PEAK_HOLD_MS * 1_000_000 {
            *self = Hold {
                value,
                at_ns: now_ns,
            };
        }
        self.value
    }
}

/// What one reading looks at.
#[derive(Debug, Clone, Copy)]
pub struct ReadAt {
    /// The ring index heard now.
    pub heard: u64,
    /// The stream is playing (otherwise nothing is heard: every level is silence).
    pub playing: bool,
    pub rate: u32,
    pub channels: usize,
    /// The volume the callback applies (linear).
    pub volume: f32,
    /// Engine clock now.
    pub now_ns: u64,
    /// Identifies the stream: a new one starts its ring indices again.
    pub stream: usize,
}

/// Reader state: where the previous reading stopped, the held peaks, the clip latch.
#[derive(Debug, Default)]
pub struct LevelReader {
    /// The previous reading: stream, heard index, engine clock.
    last: Option<(usize, u64, u64)>,
    /// Where the audio heard without a jump (a seek, a new stream) began.
    heard_from: u64,
    sample_hold: [Hold; METERED_CHANNELS],
    true_hold: [Hold; METERED_CHANNELS],
    clipped: bool,
}

impl LevelReader {
    /// The levels heard since the previous reading (peaks, clip) and over the last
    /// [`RMS_WINDOW_MS`] (RMS), at `at.heard` on `tape`.
    pub fn read(&mut self, tape: &LevelTape, at: ReadAt) -> Levels {
        let channels = at.channels.min(METERED_CHANNELS);
        let volume = at.volume as f64;
        // No more can have been heard since the previous reading than the time since allows
        // (plus a slack): a seek's flush moves the heard index past audio never played.
        let from = match self.last {
            Some((stream, last, last_ns)) if stream == at.stream && last <= at.heard => {
                let elapsed_ns = at.now_ns.saturating_sub(last_ns) as u128;
                let could_hear = (elapsed_ns * at.rate as u128 / 1_000_000_000) as u64;
                let slack = (at.rate as u64 * HEARD_SLACK_MS / 1000).max(LEVEL_BLOCK_FRAMES);
                let from = last.max(at.heard.saturating_sub(could_hear + slack));
                if from > last {
                    // A jump: the RMS window starts again after it.
                    self.heard_from = from;
                }
                from
            }
            _ => {
                self.heard_from = at.heard;
                at.heard
            }
        };
        self.last = Some((at.stream, at.heard, at.now_ns));
        let mut sample_peak = [0.0f64; METERED_CHANNELS];
        let mut true_peak = [0.0f64; METERED_CHANNELS];
        let mut squares = [0.0f64; METERED_CHANNELS];
        let mut frames = 0u64;
        if at.playing && at.heard > 0 {
            let last_block = (at.heard - 1) / LEVEL_BLOCK_FRAMES;
            let rms_frames = at.rate as u64 * RMS_WINDOW_MS / 1000;
            let first_rms =
                at.heard.saturating_sub(rms_frames).max(self.heard_from) / LEVEL_BLOCK_FRAMES;
            let first_peak = (from / LEVEL_BLOCK_FRAMES).min(last_block);
            let first = first_rms
                .min(first_peak)
                .max((last_block + 1).saturating_sub(tape.len()));
            for b in first..=last_block {
                let Some(block) = tape.block(b) else { continue };
                // Nothing new heard (an underrun holds the index still): no peak either.
                if b >= first_peak && from < at.heard {
                    for c in 0..channels {
                        sample_peak[c] = sample_peak[c].max(block.sample_peak[c] as f64 * volume);
                        true_peak[c] = true_peak[c].max(block.true_peak[c] as f64 * volume);
                    }
                }
                if b >= first_rms {
                    frames += block.frames as u64;
                    for (sum, block) in squares.iter_mut().zip(block.squares) {
                        *sum += block as f64;
                    }
                }
            }
        }
        if sample_peak[..channels]
            .iter()
            .any(|&p| p >= CLIP_LEVEL as f64)
        {
            self.clipped = true;
        }
        let rms = |c: usize| (squares[c] / frames.max(1) as f64).sqrt() * volume;
        Levels {
            sample_peak: sample_peak[..channels].to_vec(),
            true_peak: true_peak[..channels].to_vec(),
            rms: (0..channels).map(rms).collect(),
            sample_peak_hold: (0..channels)
                .map(|c| self.sample_hold[c].update(sample_peak[c], at.now_ns))
                .collect(),
            true_peak_hold: (0..channels)
                .map(|c| self.true_hold[c].update(true_peak[c], at.now_ns))
                .collect(),
            clipped: self.clipped,
        }
    }

    /// Whether the clip indicator is lit.
    pub fn clipped(&self) -> bool {
        self.clipped
    }

    /// Clear the clip indicator (the listener has seen it).
    pub fn clear_clip(&mut self) {
        self.clipped = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;

    fn db(x: f64) -> f64 {
        20.0 * x.log10()
    }

    /// A stereo sine of `amp` at `rate / 4` whose samples fall at `phase_deg` on the wave.
    /// Stereo stream 1 at full volume, playing, heard at `heard` at engine time `now_ns`.
    fn playing_at(heard: u64, now_ns: u64) -> ReadAt {
        ReadAt {
            heard,
            playing: true,
            rate: RATE,
            channels: 2,
            volume: 1.0,
            now_ns,
            stream: 1,
        }
    }

    fn quarter_rate_sine(amp: f32, phase_deg: f32, frames: usize) -> Vec<f32> {
        (0..frames)
            .flat_map(|i| {
                let x =
                    amp * (std::f32::consts::FRAC_PI_2 * i as f32 + phase_deg.to_radians()).sin();
                [x, x]
            })
            .collect()
    }

    /// Push `samples` in uneven pieces (as the decoder does) and read at the end.
    fn measure(samples: &[f32]) -> Levels {
        let tape = LevelTape::new(RATE, 9600);
        let mut writer = LevelWriter::new(RATE, 2);
        let mut at = 0u64;
        for piece in samples.chunks(2 * 333) {
            writer.add(&tape, at, piece);
            at += piece.len() as u64 / 2;
        }
        let mut reader = LevelReader::default();
        let read_at = ReadAt {
            heard: 0,
            playing: true,
            rate: RATE,
            channels: 2,
            volume: 1.0,
            now_ns: 0,
            stream: 1,
        };
        reader.read(&tape, read_at);
        reader.read(
            &tape,
            ReadAt {
                heard: at,
                ..read_at
            },
        )
    }

    #[test]
    fn a_full_scale_sine_between_its_samples_reads_minus_3_dbfs_sample_peak_and_0_dbtp() {
        let l = measure(&quarter_rate_sine(1.0, 45.0, RATE as usize / 10));
        assert!((db(l.sample_peak[0]) + 3.01).abs() < 0.1, "{l:?}");
        // The wave between the samples peaks at 1.0 (0 dBTP). The interpolator's 48-tap
        // filter passes a quarter of the rate at +0.10 dB (its ripple there), so the reading
        // is 0 dBTP within 0.15 dB; BS.1770-4 allows a true-peak meter more than that.
        assert!(db(l.true_peak[0]).abs() < 0.15, "{l:?}");
        assert!((db(l.rms[0]) + 3.01).abs() < 0.1, "{l:?}");
        assert!(!l.clipped, "no sample reached full scale");
    }

    #[test]
    fn the_true_peak_agrees_with_ebur128_over_the_whole_signal() {
        // A 997 Hz sine at -6 dBFS plus its 3rd harmonic: peaks fall between samples.
        let signal: Vec<f32> = (0..RATE as usize / 5)
            .flat_map(|i| {
                let t = i as f32 / RATE as f32;
                let w = 2.0 * std::f32::consts::PI * 997.0 * t;
                let x = 0.4 * w.sin() + 0.1 * (3.0 * w + 0.7).sin();
                [x, -x]
            })
            .collect();
        let mut whole = EbuR128::new(2, RATE, EbuMode::TRUE_PEAK).unwrap();
        whole.add_frames_f32(&signal).unwrap();
        let l = measure(&signal);
        for c in 0..2 {
            let expected = db(whole.true_peak(c as u32).unwrap());
            assert!(
                (db(l.true_peak[c]) - expected).abs() < 0.1,
                "{l:?} vs {expected}"
            );
            assert!(l.true_peak[c] >= l.sample_peak[c]);
        }
    }

    #[test]
    fn a_sample_at_full_scale_latches_the_clip_until_cleared_and_minus_6_db_does_not() {
        let loud = measure(&quarter_rate_sine(1.0, 0.0, 4800));
        assert!(loud.clipped, "a sample at -1.0 reaches full scale");
        let quiet = measure(&quarter_rate_sine(0.5, 0.0, 4800));
        assert!(!quiet.clipped);

        let tape = LevelTape::new(RATE, 9600);
        let mut writer = LevelWriter::new(RATE, 2);
        writer.add(&tape, 0, &quarter_rate_sine(1.0, 0.0, 1024));
        writer.add(&tape, 1024, &quarter_rate_sine(0.5, 0.0, 4096));
        let mut reader = LevelReader::default();
        let at = |heard| playing_at(heard, heard * 20_833);
        reader.read(&tape, at(0));
        assert!(reader.read(&tape, at(1024)).clipped);
        assert!(
            reader.read(&tape, at(3072)).clipped,
            "the clip stays latched"
        );
        reader.clear_clip();
        assert!(!reader.read(&tape, at(5120)).clipped);
    }

    #[test]
    fn audio_a_seek_skipped_is_never_taken_for_heard() {
        let tape = LevelTape::new(RATE, 19200);
        let mut writer = LevelWriter::new(RATE, 2);
        writer.add(&tape, 0, &quarter_rate_sine(1.0, 0.0, 9600));
        writer.add(&tape, 9600, &quarter_rate_sine(0.5, 0.0, 9600));
        let mut reader = LevelReader::default();
        let at = playing_at;
        reader.read(&tape, at(0, 0));
        // 10 ms later the heard index is 400 ms on: the flush dropped the loud part.
        let l = reader.read(&tape, at(19200, 10_000_000));
        assert!(!l.clipped, "{l:?}");
        assert!((l.sample_peak[0] - 0.5).abs() < 1e-6, "{l:?}");
        assert!(
            (l.rms[0] - 0.5 / 2f64.sqrt()).abs() < 1e-3,
            "RMS of the heard part: {l:?}"
        );
    }

    #[test]
    fn a_peak_is_held_for_the_hold_time_then_falls() {
        let tape = LevelTape::new(RATE, 9600);
        let mut writer = LevelWriter::new(RATE, 2);
        writer.add(&tape, 0, &quarter_rate_sine(0.5, 0.0, 512));
        writer.add(&tape, 512, &quarter_rate_sine(0.1, 0.0, 9600));
        let mut reader = LevelReader::default();
        let ms = 1_000_000;
        let at = playing_at;
        reader.read(&tape, at(0, 0));
        assert!((reader.read(&tape, at(512, 10 * ms)).sample_peak_hold[0] - 0.5).abs() < 1e-6);
        let held = reader.read(&tape, at(2048, (PEAK_HOLD_MS - 100) * ms));
        assert!((held.sample_peak[0] - 0.1).abs() < 1e-6);
        assert!((held.sample_peak_hold[0] - 0.5).abs() < 1e-6, "{held:?}");
        let fallen = reader.read(&tape, at(4096, (PEAK_HOLD_MS + 100) * ms));
        assert!(
            (fallen.sample_peak_hold[0] - 0.1).abs() < 1e-6,
            "{fallen:?}"
        );
    }

    #[test]
    fn the_volume_scales_every_figure_and_nothing_is_heard_when_not_playing_or_stalled() {
        let tape = LevelTape::new(RATE, 9600);
        let mut writer = LevelWriter::new(RATE, 2);
        writer.add(&tape, 0, &quarter_rate_sine(1.0, 0.0, 4800));
        let at = ReadAt {
            heard: 4800,
            playing: true,
            rate: RATE,
            channels: 2,
            volume: 0.5,
            now_ns: 0,
            stream: 1,
        };
        let mut reader = LevelReader::default();
        reader.read(&tape, ReadAt { heard: 0, ..at });
        let half = reader.read(
            &tape,
            ReadAt {
                now_ns: 100_000_000,
                ..at
            },
        );
        assert!((db(half.sample_peak[0]) + 6.02).abs() < 0.01, "{half:?}");
        assert!(!half.clipped, "full scale at half volume does not clip");
        let stalled = reader.read(
            &tape,
            ReadAt {
                now_ns: 200_000_000,
                ..at
            },
        );
        assert_eq!(stalled.sample_peak[0], 0.0, "an underrun hears nothing new");
        let paused = LevelReader::default().read(
            &tape,
            ReadAt {
                playing: false,
                ..at
            },
        );
        assert_eq!(paused.rms[0], 0.0);
        assert_eq!(paused.sample_peak[0], 0.0);
    }
}
