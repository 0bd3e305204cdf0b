//! Helpers for the library tests (`tests/library_*.rs`): `mod support; mod cache_support;
//! mod library_support;`. Every test has its own library and cache directories, never the
//! user's.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cache_support::{Ran, run};
use crate::support::{make_tone_codec, reel_bin};

/// A test's own library and cache.
pub struct Dirs {
    pub tmp: tempfile::TempDir,
    pub library: PathBuf,
    pub cache: PathBuf,
}

impl Dirs {
    pub fn new() -> Dirs {
        let tmp = tempfile::tempdir().unwrap();
        let library = tmp.path().join("library");
        let cache = tmp.path().join("cache");
        Dirs {
            tmp,
            library,
            cache,
        }
    }

    /// A folder for music inside the test's temp dir (created).
    pub fn music(&self, name: &str) -> PathBuf {
        let p = self.tmp.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// `reel --library-dir LIB --cache-dir CACHE`, not run.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(reel_bin());
        c.arg("--library-dir")
            .arg(&self.library)
            .arg("--cache-dir")
            .arg(&self.cache)
            .env("RUST_BACKTRACE", "0");
        c
    }

    /// `reel ... ARGS`, run.
    #[track_caller]
    pub fn reel(&self, args: &[&str]) -> Ran {
        run(self.cmd().args(args))
    }

    /// `reel library add PATHS...`, run.
    #[track_caller]
    pub fn add(&self, paths: &[&Path]) -> Ran {
        run(self.cmd().args(["library", "add"]).args(paths))
    }

    /// `reel library list --json ARGS`, which must succeed: its tracks.
    #[track_caller]
    pub fn list(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let r = run(self.cmd().args(["library", "list", "--json"]).args(args)).ok();
        r.json().as_array().expect("a JSON array").clone()
    }

    /// The database file.
    pub fn db(&self) -> PathBuf {
        self.library.join("library.sqlite3")
    }

    /// Rows in the tracks table now, read by a connection of the test's own (0 when there is
    /// no database yet).
    pub fn rows(&self) -> i64 {
        if !self.db().exists() {
            return 0;
        }
        let c = rusqlite::Connection::open(self.db()).unwrap();
        c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        c.query_row("SELECT count(*) FROM tracks", [], |r| r.get(0))
            .unwrap_or(0)
    }

    /// SQLite's own check of the whole database file.
    pub fn integrity(&self) -> String {
        let c = rusqlite::Connection::open(self.db()).unwrap();
        c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap()
    }
}

/// The counts of the summary line `library: A added, U updated, N unchanged, M missing, S
/// skipped (not audio)`, as [added, updated, unchanged, missing, skipped].
#[track_caller]
pub fn summary(stdout: &str) -> [u64; 5] {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("library: "))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(nums.len(), 5, "{line}");
    [nums[0], nums[1], nums[2], nums[3], nums[4]]
}

/// A one-second 16-bit FLAC tone with these tags.
#[track_caller]
pub fn tagged_flac(path: &Path, title: &str, artist: &str, album: &str, track: u32) {
    let meta = [
        format!("title={title}"),
        format!("artist={artist}"),
        format!("album={album}"),
        format!("track={track}"),
        "date=1999-05-03".to_string(),
        "genre=Test".to_string(),
    ];
    let mut args = vec!["-c:a", "flac", "-sample_fmt", "s16"];
    for m in &meta {
        args.push("-metadata");
        args.push(m);
    }
    make_tone_codec(path, &args, 440.0, 1.0, 44_100, 2, 0.5);
}

/// The paths in a listing, as strings, in its order.
pub fn paths(tracks: &[serde_json::Value]) -> Vec<String> {
    tracks
        .iter()
        .map(|t| t["path"].as_str().unwrap().to_string())
        .collect()
}

/// The titles in a listing, in its order.
pub fn titles(tracks: &[serde_json::Value]) -> Vec<String> {
    tracks
        .iter()
        .map(|t| t["title"].as_str().unwrap_or("").to_string())
        .collect()
}
