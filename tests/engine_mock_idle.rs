//! Releasing the device when idle, on the mock backend (no sound server): a paused player
//! closes its stream after the idle time, says nothing about it, and on resume opens a new
//! one and continues at the exact frame it paused on. (Its own test binary: the idle time is
//! shortened through the environment, which every engine in a binary reads.)

mod support;

use std::time::{Duration, Instant};

use reel::engine::mock::{MockConfig, MockDevice, mock};
use reel::engine::shared::Mode;
use reel::engine::{Command, Engine, EngineConfig, Event, IDLE_RELEASE_ENV, PlayState};
use support::make_tone;

const RATE: u32 = 48_000;
const PERIOD: u32 = 512;
const PERIOD_MS: f64 = PERIOD as f64 * 1000.0 / RATE as f64;
const HANG: Duration = Duration::from_secs(20);

fn next_event(e: &Engine, pred: impl Fn(&Event) -> bool) -> Vec<Event> {
    let deadline = Instant::now() + HANG;
    let mut seen = Vec::new();
    loop {
        let ev = e
            .events()
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("event not seen; seen {seen:?}"));
        let done = pred(&ev);
        seen.push(ev);
        if done {
            return seen;
        }
    }
}

/// Fed steps while the stream has work (playing, priming, a flush to answer); otherwise wait
/// for the engine (a command being taken, a stream being opened). Until `done()`.
fn run_until(e: &Engine, dev: &MockDevice, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + HANG;
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        let busy = dev.link().is_some_and(|l| {
            !l.no_flush_pending() || matches!(l.mode(), Mode::Playing | Mode::Priming)
        });
        if busy {
            dev.step_fed();
        } else {
            let _ = e.events().recv_timeout(Duration::from_millis(2));
        }
    }
}

#[test]
fn a_paused_player_releases_the_device_and_resumes_on_a_new_one_at_the_same_frame() {
    // SAFETY: the only test in this binary sets it before any engine thread exists.
    unsafe { std::env::set_var(IDLE_RELEASE_ENV, "200") };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.wav");
    make_tone(&file, 440.0, 5.0, RATE, 2, 0.5);
    let (backend, dev) = mock(MockConfig {
        rate: RATE,
        channels: 2,
        period_frames: PERIOD,
        device_latency_ns: 0,
    });
    let e = Engine::start_with_backend(EngineConfig::default(), Box::new(backend)).unwrap();
    e.send(Command::Load(vec![file]));
    run_until(&e, &dev, "first audio", || e.snapshot().frames_played > 0);
    dev.play(50);
    e.send(Command::Pause);
    // The pause waits for the callback to drop the ring: step until it has.
    let link = dev.link().unwrap();
    run_until(&e, &dev, "paused", || {
        e.snapshot().state == PlayState::Paused
    });
    let paused = e.snapshot();
    assert_eq!(
        paused.position_ms,
        link.flushed_at() as f64 * 1000.0 / RATE as f64
    );

    let opens = dev.opens();
    dev.wait_closed();
    let s = e.snapshot();
    assert!(s.device_ok, "released is not lost: {s:?}");
    assert_eq!(s.position_ms, paused.position_ms, "the position is kept");
    assert_eq!(e.output_problem(), None);

    e.send(Command::Resume);
    let seen = next_event(&e, |ev| matches!(ev, Event::Resumed));
    assert!(
        !seen
            .iter()
            .any(|ev| matches!(ev, Event::DeviceLost(_) | Event::DeviceReady { .. })),
        "an idle release is not a device loss: {seen:?}"
    );
    // The supervisor reopens on the command; the decoder primes the new stream.
    run_until(&e, &dev, "audio after resume", || {
        e.snapshot().frames_played > paused.frames_played
    });
    assert_eq!(dev.opens(), opens + 1, "one new stream, opened on resume");
    let s = e.snapshot();
    assert!(
        s.position_ms >= paused.position_ms && s.position_ms <= paused.position_ms + PERIOD_MS,
        "resumed at {} ms after pausing at {} ms",
        s.position_ms,
        paused.position_ms
    );
    assert_eq!((s.underruns, s.silent_frames), (0, 0), "{s:?}");
}
