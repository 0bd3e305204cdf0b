//! When the sound server dies mid-playback, reel says so, keeps running, rebuilds its stream
//! when the server is back, and resumes at the position that was being heard.

mod support;

use std::time::{Duration, Instant};

use reel::engine::{Command, Engine, EngineConfig, Event};
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
        if s.state == "playing" && s.device_ok && s.ring_fill_frames > 0 && s.position_ms > 0.0 {
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
