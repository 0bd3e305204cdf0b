//! Helpers shared by the benches: where results go, and whether this is a real bench run.
//!
//! Lives in `benches/common/mod.rs` (not `benches/common.rs`) so Cargo does not mistake it for
//! a bench target of its own.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Cargo's target directory: `$CARGO_TARGET_DIR` when set (as Cargo and criterion honour it),
/// otherwise `target/` next to `Cargo.toml`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
    }
}

/// How the bench binary was started, as far as the extra measurements beyond criterion's own
/// run are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// `cargo bench` (Cargo passes `--bench`): measure fully and write the results file.
    Full,
    /// `cargo test --benches` (criterion's quick test mode): exercise the code with small
    /// counts, write nothing, so a test run never overwrites real results.
    Test,
    /// `-- --list`: only list the benchmarks.
    List,
}

pub fn run_mode() -> RunMode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        RunMode::List
    } else if args.iter().any(|a| a == "--bench") {
        RunMode::Full
    } else {
        RunMode::Test
    }
}

/// Write `value` as pretty JSON to `<target>/bench-results/<name>.json` and return the path.
pub fn write_results(name: &str, value: &serde_json::Value) -> std::io::Result<PathBuf> {
    let dir = target_dir().join("bench-results");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    std::fs::write(&path, text + "\n")?;
    Ok(path)
}

/// Seconds since the Unix epoch, to date a results file.
pub fn unix_time_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Nearest-rank percentile (`pct` in 0..=100) of an ascending slice; 0 for an empty one.
pub fn percentile_sorted(sorted: &[u64], pct: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (pct / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
