//! Damage: a corrupt object is never played as if fine and never crashes reel; `verify` finds
//! it and copies it again from its original; a missing or corrupt index is rebuilt from the
//! objects without losing any.

mod cache_support;
mod support;

use std::path::{Path, PathBuf};

use cache_support::*;
use support::*;

/// Flips one byte of `path` at `offset`.
fn flip_byte(path: &Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= 0x5a;
    f.write_all_at(&b, offset).unwrap();
}

fn object_of(cache: &Path, file: &Path) -> PathBuf {
    let hash = blake3_of(file);
    object_files(cache)
        .into_iter()
        .find(|o| name_hash(o) == hash)
        .unwrap_or_else(|| panic!("{} is not cached", file.display()))
}

fn summary(log: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(log).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(v["event"], "summary", "{v}");
    v
}

/// A byte flipped in the middle passes the quick check before playing; the full check that
/// runs once audio starts catches it: the track is stopped, named in one line, removed from
/// the cache, and the next file still plays.
#[test]
fn play_stops_a_corrupt_object_says_so_and_plays_the_rest() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let bad = dir.path().join("bad.wav");
    let good = dir.path().join("good.wav");
    make_tone(&bad, 440.0, 3.0, 48_000, 2, 0.5);
    make_tone(&good, 550.0, 1.0, 48_000, 2, 0.5);
    import(&cache, &[&bad, &good]);
    let object = object_of(&cache, &bad);
    flip_byte(&object, std::fs::metadata(&object).unwrap().len() / 2);

    let log = dir.path().join("m.jsonl");
    let r = run(reel_in(&cache)
        .args(["play", "--no-gui", "--metrics-log"])
        .arg(&log)
        .arg(&bad)
        .arg(&good));
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let lines = reel_lines(&r.stderr);
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(
        lines[0].starts_with(&format!(
            "reel: {}: the cached copy is corrupt",
            bad.display()
        )),
        "{}",
        lines[0]
    );
    let s = summary(&log);
    let played = s["frames_played"].as_u64().unwrap();
    assert!(
        (48_000..48_000 + 3 * 48_000 / 2).contains(&played),
        "the good file plays in full, the corrupt one is cut short: {s}"
    );
    assert_eq!(s["tracks"][1]["frames_decoded"], 48_000, "{s}");
    // Gone from the cache; the next import copies the file again, intact.
    assert!(!object.exists());
    assert_consistent(&cache);
    import(&cache, &[&bad]);
    assert_eq!(blake3_of(&object_of(&cache, &bad)), blake3_of(&bad));
    assert_consistent(&cache);
}

/// A corrupt object still to come in the queue is found (while the one before it plays) and
/// never heard.
#[test]
fn play_skips_a_corrupt_object_still_to_come_without_playing_any_of_it() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let first = dir.path().join("first.wav");
    let bad = dir.path().join("bad.wav");
    make_tone(&first, 440.0, 2.0, 48_000, 2, 0.5);
    make_tone(&bad, 550.0, 2.0, 48_000, 2, 0.5);
    import(&cache, &[&first, &bad]);
    let object = object_of(&cache, &bad);
    flip_byte(&object, std::fs::metadata(&object).unwrap().len() / 2);
    let log = dir.path().join("m.jsonl");
    let r = run(reel_in(&cache)
        .args(["play", "--no-gui", "--metrics-log"])
        .arg(&log)
        .arg(&first)
        .arg(&bad));
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let lines = reel_lines(&r.stderr);
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(
        lines[0].starts_with(&format!(
            "reel: {}: the cached copy is corrupt (its content does not match its BLAKE3 hash); \
             skipped it",
            bad.display()
        )),
        "{}",
        lines[0]
    );
    let s = summary(&log);
    assert_eq!(
        s["frames_played"],
        2 * 48_000,
        "only the first file is heard: {s}"
    );
    assert_eq!(s["tracks"][1]["frames_decoded"], 0, "{s}");
    assert!(!object.exists());
    assert_consistent(&cache);
}

/// Damage the quick check sees (a byte in the first 64 KiB, or a truncated object) is found
/// before playing: the file is copied again from the original and plays in full.
#[test]
fn damage_found_before_playing_is_repaired_from_the_file() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let a = dir.path().join("a.flac");
    let b = dir.path().join("b.wav");
    make_tone(&a, 440.0, 1.0, 48_000, 2, 0.5);
    make_tone(&b, 550.0, 1.0, 48_000, 2, 0.5);
    import(&cache, &[&a, &b]);
    flip_byte(&object_of(&cache, &a), 100);
    let ob = object_of(&cache, &b);
    let len = std::fs::metadata(&ob).unwrap().len();
    std::fs::File::options()
        .write(true)
        .open(&ob)
        .unwrap()
        .set_len(len - 1000)
        .unwrap();
    let log = dir.path().join("m.jsonl");
    let r = run(reel_in(&cache)
        .args(["play", "--no-gui", "--metrics-log"])
        .arg(&log)
        .arg(&a)
        .arg(&b))
    .ok();
    let lines = reel_lines(&r.stderr);
    assert_eq!(lines.len(), 2, "{}", r.stderr);
    for (line, file) in lines.iter().zip([&a, &b]) {
        assert!(
            line.contains(&format!("cached copy of {} was damaged", file.display())),
            "{line}"
        );
    }
    assert_eq!(summary(&log)["frames_played"], 2 * 48_000);
    assert_consistent(&cache);
}

#[test]
fn verify_removes_corrupt_objects_and_restores_them_from_their_originals() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let a = dir.path().join("a.wav");
    let b = dir.path().join("b.wav");
    let c = dir.path().join("c.wav");
    make_tone(&a, 440.0, 1.0, 48_000, 2, 0.5);
    make_tone(&b, 550.0, 1.0, 48_000, 2, 0.5);
    make_tone(&c, 660.0, 1.0, 48_000, 2, 0.5);
    import(&cache, &[&a, &b, &c]);
    let (oa, ob) = (object_of(&cache, &a), object_of(&cache, &b));
    flip_byte(&oa, 150_000);
    flip_byte(&ob, 150_000);
    let hash_b = blake3_of(&b);
    std::fs::remove_file(&b).unwrap();

    let r = reel(&cache, &["cache", "verify", "--json"]);
    assert_eq!(
        r.code,
        Some(1),
        "one object could not be restored: {}",
        r.stderr
    );
    let v = r.json();
    assert_eq!(v["checked"], 3, "{v}");
    assert_eq!(v["ok"], 1, "{v}");
    let corrupt = v["corrupt"].as_array().unwrap();
    assert_eq!(corrupt.len(), 2, "{v}");
    let find = |name: &str| corrupt.iter().find(|p| p["name"] == name).unwrap().clone();
    assert_eq!(
        find("a.wav")["restored_from"],
        std::fs::canonicalize(&a).unwrap().to_str().unwrap()
    );
    assert!(find("b.wav")["restored_from"].is_null());
    assert!(
        find("b.wav")["detail"]
            .as_str()
            .unwrap()
            .contains("original is gone")
    );
    // a is back, intact; b is gone.
    assert_eq!(blake3_of(&oa), name_hash(&oa));
    assert!(!ob.exists());
    let hashes = assert_consistent(&cache);
    assert!(!hashes.contains(&hash_b));
    assert_eq!(hashes.len(), 2);

    // Now all is well: the text form says so, exit 0.
    let r = reel(&cache, &["cache", "verify"]).ok();
    assert_eq!(r.stdout.trim(), "verified 2 objects: 2 ok");
}

/// A missing or unreadable index is rebuilt from the objects (each re-hashed and re-probed):
/// no object is lost; a damaged one found on the way is removed.
#[test]
fn a_missing_or_corrupt_index_is_rebuilt_from_the_objects() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let files: Vec<PathBuf> = ["a.flac", "b.mp3", "c.wav"]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let p = dir.path().join(n);
            make_tone(&p, 440.0 + 110.0 * i as f64, 1.0, 44_100, 2, 0.5);
            p
        })
        .collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    import(&cache, &refs);
    let want = assert_consistent(&cache);

    std::fs::remove_file(cache.join("index.json")).unwrap();
    let entries = list(&cache);
    assert_eq!(entries.len(), 3);
    for e in &entries {
        assert!(
            ["flac", "mp3", "pcm_s16le"].contains(&e["codec"].as_str().unwrap()),
            "re-probed: {e}"
        );
        assert_eq!(e["rate"], 44_100);
    }
    assert_eq!(assert_consistent(&cache), want);

    // Half an index (as a crash of something that did not write it atomically would leave).
    let text = std::fs::read(cache.join("index.json")).unwrap();
    std::fs::write(cache.join("index.json"), &text[..text.len() / 2]).unwrap();
    // And one object damaged meanwhile.
    let damaged = object_of(&cache, &files[2]);
    flip_byte(&damaged, 5000);
    assert_eq!(list(&cache).len(), 2);
    assert!(!damaged.exists());
    assert_consistent(&cache);
}

/// A reel that dies in the middle of changing objects/ leaves the `dirty` marker; the next
/// start then makes the index and objects/ agree: an object being added (renamed in, not yet
/// in the index) is adopted, one being removed (out of the index, not yet unlinked) is
/// deleted. Changes made behind reel's back (an object deleted by hand) are found by `gc`.
#[test]
fn start_up_after_a_crash_mid_change_and_gc_after_tampering_make_index_and_objects_agree() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let a = dir.path().join("a.wav");
    let b = dir.path().join("b.wav");
    let c = dir.path().join("c.wav");
    make_tone(&a, 440.0, 0.5, 48_000, 2, 0.5);
    make_tone(&b, 550.0, 0.5, 48_000, 2, 0.5);
    make_tone(&c, 660.0, 0.5, 48_000, 2, 0.5);
    import(&cache, &[&a, &b, &c]);
    let (ob, oc) = (object_of(&cache, &b), object_of(&cache, &c));
    let (saved_b, saved_c) = (std::fs::read(&ob).unwrap(), std::fs::read(&oc).unwrap());
    // Take b and c out of the index (as `cache remove` does first)...
    reel(
        &cache,
        &["cache", "remove", b.to_str().unwrap(), c.to_str().unwrap()],
    )
    .ok();
    // ...and put their objects back, as if the reel had died before unlinking them (c) or
    // after renaming a new object in but before writing the index (b).
    std::fs::create_dir_all(ob.parent().unwrap()).unwrap();
    std::fs::create_dir_all(oc.parent().unwrap()).unwrap();
    std::fs::write(&ob, &saved_b).unwrap();
    std::fs::write(&oc, &saved_c).unwrap();
    std::fs::write(
        cache.join("dirty"),
        format!("{{\"removing\":[\"{}\"]}}", name_hash(&oc)),
    )
    .unwrap();
    let entries = list(&cache);
    assert_eq!(entries.len(), 2, "a, and b adopted: {entries:?}");
    assert!(ob.exists() && !oc.exists());
    assert!(!cache.join("dirty").exists());
    assert_consistent(&cache);

    // An object deleted by hand: gc notices (and a play of it would copy the file again)...
    std::fs::remove_file(&ob).unwrap();
    reel(&cache, &["cache", "gc"]).ok();
    assert_eq!(list(&cache).len(), 1);
    assert_consistent(&cache);
    // ...and so does verify.
    std::fs::remove_file(object_of(&cache, &a)).unwrap();
    let r = reel(&cache, &["cache", "verify"]).ok();
    assert_eq!(r.stdout.trim(), "verified 0 objects: 0 ok", "{}", r.stdout);
    assert!(list(&cache).is_empty());
    assert_consistent(&cache);
}

/// A reel that dies mid-change while another reel has the cache open: the survivor's next
/// change must not simply delete the dead reel's `dirty` marker. It first makes the index and
/// objects/ agree (adopting the object being added, deleting the one being removed), as a
/// fresh start would; otherwise the dead reel's objects stay in objects/, outside the index
/// and the size cap, until someone runs `gc`.
#[test]
fn a_running_reel_finishes_what_a_reel_that_died_mid_change_left() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let [a, b, c, d] = ["a.wav", "b.wav", "c.wav", "d.wav"].map(|n| dir.path().join(n));
    for (i, f) in [&a, &b, &c, &d].into_iter().enumerate() {
        make_tone(f, 440.0 + 110.0 * i as f64, 0.5, 48_000, 2, 0.5);
    }
    import(&cache, &[&a, &b, &c]);
    let (ob, oc) = (object_of(&cache, &b), object_of(&cache, &c));
    let (saved_b, saved_c) = (std::fs::read(&ob).unwrap(), std::fs::read(&oc).unwrap());
    reel(
        &cache,
        &["cache", "remove", b.to_str().unwrap(), c.to_str().unwrap()],
    )
    .ok();

    // This reel is running (its cache open) when another one dies mid-change...
    let running = reel::cache::Cache::open_dir(cache.clone()).unwrap();
    std::fs::create_dir_all(ob.parent().unwrap()).unwrap();
    std::fs::create_dir_all(oc.parent().unwrap()).unwrap();
    std::fs::write(&ob, &saved_b).unwrap();
    std::fs::write(&oc, &saved_c).unwrap();
    std::fs::write(
        cache.join("dirty"),
        format!("{{\"removing\":[\"{}\"]}}", name_hash(&oc)),
    )
    .unwrap();

    // ...and then imports a file.
    let report = running.import(std::slice::from_ref(&d), Default::default(), &mut |_| {});
    assert!(report.stopped.is_none(), "{:?}", report.stopped);
    assert!(
        report.results.iter().all(Result::is_ok),
        "{:?}",
        report.results
    );
    running.forget_at_exit();

    assert!(ob.exists() && !oc.exists(), "b adopted, c deleted");
    let hashes = assert_consistent(&cache);
    assert_eq!(hashes.len(), 3, "a, b and d: {hashes:?}");
    assert!(!cache.join("dirty").exists());
}

/// An index that is absurdly big (here a 1 TiB sparse file: a disk error, or something else
/// written over it) is damaged like any other, and rebuilt from the objects: reel does not
/// try to read it all into memory and die for want of it.
#[test]
fn a_huge_index_is_rebuilt_not_read_into_memory() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let song = dir.path().join("a.wav");
    make_tone(&song, 440.0, 0.5, 48_000, 2, 0.5);
    import(&cache, &[&song]);
    let want = assert_consistent(&cache);
    std::fs::OpenOptions::new()
        .write(true)
        .open(cache.join("index.json"))
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    for args in [["cache", "list"], ["cache", "gc"]] {
        // Under an address-space limit, so a reel that did try cannot take the machine with it.
        let r = run(std::process::Command::new("prlimit")
            .arg("--as=4000000000")
            .arg(reel_bin())
            .arg("--cache-dir")
            .arg(&cache)
            .args(args));
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
        assert!(reel_lines(&r.stderr).is_empty(), "{}", r.stderr);
    }
    assert_eq!(assert_consistent(&cache), want);
    assert!(std::fs::metadata(cache.join("index.json")).unwrap().len() < 1 << 20);
}
