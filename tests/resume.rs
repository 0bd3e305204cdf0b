//! Resume: the window closed by SIGTERM while playing opens again paused at the track and the
//! position the listener was at, and makes no sound by itself. Under Xvfb, on the test sound
//! server, with the sink recorded from outside.
#![cfg(feature = "gui")]

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::xvfb::Xvfb;
use support::*;

fn window(x: &Xvfb, home: &Path, log: &Path, files: &[&Path]) -> Child {
    Command::new(reel_bin())
        .env("DISPLAY", &x.display)
        .env_remove("WAYLAND_DISPLAY")
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .args(["--cache-dir", home.join("cache").to_str().unwrap()])
        .arg("--metrics-log")
        .arg(log)
        .args(files)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn last_line(path: &Path) -> Option<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v.get("state").is_some())
}

fn sigterm_and_wait(mut child: Child) {
    send_signal(child.id(), libc::SIGTERM);
    let status = wait_child_with_timeout(&mut child, Duration::from_secs(15));
    assert!(status.success(), "the window exited {status}");
}

#[test]
fn a_window_closed_while_playing_reopens_paused_where_it_was_and_silent() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let x = Xvfb::start();
        let home = tempfile::tempdir().unwrap();
        let a = home.path().join("a.flac");
        let b = home.path().join("b.flac");
        make_tone(&a, 440.0, 2.0, 48_000, 2, 0.5);
        make_tone(&b, 660.0, 20.0, 48_000, 2, 0.5);

        // First session: A, then B playing, closed 2.5 s into B.
        let log1 = home.path().join("first.jsonl");
        let first = window(&x, home.path(), &log1, &[&a, &b]);
        x.wait_for_window("reel", Duration::from_secs(60));
        wait_until(Duration::from_secs(30), || {
            last_line(&log1).is_some_and(|v| {
                v["state"] == "playing"
                    && v["track"] == 1
                    && v["position_ms"].as_f64().unwrap_or(0.0) > 2500.0
            })
        });
        sigterm_and_wait(first);
        let closed_at = last_line(&log1).unwrap()["position_ms"].as_f64().unwrap();

        // Second session: nothing asked for; the queue comes back, paused at B, where it was.
        let rec = Recorder::start(&home.path().join("rec.wav"));
        let log2 = home.path().join("second.jsonl");
        let second = window(&x, home.path(), &log2, &[]);
        x.wait_for_window("reel", Duration::from_secs(60));
        wait_until(Duration::from_secs(30), || {
            last_line(&log2).is_some_and(|v| v["state"] == "paused" && v["track"] == 1)
        });
        let restored = last_line(&log2).unwrap();
        let at = restored["position_ms"].as_f64().unwrap();
        assert!(
            (at - closed_at).abs() <= 300.0,
            "restored at {at:.0} ms of B; it was closed at {closed_at:.0} ms"
        );
        // And it stays silent: half a second more of log lines, still paused, and no sound.
        let t0 = restored["t_ms"].as_f64().unwrap();
        wait_until(Duration::from_secs(10), || {
            last_line(&log2).is_some_and(|v| v["t_ms"].as_f64().unwrap_or(0.0) > t0 + 500.0)
        });
        assert_eq!(last_line(&log2).unwrap()["state"], "paused");
        let left = read_wav(&rec.stop()).channels[0].clone();
        assert!(peak(&left) < 0.001, "the restored window made a sound");
        sigterm_and_wait(second);
    });
}
