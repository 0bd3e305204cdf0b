//! ReplayGain: reading the loudness a file's tags declare, and choosing the gain to play it at.
//!
//! Runs on the decoder thread (and in `reel decode`), never on the audio thread. The gain is
//! applied by the source to every decoded sample of its track ([`super::source::Source`]), so
//! it changes exactly on the first sample of the next track, and the callback never sees it.
//! Nothing is ever written to the file: its bytes, and so its cache hash, stay as they are.
//!
//! Sources, all read through symphonia's metadata (which gives every tag format reel reads):
//! - `REPLAYGAIN_TRACK_GAIN` / `_PEAK`, `REPLAYGAIN_ALBUM_GAIN` / `_PEAK`, as ID3v2 `TXXX`
//!   frames, Vorbis comments (Ogg, FLAC), MP4 freeform atoms (`----:com.apple.iTunes:...`) and
//!   APEv2 items;
//! - Opus `R128_TRACK_GAIN` / `R128_ALBUM_GAIN`: Q7.8 dB relative to −23 LUFS (RFC 7845 §5.2),
//!   so 5 dB are added to reach ReplayGain 2's −18 LUFS reference. (They are relative to the
//!   audio *after* the header's output gain, which the Opus source has already applied.)
//!
//! reel's loudness scan (EBU R 128, analysis.rs, stored in the library) gives the same figures
//! for untagged files, as [`GainSource::Scan`]; [`Loudness`] is what either source provides.
//! Tags win over a scan.

use std::fmt;
use std::str::FromStr;

use symphonia::core::formats::FormatReader;
use symphonia::core::meta::{MetadataContainer, MetadataRevision, StandardTag};

use super::opus::db_to_linear;

/// How a track's loudness is levelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GainMode {
    /// Play every sample as decoded.
    Off,
    /// Each track at its own gain.
    Track,
    /// Each track at its album's gain (its track gain when it has no album gain).
    Album,
    /// Album gain while consecutive tracks of one album play in order, else track gain.
    #[default]
    Auto,
}

impl FromStr for GainMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "off" => Ok(GainMode::Off),
            "track" => Ok(GainMode::Track),
            "album" => Ok(GainMode::Album),
            "auto" => Ok(GainMode::Auto),
            other => Err(format!(
                "unknown ReplayGain mode {other:?} (off, track, album or auto)"
            )),
        }
    }
}

impl fmt::Display for GainMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GainMode::Off => "off",
            GainMode::Track => "track",
            GainMode::Album => "album",
            GainMode::Auto => "auto",
        })
    }
}

/// The user's settings: the mode and a pre-amp (dB) added to every gain found.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct GainSettings {
    pub mode: GainMode,
    pub preamp_db: f64,
}

/// Where a gain came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GainSource {
    /// The file's tags.
    Tag,
    /// reel's own loudness scan (EBU R 128, stored in the library: engine/analysis.rs).
    Scan,
    /// No gain: the mode is off, or nothing is known about the track.
    #[default]
    None,
}

impl GainSource {
    pub fn as_str(self) -> &'static str {
        match self {
            GainSource::Tag => "tag",
            GainSource::Scan => "scan",
            GainSource::None => "none",
        }
    }
}

/// A gain (dB, relative to the ReplayGain 2 reference of −18 LUFS) and the sample peak it was
/// measured with (linear, 1.0 = full scale), when known.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Level {
    pub gain_db: f64,
    pub peak: Option<f64>,
}

/// What is known of a track's loudness, from one source.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Loudness {
    pub track: Option<Level>,
    pub album: Option<Level>,
    /// The album the track belongs to (album artist or artist, and album title), for `auto`.
    pub album_key: Option<String>,
    pub source: GainSource,
}

/// The gain chosen for one track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AppliedGain {
    /// The factor every sample is multiplied by.
    pub linear: f32,
    /// The same in dB, after the pre-amp and clipping prevention.
    pub db: f64,
    pub source: GainSource,
    /// Whether the album gain was used (else the track gain, or none).
    pub album: bool,
    /// Whether the gain was lowered so that peak × gain ≤ 1.
    pub limited_by_peak: bool,
}

impl Default for AppliedGain {
    fn default() -> Self {
        AppliedGain::NONE
    }
}

impl AppliedGain {
    pub const NONE: AppliedGain = AppliedGain {
        linear: 1.0,
        db: 0.0,
        source: GainSource::None,
        album: false,
        limited_by_peak: false,
    };
}

/// Decide the gain for a track. `in_album_run`: whether, in `auto` mode, the track plays in
/// order next to another track of the same album.
pub fn choose(settings: GainSettings, loud: &Loudness, in_album_run: bool) -> AppliedGain {
    let use_album = match settings.mode {
        GainMode::Off => return AppliedGain::NONE,
        GainMode::Track => false,
        GainMode::Album => true,
        GainMode::Auto => in_album_run,
    };
    let (level, album) = match (use_album, loud.album, loud.track) {
        (true, Some(a), _) => (a, true),
        (_, _, Some(t)) => (t, false),
        (false, Some(a), None) => (a, true),
        (_, None, None) => return AppliedGain::NONE,
    };
    let mut db = level.gain_db + settings.preamp_db;
    let mut limited_by_peak = false;
    // Clipping prevention: never amplify the peak above full scale (a lower gain, not a clip).
    if let Some(peak) = level.peak.filter(|p| *p > 0.0 && p.is_finite()) {
        let max_db = -20.0 * peak.log10();
        if db > max_db {
            db = max_db;
            limited_by_peak = true;
        }
    }
    AppliedGain {
        linear: db_to_linear(db) as f32,
        db,
        source: loud.source,
        album,
        limited_by_peak,
    }
}

/// Whether `auto` should use album gain for the track with `key` between neighbours in play
/// order `before` and `after` (their album keys, when known).
pub fn in_album_run(key: Option<&str>, before: Option<&str>, after: Option<&str>) -> bool {
    key.is_some_and(|k| before == Some(k) || after == Some(k))
}

/// The loudness declared by every metadata revision of a file (tags read while probing, such
/// as ID3v2 ahead of an MP3 or APE at its end, and the container's own); later revisions win.
/// Consumes the reader's queued revisions (nothing else in reel reads them from a source).
pub fn from_format(format: &mut dyn FormatReader) -> Loudness {
    let mut t = TagScan::default();
    let mut meta = format.metadata();
    loop {
        if let Some(rev) = meta.current() {
            t.revision(rev);
        }
        if meta.pop().is_none() {
            break;
        }
    }
    t.finish()
}

#[derive(Default)]
struct TagScan {
    track_gain: Option<f64>,
    track_peak: Option<f64>,
    album_gain: Option<f64>,
    album_peak: Option<f64>,
    album: Option<String>,
    album_artist: Option<String>,
    artist: Option<String>,
}

impl TagScan {
    fn revision(&mut self, rev: &MetadataRevision) {
        self.container(&rev.media);
        for tr in &rev.per_track {
            self.container(&tr.metadata);
        }
    }

    fn container(&mut self, c: &MetadataContainer) {
        for tag in &c.tags {
            let value = tag.raw.value.to_string();
            match &tag.std {
                Some(StandardTag::ReplayGainTrackGain(s)) => self.track_gain = parse_db(s),
                Some(StandardTag::ReplayGainTrackPeak(s)) => self.track_peak = parse_peak(s),
                Some(StandardTag::ReplayGainAlbumGain(s)) => self.album_gain = parse_db(s),
                Some(StandardTag::ReplayGainAlbumPeak(s)) => self.album_peak = parse_peak(s),
                Some(StandardTag::Album(s)) => self.album = Some(s.to_string()),
                Some(StandardTag::AlbumArtist(s)) => self.album_artist = Some(s.to_string()),
                Some(StandardTag::Artist(s)) => self.artist = Some(s.to_string()),
                _ => self.raw(&tag.raw.key, &value),
            }
        }
    }

    /// Tags symphonia does not map: by key, whatever prefix the format gives it
    /// (`TXXX:`, `----:com.apple.iTunes:`), in any case.
    fn raw(&mut self, key: &str, value: &str) {
        let name = key.rsplit(':').next().unwrap_or(key).to_ascii_lowercase();
        match name.as_str() {
            "replaygain_track_gain" => self.track_gain = parse_db(value),
            "replaygain_track_peak" => self.track_peak = parse_peak(value),
            "replaygain_album_gain" => self.album_gain = parse_db(value),
            "replaygain_album_peak" => self.album_peak = parse_peak(value),
            "r128_track_gain" => self.track_gain = parse_r128(value),
            "r128_album_gain" => self.album_gain = parse_r128(value),
            _ => {}
        }
    }

    fn finish(self) -> Loudness {
        let level = |gain: Option<f64>, peak| gain.map(|gain_db| Level { gain_db, peak });
        let track = level(self.track_gain, self.track_peak);
        let album = level(self.album_gain, self.album_peak);
        let source = if track.is_some() || album.is_some() {
            GainSource::Tag
        } else {
            GainSource::None
        };
        let who = self.album_artist.or(self.artist).unwrap_or_default();
        Loudness {
            track,
            album,
            album_key: self.album.map(|a| format!("{who}\u{1f}{a}")),
            source,
        }
    }
}

/// "-6.00 dB", "+1.5dB", "-3.2": a gain in dB, within what a tag can sensibly say.
fn parse_db(s: &str) -> Option<f64> {
    let t = s.trim();
    let t = t
        .strip_suffix("dB")
        .or_else(|| t.strip_suffix("db"))
        .or_else(|| t.strip_suffix("DB"))
        .unwrap_or(t);
    let v: f64 = t.trim().parse().ok()?;
    (v.is_finite() && v.abs() <= 60.0).then_some(v)
}

/// A peak, linear (1.0 = full scale).
fn parse_peak(s: &str) -> Option<f64> {
    let v: f64 = s.trim().parse().ok()?;
    (v.is_finite() && v > 0.0 && v < 100.0).then_some(v)
}

/// An Opus R128 gain: a Q7.8 integer in dB relative to −23 LUFS; as a ReplayGain 2 gain
/// (−18 LUFS) that is 5 dB more.
fn parse_r128(s: &str) -> Option<f64> {
    let q: i16 = s.trim().parse().ok()?;
    Some(q as f64 / 256.0 + 5.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loud(track: Option<(f64, Option<f64>)>, album: Option<(f64, Option<f64>)>) -> Loudness {
        let l = |v: Option<(f64, Option<f64>)>| v.map(|(gain_db, peak)| Level { gain_db, peak });
        Loudness {
            track: l(track),
            album: l(album),
            album_key: None,
            source: GainSource::Tag,
        }
    }

    fn set(mode: GainMode, preamp_db: f64) -> GainSettings {
        GainSettings { mode, preamp_db }
    }

    #[test]
    fn tag_values_are_read_in_every_spelling() {
        let mut t = TagScan::default();
        t.raw("TXXX:REPLAYGAIN_TRACK_GAIN", "-6.00 dB");
        t.raw("----:com.apple.iTunes:replaygain_album_gain", "+1.5dB");
        t.raw("REPLAYGAIN_TRACK_PEAK", "0.988");
        let l = t.finish();
        assert_eq!(
            l.track,
            Some(Level {
                gain_db: -6.0,
                peak: Some(0.988)
            })
        );
        assert_eq!(l.album.unwrap().gain_db, 1.5);
        assert_eq!(l.source, GainSource::Tag);
        assert_eq!(parse_db("nonsense"), None);
        assert_eq!(parse_db("-1e9 dB"), None);
    }

    #[test]
    fn opus_r128_gains_are_moved_to_the_replaygain_reference() {
        let mut t = TagScan::default();
        // −6 dB re −23 LUFS in Q7.8 is −1536: −1 dB re −18 LUFS.
        t.raw("R128_TRACK_GAIN", "-1536");
        t.raw("R128_ALBUM_GAIN", "0");
        let l = t.finish();
        assert_eq!(l.track.unwrap().gain_db, -1.0);
        assert_eq!(l.album.unwrap().gain_db, 5.0);
    }

    #[test]
    fn modes_pick_track_or_album_gain() {
        let l = loud(Some((-6.0, None)), Some((-4.0, None)));
        assert_eq!(choose(set(GainMode::Off, 0.0), &l, true), AppliedGain::NONE);
        assert_eq!(choose(set(GainMode::Track, 0.0), &l, true).db, -6.0);
        assert_eq!(choose(set(GainMode::Album, 0.0), &l, false).db, -4.0);
        assert_eq!(choose(set(GainMode::Auto, 0.0), &l, true).db, -4.0);
        assert_eq!(choose(set(GainMode::Auto, 0.0), &l, false).db, -6.0);
        // Album mode without an album gain falls back to the track's.
        let only_track = loud(Some((-6.0, None)), None);
        assert_eq!(
            choose(set(GainMode::Album, 0.0), &only_track, true).db,
            -6.0
        );
        // The pre-amp adds to the gain.
        let g = choose(set(GainMode::Track, 2.0), &l, false);
        assert_eq!(g.db, -4.0);
        assert!((g.linear - 0.630_957).abs() < 1e-5);
        // Nothing known: no gain at all, whatever the pre-amp.
        assert_eq!(
            choose(set(GainMode::Track, 6.0), &Loudness::default(), false),
            AppliedGain::NONE
        );
    }

    #[test]
    fn the_peak_limits_the_gain_instead_of_clipping() {
        // +6 dB on a peak of 0.8 would reach 1.6: lowered to 1/0.8 (+1.94 dB).
        let l = loud(Some((6.0, Some(0.8))), None);
        let g = choose(set(GainMode::Track, 0.0), &l, false);
        assert!(g.limited_by_peak);
        assert!((g.linear as f64 * 0.8 - 1.0).abs() < 1e-6, "{}", g.linear);
        // A cut is never limited.
        let l = loud(Some((-6.0, Some(0.8))), None);
        assert!(!choose(set(GainMode::Track, 0.0), &l, false).limited_by_peak);
    }

    #[test]
    fn auto_uses_the_album_only_next_to_the_same_album() {
        assert!(in_album_run(Some("a"), Some("a"), None));
        assert!(in_album_run(Some("a"), None, Some("a")));
        assert!(!in_album_run(Some("a"), Some("b"), Some("c")));
        assert!(!in_album_run(None, None, None));
    }
}
