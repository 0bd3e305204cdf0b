//! First sound after an idle release (issue 12): with nothing playing for a while, reel closes
//! its stream so the sink can suspend; playing again must give sound within 100 ms. Runs on
//! the sound server that `make bench` starts (benches/compare.py, part "idle").
//!
//! Each run: play a short tone to its end, wait until the engine has released the device
//! (after `REEL_IDLE_RELEASE_MS`, shortened here), then play again and time, from outside the
//! engine, the play command until the callback has handed the first frames to the server.
//! They go out in a block that replaces the sound server's queue, so they are heard within a
//! device period of that. Writes `target/bench-results/idle_wake.json`.

use std::path::Path;
use std::time::{Duration, Instant};

use reel::engine::{Command, Engine, EngineConfig, Event, IDLE_RELEASE_ENV};

fn tone(path: &Path) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(48_000 * 3 / 10) {
        let v = ((i as f64 * 440.0 * std::f64::consts::TAU / 48_000.0).sin() * 16_000.0) as i16;
        w.write_sample(v).unwrap();
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
}

fn wait(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "idle_wake: {what} never happened"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn main() {
    // Criterion-style filters (`cargo bench -- NAME`) are not used here; any argument that is
    // a number is the run count.
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    // SAFETY: set before any engine thread exists; nothing reads the environment concurrently.
    unsafe { std::env::set_var(IDLE_RELEASE_ENV, "300") };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tone.wav");
    tone(&file);
    let e = Engine::start(EngineConfig::default()).expect("idle_wake needs a sound server");
    let mut wake_ms = Vec::new();
    for run in 0..runs {
        // A new name each time: the engine keeps a record (and its first-audio time) for a
        // file loaded again at the same place in the queue.
        let again = dir.path().join(format!("tone-{run}.wav"));
        std::fs::copy(&file, &again).unwrap_or_else(|e| panic!("{}: {e}", again.display()));
        e.send(Command::Load(vec![file.clone()]));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match e.events().recv_timeout(left) {
                Ok(Event::QueueFinished) => break,
                Ok(_) => {}
                Err(_) => panic!("idle_wake: the tone never finished"),
            }
        }
        // Released: no stream, and that is not a problem.
        wait("the idle release", Duration::from_secs(10), || {
            let s = e.snapshot();
            s.device_ok && s.device.is_empty()
        });
        let before = e.snapshot().frames_played;
        let asked = Instant::now();
        e.send(Command::Load(vec![again]));
        // Timed from outside the engine: until the callback has handed the first frames to
        // the server (in a block that replaces its queue, so they are heard within a period).
        while e.snapshot().frames_played <= before {
            assert!(
                asked.elapsed() < Duration::from_secs(10),
                "idle_wake: no sound after the release"
            );
            std::thread::sleep(Duration::from_micros(500));
        }
        wake_ms.push(asked.elapsed().as_secs_f64() * 1000.0);
        wait("the tone's end", Duration::from_secs(10), || {
            e.snapshot().state == reel::engine::PlayState::Stopped
        });
    }
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-results");
    std::fs::create_dir_all(&out).unwrap();
    let json = serde_json::json!({ "wake_ms": wake_ms });
    std::fs::write(out.join("idle_wake.json"), format!("{json}\n")).unwrap();
    println!("first audio after an idle release (ms): {wake_ms:?}");
}
