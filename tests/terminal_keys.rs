//! `reel play --no-gui` on a terminal takes keys as mpv does: space pauses and resumes, → seeks
//! 5 s on, q quits with exit 0. The terminal is a real pseudo-terminal (`script`), the keys
//! are typed into it, and the metrics log shows what each did.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

fn samples(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("state").is_some())
        .collect()
}

fn last(log: &Path) -> serde_json::Value {
    samples(log).pop().unwrap_or_default()
}

#[test]
fn on_a_terminal_space_pauses_the_right_arrow_seeks_and_q_quits() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tone.flac");
    make_tone(&file, 440.0, 20.0, 48_000, 2, 0.5);
    let log = dir.path().join("m.jsonl");
    let cmd = format!(
        "{} play --no-gui --metrics-log {} {}",
        reel_bin().display(),
        log.display(),
        file.display()
    );
    // `script` runs reel on a pseudo-terminal and types what it reads from its stdin.
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &cmd])
        .arg(dir.path().join("typescript"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut keys = child.stdin.take().unwrap();
    let mut type_key = |k: &[u8]| {
        keys.write_all(k).unwrap();
        keys.flush().unwrap();
    };
    let pos = |v: &serde_json::Value| v["position_ms"].as_f64().unwrap_or(0.0);
    wait_until(Duration::from_secs(15), || pos(&last(&log)) > 1000.0);

    type_key(b" ");
    wait_until(Duration::from_secs(5), || last(&log)["state"] == "paused");
    let paused_at = pos(&last(&log));
    type_key(b" ");
    wait_until(Duration::from_secs(5), || last(&log)["state"] == "playing");

    type_key(b"\x1b[C");
    wait_until(Duration::from_secs(5), || {
        pos(&last(&log)) > paused_at + 5000.0
    });
    // A jump, not playing on: two log lines 100 ms apart, 4.5 s or more apart in the track.
    let lines = samples(&log);
    assert!(
        lines.windows(2).any(|w| pos(&w[1]) - pos(&w[0]) > 4500.0),
        "no 5 s jump in the positions logged"
    );

    type_key(b"q");
    let status = wait_child_with_timeout(&mut child, Duration::from_secs(10));
    assert!(status.success(), "reel exited {status} on q");
    let text = std::fs::read_to_string(&log).unwrap();
    let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(summary["event"], "summary");
    let played_s = summary["frames_played"].as_f64().unwrap() / 48_000.0;
    assert!(
        played_s < 12.0,
        "q did not quit: {played_s:.1} s of 20 s played"
    );
}
