//! The level meters through the real player: `reel play --no-gui --metrics-log` into the
//! private sound server's null sink. A file whose samples reach full scale latches `clipped`,
//! one at -6 dBFS does not, and the true peak is logged per channel. Run by `make test`,
//! which starts the sound server.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::*;

/// The logged lines of `reel play --no-gui --metrics-log LOG file`, and its summary.
fn play_logged(dir: &Path, file: &Path) -> (Vec<serde_json::Value>, serde_json::Value) {
    let log = dir.join("metrics.jsonl");
    let _sink = lock_sink();
    let out = run_with_timeout(
        Command::new(reel_bin())
            .args(["play", "--no-gui", "--metrics-log"])
            .arg(&log)
            .arg(file),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.pop().unwrap();
    assert_eq!(summary["event"], "summary");
    (lines, summary)
}

/// The highest true peak logged on any channel, in dBTP.
fn loudest_true_peak(lines: &[serde_json::Value]) -> f64 {
    lines
        .iter()
        .flat_map(|l| l["true_peak_dbtp"].as_array().unwrap().clone())
        .map(|v| v.as_f64().unwrap())
        .fold(f64::NEG_INFINITY, f64::max)
}

#[test]
fn a_file_that_reaches_full_scale_latches_clipped_and_one_at_minus_6_db_does_not() {
    let dir = tempfile::tempdir().unwrap();
    // A 1 kHz sine at 48 kHz has a sample on each crest: the full-scale one reaches -1.0.
    let loud = dir.path().join("full-scale.wav");
    let quiet = dir.path().join("minus-6.wav");
    make_tone(&loud, 1000.0, 1.5, 48_000, 2, 1.0);
    make_tone(&quiet, 1000.0, 1.5, 48_000, 2, 0.5);

    let (lines, summary) = play_logged(dir.path(), &quiet);
    assert!(
        lines.iter().all(|l| l["clipped"] == false),
        "-6 dBFS clipped"
    );
    assert_eq!(summary["clipped"], false);
    let tp = loudest_true_peak(&lines);
    assert!(
        (tp + 6.02).abs() < 0.2,
        "true peak of a -6 dBFS sine: {tp} dBTP"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["true_peak_dbtp"].as_array().unwrap().len() == 2),
        "a true peak per channel"
    );

    let (lines, summary) = play_logged(dir.path(), &loud);
    assert_eq!(summary["clipped"], true);
    let first = lines.iter().position(|l| l["clipped"] == true);
    let first = first.expect("a full-scale file never latched clipped");
    assert!(
        lines[first..].iter().all(|l| l["clipped"] == true),
        "the clip indicator stays latched"
    );
    let tp = loudest_true_peak(&lines);
    assert!(tp.abs() < 0.2, "true peak of a full-scale sine: {tp} dBTP");
}
