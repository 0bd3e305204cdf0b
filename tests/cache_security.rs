//! A cache directory that is not the user's own is refused; a full or unwritable cache gives
//! one clear line and leaves nothing partial behind.

mod cache_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use cache_support::*;
use support::*;

const NOBODY: u32 = 65534;

/// A directory owned by another user: as root, one chowned to nobody; otherwise `/`, which
/// belongs to root. Returns it (and the temp dir that holds it, to keep alive).
fn foreign_dir() -> (PathBuf, Option<tempfile::TempDir>) {
    if is_root() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("someone-elses");
        std::fs::create_dir(&d).unwrap();
        std::os::unix::fs::chown(&d, Some(NOBODY), Some(NOBODY)).unwrap();
        (d, Some(t))
    } else {
        (PathBuf::from("/"), None)
    }
}

#[track_caller]
fn assert_refused(r: &Ran, dir: &Path, why: &str) {
    assert_eq!(r.code, Some(5), "{}", r.stderr);
    let lines = reel_lines(&r.stderr);
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(
        lines[0].starts_with(&format!("reel: cache {}: ", dir.display())) && lines[0].contains(why),
        "{}",
        lines[0]
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn a_cache_dir_owned_by_another_user_is_refused() {
    let (foreign, _keep) = foreign_dir();
    let before: Vec<_> = std::fs::read_dir(&foreign)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let file = tempfile::tempdir().unwrap();
    let song = file.path().join("a.wav");
    make_tone(&song, 440.0, 0.5, 48_000, 2, 0.5);
    for args in [
        vec!["cache", "stats"],
        vec!["cache", "import", song.to_str().unwrap()],
        vec!["play", "--no-gui", song.to_str().unwrap()],
    ] {
        let r = reel(&foreign, &args);
        assert_refused(&r, &foreign, "owned by another user");
    }
    // Also through REEL_CACHE_DIR.
    let r = run(Command::new(reel_bin())
        .args(["cache", "list"])
        .env("REEL_CACHE_DIR", &foreign));
    assert_refused(&r, &foreign, "owned by another user");
    let after: Vec<_> = std::fs::read_dir(&foreign)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(before, after, "nothing was written into it");
}

#[test]
fn a_symlink_to_another_users_dir_is_refused_and_to_our_own_is_followed() {
    let (foreign, _keep) = foreign_dir();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("cache");
    std::os::unix::fs::symlink(&foreign, &link).unwrap();
    let r = reel(&link, &["cache", "stats"]);
    assert_refused(&r, &link, "is a symlink to");
    assert!(r.stderr.contains("belongs to another user"), "{}", r.stderr);

    let ours = dir.path().join("real-cache");
    std::fs::create_dir(&ours).unwrap();
    let link2 = dir.path().join("cache2");
    std::os::unix::fs::symlink(&ours, &link2).unwrap();
    let song = dir.path().join("a.wav");
    make_tone(&song, 440.0, 0.5, 48_000, 2, 0.5);
    import(&link2, &[&song]);
    assert_eq!(object_files(&ours).len(), 1);
    assert_eq!(mode_of(&ours), 0o700);
}

/// A cache directory of ours that others could write into may hold what they planted there:
/// a symlink named like reel's own temp file would make reel overwrite whatever it points to.
/// reel makes such a directory private, and refuses it while it holds another user's files.
#[test]
fn a_cache_dir_holding_another_users_files_is_refused_and_nothing_is_overwritten() {
    assert!(is_root(), "planting another user's symlink needs root");
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let song = dir.path().join("a.wav");
    make_tone(&song, 440.0, 0.5, 48_000, 2, 0.5);
    import(&cache, &[&song]);
    // Once open to everyone; meanwhile someone planted a symlink to a file of ours.
    set_mode(&cache, 0o777);
    let precious = dir.path().join("precious.txt");
    std::fs::write(&precious, "precious\n").unwrap();
    let planted = cache.join("index.json.tmp");
    std::os::unix::fs::symlink(&precious, &planted).unwrap();
    std::os::unix::fs::lchown(&planted, Some(NOBODY), Some(NOBODY)).unwrap();

    let other = dir.path().join("b.wav");
    make_tone(&other, 550.0, 0.5, 48_000, 2, 0.5);
    let r = reel(&cache, &["cache", "import", other.to_str().unwrap()]);
    assert_refused(&r, &cache, "index.json.tmp");
    assert!(r.stderr.contains("another user"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious\n");
    assert_eq!(mode_of(&cache), 0o700, "made private all the same");
    // Refused again next time (the directory is private now, but still holds the file).
    let r = reel(&cache, &["cache", "stats"]);
    assert_refused(&r, &cache, "index.json.tmp");
}

/// Disk full (a 2 MiB tmpfs): one line naming the cache, the cause and the file; nothing
/// partial; the cache keeps working for what fits.
#[test]
fn a_full_disk_gives_one_clear_line_and_leaves_nothing_partial() {
    let fs = Tmpfs::mount("2m");
    let cache = fs.dir.join("cache");
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.wav");
    write_wav(&small, 100 << 10, 1);
    let big = dir.path().join("big.wav");
    write_wav(&big, 4 << 20, 2);
    import(&cache, &[&small]);
    let index_before = std::fs::read(cache.join("index.json")).unwrap();

    let r = reel(&cache, &["cache", "import", big.to_str().unwrap()]);
    assert_refused(&r, &cache, "no space left on device");
    assert_eq!(
        reel_lines(&r.stderr)[0],
        format!(
            "reel: cache {}: no space left on device while importing {}",
            cache.display(),
            big.display()
        )
    );
    assert!(temp_files(&cache).is_empty(), "a temp file was left");
    assert_eq!(object_files(&cache).len(), 1);
    assert_eq!(
        std::fs::read(cache.join("index.json")).unwrap(),
        index_before
    );
    assert_consistent(&cache);

    // `reel play` says the same, and plays nothing.
    let r = reel(&cache, &["play", "--no-gui", big.to_str().unwrap()]);
    assert_refused(&r, &cache, "no space left on device while importing");
    assert!(temp_files(&cache).is_empty());

    // What fits still goes in.
    let another = dir.path().join("another.wav");
    write_wav(&another, 100 << 10, 3);
    import(&cache, &[&another]);
    assert_eq!(assert_consistent(&cache).len(), 2);
}

/// The same with a file-size limit (RLIMIT_FSIZE): EFBIG instead of SIGXFSZ.
#[test]
fn a_file_size_limit_gives_one_clear_line_and_leaves_nothing_partial() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    reel(&cache, &["cache", "stats"]).ok();
    let big = dir.path().join("big.wav");
    write_wav(&big, 6 << 20, 4);
    let r = run(Command::new("prlimit")
        .arg("--fsize=1000000")
        .arg(reel_bin())
        .arg("--cache-dir")
        .arg(&cache)
        .args(["cache", "import"])
        .arg(&big));
    assert_refused(&r, &cache, "file too large while importing");
    assert!(temp_files(&cache).is_empty());
    assert!(object_files(&cache).is_empty());
    assert_consistent(&cache);
}

/// A read-only cache (a tmpfs remounted read-only) and an unwritable one (no write
/// permission, without root's override): one clear line, exit 5, nothing changed.
#[test]
fn a_read_only_or_unwritable_cache_gives_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let song = dir.path().join("a.wav");
    make_tone(&song, 440.0, 0.5, 48_000, 2, 0.5);
    let other = dir.path().join("b.wav");
    make_tone(&other, 550.0, 0.5, 48_000, 2, 0.5);

    let fs = Tmpfs::mount("8m");
    let cache = fs.dir.join("cache");
    import(&cache, &[&song]);
    fs.remount_read_only();
    for args in [
        vec!["cache", "import", other.to_str().unwrap()],
        vec!["play", "--no-gui", song.to_str().unwrap()],
    ] {
        let r = reel(&cache, &args);
        assert_refused(&r, &cache, "read-only file system");
    }
    assert_eq!(object_files(&cache).len(), 1);

    let cache = dir.path().join("cache");
    import(&cache, &[&song]);
    let o = run_with_timeout(
        Command::new("chmod").args(["-R", "u-w"]).arg(&cache),
        std::time::Duration::from_secs(10),
    );
    assert!(o.status.success());
    let r = run(reel_without_dac_override(&cache)
        .args(["cache", "import"])
        .arg(&other));
    assert_refused(&r, &cache, "permission denied");
    let o = run_with_timeout(
        Command::new("chmod").args(["-R", "u+w"]).arg(&cache),
        std::time::Duration::from_secs(10),
    );
    assert!(o.status.success());
    assert_eq!(object_files(&cache).len(), 1);
    assert_consistent(&cache);
}
