//! Streaming sample-rate conversion with rubato. Decoder thread only: it allocates its
//! buffers once, then reuses them.
//!
//! Two resamplers, chosen by the ratio:
//! - **FFT** (`rubato::Fft`, synchronous) for a fixed ratio between two rates whose ratio
//!   reduces to small integers (44.1 → 48 kHz is 147 : 160). It costs a fraction of the sinc's
//!   CPU at equal quality (BlackmanHarris2 window), which is most of playback's CPU when a
//!   file is resampled (issue: playback CPU below half of mpv's).
//! - **Asynchronous sinc** (`rubato::Async`) for any other pair, where the FFT would need a
//!   huge transform (44101 → 48000 reduces to nothing smaller). reel never changes the ratio
//!   while playing, so nothing needs the sinc's adjustable ratio.
//!
//! The resampler's start-up delay is trimmed, and the tail is flushed at the end of a track,
//! so the output has exactly `round(input_frames × ratio)` frames and frame 0 of the output is
//! frame 0 of the input. That is what makes seeking sample-accurate after resampling, and what
//! lets `reel decode --rate` be compared sample for sample with another resampler's output.

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{
    Async, Fft, FixedAsync, FixedSync, Indexing, Resampler, SincInterpolationParameters,
    SincInterpolationType, WindowFunction,
};

/// Input frames per resampler call. About 21 ms at 48 kHz: small enough to keep the first
/// audio quick, large enough that per-call overhead is negligible.
pub const RESAMPLER_CHUNK_FRAMES: usize = 1024;

/// Sinc length (taps per side pair). 128 with linear interpolation of a 256× oversampled
/// table keeps aliasing and ripple far below 16-bit noise at a modest CPU cost.
const SINC_LEN: usize = 128;
const OVERSAMPLING: usize = 256;

/// The FFT resampler is used when both rates, divided by their greatest common divisor, are
/// at most this (the transform's size per block grows with them).
const FFT_MAX_REDUCED_RATE: u32 = 2048;

/// Which resampler serves a pair of rates (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Fft,
    Sinc,
}

impl Kind {
    pub fn for_rates(from_rate: u32, to_rate: u32) -> Kind {
        let g = gcd(from_rate, to_rate).max(1);
        if from_rate / g <= FFT_MAX_REDUCED_RATE && to_rate / g <= FFT_MAX_REDUCED_RATE {
            Kind::Fft
        } else {
            Kind::Sinc
        }
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

pub struct StreamResampler {
    inner: Box<dyn Resampler<f32>>,
    kind: Kind,
    channels: usize,
    ratio: f64,
    /// Input waiting for a full chunk, interleaved.
    pending: Vec<f32>,
    out: Vec<f32>,
    /// Output frames still to drop (the filter's start-up delay).
    to_trim: usize,
    in_total: u64,
    out_total: u64,
}

impl StreamResampler {
    pub fn new(from_rate: u32, to_rate: u32, channels: usize) -> Result<StreamResampler, String> {
        Self::with_kind(
            from_rate,
            to_rate,
            channels,
            Kind::for_rates(from_rate, to_rate),
        )
    }

    /// [`StreamResampler::new`] with the resampler chosen by the caller (tests, benches).
    pub fn with_kind(
        from_rate: u32,
        to_rate: u32,
        channels: usize,
        kind: Kind,
    ) -> Result<StreamResampler, String> {
        let ratio = to_rate as f64 / from_rate as f64;
        let failed = |e: rubato::ResamplerConstructionError| {
            format!("cannot resample {from_rate} Hz to {to_rate} Hz: {e}")
        };
        let inner: Box<dyn Resampler<f32>> = match kind {
            Kind::Fft => Box::new(
                Fft::<f32>::new(
                    from_rate as usize,
                    to_rate as usize,
                    RESAMPLER_CHUNK_FRAMES,
                    channels,
                    FixedSync::Input,
                )
                .map_err(failed)?,
            ),
            Kind::Sinc => {
                let params = SincInterpolationParameters {
                    sinc_len: SINC_LEN,
                    f_cutoff: None,
                    oversampling_factor: OVERSAMPLING,
                    interpolation: SincInterpolationType::Linear,
                    window: WindowFunction::BlackmanHarris2,
                };
                Box::new(
                    Async::<f32>::new_sinc(
                        ratio,
                        1.0,
                        &params,
                        RESAMPLER_CHUNK_FRAMES,
                        channels,
                        FixedAsync::Input,
                    )
                    .map_err(failed)?,
                )
            }
        };
        debug_assert_eq!(inner.input_frames_next(), RESAMPLER_CHUNK_FRAMES);
        let to_trim = inner.output_delay();
        let out_max = inner.output_frames_max();
        Ok(StreamResampler {
            inner,
            kind,
            channels,
            ratio,
            pending: Vec::with_capacity(RESAMPLER_CHUNK_FRAMES * channels),
            out: vec![0.0; out_max * channels],
            to_trim,
            in_total: 0,
            out_total: 0,
        })
    }

    /// Which resampler this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The filter delay, in output frames: audio spends this long inside the resampler.
    pub fn delay_frames(&self) -> usize {
        self.inner.output_delay()
    }

    /// Forget all state (after a seek).
    pub fn reset(&mut self) {
        self.inner.reset();
        self.pending.clear();
        self.to_trim = self.inner.output_delay();
        self.in_total = 0;
        self.out_total = 0;
    }

    /// Feed interleaved input; resampled output is appended to `dst`.
    pub fn process(&mut self, mut input: &[f32], dst: &mut Vec<f32>) {
        let chunk = RESAMPLER_CHUNK_FRAMES * self.channels;
        self.in_total += (input.len() / self.channels) as u64;
        while !input.is_empty() {
            let take = (chunk - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() == chunk {
                self.run_chunk(None, dst);
            }
        }
    }

    /// End of input: flush the tail so that exactly `round(in × ratio)` frames came out.
    pub fn finish(&mut self, dst: &mut Vec<f32>) {
        let expected = (self.in_total as f64 * self.ratio).round() as u64;
        let mut guard = 0;
        while self.out_total < expected && guard < 64 {
            let partial = self.pending.len() / self.channels;
            self.pending
                .resize(RESAMPLER_CHUNK_FRAMES * self.channels, 0.0);
            self.run_chunk(Some(partial), dst);
            guard += 1;
        }
        if self.out_total > expected {
            let extra = (self.out_total - expected) as usize * self.channels;
            let keep = dst.len().saturating_sub(extra);
            dst.truncate(keep);
            self.out_total = expected;
        }
    }

    fn run_chunk(&mut self, partial: Option<usize>, dst: &mut Vec<f32>) {
        let frames_in = RESAMPLER_CHUNK_FRAMES;
        let input = InterleavedSlice::new(&self.pending[..], self.channels, frames_in)
            .expect("pending holds exactly one chunk");
        let out_frames = self.out.len() / self.channels;
        let mut output = InterleavedSlice::new_mut(&mut self.out[..], self.channels, out_frames)
            .expect("output buffer sized by output_frames_max");
        let mut indexing = Indexing::new();
        indexing.partial_len = partial;
        let (_, produced) = self
            .inner
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .expect("buffers are sized from the resampler's own limits");
        self.pending.clear();
        let trim = self.to_trim.min(produced);
        self.to_trim -= trim;
        let keep = produced - trim;
        dst.extend_from_slice(&self.out[trim * self.channels..produced * self.channels]);
        self.out_total += keep as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_rate_pairs_take_the_fft_resampler_and_odd_ones_the_sinc() {
        assert_eq!(Kind::for_rates(44_100, 48_000), Kind::Fft);
        assert_eq!(Kind::for_rates(96_000, 44_100), Kind::Fft);
        assert_eq!(Kind::for_rates(8_000, 48_000), Kind::Fft);
        assert_eq!(Kind::for_rates(44_101, 48_000), Kind::Sinc);
        let r = StreamResampler::new(44_100, 48_000, 2).unwrap();
        assert_eq!(r.kind(), Kind::Fft);
    }

    #[test]
    fn output_length_matches_ratio_exactly_with_either_resampler() {
        for kind in [Kind::Fft, Kind::Sinc] {
            for (from, to) in [(44_100, 48_000), (48_000, 44_100), (22_050, 48_000)] {
                let mut r = StreamResampler::with_kind(from, to, 2, kind).unwrap();
                let input = vec![0.1f32; from as usize * 2];
                let mut out = Vec::new();
                for chunk in input.chunks(777 * 2) {
                    r.process(chunk, &mut out);
                }
                r.finish(&mut out);
                assert_eq!(out.len(), to as usize * 2, "{kind:?} {from} -> {to}");
            }
        }
    }

    #[test]
    fn a_sine_keeps_its_frequency_and_phase() {
        for kind in [Kind::Fft, Kind::Sinc] {
            sine_keeps_frequency_and_phase(kind);
        }
    }

    fn sine_keeps_frequency_and_phase(kind: Kind) {
        let (from, to) = (44_100u32, 48_000u32);
        let f = 1000.0f64;
        let input: Vec<f32> = (0..from)
            .map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / from as f64).sin() as f32 * 0.5)
            .collect();
        let mut r = StreamResampler::with_kind(from, to, 1, kind).unwrap();
        let mut out = Vec::new();
        r.process(&input, &mut out);
        r.finish(&mut out);
        // Away from the edges, the output is the same sine sampled at the new rate, aligned to
        // within a fraction of a frame (the filter's delay is a whole number of frames only
        // approximately): find the best sub-frame offset, then demand a near-exact match.
        let error_at = |offset: f64| {
            out.iter()
                .enumerate()
                .skip(2000)
                .take(40_000)
                .map(|(i, y)| {
                    let t = (i as f64 + offset) / to as f64;
                    (*y as f64 - (2.0 * std::f64::consts::PI * f * t).sin() * 0.5).abs()
                })
                .fold(0.0f64, f64::max)
        };
        let (offset, worst) = (-50..=50)
            .map(|k| k as f64 / 100.0)
            .map(|o| (o, error_at(o)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert!(
            offset.abs() <= 0.5,
            "{kind:?}: misaligned by {offset} frames"
        );
        assert!(
            worst < 2e-3,
            "{kind:?}: max error {worst} at offset {offset}"
        );
    }
}
