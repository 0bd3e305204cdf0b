//! Sample-exact gapless: which decoded frames of a file are its music, per container.
//!
//! Runs wherever [`super::source::Source`] runs (the decoder thread, `reel decode`, the cache's
//! probe), never on the audio thread.
//!
//! Lossy encoders add frames the listener must not hear: a delay at the start (the codec's
//! look-ahead, "priming") and padding at the end (to fill the last packet). Played as is, they
//! are a gap or an overlap at every join of an album. What symphonia 0.6 does, and what reel
//! adds, per container (each checked on files ffmpeg and lame write, tests/gapless.rs):
//!
//! - **MP3** (Xing/Info + LAME tag, as lame and ffmpeg's libmp3lame write it): symphonia reads
//!   the encoder delay and padding, but its own trim is 47 frames off ([`reel_trims_mp3`]):
//!   reel turns it off and trims by the packet timestamps.
//! - **Ogg Vorbis**: the granule positions give each page's end; symphonia trims the last
//!   packet to it. Nothing to add.
//! - **Ogg Opus**: the granule positions count the pre-skip (RFC 7845 §4), which symphonia
//!   leaves in the stream (it only records it as the track's delay). reel drops the frames
//!   whose timestamp lies before the pre-skip ([`Trim::start_frames`]); the end is trimmed by
//!   symphonia from the last granule position.
//! - **Opus in Matroska/WebM**: the same pre-skip, from the OpusHead in CodecPrivate.
//! - **AAC (and anything else) in MP4/M4A**: symphonia reads the `elst` edit list but does not
//!   apply it, and does not read `iTunSMPB`, so the encoder delay (1024 frames from ffmpeg,
//!   2112 from Apple's encoders) and the padding were played. reel reads both itself
//!   ([`read_mp4_trim`]): symphonia keeps its parsed edit list private, hence a small box
//!   walker of our own.
//! - **FLAC, WAV, AIFF, ALAC, CAF**: every frame is music; nothing to trim.
//!
//! The trim is applied by the source to decoded frames by their timestamps, so it holds after
//! a seek as on the first pass.

use std::io::{Read, Seek, SeekFrom};

/// Which decoded frames are music. A decoded frame at timestamp `t` (in frames) is file frame
/// `t - start_frames`; frames before file frame 0 are delay, and from `valid_frames` (when
/// known) on, padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Trim {
    /// Negative when the decoder's output runs ahead of its timestamps (symphonia's MP3).
    pub start_frames: i64,
    pub valid_frames: Option<u64>,
    /// The timestamps are too coarse to place a packet to the frame (Matroska counts
    /// milliseconds): from the start of the stream, the first packet is at this file frame and
    /// each next one follows the last. After a seek the timestamp places the first packet.
    pub count_from: Option<i64>,
}

/// What a file's container and codec say about its delay and padding.
#[derive(Debug, Clone, Copy)]
pub struct TrimFacts<'a> {
    pub container: &'a str,
    pub codec: symphonia::core::codecs::audio::AudioCodecId,
    pub rate: u32,
    /// The delay symphonia's demuxer put on the track (MP3's LAME tag + 529, Opus' pre-skip).
    pub track_delay: Option<u32>,
    /// The frame count the demuxer reports (music only where it knows the delay).
    pub declared: Option<u64>,
    pub opus: Option<&'a super::opus::OpusHead>,
    pub mp4: Option<Mp4Trim>,
}

/// Whether symphonia's own trimming must be off for this file (reel trims it instead).
///
/// MP3 with a LAME tag: symphonia 0.6 reads the encoder delay and padding right (its packet
/// timestamps start at −(delay + 529)), but its decoder's own trimming lost the first 47
/// frames of music on every file tried (lame 3.100 and ffmpeg's libmp3lame; 22.05 to 48 kHz;
/// mono and stereo; 64 to 320 kbit/s), while the total length was right, so the last 47
/// frames were padding. Trimmed by the timestamps instead, the output equals the encoder's
/// input, aligned, as ffmpeg's does (tests/gapless.rs).
pub fn reel_trims_mp3(f: &TrimFacts) -> bool {
    use symphonia::core::codecs::audio::well_known::CODEC_ID_MP3;
    f.codec == CODEC_ID_MP3 && f.track_delay.is_some()
}

/// What reel trims itself, per container (the module docs say why).
pub fn trim_for(f: &TrimFacts) -> Trim {
    if let Some(t) = f.mp4 {
        return t.at_rate(f.rate);
    }
    if reel_trims_mp3(f) {
        return Trim {
            start_frames: 0,
            valid_frames: f.declared,
            count_from: None,
        };
    }
    let Some(h) = f.opus else {
        return Trim::default();
    };
    let pre_skip = h.pre_skip as i64 * f.rate as i64 / super::opus::OPUS_RATE_HZ as i64;
    match f.container {
        // The edit list carries the pre-skip in MP4 (handled above).
        "isomp4" => Trim::default(),
        // Matroska/WebM: the block timestamps are already shifted by the pre-skip (CodecDelay),
        // but in milliseconds: counted from −pre-skip instead, so the start is exact. The end
        // padding (DiscardPadding) symphonia does not hand over: up to one packet remains.
        "matroska" | "mkv" | "webm" => Trim {
            start_frames: 0,
            valid_frames: None,
            count_from: Some(-pre_skip),
        },
        // Ogg: granule positions count the pre-skip; symphonia trims the end from the last.
        _ => Trim {
            start_frames: pre_skip,
            valid_frames: f.declared.map(|d| d.saturating_sub(pre_skip as u64)),
            count_from: None,
        },
    }
}

/// An MP4 file's trim as stored: each value in its own timescale (ticks per second), or in
/// frames at the track's rate (`None`), which is only known once the file is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp4Trim {
    start: (u64, Option<u32>),
    valid: Option<(u64, Option<u32>)>,
}

impl Mp4Trim {
    /// The trim in frames at `rate` Hz.
    pub fn at_rate(&self, rate: u32) -> Trim {
        let frames = |(t, scale): (u64, Option<u32>)| match scale {
            Some(scale) => (t as u128 * rate as u128 / scale.max(1) as u128) as u64,
            None => t,
        };
        Trim {
            start_frames: frames(self.start) as i64,
            valid_frames: self.valid.map(frames),
            count_from: None,
        }
    }
}

/// Biggest `moov` box read to find the edit list (a long track's sample tables are a few MiB).
const MAX_MOOV_BYTES: u64 = 64 * 1024 * 1024;

/// The start and end trim of an MP4/M4A file's first sound track, from its `elst` edit list
/// or, when that trims nothing, its `iTunSMPB` tag. `None` when the file is not MP4, or says
/// nothing about either. Reads only box headers and the `moov` box; leaves the reader where it
/// found it.
pub fn read_mp4_trim<R: Read + Seek + ?Sized>(r: &mut R) -> Option<Mp4Trim> {
    let start = r.stream_position().ok()?;
    let found = find_moov(r).and_then(|moov| trim_from_moov(&moov));
    r.seek(SeekFrom::Start(start)).ok()?;
    found
}

/// Whether `head` (a file's first bytes) looks like an ISO base media file.
pub fn looks_like_mp4(head: &[u8]) -> bool {
    head.len() >= 8 && &head[4..8] == b"ftyp"
}

fn find_moov<R: Read + Seek + ?Sized>(r: &mut R) -> Option<Vec<u8>> {
    r.seek(SeekFrom::Start(0)).ok()?;
    let mut pos = 0u64;
    // A bounded walk: a file of a million tiny boxes must not keep us here.
    for _ in 0..4096 {
        let mut h = [0u8; 8];
        r.read_exact(&mut h).ok()?;
        let mut size = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as u64;
        let mut header = 8u64;
        if size == 1 {
            let mut big = [0u8; 8];
            r.read_exact(&mut big).ok()?;
            size = u64::from_be_bytes(big);
            header = 16;
        }
        if &h[4..8] == b"moov" {
            if size < header || size - header > MAX_MOOV_BYTES {
                return None;
            }
            let mut body = Vec::new();
            Read::take(&mut *r, size - header)
                .read_to_end(&mut body)
                .ok()?;
            return (body.len() as u64 == size - header).then_some(body);
        }
        if size < header {
            return None; // size 0 ("to the end") on a non-moov box: no moov after it
        }
        pos = pos.checked_add(size)?;
        r.seek(SeekFrom::Start(pos)).ok()?;
    }
    None
}

/// The child boxes of a box body: (type, body).
fn boxes(mut data: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 8 {
            return None;
        }
        let size = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let (header, size) = match size {
            1 if data.len() >= 16 => (
                16,
                u64::from_be_bytes(data[8..16].try_into().ok()?) as usize,
            ),
            0 => (8, data.len()),
            s => (8, s),
        };
        if size < header || size > data.len() {
            return None;
        }
        let kind = &data[4..8];
        let body = &data[header..size];
        data = &data[size..];
        Some((kind, body))
    })
}

fn child<'a>(data: &'a [u8], kind: &[u8]) -> Option<&'a [u8]> {
    boxes(data).find(|(k, _)| *k == kind).map(|(_, b)| b)
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A full box's timescale: `mvhd` and `mdhd` share the layout up to it.
fn timescale(full_box: &[u8]) -> Option<u32> {
    let at = if full_box.first()? == &1 { 20 } else { 12 };
    be_u32(full_box, at).filter(|t| *t > 0)
}

/// A full box's duration, in its timescale (the field after it).
fn duration(full_box: &[u8]) -> Option<u64> {
    if full_box.first()? == &1 {
        be_u64(full_box, 24)
    } else {
        be_u32(full_box, 16).map(u64::from)
    }
}

fn trim_from_moov(moov: &[u8]) -> Option<Mp4Trim> {
    let movie_scale = timescale(child(moov, b"mvhd")?)?;
    let trak = boxes(moov)
        .filter(|(k, _)| *k == b"trak")
        .map(|(_, b)| b)
        .find(|t| {
            child(t, b"mdia")
                .and_then(|m| child(m, b"hdlr"))
                .is_some_and(|h| h.get(8..12) == Some(b"soun"))
        })?;
    let mdhd = child(child(trak, b"mdia")?, b"mdhd")?;
    let media_scale = timescale(mdhd)?;
    let media_duration = duration(mdhd);
    let from_elst = child(trak, b"edts")
        .and_then(|e| child(e, b"elst"))
        .and_then(first_edit)
        .filter(|(_, media_time)| *media_time > 0)
        .map(|(edit, media_time)| {
            // The edit's duration is only as fine as the movie's timescale (ffmpeg's is
            // 1 ms: up to 48 frames off). The media's own duration, when the encoder's
            // padding is left out of it (ffmpeg: the last packet is as long as the music
            // in it), gives the same end to the frame: use it when the two agree.
            let valid = media_duration
                .and_then(|d| d.checked_sub(media_time))
                .filter(|exact| {
                    let as_movie = *exact as u128 * movie_scale as u128 / media_scale as u128;
                    as_movie.abs_diff(edit as u128) <= 1
                })
                .map(|exact| (exact, Some(media_scale)))
                .or((edit > 0).then_some((edit, Some(movie_scale))));
            Mp4Trim {
                start: (media_time, Some(media_scale)),
                valid,
            }
        });
    from_elst.or_else(|| itunsmpb(moov))
}

/// The first edit that plays media (empty edits, media time −1, only delay the track's start
/// in a movie; a player of audio files ignores them): (segment duration in the movie's
/// timescale, media time in the track's).
fn first_edit(elst: &[u8]) -> Option<(u64, u64)> {
    let v1 = *elst.first()? == 1;
    let count = be_u32(elst, 4)? as usize;
    let entry = if v1 { 20 } else { 12 };
    (0..count.min(1024)).find_map(|i| {
        let at = 8 + i * entry;
        let (duration, media_time) = if v1 {
            (be_u64(elst, at)?, be_u64(elst, at + 8)? as i64)
        } else {
            (
                be_u32(elst, at)? as u64,
                be_u32(elst, at + 4)? as i32 as i64,
            )
        };
        (media_time >= 0).then_some((duration, media_time as u64))
    })
}

/// iTunes' gapless tag, a freeform `----` atom named `iTunSMPB` in `udta/meta/ilst`: hex
/// words, the second the encoder delay, the third the padding, the fourth the valid frames.
fn itunsmpb(moov: &[u8]) -> Option<Mp4Trim> {
    let meta = child(child(moov, b"udta")?, b"meta").or_else(|| child(moov, b"meta"))?;
    // `meta` is a full box: 4 bytes of version and flags before its children.
    let ilst = child(meta.get(4..)?, b"ilst")?;
    let text = boxes(ilst)
        .filter(|(k, _)| *k == b"----")
        .find_map(|(_, free)| {
            let name = child(free, b"name")?;
            if name.get(4..)? != b"iTunSMPB" {
                return None;
            }
            let data = child(free, b"data")?;
            std::str::from_utf8(data.get(8..)?).ok()
        })?;
    parse_itunsmpb(text)
}

/// The value of an `iTunSMPB` tag (" 00000000 00000840 000001CA 00000000003F31F6 ...").
pub fn parse_itunsmpb(text: &str) -> Option<Mp4Trim> {
    let words: Vec<u64> = text
        .split_whitespace()
        .take(4)
        .map(|w| u64::from_str_radix(w, 16).ok())
        .collect::<Option<_>>()?;
    let [_, delay, _padding, valid] = words[..] else {
        return None;
    };
    (delay > 0 || valid > 0).then_some(Mp4Trim {
        start: (delay, None),
        valid: (valid > 0).then_some((valid, None)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(kind: &[u8], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn full(version: u8, rest: &[u8]) -> Vec<u8> {
        let mut v = vec![version, 0, 0, 0];
        v.extend_from_slice(rest);
        v
    }

    fn header_box(kind: &[u8], scale: u32) -> Vec<u8> {
        let mut rest = vec![0u8; 8];
        rest.extend_from_slice(&scale.to_be_bytes());
        rest.extend_from_slice(&[0; 8]);
        bx(kind, &full(0, &rest))
    }

    /// A file with one sound track: movie timescale 1000, media timescale 44 100.
    fn mp4(edit: Option<(u32, i32)>, smpb: Option<&str>) -> Vec<u8> {
        let mut hdlr = vec![0u8; 4];
        hdlr.extend_from_slice(b"soun");
        hdlr.extend_from_slice(&[0; 12]);
        let mdia = bx(
            b"mdia",
            &[header_box(b"mdhd", 44_100), bx(b"hdlr", &full(0, &hdlr))].concat(),
        );
        let mut trak = Vec::new();
        if let Some((duration, media_time)) = edit {
            let mut e = 2u32.to_be_bytes().to_vec();
            // An empty edit first, as some muxers write: it must be skipped.
            e.extend_from_slice(&100u32.to_be_bytes());
            e.extend_from_slice(&(-1i32).to_be_bytes());
            e.extend_from_slice(&[0, 1, 0, 0]);
            e.extend_from_slice(&duration.to_be_bytes());
            e.extend_from_slice(&media_time.to_be_bytes());
            e.extend_from_slice(&[0, 1, 0, 0]);
            trak.extend(bx(b"edts", &bx(b"elst", &full(0, &e))));
        }
        trak.extend(mdia);
        let mut moov = header_box(b"mvhd", 1000);
        moov.extend(bx(b"trak", &trak));
        if let Some(s) = smpb {
            let mut data = vec![0, 0, 0, 1, 0, 0, 0, 0];
            data.extend_from_slice(s.as_bytes());
            let free = [
                bx(b"mean", &full(0, b"com.apple.iTunes")),
                bx(b"name", &full(0, b"iTunSMPB")),
                bx(b"data", &data),
            ]
            .concat();
            let ilst = bx(b"ilst", &bx(b"----", &free));
            moov.extend(bx(b"udta", &bx(b"meta", &full(0, &ilst))));
        }
        let mut file = bx(b"ftyp", b"M4A \0\0\0\0");
        file.extend(bx(b"mdat", &[0u8; 100]));
        file.extend(bx(b"moov", &moov));
        file
    }

    fn read(bytes: Vec<u8>) -> Option<Trim> {
        let mut c = std::io::Cursor::new(bytes);
        let t = read_mp4_trim(&mut c);
        assert_eq!(c.position(), 0, "the reader is left where it was");
        t.map(|t| t.at_rate(44_100))
    }

    #[test]
    fn the_edit_list_gives_the_delay_and_the_music_length() {
        // 1.5 s of music (1500 in the movie's timescale) after 1024 frames of delay.
        let t = read(mp4(Some((1500, 1024)), None)).unwrap();
        assert_eq!(t.start_frames, 1024);
        assert_eq!(t.valid_frames, Some(66_150));
    }

    #[test]
    fn itunsmpb_is_used_when_no_edit_trims() {
        let smpb = " 00000000 00000840 000001CA 0000000000010000 00000000";
        let t = read(mp4(Some((1500, 0)), Some(smpb))).unwrap();
        assert_eq!(t.start_frames, 0x840);
        assert_eq!(t.valid_frames, Some(0x10000));
        let t = read(mp4(None, Some(smpb))).unwrap();
        assert_eq!(t.start_frames, 2112);
    }

    #[test]
    fn a_file_that_says_nothing_is_not_trimmed() {
        assert_eq!(read(mp4(None, None)), None);
        assert_eq!(read(mp4(Some((1500, 0)), None)), None);
        assert_eq!(read(b"RIFF\0\0\0\0WAVE".to_vec()), None);
        // Damaged: a box that claims more than the file holds.
        let mut bad = mp4(Some((1500, 1024)), None);
        let n = bad.len();
        bad.truncate(n - 10);
        assert_eq!(read(bad), None);
    }
}
