//! The library survives a reel killed with SIGKILL in the middle of a scan (the database opens,
//! passes SQLite's integrity check, holds whole batches, and the next scan goes on from there),
//! and two reels scanning and listing at once leave it consistent.

mod cache_support;
mod library_support;
mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use cache_support::{reel_lines, write_wav};
use library_support::*;
use support::{wait_child_with_timeout, wait_until};

/// Small WAV files, in folders of 500.
fn many_files(dir: &Path, count: u32) {
    for i in 0..count {
        let sub = dir.join(format!("{:02}", i / 500));
        std::fs::create_dir_all(&sub).unwrap();
        write_wav(&sub.join(format!("{i:05}.wav")), 2048, i);
    }
}

#[test]
fn kill_9_in_the_middle_of_a_scan_leaves_a_library_that_opens_and_a_rescan_completes() {
    const FILES: u32 = 6000;
    let dirs = Dirs::new();
    let music = dirs.music("music");
    many_files(&music, FILES);

    let mut child = dirs
        .cmd()
        .args(["library", "add"])
        .arg(&music)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Its progress, as other reels see it: committed rows. Kill it once some are there.
    wait_until(Duration::from_secs(60), || dirs.rows() > 0);
    child.kill().unwrap(); // SIGKILL
    let status = wait_child_with_timeout(&mut child, Duration::from_secs(10));
    assert_eq!(status.signal(), Some(9), "the scan ended before the kill");

    assert_eq!(dirs.integrity(), "ok");
    let saved = dirs.rows() as u64;
    assert!(saved > 0 && saved < u64::from(FILES), "{saved}");

    // The next scan reads only what the killed one had not saved.
    let r = dirs.add(&[&music]).ok();
    let [added, updated, unchanged, missing, skipped] = summary(&r.stdout);
    assert_eq!(unchanged, saved, "{}", r.stdout);
    assert_eq!(added, u64::from(FILES) - saved, "{}", r.stdout);
    assert_eq!((updated, missing, skipped), (0, 0, 0), "{}", r.stdout);
    assert_eq!(dirs.list(&[]).len(), FILES as usize);
    assert_eq!(dirs.integrity(), "ok");
}

#[test]
fn two_reels_scanning_and_listing_at_once_leave_the_library_consistent() {
    const FILES: u32 = 3000;
    let dirs = Dirs::new();
    let shared = dirs.music("shared");
    many_files(&shared, FILES);
    let own = dirs.music("own");
    many_files(&own, 1000);

    let spawn = |paths: &[&Path]| {
        dirs.cmd()
            .args(["library", "add"])
            .args(paths)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // The second starts once the first has committed: they overlap.
    let first = spawn(&[&shared]);
    wait_until(Duration::from_secs(60), || dirs.rows() > 0);
    let second = spawn(&[&own, &shared]);
    // A third reel lists while both write: it never fails, and never sees a half batch.
    let mut seen = Vec::new();
    let mut listings = 0;
    let mut first_out = None;
    let mut second_out = None;
    let mut children = (Some(first), Some(second));
    while children.0.is_some() || children.1.is_some() || listings == 0 {
        let r = dirs.reel(&["library", "list", "--json"]);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        let n = r.json().as_array().unwrap().len();
        seen.push(n);
        listings += 1;
        for (slot, out) in [
            (&mut children.0, &mut first_out),
            (&mut children.1, &mut second_out),
        ] {
            if let Some(c) = slot
                && c.try_wait().unwrap().is_some()
            {
                *out = Some(slot.take().unwrap().wait_with_output().unwrap());
            }
        }
    }
    for out in [first_out.unwrap(), second_out.unwrap()] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(reel_lines(&stderr).is_empty(), "{stderr}");
    }
    // Listings only grow (rows are added in whole transactions).
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");

    assert_eq!(dirs.integrity(), "ok");
    let tracks = dirs.list(&[]);
    assert_eq!(tracks.len(), (FILES + 1000) as usize);
    let unique: std::collections::HashSet<_> = paths(&tracks).into_iter().collect();
    assert_eq!(unique.len(), tracks.len());
    // A scan after both finds everything unchanged.
    let r = dirs.add(&[&shared, &own]).ok();
    assert_eq!(summary(&r.stdout), [0, 0, u64::from(FILES) + 1000, 0, 0]);
}
