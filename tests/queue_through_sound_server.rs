//! Shuffle, repeat and queue edits, heard: each file is a tone of its own frequency, so the
//! order played is read from the recording of the private sound server's sink (`parec`), and
//! so is any gap. Run by `make test`, which starts the sound server.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reel::engine::{Command as Cmd, Engine, EngineConfig, Event};
use support::*;

/// The null sink runs at 48 kHz.
const SINK_RATE: u32 = 48_000;
/// Below this envelope a stretch of the recording counts as silence.
const SILENCE: f32 = 0.01;
/// A gap longer than this inside the music is a dropout (5 ms).
const LONGEST_GAP_SAMPLES: usize = SINK_RATE as usize / 200;
const WAIT: Duration = Duration::from_secs(20);

fn tone(dir: &Path, name: &str, hz: f64, secs: f64) -> PathBuf {
    let p = dir.join(name);
    make_tone(&p, hz, secs, 48_000, 2, 0.5);
    p
}

/// The frequency heard in each of the `secs`-long stretches of `samples` from `start` on
/// (their middle 80 %, away from the joins).
fn tones_heard(samples: &[f32], start: usize, secs: &[f64]) -> Vec<f64> {
    let mut at = start as f64;
    secs.iter()
        .map(|&s| {
            let len = s * SINK_RATE as f64;
            let (a, b) = ((at + 0.1 * len) as usize, (at + 0.9 * len) as usize);
            at += len;
            dominant_frequency(&samples[a..b.min(samples.len())], SINK_RATE)
        })
        .collect()
}

/// Which of `hz` `f` is (within 5 Hz).
fn which(hz: &[f64], f: f64) -> Option<usize> {
    hz.iter().position(|h| (h - f).abs() < 5.0)
}

/// Until the engine has played `ms` of the first file, polled at a UI's rate (the edit that
/// follows is made whenever that is); fails at `deadline`.
fn heard_until(e: &Engine, ms: f64, deadline: Instant) {
    while e.snapshot().position_ms < ms {
        assert!(Instant::now() < deadline, "the first file was never heard");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Until the engine says the queue is over; fails at `deadline`.
fn wait_finished(e: &Engine, deadline: Instant) {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match e.events().recv_timeout(left) {
            Ok(Event::QueueFinished) => return,
            Ok(_) => {}
            Err(_) => panic!("the queue never finished"),
        }
    }
}

#[test]
fn shuffle_plays_every_file_once_back_to_back() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let dir = tempfile::tempdir().unwrap();
        let hz = [400.0, 600.0, 800.0, 1000.0];
        let files: Vec<PathBuf> = hz
            .iter()
            .enumerate()
            .map(|(i, &f)| tone(dir.path(), &format!("{i}.flac"), f, 0.6))
            .collect();
        let rec = Recorder::start(&dir.path().join("rec.wav"));
        let out = run_with_timeout(
            Command::new(reel_bin())
                .args(["play", "--no-gui", "--shuffle"])
                .args(&files),
            WAIT,
        );
        let wav = read_wav(&rec.stop());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let left = &wav.channels[0];
        let (a, b) = signal_span(left, SILENCE).expect("nothing was heard");
        let secs = (b - a) as f64 / SINK_RATE as f64;
        assert!(
            (secs - 2.4).abs() < 0.05,
            "heard {secs:.3} s of four 0.6 s files"
        );
        let mut order: Vec<Option<usize>> = tones_heard(left, a, &[0.6; 4])
            .into_iter()
            .map(|f| which(&hz, f))
            .collect();
        order.sort();
        assert_eq!(
            order,
            [Some(0), Some(1), Some(2), Some(3)],
            "each file once"
        );
        let gap = longest_silence_within(left, (a, b), SILENCE);
        assert!(gap < LONGEST_GAP_SAMPLES, "a gap of {gap} samples");
    });
}

#[test]
fn repeat_one_plays_the_first_file_again_and_again_without_a_gap() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let dir = tempfile::tempdir().unwrap();
        let a = tone(dir.path(), "a.flac", 440.0, 0.5);
        let b = tone(dir.path(), "b.flac", 660.0, 0.5);
        let log = dir.path().join("metrics.jsonl");
        let rec = Recorder::start(&dir.path().join("rec.wav"));
        let mut child = Command::new(reel_bin())
            .args(["play", "--no-gui", "--repeat", "one", "--metrics-log"])
            .arg(&log)
            .args([&a, &b])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Three times through the 0.5 s file and more (what the log counts as played is still
        // ahead of what is heard by the sound server's buffer).
        wait_until(WAIT, || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .rev()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find_map(|v| v["frames_played"].as_u64())
                .is_some_and(|f| f >= 110_000)
        });
        send_sigint(child.id());
        let status = wait_child_with_timeout(&mut child, WAIT);
        let wav = read_wav(&rec.stop());
        assert!(status.success(), "{status}");
        let left = &wav.channels[0];
        let (start, _) = signal_span(left, SILENCE).expect("nothing was heard");
        let heard = tones_heard(left, start, &[0.5; 3]);
        assert!(
            heard.iter().all(|&f| (f - 440.0).abs() < 5.0),
            "three times the first file, heard {heard:?}"
        );
        let end = start + 3 * SINK_RATE as usize / 2;
        let gap = longest_silence_within(left, (start, end), SILENCE);
        assert!(
            gap < LONGEST_GAP_SAMPLES,
            "a gap of {gap} samples at a repeat"
        );
    });
}

#[test]
fn removing_and_moving_later_entries_while_a_track_plays_leaves_no_gap() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let dir = tempfile::tempdir().unwrap();
        let hz = [440.0, 550.0, 660.0, 770.0];
        let secs = [2.0, 0.5, 0.5, 0.5];
        let files: Vec<PathBuf> = hz
            .iter()
            .zip(secs)
            .enumerate()
            .map(|(i, (&f, s))| tone(dir.path(), &format!("{i}.flac"), f, s))
            .collect();
        let _ = test_sink(); // fails clearly outside `make test`
        // The instrument first, as in every recorded test: a recorder that joins the sink under
        // a running stream changes the graph (its quantum) under that stream.
        let rec = Recorder::start(&dir.path().join("rec.wav"));
        let e = Engine::start(EngineConfig::default()).expect("the test sound server must run");
        e.send(Cmd::Load(files));
        let deadline = Instant::now() + WAIT;
        heard_until(&e, 300.0, deadline);
        let ids = e.entry_ids();
        e.send(Cmd::Remove(ids[1]));
        e.send(Cmd::PlayNext(ids[3]));
        wait_finished(&e, deadline);
        let underruns = e.snapshot().underruns;
        drop(e);
        let wav = read_wav(&rec.stop());
        let left = &wav.channels[0];
        let (a, b) = signal_span(left, SILENCE).expect("nothing was heard");
        let heard = (b - a) as f64 / SINK_RATE as f64;
        assert!(
            (heard - 3.0).abs() < 0.05,
            "heard {heard:.3} s, not 2 + 0.5 + 0.5"
        );
        let order: Vec<Option<usize>> = tones_heard(left, a, &[2.0, 0.5, 0.5])
            .into_iter()
            .map(|f| which(&hz, f))
            .collect();
        assert_eq!(
            order,
            [Some(0), Some(3), Some(2)],
            "the first, then the one played next"
        );
        let gap = longest_silence_within(left, (a, b), SILENCE);
        assert!(gap < LONGEST_GAP_SAMPLES, "a gap of {gap} samples");
        assert_eq!(underruns, 0);
    });
}

#[test]
fn removing_the_next_track_after_its_start_was_decoded_skips_it_without_a_gap() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let dir = tempfile::tempdir().unwrap();
        let hz = [440.0, 550.0, 660.0];
        let a = tone(dir.path(), "a.flac", hz[0], 3.0);
        let b = tone(dir.path(), "b.flac", hz[1], 0.5);
        let c = tone(dir.path(), "c.flac", hz[2], 0.5);
        let _ = test_sink();
        // A 2 s ring: the decoder runs that far ahead, so b's start is in the ring a second
        // before a ends, while the device has not reached it yet.
        let mut config = EngineConfig::default();
        config.output.ring_ms = 2000;
        let rec = Recorder::start(&dir.path().join("rec.wav"));
        let e = Engine::start(config).expect("the test sound server must run");
        e.send(Cmd::Load(vec![a, b, c]));
        let deadline = Instant::now() + WAIT;
        heard_until(&e, 2000.0, deadline);
        assert!(e.tracks()[1].frames_decoded > 0, "b was not decoded ahead");
        e.send(Cmd::Remove(e.entry_ids()[1]));
        wait_finished(&e, deadline);
        let underruns = e.snapshot().underruns;
        drop(e);
        let wav = read_wav(&rec.stop());
        let left = &wav.channels[0];
        let (start, end) = signal_span(left, SILENCE).expect("nothing was heard");
        let heard = (end - start) as f64 / SINK_RATE as f64;
        assert!(
            (heard - 3.5).abs() < 0.05,
            "heard {heard:.3} s, not 3 + 0.5"
        );
        let order: Vec<Option<usize>> = tones_heard(left, start, &[3.0, 0.5])
            .into_iter()
            .map(|f| which(&hz, f))
            .collect();
        assert_eq!(order, [Some(0), Some(2)], "a, then c: none of b");
        let gap = longest_silence_within(left, (start, end), SILENCE);
        assert!(gap < LONGEST_GAP_SAMPLES, "a gap of {gap} samples");
        assert_eq!(underruns, 0);
    });
}
