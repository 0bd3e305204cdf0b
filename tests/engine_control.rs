//! The engine's control surface, driven through the library on the real sound server: pause,
//! resume, seek, stop, next, previous and volume each do what a listener expects, at once.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use reel::engine::{Command, Engine, EngineConfig, Event, MeterSnapshot, PlayState};
use support::*;

const WAIT: Duration = Duration::from_secs(10);

fn engine() -> Engine {
    let _ = test_sink(); // fails clearly outside `make test`
    Engine::start(EngineConfig::default()).expect("the test sound server must be running")
}

/// Wait (bounded) for the first event matching `pred`, returning it.
fn wait_event(e: &Engine, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match e.events().recv_timeout(left) {
            Ok(ev) if pred(&ev) => return ev,
            Ok(_) => {}
            Err(_) => panic!("no {what} event within {WAIT:?}"),
        }
    }
}

/// Wait (bounded) until a snapshot satisfies `pred`.
fn wait_snapshot(e: &Engine, what: &str, pred: impl Fn(&MeterSnapshot) -> bool) -> MeterSnapshot {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = e.snapshot();
        if pred(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{what} never happened; last snapshot: {s:?}"
        );
        // Poll the meters at a UI-like rate; each read is independent, nothing is synchronised
        // by this pause.
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn tone(dir: &Path, name: &str, hz: f64, secs: f64) -> std::path::PathBuf {
    let p = dir.join(name);
    make_tone(&p, hz, secs, 48_000, 2, 0.5);
    p
}

#[test]
fn pause_flushes_at_once_and_resume_continues_where_it_paused() {
    let dir = tempfile::tempdir().unwrap();
    let file = tone(dir.path(), "a.flac", 440.0, 10.0);
    let e = engine();
    e.send(Command::Load(vec![file]));
    wait_event(&e, "TrackStarted", |ev| {
        matches!(ev, Event::TrackStarted { index: 0, .. })
    });
    wait_snapshot(&e, "one second heard", |s| s.position_ms > 1000.0);
    e.send(Command::Pause);
    wait_event(&e, "Paused", |ev| matches!(ev, Event::Paused));
    let paused = e.snapshot();
    assert_eq!(paused.state, PlayState::Paused);
    assert_eq!(paused.ring_fill_frames, 0, "pause must flush the ring");
    // Nothing more is played while paused: watch ten periods' worth of time go by. (This
    // observes an interval in which nothing may happen; it synchronises nothing.)
    let played = e.snapshot().frames_played;
    std::thread::sleep(Duration::from_millis(110));
    let s = e.snapshot();
    assert_eq!(s.frames_played, played, "audio played while paused");
    assert_eq!(
        s.position_ms, paused.position_ms,
        "position moved while paused"
    );
    e.send(Command::Resume);
    let s = wait_snapshot(&e, "playing again", |s| {
        s.state == PlayState::Playing && s.frames_played > played
    });
    // It resumes where it paused (within the fade and one period).
    assert!(
        (s.position_ms - paused.position_ms).abs() < 200.0,
        "resumed at {} after pausing at {}: {s:?}",
        s.position_ms,
        paused.position_ms
    );
    assert_eq!(e.snapshot().underruns, 0);
}

#[test]
fn seek_jumps_to_the_asked_position_and_is_heard_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = tone(dir.path(), "a.flac", 440.0, 20.0);
    let e = engine();
    e.send(Command::Load(vec![file]));
    wait_snapshot(&e, "playing", |s| s.position_ms > 200.0);
    let t0 = Instant::now();
    e.send(Command::Seek(Duration::from_secs(15)));
    let s = wait_snapshot(&e, "the seek heard", |s| s.position_ms >= 15_000.0);
    assert!(s.position_ms < 15_500.0, "{}", s.position_ms);
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "seek took {:?}",
        t0.elapsed()
    );
    assert!(s.time_to_first_audio_ms.unwrap() < 200.0, "{s:?}");
    // Relative seeks, back and forth.
    e.send(Command::SeekBy(-10.0));
    wait_snapshot(&e, "seek back", |s| {
        s.position_ms >= 5000.0 && s.position_ms < 6000.0
    });
    assert_eq!(e.snapshot().underruns, 0, "a seek is not an underrun");
}

#[test]
fn next_previous_and_stop_move_through_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let files = vec![
        tone(dir.path(), "a.flac", 440.0, 10.0),
        tone(dir.path(), "b.flac", 550.0, 10.0),
        tone(dir.path(), "c.flac", 660.0, 10.0),
    ];
    let e = engine();
    e.send(Command::Load(files));
    wait_snapshot(&e, "first track", |s| {
        s.track == Some(0) && s.position_ms > 100.0
    });
    e.send(Command::Next);
    wait_event(&e, "TrackStarted(1)", |ev| {
        matches!(ev, Event::TrackStarted { index: 1, .. })
    });
    e.send(Command::Next);
    wait_event(&e, "TrackStarted(2)", |ev| {
        matches!(ev, Event::TrackStarted { index: 2, .. })
    });
    // Early in a track, Previous goes to the previous track.
    e.send(Command::Previous);
    wait_event(&e, "TrackStarted(1)", |ev| {
        matches!(ev, Event::TrackStarted { index: 1, .. })
    });
    e.send(Command::Stop);
    wait_event(&e, "Stopped", |ev| matches!(ev, Event::Stopped));
    let s = e.snapshot();
    assert_eq!(s.state, PlayState::Stopped);
    assert_eq!(s.ring_fill_frames, 0);
    e.send(Command::Play);
    wait_snapshot(&e, "playing after stop", |s| {
        s.state == PlayState::Playing && s.track == Some(1)
    });
}

#[test]
fn volume_changes_the_level_heard() {
    let dir = tempfile::tempdir().unwrap();
    let file = tone(dir.path(), "a.flac", 440.0, 10.0);
    let e = engine();
    e.send(Command::Load(vec![file]));
    wait_snapshot(&e, "playing", |s| s.position_ms > 300.0);
    let _ = e.snapshot(); // reset the level meters
    let loud = wait_snapshot(&e, "a level reading", |s| {
        s.rms_dbfs.first().is_some_and(|l| *l > -100.0)
    });
    e.send(Command::Volume(0.1));
    assert!((e.volume() - 0.1).abs() < 1e-6);
    // After the ramp, the RMS meter reads 20 dB lower.
    let _ = wait_snapshot(&e, "ramp done", |s| s.position_ms > 800.0);
    let _ = e.snapshot();
    let quiet = wait_snapshot(&e, "a quiet reading", |s| {
        s.rms_dbfs.first().is_some_and(|l| *l > -100.0)
    });
    let drop = loud.rms_dbfs[0] - quiet.rms_dbfs[0];
    assert!(
        (drop - 20.0).abs() < 1.5,
        "volume 0.1 lowered the level by {drop:.1} dB"
    );
}

#[test]
fn meters_report_a_consistent_picture_while_playing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.wav");
    make_tone(&file, 440.0, 5.0, 44_100, 2, 0.5);
    let e = engine();
    e.send(Command::Load(vec![file]));
    let s = wait_snapshot(&e, "a full ring", |s| {
        s.position_ms > 1000.0 && s.ring_fill_ms > 100.0
    });
    assert_eq!(s.device_rate, 48_000);
    assert_eq!(s.file_rate, 44_100);
    // The sound server keeps its own buffer behind the stream, and the ring is that much
    // larger than the 200 ms asked for, so that one priming fills both.
    assert_eq!(s.server_buffer_ms, reel::engine::SERVER_BUFFER_MS as f64);
    assert_eq!(s.ring_capacity_ms, 200.0 + s.server_buffer_ms);
    assert!(s.device_buffer_frames > 0);
    assert!(s.device_latency_ms > 0.0);
    assert!(s.resampler_delay_ms > 0.0);
    assert!(
        (s.output_latency_ms - (s.ring_fill_ms + s.device_latency_ms + s.resampler_delay_ms)).abs()
            < 1e-9
    );
    assert!(s.callback_load_p99 > 0.0 && s.callback_load_p99 < 1.0);
    assert!(s.callback_load_max >= s.callback_load_p99);
    assert!(s.decode_speed > 1.0);
    assert_eq!(s.codec, "pcm_s16le");
    assert_eq!(
        s.host, "PulseAudio",
        "pipewire-pulse answers in the test session"
    );
    assert!(s.time_to_first_audio_ms.is_some());
    assert!(s.duration_ms.is_some_and(|d| (d - 5000.0).abs() < 1.0));
    // Position follows the wall clock.
    let t0 = Instant::now();
    let p0 = s.position_ms;
    let s2 = wait_snapshot(&e, "a second more", |s| s.position_ms > p0 + 1000.0);
    let wall = t0.elapsed().as_secs_f64() * 1000.0;
    assert!(
        (s2.position_ms - p0 - wall).abs() < 60.0,
        "position moved {} ms in {wall} ms",
        s2.position_ms - p0
    );
}
