//! With both cores saturated by `stress-ng --cpu 2`, playback at the default ring size has no
//! underruns, and the recording of the sink has no dropouts.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

struct Stress(std::process::Child);

impl Drop for Stress {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn default_ring_plays_without_underruns_while_both_cores_are_saturated() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tone.flac");
        make_tone(&file, 440.0, 12.0, 44_100, 2, 0.5);
        let stress = Stress(
            Command::new("stress-ng")
                .args(["--cpu", "2", "--timeout", "60s", "--quiet"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("stress-ng is installed by `make test`"),
        );
        let rec_path = dir.path().join("rec.wav");
        let log = dir.path().join("m.jsonl");
        let rec = Recorder::start(&rec_path);
        let out = run_with_timeout(
            Command::new(reel_bin())
                .args(["play", "--no-gui", "--metrics-log"])
                .arg(&log)
                .arg(&file),
            Duration::from_secs(60),
        );
        let rec_path = rec.stop();
        drop(stress);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&log).unwrap();
        let summary: serde_json::Value =
            serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(summary["underruns"], 0, "{summary}");
        assert_eq!(summary["silent_frames"], 0, "{summary}");
        let wav = read_wav(&rec_path);
        let left = &wav.channels[0];
        let (a, b) = signal_span(left, 0.01).expect("silent recording");
        let secs = (b - a) as f64 / 48_000.0;
        assert!((secs - 12.0).abs() <= 0.05, "{secs}");
        let gap = longest_silence_within(left, (a, b), 0.01);
        assert!(gap < 240, "a dropout of {gap} samples under load");
    });
}
