//! What is heard, recorded from the private sound server's null sink: albums played back to
//! back join without a gap or an overlap in every format, and ReplayGain levels them without
//! touching the files. Run by `make test`, which starts the sound server.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::*;

const RATE: u32 = 48_000;
/// The continuous signal, split into three tracks at frames no codec's packet divides.
const TOTAL_FRAMES: usize = 110_000;
const CUTS: [usize; 2] = [37_013, 74_311];

/// A stereo chirp (no period: one right alignment) that starts and ends at full amplitude,
/// so its first and last frames are plain to see in a recording.
fn make_master(path: &Path) {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!(
            "aevalsrc=exprs=0.4*cos(2*PI*(150+500*t)*t)|0.4*cos(2*PI*(900-200*t)*t):s={RATE}:d={}",
            TOTAL_FRAMES as f64 / RATE as f64
        ),
        "-c:a",
        "pcm_s16le",
        path.to_str().unwrap(),
    ]);
}

#[track_caller]
fn ffmpeg(args: &[&str]) {
    let o = run_with_timeout(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y"])
            .args(args),
        Duration::from_secs(60),
    );
    assert!(
        o.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The master cut at `CUTS` into three files, each encoded with `codec`.
fn split(dir: &Path, master: &Path, ext: &str, codec: &[&str]) -> Vec<PathBuf> {
    let bounds = [0, CUTS[0], CUTS[1], TOTAL_FRAMES];
    (0..3)
        .map(|i| {
            let out = dir.join(format!("part{i}.{ext}"));
            let filter = format!(
                "atrim=start_sample={}:end_sample={},asetpts=PTS-STARTPTS",
                bounds[i],
                bounds[i + 1]
            );
            let mut args = vec!["-i", master.to_str().unwrap(), "-af", &filter];
            args.extend_from_slice(codec);
            args.push(out.to_str().unwrap());
            ffmpeg(&args);
            out
        })
        .collect()
}

fn play_and_record(dir: &Path, files: &[PathBuf], extra: &[&str]) -> (Wav, serde_json::Value) {
    let rec_path = dir.join("recording.wav");
    let log_path = dir.join("metrics.jsonl");
    let rec = Recorder::start(&rec_path);
    let out = run_with_timeout(
        Command::new(reel_bin())
            .args(["play", "--no-gui", "--metrics-log"])
            .arg(&log_path)
            .args(extra)
            .args(files),
        Duration::from_secs(60),
    );
    let rec_path = rec.stop();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    let summary: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(summary["event"], "summary");
    (read_wav(&rec_path), summary)
}

/// Sum of squared differences of `rec` from `orig[from..to]` with `rec` shifted by `offset`.
fn error_at(rec: &[f32], orig: &[f32], from: usize, to: usize, offset: i64) -> f64 {
    (from..to)
        .map(|i| {
            let j = i as i64 + offset;
            let r = if j >= 0 && (j as usize) < rec.len() {
                rec[j as usize]
            } else {
                0.0
            };
            let d = r as f64 - orig[i] as f64;
            d * d
        })
        .sum()
}

/// The offset (recording frame of original frame 0) that best explains `orig[from..to]`,
/// searched within `around ± radius`.
fn best_offset(rec: &[f32], orig: &[f32], from: usize, to: usize, around: i64, radius: i64) -> i64 {
    (around - radius..=around + radius)
        .min_by(|a, b| {
            error_at(rec, orig, from, to, *a).total_cmp(&error_at(rec, orig, from, to, *b))
        })
        .unwrap()
}

/// First frame of the recording above `threshold` on the left channel.
fn onset(rec: &[f32], threshold: f32) -> usize {
    rec.iter()
        .position(|s| s.abs() > threshold)
        .expect("the recording is silent")
}

#[test]
fn an_album_split_at_odd_frames_plays_back_to_back_without_gap_or_overlap_in_every_format() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let master = dir.path().join("master.wav");
        make_master(&master);
        let orig = read_wav(&master);
        let formats: [(&str, &[&str], bool); 6] = [
            ("flac", &["-c:a", "flac"], true),
            ("wav", &["-c:a", "pcm_s16le"], true),
            ("mp3", &["-c:a", "libmp3lame", "-b:a", "256k"], false),
            ("ogg", &["-c:a", "libvorbis", "-q:a", "8"], false),
            ("opus", &["-c:a", "libopus", "-b:a", "192k"], false),
            ("m4a", &["-c:a", "aac", "-b:a", "256k"], false),
        ];
        let mut failures = Vec::new();
        for (ext, codec, lossless) in formats {
            let sub = dir.path().join(ext);
            std::fs::create_dir(&sub).unwrap();
            let parts = split(&sub, &master, ext, codec);
            let (rec, summary) = play_and_record(&sub, &parts, &[]);
            assert_eq!(
                summary["underruns"], 0,
                "{ext}: underruns spoil the comparison: {summary}"
            );
            let (r, o) = (&rec.channels[0], &orig.channels[0]);
            let start = onset(r, 0.05);
            if lossless {
                // Every sample of both channels, across both joins, identical.
                for c in 0..2 {
                    let got = &rec.channels[c][start..];
                    let want = &orig.channels[c];
                    let n = want.len().min(got.len());
                    let first_diff = (0..n).find(|&i| got[i] != want[i]);
                    if n != want.len() || first_diff.is_some() {
                        // Say what kind of difference: the rest shifted (a gap or a repeat in
                        // the recording) or values changed.
                        let shift = first_diff.and_then(|d| {
                            let probe = &want[d..(d + 256).min(want.len())];
                            (-4_800i64..=4_800).find(|k| {
                                let from = d as i64 + k;
                                from >= 0
                                    && got.len() >= from as usize + probe.len()
                                    && &got[from as usize..from as usize + probe.len()] == probe
                            })
                        });
                        failures.push(format!(
                            "{ext} ch{c}: recorded {n} of {} frames, first difference at {first_diff:?} \
                             (what follows is recorded {shift:?} frames later; reel's device_xruns {})",
                            want.len(),
                            summary["device_xruns"]
                        ));
                    }
                }
                let after = &rec.channels[0][start + o.len()..];
                if after.iter().any(|s| s.abs() > 0.01) {
                    failures.push(format!("{ext}: audio after the album's last frame"));
                }
                continue;
            }
            // Lossy: the global alignment, from the start of the first track...
            let global = best_offset(r, o, 2_000, 8_000, start as i64, 600);
            // ...must hold at each join (the best local alignment just after it)...
            for (k, &cut) in CUTS.iter().enumerate() {
                let local = best_offset(r, o, cut + 64, cut + 3_000, global, 400);
                if (local - global).abs() > 2 {
                    failures.push(format!(
                        "{ext}: join {}: the track after it is {} frames {}",
                        k + 1,
                        (local - global).abs(),
                        if local > global {
                            "late (a gap)"
                        } else {
                            "early (an overlap)"
                        }
                    ));
                }
            }
            // ...and the album is as long as the original, within 2 ms.
            let last = r.iter().rposition(|s| s.abs() > 0.05).unwrap() as i64;
            let length = last + 1 - global;
            let two_ms = (RATE / 500) as i64;
            if (length - TOTAL_FRAMES as i64).abs() > two_ms {
                failures.push(format!("{ext}: {length} frames heard of {TOTAL_FRAMES}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    });
}

/// `part`-th piece of the master as a 48 kHz 16-bit FLAC with these tags (`KEY=VALUE`).
fn flac_with_tags(
    dir: &Path,
    master: &Path,
    name: &str,
    range: (usize, usize),
    tags: &[&str],
) -> PathBuf {
    let out = dir.join(name);
    let filter = format!(
        "atrim=start_sample={}:end_sample={},asetpts=PTS-STARTPTS",
        range.0, range.1
    );
    let mut args = vec![
        "-i",
        master.to_str().unwrap(),
        "-af",
        &filter,
        "-c:a",
        "flac",
    ];
    for t in tags {
        args.extend_from_slice(&["-metadata", t]);
    }
    args.push(out.to_str().unwrap());
    ffmpeg(&args);
    out
}

fn rms_db(samples: &[f32]) -> f64 {
    let ms = samples.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / samples.len() as f64;
    10.0 * ms.log10()
}

/// RMS level (dB) of the recording's signal, away from its edges.
fn heard_level(rec: &Wav) -> f64 {
    let r = &rec.channels[0];
    let start = onset(r, 0.02);
    rms_db(&r[start + 4_800..start + TOTAL_FRAMES - 4_800])
}

#[test]
fn a_track_tagged_minus_6_db_is_heard_6_db_quieter_and_its_file_is_untouched() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let master = dir.path().join("master.wav");
        make_master(&master);
        let plain = flac_with_tags(dir.path(), &master, "plain.flac", (0, TOTAL_FRAMES), &[]);
        let tagged = flac_with_tags(
            dir.path(),
            &master,
            "tagged.flac",
            (0, TOTAL_FRAMES),
            &[
                "REPLAYGAIN_TRACK_GAIN=-6.00 dB",
                "REPLAYGAIN_TRACK_PEAK=0.400000",
            ],
        );
        let bytes_before = std::fs::read(&tagged).unwrap();

        let (rec, s) = play_and_record(dir.path(), &[plain], &[]);
        let full = heard_level(&rec);
        assert_eq!(s["tracks"][0]["gain_source"], "none", "{s}");
        let (rec, s) = play_and_record(dir.path(), std::slice::from_ref(&tagged), &[]);
        let quiet = heard_level(&rec);
        assert!(
            (quiet - full + 6.0).abs() <= 0.2,
            "tagged −6 dB: heard {:.2} dB from the untagged level",
            quiet - full
        );
        assert_eq!(s["tracks"][0]["gain_source"], "tag", "{s}");
        assert!(
            (s["tracks"][0]["gain_db"].as_f64().unwrap() + 6.0).abs() < 1e-9,
            "{s}"
        );

        let (rec, s) = play_and_record(
            dir.path(),
            std::slice::from_ref(&tagged),
            &["--replaygain", "off"],
        );
        let off = heard_level(&rec);
        assert!(
            (off - full).abs() <= 0.2,
            "--replaygain off: {:.2} dB from full",
            off - full
        );
        assert_eq!(s["tracks"][0]["gain_source"], "none", "{s}");

        assert!(
            std::fs::read(&tagged).unwrap() == bytes_before,
            "the tagged file was changed"
        );
    });
}

/// Two tracks of one continuous signal with different gains, played gaplessly: every sample
/// before the join has the first track's gain and every one from the join on the second's.
#[test]
fn the_gain_changes_on_the_first_sample_of_the_next_track() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let master = dir.path().join("master.wav");
        make_master(&master);
        let cut = CUTS[0];
        let one = flac_with_tags(
            dir.path(),
            &master,
            "1.flac",
            (0, cut),
            &["REPLAYGAIN_TRACK_GAIN=-6.00 dB"],
        );
        let two = flac_with_tags(
            dir.path(),
            &master,
            "2.flac",
            (cut, TOTAL_FRAMES),
            &["REPLAYGAIN_TRACK_GAIN=-1.00 dB"],
        );
        let (rec, _) = play_and_record(dir.path(), &[one, two], &["--replaygain", "track"]);
        let orig = read_wav(&master);
        let (r, o) = (&rec.channels[0], &orig.channels[0]);
        let start = onset(r, 0.05);
        let g = |db: f64| 10f64.powf(db / 20.0);
        let off_by = |range: std::ops::Range<usize>, gain: f64| {
            range
                .filter(|&i| o[i].abs() > 0.05)
                .map(|i| (r[start + i] as f64 / o[i] as f64 / gain - 1.0).abs())
                .fold(0.0, f64::max)
        };
        // Within the 16-bit master's and f32's rounding, not more.
        let before = off_by(cut - 500..cut, g(-6.0));
        let after = off_by(cut..cut + 500, g(-1.0));
        assert!(
            before < 1e-3,
            "before the join: off the first track's gain by {before:.2e}"
        );
        assert!(
            after < 1e-3,
            "from the join on: off the second track's gain by {after:.2e}"
        );
    });
}

/// A 48 kHz 16-bit FLAC at full volume: what the sink records is its decode, sample for
/// sample, and the summary says so; at half volume it says why not.
#[test]
fn a_48k_16_bit_flac_is_recorded_bit_perfect_and_the_summary_says_so() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let master = dir.path().join("master.wav");
        make_master(&master);
        let flac = flac_with_tags(dir.path(), &master, "bp.flac", (0, TOTAL_FRAMES), &[]);
        let decoded_wav = dir.path().join("decoded.wav");
        let o = run_with_timeout(
            Command::new(reel_bin())
                .arg("decode")
                .arg(&flac)
                .arg("--out")
                .arg(&decoded_wav),
            Duration::from_secs(60),
        );
        assert!(o.status.success());
        let decoded = read_wav(&decoded_wav);

        let (rec, s) = play_and_record(dir.path(), std::slice::from_ref(&flac), &[]);
        let track = &s["tracks"][0];
        assert_eq!(track["bit_perfect"], true, "{s}");
        assert_eq!(track["decoded_hash"], track["pushed_hash"], "{s}");
        let start = onset(&rec.channels[0], 0.05);
        for c in 0..2 {
            let got = &rec.channels[c][start..start + TOTAL_FRAMES];
            let want = &decoded.channels[c][..];
            assert!(got == want, "channel {c}: the recording is not the decode");
        }

        let (_, s) = play_and_record(dir.path(), &[flac], &["--volume", "0.5"]);
        assert_eq!(s["tracks"][0]["bit_perfect"], false, "{s}");
        assert_eq!(s["tracks"][0]["bit_perfect_reason"], "volume", "{s}");
    });
}

/// FLAC's STREAMINFO MD5 is checked when a track plays to its end: a mismatch is one warning
/// line naming the file (the audio still played).
#[test]
fn a_flac_whose_audio_does_not_match_its_md5_is_named_in_a_warning() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let master = dir.path().join("master.wav");
        make_master(&master);
        let flac = flac_with_tags(dir.path(), &master, "md5.flac", (0, 9_600), &[]);
        let mut bytes = std::fs::read(&flac).unwrap();
        // "fLaC", the STREAMINFO block header, then 18 bytes before its 16-byte MD5.
        assert_eq!(&bytes[..4], b"fLaC");
        bytes[26] ^= 0xff;
        let bad = dir.path().join("bad-md5.flac");
        std::fs::write(&bad, &bytes).unwrap();
        let out = run_with_timeout(
            Command::new(reel_bin())
                .args(["play", "--no-gui"])
                .arg(&flac)
                .arg(&bad),
            Duration::from_secs(60),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("MD5")).collect();
        assert_eq!(warnings.len(), 1, "{stderr}");
        assert!(
            warnings[0].starts_with(&format!("reel: {}: ", bad.display())),
            "{stderr}"
        );
    });
}

/// `auto`: two tracks of one album, played in order, both get the album gain; a track of
/// another album next to them gets its own track gain.
#[test]
fn auto_replaygain_uses_the_album_gain_for_consecutive_tracks_of_one_album() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let master = dir.path().join("master.wav");
        make_master(&master);
        let tags = |album: &'static str, track_db: &'static str| {
            [
                format!("ALBUM={album}"),
                "ARTIST=reel".to_string(),
                format!("REPLAYGAIN_TRACK_GAIN={track_db} dB"),
                "REPLAYGAIN_ALBUM_GAIN=-4.00 dB".to_string(),
            ]
        };
        let mut files = Vec::new();
        for (i, (album, db)) in [("A", "-2.00"), ("A", "-7.00"), ("B", "-9.00")]
            .iter()
            .enumerate()
        {
            let t = tags(album, db);
            let t: Vec<&str> = t.iter().map(String::as_str).collect();
            files.push(flac_with_tags(
                dir.path(),
                &master,
                &format!("{i}.flac"),
                (0, 4_800),
                &t,
            ));
        }
        let (_, s) = play_and_record(dir.path(), &files, &[]);
        let gains: Vec<(f64, bool)> = (0..3)
            .map(|i| {
                let t = &s["tracks"][i];
                (
                    t["gain_db"].as_f64().unwrap(),
                    t["gain_album"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            gains,
            vec![(-4.0, true), (-4.0, true), (-9.0, false)],
            "{s}"
        );
    });
}
