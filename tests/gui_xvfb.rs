//! The real `reel` binary opening its real window on a virtual display (Xvfb): it comes up,
//! draws something that is not blank, plays the file it was given, and closes cleanly on
//! SIGTERM (exit 0, nothing half-written in the cache). Without a display it says so in one
//! line and suggests `--no-gui`.
#![cfg(feature = "gui")]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::xvfb::{Xvfb, distinct_colours};
use support::*;

/// More colours than this means the window drew text and widgets (a blank window has 1–2).
const NOT_BLANK_COLOURS: usize = 40;

fn reel_window(x: &Xvfb, home: &Path, args: &[&str]) -> Child {
    Command::new(reel_bin())
        .env("DISPLAY", &x.display)
        .env_remove("WAYLAND_DISPLAY")
        // eframe keeps its settings under the data directory: a private one per test.
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(home.join("stderr.txt")).unwrap())
        .spawn()
        .expect("start reel")
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn sigterm(child: &Child) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
}

fn demo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo.flac")
}

#[test]
fn the_window_opens_draws_plays_and_closes_cleanly_on_sigterm() {
    let _sink = lock_sink();
    let x = Xvfb::start();
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("cache");
    let log = home.path().join("metrics.jsonl");
    let mut child = reel_window(
        &x,
        home.path(),
        &[
            "--cache-dir",
            cache.to_str().unwrap(),
            "--metrics-log",
            log.to_str().unwrap(),
            demo().to_str().unwrap(),
        ],
    );
    x.wait_for_window("reel", Duration::from_secs(60));
    // It plays what it was given, and it paints while it plays.
    wait_until(Duration::from_secs(30), || {
        lines(&log).last().is_some_and(|v| {
            v["state"] == "playing"
                && v["position_ms"].as_f64().unwrap_or(0.0) > 500.0
                && v["ui_frames"].as_u64().unwrap_or(0) > 5
        })
    });
    let shot = home.path().join("window.png");
    let mut colours = 0;
    wait_until(Duration::from_secs(20), || {
        x.screenshot(&shot);
        colours = distinct_colours(&shot);
        colours > NOT_BLANK_COLOURS
    });

    sigterm(&child);
    let status = wait_child_with_timeout(&mut child, Duration::from_secs(15));
    let stderr = std::fs::read_to_string(home.path().join("stderr.txt")).unwrap();
    assert!(
        status.success(),
        "reel exited {status} on SIGTERM:\n{stderr}"
    );
    assert!(x.find_window("reel").is_none(), "the window is still there");

    // Nothing half-written: no temp files, no pins, and the index lists the demo track.
    let leftovers: Vec<_> = std::fs::read_dir(cache.join("tmp")).unwrap().collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    let pins: Vec<_> = std::fs::read_dir(cache.join("pins")).unwrap().collect();
    assert!(pins.is_empty(), "pins left: {pins:?}");
    let o = run_with_timeout(
        Command::new(reel_bin())
            .args(["cache", "list", "--json", "--cache-dir"])
            .arg(&cache),
        Duration::from_secs(30),
    );
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("demo.flac"));
    // The metrics log was closed with its summary line.
    let all = lines(&log);
    let last = all.last().expect("metrics lines");
    assert_eq!(last["event"], "summary", "{last}");
    // The lines written while it painted carry the frame times eframe reported for those
    // frames; each summary is ordered.
    let times: Vec<&serde_json::Value> = all
        .iter()
        .map(|v| &v["ui_frame_ms"])
        .filter(|t| !t.is_null())
        .collect();
    assert!(!times.is_empty(), "no ui_frame_ms in {all:?}");
    for t in times {
        let f = |k: &str| t[k].as_f64().unwrap_or_else(|| panic!("{k} in {t}"));
        assert!(t["n"].as_u64().unwrap() > 0, "{t}");
        assert!(
            0.0 < f("p50") && f("p50") <= f("p95") && f("p95") <= f("max"),
            "{t}"
        );
    }
}

#[test]
fn without_a_display_reel_says_so_and_suggests_no_gui() {
    let o = run_with_timeout(
        Command::new(reel_bin())
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY"),
        Duration::from_secs(30),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(reel::ui::EXIT_NO_DISPLAY), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no display") && err.contains("--no-gui"),
        "{err}"
    );
}

#[test]
fn a_display_that_cannot_be_opened_is_one_clear_line_not_a_panic() {
    // A display number nobody serves.
    let o = run_with_timeout(
        Command::new(reel_bin())
            .env("DISPLAY", ":4711")
            .env_remove("WAYLAND_DISPLAY")
            .arg(demo()),
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(reel::ui::EXIT_NO_DISPLAY), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot open the window") && err.contains("--no-gui"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
