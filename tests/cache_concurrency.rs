//! Several reels share one cache: they import the same and different files at once, and one
//! plays while others import (evicting) and collect garbage.

mod cache_support;
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cache_support::*;
use support::*;

fn spawn_import(cache: &Path, files: &[PathBuf]) -> std::process::Child {
    reel_in(cache)
        .args(["cache", "import"])
        .args(files)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[track_caller]
fn wait_ok(mut child: std::process::Child) {
    let status = wait_child_with_timeout(&mut child, Duration::from_secs(60));
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status}: {err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn two_reels_importing_the_same_and_different_files_at_once_keep_the_cache_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mk = |name: &str, seed: u32| {
        let p = dir.path().join(name);
        write_wav(&p, 3 << 20, seed);
        p
    };
    let common: Vec<PathBuf> = (0..6)
        .map(|i| mk(&format!("common-{i}.wav"), 100 + i))
        .collect();
    let only_a: Vec<PathBuf> = (0..4).map(|i| mk(&format!("a-{i}.wav"), 200 + i)).collect();
    let only_b: Vec<PathBuf> = (0..4).map(|i| mk(&format!("b-{i}.wav"), 300 + i)).collect();
    // The same content under a different name in each.
    let twin_a = mk("twin.wav", 400);
    let twin_b = dir.path().join("twin under another name.wav");
    std::fs::copy(&twin_a, &twin_b).unwrap();

    for round in 0..3 {
        let cache = dir.path().join(format!("cache-{round}"));
        // Create it first so both start on an existing cache (creating it at once is tested
        // by the other rounds' first command anyway).
        if round > 0 {
            reel(&cache, &["cache", "stats"]).ok();
        }
        let mut files_a: Vec<PathBuf> = common.clone();
        files_a.extend(only_a.iter().cloned());
        files_a.push(twin_a.clone());
        let mut files_b: Vec<PathBuf> = common.iter().rev().cloned().collect();
        files_b.extend(only_b.iter().cloned());
        files_b.push(twin_b.clone());
        let a = spawn_import(&cache, &files_a);
        let b = spawn_import(&cache, &files_b);
        wait_ok(a);
        wait_ok(b);

        let hashes = assert_consistent(&cache);
        assert_eq!(hashes.len(), 6 + 4 + 4 + 1, "one object per content");
        let entries = list(&cache);
        assert_eq!(entries.len(), hashes.len());
        let sources: BTreeSet<String> = entries
            .iter()
            .flat_map(|e| e["sources"].as_array().unwrap().clone())
            .map(|s| s["path"].as_str().unwrap().to_string())
            .collect();
        for f in files_a.iter().chain(&files_b) {
            let canon = std::fs::canonicalize(f).unwrap();
            assert!(
                sources.contains(canon.to_str().unwrap()),
                "round {round}: {} is not in the index",
                f.display()
            );
        }
        let s = stats(&cache);
        assert_eq!(
            s["hits"].as_u64().unwrap() + s["misses"].as_u64().unwrap(),
            (files_a.len() + files_b.len()) as u64,
            "round {round}: every file counted once: {s}"
        );
    }
}

/// While one reel plays a file, others import with a cap that forces eviction on every import
/// and run `gc --max-size 0`: the playing file stays, plays to its end, and is evictable
/// once that reel has exited.
#[test]
fn a_playing_file_survives_other_reels_importing_and_evicting() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let song = dir.path().join("song.wav");
    // Long enough to outlast the imports and gc runs below even on a loaded machine.
    make_tone(&song, 440.0, 8.0, 48_000, 2, 0.5);
    let hash = blake3_of(&song);
    let others: Vec<PathBuf> = (0..6)
        .map(|i| {
            let p = dir.path().join(format!("other-{i}.wav"));
            write_wav(&p, 1 << 20, 500 + i);
            p
        })
        .collect();
    reel(&cache, &["cache", "config", "--max-size", "1"]).ok();

    let log = dir.path().join("m.jsonl");
    let mut player = reel_in(&cache)
        .args(["play", "--no-gui", "--metrics-log"])
        .arg(&log)
        .arg(&song)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded wait until the player has pinned its file.
    wait_until(Duration::from_secs(20), || {
        stats(&cache)["pinned"].as_u64() == Some(1)
    });
    let a = spawn_import(&cache, &others[..3]);
    let b = spawn_import(&cache, &others[3..]);
    for _ in 0..3 {
        reel(&cache, &["cache", "gc", "--max-size", "0"]).ok();
    }
    wait_ok(a);
    wait_ok(b);
    assert!(
        object_files(&cache).iter().any(|o| name_hash(o) == hash),
        "the playing file was evicted"
    );
    assert!(
        player.try_wait().unwrap().is_none(),
        "the player stopped early"
    );
    let status = wait_child_with_timeout(&mut player, Duration::from_secs(30));
    let mut err = String::new();
    use std::io::Read;
    player
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status}: {err}");
    let text = std::fs::read_to_string(&log).unwrap();
    let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(summary["frames_played"], 8 * 48_000, "{summary}");
    assert_eq!(summary["errors"].as_array().unwrap().len(), 0, "{summary}");
    assert_eq!(
        summary["tracks"][0]["path"],
        song.to_str().unwrap(),
        "the log names the file played, not the cached object"
    );
    assert_consistent(&cache);
    // The player is gone: its pin with it.
    reel(&cache, &["cache", "gc", "--max-size", "0"]).ok();
    assert!(object_files(&cache).is_empty());
    assert_consistent(&cache);
}

/// A reel tells whether another one replaced the index by the file's identity (device,
/// inode, length, mtime). The file system hands a freed inode number straight out again, so
/// two saves by another reel can leave a new index with the old one's inode and length, and
/// (within one clock tick) its mtime. A reel must not then keep its stale copy and write it
/// back over the other's changes.
#[test]
fn a_reel_sees_the_index_another_replaced_even_when_the_inode_is_reused() {
    use reel::cache::Cache;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let song = dir.path().join("a.wav");
    make_tone(&song, 440.0, 0.5, 48_000, 2, 0.5);
    import(&cache, &[&song]);
    let hash = blake3_of(&song);
    let at = 1_700_000_000_000u64;
    let other = Cache::open_dir(cache.clone()).unwrap();
    other.record_played(&[(hash.clone(), at)]).unwrap();

    let this = Cache::open_dir(cache.clone()).unwrap();
    assert_eq!(this.list().unwrap()[0].play_count, 1);
    let index = cache.join("index.json");
    let seen = std::fs::metadata(&index).unwrap();

    // Two more plays in the other reel: same length each time; the second save can get the
    // inode number the first one freed.
    other.record_played(&[(hash.clone(), at)]).unwrap();
    other.record_played(&[(hash.clone(), at)]).unwrap();
    let now = std::fs::metadata(&index).unwrap();
    assert_eq!(now.len(), seen.len());
    // The same clock tick.
    std::fs::File::options()
        .write(true)
        .open(&index)
        .unwrap()
        .set_modified(seen.modified().unwrap())
        .unwrap();

    this.record_played(&[(hash.clone(), at)]).unwrap();
    let entry = &index_on_disk(&cache)["entries"][0];
    assert_eq!(entry["play_count"], 4, "no play lost: {entry}");
    other.forget_at_exit();
    this.forget_at_exit();
}
