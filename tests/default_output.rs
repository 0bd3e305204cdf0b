//! Playing on "the default" follows the system's default output: when the desktop's default
//! sink changes (headphones plugged in, a new default chosen in the settings), the sound moves
//! there, and the listener loses nothing of the track. Two null sinks added to the private
//! sound server; the one moved to is recorded from its monitor by parec. (Only that one: on
//! this server a recording of the sink moved *from* moves with the default too, so it would
//! record both parts.)
//!
//! Playing on a named device (`--device`) that goes away and comes back: the sound goes on on
//! the default while it is gone and goes back to it when it returns, from where the listener
//! was each time. The track is a rising chirp, so a recording says which part of it was heard.

mod support;

use std::path::Path;
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

/// The device named with `--device`, unplugged and plugged in again.
const NAMED: &str = "reel_named_sink";
/// The chirp: its frequency rises from `CHIRP_FROM_HZ` by `CHIRP_HZ_PER_S` each second.
const CHIRP_MS: f64 = 6000.0;
const CHIRP_FROM_HZ: f64 = 300.0;
const CHIRP_HZ_PER_S: f64 = 100.0;
/// What a move may leave out or play again of the track (the server's queued audio at a loss
/// is not heard), and how far a chirp reading may be off.
const POSITION_SLACK_MS: f64 = 300.0;

/// A null sink, removed (and the test sink made the default again) when dropped, so the tests
/// that run after this one find the server as they expect it.
struct ExtraSink {
    /// Empty once unplugged.
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

impl ExtraSink {
    /// Remove it now, as a device unplugged; the default sink is left as it is.
    fn unplug(mut self) {
        let module = std::mem::take(&mut self.module);
        let o = run_with_timeout(
            Command::new("pactl").args(["unload-module", &module]),
            Duration::from_secs(10),
        );
        assert!(o.status.success(), "pactl unload-module {module}: {o:?}");
    }
}

impl Drop for ExtraSink {
    fn drop(&mut self) {
        if self.module.is_empty() {
            return;
        }
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

/// `reel play --no-gui` of `file` with its own cache in `dir`, `extra` options and a metrics
/// log at `log`; stderr is kept for the test to read.
fn play_logged(dir: &Path, extra: &[&str], log: &Path, file: &Path) -> std::process::Child {
    Command::new(reel_bin())
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["play", "--no-gui"])
        .args(extra)
        .arg("--metrics-log")
        .arg(log)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn playing_on_the_default_moves_with_the_default_sink_and_loses_nothing() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let sinks = [ExtraSink::load(FIRST), ExtraSink::load(SECOND)];
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tone.flac");
        make_tone(&file, 440.0, TONE_MS / 1000.0, 48_000, 2, 0.5);
        let log = dir.path().join("metrics.jsonl");
        let rec_second = Recorder::start_on(SECOND, &dir.path().join("second.wav"));
        set_default_sink(FIRST);

        let mut child = play_logged(dir.path(), &[], &log, &file);
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
        let out = child.stderr.take().unwrap();
        let status = wait_child_with_timeout(&mut child, Duration::from_secs(20));
        assert!(status.success(), "reel play: {status}");
        let mut said = String::new();
        std::io::Read::read_to_string(&mut std::io::BufReader::new(out), &mut said).unwrap();
        let second_wav = read_wav(&rec_second.stop());
        drop(sinks);

        // reel knew where the server took its stream: it said so, and the meters named it.
        assert!(
            said.contains(&format!("audio output moved to {SECOND}")),
            "reel said: {said}"
        );
        let devices = logged_devices(&log);
        assert!(
            devices.len() == 2 && devices[0].starts_with(FIRST) && devices[1].starts_with(SECOND),
            "devices in the metrics log: {devices:?}"
        );

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
    });
}

/// A `CHIRP_MS` chirp (see `CHIRP_FROM_HZ`), stereo, 48 kHz FLAC.
fn make_chirp(path: &std::path::Path) {
    let phase = format!("2*PI*({CHIRP_FROM_HZ}*t+{}*t*t)", CHIRP_HZ_PER_S / 2.0);
    let source = format!(
        "aevalsrc=exprs=0.5*sin({phase})|0.5*sin({phase}):c=stereo:s=48000:d={}",
        CHIRP_MS / 1000.0
    );
    let o = run_with_timeout(
        Command::new("ffmpeg")
            .args([
                "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", &source,
            ])
            .arg(path),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "ffmpeg chirp: {o:?}");
}

/// The chirp's position (ms into the track) heard at recorded frame `at`, read from its
/// frequency over the 100 ms from there (`forward`) or up to there.
fn chirp_position_ms(wav: &Wav, at: usize, forward: bool) -> f64 {
    let window = wav.rate as usize / 10;
    let left = &wav.channels[0];
    let from = if forward { at } else { at + 1 - window };
    let hz = dominant_frequency(&left[from..from + window], wav.rate);
    let centre_ms = (hz - CHIRP_FROM_HZ) / CHIRP_HZ_PER_S * 1000.0;
    if forward {
        centre_ms - 50.0
    } else {
        centre_ms + 50.0
    }
}

/// Where the chirp was at the first and the last audible moment of a recording, and the
/// recording's length from one to the other and its longest silence between them (ms).
fn chirp_heard(wav: &Wav) -> (f64, f64, f64, f64) {
    let left = &wav.channels[0];
    let span = signal_span(left, 0.05).expect("the chirp was heard");
    let ms = |n: usize| n as f64 * 1000.0 / f64::from(wav.rate);
    (
        chirp_position_ms(wav, span.0, true),
        chirp_position_ms(wav, span.1, false),
        ms(span.1 - span.0 + 1),
        ms(longest_silence_within(left, span, 0.05)),
    )
}

/// The `device` of each metrics-log line, once per run of equal ones, empty ones left out.
fn logged_devices(log: &std::path::Path) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let Some(d) = v["device"].as_str().filter(|d| !d.is_empty())
            && out.last().is_none_or(|l| l != d)
        {
            out.push(d.to_string());
        }
    }
    out
}

#[test]
fn a_named_device_that_goes_away_is_stood_in_for_by_the_default_and_taken_back() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let default = ExtraSink::load(FIRST);
        let named = ExtraSink::load(NAMED);
        set_default_sink(FIRST);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("chirp.flac");
        make_chirp(&file);
        let log = dir.path().join("metrics.jsonl");
        let rec_default = Recorder::start_on(FIRST, &dir.path().join("default.wav"));

        let mut child = play_logged(dir.path(), &["--device", NAMED], &log, &file);
        let named_index = sink_index(NAMED);
        wait_until(Duration::from_secs(10), || {
            logged_position_ms(&log) > 1000.0 && sink_inputs_on() == [named_index.clone()]
        });

        // Unplugged: on the default within the time asked, and playing on there.
        let at_unplug_ms = logged_position_ms(&log);
        named.unplug();
        let default_index = sink_index(FIRST);
        wait_until(Duration::from_millis(MOVE_WITHIN_MS as u64), || {
            sink_inputs_on() == [default_index.clone()]
        });
        wait_until(Duration::from_secs(10), || {
            logged_position_ms(&log) > at_unplug_ms + 1000.0
        });

        // Plugged in again (a new sink by the same name): back on it within the time asked.
        let named = ExtraSink::load(NAMED);
        let named_index = sink_index(NAMED);
        wait_until(Duration::from_millis(MOVE_WITHIN_MS as u64), || {
            sink_inputs_on() == [named_index.clone()]
        });
        // (Started once reel is back there, so it misses the first moments back.)
        let rec_named = Recorder::start_on(NAMED, &dir.path().join("named.wav"));
        let out = child.stderr.take().unwrap();
        let status = wait_child_with_timeout(&mut child, Duration::from_secs(20));
        assert!(status.success(), "reel play: {status}");
        let mut said = String::new();
        std::io::Read::read_to_string(&mut std::io::BufReader::new(out), &mut said).unwrap();
        let on_default = read_wav(&rec_default.stop());
        let on_named = read_wav(&rec_named.stop());
        drop((named, default));

        // One line for each move, naming where the sound went.
        assert!(
            said.contains(&format!(
                "audio output {NAMED} is gone; playing on the default"
            )),
            "reel said: {said}"
        );
        assert!(
            said.contains(&format!("audio output back on {NAMED}")),
            "reel said: {said}"
        );
        // The meters named the device the sound was on each time.
        let devices = logged_devices(&log);
        assert!(
            devices.len() == 3
                && devices[0].starts_with(NAMED)
                && devices[1].starts_with(FIRST)
                && devices[2].starts_with(NAMED),
            "devices in the metrics log: {devices:?}"
        );

        // On the default: from where the listener was at the unplugging, at the track's own
        // pace, without a gap.
        let (from_ms, to_ms, for_ms, gap_ms) = chirp_heard(&on_default);
        assert!(
            from_ms >= at_unplug_ms - POSITION_SLACK_MS && from_ms <= at_unplug_ms + MOVE_WITHIN_MS,
            "the default took over at {from_ms:.0} ms into the track; it was at {at_unplug_ms:.0} ms"
        );
        assert!(
            (to_ms - from_ms - for_ms).abs() <= POSITION_SLACK_MS,
            "{for_ms:.0} ms on the default went from {from_ms:.0} to {to_ms:.0} ms into the track"
        );
        assert!(gap_ms <= 5.0, "a {gap_ms:.0} ms gap on the default");
        // Back on the named device: on from there (nothing started again), to the end.
        let (back_ms, end_ms, _, gap_ms) = chirp_heard(&on_named);
        assert!(
            back_ms >= to_ms - POSITION_SLACK_MS,
            "back on {NAMED} at {back_ms:.0} ms into the track; the default had reached {to_ms:.0} ms"
        );
        assert!(
            end_ms >= CHIRP_MS - POSITION_SLACK_MS,
            "the track ended at {end_ms:.0} ms of {CHIRP_MS:.0}"
        );
        assert!(gap_ms <= 5.0, "a {gap_ms:.0} ms gap on {NAMED}");
    });
}
