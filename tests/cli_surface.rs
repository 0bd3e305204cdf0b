//! The headless CLI as a user meets it: the terminal status line, device selection, the
//! device list, and a decoder crash that must end one track, not the program.

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

#[test]
fn a_decoder_panic_ends_that_track_and_the_others_still_play() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.flac");
    let crash = dir.path().join("crash-me.flac");
    let last = dir.path().join("last.flac");
    make_tone(&first, 440.0, 1.0, 48_000, 2, 0.5);
    make_tone(&crash, 550.0, 1.0, 48_000, 2, 0.5);
    make_tone(&last, 660.0, 1.0, 48_000, 2, 0.5);
    let log = dir.path().join("m.jsonl");
    let out = run_with_timeout(
        Command::new(reel_bin())
            .args(["play", "--no-gui", "--metrics-log"])
            .arg(&log)
            .args([&first, &crash, &last])
            // Files play from the cache, as objects named by their BLAKE3 hash: name both.
            .env(
                "REEL_FAULT_DECODER_PANIC",
                format!(
                    "crash-me,{}",
                    blake3::hash(&std::fs::read(&crash).unwrap()).to_hex()
                ),
            ),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, no panic dump: {stderr}");
    assert!(
        lines[0].contains("crash-me") && lines[0].contains("decoder crashed"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(summary["frames_played"], 2 * 48_000, "{summary}");
}

#[test]
fn on_a_terminal_a_status_line_shows_position_ring_latency_and_underruns() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tone.flac");
    make_tone(&file, 440.0, 1.5, 48_000, 2, 0.5);
    let typescript = dir.path().join("typescript");
    // `script` gives reel a pseudo-terminal, as a user's shell would.
    let cmd = format!("{} play --no-gui {}", reel_bin().display(), file.display());
    let out = run_with_timeout(
        Command::new("script")
            .args(["-q", "-e", "-c", &cmd])
            .arg(&typescript),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let screen = std::fs::read_to_string(&typescript).unwrap();
    assert!(screen.contains("ring "), "{screen}");
    assert!(screen.contains("latency "), "{screen}");
    assert!(screen.contains("underruns 0"), "{screen}");
    assert!(
        screen.contains("0:01 / 0:01") || screen.contains("0:00 / 0:01"),
        "{screen}"
    );
    assert!(
        screen.contains("tone.flac") || screen.contains(".flac"),
        "{screen}"
    );
}

#[test]
fn without_a_terminal_there_is_no_status_line() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tone.wav");
    make_tone(&file, 440.0, 0.5, 48_000, 2, 0.5);
    let out = run_with_timeout(
        Command::new(reel_bin())
            .args(["play", "--no-gui"])
            .arg(&file),
        Duration::from_secs(30),
    );
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn devices_lists_the_sound_servers_sink_with_its_formats() {
    let sink = test_sink();
    let out = run_with_timeout(
        Command::new(reel_bin()).arg("devices"),
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&sink), "{stdout}");
    assert!(
        stdout.contains("f32:") && stdout.contains(" Hz") && stdout.contains("buffer "),
        "{stdout}"
    );
    let json = run_with_timeout(
        Command::new(reel_bin()).args(["devices", "--json"]),
        Duration::from_secs(30),
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == sink.as_str() && d["is_default"] == true),
        "{v}"
    );
}

#[test]
fn a_named_device_plays_and_an_unknown_one_is_refused_clearly() {
    let _sink = lock_sink();
    let sink = test_sink();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tone.wav");
    make_tone(&file, 440.0, 0.5, 48_000, 2, 0.5);
    let log = dir.path().join("m.jsonl");
    let out = run_with_timeout(
        Command::new(reel_bin())
            .args(["play", "--no-gui", "--device", &sink, "--metrics-log"])
            .arg(&log)
            .arg(&file),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&format!("\"device\":\"{sink}\"")) || text.contains("reel-test-sink"),
        "{text}"
    );

    let out = run_with_timeout(
        Command::new(reel_bin())
            .args(["play", "--no-gui", "--device", "no-such-device"])
            .arg(&file),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no output device named \"no-such-device\"") && stderr.contains(&sink),
        "{stderr}"
    );
}

#[test]
fn help_describes_every_command() {
    let out = run_with_timeout(
        Command::new(reel_bin()).arg("--help"),
        Duration::from_secs(10),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in ["play", "decode", "devices"] {
        assert!(text.contains(cmd), "{text}");
    }
    let out = run_with_timeout(
        Command::new(reel_bin()).args(["play", "--help"]),
        Duration::from_secs(10),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--no-gui", "--device", "--buffer-ms", "--metrics-log"] {
        assert!(text.contains(flag), "{text}");
    }
}

#[test]
fn decode_null_decodes_the_whole_file_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tone.flac");
    make_tone(&file, 440.0, 3.0, 44_100, 2, 0.5);
    let listing = || {
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };

    for extra in [&[][..], &["--rate", "48000"][..]] {
        let out = run_with_timeout(
            Command::new(reel_bin())
                .args(["decode", "--null"])
                .args(extra)
                .arg(&file),
            Duration::from_secs(30),
        );
        assert!(out.status.success(), "{out:?}");
        assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
        assert_eq!(listing(), ["tone.flac"]);
    }

    // A bad file fails as it does with --out: one line naming it, exit 1.
    let bad = dir.path().join("notes.flac");
    std::fs::write(&bad, "not audio at all\n".repeat(100)).unwrap();
    let out = run_with_timeout(
        Command::new(reel_bin())
            .args(["decode", "--null"])
            .arg(&bad),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("notes.flac"), "{stderr}");

    // --null and --out together are refused before anything is decoded or written.
    let out = run_with_timeout(
        Command::new(reel_bin())
            .args(["decode", "--null", "--out"])
            .arg(dir.path().join("x.wav"))
            .arg(&file),
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(listing(), ["notes.flac", "tone.flac"]);
}
