//! Playlists end to end: a queue saved as M3U8 names its files relative to the playlist's
//! folder, and reading it back (and playing it with `reel play`) loads every entry that is still
//! there, naming the one that is not in one line.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reel::playlist::{self, SaveEntry};
use support::*;

fn save_entry(path: &Path) -> SaveEntry {
    SaveEntry {
        path: path.to_path_buf(),
        title: path.file_stem().unwrap().to_string_lossy().into_owned(),
        duration_secs: Some(0.5),
    }
}

/// music/one.flac, music/sub/two.flac and an outside file, saved as music/lists/../list.m3u8.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    list: PathBuf,
    one: PathBuf,
    two: PathBuf,
    outside: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let music = root.join("music");
    std::fs::create_dir_all(music.join("sub")).unwrap();
    std::fs::create_dir_all(root.join("elsewhere")).unwrap();
    let (one, two) = (music.join("one.flac"), music.join("sub/two.flac"));
    let outside = root.join("elsewhere/three.flac");
    make_tone(&one, 440.0, 0.5, 48_000, 2, 0.5);
    make_tone(&two, 550.0, 0.5, 48_000, 2, 0.5);
    make_tone(&outside, 660.0, 0.5, 48_000, 2, 0.5);
    let list = music.join("list.m3u8");
    let entries: Vec<SaveEntry> = [&one, &two, &outside].map(|p| save_entry(p)).to_vec();
    playlist::write_m3u8(&list, &entries).unwrap();
    Fixture {
        _dir: dir,
        root,
        list,
        one,
        two,
        outside,
    }
}

#[test]
fn a_saved_queue_reads_back_with_relative_paths_and_a_missing_entry_is_named_and_left_out() {
    let f = fixture();
    let text = std::fs::read_to_string(&f.list).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "#EXTM3U");
    assert!(lines.contains(&"one.flac"), "{text}");
    assert!(lines.contains(&"sub/two.flac"), "{text}");
    assert!(
        lines.contains(&f.outside.to_str().unwrap()),
        "a file outside the folder keeps its absolute path: {text}"
    );
    assert!(!f.root.join("music").read_dir().unwrap().any(|e| {
        let name = e.unwrap().file_name();
        name.to_string_lossy().contains(".tmp")
    }));

    // Moved with its folder, the playlist still finds the files under it.
    let moved = f.root.join("moved");
    std::fs::rename(f.root.join("music"), &moved).unwrap();
    let (files, problems) = playlist::expand(&[moved.join("list.m3u8")]);
    assert_eq!(
        files,
        vec![
            moved.join("one.flac"),
            moved.join("sub/two.flac"),
            f.outside.clone()
        ]
    );
    assert!(problems.is_empty(), "{problems:?}");

    std::fs::remove_file(moved.join("sub/two.flac")).unwrap();
    let (files, problems) = playlist::expand(&[moved.join("list.m3u8"), f.one.clone()]);
    assert_eq!(
        files,
        vec![moved.join("one.flac"), f.outside.clone(), f.one.clone()]
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    let line = &problems[0];
    assert!(
        line.contains(moved.join("list.m3u8").to_str().unwrap())
            && line.contains("sub/two.flac")
            && line.contains("not found"),
        "{line}"
    );
    assert!(!line.contains('\n'));
}

#[test]
fn reel_play_plays_a_playlists_entries_and_names_the_missing_one() {
    let _sink = lock_sink();
    let f = fixture();
    std::fs::remove_file(&f.two).unwrap();
    let log = f.root.join("m.jsonl");
    let out = run_with_timeout(
        Command::new(reel_bin())
            .args(["play", "--no-gui", "--metrics-log"])
            .arg(&log)
            .arg("--cache-dir")
            .arg(f.root.join("cache"))
            .arg(&f.list),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, for the missing entry: {stderr}");
    assert!(
        lines[0].starts_with("reel: ")
            && lines[0].contains(f.list.to_str().unwrap())
            && lines[0].contains("sub/two.flac"),
        "{stderr}"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a left-out entry is a bad input"
    );
    // The two other files played, in full.
    let text = std::fs::read_to_string(&log).unwrap();
    let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(summary["frames_played"], 2 * 24_000, "{summary}");
    assert!(f.one.exists());
}
