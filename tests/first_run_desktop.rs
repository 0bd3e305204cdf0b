//! A fresh desktop account, as a new user has it: PipeWire runs (with pipewire-pulse), but no
//! PulseAudio client has run yet, so there is no `~/.config/pulse/cookie`. reel must still
//! reach the sound server through the PulseAudio protocol (an anonymous cookie, as libpulse
//! sends), never fall back to ALSA through pipewire-alsa, whose worker busy-polls a core, and
//! play without a gap. Run by `make test` inside the private sound server.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::*;

/// Below this envelope a stretch of the recording counts as silence.
const SILENCE: f32 = 0.01;

/// `reel` as a fresh account runs it: an empty HOME, no `PULSE_COOKIE`, no host forced.
fn reel_without_cookie(home: &Path) -> Command {
    let mut cmd = Command::new(reel_bin());
    cmd.env("HOME", home)
        .env_remove("PULSE_COOKIE")
        .env_remove("REEL_AUDIO_HOST")
        .env_remove("XDG_CONFIG_HOME");
    cmd
}

fn cookie_paths(home: &Path) -> [std::path::PathBuf; 2] {
    [
        home.join(".config/pulse/cookie"),
        home.join(".pulse-cookie"),
    ]
}

#[test]
fn without_a_pulse_cookie_reel_plays_through_the_sound_server_without_a_gap() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let file = dir.path().join("tone.flac");
        make_tone(&file, 440.0, 3.0, 48_000, 2, 0.5);
        let log = dir.path().join("metrics.jsonl");
        let _sink = lock_sink();
        let rec = Recorder::start(&dir.path().join("recording.wav"));
        let out = run_with_timeout(
            reel_without_cookie(&home)
                .args(["play", "--no-gui", "--metrics-log"])
                .arg(&log)
                .arg(&file),
            Duration::from_secs(30),
        );
        let wav = read_wav(&rec.stop());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
        for p in cookie_paths(&home) {
            assert!(
                !p.exists(),
                "the test's HOME must have no cookie: {}",
                p.display()
            );
        }
        let (samples, _summary) = support::faults::read_metrics(&log);
        let host = samples
            .iter()
            .find_map(|s| s["host"].as_str().filter(|h| !h.is_empty()))
            .expect("no sample names the host");
        assert_eq!(
            host, "PulseAudio",
            "reel must reach the server through its PulseAudio protocol, not ALSA"
        );
        let left = &wav.channels[0];
        let span = signal_span(left, SILENCE).expect("the recording is silent");
        let heard = (span.1 - span.0) as f64 / RECORD_RATE as f64;
        assert!(
            (heard - 3.0).abs() < 0.05,
            "heard {heard:.3} s of a 3 s tone"
        );
        let gap = longest_silence_within(left, span, SILENCE);
        assert!(
            gap < RECORD_RATE as usize / 200,
            "the recording has a gap of {gap} frames"
        );
    });
}

#[test]
fn without_a_pulse_cookie_reel_devices_names_the_sound_server_as_its_host() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = run_with_timeout(
            reel_without_cookie(dir.path()).arg("devices"),
            Duration::from_secs(20),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let first = stdout.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("host: PulseAudio (the sound server at ")
                && first.ends_with("answered)"),
            "first line: {first:?}"
        );
        assert!(stdout.contains(&test_sink()), "{stdout}");
    });
}

/// CPU per ms of heard audio of `cmd` playing a 10 s tone, over 5 s (support's measure).
fn cpu_share(cmd: Command, dir: &Path, name: &str) -> f64 {
    let file = dir.join(format!("{name}.flac"));
    make_tone(&file, 440.0, 10.0, 48_000, 2, 0.5);
    cpu_share_while_playing(cmd, &file, &dir.join(format!("{name}.jsonl")), 5000.0)
}

/// The regression this guards: without a cookie reel used to land on ALSA through
/// pipewire-alsa and spend 93× the CPU (a core, busy-polling at real-time priority).
#[test]
fn without_a_pulse_cookie_playing_costs_no_more_cpu_than_with_one() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let _sink = lock_sink();
        // The harness's own environment has a cookie (pactl, a libpulse client, wrote it).
        let with = cpu_share(Command::new(reel_bin()), dir.path(), "with");
        let without = cpu_share(reel_without_cookie(&home), dir.path(), "without");
        for p in cookie_paths(&home) {
            assert!(
                !p.exists(),
                "the test's HOME must have no cookie: {}",
                p.display()
            );
        }
        assert!(
            // 0.5 % of a core on top: /proc counts CPU in 10 ms ticks, 0.2 % of 5 s.
            without <= with * 1.5 + 0.005,
            "without a cookie reel used {:.1} % of a core, with one {:.1} %",
            without * 100.0,
            with * 100.0
        );
    });
}

/// A sound server whose socket answers but that refuses reel (here a socket that hangs up on
/// every connection) is said in one line, exit 3. reel does not go through ALSA instead: on a
/// desktop that would be the server's ALSA plugin, which busy-polls a core.
#[test]
fn a_sound_server_that_refuses_reel_is_said_in_one_line_not_bypassed_through_alsa() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let runtime = dir.path().join("runtime");
        std::fs::create_dir_all(runtime.join("pulse")).unwrap();
        let socket = runtime.join("pulse/native");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                drop(conn);
            }
        });
        let out = run_with_timeout(
            reel_without_cookie(dir.path())
                .env("XDG_RUNTIME_DIR", &runtime)
                .env("PULSE_SERVER", format!("unix:{}", socket.display()))
                .env_remove("PULSE_RUNTIME_PATH")
                .env_remove("PIPEWIRE_RUNTIME_DIR")
                .arg("devices"),
            Duration::from_secs(20),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(
            lines[0].starts_with(&format!(
                "reel: the sound server at {} did not accept reel (",
                socket.display()
            )),
            "{stderr}"
        );
    });
}
