//! Tests of the test harness itself (tests/support): the private sound server routes every way
//! of playing (PipeWire, PulseAudio, ALSA "default" as cpal opens it) into the null sink, the
//! recorder captures it faithfully, the server can be killed and brought back, and the
//! analysis helpers measure what they claim. Run by `make test`, inside the sound server.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

/// Below this a recorded sample counts as silence.
const SILENCE: f32 = 0.01;
/// A 0.5-amplitude sine, in dBFS RMS.
const HALF_SCALE_SINE_DBFS: f64 = -9.03;

/// Plays `file` with `player` (whose last argument is the file) while recording the sink.
fn play_and_record(dir: &Path, mut player: Command) -> Wav {
    let rec = Recorder::start(&dir.join("recording.wav"));
    let o = run_with_timeout(&mut player, Duration::from_secs(30));
    assert!(
        o.status.success(),
        "{player:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let wav = read_wav(&rec.stop());
    assert_eq!(wav.rate, RECORD_RATE);
    assert_eq!(wav.channels.len(), usize::from(RECORD_CHANNELS));
    wav
}

/// The recording holds exactly one `secs`-long `hz` tone at half scale on both channels:
/// right pitch, right level, right length (within 50 ms), no dropout.
#[track_caller]
fn assert_faithful(wav: &Wav, hz: f64, secs: f64) {
    assert_routed(wav, hz, secs, secs - 0.05);
}

/// As [`assert_faithful`], but at least `min_secs` of the tone need arrive. For players other
/// than pw-play: on a heavily loaded machine (load average 8 on 2 cores) paplay and mpv were
/// seen to lose up to a quarter of a second of a 1 s tone, spliced out without a silent gap,
/// in this PipeWire; these tests are about the routing, not about those players.
#[track_caller]
fn assert_routed(wav: &Wav, hz: f64, secs: f64, min_secs: f64) {
    for (c, ch) in wav.channels.iter().enumerate() {
        let (a, b) = signal_span(ch, SILENCE)
            .unwrap_or_else(|| panic!("channel {c}: the recording is silent"));
        let played = (b - a) as f64 / f64::from(wav.rate);
        assert!(
            played >= min_secs && played <= secs + 0.05,
            "channel {c}: {played:.3} s of signal, expected {secs} s"
        );
        let body = &ch[a..=b];
        let f = dominant_frequency(body, wav.rate);
        assert!(
            (f - hz).abs() <= 2.0,
            "channel {c}: {f:.2} Hz, expected {hz} Hz"
        );
        let level = rms_dbfs(body);
        assert!(
            (level - HALF_SCALE_SINE_DBFS).abs() <= 1.0,
            "channel {c}: {level:.2} dBFS, expected {HALF_SCALE_SINE_DBFS}"
        );
        let gap = longest_silence_within(ch, (a, b), SILENCE);
        assert!(
            gap <= 240,
            "channel {c}: a {gap}-sample silence (> 5 ms) inside the signal"
        );
    }
}

#[test]
fn pw_play_into_the_sink_is_recorded_faithfully() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tone.wav");
        make_tone(&file, 440.0, 1.0, 48_000, 2, 0.5);
        let mut player = Command::new("pw-play");
        player.args(["--target", &test_sink()]).arg(&file);
        assert_faithful(&play_and_record(dir.path(), player), 440.0, 1.0);
    });
}

#[test]
fn alsa_default_reaches_the_sink_as_cpal_would_open_it() {
    support::judged_by_recording(|| {
        // cpal's ALSA host opens the PCM "default"; with pipewire-alsa that is PipeWire, which
        // routes new streams to the default sink. mpv's ALSA output takes the same path. (ffmpeg's
        // and sox's ALSA outputs run their buffers so small that they underrun here.)
        //
        // (A minimal cpal program playing 1 s through ALSA "default" here recorded as exactly
        // 1.000 s with no gap, also with both cores saturated by stress-ng.)
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tone.flac");
        make_tone(&file, 660.0, 1.0, 44_100, 2, 0.5);
        let mut player = Command::new("mpv");
        player
            .args([
                "--no-config",
                "--really-quiet",
                "--no-video",
                "--ao=alsa",
                "--audio-device=alsa/default",
            ])
            .arg(&file);
        assert_routed(&play_and_record(dir.path(), player), 660.0, 1.0, 0.5);
    });
}

#[test]
fn pulseaudio_clients_reach_the_sink() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tone.wav");
        make_tone(&file, 550.0, 1.0, 48_000, 2, 0.5);
        let mut player = Command::new("paplay");
        player.arg(&file);
        assert_routed(&play_and_record(dir.path(), player), 550.0, 1.0, 0.5);
    });
}

#[test]
fn the_sound_server_can_be_killed_and_brought_back() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let pactl_ok = || {
            run_with_timeout(Command::new("pactl").arg("info"), Duration::from_secs(10))
                .status
                .success()
        };
        assert!(pactl_ok(), "the sound server is not up to begin with");

        stop_sound_server(true);
        assert!(
            !pactl_ok(),
            "pactl still answers after the server was killed"
        );
        let t0 = Instant::now();
        start_sound_server();
        eprintln!("the sound server came back in {:?}", t0.elapsed());
        assert!(pactl_ok());
        let o = run_with_timeout(
            Command::new("pactl").arg("get-default-sink"),
            Duration::from_secs(10),
        );
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), test_sink());

        // And it still carries sound, after an orderly restart too.
        stop_sound_server(false);
        start_sound_server();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tone.wav");
        make_tone(&file, 880.0, 0.5, 48_000, 2, 0.5);
        let mut player = Command::new("pw-play");
        player.arg(&file);
        assert_faithful(&play_and_record(dir.path(), player), 880.0, 0.5);
    });
}

#[test]
fn recordings_are_bounded_and_a_hanging_command_is_killed() {
    support::judged_by_recording(|| {
        let t0 = Instant::now();
        let r = std::panic::catch_unwind(|| {
            run_with_timeout(Command::new("sleep").arg("30"), Duration::from_millis(300));
        });
        assert!(
            r.is_err(),
            "run_with_timeout did not panic on a hanging command"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "took {:?} to give up",
            t0.elapsed()
        );

        let o = run_with_timeout(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(10),
        );
        assert_eq!(o.status.code(), Some(3));
        assert_eq!(o.stdout, b"out\n");
        assert_eq!(o.stderr, b"err\n");
    });
}

// --- The analysis helpers, on signals made in memory ---------------------------------------

#[test]
fn dominant_frequency_is_accurate_to_a_fraction_of_a_hertz() {
    support::judged_by_recording(|| {
        for &(hz, secs, rate) in &[
            (440.0, 0.5, 48_000),
            (1000.0, 1.0, 44_100),
            (61.7, 1.0, 48_000),
            (997.3, 0.5, 48_000),
            (15_000.0, 0.5, 96_000),
        ] {
            let f = dominant_frequency(&sine(hz, secs, rate, 0.5), rate);
            assert!(
                (f - hz).abs() < 0.1,
                "{hz} Hz over {secs} s at {rate} Hz measured as {f}"
            );
        }
        // The strongest of two tones wins, DC offset notwithstanding.
        let mixed: Vec<f32> = sine(300.0, 1.0, 48_000, 0.2)
            .iter()
            .zip(sine(1234.0, 1.0, 48_000, 0.5))
            .map(|(a, b)| a + b + 0.1)
            .collect();
        let f = dominant_frequency(&mixed, 48_000);
        assert!((f - 1234.0).abs() < 0.1, "{f}");
    });
}

#[test]
fn rms_dbfs_measures_levels() {
    support::judged_by_recording(|| {
        let s = sine(440.0, 1.0, 48_000, 0.5);
        assert!(
            (rms_dbfs(&s) - HALF_SCALE_SINE_DBFS).abs() < 0.01,
            "{}",
            rms_dbfs(&s)
        );
        let full = sine(440.0, 1.0, 48_000, 1.0);
        assert!((rms_dbfs(&full) + 3.01).abs() < 0.01);
        assert!((rms_dbfs(&[0.25; 100]) - 20.0 * 0.25f64.log10()).abs() < 1e-9);
        assert_eq!(rms_dbfs(&[0.0; 10]), f64::NEG_INFINITY);
        assert_eq!(rms_dbfs(&[]), f64::NEG_INFINITY);
    });
}

#[test]
fn signal_span_and_gap_detection_find_an_inserted_dropout() {
    support::judged_by_recording(|| {
        let rate = 48_000;
        let mut s = vec![0.0f32; 4800]; // 100 ms of leading silence
        s.extend(sine(440.0, 1.0, rate, 0.5));
        s.extend(vec![0.0f32; 2400]); // trailing silence
        let (a, b) = signal_span(&s, SILENCE).unwrap();
        assert!((4800..4800 + 5).contains(&a), "{a}");
        assert!((4800 + 48_000 - 60..=4800 + 48_000).contains(&b), "{b}");
        // A sine's zero crossings are not silence, even for a quiet, low tone.
        assert_eq!(longest_silence_within(&s, (a, b), SILENCE), 0);
        // (Around each zero crossing a sine of amplitude A and frequency f stays below a threshold
        // T for about T / (pi f A) s: 0.25 ms here, well inside the 1 ms window.)
        let low = sine(50.0, 1.0, rate, 0.25);
        let (la, lb) = signal_span(&low, SILENCE).unwrap();
        assert_eq!(longest_silence_within(&low, (la, lb), SILENCE), 0);

        // Zero 20 ms in the middle: found, and measured to the sample.
        let gap_at = 4800 + 20_000;
        s[gap_at..gap_at + 960].iter_mut().for_each(|x| *x = 0.0);
        let gap = longest_silence_within(&s, (a, b), SILENCE);
        // The sine is below the threshold for a sample or two on either side of the cut.
        assert!(
            (960..=966).contains(&gap),
            "a 960-sample gap measured as {gap}"
        );
        // Outside the span the silence does not count.
        assert_eq!(longest_silence_within(&s, (a, gap_at - 10), SILENCE), 0);
        assert_eq!(signal_span(&[0.0; 100], SILENCE), None);
    });
}

#[test]
fn generated_files_read_back_exactly() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        // 16-bit WAV through hound, and ffmpeg's own decode: same samples, exact length.
        let wav = dir.path().join("t.wav");
        make_tone(&wav, 1000.0, 2.0, 44_100, 2, 0.5);
        let w = read_wav(&wav);
        assert_eq!((w.rate, w.channels.len(), w.frames()), (44_100, 2, 88_200));
        assert!((peak(&w.channels[0]) - 0.5).abs() < 1e-3);
        let ff = ffmpeg_decode_f32(&wav, None, None);
        assert_eq!(
            deinterleave(&ff, 2),
            w.channels,
            "hound and ffmpeg disagree on a 16-bit WAV"
        );
        assert!((dominant_frequency(&w.channels[1], 44_100) - 1000.0).abs() < 0.1);
        // ffmpeg's resampling and downmix options.
        let mono48 = ffmpeg_decode_f32(&wav, Some(48_000), Some(1));
        assert_eq!(mono48.len(), 96_000);

        // Float WAV, 6 channels, written by hound: per-channel vectors, bit-exact.
        let f32wav = dir.path().join("f.wav");
        let spec = hound::WavSpec {
            channels: 6,
            sample_rate: 48_000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut wr = hound::WavWriter::create(&f32wav, spec).unwrap();
        for i in 0..1000 {
            for c in 0..6 {
                wr.write_sample(i as f32 / 1000.0 - c as f32 / 10.0)
                    .unwrap();
            }
        }
        wr.finalize().unwrap();
        let w = read_wav(&f32wav);
        assert_eq!(w.channels.len(), 6);
        assert_eq!(w.channels[5][999], 0.999 - 0.5);

        // Stereo tones, and the codecs the player supports, made deterministically.
        let lr = dir.path().join("lr.flac");
        make_stereo_tones(&lr, 440.0, 660.0, 1.0, 48_000);
        let lr = deinterleave(&ffmpeg_decode_f32(&lr, None, None), 2);
        assert!((dominant_frequency(&lr[0], 48_000) - 440.0).abs() < 0.1);
        assert!((dominant_frequency(&lr[1], 48_000) - 660.0).abs() < 0.1);
        for name in ["t.flac", "t.mp3", "t.ogg", "t.m4a", "t.aiff", "t.opus"] {
            let p = dir.path().join(name);
            make_tone(&p, 440.0, 1.0, 48_000, 2, 0.5);
            let first = std::fs::read(&p).unwrap();
            make_tone(&p, 440.0, 1.0, 48_000, 2, 0.5);
            assert_eq!(
                first,
                std::fs::read(&p).unwrap(),
                "{name} is not deterministic"
            );
            let d = deinterleave(&ffmpeg_decode_f32(&p, None, None), 2);
            assert!(
                (dominant_frequency(&d[0], 48_000) - 440.0).abs() < 0.5,
                "{name}"
            );
        }
        let alac = dir.path().join("alac.m4a");
        make_tone_codec(&alac, &["-c:a", "alac"], 440.0, 1.0, 44_100, 1, 0.5);
        assert_eq!(ffmpeg_decode_f32(&alac, None, None).len(), 44_100);
    });
}

/// Takes `cpus` for `ms` at the highest real-time priority, at once, as a hypervisor that
/// runs someone else does: nothing in userspace runs there meanwhile. Returns whether it
/// could take real-time priority.
fn stall_cpus(cpus: &[usize], ms: u64) -> bool {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(cpus.len()));
    let hogs: Vec<_> = cpus
        .iter()
        .map(|&cpu| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let realtime = host::pin_realtime(cpu);
                barrier.wait();
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(ms) {
                    std::hint::spin_loop();
                }
                realtime
            })
        })
        .collect();
    hogs.into_iter().all(|h| h.join().unwrap())
}

/// Every CPU, for [`stall_cpus`].
fn all_cpus() -> Vec<usize> {
    (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
}

/// Why a recorded test may run twice (tests/support/host.rs): when the whole machine stops
/// for 100 ms, the sink's recording has a hole although reel's stream never ran dry (the
/// server held 200 ms of it), so the server tells no client and reel counts no underrun;
/// the stall watch sees the stall on every CPU. (As root only: elsewhere nothing may take
/// real-time priority, and the watch says it saw nothing it can vouch for.)
#[test]
fn a_stall_of_the_whole_machine_is_a_hole_in_the_sink_no_client_hears_of_and_the_watch_sees() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tone.flac");
    make_tone(&file, 440.0, 4.0, 48_000, 2, 0.5);
    let log = dir.path().join("m.jsonl");
    let rec = Recorder::start(&dir.path().join("rec.wav"));
    let watch = host::StallWatch::start();
    let mut child = Command::new(reel_bin())
        .args(["play", "--no-gui", "--metrics-log"])
        .arg(&log)
        .arg(&file)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(15), || {
        logged_position_ms(&log) > 1500.0
    });
    let stalled = stall_cpus(&all_cpus(), 100);
    let status = wait_child_with_timeout(&mut child, Duration::from_secs(30));
    let seen = watch.finish();
    let left = read_wav(&rec.stop()).channels[0].clone();
    assert!(status.success());
    if !is_root() {
        assert!(seen.is_none(), "{seen:?}");
        return;
    }
    assert!(stalled, "as root, threads may take SCHED_FIFO");
    let stalls = seen.expect("as root, the watch runs at real-time priority");
    assert!(
        stalls.iter().all(|s| s.late >= Duration::from_millis(80)),
        "{stalls:?}"
    );
    let span = signal_span(&left, SILENCE).expect("silent recording");
    let holes = silences_within(&left, span, SILENCE);
    assert!(
        !holes.is_empty(),
        "the machine stopped for 100 ms and the sink had no hole"
    );
    let summary: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .last()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["underruns"], 0, "{summary}");
}

/// The stall watch sees a CPU taken away from it: a thread of the same real-time priority,
/// pinned to CPU 0, that does not yield for 40 ms is what a hypervisor's stall looks like
/// from inside. Not as root, the watch cannot run at real-time priority and says so.
#[test]
fn the_stall_watch_sees_a_cpu_taken_from_it_for_40_ms() {
    let watch = host::StallWatch::start();
    let hogged = stall_cpus(&[0], 40);
    let seen = watch.finish();
    if !is_root() {
        assert!(seen.is_none(), "{seen:?}");
        return;
    }
    assert!(hogged, "as root, a thread may take SCHED_FIFO");
    let stalls = seen.expect("as root, the watch runs at real-time priority");
    let cpu0 = stalls.iter().find(|s| s.cpu == 0).unwrap();
    assert!(cpu0.late >= Duration::from_millis(30), "{stalls:?}");
}

/// A recorded test that failed while the machine stalled runs once more, and passes if the
/// second run does; one that failed with no stall seen fails at once.
#[test]
fn a_recorded_test_is_run_again_only_when_the_machine_stalled_while_it_failed() {
    use std::cell::Cell;
    let stall = host::Stall {
        cpu: 1,
        late: Duration::from_millis(25),
        at: Duration::from_millis(1500),
    };
    let runs = Cell::new(0);
    judged_by_recording(|| {
        runs.set(runs.get() + 1);
        if runs.get() == 1 {
            host::note("a recording", Some(vec![stall]));
            panic!("a gap in the recording");
        }
    });
    assert_eq!(runs.get(), 2);

    // A stall shorter than the excuse, or none at all: the first failure is the result.
    for seen in [
        Some(vec![host::Stall {
            late: host::STALL_EXCUSES / 2,
            ..stall
        }]),
        Some(vec![]),
        None,
    ] {
        let runs = Cell::new(0);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            judged_by_recording(|| {
                runs.set(runs.get() + 1);
                host::note("a recording", seen.clone());
                panic!("a gap in the recording");
            })
        }));
        assert!(result.is_err());
        assert_eq!(runs.get(), 1, "{seen:?}");
    }
}
