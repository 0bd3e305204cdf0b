//! With nothing playing for a while, reel closes its stream so the sound server can suspend the
//! sink; playing again reopens it and gives sound. The idle time (10 s by default,
//! `engine::IDLE_RELEASE`) is shortened here through `REEL_IDLE_RELEASE_MS`. Runs on the test
//! sound server; the sink's state is read from outside, with `pactl`.

mod support;

use std::process::Command as Process;
use std::time::{Duration, Instant};

use reel::engine::{Command, Engine, EngineConfig, Event, IDLE_RELEASE_ENV, PlayState};
use support::*;

/// Short enough to keep the test quick, long enough that the sink is still seen running
/// right after the queue ends.
const IDLE_RELEASE_MS: u64 = 2000;

/// The test sink's state as the server reports it: RUNNING, IDLE or SUSPENDED.
fn sink_state(sink: &str) -> String {
    let out = Process::new("pactl")
        .args(["list", "sinks", "short"])
        .output()
        .expect("pactl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|f| f.get(1) == Some(&sink))
        .and_then(|f| f.last().map(|s| s.trim().to_string()))
        .unwrap_or_else(|| panic!("{sink} not in `pactl list sinks short`:\n{text}"))
}

fn wait_event(e: &Engine, what: &str, pred: impl Fn(&Event) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match e
            .events()
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(ev) if pred(&ev) => return,
            Ok(_) => {}
            Err(_) => panic!("no {what} event"),
        }
    }
}

#[test]
fn an_idle_player_lets_the_sink_suspend_and_plays_again_on_demand() {
    // SAFETY: the only test in this binary sets it before any engine thread exists; nothing
    // else reads the environment concurrently.
    unsafe { std::env::set_var(IDLE_RELEASE_ENV, IDLE_RELEASE_MS.to_string()) };
    let _sink_lock = lock_sink();
    let sink = test_sink();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.wav");
    make_tone(&file, 440.0, 0.5, 48_000, 2, 0.5);
    let e = Engine::start(EngineConfig::default()).expect("the test sound server is running");
    e.send(Command::Load(vec![file.clone()]));
    wait_event(&e, "QueueFinished", |ev| matches!(ev, Event::QueueFinished));
    // Played out, but the stream is still open (writing silence): the sink runs.
    assert_eq!(sink_state(&sink), "RUNNING");

    // After the idle time the stream is gone and the sink idles (or is already suspended).
    wait_until(Duration::from_secs(15), || {
        matches!(sink_state(&sink).as_str(), "IDLE" | "SUSPENDED")
    });
    let s = e.snapshot();
    assert!(s.device_ok, "a released device is not a problem: {s:?}");
    assert_eq!(e.output_problem(), None);

    // Playing again reopens it, and there is sound.
    let before = s.frames_played;
    let asked = Instant::now();
    e.send(Command::Load(vec![file]));
    wait_until(Duration::from_secs(10), || {
        e.snapshot().frames_played > before
    });
    let s = e.snapshot();
    eprintln!(
        "first audio after the release: {:?} (time to first audio {:?} ms)",
        asked.elapsed(),
        s.time_to_first_audio_ms
    );
    assert_eq!(sink_state(&sink), "RUNNING");
    assert!(s.device_ok && s.state == PlayState::Playing, "{s:?}");
    wait_event(&e, "QueueFinished", |ev| matches!(ev, Event::QueueFinished));
}
