//! Opus: the decoder, and what its header says about gain and the samples to skip.
//!
//! Runs wherever [`super::source::Source`] runs (the decoder thread, `reel decode`, the cache's
//! probe), never on the audio thread.
//!
//! symphonia 0.6 demuxes Opus (Ogg, Matroska/WebM, MP4) but has no Opus decoder. The decoding
//! is libopus's, through `symphonia-adapter-libopus` (built for symphonia-core 0.6), linked
//! against the system's libopus. Two things that adapter gets wrong are done here instead:
//!
//! - **Output gain** (RFC 7845 §5.1, the OpusHead's Q7.8 dB field): the adapter ignores it. A
//!   player must apply it; [`OpusHead::output_gain`] is the factor, applied by the source to
//!   every decoded sample.
//! - **Pre-skip** (RFC 7845 §4.2): the adapter trims it from the first packet only, so a
//!   pre-skip longer than that packet (legal: 2.5 ms frames, or an encoder with a long delay)
//!   leaks audio, and after a seek back to the start nothing is trimmed at all. Instead reel
//!   hands the adapter no header (so it trims nothing) and the source drops every decoded frame
//!   whose timestamp lies before the pre-skip, on every pass, like any other start trim
//!   ([`super::gapless`]).

use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::codecs::registry::RegisterableAudioDecoder;
use symphonia::core::errors::Error as SymError;
use symphonia_adapter_libopus::OpusDecoder;

/// Opus always decodes at 48 kHz here (RFC 7845 §5.1: the input rate field is informational).
pub const OPUS_RATE_HZ: u32 = 48_000;

/// What reel uses of an Ogg Opus identification header (RFC 7845 §5.1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpusHead {
    pub channels: u8,
    /// Frames at 48 kHz to drop from the start of the decoded stream.
    pub pre_skip: u16,
    /// Gain to apply to the decoded output, in Q7.8 dB (1/256 dB steps).
    pub output_gain_q78: i16,
    /// 0: mono/stereo; 1: Vorbis channel order, up to 8; 255: undefined.
    pub mapping_family: u8,
}

impl OpusHead {
    /// Parse the header from a track's extra data (the whole OpusHead packet, as the Ogg,
    /// Matroska and MP4 demuxers hand it over). `None` when it is not one.
    pub fn parse(extra: &[u8]) -> Option<OpusHead> {
        if extra.len() < 19 || &extra[..8] != b"OpusHead" {
            return None;
        }
        // Version: the major part (upper 4 bits) must be 0 for this layout.
        if extra[8] >> 4 != 0 {
            return None;
        }
        Some(OpusHead {
            channels: extra[9],
            pre_skip: u16::from_le_bytes([extra[10], extra[11]]),
            output_gain_q78: i16::from_le_bytes([extra[16], extra[17]]),
            mapping_family: extra[18],
        })
    }

    /// The output gain as a linear factor (1.0 when the header asks for none).
    pub fn output_gain(&self) -> f32 {
        db_to_linear(self.output_gain_q78 as f64 / 256.0) as f32
    }
}

/// A decibel value as a linear amplitude factor.
pub fn db_to_linear(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// A libopus decoder for `params`, and the header read from them (when they carry one).
///
/// The adapter gets the parameters without their extra data, so that it trims no pre-skip of
/// its own (see the module docs); it needs only the channel count and rate from them.
pub fn make_decoder(
    params: &AudioCodecParameters,
) -> Result<(Box<dyn AudioDecoder>, Option<OpusHead>), SymError> {
    let head = params.extra_data.as_deref().and_then(OpusHead::parse);
    let mut bare = params.clone();
    bare.extra_data = None;
    if bare.sample_rate.is_none() {
        bare.sample_rate = Some(OPUS_RATE_HZ);
    }
    let decoder = OpusDecoder::try_registry_new(&bare, &AudioDecoderOptions::default())?;
    Ok((decoder, head))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(pre_skip: u16, gain: i16, family: u8) -> Vec<u8> {
        let mut v = b"OpusHead".to_vec();
        v.push(1);
        v.push(2);
        v.extend_from_slice(&pre_skip.to_le_bytes());
        v.extend_from_slice(&48_000u32.to_le_bytes());
        v.extend_from_slice(&gain.to_le_bytes());
        v.push(family);
        v
    }

    #[test]
    fn the_header_gives_pre_skip_and_output_gain() {
        let h = OpusHead::parse(&head(312, -6 * 256, 0)).unwrap();
        assert_eq!(h.pre_skip, 312);
        assert_eq!(h.channels, 2);
        assert_eq!(h.mapping_family, 0);
        // −6 dB is a factor of 0.501.
        assert!(
            (h.output_gain() - 0.501_187).abs() < 1e-5,
            "{}",
            h.output_gain()
        );
        assert_eq!(OpusHead::parse(&head(0, 0, 0)).unwrap().output_gain(), 1.0);
    }

    #[test]
    fn what_is_not_an_opus_header_is_refused() {
        assert_eq!(OpusHead::parse(b"OpusHead"), None);
        let mut v = head(0, 0, 0);
        v[0] = b'X';
        assert_eq!(OpusHead::parse(&v), None);
        let mut v = head(0, 0, 0);
        v[8] = 0x10; // a major version this layout does not describe
        assert_eq!(OpusHead::parse(&v), None);
    }
}
