//! `reel decode` writes exactly what the engine would play. For lossless formats it must match
//! ffmpeg's decode sample for sample; for lossy ones, after alignment, the difference must be
//! below −60 dB. Seeking must land on the exact frame asked for.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::*;

fn reel_decode(input: &Path, extra: &[&str]) -> Wav {
    let out = input.with_extension("reel.wav");
    let o = run_with_timeout(
        Command::new(reel_bin())
            .arg("decode")
            .arg(input)
            .arg("--out")
            .arg(&out)
            .args(extra),
        Duration::from_secs(60),
    );
    assert!(
        o.status.success(),
        "reel decode {}: {}",
        input.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    read_wav(&out)
}

fn interleave(w: &Wav) -> Vec<f32> {
    let frames = w.channels[0].len();
    let mut v = Vec::with_capacity(frames * w.channels.len());
    for i in 0..frames {
        for c in &w.channels {
            v.push(c[i]);
        }
    }
    v
}

/// A music-like test signal: two tones and some noise, so codecs have something to chew on.
fn make_signal(path: &Path, rate: u32, channels: u16, codec_args: &[&str]) {
    let layout = match channels {
        1 => "mono",
        6 => "5.1",
        _ => "stereo",
    };
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=f=440:d=4:r={rate}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=f=1250:d=4:r={rate}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("anoisesrc=d=4:r={rate}:a=0.05:seed=42"))
        .args(["-filter_complex"])
        .arg(format!(
            "[0][1][2]amix=inputs=3:normalize=0,volume=0.6,aformat=channel_layouts={layout}"
        ))
        .args(codec_args)
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg could not make {}", path.display());
}

fn assert_identical(ours: &[f32], theirs: &[f32], what: &str) {
    assert_eq!(
        ours.len(),
        theirs.len(),
        "{what}: {} samples vs ffmpeg's {}",
        ours.len(),
        theirs.len()
    );
    let first_diff = ours.iter().zip(theirs).position(|(a, b)| a != b);
    assert_eq!(
        first_diff, None,
        "{what}: first differing sample at {first_diff:?}"
    );
}

fn lossless_case(name: &str, rate: u32, channels: u16, codec_args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    make_signal(&file, rate, channels, codec_args);
    let ours = interleave(&reel_decode(&file, &[]));
    let theirs = ffmpeg_decode_f32(&file, None, None);
    assert_identical(&ours, &theirs, name);
}

#[test]
fn flac_16_bit_matches_ffmpeg_sample_for_sample() {
    lossless_case("a.flac", 44_100, 2, &["-c:a", "flac", "-sample_fmt", "s16"]);
}

#[test]
fn flac_24_bit_matches_ffmpeg_sample_for_sample() {
    lossless_case(
        "a24.flac",
        96_000,
        2,
        &[
            "-c:a",
            "flac",
            "-sample_fmt",
            "s32",
            "-bits_per_raw_sample",
            "24",
        ],
    );
}

#[test]
fn wav_matches_ffmpeg_sample_for_sample() {
    lossless_case("a.wav", 48_000, 2, &["-c:a", "pcm_s16le"]);
    lossless_case("a24.wav", 48_000, 1, &["-c:a", "pcm_s24le"]);
    lossless_case("af.wav", 44_100, 2, &["-c:a", "pcm_f32le"]);
    lossless_case("a32.wav", 48_000, 2, &["-c:a", "pcm_s32le"]);
    lossless_case("a6.wav", 48_000, 6, &["-c:a", "pcm_s24le"]);
}

#[test]
fn aiff_matches_ffmpeg_sample_for_sample() {
    lossless_case("a.aiff", 44_100, 2, &["-c:a", "pcm_s16be"]);
}

#[test]
fn alac_matches_ffmpeg_sample_for_sample() {
    lossless_case("a.m4a", 44_100, 2, &["-c:a", "alac"]);
}

/// Best lag (ours shifted against theirs, in frames) by cross-correlation on channel 0.
fn best_lag(ours: &[f32], theirs: &[f32], channels: usize, max_lag: i64) -> i64 {
    let n = (ours.len() / channels)
        .min(theirs.len() / channels)
        .min(48_000);
    let mut best = (0i64, f64::MIN);
    for lag in -max_lag..=max_lag {
        let mut acc = 0.0f64;
        for i in 4096..n.saturating_sub(4096) {
            let j = i as i64 + lag;
            if j < 0 || j as usize >= theirs.len() / channels {
                continue;
            }
            acc += ours[i * channels] as f64 * theirs[j as usize * channels] as f64;
        }
        if acc > best.1 {
            best = (lag, acc);
        }
    }
    best.0
}

fn lossy_case(name: &str, codec_args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    make_signal(&file, 44_100, 2, codec_args);
    let ours = interleave(&reel_decode(&file, &[]));
    let theirs = ffmpeg_decode_f32(&file, None, None);
    let ch = 2;
    let lag = best_lag(&ours, &theirs, ch, 3000);
    // Compare the aligned overlap, away from the edges where encoders pad.
    let frames = (ours.len() / ch) as i64;
    let mut err = 0.0f64;
    let mut sig = 0.0f64;
    for i in 2048..frames - 2048 {
        let j = i + lag;
        if j < 0 || (j as usize) >= theirs.len() / ch {
            continue;
        }
        for c in 0..ch {
            let a = ours[i as usize * ch + c] as f64;
            let b = theirs[j as usize * ch + c] as f64;
            err += (a - b) * (a - b);
            sig += b * b;
        }
    }
    let db = 10.0 * (err / sig).log10();
    assert!(
        db < -60.0,
        "{name}: difference {db:.1} dB after aligning by {lag} frames"
    );
    // Same length within one codec frame.
    let len_diff = (ours.len() as i64 - theirs.len() as i64).abs() / ch as i64;
    assert!(
        len_diff <= 2048,
        "{name}: length differs by {len_diff} frames"
    );
}

#[test]
fn mp3_matches_ffmpeg_below_minus_60_db() {
    lossy_case("a.mp3", &["-c:a", "libmp3lame", "-b:a", "192k"]);
}

#[test]
fn vorbis_matches_ffmpeg_below_minus_60_db() {
    lossy_case("a.ogg", &["-c:a", "libvorbis", "-q:a", "5"]);
}

/// Opus (libopus behind symphonia, src/engine/opus.rs): the encoder resamples the 44.1 kHz
/// signal to 48 kHz, and both decoders give 48 kHz.
#[test]
fn opus_matches_ffmpeg_below_minus_60_db() {
    lossy_case("a.opus", &["-c:a", "libopus", "-b:a", "128k"]);
}

/// The Opus header's output gain (RFC 7845) is applied, as ffmpeg applies it.
#[test]
fn opus_output_gain_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.opus");
    make_signal(&plain, 48_000, 2, &["-c:a", "libopus", "-b:a", "128k"]);
    // The same stream with −6 dB written into its OpusHead (bytes 16-17 of the first packet;
    // the page CRC is not checked by the reader once the header is fixed up below).
    let mut bytes = std::fs::read(&plain).unwrap();
    let at = bytes
        .windows(8)
        .position(|w| w == b"OpusHead")
        .expect("OpusHead");
    let gain_q78: i16 = -6 * 256;
    bytes[at + 16..at + 18].copy_from_slice(&gain_q78.to_le_bytes());
    fix_first_ogg_page_crc(&mut bytes);
    let gained = dir.path().join("gained.opus");
    std::fs::write(&gained, &bytes).unwrap();
    let a = interleave(&reel_decode(&plain, &["--replaygain", "off"]));
    let b = interleave(&reel_decode(&gained, &["--replaygain", "off"]));
    assert_eq!(a.len(), b.len());
    let ratio_db = 20.0 * (rms(&b) / rms(&a)).log10();
    assert!(
        (ratio_db + 6.0).abs() < 0.05,
        "output gain gave {ratio_db:.2} dB"
    );
    // ffmpeg applies it too: reel and ffmpeg agree on the gained file.
    let theirs = ffmpeg_decode_f32(&gained, None, None);
    let ratio_db = 20.0 * (rms(&b) / rms(&theirs)).log10();
    assert!(ratio_db.abs() < 0.05, "reel vs ffmpeg: {ratio_db:.2} dB");
}

fn rms(v: &[f32]) -> f64 {
    (v.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

/// Ogg pages carry a CRC-32 (polynomial 0x04c11db7, no reflection, zero initial value) over
/// the page with its CRC field zeroed; rewrite the first page's after editing it.
fn fix_first_ogg_page_crc(bytes: &mut [u8]) {
    assert_eq!(&bytes[..4], b"OggS");
    let segments = bytes[26] as usize;
    let body: usize = bytes[27..27 + segments].iter().map(|&b| b as usize).sum();
    let len = 27 + segments + body;
    bytes[22..26].fill(0);
    let mut crc = 0u32;
    for &b in &bytes[..len] {
        crc ^= (b as u32) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    bytes[22..26].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn aac_matches_ffmpeg_below_minus_60_db() {
    lossy_case("a.m4a", &["-c:a", "aac", "-b:a", "192k"]);
}

#[test]
fn seeking_lands_on_the_exact_frame_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        ("s.flac", &["-c:a", "flac"][..]),
        ("s.wav", &["-c:a", "pcm_s16le"][..]),
    ] {
        let file: PathBuf = dir.path().join(name);
        make_signal(&file, 44_100, 2, args);
        let full = interleave(&reel_decode(&file, &[]));
        for start_frame in [1u64, 4095, 4096, 44_100, 100_003, 150_000] {
            let secs = start_frame as f64 / 44_100.0;
            let seeked = interleave(&reel_decode(&file, &["--start", &format!("{secs:.9}")]));
            let expect = &full[start_frame as usize * 2..];
            assert_identical(&seeked, expect, &format!("{name} from frame {start_frame}"));
        }
    }
}

#[test]
fn seeking_after_resampling_stays_aligned() {
    // Seek 1 s into a 44.1 kHz file decoded at 48 kHz: the output is the full decode from
    // frame 48 000 on (up to the resampler's edge effects in its first filter length).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.flac");
    make_signal(&file, 44_100, 2, &["-c:a", "flac"]);
    let full = interleave(&reel_decode(&file, &["--rate", "48000"]));
    let seeked = interleave(&reel_decode(&file, &["--rate", "48000", "--start", "1"]));
    assert_eq!(seeked.len(), full.len() - 48_000 * 2);
    let skip = 512 * 2;
    let mut err = 0.0f64;
    let mut sig = 0.0f64;
    for (a, b) in seeked[skip..].iter().zip(&full[48_000 * 2 + skip..]) {
        err += ((a - b) as f64).powi(2);
        sig += (*b as f64).powi(2);
    }
    let db = 10.0 * (err / sig).log10();
    assert!(db < -60.0, "seeked resampled output differs by {db:.1} dB");
}

#[test]
fn resampling_keeps_length_and_pitch() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.wav");
    make_tone(&file, 1000.0, 2.0, 44_100, 2, 0.5);
    let w = reel_decode(&file, &["--rate", "48000"]);
    assert_eq!(w.rate, 48_000);
    assert_eq!(w.channels[0].len(), 96_000, "2 s at 48 kHz");
    let f = dominant_frequency(&w.channels[0][4800..91_200], 48_000);
    assert!((f - 1000.0).abs() < 1.0, "{f}");
    let w = reel_decode(&file, &["--channels", "1"]);
    assert_eq!(w.channels.len(), 1);
}
