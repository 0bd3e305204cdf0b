//! Sample-exact gapless, per format: `reel decode` gives exactly the frames the encoder was
//! given, no encoder delay before them and no padding after, aligned with ffmpeg's decode
//! (src/engine/gapless.rs says what reel trims itself, per container).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::*;

/// 1.2345 s: a length that is a multiple of no codec's packet (1152, 1024, 960, 4096...).
const SECS: f64 = 1.2345;

fn frames_at(rate: u32) -> usize {
    (SECS * rate as f64).round() as usize
}

/// A stereo chirp (no period, so alignment has one answer) of exactly `SECS`, made by ffmpeg
/// and encoded with `codec_args`.
fn make_chirp(path: &Path, rate: u32, codec_args: &[&str]) {
    let o = run_with_timeout(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!(
                "aevalsrc=exprs=0.4*sin(2*PI*(150+900*t)*t)|0.4*sin(2*PI*(700-300*t)*t):s={rate}:d={SECS}"
            ))
            .args(codec_args)
            .arg(path),
        Duration::from_secs(60),
    );
    assert!(
        o.status.success(),
        "ffmpeg could not make {}: {}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn reel_decode(input: &Path) -> Vec<f32> {
    let out = input.with_extension("reel.wav");
    let o = run_with_timeout(
        Command::new(reel_bin())
            .arg("decode")
            .arg(input)
            .arg("--out")
            .arg(&out),
        Duration::from_secs(60),
    );
    assert!(
        o.status.success(),
        "reel decode {}: {}",
        input.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let w = read_wav(&out);
    let frames = w.channels[0].len();
    (0..frames)
        .flat_map(|i| w.channels.iter().map(move |c| c[i]))
        .collect()
}

/// The lag (frames) at which `theirs` best matches `ours` (theirs[i + lag] ≈ ours[i]), by
/// least squares on the left channel over a stretch in the middle.
fn best_lag(ours: &[f32], theirs: &[f32], max_lag: i64) -> i64 {
    let (a, b) = (left(ours), left(theirs));
    let from = 8_192usize;
    let to = (from + 4_096)
        .min(a.len())
        .min(b.len().saturating_sub(max_lag as usize));
    (-max_lag..=max_lag)
        .min_by(|x, y| {
            let err = |lag: i64| -> f64 {
                (from..to)
                    .map(|i| {
                        let d = a[i] as f64 - b[(i as i64 + lag) as usize] as f64;
                        d * d
                    })
                    .sum()
            };
            err(*x).total_cmp(&err(*y))
        })
        .unwrap()
}

fn left(v: &[f32]) -> Vec<f32> {
    v.iter().step_by(2).copied().collect()
}

struct Case {
    name: &'static str,
    rate: u32,
    args: &'static [&'static str],
    lossless: bool,
    /// ffmpeg trims this format's padding too, so its length must equal reel's.
    ffmpeg_trims_the_end: bool,
}

fn check(dir: &Path, case: &Case, file: PathBuf) {
    let name = case.name;
    let ours = reel_decode(&file);
    let theirs = ffmpeg_decode_f32(&file, None, None);
    let want = frames_at(case.rate);
    assert_eq!(
        ours.len() / 2,
        want,
        "{name}: reel decodes {} frames of a {want}-frame input",
        ours.len() / 2
    );
    if case.lossless {
        assert_eq!(ours, theirs, "{name}: not ffmpeg's samples");
        return;
    }
    let lag = best_lag(&ours, &theirs, 1_500);
    assert_eq!(lag, 0, "{name}: reel's first frame is ffmpeg's frame {lag}");
    if case.ffmpeg_trims_the_end {
        assert_eq!(
            ours.len(),
            theirs.len(),
            "{name}: length differs from ffmpeg's"
        );
    } else {
        assert!(theirs.len() >= ours.len(), "{name}");
    }
    let _ = dir;
}

#[test]
fn every_format_decodes_to_exactly_the_encoders_input_frames() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        Case {
            name: "a.flac",
            rate: 44_100,
            args: &["-c:a", "flac"],
            lossless: true,
            ffmpeg_trims_the_end: true,
        },
        Case {
            name: "a.wav",
            rate: 44_100,
            args: &["-c:a", "pcm_s16le"],
            lossless: true,
            ffmpeg_trims_the_end: true,
        },
        Case {
            name: "a.aiff",
            rate: 44_100,
            args: &["-c:a", "pcm_s16be"],
            lossless: true,
            ffmpeg_trims_the_end: true,
        },
        Case {
            name: "alac.m4a",
            rate: 44_100,
            args: &["-c:a", "alac"],
            lossless: true,
            ffmpeg_trims_the_end: true,
        },
        // LAME tag as ffmpeg's libmp3lame writes it.
        Case {
            name: "ffmpeg.mp3",
            rate: 44_100,
            args: &["-c:a", "libmp3lame", "-b:a", "192k"],
            lossless: false,
            ffmpeg_trims_the_end: true,
        },
        Case {
            name: "a.ogg",
            rate: 44_100,
            args: &["-c:a", "libvorbis", "-q:a", "5"],
            lossless: false,
            ffmpeg_trims_the_end: true,
        },
        Case {
            name: "a.opus",
            rate: 48_000,
            args: &["-c:a", "libopus", "-b:a", "128k"],
            lossless: false,
            ffmpeg_trims_the_end: true,
        },
        // AAC in MP4: the edit list (ffmpeg applies only its start; reel both ends).
        Case {
            name: "aac.m4a",
            rate: 44_100,
            args: &["-c:a", "aac", "-b:a", "192k"],
            lossless: false,
            ffmpeg_trims_the_end: false,
        },
        Case {
            name: "aac48.m4a",
            rate: 48_000,
            args: &["-c:a", "aac", "-b:a", "128k"],
            lossless: false,
            ffmpeg_trims_the_end: false,
        },
    ];
    for case in &cases {
        let file = dir.path().join(case.name);
        make_chirp(&file, case.rate, case.args);
        check(dir.path(), case, file);
    }
}

/// The LAME tag as lame itself writes it (the encoder's own, not ffmpeg's).
#[test]
fn mp3_from_lame_decodes_to_exactly_its_input_frames() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("in.wav");
    make_chirp(&wav, 44_100, &["-c:a", "pcm_s16le"]);
    let mp3 = dir.path().join("lame.mp3");
    let o = run_with_timeout(
        Command::new("lame")
            .args(["--quiet", "-b", "160"])
            .arg(&wav)
            .arg(&mp3),
        Duration::from_secs(60),
    );
    assert!(
        o.status.success(),
        "lame: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let case = Case {
        name: "lame.mp3",
        rate: 44_100,
        args: &[],
        lossless: false,
        ffmpeg_trims_the_end: true,
    };
    check(dir.path(), &case, mp3);
}

/// Opus in WebM: the start is exact (the pre-skip, counted in frames, not Matroska's
/// milliseconds). The end padding is in a DiscardPadding element symphonia does not hand
/// over, so at most one packet (20 ms) of it remains: said in README, "Fidelity".
#[test]
fn opus_in_webm_starts_on_the_first_frame_of_music() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.webm");
    make_chirp(&file, 48_000, &["-c:a", "libopus", "-b:a", "128k"]);
    let ours = reel_decode(&file);
    let theirs = ffmpeg_decode_f32(&file, None, None);
    assert_eq!(best_lag(&ours, &theirs, 1_500), 0, "start not aligned");
    let extra = (ours.len() / 2) as i64 - frames_at(48_000) as i64;
    assert!((0..=960).contains(&extra), "{extra} frames after the music");
}

/// The trim holds after a seek: seeking into an AAC, MP3 or Opus file lands where the full
/// decode has the same frame (the encoder delay is not counted twice, or forgotten).
#[test]
fn seeking_into_trimmed_formats_lands_on_the_frame_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    for (name, rate, args) in [
        ("s.m4a", 44_100, &["-c:a", "aac", "-b:a", "192k"][..]),
        ("s.mp3", 44_100, &["-c:a", "libmp3lame", "-b:a", "192k"][..]),
        ("s.opus", 48_000, &["-c:a", "libopus", "-b:a", "128k"][..]),
    ] {
        let file = dir.path().join(name);
        make_chirp(&file, rate, args);
        let full = reel_decode(&file);
        let start_frame = 20_011usize;
        let secs = start_frame as f64 / rate as f64;
        let out = file.with_extension("seek.wav");
        let o = run_with_timeout(
            Command::new(reel_bin())
                .arg("decode")
                .arg(&file)
                .arg("--out")
                .arg(&out)
                .args(["--start", &format!("{secs:.9}")]),
            Duration::from_secs(60),
        );
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let w = read_wav(&out);
        let seeked: Vec<f32> = (0..w.channels[0].len())
            .flat_map(|i| w.channels.iter().map(move |c| c[i]))
            .collect();
        assert_eq!(
            seeked.len(),
            full.len() - start_frame * 2,
            "{name}: the seek did not end where the full decode does"
        );
        // A lossy decoder restarted mid-stream converges after a few packets; compare after.
        let lag = best_lag(&seeked, &full[start_frame * 2..], 600);
        assert_eq!(lag, 0, "{name}: seeked output is {lag} frames off");
    }
}
