//! Source → channel map → resampler: everything the decoder thread does to turn a file into
//! device-ready interleaved f32. `reel decode` runs the very same pipeline, so what it writes is
//! exactly what the engine sends to the ring.

use std::path::Path;

use super::analysis::Analysis;
use super::bitperfect::Fidelity;
use super::channels::ChannelMap;
use super::opener::{TrackOpener, WaitTag};
use super::replaygain::AppliedGain;
use super::resample::StreamResampler;
use super::source::{Source, SourceInfo};
use crate::error::{FileError, FileErrorKind};

/// The shape of the audio the pipeline produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputFormat {
    pub rate: u32,
    pub channels: u16,
}

pub struct Pipeline {
    source: Source,
    out: OutputFormat,
    map: ChannelMap,
    /// Map channels before resampling when that means fewer channels to resample.
    map_first: bool,
    resampler: Option<StreamResampler>,
    scratch: Vec<f32>,
    block: Vec<f32>,
    finished: bool,
    /// Output frames produced since the last seek, plus the seek target in output frames.
    out_pos: u64,
}

impl Pipeline {
    pub fn open(path: &Path, out: Option<OutputFormat>) -> Result<Pipeline, FileError> {
        let source = Source::open(path)?;
        Pipeline::new(source, out).map_err(|k| FileError::new(path, k))
    }

    /// [`Pipeline::open`], asking `opener` first for a reader of `path` (engine/opener.rs).
    pub fn open_via(
        path: &Path,
        out: Option<OutputFormat>,
        opener: Option<&dyn TrackOpener>,
        wait: WaitTag,
    ) -> Result<Pipeline, FileError> {
        let source = match opener.and_then(|o| o.open(path, wait)) {
            Some(media) => Source::open_stream(path, media?)?,
            None => Source::open(path)?,
        };
        Pipeline::new(source, out).map_err(|k| FileError::new(path, k))
    }

    /// `out = None` keeps the file's own rate and channel count.
    pub fn new(source: Source, out: Option<OutputFormat>) -> Result<Pipeline, FileErrorKind> {
        let info = source.info();
        let out = out.unwrap_or(OutputFormat {
            rate: info.rate,
            channels: info.channels,
        });
        let map = ChannelMap::new(
            info.channels as usize,
            info.channel_mask,
            out.channels as usize,
        );
        let map_first = out.channels < info.channels;
        let resampler = if info.rate != out.rate {
            let ch = if map_first {
                out.channels
            } else {
                info.channels
            } as usize;
            Some(StreamResampler::new(info.rate, out.rate, ch).map_err(FileErrorKind::Corrupt)?)
        } else {
            None
        };
        Ok(Pipeline {
            source,
            out,
            map,
            map_first,
            resampler,
            scratch: Vec::new(),
            block: Vec::new(),
            finished: false,
            out_pos: 0,
        })
    }

    pub fn info(&self) -> &SourceInfo {
        self.source.info()
    }

    /// What this pipeline does to the decoded samples (the decoder adds the volume and the
    /// pushed samples' hash): see bitperfect.rs.
    pub fn fidelity(&self) -> Fidelity {
        Fidelity {
            file_bits: self.source.bits(),
            resampled: self.resampler.is_some(),
            remapped: !self.map.is_identity(),
            gain: self.source.gain() != 1.0,
            decoded: self.source.decoded_digest(),
            ..Fidelity::default()
        }
    }

    /// After the last chunk: the file's own checksum of its audio, when it has one (FLAC).
    pub fn verify_end(&mut self) -> Option<bool> {
        self.source.verify_end()
    }

    /// Apply a ReplayGain to every sample from the next chunk on (before resampling, in the
    /// decoder thread).
    pub fn set_gain(&mut self, gain: AppliedGain) {
        self.source.set_gain(gain);
    }

    /// Scan the track's loudness and waveform as it is decoded (a first play): see
    /// [`Source::start_analysis`].
    pub fn start_analysis(&mut self) {
        self.source.start_analysis();
    }

    /// The scan, when the track was decoded whole and in order since it started.
    pub fn take_analysis(&mut self) -> Option<Analysis> {
        self.source.take_analysis()
    }

    pub fn output(&self) -> OutputFormat {
        self.out
    }

    /// Output frames the resampler holds back (0 without resampling).
    pub fn resampler_delay_frames(&self) -> usize {
        self.resampler.as_ref().map_or(0, |r| r.delay_frames())
    }

    /// The output frame (at the output rate) of the next frame `next_chunk` returns.
    pub fn position_out_frames(&self) -> u64 {
        self.out_pos
    }

    /// Total length in output frames, when known.
    pub fn total_out_frames(&self) -> Option<u64> {
        let info = self.source.info();
        info.frames
            .map(|f| file_to_out(f, info.rate, self.out.rate))
    }

    /// The file's damage as one line without its name (see [`super::source::Damage`]), once
    /// it has been decoded to its end; `None` for a healthy file.
    pub fn damage_line(&self) -> Option<String> {
        let info = self.source.info();
        self.source.damage().describe(info.rate)
    }

    /// The file this pipeline decodes.
    pub fn path(&self) -> &std::path::Path {
        &self.source.info().path
    }

    /// Packets skipped because they would not decode.
    pub fn skipped_packets(&self) -> u64 {
        self.source.skipped_packets
    }

    /// The next block of output audio; `Ok(None)` at the end. The block may be empty only when
    /// the resampler is still filling its first chunk; callers simply call again.
    pub fn next_chunk(&mut self) -> Result<Option<&[f32]>, FileErrorKind> {
        if self.finished {
            return Ok(None);
        }
        fault_injection::maybe_panic(&self.source.info().path);
        self.block.clear();
        match self.source.next_block()? {
            Some(samples) => match (&mut self.resampler, self.map_first) {
                (None, _) if self.map.is_identity() => {
                    // Nothing left to convert: hand out the source's own block rather than
                    // copying it into ours (the copy was about 12 % of a FLAC decode, perf).
                    let whole = samples.len() / self.out.channels as usize;
                    self.out_pos += whole as u64;
                    return Ok(Some(&samples[..whole * self.out.channels as usize]));
                }
                (None, _) => self.map.apply(samples, &mut self.block),
                // The same channels in and out: resample straight into the output block.
                (Some(r), _) if self.map.is_identity() => r.process(samples, &mut self.block),
                (Some(r), true) => {
                    self.map.apply(samples, &mut self.scratch);
                    r.process(&self.scratch, &mut self.block);
                }
                (Some(r), false) => {
                    self.scratch.clear();
                    r.process(samples, &mut self.scratch);
                    self.map.apply(&self.scratch, &mut self.block);
                }
            },
            None => {
                self.finished = true;
                let Some(r) = &mut self.resampler else {
                    return Ok(None);
                };
                if self.map_first {
                    r.finish(&mut self.block);
                } else {
                    self.scratch.clear();
                    r.finish(&mut self.scratch);
                    self.map.apply(&self.scratch, &mut self.block);
                }
                if self.block.is_empty() {
                    return Ok(None);
                }
            }
        }
        self.out_pos += (self.block.len() / self.out.channels as usize) as u64;
        Ok(Some(&self.block))
    }

    /// Seek so that the next output frame is the one at `out_frame` (output rate).
    /// Returns the output frame actually reached (clamped to the track's length).
    pub fn seek_out_frames(&mut self, out_frame: u64) -> Result<u64, FileErrorKind> {
        let info = self.source.info();
        let (rate_in, rate_out) = (info.rate, self.out.rate);
        let file_frame = out_to_file(out_frame, rate_out, rate_in);
        let file_frame = info.frames.map_or(file_frame, |t| file_frame.min(t));
        self.source.seek(file_frame)?;
        if let Some(r) = &mut self.resampler {
            r.reset();
        }
        self.finished = false;
        self.out_pos = file_to_out(file_frame, rate_in, rate_out);
        Ok(self.out_pos)
    }
}

pub fn file_to_out(frames: u64, rate_in: u32, rate_out: u32) -> u64 {
    ((frames as u128 * rate_out as u128 + rate_in as u128 / 2) / rate_in as u128) as u64
}

pub fn out_to_file(frames: u64, rate_out: u32, rate_in: u32) -> u64 {
    ((frames as u128 * rate_in as u128 + rate_out as u128 / 2) / rate_out as u128) as u64
}

/// Test-only fault injection, compiled into debug builds only (the ones the test suite runs).
///
/// A decoder bug that panics must end that track, not the program. No real file reliably
/// makes symphonia panic, so the tests name a file in `REEL_FAULT_DECODER_PANIC` and the
/// pipeline panics while decoding it, exactly where a codec bug would.
mod fault_injection {
    use std::path::Path;

    #[cfg(debug_assertions)]
    pub const DECODER_PANIC_ENV: &str = "REEL_FAULT_DECODER_PANIC";

    #[cfg(debug_assertions)]
    pub fn maybe_panic(path: &Path) {
        // A comma-separated list of substrings of the decoded file's path (a file name, or an
        // object hash once files play from the cache).
        if let Ok(list) = std::env::var(DECODER_PANIC_ENV)
            && list
                .split(',')
                .any(|needle| !needle.is_empty() && path.to_string_lossy().contains(needle))
        {
            panic!("injected decoder fault in {}", path.display());
        }
    }

    #[cfg(not(debug_assertions))]
    #[inline(always)]
    pub fn maybe_panic(_path: &Path) {}
}
