//! A slow disk: a read that blocks in the middle of a track (a sleeping USB drive, a congested
//! network share) starves the decoder. The ring covers a stall shorter than itself with no
//! underrun at all; a longer one gives an underrun episode tagged `starved`, about as long as
//! the stall minus what the ring held; and playback recovers by itself, with nothing lost.
//!
//! Each gap is also found in the sink's recording (parec, from outside): as many gaps as
//! episodes, each as long as its episode within a device period.
//!
//! The stall is injected by the debug build's `REEL_FAULT_SLOW_READ=OFFSET:MS` (see
//! `src/engine/source.rs`): the decoder's first read that reaches byte OFFSET of the file
//! blocks for MS milliseconds, where a real slow read would. Playback is real time, into the
//! test sound server, so the ring drains exactly as it would on a desktop.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::faults::*;
use support::*;

const RATE: u32 = 48_000;
const SECS: f64 = 3.0;

/// The ring a `--buffer-ms` of `ring_ms` gets: that, plus room to refill the sound server's
/// own buffer at once (README, "Where the latency goes"). All of it covers a stalled read.
fn ring_capacity_ms(ring_ms: u32) -> f64 {
    (ring_ms + reel::engine::SERVER_BUFFER_MS) as f64
}

struct Run {
    samples: Vec<serde_json::Value>,
    summary: serde_json::Value,
    /// The sink's recording (left channel), from outside.
    heard: Vec<f32>,
}

/// Plays a 3 s WAV whose read at 1.5 s stalls for `stall_ms`, with a ring of `ring_ms`.
fn play_with_stall(dir: &Path, ring_ms: u32, stall_ms: u64) -> Run {
    let rec = Recorder::start(&dir.join(format!("rec-{ring_ms}-{stall_ms}.wav")));
    let file = dir.join(format!("tone-{ring_ms}-{stall_ms}.wav"));
    make_tone(&file, 440.0, SECS, RATE, 2, 0.5);
    // 16-bit stereo: 4 bytes a frame, after a 44-byte header (ffmpeg's, bit-exact).
    let offset = 44 + (RATE as u64 * 3 / 2) * 4;
    let log = dir.join(format!("m-{ring_ms}-{stall_ms}.jsonl"));
    let out = run_with_timeout(
        Command::new(reel_bin())
            .args(["play", "--no-gui", "--buffer-ms", &ring_ms.to_string()])
            .arg("--metrics-log")
            .arg(&log)
            .arg(&file)
            .env("REEL_FAULT_SLOW_READ", format!("{offset}:{stall_ms}")),
        Duration::from_secs(30),
    );
    let heard = read_wav(&rec.stop()).channels[0].clone();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Recovered by itself: the whole file played and reel exited normally.
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let (samples, summary) = read_metrics(&log);
    assert_eq!(
        summary["frames_played"].as_u64(),
        Some((SECS * RATE as f64) as u64),
        "every frame played, none lost or repeated: {summary}"
    );
    Run {
        samples,
        summary,
        heard,
    }
}

/// The silence the run's episodes inserted, in ms.
fn silent_ms(run: &Run) -> f64 {
    run.summary["silent_frames"].as_u64().unwrap() as f64 * 1000.0 / RATE as f64
}

#[test]
fn a_stall_shorter_than_the_ring_causes_no_underrun() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        for (ring_ms, stall_ms) in [(200, 300), (500, 500)] {
            let run = play_with_stall(dir.path(), ring_ms, stall_ms);
            let cap = ring_capacity_ms(ring_ms);
            assert_eq!(
                run.summary["underruns"], 0,
                "a {stall_ms} ms stall with a {ring_ms} ms ring: {}",
                run.summary
            );
            // The stall was real: the ring dipped by about its length while the decoder waited.
            let lowest = run
                .samples
                .iter()
                .filter(|s| s["state"] == "playing")
                .filter_map(|s| s["ring_min_fill_ms"].as_f64())
                .fold(f64::MAX, f64::min);
            assert!(
                lowest < cap - stall_ms as f64 * 0.6,
                "the ring never dipped (lowest {lowest} ms): was the stall injected?"
            );
        }
    });
}

#[test]
fn a_stall_longer_than_the_ring_is_a_starved_underrun_and_playback_recovers() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        for (ring_ms, stall_ms) in [(200, 700), (100, 600)] {
            let run = play_with_stall(dir.path(), ring_ms, stall_ms);
            let cap = ring_capacity_ms(ring_ms);
            let what = format!("a {stall_ms} ms stall with a {ring_ms} ms ring");
            let episodes = run.summary["episodes"].as_array().unwrap();
            assert!(
                run.summary["underruns"].as_u64().unwrap() >= 1 && !episodes.is_empty(),
                "{what}: {}",
                run.summary
            );
            for e in episodes {
                assert_eq!(e["cause"], "starved", "{what}: {e}");
            }
            // What the listener heard: as many gaps as episodes, each as long as its episode
            // within a device period.
            let span = signal_span(&run.heard, 0.01).expect("silent recording");
            let gaps = silences_within(&run.heard, span, 0.01);
            assert_eq!(
                gaps.len(),
                episodes.len(),
                "{what}: gaps {gaps:?}, {episodes:?}"
            );
            let period_ms = reel::engine::DEFAULT_PERIOD_FRAMES as f64 * 1000.0 / RATE as f64;
            for ((_, len), e) in gaps.iter().zip(episodes) {
                let heard_ms = *len as f64 * 1000.0 / RATE as f64;
                let said_ms = e["duration_ms"].as_f64().unwrap();
                assert!(
                    (heard_ms - said_ms).abs() <= period_ms,
                    "{what}: heard a gap of {heard_ms:.1} ms, reel said {said_ms:.1} ms"
                );
            }
            // The silence is the part of the stall the ring could not cover (the ring was between
            // three quarters full and full when the stall began), give or take a device period.
            let silence = silent_ms(&run);
            let (lo, hi) = (
                stall_ms as f64 - cap - 30.0,
                stall_ms as f64 - cap * 0.75 + 30.0,
            );
            assert!(
                (lo..=hi).contains(&silence),
                "{what}: {silence:.0} ms of silence, want {lo:.0}..{hi:.0}"
            );
            // Recovery: after the underrun, the ring is full again and the position moves on.
            let after: Vec<&serde_json::Value> = run
                .samples
                .iter()
                .skip_while(|s| s["underruns"].as_u64().unwrap_or(0) == 0)
                .filter(|s| s["state"] == "playing")
                .collect();
            assert!(
                after
                    .iter()
                    .any(|s| s["ring_fill_ms"].as_f64().unwrap() > ring_ms as f64 * 0.6),
                "{what}: the ring never refilled after the underrun"
            );
            let positions: Vec<f64> = after
                .iter()
                .filter_map(|s| s["position_ms"].as_f64())
                .collect();
            assert!(
                positions.last().unwrap() - positions.first().unwrap() > 500.0,
                "{what}: playback did not move on: {positions:?}"
            );
        }
    });
}
