//! Bit-perfect, proven: a running hash of the samples a track decoded to and of the samples
//! the decoder pushed into the ring, and the verdict the metrics summary gives per track.
//!
//! Runs on the decoder thread (hashing) and wherever the summary is written (the verdict);
//! never on the audio thread. What happens after the ring is the callback's conversion to the
//! device's sample format (and the volume ramp, which is why the volume is a condition), so
//! "bit-perfect" here means: every sample handed to the device equals the decoded sample, and
//! the device's format holds it exactly.

/// A running BLAKE3 over samples (their f32 bit patterns, little-endian).
#[derive(Clone)]
pub struct SampleHash {
    hasher: blake3::Hasher,
    samples: u64,
}

impl Default for SampleHash {
    fn default() -> Self {
        SampleHash {
            hasher: blake3::Hasher::new(),
            samples: 0,
        }
    }
}

impl SampleHash {
    pub fn update(&mut self, samples: &[f32]) {
        // Through a stack buffer: one hasher call per 1024 samples, no unsafe cast.
        let mut buf = [0u8; 4096];
        for chunk in samples.chunks(1024) {
            for (b, s) in buf.chunks_exact_mut(4).zip(chunk) {
                b.copy_from_slice(&s.to_bits().to_le_bytes());
            }
            self.hasher.update(&buf[..chunk.len() * 4]);
        }
        self.samples += samples.len() as u64;
    }

    /// The first 16 hex digits of the hash, and the sample count.
    pub fn digest(&self) -> (String, u64) {
        (
            self.hasher.finalize().to_hex()[..16].to_string(),
            self.samples,
        )
    }
}

/// What one track's decoder pass saw: whether anything altered its samples on the way to the
/// ring, and the two hashes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fidelity {
    /// Bits per sample of the file's codec (lossless formats); `None` for lossy ones, whose
    /// decoded samples are floats.
    pub file_bits: Option<u32>,
    pub resampled: bool,
    /// The channel map was not the identity (the device has another layout).
    pub remapped: bool,
    /// The volume was below 100 % at some push.
    pub volume: bool,
    /// A gain (ReplayGain, Opus output gain) was applied.
    pub gain: bool,
    /// Hash and sample count of the decoded samples, and of the samples pushed into the ring.
    pub decoded: (String, u64),
    pub pushed: (String, u64),
}

impl Fidelity {
    /// `(true, None)` when every sample reached the device unaltered; else false and the
    /// first reason: `resampled`, `volume`, `gain` or `format` (the device's sample format
    /// cannot hold the file's samples, or it has another channel layout), or `altered` (the
    /// conditions held but the hashes disagree: a bug).
    pub fn verdict(&self, device_format: &str) -> (bool, Option<&'static str>) {
        let reason = if self.resampled {
            Some("resampled")
        } else if self.volume {
            Some("volume")
        } else if self.gain {
            Some("gain")
        } else if self.remapped || !holds(device_format, self.file_bits) {
            Some("format")
        } else if self.decoded != self.pushed {
            Some("altered")
        } else {
            None
        };
        (reason.is_none(), reason)
    }
}

/// The bit-perfect figure for queue entry `rec` as the window's badge shows it: the summary's
/// own verdict once the track was decoded to its end; before that, the same verdict on what
/// its pipeline was opened with and the volume now (`volume_below_full`), hashes taken as
/// equal (they can only be compared at the end). `None` before the track is opened.
pub fn badge_verdict(
    rec: &super::status::TrackRecord,
    volume_below_full: bool,
    device_format: &str,
) -> Option<(bool, Option<&'static str>)> {
    if let Some(f) = &rec.fidelity {
        return Some(f.verdict(device_format));
    }
    let at_open = rec.fidelity_at_open.as_ref()?;
    let so_far = Fidelity {
        volume: volume_below_full,
        pushed: at_open.decoded.clone(),
        ..at_open.clone()
    };
    Some(so_far.verdict(device_format))
}

/// Whether a device sample format (cpal's name: `f32`, `i16`, ...) holds every sample of a
/// file with `bits` bits per sample exactly (`None`: float samples from a lossy decoder).
pub fn holds(device_format: &str, bits: Option<u32>) -> bool {
    let exact_int_bits = match device_format {
        "f64" => 53,
        "f32" => 24,
        "i32" | "u32" | "i64" | "u64" => 32,
        "i24" | "u24" => 24,
        "i16" | "u16" => 16,
        "i8" | "u8" => 8,
        _ => 0,
    };
    match bits {
        Some(b) => b <= exact_int_bits,
        None => device_format == "f32" || device_format == "f64",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_samples_hash_equal_and_any_change_shows() {
        let a: Vec<f32> = (0..3000).map(|i| (i as f32 * 0.01).sin()).collect();
        let (mut x, mut y) = (SampleHash::default(), SampleHash::default());
        x.update(&a);
        y.update(&a[..1000]);
        y.update(&a[1000..]);
        assert_eq!(x.digest(), y.digest(), "chunking does not matter");
        let mut b = a.clone();
        b[2999] = f32::from_bits(b[2999].to_bits() ^ 1);
        let mut z = SampleHash::default();
        z.update(&b);
        assert_ne!(x.digest(), z.digest(), "one bit differs");
    }

    #[test]
    fn the_verdict_gives_the_first_reason() {
        let h = ("x".to_string(), 1);
        let clean = Fidelity {
            file_bits: Some(16),
            decoded: h.clone(),
            pushed: h,
            ..Fidelity::default()
        };
        assert_eq!(clean.verdict("f32"), (true, None));
        assert_eq!(clean.verdict("i16"), (true, None));
        assert_eq!(
            Fidelity {
                file_bits: Some(24),
                ..clean.clone()
            }
            .verdict("i16"),
            (false, Some("format"))
        );
        let loud = Fidelity {
            volume: true,
            gain: true,
            ..clean.clone()
        };
        assert_eq!(loud.verdict("f32"), (false, Some("volume")));
        let resampled = Fidelity {
            resampled: true,
            ..loud
        };
        assert_eq!(resampled.verdict("f32"), (false, Some("resampled")));
        let bug = Fidelity {
            pushed: ("y".into(), 1),
            ..clean
        };
        assert_eq!(bug.verdict("f32"), (false, Some("altered")));
        assert!(!holds("i16", None), "a lossy decode is floats");
    }
}
