//! The sound server's buffer behind reel's stream, heard from outside (`parec` on the null
//! sink's monitor): a short freeze of the whole player is covered by it and never heard; a
//! longer one, of the whole process or of its audio thread alone, is one underrun with the
//! cause `server` as long as the gap the listener hears; and the buffer delays none of pause
//! and seek, which replace what the server holds.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reel::engine::{Command as Ctl, Engine, EngineConfig, MeterSnapshot, PlayState};
use support::*;

/// One period of the default device buffer at 48 kHz, in samples.
const PERIOD: usize = reel::engine::DEFAULT_PERIOD_FRAMES as usize;

/// How a test keeps reel away from the sound server.
enum Stall {
    /// The whole process stopped (SIGSTOP, then SIGCONT) for this long, once a second has
    /// been heard.
    Freeze(Duration),
    /// Only the thread that speaks to the server (and runs the callback) stopped, through
    /// the debug build's `REEL_FAULT_REACTOR_STALL`, a second after it first wrote audio.
    AudioThread(Duration),
}

/// Plays `secs` of a 440 Hz tone with `reel play --no-gui`, stalls it, and returns the
/// recording's left channel and the metrics summary.
fn play_with_a_stall(secs: f64, stall: Stall) -> (Vec<f32>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tone.flac");
    make_tone(&file, 440.0, secs, 48_000, 2, 0.5);
    let log = dir.path().join("m.jsonl");
    let rec = Recorder::start(&dir.path().join("rec.wav"));
    let mut cmd = Command::new(reel_bin());
    cmd.args(["play", "--no-gui", "--metrics-log"])
        .arg(&log)
        .arg(&file)
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    if let Stall::AudioThread(d) = stall {
        cmd.env(
            "REEL_FAULT_REACTOR_STALL",
            format!("1000:{}", d.as_millis()),
        );
    }
    let mut child = cmd.spawn().unwrap();
    if let Stall::Freeze(freeze) = stall {
        wait_until(Duration::from_secs(15), || {
            logged_position_ms(&log) > 1000.0
        });
        send_signal(child.id(), libc::SIGSTOP);
        // The stimulus: the player stays frozen this long. (Nothing is synchronised by it.)
        std::thread::sleep(freeze);
        send_signal(child.id(), libc::SIGCONT);
    }
    let status = wait_child_with_timeout(&mut child, Duration::from_secs(30));
    let rec_path = rec.stop();
    assert!(status.success(), "reel failed after the stall");
    let text = std::fs::read_to_string(&log).unwrap();
    let summary = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    (read_wav(&rec_path).channels[0].clone(), summary)
}

#[test]
fn freezing_the_whole_player_for_150_ms_is_not_heard() {
    support::judged_by_recording(|| {
        let (left, summary) = play_with_a_stall(4.0, Stall::Freeze(Duration::from_millis(150)));
        let span = signal_span(&left, 0.01).expect("silent recording");
        let secs = (span.1 - span.0) as f64 / 48_000.0;
        assert!((secs - 4.0).abs() <= 0.05, "{secs} s heard of 4 s");
        let gap = longest_silence_within(&left, span, 0.01);
        assert!(gap < 240, "a gap of {gap} samples after a 150 ms freeze");
        assert_eq!(summary["underruns"], 0, "{summary}");
    });
}

/// One stall longer than the server's buffer: exactly one `server` episode, as long as the
/// recorded gap within a period, and nothing lost.
fn one_server_underrun_as_long_as_the_gap(stall: Stall) {
    let (left, summary) = play_with_a_stall(4.0, stall);
    let span = signal_span(&left, 0.01).expect("silent recording");
    let gaps = silences_within(&left, span, 0.01);
    assert_eq!(gaps.len(), 1, "gaps heard: {gaps:?}");
    let heard_ms = gaps[0].1 as f64 / 48.0;
    let episodes = summary["episodes"].as_array().unwrap();
    assert_eq!(episodes.len(), 1, "{summary}");
    assert_eq!(episodes[0]["cause"], "server", "{summary}");
    let reported_ms = episodes[0]["duration_ms"].as_f64().unwrap();
    let period_ms = PERIOD as f64 / 48.0;
    assert!(
        (reported_ms - heard_ms).abs() <= period_ms,
        "reel reported {reported_ms:.1} ms, the recording has {heard_ms:.1} ms"
    );
    // Nothing was lost: what was not heard during the gap is heard after it.
    let secs = (span.1 - span.0 - gaps[0].1) as f64 / 48_000.0;
    assert!((secs - 4.0).abs() <= 0.05, "{secs} s of tone heard of 4 s");
}

#[test]
fn a_freeze_longer_than_the_server_buffer_is_one_server_underrun_as_long_as_the_gap() {
    support::judged_by_recording(|| {
        one_server_underrun_as_long_as_the_gap(Stall::Freeze(Duration::from_millis(600)));
    });
}

#[test]
fn a_stalled_audio_thread_is_one_server_underrun_as_long_as_the_gap() {
    support::judged_by_recording(|| {
        one_server_underrun_as_long_as_the_gap(Stall::AudioThread(Duration::from_millis(500)));
    });
}

fn engine() -> Engine {
    let _ = test_sink(); // fails clearly outside `make test`
    Engine::start(EngineConfig::default()).expect("the test sound server must be running")
}

fn wait_snapshot(e: &Engine, what: &str, pred: impl Fn(&MeterSnapshot) -> bool) -> MeterSnapshot {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = e.snapshot();
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what} never happened: {s:?}");
        // Poll at a UI-like rate; each read is independent, nothing is synchronised by it.
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn pause_is_heard_at_once_despite_the_server_buffer_and_resume_loses_nothing() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tone.flac");
        make_tone(&file, 440.0, 3.0, 48_000, 2, 0.5);
        let rec = Recorder::start(&dir.path().join("rec.wav"));
        let e = engine();
        e.send(Ctl::Load(vec![file]));
        wait_snapshot(&e, "a second heard", |s| s.position_ms > 1000.0);
        e.send(Ctl::Pause);
        let paused = wait_snapshot(&e, "paused", |s| s.state == PlayState::Paused);
        // Paused for a while, then on to the end.
        let resume_after = Instant::now() + Duration::from_millis(400);
        wait_snapshot(&e, "still paused", |s| {
            s.state == PlayState::Paused && Instant::now() >= resume_after
        });
        e.send(Ctl::Resume);
        wait_snapshot(&e, "played out", |s| s.state == PlayState::Stopped);
        drop(e);
        let left = read_wav(&rec.stop()).channels[0].clone();
        let span = signal_span(&left, 0.01).expect("silent recording");
        let gaps = silences_within(&left, span, 0.01);
        assert_eq!(gaps.len(), 1, "silences heard: {gaps:?}");
        // The tone stopped where reel says it paused: not a server buffer later.
        let before_ms = (gaps[0].0 - span.0) as f64 / 48.0;
        assert!(
            (before_ms - paused.position_ms).abs() <= 50.0,
            "heard {before_ms:.0} ms before the pause, reel paused at {:.0} ms",
            paused.position_ms
        );
        let heard_ms = (span.1 - span.0 - gaps[0].1) as f64 / 48.0;
        assert!(
            (heard_ms - 3000.0).abs() <= 50.0,
            "{heard_ms:.0} ms of a 3000 ms tone heard around the pause"
        );
    });
}

#[test]
fn a_seek_is_heard_at_once_despite_the_server_buffer() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        // 440 Hz for 4 s, then 1000 Hz for 2 s.
        let a = dir.path().join("a.wav");
        let b = dir.path().join("b.wav");
        let file = dir.path().join("two.flac");
        make_tone(&a, 440.0, 4.0, 48_000, 2, 0.5);
        make_tone(&b, 1000.0, 2.0, 48_000, 2, 0.5);
        let out = run_with_timeout(
            Command::new("sox").arg(&a).arg(&b).arg(&file),
            Duration::from_secs(30),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rec = Recorder::start(&dir.path().join("rec.wav"));
        let e = engine();
        e.send(Ctl::Load(vec![file]));
        wait_snapshot(&e, "a second heard", |s| s.position_ms > 1000.0);
        let at = e.snapshot().position_ms;
        e.send(Ctl::Seek(Duration::from_millis(4500)));
        wait_snapshot(&e, "played out", |s| s.state == PlayState::Stopped);
        drop(e);
        let left = read_wav(&rec.stop()).channels[0].clone();
        let span = signal_span(&left, 0.01).expect("silent recording");
        // The 440 Hz part heard: up to where the 1000 Hz part begins.
        let switch = (span.0..span.1)
            .step_by(480)
            .find(|&i| dominant_frequency(&left[i..i + 2400], 48_000) > 700.0)
            .expect("the 1000 Hz part was never heard");
        let before_ms = (switch - span.0) as f64 / 48.0;
        assert!(
            before_ms <= at + 60.0,
            "440 Hz heard for {before_ms:.0} ms; the seek was asked at {at:.0} ms"
        );
        // And from 4.5 s of 6 s: 1.5 s of 1000 Hz.
        let after_ms = (span.1 - switch) as f64 / 48.0;
        assert!(
            (after_ms - 1500.0).abs() <= 60.0,
            "{after_ms:.0} ms after the seek"
        );
    });
}
