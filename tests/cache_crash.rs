//! A reel killed with SIGKILL at any moment of an import leaves no half-written object, and
//! the next command's start-up makes the cache whole again: no temp files, every object
//! hashes to its name, the index and objects/ agree.

mod cache_support;
mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use cache_support::*;
use support::*;

/// Size of the file whose import is killed.
const BIG: u64 = 200 << 20;
const KILLS: usize = 24;

/// The largest temp file of an import in progress.
fn temp_progress(cache: &std::path::Path) -> u64 {
    temp_files(cache)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .max()
        .unwrap_or(0)
}

#[test]
fn kill_9_at_random_moments_of_an_import_never_leaves_a_half_written_object() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.wav");
    write_wav(&big, BIG, 1);
    let big_hash = blake3_of(&big);
    let small = dir.path().join("small.wav");
    write_wav(&small, 256 << 10, 2);
    let small_hash = blake3_of(&small);

    // How long a whole import takes here, to spread the time-based kills over all of it
    // (probe, copy, fsync, rename, index).
    let reference = dir.path().join("reference");
    let t0 = Instant::now();
    import(&reference, &[&big]);
    let whole = t0.elapsed();
    assert_consistent(&reference);

    let mut rng = Rng::new(0x5EED_CAC4E);
    let (mut temp_present, mut completed, mut not_completed) = (0, 0, 0);
    for round in 0..KILLS {
        let cache = dir.path().join(format!("cache-{round}"));
        import(&cache, &[&small]);
        let mut child = reel_in(&cache)
            .args(["cache", "import"])
            .arg(&big)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let wait_for_bytes = |target: u64, child: &mut std::process::Child| {
            while temp_progress(&cache) < target.max(1) {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                assert!(Instant::now() < deadline, "the import made no progress");
                std::thread::sleep(Duration::from_micros(300));
            }
        };
        let wait_until_at = |at: Instant, child: &mut std::process::Child| {
            while Instant::now() < at && child.try_wait().unwrap().is_none() {
                std::thread::sleep((at - Instant::now()).min(Duration::from_micros(300)));
            }
        };
        match round % 3 {
            // At a random byte offset of the copy.
            0 => wait_for_bytes(rng.below(BIG), &mut child),
            // At a random moment of the whole import.
            1 => wait_until_at(
                Instant::now() + Duration::from_nanos(rng.below(whole.as_nanos() as u64)),
                &mut child,
            ),
            // Once everything is copied: during the fsync, the rename or the index write.
            _ => {
                wait_for_bytes(BIG, &mut child);
                let after = rng.below(whole.as_nanos() as u64 / 3);
                wait_until_at(Instant::now() + Duration::from_nanos(after), &mut child);
            }
        }
        if temp_progress(&cache) > 0 {
            temp_present += 1;
        }
        let _ = child.kill(); // SIGKILL
        wait_child_with_timeout(&mut child, Duration::from_secs(10));

        // Nothing under objects/ is half-written, even before any recovery.
        for obj in object_files(&cache) {
            assert_eq!(
                blake3_of(&obj),
                name_hash(&obj),
                "round {round}: {}",
                obj.display()
            );
        }
        // The next command's start-up recovers the rest.
        let entries = list(&cache);
        let hashes = assert_consistent(&cache);
        assert!(
            hashes.contains(&small_hash),
            "round {round}: lost the other object"
        );
        assert!(
            hashes.iter().all(|h| *h == small_hash || *h == big_hash),
            "round {round}: {hashes:?}"
        );
        assert_eq!(entries.len(), hashes.len());
        if hashes.contains(&big_hash) {
            completed += 1;
        } else {
            not_completed += 1;
        }
        // And the cache still works: the import can be done again.
        if round % 4 == 0 {
            import(&cache, &[&big]);
            let hashes = assert_consistent(&cache);
            assert!(hashes.contains(&big_hash));
        }
        std::fs::remove_dir_all(&cache).unwrap();
    }
    eprintln!(
        "{KILLS} kills: {temp_present} while a temp file existed, {completed} after the object \
         was in place, {not_completed} before"
    );
    assert!(
        temp_present >= KILLS / 3,
        "too few kills landed during the copy ({temp_present} of {KILLS})"
    );
    assert!(not_completed >= 1);
}

/// A temp file whose import is still running is never removed by another reel's start-up.
#[test]
fn start_up_cleans_dead_imports_temp_files_but_not_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    reel(&cache, &["cache", "stats"]).ok();
    // A dead process's leftover (no such pid; nobody holds its lock).
    let dead = cache.join("tmp").join("999999999-00000000deadbeef");
    std::fs::write(&dead, b"half a file").unwrap();
    // A live import: this test process, holding the file's lock as an import does.
    let live_path = cache
        .join("tmp")
        .join(format!("{}-00000000cafef00d", std::process::id()));
    let live = std::fs::File::create(&live_path).unwrap();
    live.lock().unwrap();
    reel(&cache, &["cache", "stats"]).ok();
    assert!(!dead.exists(), "a dead import's temp file was left");
    assert!(live_path.exists(), "a live import's temp file was removed");
    drop(live);
    std::fs::remove_file(&live_path).unwrap();
}

/// When the index's rename has happened but the directory fsync after it fails (a failing
/// disk; injected in debug builds), the import stands: the object stays, the index lists it,
/// and reel says in one line that the rename may not survive a power cut. (It used to undo
/// the import's objects, which the new index already listed.)
#[test]
fn a_failed_directory_sync_after_the_index_rename_keeps_the_import() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let first = dir.path().join("first.wav");
    write_wav(&first, 64 << 10, 3);
    import(&cache, &[&first]);
    let song = dir.path().join("song.wav");
    write_wav(&song, 256 << 10, 4);
    let ran = run(reel_in(&cache)
        .env("REEL_FAULT_INDEX_DIR_FSYNC", "1")
        .args(["cache", "import"])
        .arg(&song));
    // First what is on disk: the index and objects/ must agree whatever reel said.
    let on_disk = assert_consistent(&cache);
    assert!(
        on_disk.contains(&blake3_of(&song)),
        "the import was undone: {on_disk:?}"
    );
    let ran = ran.ok();
    let lines = reel_lines(&ran.stderr);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("could not be synced") && l.contains("power cut")),
        "no line about the failed sync: {lines:?}"
    );
    assert!(on_disk.contains(&blake3_of(&first)));
    // And the next import of it, with no fault injected, finds it cached.
    let again = import(&cache, &[&song]);
    let said = format!("{}{}", again.stdout, again.stderr);
    assert!(said.contains("1 already cached"), "{said}");
}
