//! The size cap: eviction removes the least recently played first (never played: by import
//! time), after each import and on `gc`, and never what a live reel has pinned.

mod cache_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cache_support::*;
use support::*;

use reel::cache::Cache;

fn cached(cache: &Path) -> Vec<String> {
    let mut v: Vec<String> = object_files(cache).iter().map(|o| name_hash(o)).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Four files of one size, imported one by one (so their import times differ).
fn four_files(dir: &Path, cache: &Path) -> (Vec<PathBuf>, Vec<String>, u64) {
    let files: Vec<PathBuf> = ["a", "b", "c", "d"]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let p = dir.join(format!("{n}.wav"));
            make_tone(&p, 300.0 + 100.0 * i as f64, 0.5, 48_000, 2, 0.5);
            p
        })
        .collect();
    for f in &files {
        import(cache, &[f]);
    }
    let hashes = files.iter().map(|f| blake3_of(f)).collect();
    let size = std::fs::metadata(&files[0]).unwrap().len();
    (files, hashes, size)
}

#[test]
fn eviction_follows_last_played_then_import_time() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (files, h, size) = four_files(dir.path(), &cache);
    // Play c, then a: a is the most recently played, then c; b and d were never played
    // (b imported before d).
    run(reel_in(&cache)
        .args(["play", "--no-gui"])
        .arg(&files[2])
        .arg(&files[0]))
    .ok();
    let entries = list(&cache);
    let entry = |hash: &str| entries.iter().find(|e| e["hash"] == hash).unwrap().clone();
    assert_eq!(entry(&h[0])["play_count"], 1);
    assert_eq!(entry(&h[2])["play_count"], 1);
    assert!(entry(&h[1])["last_played_ms"].is_null());
    assert!(
        entry(&h[0])["last_played_ms"].as_u64() > entry(&h[2])["last_played_ms"].as_u64(),
        "a started after c"
    );

    let gc = |keep: u64| {
        reel(
            &cache,
            &["cache", "gc", "--max-size", &(keep * size).to_string()],
        )
        .ok()
    };
    let out = gc(3);
    assert!(out.stdout.starts_with("evicted 1 object"), "{}", out.stdout);
    assert_eq!(
        cached(&cache),
        sorted(vec![h[0].clone(), h[2].clone(), h[3].clone()]),
        "b first"
    );
    gc(2);
    assert_eq!(
        cached(&cache),
        sorted(vec![h[0].clone(), h[2].clone()]),
        "then d"
    );
    gc(1);
    assert_eq!(
        cached(&cache),
        vec![h[0].clone()],
        "then c, played before a"
    );
    assert_eq!(stats(&cache)["evictions"], 3);
    assert_consistent(&cache);
}

#[test]
fn imports_evict_down_to_the_configured_cap() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let files: Vec<PathBuf> = (0..4)
        .map(|i| {
            let p = dir.path().join(format!("{i}.wav"));
            write_wav(&p, 1 << 20, 10 + i);
            p
        })
        .collect();
    let size = std::fs::metadata(&files[0]).unwrap().len();
    reel(
        &cache,
        &["cache", "config", "--max-size", &(size * 5 / 2).to_string()],
    )
    .ok();
    for f in &files {
        import(&cache, &[f]);
        assert!(stats(&cache)["bytes"].as_u64().unwrap() <= size * 5 / 2);
    }
    let h: Vec<String> = files.iter().map(|f| blake3_of(f)).collect();
    assert_eq!(cached(&cache), sorted(vec![h[2].clone(), h[3].clone()]));
    assert_eq!(stats(&cache)["evictions"], 2);
    // Lowering the cap evicts at once.
    let out = reel(
        &cache,
        &["cache", "config", "--max-size", &size.to_string()],
    )
    .ok();
    assert!(out.stdout.contains("evicted 1 object"), "{}", out.stdout);
    assert_eq!(cached(&cache), vec![h[3].clone()]);
    assert_consistent(&cache);
}

/// A pin held by a live process (here: this test process, through the library) keeps an
/// object through `gc`, `remove` and `clear`; once the pin is dropped it goes like any other.
#[test]
fn a_pinned_object_stays_until_its_process_lets_go() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("cache");
    let (_files, h, _) = four_files(dir.path(), &cache_dir);
    let holder = Cache::open_dir(cache_dir.clone()).unwrap();
    holder.pin(std::slice::from_ref(&h[1])).unwrap();
    assert_eq!(stats(&cache_dir)["pinned"], 1);

    let out = reel(&cache_dir, &["cache", "gc", "--max-size", "0"]).ok();
    assert!(
        out.stdout.contains("in use by running reels"),
        "{}",
        out.stdout
    );
    assert_eq!(cached(&cache_dir), vec![h[1].clone()]);
    let r = reel(&cache_dir, &["cache", "remove", &h[1]]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains(&format!(
            "in use by a running reel (pid {})",
            std::process::id()
        )),
        "{}",
        r.stderr
    );
    let out = reel(&cache_dir, &["cache", "clear"]).ok();
    assert!(out.stdout.contains("kept 1 in use"), "{}", out.stdout);
    assert_eq!(cached(&cache_dir), vec![h[1].clone()]);

    drop(holder);
    reel(&cache_dir, &["cache", "gc", "--max-size", "0"]).ok();
    assert!(cached(&cache_dir).is_empty());
    assert_consistent(&cache_dir);
}

/// What a running `reel play` has queued stays; when that reel is killed (no chance to clean
/// up), its pins are recognised as dead and ignored.
#[test]
fn a_running_players_queue_stays_and_a_killed_players_pins_are_ignored() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let long = dir.path().join("long.flac");
    let next = dir.path().join("next.flac");
    make_tone(&long, 440.0, 30.0, 48_000, 2, 0.5);
    make_tone(&next, 550.0, 1.0, 48_000, 2, 0.5);
    let other = dir.path().join("other.wav");
    make_tone(&other, 660.0, 0.5, 48_000, 2, 0.5);
    import(&cache, &[&other]);
    let mut player = reel_in(&cache)
        .args(["play", "--no-gui"])
        .arg(&long)
        .arg(&next)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(20), || {
        stats(&cache)["pinned"].as_u64() == Some(2)
    });
    reel(&cache, &["cache", "gc", "--max-size", "0"]).ok();
    let playing = sorted(vec![blake3_of(&long), blake3_of(&next)]);
    assert_eq!(
        cached(&cache),
        playing,
        "playing and queued stay, the rest goes"
    );
    let _ = player.kill(); // SIGKILL: its pin file stays behind, unlocked
    wait_child_with_timeout(&mut player, Duration::from_secs(10));
    assert_eq!(
        std::fs::read_dir(cache.join("pins")).unwrap().count(),
        1,
        "the killed player's pin file is still there"
    );
    assert_eq!(stats(&cache)["pinned"], 0);
    reel(&cache, &["cache", "gc", "--max-size", "0"]).ok();
    assert!(cached(&cache).is_empty());
    assert_eq!(std::fs::read_dir(cache.join("pins")).unwrap().count(), 0);
    assert_consistent(&cache);
}
