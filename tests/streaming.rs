//! Playback streams through the cache: a file that is not cached plays while one pass over its
//! source copies it in (src/cache/fill.rs, src/session). The slow source is real: a FUSE
//! passthrough that throttles reads (tests/support/slowfs.py), played into the test sound
//! server. Every wait is on an event (a metrics-log line, a file appearing, an exit), never a
//! sleep.

mod cache_support;
mod support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use cache_support::*;
use support::faults::read_metrics;
use support::slowfs::SlowFs;
use support::*;

/// A 3 s tone as 96 kHz stereo float WAV: 2.3 MB, 768 kB a second of audio.
fn big_tone(path: &Path) -> u64 {
    make_tone_codec(path, &["-c:a", "pcm_f32le"], 440.0, 3.0, 96_000, 2, 0.5);
    std::fs::metadata(path).unwrap().len()
}

fn spawn_play(cache: &Path, log: &Path, files: &[&Path]) -> Child {
    reel_in(cache)
        .args(["play", "--no-gui", "--metrics-log"])
        .arg(log)
        .args(files)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// The metrics log's samples so far (a line being written is skipped).
fn samples(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits until a metrics sample satisfies `pred`.
#[track_caller]
fn wait_for_sample(log: &Path, pred: impl Fn(&serde_json::Value) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !samples(log).iter().any(&pred) {
        if std::time::Instant::now() > deadline {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            panic!("no such sample within 30 s; the log:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn heard(s: &serde_json::Value) -> bool {
    s["state"] == "playing" && s["position_ms"].as_f64().unwrap_or(0.0) > 0.0
}

fn finish(mut child: Child) -> (Option<i32>, String) {
    let status = wait_child_with_timeout(&mut child, Duration::from_secs(60));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.code(), err)
}

#[test]
fn the_first_sound_comes_while_the_copy_has_barely_begun_and_a_full_play_leaves_a_whole_object() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let mut size = 0;
    // 2 MB/s: the copy takes over a second, faster than the audio plays.
    let fs = SlowFs::mount(2_000_000, 20, |src| size = big_tone(&src.join("song.wav")));
    let song = fs.path("song.wav");
    let log = dir.path().join("m.jsonl");
    let child = spawn_play(&cache, &log, &[&song]);
    wait_for_sample(&log, heard);
    // Heard, and the copy is still under way: nothing committed, a partial temp file.
    assert!(
        object_files(&cache).is_empty(),
        "committed before the copy ended"
    );
    let temps = temp_files(&cache);
    assert_eq!(temps.len(), 1, "{temps:?}");
    let partial = std::fs::metadata(&temps[0]).map(|m| m.len()).unwrap_or(0);
    assert!(
        partial < size,
        "the copy was done ({partial} of {size} bytes)"
    );

    let (code, stderr) = finish(child);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(reel_lines(&stderr).is_empty(), "{stderr}");
    let (_, summary) = read_metrics(&log);
    assert!(
        summary["startup"]["first_audio_since_launch_ms"]
            .as_f64()
            .is_some(),
        "{summary}"
    );
    // The object is whole, and the source was read once.
    let objects = object_files(&cache);
    assert_eq!(objects.len(), 1);
    assert_eq!(blake3_of(&objects[0]), blake3_of(&fs.src.join("song.wav")));
    assert!(temp_files(&cache).is_empty());
    assert_consistent(&cache);
    // The next play is a hit.
    let hits = stats(&cache)["hits"].as_u64().unwrap();
    let (code, stderr) = finish(spawn_play(&cache, &dir.path().join("m2.jsonl"), &[&song]));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stats(&cache)["hits"].as_u64().unwrap(), hits + 1);
}

/// Plays a file from a slow source and stops reel with `signal` once it is heard.
fn interrupted_mid_copy(signal: libc::c_int) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // 300 kB/s: the copy would take 8 s.
    let fs = SlowFs::mount(300_000, 20, |src| {
        big_tone(&src.join("song.wav"));
    });
    let log = dir.path().join("m.jsonl");
    let child = spawn_play(&cache, &log, &[&fs.path("song.wav")]);
    wait_for_sample(&log, heard);
    assert_eq!(temp_files(&cache).len(), 1, "the copy is under way");
    // SAFETY: kill(2) on the child we started.
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
    let (code, stderr) = finish(child);
    if signal == libc::SIGINT {
        assert_eq!(code, Some(0), "{stderr}");
    }
    assert!(
        object_files(&cache).is_empty(),
        "a partial copy was committed"
    );
    (dir, cache, stderr)
}

#[test]
fn ctrl_c_in_the_middle_of_a_copy_leaves_nothing_half_written() {
    let (_dir, cache, stderr) = interrupted_mid_copy(libc::SIGINT);
    assert!(reel_lines(&stderr).is_empty(), "{stderr}");
    assert!(temp_files(&cache).is_empty(), "the temp file was left");
    assert_consistent(&cache);
}

#[test]
fn kill_9_in_the_middle_of_a_copy_leaves_only_a_temp_file_that_the_next_start_removes() {
    let (_dir, cache, _) = interrupted_mid_copy(libc::SIGKILL);
    reel(&cache, &["cache", "stats"]).ok();
    assert!(
        temp_files(&cache).is_empty(),
        "the temp file was not cleaned"
    );
    assert!(object_files(&cache).is_empty());
    assert_consistent(&cache);
}

#[test]
fn a_source_that_vanishes_mid_play_is_named_once_and_the_rest_of_the_queue_plays() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let mut fs = SlowFs::mount(300_000, 20, |src| {
        big_tone(&src.join("far.wav"));
    });
    let far = fs.path("far.wav");
    let near = dir.path().join("near.wav");
    make_tone(&near, 550.0, 1.0, 48_000, 2, 0.5);
    let log = dir.path().join("m.jsonl");
    let child = spawn_play(&cache, &log, &[&far, &near]);
    wait_for_sample(&log, heard);
    fs.vanish();
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(1), "{stderr}");
    let lines = reel_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with(&format!("reel: {}: the source vanished", far.display())),
        "{}",
        lines[0]
    );
    let (_, summary) = read_metrics(&log);
    assert_eq!(summary["tracks"][1]["frames_decoded"], 48_000, "{summary}");
    // Only the file that arrived whole is cached.
    let objects = object_files(&cache);
    assert_eq!(objects.len(), 1, "{objects:?}");
    assert_eq!(blake3_of(&objects[0]), blake3_of(&near));
    assert!(temp_files(&cache).is_empty());
    assert_consistent(&cache);
}

#[test]
fn a_stalled_source_shows_as_waiting_is_a_source_underrun_and_playback_resumes_by_itself() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let fs = SlowFs::mount(2_000_000, 20, |src| {
        big_tone(&src.join("song.wav"));
    });
    let song = fs.path("song.wav");
    let log = dir.path().join("m.jsonl");
    let child = spawn_play(&cache, &log, &[&song]);
    wait_for_sample(&log, heard);
    fs.pause();
    wait_for_sample(&log, |s| {
        s["source_waiting"] == true && s["underruns"].as_u64().unwrap_or(0) >= 1
    });
    fs.resume();
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(0), "{stderr}");
    let (_, summary) = read_metrics(&log);
    let episodes = summary["episodes"].as_array().unwrap();
    assert!(episodes.iter().any(|e| e["cause"] == "source"), "{summary}");
    let objects = object_files(&cache);
    assert_eq!(objects.len(), 1);
    assert_eq!(blake3_of(&objects[0]), blake3_of(&fs.src.join("song.wav")));
}

#[test]
fn a_track_whose_source_is_gone_plays_from_its_cached_copy() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let mut fs = SlowFs::mount(50_000_000, 0, |src| {
        make_tone(&src.join("a.flac"), 440.0, 1.0, 48_000, 2, 0.5);
    });
    let song = fs.path("a.flac");
    import(&cache, &[&song]);
    fs.vanish();
    let log = dir.path().join("m.jsonl");
    let (code, stderr) = finish(spawn_play(&cache, &log, &[&song]));
    assert_eq!(code, Some(0), "{stderr}");
    let lines = reel_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with(&format!("reel: {}: ", song.display()))
            && lines[0].ends_with("playing its cached copy"),
        "{}",
        lines[0]
    );
    let (_, summary) = read_metrics(&log);
    assert_eq!(summary["frames_played"], 48_000, "{summary}");
}

#[test]
fn play_no_gui_accepts_a_folder_and_plays_its_audio_files_in_path_order() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let album = dir.path().join("album");
    std::fs::create_dir_all(album.join("disc2")).unwrap();
    make_tone(&album.join("02.wav"), 440.0, 0.5, 48_000, 2, 0.5);
    make_tone(&album.join("01.flac"), 550.0, 0.5, 48_000, 2, 0.5);
    make_tone(&album.join("disc2/01.wav"), 660.0, 0.5, 48_000, 2, 0.5);
    std::fs::write(album.join("cover.jpg"), b"not audio").unwrap();
    let log = dir.path().join("m.jsonl");
    let out = run_with_timeout(
        reel_in(&cache)
            .args(["play", "--no-gui", "--metrics-log"])
            .arg(&log)
            .arg(&album),
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(reel_lines(&stderr).is_empty(), "{stderr}");
    let (_, summary) = read_metrics(&log);
    let paths: Vec<String> = summary["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["path"].as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = ["01.flac", "02.wav", "disc2/01.wav"]
        .iter()
        .map(|n| album.join(n).display().to_string())
        .collect();
    assert_eq!(paths, want);
    assert_eq!(summary["frames_played"], 3 * 24_000, "{summary}");
}
