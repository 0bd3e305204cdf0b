//! reel's own loudness scan: EBU R 128 (integrated loudness, true peak, loudness range, through
//! the `ebur128` crate) and a compact waveform summary of a track, both from its decoded
//! samples, for files whose tags declare no ReplayGain.
//!
//! Runs on whichever non-real-time thread decodes: the decoder thread during a track's first
//! play (fed by [`super::source::Source`] before any ReplayGain), and the library's scan
//! (`reel library add`, on the caller's thread). Nothing here is written to the file; the
//! results go into the library (src/library).

use std::path::Path;

use ebur128::{EbuR128, Mode};

use super::replaygain::{GainSource, Level, Loudness};
use super::source::Source;
use crate::error::FileError;

/// The ReplayGain 2 reference loudness: a scanned track plays at `REFERENCE_LUFS - integrated`.
pub const REFERENCE_LUFS: f64 = -18.0;

/// Columns of the waveform summary: two bytes each (min, max), 2 KiB per track.
pub const WAVEFORM_COLUMNS: usize = 1024;

/// The waveform's running buckets are merged in pairs when there are this many, so a track of
/// unknown length keeps between [`WAVEFORM_COLUMNS`] and twice as many as it is read.
const MAX_BUCKETS: usize = 2 * WAVEFORM_COLUMNS;

/// What a scan found.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Integrated loudness (LUFS); `None` for a track too quiet or short to gate (silence).
    pub integrated_lufs: Option<f64>,
    /// The highest true peak of any channel (dBTP); `None` for digital silence.
    pub true_peak_dbtp: Option<f64>,
    /// Loudness range (LU).
    pub range_lu: Option<f64>,
    /// [`WAVEFORM_COLUMNS`] pairs of (min, max) of the channels' mix, as i8 (full scale 127),
    /// in the track's order: see [`Waveform`].
    pub waveform: Vec<u8>,
}

impl Analysis {
    /// The gain this scan asks for, as a ReplayGain 2 track level (the true peak limits it as
    /// a tag's peak does); `None` when the track has no integrated loudness (silence).
    pub fn level(&self) -> Option<Level> {
        level_of(self.integrated_lufs, self.true_peak_dbtp)
    }
}

/// A scan's figures (as stored in the library) as a track level.
pub fn level_of(integrated_lufs: Option<f64>, true_peak_dbtp: Option<f64>) -> Option<Level> {
    let lufs = integrated_lufs.filter(|l| l.is_finite())?;
    Some(Level {
        gain_db: REFERENCE_LUFS - lufs,
        peak: true_peak_dbtp
            .filter(|p| p.is_finite())
            .map(|p| 10f64.powf(p / 20.0)),
    })
}

/// A scan's figures as the loudness a track plays with (source: the scan).
pub fn loudness_of(integrated_lufs: Option<f64>, true_peak_dbtp: Option<f64>) -> Loudness {
    let track = level_of(integrated_lufs, true_peak_dbtp);
    Loudness {
        source: if track.is_some() {
            GainSource::Scan
        } else {
            GainSource::None
        },
        track,
        album: None,
        album_key: None,
    }
}

/// What [`analyze_file`] did.
#[derive(Debug)]
pub enum FileScan {
    /// The file's tags declare its ReplayGain: it needs no scan.
    Tagged,
    Scanned(Analysis),
}

/// Decodes the file at `path` whole and scans it, unless its tags already declare its gain.
/// `keep_going` is asked between blocks: `false` stops the scan (`Ok(None)`).
pub fn analyze_file(
    path: &Path,
    keep_going: &dyn Fn() -> bool,
) -> Result<Option<FileScan>, FileError> {
    let mut source = Source::open(path)?;
    if source.info().loudness.source == GainSource::Tag {
        return Ok(Some(FileScan::Tagged));
    }
    source.start_analysis();
    loop {
        if !keep_going() {
            return Ok(None);
        }
        match source.next_block() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(kind) => return Err(FileError::new(path, kind)),
        }
    }
    Ok(source.take_analysis().map(FileScan::Scanned))
}

/// A stored waveform summary, read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Waveform {
    /// (min, max) per column, -1.0 ..= 1.0.
    pub columns: Vec<(f32, f32)>,
}

impl Waveform {
    /// Reads what [`Analysis::waveform`] stored; `None` when the bytes are not a summary.
    pub fn from_bytes(bytes: &[u8]) -> Option<Waveform> {
        if bytes.is_empty() || !bytes.len().is_multiple_of(2) {
            return None;
        }
        Some(Waveform {
            columns: bytes
                .chunks_exact(2)
                .map(|p| (p[0] as i8 as f32 / 127.0, p[1] as i8 as f32 / 127.0))
                .collect(),
        })
    }
}

/// Feeds decoded interleaved f32 frames to the R 128 meter and the waveform buckets.
pub struct Analyzer {
    meter: EbuR128,
    channels: usize,
    /// Frames per bucket (doubles as the track grows).
    bucket_frames: u64,
    /// Frames in the bucket being filled.
    in_bucket: u64,
    current: (f32, f32),
    buckets: Vec<(f32, f32)>,
}

impl Analyzer {
    /// `None` for a rate or channel count the meter refuses.
    pub fn new(rate: u32, channels: u16) -> Option<Analyzer> {
        let meter =
            EbuR128::new(channels as u32, rate, Mode::I | Mode::LRA | Mode::TRUE_PEAK).ok()?;
        Some(Analyzer {
            meter,
            channels: channels.max(1) as usize,
            bucket_frames: 1,
            in_bucket: 0,
            current: (0.0, 0.0),
            buckets: Vec::with_capacity(MAX_BUCKETS),
        })
    }

    /// The next frames of the track (interleaved, whole frames).
    pub fn add(&mut self, samples: &[f32]) {
        // The meter refuses nothing for a well-formed slice; on a ragged one the loudness is
        // wrong but finite, and the waveform below still counts whole frames.
        let _ = self.meter.add_frames_f32(samples);
        let scale = 1.0 / self.channels as f32;
        for frame in samples.chunks_exact(self.channels) {
            let v = frame.iter().sum::<f32>() * scale;
            if self.in_bucket == 0 {
                self.current = (v, v);
            } else {
                self.current.0 = self.current.0.min(v);
                self.current.1 = self.current.1.max(v);
            }
            self.in_bucket += 1;
            if self.in_bucket == self.bucket_frames {
                self.push_bucket();
            }
        }
    }

    fn push_bucket(&mut self) {
        self.buckets.push(self.current);
        self.in_bucket = 0;
        if self.buckets.len() == MAX_BUCKETS {
            let merged: Vec<(f32, f32)> = self
                .buckets
                .chunks_exact(2)
                .map(|p| (p[0].0.min(p[1].0), p[0].1.max(p[1].1)))
                .collect();
            self.buckets = merged;
            self.bucket_frames *= 2;
        }
    }

    /// The figures, and the waveform reduced to exactly [`WAVEFORM_COLUMNS`] columns.
    pub fn finish(mut self) -> Analysis {
        if self.in_bucket > 0 {
            let partial = self.current;
            self.buckets.push(partial);
        }
        let finite = |v: Result<f64, ebur128::Error>| v.ok().filter(|v| v.is_finite());
        let peak = (0..self.channels as u32)
            .filter_map(|c| self.meter.true_peak(c).ok())
            .fold(0.0f64, f64::max);
        Analysis {
            integrated_lufs: finite(self.meter.loudness_global()),
            true_peak_dbtp: (peak > 0.0).then(|| 20.0 * peak.log10()),
            range_lu: finite(self.meter.loudness_range()),
            waveform: columns(&self.buckets),
        }
    }
}

/// `buckets` reduced (or stretched, for a track shorter than the summary) to
/// [`WAVEFORM_COLUMNS`] (min, max) pairs of i8.
fn columns(buckets: &[(f32, f32)]) -> Vec<u8> {
    let q = |v: f32| (v.clamp(-1.0, 1.0) * 127.0).round() as i8 as u8;
    let n = buckets.len();
    let mut out = Vec::with_capacity(2 * WAVEFORM_COLUMNS);
    for c in 0..WAVEFORM_COLUMNS {
        let (lo, hi) = if n == 0 {
            (0.0, 0.0)
        } else {
            let a = c * n / WAVEFORM_COLUMNS;
            let b = ((c + 1) * n / WAVEFORM_COLUMNS).max(a + 1).min(n);
            buckets[a..b]
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), (bl, bh)| {
                    (l.min(*bl), h.max(*bh))
                })
        };
        out.push(q(lo));
        out.push(q(hi));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `secs` of a 1 kHz sine at `amp`, stereo, 48 kHz.
    fn sine(secs: f64, amp: f32) -> Vec<f32> {
        let n = (48_000.0 * secs) as usize;
        (0..n)
            .flat_map(|i| {
                let v = amp * (i as f32 * 2.0 * std::f32::consts::PI * 1000.0 / 48_000.0).sin();
                [v, v]
            })
            .collect()
    }

    #[test]
    fn a_full_scale_sine_measures_as_the_standard_says() {
        // EBU Tech 3341: a 1 kHz sine at -23 dBFS in both channels of a stereo pair is
        // -23 LUFS (so one at full scale is 0 LUFS, and plays 18 dB lower).
        let mut a = Analyzer::new(48_000, 2).unwrap();
        let amp = 10f32.powf(-23.0 / 20.0);
        a.add(&sine(3.0, amp));
        let r = a.finish();
        let (lufs, tp) = (r.integrated_lufs.unwrap(), r.true_peak_dbtp.unwrap());
        assert!((lufs + 23.0).abs() < 0.1, "{lufs}");
        assert!((tp + 23.0).abs() < 0.2, "{tp}");
        assert!((r.level().unwrap().gain_db - 5.0).abs() < 0.1);
    }

    #[test]
    fn a_loud_half_then_a_silent_half_shows_in_the_waveform() {
        let mut a = Analyzer::new(48_000, 2).unwrap();
        // Fed in uneven pieces, as a decoder hands out packets.
        let mut all = sine(2.0, 0.5);
        all.extend(std::iter::repeat_n(0.0, 2 * 96_000));
        for piece in all.chunks(2 * 1_151) {
            a.add(piece);
        }
        let r = a.finish();
        assert_eq!(r.waveform.len(), 2 * WAVEFORM_COLUMNS);
        let w = Waveform::from_bytes(&r.waveform).unwrap();
        let half = WAVEFORM_COLUMNS / 2;
        for (i, (lo, hi)) in w.columns.iter().enumerate() {
            if i < half - 1 {
                assert!((*hi - 0.5).abs() < 0.02 && (*lo + 0.5).abs() < 0.02, "{i}");
            } else if i > half {
                assert_eq!((*lo, *hi), (0.0, 0.0), "{i}");
            }
        }
    }

    #[test]
    fn silence_has_no_loudness_and_asks_for_no_gain() {
        let mut a = Analyzer::new(44_100, 1).unwrap();
        a.add(&[0.0; 44_100]);
        let r = a.finish();
        assert_eq!((r.integrated_lufs, r.true_peak_dbtp), (None, None));
        assert_eq!(loudness_of(None, None).source, GainSource::None);
    }

    #[test]
    fn a_track_shorter_than_the_summary_still_fills_every_column() {
        let mut a = Analyzer::new(8_000, 1).unwrap();
        a.add(&[0.25; 100]);
        let w = Waveform::from_bytes(&a.finish().waveform).unwrap();
        assert_eq!(w.columns.len(), WAVEFORM_COLUMNS);
        assert!(w.columns.iter().all(|c| (c.1 - 0.25).abs() < 0.01));
    }
}
