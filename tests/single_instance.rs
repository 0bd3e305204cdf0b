//! One window: `reel B.flac` while a reel window plays hands B to that window, which queues
//! and plays it, and exits 0 at once; `--new-instance` opens a window of its own. Under Xvfb,
//! on the test sound server, with the sink recorded from outside.
#![cfg(feature = "gui")]

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::xvfb::Xvfb;
use support::*;

fn reel(x: &Xvfb, home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(reel_bin());
    c.env("DISPLAY", &x.display)
        .env_remove("WAYLAND_DISPLAY")
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .args(["--cache-dir", home.join("cache").to_str().unwrap()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn close(mut child: Child) {
    send_signal(child.id(), libc::SIGTERM);
    let status = wait_child_with_timeout(&mut child, Duration::from_secs(15));
    assert!(status.success(), "the window exited {status}");
}

#[test]
fn a_second_reel_hands_its_file_to_the_open_window_which_queues_and_plays_it() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let x = Xvfb::start();
        let home = tempfile::tempdir().unwrap();
        let a = home.path().join("a.flac");
        let b = home.path().join("b.flac");
        make_tone(&a, 440.0, 30.0, 48_000, 2, 0.5);
        make_tone(&b, 880.0, 2.0, 48_000, 2, 0.5);
        let log = home.path().join("metrics.jsonl");
        let window = reel(
            &x,
            home.path(),
            &["--metrics-log", log.to_str().unwrap(), a.to_str().unwrap()],
        )
        .stderr(std::fs::File::create(home.path().join("window.txt")).unwrap())
        .spawn()
        .unwrap();
        x.wait_for_window("reel", Duration::from_secs(60));
        wait_until(Duration::from_secs(30), || {
            lines(&log).last().is_some_and(|v| {
                v["state"] == "playing" && v["position_ms"].as_f64().unwrap_or(0.0) > 300.0
            })
        });

        let rec = Recorder::start(&home.path().join("rec.wav"));
        let asked = Instant::now();
        let out = run_with_timeout(
            reel(&x, home.path(), &[b.to_str().unwrap()]).stderr(Stdio::piped()),
            Duration::from_secs(10),
        );
        let took = asked.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(took < Duration::from_secs(1), "the hand-over took {took:?}");
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // The window queued B after A and plays it now.
        wait_until(Duration::from_secs(20), || {
            lines(&log).last().is_some_and(|v| {
                v["state"] == "playing"
                    && v["track"] == 1
                    && v["position_ms"].as_f64().unwrap_or(0.0) > 1000.0
            })
        });
        let rec = rec.stop();
        close(window);
        let left = read_wav(&rec).channels[0].clone();
        let (s, e) = signal_span(&left, 0.01).expect("silent recording");
        let last_half_second = &left[e.saturating_sub(24_000).max(s)..e];
        let f = dominant_frequency(last_half_second, 48_000);
        assert!(
            (f - 880.0).abs() < 2.0,
            "the window plays {f:.1} Hz, not B's 880 Hz"
        );
        // Only one window ever existed.
        assert!(x.find_window("reel").is_none(), "a window is left");
    });
}

#[test]
fn new_instance_opens_a_window_of_its_own() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let x = Xvfb::start();
        let home = tempfile::tempdir().unwrap();
        let first = reel(&x, home.path(), &[])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        x.wait_for_window("reel", Duration::from_secs(60));
        let mut second = reel(&x, home.path(), &["--new-instance"])
            .stderr(std::fs::File::create(home.path().join("second.txt")).unwrap())
            .spawn()
            .unwrap();
        // The second one does not hand over and exit: it runs a window of its own.
        wait_until(Duration::from_secs(60), || {
            x.windows("reel").len() >= 2 || second.try_wait().unwrap().is_some()
        });
        assert!(
            second.try_wait().unwrap().is_none(),
            "reel --new-instance exited: {}",
            std::fs::read_to_string(home.path().join("second.txt")).unwrap_or_default()
        );
        close(second);
        close(first);
        let said = std::fs::read_to_string(home.path().join("second.txt")).unwrap_or_default();
        assert!(said.is_empty(), "reel --new-instance said: {said}");
    });
}
