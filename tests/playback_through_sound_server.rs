//! Real files through `reel play --no-gui` into the private sound server's null sink, recorded
//! from its monitor: what comes out must be what was in the file, in real time, without gaps.
//! Run by `make test`, which starts the sound server.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// The null sink runs at 48 kHz.
const SINK_RATE: u32 = 48_000;
/// Below this envelope a stretch of the recording counts as silence.
const SILENCE: f32 = 0.01;

struct Played {
    wav: Wav,
    wall: Duration,
    status: std::process::ExitStatus,
    stderr: String,
    log: Vec<serde_json::Value>,
}

/// Play `files` with extra args while recording the sink.
fn play_and_record(dir: &Path, files: &[&Path], extra: &[&str]) -> Played {
    let rec_path = dir.join("recording.wav");
    let log_path = dir.join("metrics.jsonl");
    let rec = Recorder::start(&rec_path);
    let mut cmd = Command::new(reel_bin());
    cmd.args(["play", "--no-gui", "--metrics-log"])
        .arg(&log_path)
        .args(extra)
        .args(files);
    let t0 = Instant::now();
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    let wall = t0.elapsed();
    let rec_path = rec.stop();
    let log = std::fs::read_to_string(&log_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Played {
        wav: read_wav(&rec_path),
        wall,
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        log,
    }
}

fn summary(p: &Played) -> &serde_json::Value {
    let last = p.log.last().expect("empty metrics log");
    assert_eq!(last["event"], "summary");
    last
}

fn span_secs(samples: &[f32]) -> (usize, usize, f64) {
    let (a, b) = signal_span(samples, SILENCE).expect("the recording is silent");
    (a, b, (b - a) as f64 / SINK_RATE as f64)
}

#[test]
fn a_tone_plays_in_real_time_with_its_frequency_level_and_length() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tone.flac");
        make_tone(&file, 440.0, 3.0, 48_000, 2, 0.5);
        let p = play_and_record(dir.path(), &[&file], &[]);
        assert!(p.status.success(), "{}", p.stderr);

        let left = &p.wav.channels[0];
        let (a, b, secs) = span_secs(left);
        assert!(
            (secs - 3.0).abs() <= 0.05,
            "played {secs:.3} s of a 3 s file"
        );
        let body = &left[a..b];
        let f = dominant_frequency(body, SINK_RATE);
        assert!((f - 440.0).abs() < 2.0, "frequency {f}");
        // A 0.5-amplitude sine is −9.03 dBFS RMS.
        let level = rms_dbfs(body);
        assert!((level + 9.03).abs() < 1.0, "level {level} dBFS");
        let gap = longest_silence_within(left, (a, b), SILENCE);
        assert!(
            gap < SINK_RATE as usize / 200,
            "a dropout of {gap} samples inside the signal"
        );
        // Real time: not faster than the audio, and not much slower (start-up and drain).
        assert!(
            p.wall >= Duration::from_millis(2950),
            "finished in {:?}: faster than real time",
            p.wall
        );
        assert!(p.wall <= Duration::from_millis(5000), "took {:?}", p.wall);

        let s = summary(&p);
        assert_eq!(s["underruns"], 0, "{s}");
        assert_eq!(s["silent_frames"], 0, "{s}");
        assert_eq!(s["frames_played"], 3 * 48_000);
    });
}

#[test]
fn a_44k_file_is_resampled_to_the_48k_sink_keeping_pitch_and_length() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tone44.wav");
        make_tone(&file, 1000.0, 2.0, 44_100, 2, 0.5);
        let p = play_and_record(dir.path(), &[&file], &[]);
        assert!(p.status.success(), "{}", p.stderr);
        let left = &p.wav.channels[0];
        let (a, b, secs) = span_secs(left);
        assert!((secs - 2.0).abs() <= 0.05, "played {secs:.3} s");
        let f = dominant_frequency(&left[a..b], SINK_RATE);
        assert!((f - 1000.0).abs() < 2.0, "frequency {f}");
        assert!(longest_silence_within(left, (a, b), SILENCE) < 240);
        let s = summary(&p);
        assert_eq!(s["underruns"], 0);
        assert_eq!(
            s["frames_played"],
            2 * 48_000,
            "exactly 2 s at the device rate"
        );
        // The metrics say a resampler ran and what it costs in latency.
        let sample = p
            .log
            .iter()
            // Heard, not only asked to play: before the file is open there is no file rate.
            .find(|l| l["state"] == "playing" && l["frames_played"].as_u64().unwrap_or(0) > 0)
            .expect("no sample while playing");
        assert_eq!(sample["file_rate"], 44_100);
        assert_eq!(sample["device_rate"], 48_000);
        assert!(sample["resampler_delay_ms"].as_f64().unwrap() > 0.0);
    });
}

#[test]
fn stereo_channels_stay_on_their_sides_and_mono_goes_to_both() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let stereo = dir.path().join("lr.flac");
        make_stereo_tones(&stereo, 440.0, 660.0, 1.5, 48_000);
        let p = play_and_record(dir.path(), &[&stereo], &[]);
        assert!(p.status.success(), "{}", p.stderr);
        let (a, b, _) = span_secs(&p.wav.channels[0]);
        assert!((dominant_frequency(&p.wav.channels[0][a..b], SINK_RATE) - 440.0).abs() < 2.0);
        assert!((dominant_frequency(&p.wav.channels[1][a..b], SINK_RATE) - 660.0).abs() < 2.0);

        let dir = tempfile::tempdir().unwrap();
        let mono = dir.path().join("mono.wav");
        make_tone(&mono, 550.0, 1.5, 48_000, 1, 0.5);
        let p = play_and_record(dir.path(), &[&mono], &[]);
        assert!(p.status.success(), "{}", p.stderr);
        for ch in &p.wav.channels {
            let (a, b, secs) = span_secs(ch);
            assert!((secs - 1.5).abs() <= 0.05);
            assert!((dominant_frequency(&ch[a..b], SINK_RATE) - 550.0).abs() < 2.0);
            assert!(
                (rms_dbfs(&ch[a..b]) + 9.03).abs() < 1.0,
                "mono is not attenuated per side"
            );
        }
    });
}

#[test]
fn a_surround_file_is_downmixed_with_its_fronts_kept_apart() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("surround.wav");
        // 5.1 with a tone on front-left only.
        let status = Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "sine=f=440:d=1.5:r=48000",
            ])
            .args([
                "-filter_complex",
                "[0]pan=5.1|FL=c0|FR=0*c0|FC=0*c0|LFE=0*c0|BL=0*c0|BR=0*c0",
            ])
            .arg(&file)
            .status()
            .unwrap();
        assert!(status.success());
        let p = play_and_record(dir.path(), &[&file], &[]);
        assert!(p.status.success(), "{}", p.stderr);
        let (a, b, _) = span_secs(&p.wav.channels[0]);
        assert!((dominant_frequency(&p.wav.channels[0][a..b], SINK_RATE) - 440.0).abs() < 2.0);
        assert!(
            rms_dbfs(&p.wav.channels[1][a..b]) < -60.0,
            "front-left leaked into the right side"
        );
    });
}

#[test]
fn files_play_in_order_back_to_back_and_exit_zero() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one.flac");
        let two = dir.path().join("two.ogg");
        make_tone(&one, 440.0, 1.5, 48_000, 2, 0.5);
        make_tone(&two, 880.0, 1.5, 44_100, 2, 0.5);
        let p = play_and_record(dir.path(), &[&one, &two], &[]);
        assert!(p.status.success(), "{}", p.stderr);
        let left = &p.wav.channels[0];
        let (a, b, secs) = span_secs(left);
        assert!((secs - 3.0).abs() <= 0.06, "played {secs:.3} s of 3 s");
        let half = SINK_RATE as usize * 3 / 2;
        let first = &left[a + 2400..a + half - 2400];
        let second = &left[a + half + 2400..b - 2400];
        assert!((dominant_frequency(first, SINK_RATE) - 440.0).abs() < 2.0);
        assert!((dominant_frequency(second, SINK_RATE) - 880.0).abs() < 3.0);
        let gap = longest_silence_within(left, (a, b), SILENCE);
        assert!(
            gap < 240,
            "a gap of {gap} samples inside the played span; reel's summary: {}",
            summary(&p)
        );
        let s = summary(&p);
        assert_eq!(s["underruns"], 0);
        let ttfa = s["time_to_first_audio_ms"].as_array().unwrap();
        assert_eq!(ttfa.len(), 2, "one time-to-first-audio per track: {s}");
        assert!(ttfa.iter().all(|t| t.as_f64().is_some()), "{s}");
    });
}

#[test]
fn the_metrics_log_has_every_field_every_100_ms_and_a_summary() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tone.mp3");
        make_tone(&file, 440.0, 2.0, 44_100, 2, 0.5);
        let p = play_and_record(dir.path(), &[&file], &[]);
        assert!(p.status.success(), "{}", p.stderr);
        let samples: Vec<_> = p.log.iter().filter(|l| l.get("event").is_none()).collect();
        // About one line per 100 ms of the run.
        let expected = p.wall.as_millis() as usize / 100;
        assert!(
            samples.len() + 3 >= expected && samples.len() <= expected + 3,
            "{} lines over {:?}",
            samples.len(),
            p.wall
        );
        for field in [
            "ring_fill_ms",
            "ring_capacity_ms",
            "device_latency_ms",
            "output_latency_ms",
            "position_ms",
            "underruns",
            "silent_frames",
            "callback_load_p99",
            "callback_load_max",
            "decode_speed",
            "file_rate",
            "device_rate",
            "track",
        ] {
            assert!(
                samples.iter().all(|l| l.get(field).is_some()),
                "field {field} missing"
            );
        }
        let playing: Vec<_> = samples.iter().filter(|l| l["state"] == "playing").collect();
        assert!(playing.len() >= 10);
        // While playing, the figures are real: a full-ish ring, a measured device latency, and a
        // total that adds up.
        let mid = playing[playing.len() / 2];
        assert!(mid["ring_fill_ms"].as_f64().unwrap() > 50.0, "{mid}");
        assert!(mid["device_latency_ms"].as_f64().unwrap() > 0.0, "{mid}");
        let total = mid["ring_fill_ms"].as_f64().unwrap()
            + mid["device_latency_ms"].as_f64().unwrap()
            + mid["resampler_delay_ms"].as_f64().unwrap();
        assert!((mid["output_latency_ms"].as_f64().unwrap() - total).abs() < 1e-6);
        assert!(mid["decode_speed"].as_f64().unwrap() > 1.0);
        assert!(mid["callback_load_max"].as_f64().unwrap() > 0.0);
        assert_eq!(mid["codec"], "mp3");
        // Position advances with wall time.
        let positions: Vec<f64> = playing
            .iter()
            .map(|l| l["position_ms"].as_f64().unwrap())
            .collect();
        assert!(
            positions.windows(2).all(|w| w[1] >= w[0] - 1.0),
            "position went backwards: {positions:?}"
        );
        assert!(*positions.last().unwrap() > 1500.0);
        let s = summary(&p);
        for field in [
            "frames_played",
            "underruns",
            "silent_frames",
            "time_to_first_audio_ms",
            "errors",
        ] {
            assert!(s.get(field).is_some(), "summary lacks {field}: {s}");
        }
        // How the start was spent: the first audio comes after both the cache step and the
        // output's opening (which run side by side), and after the engine's own time to audio.
        let st = &s["startup"];
        let get = |k: &str| {
            st[k]
                .as_f64()
                .unwrap_or_else(|| panic!("startup lacks {k}: {s}"))
        };
        let first = get("first_audio_since_launch_ms");
        let ttfa = s["time_to_first_audio_ms"][0].as_f64().unwrap();
        assert!(
            first >= get("cache_ms") && first >= get("output_open_ms") && first >= ttfa,
            "first audio at {first} ms is before a step it waits for: {st}, ttfa {ttfa}"
        );
    });
}

#[test]
fn sigint_stops_playback_cleanly_with_exit_code_0() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("long.flac");
        make_tone(&file, 440.0, 20.0, 48_000, 2, 0.5);
        let log = dir.path().join("metrics.jsonl");
        // Plays without recording: keep the other tests' recordings clean.
        let _sink = lock_sink();
        let mut child = Command::new(reel_bin())
            .args(["play", "--no-gui", "--metrics-log"])
            .arg(&log)
            .arg(&file)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait (bounded) until the log shows audio being heard.
        wait_until(Duration::from_secs(15), || logged_position_ms(&log) > 300.0);
        let t0 = Instant::now();
        send_sigint(child.id());
        let status = wait_child_with_timeout(&mut child, Duration::from_secs(5));
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "SIGINT took {:?}",
            t0.elapsed()
        );
        assert_eq!(status.code(), Some(0));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.lines().last().unwrap().contains("\"summary\""));
    });
}

/// Regression: the play loop selected on the background verifier's channel after the
/// verifier had finished; a closed channel is always ready, so the main thread spun a whole
/// core for the rest of the track. Playing is a few percent of a core; a spin is ~100 %.
#[test]
fn playing_does_not_keep_a_core_busy() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tone.flac");
        make_tone(&file, 440.0, 20.0, 48_000, 2, 0.5);
        let _sink = lock_sink();
        // From 1 s of audio heard (start-up, import and the cache check are over) to 4 s.
        let share = cpu_share_while_playing(
            Command::new(reel_bin()),
            &file,
            &dir.path().join("metrics.jsonl"),
            3000.0,
        );
        assert!(share < 0.25, "reel used {:.0} % of a core", share * 100.0);
    });
}

#[test]
fn playing_starts_at_the_requested_position() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tone.flac");
        make_tone(&file, 440.0, 3.0, 48_000, 2, 0.5);
        let p = play_and_record(dir.path(), &[&file], &["--start", "2"]);
        assert!(p.status.success(), "{}", p.stderr);
        let (_, _, secs) = span_secs(&p.wav.channels[0]);
        assert!(
            (secs - 1.0).abs() <= 0.05,
            "played {secs:.3} s after seeking to 2 s of 3 s"
        );
    });
}

#[test]
fn without_a_sound_server_reel_says_so_and_exits_3() {
    support::judged_by_recording(|| {
        let runtime = tempfile::tempdir().unwrap();
        let out = run_with_timeout(
            Command::new(reel_bin())
                .args(["play", "--no-gui", "/nonexistent.flac"])
                // An empty runtime dir: no PipeWire or PulseAudio socket to reach.
                .env("XDG_RUNTIME_DIR", runtime.path())
                .env_remove("PIPEWIRE_RUNTIME_DIR")
                .env_remove("PULSE_SERVER")
                .env_remove("PIPEWIRE_REMOTE"),
            Duration::from_secs(30),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains("no usable audio output device"), "{stderr}");
        assert!(!stderr.contains("panicked"));
        assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
    });
}
