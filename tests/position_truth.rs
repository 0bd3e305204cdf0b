//! The heard position that reel reports is what the listener hears: clicks at known places in
//! a file, found in an outside recording of the sink (`parec`), land where `position_ms` said
//! they would, within one device period, before a seek and after it (when the sound server's
//! buffer has just been replaced and its latency reports lag).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use reel::engine::{Command, Engine, EngineConfig, PlayState};
use support::*;

const RATE: u32 = 48_000;
/// One period of the default device buffer, in samples at 48 kHz.
const PERIOD: f64 = reel::engine::DEFAULT_PERIOD_FRAMES as f64;
/// Where the clicks are, in the file (ms).
const CLICKS_MS: [f64; 5] = [0.0, 1000.0, 1600.0, 3500.0, 4200.0];
/// Where the test seeks to, once 1.8 s have been heard.
const SEEK_TO_MS: f64 = 3000.0;

/// 5 s of silence with a 10 ms burst of 2 kHz at each of [`CLICKS_MS`].
fn write_clicks(path: &Path) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let burst = (RATE / 100) as usize;
    let starts: Vec<usize> = CLICKS_MS
        .iter()
        .map(|ms| (ms * RATE as f64 / 1000.0) as usize)
        .collect();
    for i in 0..(5 * RATE) as usize {
        let v = match starts.iter().find(|&&s| i >= s && i < s + burst) {
            Some(&s) => {
                let t = (i - s) as f64 / RATE as f64;
                (0.5 * (2.0 * std::f64::consts::PI * 2000.0 * t).sin() * 32767.0) as i16
            }
            None => 0,
        };
        w.write_sample(v).unwrap();
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
}

/// The onsets of the bursts in a recording (sample indices): a sample above 0.05 after at
/// least 100 ms below it.
fn onsets(samples: &[f32]) -> Vec<usize> {
    let quiet = (RATE / 10) as usize;
    let mut out = Vec::new();
    let mut since_loud = quiet;
    for (i, s) in samples.iter().enumerate() {
        if s.abs() > 0.05 {
            if since_loud >= quiet {
                out.push(i);
            }
            since_loud = 0;
        } else {
            since_loud += 1;
        }
    }
    out
}

#[test]
fn clicks_are_heard_where_the_reported_position_says_before_and_after_a_seek() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clicks.wav");
        write_clicks(&file);
        let rec = Recorder::start(&dir.path().join("rec.wav"));
        let e =
            Engine::start(EngineConfig::default()).expect("the test sound server must be running");
        e.send(Command::Load(vec![file]));
        // What reel says, as the metrics log says it: (mono_ms, position_ms) while playing, and
        // whether the seek had been asked yet.
        let mut log: Vec<(f64, f64, bool)> = Vec::new();
        let mut seeked = false;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = e.snapshot();
            let now = reel::metrics_log::mono_ms();
            if s.state == PlayState::Playing && s.position_ms > 0.0 {
                log.push((now, s.position_ms, seeked));
            }
            if !seeked && s.position_ms > 1800.0 {
                e.send(Command::Seek(Duration::from_millis(SEEK_TO_MS as u64)));
                seeked = true;
            }
            if seeked && s.state == PlayState::Stopped {
                break;
            }
            assert!(Instant::now() < deadline, "never played out: {s:?}");
            // Sample the position as a UI would; nothing is synchronised by this pause.
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(e);
        let left = read_wav(&rec.stop()).channels[0].clone();
        let heard = onsets(&left);
        // The seek to 3.0 s skips the rest: 0, 1.0, 1.6, then 3.5 and 4.2.
        assert_eq!(
            heard.len(),
            CLICKS_MS.len(),
            "onsets in the recording: {heard:?}"
        );

        // When reel says a file position is heard (mono ms), from the reports on the same side of
        // the seek: mono − (position − at) at the report nearest to it.
        let reported = |at_ms: f64, after_seek: bool| -> f64 {
            log.iter()
                .filter(|(_, p, s)| *s == after_seek && (!after_seek || *p >= SEEK_TO_MS))
                .min_by(|a, b| (a.1 - at_ms).abs().total_cmp(&(b.1 - at_ms).abs()))
                .map(|(m, p, _)| m - (p - at_ms))
                .expect("no position reports")
        };
        // Line the recording up with the mono clock by the first click (position 0).
        let origin = reported(CLICKS_MS[0], false);
        for (k, at) in CLICKS_MS.iter().enumerate().skip(1) {
            let after_seek = *at >= SEEK_TO_MS;
            let said = (reported(*at, after_seek) - origin) * RATE as f64 / 1000.0;
            let was = (heard[k] - heard[0]) as f64;
            eprintln!(
                "click at {at} ms: heard {:.1} ms after the first, reel said {:.1} ms",
                was * 1000.0 / RATE as f64,
                said * 1000.0 / RATE as f64
            );
            assert!(
                (said - was).abs() <= PERIOD,
                "the click at {at} ms of the file was heard {:.1} ms after the first; reel's \
                 position said {:.1} ms",
                was * 1000.0 / RATE as f64,
                said * 1000.0 / RATE as f64
            );
        }
    });
}
