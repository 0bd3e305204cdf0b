//! When the sound server dies mid-playback, reel says so, keeps running, rebuilds its stream
//! when the server is back, and resumes at the position that was being heard.

mod support;

use std::time::{Duration, Instant};

use reel::engine::{Command, Engine, EngineConfig, Event, PlayState};
use support::*;

fn wait_event(e: &Engine, timeout: Duration, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = Instant::now() + timeout;
    loop {
        match e
            .events()
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(ev) if pred(&ev) => return ev,
            Ok(_) => {}
            Err(_) => panic!("no {what} event within {timeout:?}"),
        }
    }
}

#[test]
fn playback_survives_the_sound_server_dying_and_resumes_where_it_was() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.flac");
    make_tone(&file, 440.0, 30.0, 48_000, 2, 0.5);
    let e = Engine::start(EngineConfig::default()).expect("sound server running");
    e.send(Command::Load(vec![file]));
    wait_until(Duration::from_secs(10), || {
        e.snapshot().position_ms > 2000.0
    });

    stop_sound_server(true);
    wait_event(&e, Duration::from_secs(10), "DeviceLost", |ev| {
        matches!(ev, Event::DeviceLost(_))
    });
    // The meters show where the listener was while the device is gone.
    wait_until(Duration::from_secs(5), || {
        let s = e.snapshot();
        !s.device_ok && s.position_ms > 0.0
    });
    let lost = e.snapshot();
    let heard_at_loss = lost.position_ms;

    start_sound_server();
    let back = Instant::now();
    wait_event(&e, Duration::from_secs(10), "DeviceReady", |ev| {
        matches!(ev, Event::DeviceReady { .. })
    });
    // Audio flows again within a second of the server's return...
    let s = loop {
        let s = e.snapshot();
        if s.state == PlayState::Playing
            && s.device_ok
            && s.ring_fill_frames > 0
            && s.position_ms > 0.0
        {
            break s;
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "did not resume: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(
        back.elapsed() < Duration::from_secs(1),
        "resumed {:?} after the server came back",
        back.elapsed()
    );
    // ...at the position that was being heard when it went (up to what the dead device held).
    assert!(
        (s.position_ms - heard_at_loss).abs() < 500.0,
        "resumed at {} ms, lost at {} ms",
        s.position_ms,
        heard_at_loss
    );
    let p = s.position_ms;
    wait_until(Duration::from_secs(5), || {
        e.snapshot().position_ms > p + 500.0
    });
}

/// The same through the command line, measured from its metrics log: `reel play --no-gui`
/// says in one line that the output is lost and in one line that it is back, its metrics log
/// shows audio flowing again within a second of the server's return, at the position held
/// while it was gone, and the whole file still plays to its end (exit 0).
#[test]
fn reel_play_reports_the_loss_and_resumes_within_a_second_at_the_same_position() {
    use support::faults::read_metrics;
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tone.flac");
    make_tone(&file, 440.0, 8.0, 48_000, 2, 0.5);
    let log = dir.path().join("m.jsonl");
    let spawned = Instant::now();
    let mut child = std::process::Command::new(reel_bin())
        .args(["play", "--no-gui", "--metrics-log"])
        .arg(&log)
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let last_line = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.lines()
            .last()
            .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    };
    wait_until(Duration::from_secs(10), || {
        last_line().is_some_and(|l| l["position_ms"].as_f64().unwrap_or(0.0) > 2000.0)
    });
    stop_sound_server(true);
    wait_until(Duration::from_secs(10), || {
        last_line().is_some_and(|l| l["device_ok"] == false)
    });
    start_sound_server();
    // The metrics log's clock (`t_ms`) starts when reel opens the log, a few ms after spawn:
    // so this instant, on that clock, is at most `back_ms` (it errs towards a longer delay).
    let back_ms = spawned.elapsed().as_secs_f64() * 1000.0;
    let status = wait_child_with_timeout(&mut child, Duration::from_secs(30));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    // The loss is said, and the return. (The server dies client by client: when its Pulse
    // front end goes first, reel may briefly reopen through ALSA while PipeWire still lives,
    // and then lose that too: every loss and every return gets its line.)
    // A restarted server may first offer a stand-in sink (PipeWire's "Dummy Output") and then
    // move the stream to the null sink once that is the default: that move is said too, in
    // its own line, and is neither a loss nor a return.
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("reel: audio output moved to "))
        .collect();
    assert!(lines.len() >= 2, "{stderr}");
    for (i, line) in lines.iter().enumerate() {
        let want = if i % 2 == 0 {
            "reel: audio output lost: "
        } else {
            "reel: audio output back on "
        };
        assert!(line.starts_with(want), "line {i}: {line:?}\n{stderr}");
    }
    assert!(
        lines.len().is_multiple_of(2),
        "ends with the return:\n{stderr}"
    );

    let (samples, summary) = read_metrics(&log);
    let first_lost = samples
        .iter()
        .position(|s| s["device_ok"] == false)
        .expect("no sample while the output was gone");
    let last_before = samples[..first_lost]
        .iter()
        .rev()
        .find_map(|s| s["position_ms"].as_f64())
        .unwrap();
    let last_lost = samples
        .iter()
        .rposition(|s| s["device_ok"] == false)
        .unwrap();
    // While the output is gone the meters hold the position that was heard last.
    let held = samples[last_lost]["position_ms"].as_f64().unwrap();
    assert!(
        (held - last_before).abs() < 300.0,
        "held {held} ms, last heard {last_before} ms"
    );
    let resumed = samples[last_lost..]
        .iter()
        .find(|s| s["device_ok"] == true && s["ring_fill_ms"].as_f64().unwrap_or(0.0) > 0.0)
        .expect("audio never flowed again");
    let t_resumed = resumed["t_ms"].as_f64().unwrap();
    eprintln!(
        "server back at ≤{back_ms:.0} ms, audio flowing again at {t_resumed:.0} ms, position \
         {:.0} ms (held {held:.0} ms)",
        resumed["position_ms"]
    );
    assert!(
        t_resumed - back_ms < 1000.0,
        "resumed {:.0} ms after the server came back",
        t_resumed - back_ms
    );
    // Resumed where it was: what the dead stream had taken but not played is played again.
    let pos = resumed["position_ms"].as_f64().unwrap();
    assert!(
        (pos - held).abs() < 500.0,
        "resumed at {pos} ms, held {held} ms"
    );
    let played = summary["frames_played"].as_u64().unwrap();
    assert!(
        played >= 8 * 48_000,
        "the whole file plays to its end: {summary}"
    );
}

/// With no sound server at all, `reel play --no-gui` says so in one line naming the problem
/// and exits with the documented code 3 (no usable audio output), quickly.
#[test]
fn with_the_sound_server_gone_reel_play_says_so_in_one_line_and_exits_3() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tone.flac");
    make_tone(&file, 440.0, 1.0, 48_000, 2, 0.5);
    stop_sound_server(false);
    let out = run_with_timeout(
        std::process::Command::new(reel_bin())
            .args(["play", "--no-gui"])
            .arg(&file),
        Duration::from_secs(30),
    );
    start_sound_server();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
    assert!(
        stderr.starts_with("reel: no usable audio output device"),
        "{stderr}"
    );
    assert!(stderr.contains("is a sound server"), "{stderr}");
}
