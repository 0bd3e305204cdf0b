//! Opening and decoding one audio file with symphonia.
//!
//! Runs on the decoder thread (or in `reel decode`), never on the audio thread. The file is read
//! through a buffered [`MediaSourceStream`], one packet at a time, so memory stays flat however
//! long the file is. Output is interleaved `f32` at the file's own rate and channel count.
//!
//! Error policy (what a caller can do):
//! - a packet that fails to decode is skipped and counted;
//! - too many failures in a row, or a file that yields no audio at all, is [`FileErrorKind::Corrupt`]
//!   and ends the track;
//! - opening maps each failure to one [`FileErrorKind`], so the user gets one clear line.

use std::fs::File;
use std::path::{Path, PathBuf};

use symphonia::core::codecs::audio::well_known::{CODEC_ID_FLAC, CODEC_ID_OPUS};
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::{TimeBase, Timestamp};

use super::analysis::{Analysis, Analyzer};
use super::bitperfect::SampleHash;
use super::gapless::{self, Mp4Trim, Trim};
use super::opus;
use super::replaygain::{self, AppliedGain, Loudness};
use crate::error::{FileError, FileErrorKind};

/// Read-ahead of the media source stream. 64 KiB per read keeps syscalls few without holding
/// more than a sliver of the file in memory.
pub const SOURCE_BUFFER_BYTES: usize = 64 * 1024;

/// Consecutive packets that may fail before the file is declared corrupt. A few bad packets in a
/// damaged MP3 are skipped; a file where nothing decodes is not played as endless silence.
pub const MAX_BAD_PACKETS_IN_A_ROW: u32 = 64;

/// The lowest sample rate reel takes as real (telephony's 8 kHz and the old 4 kHz formats are
/// above it). A header that says less is damage: played, it would ask the resampler for
/// thousands of output frames per input frame (a 186-byte WAV claiming 34 Hz took seconds per
/// block; the fuzzer found it, fuzz/regressions/decode/wav-34hz-7ch.wav).
const MIN_RATE_HZ: u32 = 1_000;
/// The highest: 768 kHz, the largest rate any converter sold runs at.
const MAX_RATE_HZ: u32 = 768_000;

/// The most samples (frames × channels) one packet may declare. Decoders size their buffers
/// from the header's frames per packet before reading any audio, so a damaged header could
/// ask for gigabytes (a 93-byte CAF asked symphonia's PCM decoder for 4 GB; the fuzzer found
/// it, fuzz/regressions/decode/caf-huge-packet.caf). The largest real packets are far below:
/// FLAC's 65,535 frames × 8 channels is half a million.
const MAX_PACKET_SAMPLES: u64 = 1 << 22;

/// Refuse a header whose packets could not be real (see [`MAX_PACKET_SAMPLES`]).
fn check_packet_size(
    params: &symphonia::core::codecs::audio::AudioCodecParameters,
) -> Result<(), FileErrorKind> {
    let frames = params.max_frames_per_packet.unwrap_or(0);
    let channels = params.channels.as_ref().map_or(1, |c| c.count().max(1)) as u64;
    if frames.saturating_mul(channels) > MAX_PACKET_SAMPLES {
        return Err(FileErrorKind::Corrupt(format!(
            "implausible packet size: {frames} frames of {channels} channels"
        )));
    }
    Ok(())
}

/// What is known about a source once it is open.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    pub path: PathBuf,
    /// Sample rate of the file, in Hz.
    pub rate: u32,
    /// Channel count of the file.
    pub channels: u16,
    /// Speaker positions as a WAVE-style bit mask (bit 0 = front left), when the file says.
    pub channel_mask: Option<u64>,
    /// Codec short name, e.g. "flac", "mp3".
    pub codec: String,
    /// Container short name, e.g. "flac", "wave", "isomp4".
    pub container: String,
    /// Total frames, when the container says (music only: without the encoder's delay and
    /// padding, see gapless.rs).
    pub frames: Option<u64>,
    /// The loudness the file's tags declare (ReplayGain, Opus R128).
    pub loudness: Loudness,
    /// The gain applied to every sample (ReplayGain; [`Source::set_gain`]).
    pub gain: AppliedGain,
}

impl SourceInfo {
    /// Duration in seconds, when known.
    pub fn duration_secs(&self) -> Option<f64> {
        self.frames.map(|f| f as f64 / self.rate as f64)
    }
}

/// What went wrong in a file that still played, for the one line said when its track ends
/// (`a.flac: 1 damaged frame skipped at 0:03.2`). Positions are file frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Damage {
    /// Packets the decoder refused, skipped.
    pub skipped_packets: u64,
    /// Frames lost: those of the packets the decoder refused, and those the reader skipped
    /// without a word (a jump in the packets' timestamps).
    pub missing_frames: u64,
    /// Separate places of damage (a run of bad packets counts once).
    pub damaged_runs: u64,
    /// Where the first damage is.
    pub first_at_frame: Option<u64>,
    /// The file ended at the first frame although its header promised the second.
    pub ended_at: Option<(u64, u64)>,
}

impl Damage {
    /// Take back the last run of `packets` bad packets (the file turned out to end there).
    fn forget_run(&mut self, packets: u32) {
        self.skipped_packets = self.skipped_packets.saturating_sub(u64::from(packets));
        self.damaged_runs = self.damaged_runs.saturating_sub(1);
        if self.damaged_runs == 0 {
            self.first_at_frame = None;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.damaged_runs == 0 && self.ended_at.is_none()
    }

    /// One line without the file name: `1 damaged frame skipped at 0:03.2`,
    /// `ends at 0:05.1 of 0:12.0 (truncated)`, or both joined by `; `. `None` when healthy.
    pub fn describe(&self, rate: u32) -> Option<String> {
        let at = |frame: u64| clock_tenths(frame, rate);
        let mut parts = Vec::new();
        if let Some(first) = self.first_at_frame.filter(|_| self.damaged_runs > 0) {
            let n = self.skipped_packets.max(self.damaged_runs);
            let what = if n == 1 { "frame" } else { "frames" };
            let secs = self.missing_frames as f64 / rate.max(1) as f64;
            let missing = match secs {
                0.0 => String::new(),
                s if s < 1.0 => format!(" ({:.0} ms of audio)", s * 1000.0),
                s => format!(" ({s:.1} s of audio)"),
            };
            if n == 1 {
                parts.push(format!(
                    "1 damaged {what} skipped at {}{missing}",
                    at(first)
                ));
            } else {
                parts.push(format!(
                    "{n} damaged {what} skipped, the first at {}{missing}",
                    at(first)
                ));
            }
        }
        if let Some((end, total)) = self.ended_at {
            parts.push(format!("ends at {} of {} (truncated)", at(end), at(total)));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// `m:ss.t` for a frame position.
fn clock_tenths(frame: u64, rate: u32) -> String {
    let tenths = frame * 10 / rate.max(1) as u64;
    format!("{}:{:02}.{}", tenths / 600, tenths / 10 % 60, tenths % 10)
}

/// An open, decodable audio file.
pub struct Source {
    info: SourceInfo,
    format: Box<dyn FormatReader + 'static>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    time_base: Option<TimeBase>,
    samples: Vec<f32>,
    /// After a seek: drop decoded frames that come before this file frame.
    discard_before: Option<u64>,
    bad_in_a_row: u32,
    /// Packets skipped because they failed to decode.
    pub skipped_packets: u64,
    /// What went wrong in this file although it played (said when its track ends).
    damage: Damage,
    /// The timestamp the next packet should have (the last one's pts + duration); a later one
    /// means the reader skipped damaged data in between. `None` until the first packet after
    /// opening or seeking, whose pts may start anywhere.
    next_pts: Option<i64>,
    frames_out: u64,
    /// A block decoded while probing the channel count, handed out first.
    pending_first: bool,
    /// Packed little-endian PCM that reel converts itself (see [`Pcm`]).
    pcm: Option<Pcm>,
    /// The encoder delay and padding reel trims itself (see [`super::gapless`]).
    trim: Trim,
    /// Where the next packet starts (file frames) when the trim counts frames rather than
    /// trusting timestamps ([`Trim::count_from`]).
    next_frame: Option<i64>,
    /// A gain the codec's header asks the player to apply (Opus output gain), linear; 1.0
    /// for none.
    codec_gain: f32,
    /// Every decoded sample is multiplied by this: `codec_gain` × the ReplayGain.
    gain: f32,
    /// Running hash of the decoded samples (before any gain) since the open or the last seek.
    decoded_hash: SampleHash,
    /// Whether to keep `decoded_hash` (see [`proofs_wanted`]).
    hashing: bool,
    /// The loudness scan of a first play (analysis.rs), fed after the codec's own gain and
    /// before the ReplayGain; dropped by a seek (it must see the whole track, in order).
    analysis: Option<Box<Analyzer>>,
    /// Bits per sample the codec declares (lossless formats).
    bits: Option<u32>,
    /// A seek happened: a whole-stream check (FLAC's MD5) no longer applies.
    seeked: bool,
}

/// Packed little-endian PCM samples (WAV, AIFF-C `sowt`, CAF, MKV's `A_PCM`), converted by
/// reel straight from the packet to interleaved `f32`.
///
/// Hand-written on purpose: symphonia's PCM decoder first renders each packet into a planar
/// buffer, and reel then interleaves that into `f32`, two passes over every sample where one
/// will do. In `reel decode` of a WAV those two passes were 41 % of the CPU time
/// (docs/PERFORMANCE.md §1). The conversions are symphonia's own (`i16 as f32 / 32768`, and so
/// on), so the samples are bit-identical to its decoder's; a test checks that. Every other PCM
/// variant (big-endian, unsigned, A-law, fewer coded bits than the container) still goes
/// through symphonia.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pcm {
    S16,
    S24,
    S32,
    F32,
}

impl Pcm {
    fn for_codec(params: &symphonia::core::codecs::audio::AudioCodecParameters) -> Option<Pcm> {
        use symphonia::core::codecs::audio::well_known::{
            CODEC_ID_PCM_F32LE, CODEC_ID_PCM_S16LE, CODEC_ID_PCM_S24LE, CODEC_ID_PCM_S32LE,
        };
        let (pcm, width) = match params.codec {
            CODEC_ID_PCM_S16LE => (Pcm::S16, 16),
            CODEC_ID_PCM_S24LE => (Pcm::S24, 24),
            CODEC_ID_PCM_S32LE => (Pcm::S32, 32),
            CODEC_ID_PCM_F32LE => (Pcm::F32, 32),
            _ => return None,
        };
        // Only when every coded bit is a sample bit (no shift in symphonia's decoder).
        let decoded = params.bits_per_sample.unwrap_or(width);
        let coded = params.bits_per_coded_sample.unwrap_or(decoded);
        (decoded == width && coded == width).then_some(pcm)
    }

    fn bytes(self) -> usize {
        match self {
            Pcm::S16 => 2,
            Pcm::S24 => 3,
            Pcm::S32 | Pcm::F32 => 4,
        }
    }

    /// Convert the whole frames in `data` into `out` (interleaved, as packed PCM already is);
    /// returns the frame count. A partial frame at the end is dropped, as symphonia does.
    fn convert(self, data: &[u8], channels: usize, out: &mut Vec<f32>) -> usize {
        let frame_bytes = self.bytes() * channels;
        let frames = data.len() / frame_bytes;
        let data = &data[..frames * frame_bytes];
        out.clear();
        out.resize(frames * channels, 0.0);
        match self {
            Pcm::S16 => {
                for (o, b) in out.iter_mut().zip(data.chunks_exact(2)) {
                    *o = i16::from_le_bytes([b[0], b[1]]) as f32 / 32_768.0;
                }
            }
            Pcm::S24 => {
                for (o, b) in out.iter_mut().zip(data.chunks_exact(3)) {
                    let v = (i32::from_le_bytes([0, b[0], b[1], b[2]])) >> 8;
                    *o = v as f32 / 8_388_608.0;
                }
            }
            Pcm::S32 => {
                for (o, b) in out.iter_mut().zip(data.chunks_exact(4)) {
                    let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    *o = (v as f64 / 2_147_483_648.0) as f32;
                }
            }
            Pcm::F32 => {
                for (o, b) in out.iter_mut().zip(data.chunks_exact(4)) {
                    *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
        }
        frames
    }
}

fn classify_open_error(err: SymError) -> FileErrorKind {
    match err {
        SymError::Unsupported(_) => FileErrorKind::NotAudio,
        SymError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            FileErrorKind::Corrupt("file ends before its header does (truncated?)".into())
        }
        SymError::IoError(e) => FileErrorKind::from_io(&e),
        SymError::DecodeError(m) => FileErrorKind::Corrupt(m.to_string()),
        SymError::LimitError(m) => FileErrorKind::Corrupt(format!("limit exceeded: {m}")),
        SymError::SeekError(_) | SymError::ResetRequired => {
            FileErrorKind::Corrupt("unreadable stream structure".into())
        }
        other => FileErrorKind::Corrupt(other.to_string()),
    }
}

impl Source {
    /// Open `path`, probe its format and make a decoder for its first audio track.
    pub fn open(path: &Path) -> Result<Source, FileError> {
        let fail = |kind| FileError::new(path, kind);
        let meta = std::fs::metadata(path).map_err(|e| fail(FileErrorKind::from_io(&e)))?;
        if meta.is_dir() {
            return Err(fail(FileErrorKind::IsDirectory));
        }
        if meta.len() == 0 {
            return Err(fail(FileErrorKind::Empty));
        }
        let file = File::open(path).map_err(|e| fail(FileErrorKind::from_io(&e)))?;
        Self::from_media_source(path, fault_injection::maybe_slow(Box::new(file)))
    }

    /// [`Source::from_media_source`] over a reader that stands for the file `path` (a file
    /// still being copied into the cache, engine/opener.rs), with the same test-only fault
    /// injection as [`Source::open`].
    pub fn open_stream(path: &Path, media: Box<dyn MediaSource>) -> Result<Source, FileError> {
        Self::from_media_source(path, fault_injection::maybe_slow(media))
    }

    /// [`Source::from_media_source`] over bytes in memory (the fuzz targets use this).
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Source, FileError> {
        if bytes.is_empty() {
            return Err(FileError::new(path, FileErrorKind::Empty));
        }
        Self::from_media_source(path, Box::new(std::io::Cursor::new(bytes)))
    }

    /// Probe and open audio from any [`MediaSource`] (a file, or bytes in memory), exactly as
    /// [`Source::open`] does after its checks on the path. `path` names the audio in errors and
    /// gives the format hint (its extension). The fuzz targets (`fuzz/`) feed arbitrary bytes
    /// through here, so that what they exercise is the engine's own probe and error mapping.
    pub fn from_media_source(
        path: &Path,
        media: Box<dyn MediaSource>,
    ) -> Result<Source, FileError> {
        let fail = |kind| FileError::new(path, kind);
        let mut media = media;
        let mp4 = contain_panics(|| mp4_trim_of(&mut *media)).unwrap_or(None);
        let mss = MediaSourceStream::new(
            media,
            MediaSourceStreamOptions {
                buffer_len: SOURCE_BUFFER_BYTES,
            },
        );
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let opened = contain_panics(|| {
            let format = symphonia::default::get_probe()
                .probe(
                    &hint,
                    mss,
                    FormatOptions::default(),
                    MetadataOptions::default(),
                )
                .map_err(|e| fail(classify_open_error(e)))?;
            Self::from_format(path, format, mp4)
        });
        opened.unwrap_or_else(|()| {
            Err(fail(FileErrorKind::Corrupt(
                "malformed header (the decoder crashed reading it)".into(),
            )))
        })
    }

    fn from_format(
        path: &Path,
        mut format: Box<dyn FormatReader + 'static>,
        mp4: Option<Mp4Trim>,
    ) -> Result<Source, FileError> {
        let fail = |kind| FileError::new(path, kind);
        let track = format
            .default_track(TrackType::Audio)
            .or_else(|| format.first_track(TrackType::Audio))
            .ok_or_else(|| fail(FileErrorKind::NotAudio))?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or_else(|| fail(FileErrorKind::NotAudio))?
            .clone();
        let (track_id, time_base, num_frames) = (track.id, track.time_base, track.num_frames);
        let track_delay = track.delay;
        let mut opus_head = None;
        let mut facts = gapless::TrimFacts {
            container: format.format_info().short_name,
            codec: params.codec,
            rate: params.sample_rate.unwrap_or(0),
            track_delay,
            declared: num_frames,
            opus: None,
            mp4,
        };
        check_packet_size(&params).map_err(&fail)?;
        let made = if params.codec == CODEC_ID_OPUS {
            opus::make_decoder(&params).map(|(d, head)| {
                opus_head = head;
                d
            })
        } else {
            // Where reel trims the encoder delay itself, symphonia must not trim it first.
            let gapless = !gapless::reel_trims_mp3(&facts);
            // FLAC: the decoder checks the STREAMINFO MD5 when a track is played to its end.
            let verify = params.codec == CODEC_ID_FLAC && proofs_wanted();
            symphonia::default::get_codecs().make_audio_decoder(
                &params,
                &AudioDecoderOptions::default()
                    .gapless(gapless)
                    .verify(verify),
            )
        };
        let decoder = made.map_err(|e| match e {
            // libopus is only wired for mono and stereo (the adapter has no multistream).
            SymError::Unsupported(_) if params.codec == CODEC_ID_OPUS => fail(
                FileErrorKind::UnsupportedCodec("Opus with more than 2 channels".into()),
            ),
            SymError::Unsupported(_) => fail(FileErrorKind::UnsupportedCodec(codec_name_guess(
                &params.codec.to_string(),
            ))),
            other => fail(classify_open_error(other)),
        })?;
        let rate = params
            .sample_rate
            .filter(|r| *r > 0)
            .ok_or_else(|| fail(FileErrorKind::Corrupt("no sample rate in header".into())))?;
        if !(MIN_RATE_HZ..=MAX_RATE_HZ).contains(&rate) {
            return Err(fail(FileErrorKind::Corrupt(format!(
                "implausible sample rate {rate} Hz"
            ))));
        }
        let (channels, channel_mask) = match &params.channels {
            Some(symphonia::core::audio::Channels::Positioned(p)) => {
                (p.bits().count_ones() as u16, Some(p.bits()))
            }
            Some(c) => (c.count() as u16, None),
            None => (0, None),
        };
        // The channel count must be the one the file declares, or the packet's frames are not
        // what they seem: then symphonia decodes it.
        let pcm = Pcm::for_codec(&params).filter(|_| channels > 0);
        facts.opus = opus_head.as_ref();
        let trim = gapless::trim_for(&facts);
        let container = format.format_info().short_name.to_string();
        let loudness = replaygain::from_format(&mut *format);
        let info = SourceInfo {
            path: path.to_path_buf(),
            rate,
            channels,
            channel_mask,
            codec: decoder.codec_info().short_name.to_string(),
            container,
            frames: trim.valid_frames.or(num_frames),
            loudness,
            gain: AppliedGain::NONE,
        };
        let mut source = Source {
            track_id,
            time_base,
            info,
            format,
            decoder,
            samples: Vec::new(),
            discard_before: None,
            bad_in_a_row: 0,
            skipped_packets: 0,
            damage: Damage::default(),
            next_pts: None,
            frames_out: 0,
            pending_first: false,
            pcm,
            next_frame: trim.count_from,
            trim,
            codec_gain: opus_head.map_or(1.0, |h| h.output_gain()),
            gain: opus_head.map_or(1.0, |h| h.output_gain()),
            decoded_hash: SampleHash::default(),
            hashing: proofs_wanted() && SAMPLE_HASHES.with(std::cell::Cell::get),
            analysis: None,
            bits: params.bits_per_sample,
            seeked: false,
        };
        if source.info.channels == 0 {
            // Some containers (ADTS AAC, for one) only reveal the channel count in the first
            // decoded packet. Decode it now and hand it out first.
            match source.decode_next().map_err(&fail)? {
                Some(_) => source.pending_first = true,
                None => return Err(fail(FileErrorKind::Corrupt("no decodable audio".into()))),
            }
        }
        if source.info.channels == 0 || source.info.channels > 32 {
            return Err(fail(FileErrorKind::Corrupt(format!(
                "implausible channel count {}",
                source.info.channels
            ))));
        }
        Ok(source)
    }

    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// Apply `gain` (ReplayGain) to every sample from the next block on. It multiplies with
    /// what the codec's header asks for (Opus output gain), which always applies.
    pub fn set_gain(&mut self, gain: AppliedGain) {
        self.info.gain = gain;
        self.gain = self.codec_gain * gain.linear;
    }

    /// Scan the track's loudness and waveform while it is decoded from here (its start) to
    /// its end: [`Source::take_analysis`] then gives the result.
    pub fn start_analysis(&mut self) {
        self.analysis = Analyzer::new(self.info.rate, self.info.channels).map(Box::new);
    }

    /// The scan started by [`Source::start_analysis`], once the track was decoded whole and
    /// in order (no seek since).
    pub fn take_analysis(&mut self) -> Option<Analysis> {
        self.analysis.take().map(|a| a.finish())
    }

    /// The product of every gain applied to the decoded samples (1.0: none).
    pub fn gain(&self) -> f32 {
        self.gain
    }

    /// Bits per sample the codec declares (lossless formats).
    pub fn bits(&self) -> Option<u32> {
        self.bits
    }

    /// Hash and count of the samples decoded since the open or the last seek, before gain.
    pub fn decoded_digest(&self) -> (String, u64) {
        self.decoded_hash.digest()
    }

    /// After the end of the stream: whether the decoded audio matches the checksum the file
    /// carries (FLAC's STREAMINFO MD5). `None` when there is none, or after a seek.
    pub fn verify_end(&mut self) -> Option<bool> {
        if self.seeked {
            return None;
        }
        contain_panics(|| self.decoder.finalize().verify_ok)
            .ok()
            .flatten()
    }

    /// The file frame of the next frame [`Source::next_block`] will return.
    pub fn position_frames(&self) -> u64 {
        self.frames_out
    }

    /// The file frame of a packet timestamp: negative for the encoder delay before the music.
    fn ts_to_frame(&self, ts: Timestamp) -> i64 {
        let ts = ts.get() as i128;
        let frames = match self.time_base {
            Some(tb) => {
                ts * tb.numer.get() as i128 * self.info.rate as i128 / tb.denom.get() as i128
            }
            None => ts,
        };
        (frames - self.trim.start_frames as i128).clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    fn frame_to_ts(&self, frame: u64) -> Timestamp {
        let f = (frame as i128 + self.trim.start_frames as i128).max(0);
        let ts = match self.time_base {
            Some(tb) => {
                f * tb.denom.get() as i128 / (tb.numer.get() as i128 * self.info.rate as i128)
            }
            None => f,
        };
        Timestamp::new(ts.min(i64::MAX as i128) as i64)
    }

    /// Decode the next block of audio: interleaved f32, `info().channels` per frame.
    /// `Ok(None)` is the end of the file.
    pub fn next_block(&mut self) -> Result<Option<&[f32]>, FileErrorKind> {
        if self.pending_first {
            self.pending_first = false;
            if !self.samples.is_empty() {
                self.frames_out += (self.samples.len() / self.info.channels as usize) as u64;
                return Ok(Some(&self.samples));
            }
        }
        let decoded = contain_panics(|| self.decode_next()).map_err(|()| {
            // The format reader or decoder is in an unknown state now: end the track.
            FileErrorKind::DecoderPanic
        })?;
        match decoded? {
            Some(frames) => {
                self.frames_out += frames as u64;
                Ok(Some(&self.samples))
            }
            None => Ok(None),
        }
    }

    /// Decode packets until one yields frames; leaves them in `self.samples`.
    fn decode_next(&mut self) -> Result<Option<usize>, FileErrorKind> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return self.end_of_stream(),
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    // A truncated file: play what was there.
                    return self.end_of_stream();
                }
                Err(SymError::ResetRequired) => {
                    self.decoder.reset();
                    continue;
                }
                Err(SymError::DecodeError(m)) => match self.bad_packet(m) {
                    Ok(()) => continue,
                    // The reader cannot go on after audio has played: a truncated MP4 whose
                    // sample table points past the end of the file. Keep what played, and
                    // say it ended early rather than that it was damaged.
                    Err(_) if self.frames_out > 0 => {
                        self.damage.forget_run(self.bad_in_a_row);
                        return self.end_of_stream();
                    }
                    Err(e) => return Err(e),
                },
                Err(SymError::IoError(e)) => return Err(FileErrorKind::from_io(&e)),
                Err(other) => return Err(FileErrorKind::Corrupt(other.to_string())),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let mut start_frame = self.ts_to_frame(packet.pts);
            if self.trim.count_from.is_some()
                && let Some(counted) = self.next_frame
            {
                // reel counts frames itself here (see gapless.rs): the container's timestamps
                // are not the music's, so they cannot show a gap either.
                start_frame = counted;
            } else {
                self.note_pts_gap(packet.pts.get(), packet.dur.get());
            }
            if let Some(pcm) = self.pcm {
                let channels = self.info.channels as usize;
                let frames = pcm.convert(&packet.data, channels, &mut self.samples);
                if frames == 0 {
                    continue;
                }
                self.bad_in_a_row = 0;
                // Integers convert to finite floats: only float PCM needs the scan.
                match self.hand_out(start_frame, frames, pcm == Pcm::F32) {
                    Some(frames) => return Ok(Some(frames)),
                    None => continue,
                }
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(buf) => buf,
                Err(SymError::DecodeError(m)) => {
                    self.damage.missing_frames += self.frames_in_ts(packet.dur.get());
                    self.bad_packet(m)?;
                    continue;
                }
                Err(SymError::IoError(_)) => {
                    self.damage.missing_frames += self.frames_in_ts(packet.dur.get());
                    self.bad_packet("packet ends early")?;
                    continue;
                }
                Err(SymError::ResetRequired) => {
                    self.decoder.reset();
                    continue;
                }
                Err(SymError::Unsupported(m)) => {
                    return Err(FileErrorKind::UnsupportedCodec(m.to_string()));
                }
                Err(other) => return Err(FileErrorKind::Corrupt(other.to_string())),
            };
            self.bad_in_a_row = 0;
            let frames = decoded.frames();
            if frames == 0 {
                continue;
            }
            if self.trim.count_from.is_some() {
                self.next_frame = Some(start_frame + frames as i64);
            }
            let src_channels = decoded.spec().channels().count().max(1);
            if self.info.channels == 0 {
                self.info.channels = src_channels as u16;
                if let symphonia::core::audio::Channels::Positioned(p) = decoded.spec().channels() {
                    self.info.channel_mask = Some(p.bits());
                }
            }
            let channels = self.info.channels as usize;
            if src_channels == channels {
                self.samples.resize(frames * channels, 0.0);
                decoded.copy_to_slice_interleaved(&mut self.samples[..]);
            } else {
                // The stream changed its channel count mid-file (chained Ogg, broken headers).
                // Keep the output layout fixed: copy what fits, silence the rest.
                let mut tmp = vec![0.0f32; frames * src_channels];
                decoded.copy_to_slice_interleaved(&mut tmp[..]);
                self.samples.clear();
                self.samples.resize(frames * channels, 0.0);
                for (dst, src) in self
                    .samples
                    .chunks_mut(channels)
                    .zip(tmp.chunks(src_channels))
                {
                    let n = channels.min(src_channels);
                    dst[..n].copy_from_slice(&src[..n]);
                }
            }
            match self.hand_out(start_frame, frames, true) {
                Some(frames) => return Ok(Some(frames)),
                None => continue,
            }
        }
    }

    /// The last steps for a block of `frames` frames in `self.samples` that starts at file
    /// frame `start_frame`: drop what precedes a seek's target, and zero non-finite samples
    /// (`scan`). `None` when the seek drops the whole block.
    fn hand_out(&mut self, start_frame: i64, frames: usize, scan: bool) -> Option<usize> {
        let channels = self.info.channels as usize;
        // The encoder's delay and padding (gapless.rs): keep only the music.
        let (start_frame, frames) = self.trim_block(start_frame, frames)?;
        let mut frames = frames;
        // Sample-accurate seeking: drop what precedes the requested frame.
        if let Some(target) = self.discard_before {
            let end = start_frame + frames as u64;
            if end <= target {
                return None;
            }
            self.discard_before = None;
            if start_frame < target {
                let drop = (target - start_frame) as usize;
                self.samples.drain(..drop * channels);
                frames -= drop;
            }
        }
        if self.hashing {
            self.decoded_hash.update(&self.samples[..frames * channels]);
        }
        if let Some(a) = &mut self.analysis {
            // The scan measures what the file is meant to sound like: after the codec's own
            // gain (Opus), before the ReplayGain (which the scan is there to choose).
            let (codec, replay) = (self.codec_gain, self.info.gain.linear);
            scale_and_clean(&mut self.samples, codec, scan);
            a.add(&self.samples[..frames * channels]);
            scale_and_clean(&mut self.samples, replay, false);
        } else {
            scale_and_clean(&mut self.samples, self.gain, scan);
        }
        Some(frames)
    }

    /// A packet whose pts is later than where the previous one ended: the reader skipped the
    /// frames in between (a FLAC frame whose CRC fails is dropped by the reader itself, so no
    /// decode error would ever tell).
    fn note_pts_gap(&mut self, pts: i64, dur: u64) {
        if let Some(expected) = self.next_pts
            && pts > expected
        {
            let missing = self
                .ts_to_frame(Timestamp::new(pts))
                .saturating_sub(self.ts_to_frame(Timestamp::new(expected)))
                .max(0) as u64;
            // One frame of slack for timestamps rounded by the container.
            if missing > 1 {
                self.damage.missing_frames += missing;
                self.damage.damaged_runs += 1;
                let at = self.ts_to_frame(Timestamp::new(expected)).max(0) as u64;
                self.damage.first_at_frame.get_or_insert(at);
            }
        }
        // A packet that claims no duration (Vorbis's first, which only primes the overlap)
        // says nothing about where the next one starts.
        self.next_pts = (dur > 0).then(|| pts.saturating_add(dur.min(i64::MAX as u64) as i64));
    }

    /// A duration in the track's time base, in frames.
    fn frames_in_ts(&self, dur: u64) -> u64 {
        self.ts_to_frame(Timestamp::new(dur.min(i64::MAX as u64) as i64))
            .max(0) as u64
    }

    /// What went wrong in this file although it played: damaged frames skipped, or an end
    /// before the one its header promised. Empty for a healthy file.
    pub fn damage(&self) -> &Damage {
        &self.damage
    }

    /// Drop the frames of the block in `self.samples` (starting at file frame `start`) that
    /// lie before frame 0 or after the last valid frame. Returns the block's new start and
    /// length; `None` when nothing of it is music.
    fn trim_block(&mut self, start: i64, frames: usize) -> Option<(u64, usize)> {
        let channels = self.info.channels as usize;
        let mut start = start;
        let mut frames = frames;
        if start < 0 {
            let drop = (start.unsigned_abs()).min(frames as u64) as usize;
            self.samples.drain(..drop * channels);
            frames -= drop;
            start = 0;
        }
        if let Some(valid) = self.trim.valid_frames {
            let keep = valid.saturating_sub(start as u64).min(frames as u64) as usize;
            self.samples.truncate(keep * channels);
            frames = keep;
        }
        (frames > 0).then_some((start as u64, frames))
    }

    fn bad_packet(&mut self, why: &str) -> Result<(), FileErrorKind> {
        self.damage.damaged_runs += u64::from(self.bad_in_a_row == 0);
        self.damage.skipped_packets += 1;
        self.damage.first_at_frame.get_or_insert(self.frames_out);
        self.skipped_packets += 1;
        self.bad_in_a_row += 1;
        if self.bad_in_a_row >= MAX_BAD_PACKETS_IN_A_ROW {
            return Err(FileErrorKind::Corrupt(format!(
                "{} packets in a row failed to decode ({why})",
                self.bad_in_a_row
            )));
        }
        Ok(())
    }

    fn end_of_stream(&mut self) -> Result<Option<usize>, FileErrorKind> {
        if self.frames_out == 0 && !self.pending_first && self.skipped_packets > 0 {
            return Err(FileErrorKind::Corrupt("no packet could be decoded".into()));
        }
        // A file whose header promises audio but that ends before a single frame decodes (cut
        // inside its first FLAC frame, a WAV cut right after its header, an MP3 cut inside the
        // encoder delay, a FLAC whose only frames fail their CRC and are skipped by the
        // reader) used to "play" nothing and say nothing; tests/corrupt_files.rs found them.
        // A file that declares no audio at all (zero frames) still plays silently as empty.
        let promised = self.info.frames.is_none_or(|f| f > 0);
        if self.frames_out == 0 && !self.pending_first && promised {
            return Err(FileErrorKind::Corrupt(
                "no audio could be decoded (truncated or damaged)".into(),
            ));
        }
        // Ending more than a tenth of a second before the length the header promised is a
        // truncated file (encoder padding and rounding are far smaller).
        if let Some(total) = self.info.frames
            && self.frames_out + self.damage.missing_frames + u64::from(self.info.rate / 10) < total
        {
            self.damage.ended_at = Some((self.frames_out, total));
        }
        Ok(None)
    }

    /// Seek so that the next frame returned is exactly `frame` (in file frames).
    /// Seeking at or past the end leaves the source at its end.
    pub fn seek(&mut self, frame: u64) -> Result<(), FileErrorKind> {
        let frame = match self.info.frames {
            Some(total) => frame.min(total),
            None => frame,
        };
        let ts = self.frame_to_ts(frame);
        self.pending_first = false;
        self.samples.clear();
        let track_id = self.track_id;
        let sought = contain_panics(|| {
            self.format
                .seek(SeekMode::Accurate, SeekTo::Timestamp { ts, track_id })
        })
        .map_err(|()| FileErrorKind::DecoderPanic)?;
        match sought {
            Ok(_) => {}
            Err(SymError::SeekError(_)) if Some(frame) == self.info.frames => {}
            Err(SymError::SeekError(kind)) => {
                return Err(FileErrorKind::Corrupt(format!("cannot seek: {kind:?}")));
            }
            Err(SymError::IoError(e)) => return Err(FileErrorKind::from_io(&e)),
            Err(other) => return Err(FileErrorKind::Corrupt(other.to_string())),
        }
        contain_panics(|| self.decoder.reset()).map_err(|()| FileErrorKind::DecoderPanic)?;
        self.discard_before = Some(frame);
        // Counted positions restart from the timestamp of the first packet after the seek.
        self.next_frame = None;
        self.seeked = true;
        self.decoded_hash = SampleHash::default();
        self.analysis = None;
        self.frames_out = frame;
        self.next_pts = None;
        self.bad_in_a_row = 0;
        Ok(())
    }
}

/// Multiplies every sample by `gain`, and (`clean`) zeroes non-finite ones: from a damaged
/// stream they would become full-scale noise.
fn scale_and_clean(samples: &mut [f32], gain: f32, clean: bool) {
    if gain != 1.0 {
        samples.iter_mut().for_each(|s| *s *= gain);
    }
    if clean {
        for s in samples.iter_mut() {
            if !s.is_finite() {
                *s = 0.0;
            }
        }
    }
}

/// The MP4 edit list or iTunSMPB of `media`, when it is a seekable MP4 file; the media is
/// left at its start. (Read before symphonia probes the file: it keeps its edit list private
/// and does not read iTunSMPB; see gapless.rs.)
fn mp4_trim_of(media: &mut dyn MediaSource) -> Option<Mp4Trim> {
    use std::io::SeekFrom;
    if !media.is_seekable() {
        return None;
    }
    let mut head = [0u8; 8];
    let n = media.read(&mut head).ok()?;
    media.seek(SeekFrom::Start(0)).ok()?;
    if !gapless::looks_like_mp4(&head[..n]) {
        return None;
    }
    gapless::read_mp4_trim(media)
}

/// Whether this source's proofs are wanted: the decoded samples' hash and FLAC's MD5 check
/// are reported only for playback (bitperfect.rs), so only the engine's decoder thread pays
/// for them. `reel decode`, which benches decode speed against ffmpeg, and the cache's probe
/// do not (measured: together they doubled `reel decode`'s CPU time on a FLAC).
fn proofs_wanted() -> bool {
    std::thread::current().name() == Some(crate::engine::DECODER_THREAD)
}

thread_local! {
    /// Whether the decoder thread keeps the decoded samples' hash (`EngineConfig::observed`).
    static SAMPLE_HASHES: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Decoder thread, at its start: whether sources opened on this thread hash their decoded
/// samples for the bit-perfect proof (nothing shows it in a plain `reel play`).
pub(crate) fn set_sample_hashes(on: bool) {
    SAMPLE_HASHES.with(|c| c.set(on));
}

thread_local! {
    /// Set while [`contain_panics`] runs on this thread: the panic hook stays silent.
    static CONTAINING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (a call into symphonia), turning a panic inside it into `Err(())`, without the
/// panic message on stderr.
///
/// symphonia returns errors for bad input, but a few malformed headers still make it panic:
/// tests/corrupt_files.rs found an arithmetic overflow in its WAV reader on a file that
/// declares 65535 channels (`attempt to multiply with overflow` in debug builds; release
/// builds wrap and then refuse the file). Any such file must cost the user that one file, with
/// one clear line, not the program: the cache probes every file on the main thread
/// (`reel cache import`, `reel play` before playing), and `reel decode` decodes there. The
/// decoder thread catches panics around its whole step as well (decoder.rs); this catches
/// them where they start, on every thread.
fn contain_panics<T>(f: impl FnOnce() -> T) -> Result<T, ()> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CONTAINING.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    let outer = CONTAINING.with(|c| c.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CONTAINING.with(|c| c.set(outer));
    result.map_err(|_| ())
}

/// symphonia renders codec ids it has no decoder for as hex; name the ones users meet.
fn codec_name_guess(id: &str) -> String {
    use symphonia::core::codecs::audio::well_known::*;
    let known = [
        (CODEC_ID_OPUS, "Opus"),
        (CODEC_ID_SPEEX, "Speex"),
        (CODEC_ID_MUSEPACK, "Musepack"),
        (CODEC_ID_AC3, "AC-3 (Dolby Digital)"),
        (CODEC_ID_EAC3, "E-AC-3 (Dolby Digital Plus)"),
        (CODEC_ID_AC4, "AC-4"),
        (CODEC_ID_DCA, "DTS"),
        (CODEC_ID_ATRAC3, "ATRAC3"),
        (CODEC_ID_ATRAC3PLUS, "ATRAC3plus"),
        (CODEC_ID_WMA, "WMA"),
        (CODEC_ID_WAVPACK, "WavPack"),
        (CODEC_ID_MONKEYS_AUDIO, "Monkey's Audio"),
        (CODEC_ID_TTA, "TTA"),
        (CODEC_ID_SBC, "SBC"),
        (CODEC_ID_APTX, "aptX"),
        (CODEC_ID_LDAC, "LDAC"),
    ];
    known
        .iter()
        .find(|(cid, _)| cid.to_string() == id)
        .map(|(_, name)| name.to_string())
        .unwrap_or_else(|| format!("codec id {id}"))
}

/// Test-only fault injection, compiled into debug builds only (the ones the test suite runs).
///
/// A slow disk (a sleeping USB drive, a congested network share) makes a read block for a long
/// time in the middle of a track. No real file does that on demand, so the tests set
/// `REEL_FAULT_SLOW_READ=OFFSET:MS`: the first read of each file the decoder thread opens that
/// covers byte `OFFSET` blocks for `MS` milliseconds first, exactly where a slow read would.
/// Only the decoder thread's sources stall (not the cache's probe at import), so the stall
/// lands in playback.
mod fault_injection {
    use symphonia::core::io::MediaSource;

    #[cfg(debug_assertions)]
    pub const SLOW_READ_ENV: &str = "REEL_FAULT_SLOW_READ";

    #[cfg(not(debug_assertions))]
    #[inline(always)]
    pub fn maybe_slow(file: Box<dyn MediaSource>) -> Box<dyn MediaSource> {
        file
    }

    #[cfg(debug_assertions)]
    pub fn maybe_slow(file: Box<dyn MediaSource>) -> Box<dyn MediaSource> {
        let on_decoder = std::thread::current().name() == Some(crate::engine::DECODER_THREAD);
        let spec = std::env::var(SLOW_READ_ENV).ok().filter(|_| on_decoder);
        let parsed = spec.as_deref().and_then(|s| {
            let (offset, ms) = s.split_once(':')?;
            Some((offset.trim().parse().ok()?, ms.trim().parse().ok()?))
        });
        match parsed {
            Some((at_byte, stall_ms)) => Box::new(SlowRead {
                file,
                pos: 0,
                at_byte,
                stall: std::time::Duration::from_millis(stall_ms),
                stalled: false,
            }),
            None => file,
        }
    }

    #[cfg(debug_assertions)]
    struct SlowRead {
        file: Box<dyn MediaSource>,
        /// Byte offset of the next read.
        pos: u64,
        at_byte: u64,
        stall: std::time::Duration,
        stalled: bool,
    }

    #[cfg(debug_assertions)]
    impl std::io::Read for SlowRead {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            // Only a read that covers the byte: a reader that seeks past it while probing
            // (the WAV reader looks for chunks after the audio) does not stall there.
            let covers = (self.pos..self.pos + buf.len() as u64).contains(&self.at_byte);
            if !self.stalled && covers {
                self.stalled = true;
                std::thread::sleep(self.stall);
            }
            let n = self.file.read(buf)?;
            self.pos += n as u64;
            Ok(n)
        }
    }

    #[cfg(debug_assertions)]
    impl std::io::Seek for SlowRead {
        fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
            self.pos = self.file.seek(to)?;
            Ok(self.pos)
        }
    }

    #[cfg(debug_assertions)]
    impl MediaSource for SlowRead {
        fn is_seekable(&self) -> bool {
            self.file.is_seekable()
        }

        fn byte_len(&self) -> Option<u64> {
            self.file.byte_len()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 48 kHz WAV file holding `samples` (packed little-endian PCM): format tag 1 (integer)
    /// or 3 (float).
    fn wav(float: bool, bits: u16, channels: u16, samples: &[u8]) -> Vec<u8> {
        let block = channels * bits / 8;
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + samples.len() as u32).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&(if float { 3u16 } else { 1 }).to_le_bytes());
        v.extend_from_slice(&channels.to_le_bytes());
        v.extend_from_slice(&48_000u32.to_le_bytes());
        v.extend_from_slice(&(48_000 * block as u32).to_le_bytes());
        v.extend_from_slice(&block.to_le_bytes());
        v.extend_from_slice(&bits.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&(samples.len() as u32).to_le_bytes());
        v.extend_from_slice(samples);
        v
    }

    /// Found by the fuzzer: seconds per block through the resampler before the floor.
    #[test]
    fn a_header_claiming_a_sample_rate_below_any_real_one_is_refused_as_damage() {
        let input = include_bytes!("../../fuzz/regressions/decode/wav-34hz-7ch.wav").to_vec();
        let err = Source::from_bytes(Path::new("odd.wav"), input)
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("implausible sample rate 34 Hz"),
            "{err}"
        );
    }

    /// Found by the fuzzer: the PCM decoder sized its buffer from the header, gigabytes.
    #[test]
    fn a_header_declaring_packets_larger_than_any_real_one_is_refused_as_damage() {
        let input = include_bytes!("../../fuzz/regressions/decode/caf-huge-packet.caf").to_vec();
        let err = Source::from_bytes(Path::new("odd.caf"), input)
            .err()
            .unwrap();
        assert!(err.to_string().contains("implausible packet size"), "{err}");
    }

    fn decode_all(path: &Path, fast: bool, seek_to: Option<u64>) -> (Option<Pcm>, Vec<f32>) {
        let mut s = Source::open(path).unwrap();
        let pcm = s.pcm;
        if !fast {
            s.pcm = None;
        }
        if let Some(f) = seek_to {
            s.seek(f).unwrap();
        }
        let mut out = Vec::new();
        while let Some(b) = s.next_block().unwrap() {
            out.extend_from_slice(b);
        }
        (pcm, out)
    }

    /// reel's own PCM conversion gives exactly the samples symphonia's decoder gives, for
    /// every format it takes over, with extremes, several channel counts, and after a seek.
    #[test]
    fn packed_pcm_is_converted_exactly_as_symphonia_does() {
        let dir = tempfile::tempdir().unwrap();
        // Deterministic bytes covering every bit pattern region, plus each format's extremes.
        let mut x = 0x2545_f491_u32;
        let mut noise = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect()
        };
        let mut floats: Vec<u8> = [0.5f32, -1.0, 1.0, f32::NAN, f32::INFINITY, -0.0, 1e-40]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        floats.extend((0..12_000).flat_map(|i| ((i as f32 * 0.01).sin()).to_le_bytes()));
        let cases: [(bool, u16, Pcm, Vec<u8>); 4] = [
            (false, 16, Pcm::S16, {
                let mut v = vec![0x00, 0x80, 0xff, 0x7f];
                v.extend(noise(24_000));
                v
            }),
            (false, 24, Pcm::S24, {
                let mut v = vec![0x00, 0x00, 0x80, 0xff, 0xff, 0x7f];
                v.extend(noise(36_000));
                v
            }),
            (false, 32, Pcm::S32, {
                let mut v = vec![0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0x7f];
                v.extend(noise(48_000));
                v
            }),
            (true, 32, Pcm::F32, floats),
        ];
        for (float, bits, want, body) in cases {
            for channels in [1u16, 2, 6] {
                let block = (channels * bits / 8) as usize;
                let body = &body[..body.len() / block * block];
                let path = dir.path().join(format!("{bits}-{float}-{channels}.wav"));
                std::fs::write(&path, wav(float, bits, channels, body)).unwrap();
                let what = format!("{bits}-bit float={float} {channels} ch");
                for seek in [None, Some(777)] {
                    let (pcm, ours) = decode_all(&path, true, seek);
                    assert_eq!(pcm, Some(want), "{what}: reel's conversion is used");
                    let (_, theirs) = decode_all(&path, false, seek);
                    assert!(!ours.is_empty(), "{what}");
                    assert_eq!(ours.len(), theirs.len(), "{what} seek {seek:?}");
                    let same = ours
                        .iter()
                        .zip(&theirs)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(
                        same,
                        "{what} seek {seek:?}: samples differ from symphonia's"
                    );
                }
            }
        }
    }
}
