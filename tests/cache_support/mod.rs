//! Helpers for the cache tests (`tests/cache_*.rs`): `mod support; mod cache_support;`.
//!
//! Every test uses its own cache directory (`--cache-dir`, or `REEL_CACHE_DIR` where a test
//! says so), never the session's or the user's.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::{is_root, reel_bin, run_with_timeout};

/// `reel --cache-dir CACHE ...`
pub fn reel_in(cache: &Path) -> Command {
    let mut c = Command::new(reel_bin());
    c.arg("--cache-dir").arg(cache).env("RUST_BACKTRACE", "0");
    c
}

/// What a command did.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    fn from(o: Output) -> Ran {
        Ran {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Panics unless it exited 0.
    #[track_caller]
    pub fn ok(self) -> Ran {
        assert_eq!(
            self.code,
            Some(0),
            "exit {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.code,
            self.stdout,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs `cmd` (60 s at most).
#[track_caller]
pub fn run(cmd: &mut Command) -> Ran {
    Ran::from(run_with_timeout(cmd, Duration::from_secs(60)))
}

/// `reel --cache-dir CACHE ARGS...`, run.
#[track_caller]
pub fn reel(cache: &Path, args: &[&str]) -> Ran {
    run(reel_in(cache).args(args))
}

/// `reel --cache-dir CACHE cache import FILES...`, which must succeed.
#[track_caller]
pub fn import(cache: &Path, files: &[&Path]) -> Ran {
    run(reel_in(cache).args(["cache", "import"]).args(files)).ok()
}

/// `reel cache stats --json`.
#[track_caller]
pub fn stats(cache: &Path) -> serde_json::Value {
    reel(cache, &["cache", "stats", "--json"]).ok().json()
}

/// `reel cache list --json`.
#[track_caller]
pub fn list(cache: &Path) -> Vec<serde_json::Value> {
    reel(cache, &["cache", "list", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

/// Every file under `objects/`.
pub fn object_files(cache: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(subs) = std::fs::read_dir(cache.join("objects")) else {
        return out;
    };
    for sub in subs.flatten() {
        if let Ok(files) = std::fs::read_dir(sub.path()) {
            out.extend(files.flatten().map(|f| f.path()));
        }
    }
    out.sort();
    out
}

/// Every file in `tmp/`.
pub fn temp_files(cache: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(cache.join("tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// BLAKE3 of a file, hex.
pub fn blake3_of(path: &Path) -> String {
    let mut h = blake3::Hasher::new();
    let mut f = std::fs::File::open(path).unwrap();
    std::io::copy(&mut f, &mut h).unwrap();
    h.finalize().to_hex().to_string()
}

/// The hash an object file is named by.
pub fn name_hash(object: &Path) -> String {
    let name = object.file_name().unwrap().to_string_lossy().into_owned();
    name.split('.').next().unwrap().to_string()
}

/// The index file (JSON Lines: a header, then one entry per line) as one JSON value,
/// `{"version", "counters", "entries": [...]}`, as it is on disk (the caller runs a command
/// first if it wants start-up recovery to have happened).
pub fn index_on_disk(cache: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(cache.join("index.json")).unwrap();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let entries: Vec<serde_json::Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    serde_json::json!({
        "version": header["version"],
        "counters": header["counters"],
        "entries": entries,
    })
}

/// Checks everything a consistent cache promises: no temp files; every object's content
/// hashes to its name; the index on disk has exactly one entry per object and no entry
/// without its object. Returns the hashes.
#[track_caller]
pub fn assert_consistent(cache: &Path) -> BTreeSet<String> {
    let temps = temp_files(cache);
    assert!(temps.is_empty(), "temp files left: {temps:?}");
    let mut on_disk = BTreeSet::new();
    for obj in object_files(cache) {
        let want = name_hash(&obj);
        assert_eq!(
            blake3_of(&obj),
            want,
            "{} does not hash to its name",
            obj.display()
        );
        assert!(
            on_disk.insert(want),
            "two objects for one hash: {}",
            obj.display()
        );
    }
    let index = index_on_disk(cache);
    let in_index: BTreeSet<String> = index["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["hash"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(in_index, on_disk, "index and objects/ disagree");
    for e in index["entries"].as_array().unwrap() {
        let h = e["hash"].as_str().unwrap();
        let ext = e["ext"].as_str().unwrap();
        let name = if ext.is_empty() {
            h.to_string()
        } else {
            format!("{h}.{ext}")
        };
        let obj = cache.join("objects").join(&h[..2]).join(name);
        assert_eq!(
            std::fs::metadata(&obj).map(|m| m.len()).ok(),
            e["size"].as_u64(),
            "{}",
            obj.display()
        );
    }
    on_disk
}

/// A 16-bit stereo 48 kHz WAV of `bytes` of audio data (rounded down to whole frames),
/// written directly (fast: 200 MB in well under a second). The samples are a 440 Hz tone with
/// `seed` mixed in, so different seeds give different content.
pub fn write_wav(path: &Path, bytes: u64, seed: u32) {
    let frames = bytes / 4;
    let data_len = (frames * 4) as u32;
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut header = Vec::with_capacity(44);
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&(36 + data_len).to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    header.extend_from_slice(&16u32.to_le_bytes());
    header.extend_from_slice(&1u16.to_le_bytes()); // PCM
    header.extend_from_slice(&2u16.to_le_bytes()); // channels
    header.extend_from_slice(&48_000u32.to_le_bytes());
    header.extend_from_slice(&(48_000u32 * 4).to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&16u16.to_le_bytes());
    header.extend_from_slice(b"data");
    header.extend_from_slice(&data_len.to_le_bytes());
    f.write_all(&header).unwrap();
    // One second of tone, repeated.
    let mut second = Vec::with_capacity(48_000 * 4);
    for i in 0..48_000u32 {
        let s =
            ((2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / 48_000.0).sin() * 8000.0) as i16;
        let s = s.wrapping_add((seed % 7) as i16);
        second.extend_from_slice(&s.to_le_bytes());
        second.extend_from_slice(&s.to_le_bytes());
    }
    // Make the first bytes unique to the seed too.
    second[..4].copy_from_slice(&seed.to_le_bytes());
    let mut left = u64::from(data_len);
    while left > 0 {
        let n = left.min(second.len() as u64) as usize;
        f.write_all(&second[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
}

pub fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// `reel` without the power to read or write other people's files: root (as in CI) can
/// anyway, so the DAC-override capabilities are dropped for the run (as in bad_input.rs).
pub fn reel_without_dac_override(cache: &Path) -> Command {
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--bounding-set=-dac_override,-dac_read_search", "--"])
            .arg(reel_bin());
        c
    } else {
        Command::new(reel_bin())
    };
    cmd.arg("--cache-dir").arg(cache).env("RUST_BACKTRACE", "0");
    cmd
}

/// Lines of `stderr` that start with `reel: `.
pub fn reel_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("reel: ")).collect()
}

/// A tmpfs mounted at a new directory, unmounted (lazily) on drop. Root only.
pub struct Tmpfs {
    pub dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    #[track_caller]
    pub fn mount(size: &str) -> Tmpfs {
        assert!(is_root(), "mounting a tmpfs needs root");
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("mnt");
        std::fs::create_dir(&dir).unwrap();
        let o = run_with_timeout(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size},mode=700")])
                .arg("tmpfs")
                .arg(&dir),
            Duration::from_secs(10),
        );
        assert!(
            o.status.success(),
            "mount tmpfs: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Tmpfs {
            dir,
            _parent: parent,
        }
    }

    /// Makes it read-only.
    #[track_caller]
    pub fn remount_read_only(&self) {
        let o = run_with_timeout(
            Command::new("mount")
                .args(["-o", "remount,ro"])
                .arg(&self.dir),
            Duration::from_secs(10),
        );
        assert!(
            o.status.success(),
            "remount ro: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = run_with_timeout(
            Command::new("umount").arg("-l").arg(&self.dir),
            Duration::from_secs(10),
        );
    }
}

/// A small deterministic PRNG (xorshift64*), for reproducible "random" moments.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}
