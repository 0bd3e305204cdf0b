//! Playing on "the default" follows the system's default output: when the desktop's default
//! sink changes (headphones plugged in, a new default chosen in the settings), the sound moves
//! there, and the listener loses nothing of the track. Two null sinks added to the private
//! sound server; the one moved to is recorded from its monitor by parec. (Only that one: on
//! this server a recording of the sink moved *from* moves with the default too, so it would
//! record both parts.)

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

/// The sinks the default moves between.
const FIRST: &str = "reel_first_sink";
const SECOND: &str = "reel_second_sink";
/// The tone's length.
const TONE_MS: f64 = 4000.0;
/// Moves within this long of the switch (issue 14: within 1 s).
const MOVE_WITHIN_MS: f64 = 1000.0;

/// A null sink, removed (and the test sink made the default again) when dropped, so the tests
/// that run after this one find the server as they expect it.
struct ExtraSink {
    module: String,
}

impl ExtraSink {
    fn load(name: &str) -> ExtraSink {
        let o = run_with_timeout(
            Command::new("pactl").args([
                "load-module",
                "module-null-sink",
                &format!("sink_name={name}"),
            ]),
            Duration::from_secs(10),
        );
        assert!(o.status.success(), "pactl load-module: {o:?}");
        let module = String::from_utf8_lossy(&o.stdout).trim().to_string();
        wait_until(Duration::from_secs(10), || {
            let o = run_with_timeout(
                Command::new("pactl").args(["list", "short", "sinks"]),
                Duration::from_secs(5),
            );
            String::from_utf8_lossy(&o.stdout).contains(name)
        });
        ExtraSink { module }
    }
}

impl Drop for ExtraSink {
    fn drop(&mut self) {
        set_default_sink(&test_sink());
        let _ = run_with_timeout(
            Command::new("pactl").args(["unload-module", &self.module]),
            Duration::from_secs(10),
        );
    }
}

fn set_default_sink(name: &str) {
    let o = run_with_timeout(
        Command::new("pactl").args(["set-default-sink", name]),
        Duration::from_secs(10),
    );
    assert!(o.status.success(), "pactl set-default-sink {name}: {o:?}");
}

/// The index of sink `name` (`pactl list short sinks`).
fn sink_index(name: &str) -> String {
    let o = run_with_timeout(
        Command::new("pactl").args(["list", "short", "sinks"]),
        Duration::from_secs(5),
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find(|l| l.split('\t').nth(1) == Some(name))
        .and_then(|l| l.split('\t').next().map(str::to_string))
        .unwrap_or_else(|| panic!("no sink {name}"))
}

/// The sink of each sink input (playback stream) there is now.
fn sink_inputs_on() -> Vec<String> {
    let o = run_with_timeout(
        Command::new("pactl").args(["list", "short", "sink-inputs"]),
        Duration::from_secs(5),
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split('\t').nth(1).map(str::to_string))
        .collect()
}

/// Milliseconds of the tone in a recording: from its first to its last audible sample, and
/// the longest silence between them.
fn heard_ms(wav: &Wav) -> (f64, f64) {
    let left = &wav.channels[0];
    let ms = |n: usize| n as f64 * 1000.0 / f64::from(wav.rate);
    match signal_span(left, 0.05) {
        Some(span) => (
            ms(span.1 - span.0 + 1),
            ms(longest_silence_within(left, span, 0.05)),
        ),
        None => (0.0, 0.0),
    }
}

#[test]
fn playing_on_the_default_moves_with_the_default_sink_and_loses_nothing() {
    let _sink = lock_sink();
    let sinks = [ExtraSink::load(FIRST), ExtraSink::load(SECOND)];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tone.flac");
    make_tone(&file, 440.0, TONE_MS / 1000.0, 48_000, 2, 0.5);
    let log = dir.path().join("metrics.jsonl");
    let rec_second = Recorder::start_on(SECOND, &dir.path().join("second.wav"));
    set_default_sink(FIRST);

    let mut child = Command::new(reel_bin())
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .args(["play", "--no-gui", "--metrics-log"])
        .arg(&log)
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(10), || {
        logged_position_ms(&log) > 1000.0
    });
    let at_switch_ms = logged_position_ms(&log);
    set_default_sink(SECOND);
    // reel's stream (the only sink input) is on the new default within the time asked.
    let second_index = sink_index(SECOND);
    wait_until(Duration::from_millis(MOVE_WITHIN_MS as u64), || {
        sink_inputs_on() == [second_index.clone()]
    });
    let status = wait_child_with_timeout(&mut child, Duration::from_secs(20));
    assert!(status.success(), "reel play: {status}");
    let second_wav = read_wav(&rec_second.stop());
    drop(sinks);

    let (on_second, gap_on_second) = heard_ms(&second_wav);
    // The rest of the track, from where the listener was: not less than the time left at
    // the switch minus the move, and nothing played again.
    let left_ms = TONE_MS - at_switch_ms;
    assert!(
        on_second >= left_ms - MOVE_WITHIN_MS && on_second <= left_ms + 150.0,
        "heard on the new default for {on_second:.0} ms; {left_ms:.0} ms were left at the switch"
    );
    assert!(
        gap_on_second <= 5.0,
        "a {gap_on_second:.0} ms gap on the second sink"
    );
}
