//! Ten hours of audio, played faster than real time through ALSA's `null` plugin (which
//! consumes audio as fast as it is written): memory stays flat, and the reported position
//! never drifts from the frames actually played.
//!
//! A 2-minute FLAC is queued 300 times (one cached object, 300 queue entries), so no 7 GB file
//! is needed; every track boundary is a gapless hand-over, 299 of them.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::faults::*;
use support::*;

const RATE: u64 = 48_000;
const TRACK_SECS: u64 = 120;
const TRACKS: u64 = 300;

/// Growth of the resident set allowed after warm-up (the first hour), in KiB. A leak of
/// even a few bytes per callback or per packet over ten hours (about 3.4 million callbacks,
/// 8.4 million FLAC frames) would be tens of megabytes.
const RSS_GROWTH_LIMIT_KIB: u64 = 4 * 1024;

fn vm_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn ten_hours_through_the_null_device_keep_memory_flat_and_position_exact() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two-minutes.flac");
    // ffmpeg's `sine` source: `make_tone`'s expression evaluator is too slow for minutes.
    let made = run_with_timeout(
        std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-f", "lavfi", "-i"])
            .arg(format!(
                "sine=frequency=440:sample_rate={RATE}:duration={TRACK_SECS}"
            ))
            .args(["-ac", "2", "-c:a", "flac"])
            .arg(&file),
        Duration::from_secs(120),
    );
    assert!(made.status.success(), "{made:?}");
    let alsa = NullAlsa::new();
    let log = dir.path().join("m.jsonl");
    let mut cmd = alsa.reel();
    cmd.args(["play", "--no-gui", "--metrics-log"]).arg(&log);
    for _ in 0..TRACKS {
        cmd.arg(&file);
    }
    let t0 = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Resident set size, sampled with the metrics log's own figure of what has played.
    let mut rss: Vec<(u64, u64)> = Vec::new();
    // About 100 s on an idle 2-core machine (a few hundred times real time); the deadline
    // leaves room for a loaded one.
    let deadline = t0 + Duration::from_secs(900);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if let (Some(kib), Ok(text)) = (vm_kib(pid, "VmRSS:"), std::fs::read_to_string(&log))
            && let Some(last) = text.lines().rev().nth(1)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(last)
            && let Some(played) = v["frames_played"].as_u64()
        {
            rss.push((played, kib));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ten hours did not play within {:?}", deadline - t0);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let wall = t0.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status}: {stderr}");

    let (samples, summary) = read_metrics(&log);
    let total = TRACKS * TRACK_SECS * RATE;
    assert_eq!(
        summary["frames_played"].as_u64(),
        Some(total),
        "exactly ten hours of frames played: {summary}"
    );
    for t in summary["tracks"].as_array().unwrap() {
        assert_eq!(t["frames_decoded"].as_u64(), Some(TRACK_SECS * RATE), "{t}");
        assert!(t["error"].is_null(), "{t}");
    }
    eprintln!(
        "{:.1} h of audio in {wall:?} ({:.0}× real time), {} metrics lines, {} RSS samples",
        (TRACKS * TRACK_SECS) as f64 / 3600.0,
        (TRACKS * TRACK_SECS) as f64 / wall.as_secs_f64(),
        samples.len(),
        rss.len()
    );

    // Memory: flat after the first hour.
    let warm = TRACKS * TRACK_SECS * RATE / 10;
    let after: Vec<u64> = rss
        .iter()
        .filter(|(played, _)| *played >= warm)
        .map(|(_, kib)| *kib)
        .collect();
    assert!(
        after.len() >= 20,
        "too few RSS samples after warm-up: {rss:?}"
    );
    let (first, max) = (after[0], *after.iter().max().unwrap());
    eprintln!(
        "RSS after warm-up: {first} KiB, max {max} KiB, last {} KiB",
        after.last().unwrap()
    );
    assert!(
        max - first <= RSS_GROWTH_LIMIT_KIB,
        "RSS grew from {first} KiB to {max} KiB over the run"
    );

    // Position: track index × track length + position = frames played, in every sample. The
    // two figures of a sample are read a few microseconds apart (more when the machine is busy
    // and the reading thread is preempted), during which the null device plays on at hundreds
    // of times real time, and the heard position trails the ring by the device's period and
    // latency. So single samples may be off by that skew; what must not happen is an offset
    // that grows: compare the medians of the first and the last third of the run.
    let mut diffs = Vec::new();
    for s in samples.iter().filter(|s| s["state"] == "playing") {
        let (Some(track), Some(pos), Some(played)) = (
            s["track"].as_u64(),
            s["position_ms"].as_f64(),
            s["frames_played"].as_u64(),
        ) else {
            continue;
        };
        assert_eq!(
            s["duration_ms"].as_f64(),
            Some((TRACK_SECS * 1000) as f64),
            "{s}"
        );
        let heard_ms = (track * TRACK_SECS * 1000) as f64 + pos;
        let played_ms = played as f64 * 1000.0 / RATE as f64;
        diffs.push(played_ms - heard_ms);
    }
    assert!(diffs.len() >= 20, "too few playing samples");
    let median = |d: &[f64]| {
        let mut d = d.to_vec();
        d.sort_by(f64::total_cmp);
        d[d.len() / 2]
    };
    let mut abs: Vec<f64> = diffs.iter().map(|d| d.abs()).collect();
    abs.sort_by(f64::total_cmp);
    let p90 = abs[abs.len() * 9 / 10];
    let third = diffs.len() / 3;
    let (early, late) = (
        median(&diffs[..third]),
        median(&diffs[diffs.len() - third..]),
    );
    eprintln!(
        "frames played − heard position over {} samples: median {early:.1} ms in the first \
         third, {late:.1} ms in the last; 90 % within {p90:.1} ms; worst {:.1} ms",
        diffs.len(),
        abs.last().unwrap()
    );
    assert!(
        early.abs() < 100.0 && late.abs() < 100.0,
        "the heard position is off the frames played: {early:.1} ms, then {late:.1} ms"
    );
    assert!(
        (late - early).abs() < 50.0,
        "the position drifts: {early:.1} ms off early, {late:.1} ms late"
    );
    assert!(p90 < 1000.0, "90 % of samples within {p90:.1} ms");
}
