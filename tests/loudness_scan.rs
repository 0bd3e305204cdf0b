//! reel's own loudness scan (EBU R 128): files without ReplayGain tags are scanned into the
//! library (by `reel library add`, or during their first play), never into the file, and then
//! play levelled to −18 LUFS, as recorded from the private sound server's null sink. The same
//! scan stores a waveform summary per track. Run by `make test`, which starts the server.

mod cache_support;
mod library_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use library_support::Dirs;
use support::*;

const RATE: u32 = 48_000;

/// A 1 kHz sine in both channels at `dbfs` for `secs`, then `silent_secs` of silence, as an
/// untagged FLAC. (EBU Tech 3341: such a sine at −30 dBFS measures −30 LUFS.)
fn untagged_flac(path: &Path, dbfs: f64, secs: f64, silent_secs: f64) {
    let amp = 10f64.powf(dbfs / 20.0);
    // (The comma is escaped from the filter graph's option parser.)
    let expr = format!("{amp}*sin(2*PI*1000*t)*lt(t\\,{secs})");
    let o = run_with_timeout(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!(
                "aevalsrc=exprs={expr}|{expr}:s={RATE}:d={}",
                secs + silent_secs
            ))
            .args(["-c:a", "flac", "-map_metadata", "-1"])
            .arg(path),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Integrated loudness (LUFS) of a recording, measured as the scan measures (silence before
/// and after the track is gated out).
fn recorded_lufs(rec: &Wav) -> f64 {
    let mut m =
        ebur128::EbuR128::new(rec.channels.len() as u32, rec.rate, ebur128::Mode::I).unwrap();
    let planar: Vec<&[f32]> = rec.channels.iter().map(|c| c.as_slice()).collect();
    m.add_frames_planar_f32(&planar).unwrap();
    m.loudness_global().unwrap()
}

/// `reel play --no-gui` of `files` with this library, recorded; the metrics summary.
fn play_and_record(dirs: &Dirs, files: &[PathBuf]) -> (Wav, serde_json::Value) {
    let rec_path = dirs.tmp.path().join("recording.wav");
    let log_path = dirs.tmp.path().join("metrics.jsonl");
    let rec = Recorder::start(&rec_path);
    let out = run_with_timeout(
        dirs.cmd()
            .args(["play", "--no-gui", "--metrics-log"])
            .arg(&log_path)
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

/// The one track's entry in `reel library list --json`.
fn listed(dirs: &Dirs) -> serde_json::Value {
    let tracks = dirs.list(&[]);
    assert_eq!(tracks.len(), 1, "{tracks:?}");
    tracks[0].clone()
}

#[test]
fn an_untagged_track_at_minus_30_lufs_is_heard_at_minus_18_after_library_add_and_its_file_is_untouched()
 {
    support::judged_by_recording(|| {
        let dirs = Dirs::new();
        let file = dirs.music("music").join("quiet.flac");
        untagged_flac(&file, -30.0, 4.0, 0.0);
        let bytes_before = std::fs::read(&file).unwrap();

        let r = dirs.add(&[&file]);
        assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains("loudness: 1 scanned, 0 tagged"),
            "{}",
            r.stdout
        );
        let t = listed(&dirs);
        let lufs = t["loudness_lufs"].as_f64().expect("scanned");
        assert!((lufs + 30.0).abs() < 0.5, "{t}");
        assert!(t["true_peak_dbtp"].as_f64().is_some(), "{t}");
        assert!(t["loudness_range_lu"].as_f64().is_some(), "{t}");

        let (rec, s) = play_and_record(&dirs, std::slice::from_ref(&file));
        let heard = recorded_lufs(&rec);
        assert!((heard + 18.0).abs() <= 1.0, "heard at {heard:.2} LUFS");
        assert_eq!(s["tracks"][0]["gain_source"], "scan", "{s}");
        assert!(
            (s["tracks"][0]["gain_db"].as_f64().unwrap() - (-18.0 - lufs)).abs() < 1e-6,
            "{s}"
        );
        // Nothing was written into the file: its bytes (and so its cache hash) are the same.
        assert_eq!(std::fs::read(&file).unwrap(), bytes_before);
    });
}

#[test]
fn a_first_play_of_an_unscanned_library_track_stores_its_scan_and_the_next_play_uses_it() {
    support::judged_by_recording(|| {
        let dirs = Dirs::new();
        let file = dirs.music("music").join("first.flac");
        untagged_flac(&file, -30.0, 2.0, 0.0);
        let r = dirs.reel(&["library", "add", "--no-scan", file.to_str().unwrap()]);
        assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
        assert!(!r.stdout.contains("loudness:"), "{}", r.stdout);
        let t = listed(&dirs);
        assert_eq!(t["loudness_scanned"], false, "{t}");
        assert!(t["loudness_lufs"].is_null(), "{t}");

        // Not scanned yet: the first play has no gain to use, and scans while it plays.
        let (_, s) = play_and_record(&dirs, std::slice::from_ref(&file));
        assert_eq!(s["tracks"][0]["gain_source"], "none", "{s}");
        let t = listed(&dirs);
        assert_eq!(t["loudness_scanned"], true, "{t}");
        let lufs = t["loudness_lufs"].as_f64().expect("scanned while playing");
        assert!((lufs + 30.0).abs() < 0.5, "{t}");

        let (rec, s) = play_and_record(&dirs, std::slice::from_ref(&file));
        assert_eq!(s["tracks"][0]["gain_source"], "scan", "{s}");
        let heard = recorded_lufs(&rec);
        assert!((heard + 18.0).abs() <= 1.0, "heard at {heard:.2} LUFS");
    });
}

#[test]
fn the_waveform_summary_of_a_loud_half_then_a_silent_half_is_stored_in_the_library() {
    support::judged_by_recording(|| {
        let dirs = Dirs::new();
        let file = dirs.music("music").join("half.flac");
        untagged_flac(&file, -6.0, 2.0, 2.0);
        let r = dirs.add(&[&file]);
        assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
        let db = rusqlite::Connection::open(dirs.db()).unwrap();
        let wave: Vec<u8> = db
            .query_row("SELECT waveform FROM tracks", [], |r| r.get(0))
            .unwrap();
        // 1024 columns of (min, max), one signed byte each.
        assert_eq!(wave.len(), 2048);
        let cols: Vec<(i8, i8)> = wave.chunks(2).map(|c| (c[0] as i8, c[1] as i8)).collect();
        // −6 dBFS is 0.5 of full scale: ±64 of 127.
        let loud = |c: &(i8, i8)| (c.0 + 64).abs() <= 2 && (c.1 - 64).abs() <= 2;
        assert!(cols[..510].iter().all(loud), "{:?}", &cols[..510]);
        assert!(
            cols[514..].iter().all(|c| *c == (0, 0)),
            "{:?}",
            &cols[514..]
        );
    });
}

/// Tracks whose loudness scan is stored, read by a connection of the test's own.
fn scanned_rows(dirs: &Dirs) -> i64 {
    let c = rusqlite::Connection::open(dirs.db()).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c.query_row(
        "SELECT count(*) FROM tracks WHERE loudness_scanned_ms IS NOT NULL",
        [],
        |r| r.get(0),
    )
    .unwrap_or(0)
}

#[test]
fn kill_9_during_the_loudness_scan_leaves_each_track_scanned_whole_or_not_and_the_next_add_finishes()
 {
    support::judged_by_recording(|| {
        use std::os::unix::process::ExitStatusExt;
        use std::process::Stdio;
        const FILES: u32 = 600;
        let dirs = Dirs::new();
        let music = dirs.music("music");
        for i in 0..FILES {
            // Half a second of a tone each (16-bit stereo, 48 kHz).
            cache_support::write_wav(&music.join(format!("{i:04}.wav")), 96_000, i);
        }
        let mut child = dirs
            .cmd()
            .args(["library", "add"])
            .arg(&music)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill it once the loudness scan (after the add) has stored some tracks.
        wait_until(Duration::from_secs(60), || {
            dirs.db().exists() && scanned_rows(&dirs) > 0
        });
        child.kill().unwrap(); // SIGKILL
        let status = wait_child_with_timeout(&mut child, Duration::from_secs(10));
        assert_eq!(status.signal(), Some(9), "the scan ended before the kill");

        assert_eq!(dirs.integrity(), "ok");
        let db = rusqlite::Connection::open(dirs.db()).unwrap();
        // Each track has its figures and its waveform together, or neither.
        let halves: i64 = db
            .query_row(
                "SELECT count(*) FROM tracks WHERE (loudness_scanned_ms IS NULL) != (waveform IS NULL) \
                 OR (loudness_scanned_ms IS NULL) != (loudness_lufs IS NULL) \
                 OR (waveform IS NOT NULL AND length(waveform) != 2048)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(halves, 0);
        let saved = scanned_rows(&dirs);
        assert!(saved > 0 && saved < i64::from(FILES), "{saved}");

        // The next add scans only what the killed one had not stored.
        let r = dirs.add(&[&music]).ok();
        assert!(
            r.stdout
                .contains(&format!("loudness: {} scanned,", i64::from(FILES) - saved)),
            "{saved} were saved; {}",
            r.stdout
        );
        assert_eq!(scanned_rows(&dirs), i64::from(FILES));
        assert_eq!(dirs.integrity(), "ok");
    });
}

#[test]
fn two_reels_adding_and_scanning_the_same_folder_at_once_both_succeed_and_scan_every_track() {
    support::judged_by_recording(|| {
        const FILES: u32 = 200;
        let dirs = Dirs::new();
        let music = dirs.music("music");
        for i in 0..FILES {
            cache_support::write_wav(&music.join(format!("{i:04}.wav")), 96_000, i);
        }
        // Both at once, each with a timeout (a reel that hung on the other's lock would fail).
        let add = || {
            run_with_timeout(
                dirs.cmd().args(["library", "add"]).arg(&music),
                Duration::from_secs(120),
            )
        };
        let outs = std::thread::scope(|s| {
            let a = s.spawn(add);
            let b = s.spawn(add);
            [a.join().unwrap(), b.join().unwrap()]
        });
        for out in outs {
            let (stdout, stderr) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            assert!(out.status.success(), "{stdout}\n{stderr}");
            assert!(stdout.contains(", 0 failed"), "{stdout}");
        }
        assert_eq!(dirs.integrity(), "ok");
        assert_eq!(scanned_rows(&dirs), i64::from(FILES));
        let tracks = dirs.list(&[]);
        assert_eq!(tracks.len(), FILES as usize);
        assert!(
            tracks.iter().all(|t| t["loudness_lufs"].as_f64().is_some()),
            "{tracks:?}"
        );
    });
}
