//! The engine's state machine, driven through the mock backend: no sound server at all, and
//! faster than real time. The mock's `step` runs the real callback for one period on this
//! thread; `step_fed` first lets the decoder deliver what that period needs, so underruns
//! happen only where a test makes them, by holding the decoder at one step of the protocol
//! (`DecoderGate`). Everything synchronises on engine events, the decoder's protocol steps and
//! the mock's own step counter; timeouts only bound a hang.
//!
//! The real-server tests (engine_control, device_loss, playback_through_sound_server) stay the
//! proof that the same engine works on a real device.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reel::engine::mock::{GatePoint, MockConfig, MockDevice, mock};
use reel::engine::shared::{Activity, Episode, Mode};
use reel::engine::{
    Command, Engine, EngineConfig, EntryId, Event, MeterSnapshot, PlayState, Repeat, STREAM_STALL,
};
use support::make_tone;

const RATE: u32 = 48_000;
const PERIOD: u32 = 512;
/// One period, in ms: the resolution of every position the mock can show.
const PERIOD_MS: f64 = PERIOD as f64 * 1000.0 / RATE as f64;
/// Failure bound for a wait (a hang), never a synchronisation.
const HANG: Duration = Duration::from_secs(20);
/// How often a wait for an event looks again at whether the device has work. The wait ends
/// at once when the event comes; this only bounds how soon a step follows a decoder change.
const RECHECK: Duration = Duration::from_millis(2);

struct Rig {
    engine: Engine,
    dev: MockDevice,
    /// Every event received so far, in order.
    seen: Vec<Event>,
    dir: tempfile::TempDir,
}

fn rig() -> Rig {
    rig_with(EngineConfig::default())
}

fn rig_with(config: EngineConfig) -> Rig {
    let (backend, dev) = mock(MockConfig {
        rate: RATE,
        channels: 2,
        period_frames: PERIOD,
        device_latency_ns: 0,
    });
    let engine =
        Engine::start_with_backend(config, Box::new(backend)).expect("the mock device opens");
    Rig {
        engine,
        dev,
        seen: Vec::new(),
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Rig {
    /// A 48 kHz stereo WAV tone of `secs` (so frames map 1:1 to the device's).
    fn tone(&self, name: &str, secs: f64) -> PathBuf {
        let p = self.dir.path().join(name);
        make_tone(&p, 440.0, secs, RATE, 2, 0.5);
        p
    }

    fn load(&self, files: &[&Path]) {
        self.engine.send(Command::Load(
            files.iter().map(|p| p.to_path_buf()).collect(),
        ));
    }

    fn snap(&self) -> MeterSnapshot {
        self.engine.snapshot()
    }

    /// The stream needs callbacks to make progress: playing, priming, or a flush to answer.
    fn device_busy(&self) -> bool {
        self.dev.link().is_some_and(|l| {
            !l.no_flush_pending() || matches!(l.mode(), Mode::Playing | Mode::Priming)
        })
    }

    /// The first event matching `pred`, stepping the device (fed) while it has work.
    fn until_event(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + HANG;
        loop {
            while let Ok(ev) = self.engine.events().try_recv() {
                self.seen.push(ev.clone());
                if pred(&ev) {
                    return ev;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {what} event; seen {:?}",
                self.seen
            );
            if self.device_busy() {
                self.dev.step_fed();
            } else if let Ok(ev) = self.engine.events().recv_timeout(RECHECK) {
                self.seen.push(ev.clone());
                if pred(&ev) {
                    return ev;
                }
            }
        }
    }

    /// The next event matching `pred`, without stepping (for what the supervisor reports by
    /// itself: a lost device, an episode already ended).
    fn wait_event(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + HANG;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.engine.events().recv_timeout(left) {
                Ok(ev) => {
                    self.seen.push(ev.clone());
                    if pred(&ev) {
                        return ev;
                    }
                }
                Err(_) => panic!("no {what} event; seen {:?}", self.seen),
            }
        }
    }

    /// After a stream was replaced: audio plays again (`what`), from where the listener was
    /// in `was`, at most two periods on (nothing lost, nothing played twice).
    #[track_caller]
    fn plays_on_from(&mut self, what: &str, was: &MeterSnapshot) {
        self.step_until(what, 200, |s| s.frames_played > was.frames_played);
        let s = self.snap();
        assert!(
            s.position_ms >= was.position_ms && s.position_ms <= was.position_ms + 2.0 * PERIOD_MS,
            "{what} at {} ms, was at {} ms",
            s.position_ms,
            was.position_ms
        );
    }

    /// Until `pred` holds for a snapshot: fed steps while the device has work (at most
    /// `max_steps` of them), otherwise wait for the engine (events are kept in `seen`).
    fn step_until(&mut self, what: &str, max_steps: usize, pred: impl Fn(&MeterSnapshot) -> bool) {
        let deadline = Instant::now() + HANG;
        let mut steps = 0;
        while !pred(&self.snap()) {
            assert!(
                steps < max_steps && Instant::now() < deadline,
                "{what} not within {max_steps} steps: {:?}",
                self.snap()
            );
            if self.device_busy() {
                self.dev.step_fed();
                steps += 1;
            } else if let Ok(ev) = self.engine.events().recv_timeout(RECHECK) {
                self.seen.push(ev);
            }
        }
    }

    /// Play until the first audio. (Not "until TrackStarted": the supervisor samples what
    /// is heard on the wall clock, and the mock plays far faster than that.)
    fn first_audio(&mut self) {
        self.step_until("first audio", 100, |s| s.frames_played > 0);
    }

    fn underruns_seen(&self) -> Vec<Episode> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                Event::Underrun(ep) => Some(*ep),
                _ => None,
            })
            .collect()
    }

    /// With the decoder held, play out whatever the ring holds and then `silent_periods`
    /// periods more: returns the silent frames that must have been inserted.
    fn run_dry(&self, silent_periods: u64) -> u64 {
        let fill = self.dev.link().unwrap().fill_frames();
        let period = PERIOD as u64;
        let full = fill / period;
        for _ in 0..full + 1 + silent_periods {
            assert!(self.dev.step().ran);
        }
        (period - fill % period) + silent_periods * period
    }
}

impl Drop for Rig {
    /// A failed assertion must not leave the decoder stopped at the gate: the engine joins it
    /// when it drops.
    fn drop(&mut self) {
        self.dev.gate().release();
    }
}

fn started(index: usize) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::TrackStarted { index: i, .. } if *i == index)
}

#[test]
fn priming_is_silent_and_no_underrun_until_the_ring_holds_enough() {
    let mut r = rig();
    let file = r.tone("a.wav", 2.0);
    // The decoder stops as it opens the file: nothing reaches the ring.
    r.dev.gate().hold(GatePoint::Opening);
    r.load(&[&file]);
    r.dev.gate().wait_held(GatePoint::Opening);
    for _ in 0..50 {
        assert!(!r.dev.step().audible, "sound before anything was decoded");
    }
    let link = r.dev.link().unwrap();
    assert_eq!(link.mode(), Mode::Priming);
    let s = r.snap();
    assert_eq!((s.underruns, s.silent_frames, s.frames_played), (0, 0, 0));
    r.dev.gate().release();
    r.first_audio();
    assert!(
        r.dev.play(10) == 10,
        "every period after priming is audible"
    );
    assert_eq!(r.snap().underruns, 0, "priming is not an underrun");
}

#[test]
fn a_queue_plays_every_frame_once_and_its_end_is_not_an_underrun() {
    let mut r = rig();
    let a = r.tone("a.wav", 0.5);
    let b = r.tone("b.wav", 0.25);
    r.load(&[&a, &b]);
    r.until_event("QueueFinished", |e| matches!(e, Event::QueueFinished));
    let s = r.snap();
    assert_eq!(
        s.frames_played, 36_000,
        "0.75 s at 48 kHz, gaplessly: {s:?}"
    );
    assert_eq!((s.underruns, s.silent_frames), (0, 0));
    assert_eq!(r.dev.link().unwrap().mode(), Mode::Idle);
    // What is heard last is the end of the second file. (Whether the first file's own
    // start was seen depends on how fast the mock played it against the supervisor's wall-clock
    // polls, so it is not asserted.)
    let ends: Vec<&Event> = r
        .seen
        .iter()
        .filter(|e| matches!(e, Event::TrackEnded { .. } | Event::QueueFinished))
        .collect();
    assert!(
        matches!(
            ends[..],
            [.., Event::TrackEnded { index: 1 }, Event::QueueFinished]
        ),
        "{:?}",
        r.seen
    );
    // Idle after the end: silence, nothing counted.
    for _ in 0..20 {
        assert!(!r.dev.step().audible);
    }
    assert_eq!(r.snap().frames_played, 36_000);
}

#[test]
fn pause_flushes_at_once_holds_the_position_and_resume_continues_there() {
    let mut r = rig();
    let file = r.tone("a.wav", 5.0);
    r.load(&[&file]);
    r.first_audio();
    r.dev.play(100);
    r.engine.send(Command::Pause);
    r.until_event("Paused", |e| matches!(e, Event::Paused));
    let link = r.dev.link().unwrap();
    let paused = r.snap();
    assert_eq!(paused.state, PlayState::Paused);
    assert_eq!(paused.ring_fill_frames, 0, "pause flushes the ring");
    // The pause holds exactly the frame the listener heard last.
    assert_eq!(
        paused.position_ms,
        link.flushed_at() as f64 * 1000.0 / RATE as f64
    );
    assert!(paused.position_ms > 100.0 * PERIOD_MS - 1.0, "{paused:?}");
    for _ in 0..50 {
        assert!(!r.dev.step().audible, "sound while paused");
    }
    let s = r.snap();
    assert_eq!(s.frames_played, paused.frames_played, "played while paused");
    assert_eq!(
        s.position_ms, paused.position_ms,
        "position moved while paused"
    );

    r.engine.send(Command::Resume);
    r.until_event("Resumed", |e| matches!(e, Event::Resumed));
    r.step_until("audio again", 200, |s| {
        s.frames_played > paused.frames_played
    });
    let s = r.snap();
    assert!(
        s.position_ms >= paused.position_ms && s.position_ms <= paused.position_ms + PERIOD_MS,
        "resumed at {} after pausing at {}",
        s.position_ms,
        paused.position_ms
    );
    assert_eq!(s.underruns, 0);
}

#[test]
fn a_seek_is_heard_from_the_asked_position_and_a_slow_one_is_silent_not_an_underrun() {
    let mut r = rig();
    let file = r.tone("a.wav", 10.0);
    r.load(&[&file]);
    r.first_audio();
    r.dev.play(20);
    // Hold the decoder in the middle of the seek: the flushed ring primes, silently.
    r.dev.gate().hold(GatePoint::Seeking);
    r.engine.send(Command::Seek(Duration::from_secs(6)));
    r.dev.gate().wait_held(GatePoint::Seeking);
    r.dev.step(); // the flush: the old audio fades out over a few ms
    for _ in 0..40 {
        assert!(
            !r.dev.step().audible,
            "old audio after the seek was asked for"
        );
    }
    assert_eq!(r.dev.link().unwrap().mode(), Mode::Priming);
    r.dev.gate().release();
    r.step_until("the seek heard", 200, |s| s.position_ms >= 6000.0);
    let s = r.snap();
    assert!(s.position_ms < 6000.0 + 2.0 * PERIOD_MS, "{s:?}");
    assert_eq!(
        (s.underruns, s.silent_frames),
        (0, 0),
        "a seek is not an underrun"
    );
    // Stop flushes too, and Play starts the track from its beginning.
    r.engine.send(Command::Stop);
    r.until_event("Stopped", |e| matches!(e, Event::Stopped));
    assert_eq!(r.snap().ring_fill_frames, 0);
    assert!(!r.dev.step().audible);
    r.engine.send(Command::Play);
    r.until_event("Resumed", |e| matches!(e, Event::Resumed));
    r.step_until("playing from the start", 200, |s| {
        s.state == PlayState::Playing && s.frames_played > 0 && s.position_ms < 3.0 * PERIOD_MS
    });
}

#[test]
fn a_starved_decoder_gives_one_starved_episode_with_every_silent_frame_counted() {
    let mut r = rig();
    let file = r.tone("a.wav", 5.0);
    r.load(&[&file]);
    r.first_audio();
    r.dev.play(20);
    // The decoder stops before its next push: the ring runs dry.
    r.dev.gate().hold(GatePoint::Push);
    r.dev.gate().wait_held(GatePoint::Push);
    let silent = r.run_dry(3);
    let s = r.snap();
    assert_eq!((s.underruns, s.silent_frames), (1, silent), "{s:?}");
    r.dev.gate().release();
    assert!(r.dev.step_fed().audible, "audio back once the decoder is");
    let ep = r.wait_event("Underrun", |e| matches!(e, Event::Underrun(_)));
    let Event::Underrun(ep) = ep else {
        unreachable!()
    };
    assert_eq!(ep.cause, Activity::Decoding);
    assert_eq!(ep.cause.cause(), "starved");
    assert_eq!(ep.frames, silent);
    assert_eq!(r.engine.episodes(), vec![ep]);
}

/// Regression: after a seek inside the playing track, the decoder's activity stayed
/// `seeking`, so a later starvation in that track was tagged `seeking` instead of `starved`.
#[test]
fn a_starvation_after_a_seek_in_the_same_track_is_starved_not_seeking() {
    let mut r = rig();
    let file = r.tone("a.wav", 10.0);
    r.load(&[&file]);
    r.first_audio();
    r.dev.play(20);
    r.engine.send(Command::Seek(Duration::from_secs(4)));
    r.step_until("the seek heard", 200, |s| s.position_ms >= 4000.0);
    r.dev.play(20);
    r.dev.gate().hold(GatePoint::Push);
    r.dev.gate().wait_held(GatePoint::Push);
    let silent = r.run_dry(3);
    r.dev.gate().release();
    assert!(r.dev.step_fed().audible, "audio back once the decoder is");
    let ep = r.wait_event("Underrun", |e| matches!(e, Event::Underrun(_)));
    let Event::Underrun(ep) = ep else {
        unreachable!()
    };
    assert_eq!(ep.cause.cause(), "starved");
    assert_eq!(ep.frames, silent);
}

#[test]
fn a_shortage_while_the_next_file_opens_is_an_opening_episode() {
    let mut r = rig();
    let a = r.tone("a.wav", 1.0);
    let b = r.tone("b.wav", 1.0);
    r.load(&[&a, &b]);
    r.first_audio();
    // The decoder stops as it opens the second file; the first plays out meanwhile.
    r.dev.gate().hold(GatePoint::Opening);
    for _ in 0..200 {
        if r.dev.gate().held_at() == Some(GatePoint::Opening) {
            break;
        }
        r.dev.step_fed();
    }
    assert_eq!(r.dev.gate().held_at(), Some(GatePoint::Opening));
    let silent = r.run_dry(2);
    assert_eq!(r.snap().underruns, 1);
    r.dev.gate().release();
    assert!(r.dev.step_fed().audible, "audio back once the decoder is");
    let ep = r.wait_event("Underrun", |e| matches!(e, Event::Underrun(_)));
    let Event::Underrun(ep) = ep else {
        unreachable!()
    };
    assert_eq!(ep.cause.cause(), "opening");
    assert_eq!(ep.frames, silent);
    r.until_event("TrackStarted(1)", started(1));
}

#[test]
fn a_lost_device_resumes_where_it_was_and_the_gap_is_a_device_change_episode() {
    let mut r = rig();
    let file = r.tone("a.wav", 5.0);
    r.load(&[&file]);
    r.first_audio();
    r.dev.play(100);
    let before = r.snap();
    r.dev.unplug();
    r.dev.fail("unplugged");
    r.wait_event("DeviceLost", |e| matches!(e, Event::DeviceLost(_)));
    let lost = r.snap();
    assert!(!lost.device_ok);
    // Held where the listener was: what the callback had taken (heard up to one period on).
    assert!(
        lost.position_ms >= before.position_ms
            && lost.position_ms <= before.position_ms + PERIOD_MS,
        "held {} ms, heard {} ms",
        lost.position_ms,
        before.position_ms
    );
    assert!(!r.dev.step().ran, "no stream while unplugged");
    r.dev.plug_in();
    r.wait_event("DeviceReady", |e| matches!(e, Event::DeviceReady { .. }));
    assert_eq!(r.dev.opens(), 2);
    r.plays_on_from("audio on the new stream", &lost);
    // The supervisor sees the new stream's first audio by itself, and counts the gap.
    let ep = r.wait_event("Underrun", |e| matches!(e, Event::Underrun(_)));
    let Event::Underrun(ep) = ep else {
        unreachable!()
    };
    assert_eq!(ep.cause.cause(), "device-change");
    assert_eq!(r.snap().underruns, 1, "the device change is the only gap");
}

#[test]
fn a_named_device_that_goes_is_stood_in_for_by_the_default_and_taken_back_where_it_was() {
    let mut config = EngineConfig::default();
    config.output.device = Some("usb".into());
    let mut r = rig_with(config);
    let file = r.tone("a.wav", 5.0);
    r.load(&[&file]);
    r.first_audio();
    r.dev.play(100);
    assert_eq!(r.snap().device, "usb");

    // Unplugged: on the default, from where the listener was, said once as a fallback.
    let before = r.snap();
    r.dev.remove_named();
    r.dev.fail("the sink went away");
    let ev = r.wait_event("DeviceFallback", |e| {
        matches!(e, Event::DeviceFallback { .. })
    });
    let Event::DeviceFallback { wanted, device } = ev else {
        unreachable!()
    };
    assert_eq!((wanted.as_str(), device.as_str()), ("usb", "mock"));
    assert!(
        !r.seen.iter().any(|e| matches!(e, Event::DeviceLost(_))),
        "a fallback is not a loss: {:?}",
        r.seen
    );
    assert_eq!(r.snap().device, "mock");
    r.plays_on_from("audio on the default", &before);

    // Back: the supervisor finds it by itself and moves there, from where the listener was.
    r.dev.play(100);
    let before = r.snap();
    r.dev.restore_named();
    let ev = r.wait_event("DeviceReady", |e| matches!(e, Event::DeviceReady { .. }));
    assert!(
        matches!(&ev, Event::DeviceReady { device } if device == "usb"),
        "{ev:?}"
    );
    assert_eq!(r.snap().device, "usb");
    r.plays_on_from("audio on the named device", &before);
    assert_eq!(r.dev.opens(), 3);
}

#[test]
fn a_window_whose_named_device_is_missing_at_start_plays_on_the_default_until_it_appears() {
    let (backend, dev) = mock(MockConfig {
        rate: RATE,
        channels: 2,
        period_frames: PERIOD,
        device_latency_ns: 0,
    });
    dev.remove_named();
    let mut config = EngineConfig::default();
    config.output.device = Some("usb".into());
    config.require_device = false;
    let engine = Engine::start_with_backend(config, Box::new(backend)).expect("the window starts");
    let mut r = Rig {
        engine,
        dev,
        seen: Vec::new(),
        dir: tempfile::tempdir().unwrap(),
    };
    r.wait_event(
        "DeviceFallback",
        |e| matches!(e, Event::DeviceFallback { wanted, .. } if wanted == "usb"),
    );
    assert_eq!(r.snap().device, "mock");
    r.dev.restore_named();
    r.wait_event(
        "DeviceReady",
        |e| matches!(e, Event::DeviceReady { device } if device == "usb"),
    );
    assert_eq!(r.snap().device, "usb");
}

#[test]
fn a_stream_that_stops_calling_back_is_replaced_and_a_late_callback_is_not() {
    let mut r = rig();
    let file = r.tone("a.wav", 3.0);
    r.load(&[&file]);
    r.first_audio();
    // Late, but within the watchdog: the stream stays.
    r.dev.stall(STREAM_STALL / 2);
    r.dev.play(10);
    assert!(!r.seen.iter().any(|e| matches!(e, Event::DeviceLost(_))));
    // Silent for longer than the watchdog allows: replaced, playback goes on where it was.
    let held = r.snap().position_ms;
    r.dev.stall(STREAM_STALL + Duration::from_millis(50));
    let lost = r.wait_event("DeviceLost", |e| matches!(e, Event::DeviceLost(_)));
    assert!(
        matches!(&lost, Event::DeviceLost(why) if why.contains("stopped calling back")),
        "{lost:?}"
    );
    r.wait_event("DeviceReady", |e| matches!(e, Event::DeviceReady { .. }));
    r.step_until("playing again", 200, |s| {
        s.device_ok && s.state == PlayState::Playing && s.position_ms > held
    });
    r.until_event("QueueFinished", |e| matches!(e, Event::QueueFinished));
    assert_eq!(r.dev.opens(), 2, "only the stalled stream was replaced");
    let lost_events = r
        .seen
        .iter()
        .filter(|e| matches!(e, Event::DeviceLost(_)))
        .count();
    assert_eq!(lost_events, 1);
    assert_eq!(
        r.underruns_seen()
            .iter()
            .map(|e| e.cause.cause())
            .collect::<Vec<_>>(),
        ["device-change"]
    );
}

/// The loudest level any channel shows, dBFS.
fn loudest(s: &MeterSnapshot) -> f64 {
    s.peak_dbfs
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max)
}

#[test]
fn an_engine_whose_levels_nobody_shows_does_not_measure_them_and_one_that_is_watched_does() {
    // Watched (the window, a metrics log): a tone at half scale reads about -6 dBFS.
    let mut r = rig();
    let a = r.tone("a.wav", 2.0);
    r.load(&[&a]);
    r.first_audio();
    r.step_until("the tone's level", 150, |s| loudest(s) > -7.0);

    // Nobody shows them (a plain `reel play`): the decoder skips the meters' work, and the
    // same tone, played as long, reads silence; it is still played, every frame.
    let mut r = rig_with(EngineConfig {
        observed: false,
        ..EngineConfig::default()
    });
    let a = r.tone("a.wav", 2.0);
    r.load(&[&a]);
    r.first_audio();
    let mut levels = Vec::new();
    for _ in 0..150 {
        r.dev.step_fed();
        levels.push(loudest(&r.snap()));
    }
    assert!(r.snap().frames_played >= 150 * PERIOD as u64);
    assert!(levels.iter().all(|l| *l < -100.0), "{levels:?}");
}

// ---- the queue: edits, shuffle and repeat ----

/// A 48 kHz WAV of `secs`: its frame count names it in `frames_played` sums.
fn frames(secs: f64) -> u64 {
    (secs * RATE as f64).round() as u64
}

impl Rig {
    /// Plays (fed) until the queue finishes or `limit` entries were heard, and returns the
    /// entries heard, in order, by id: one more each time the entry heard changes or starts
    /// again (repeat one).
    fn heard_order(&mut self, limit: usize) -> Vec<EntryId> {
        let deadline = Instant::now() + HANG;
        let mut order = Vec::new();
        let mut last: Option<(EntryId, f64)> = None;
        loop {
            let s = self.snap();
            if let (PlayState::Playing, Some(t)) = (s.state, s.track) {
                let id = self.engine.entry_ids()[t];
                let again = last.is_some_and(|(l, at)| l == id && s.position_ms < at);
                if last.map(|l| l.0) != Some(id) || again {
                    order.push(id);
                    if order.len() == limit {
                        return order;
                    }
                }
                last = Some((id, s.position_ms));
            }
            if self.seen.iter().any(|e| matches!(e, Event::QueueFinished)) {
                return order;
            }
            assert!(Instant::now() < deadline, "heard so far: {order:?}");
            if self.device_busy() {
                self.dev.step_fed();
            } else if let Ok(ev) = self.engine.events().recv_timeout(RECHECK) {
                self.seen.push(ev);
            }
        }
    }

    /// Waits (without stepping the device) until the engine's queue is `ids`: an edit is
    /// made before the device plays on, as it is on a real one, which is far slower.
    fn until_queue(&self, ids: &[EntryId]) {
        self.until_queue_is(|q| q == ids);
    }

    /// [`Rig::until_queue`], for a queue of which `ok` holds.
    fn until_queue_is(&self, ok: impl Fn(&[EntryId]) -> bool) {
        let deadline = Instant::now() + HANG;
        while !ok(&self.engine.entry_ids()) {
            assert!(Instant::now() < deadline, "the edit was never made");
            std::thread::yield_now();
        }
    }

    /// The id of the entry heard now.
    fn heard_id(&self) -> Option<EntryId> {
        let t = self.snap().track?;
        self.engine.entry_ids().get(t).copied()
    }
}

#[test]
fn shuffle_plays_every_track_once_then_the_queue_ends() {
    let mut r = rig();
    let files: Vec<PathBuf> = (0..6)
        .map(|i| r.tone(&format!("{i}.wav"), 0.1 + 0.02 * i as f64))
        .collect();
    r.engine.send(Command::Shuffle(true));
    r.engine.send(Command::Load(files));
    let mut heard = r.heard_order(100);
    let s = r.snap();
    assert_eq!(heard.len(), 6, "{heard:?}");
    heard.sort();
    assert_eq!(heard, r.engine.entry_ids(), "each entry once");
    let all: u64 = (0..6).map(|i| frames(0.1 + 0.02 * i as f64)).sum();
    assert_eq!(
        (s.frames_played, s.underruns),
        (all, 0),
        "gapless and whole"
    );
}

#[test]
fn previous_under_shuffle_goes_back_through_the_history_and_next_forward_again() {
    let mut r = rig();
    let files: Vec<PathBuf> = (0..5).map(|i| r.tone(&format!("{i}.wav"), 1.0)).collect();
    r.engine.send(Command::Shuffle(true));
    r.engine.send(Command::Load(files));
    let h = r.heard_order(3);
    for (cmd, want) in [
        (Command::Previous, h[1]),
        (Command::Previous, h[0]),
        (Command::Next, h[1]),
        (Command::Next, h[2]),
    ] {
        r.engine.send(cmd.clone());
        let deadline = Instant::now() + HANG;
        while r.heard_id() != Some(want) {
            assert!(
                Instant::now() < deadline,
                "{cmd:?} did not reach {want}: {h:?}"
            );
            r.dev.step_fed();
        }
    }
}

#[test]
fn repeat_one_plays_the_track_again_until_next_moves_on() {
    let mut r = rig();
    let (a, b) = (r.tone("a.wav", 0.2), r.tone("b.wav", 0.3));
    r.engine.send(Command::Repeat(Repeat::One));
    r.load(&[&a, &b]);
    let heard = r.heard_order(3);
    let ids = r.engine.entry_ids();
    assert_eq!(heard, [ids[0]; 3]);
    r.engine.send(Command::Next);
    let deadline = Instant::now() + HANG;
    while r.heard_id() != Some(ids[1]) {
        assert!(
            Instant::now() < deadline,
            "Next stayed on the repeated track"
        );
        r.dev.step_fed();
    }
    assert_eq!(r.snap().underruns, 0);
}

#[test]
fn repeat_all_plays_the_queue_again_after_its_end_gaplessly() {
    let mut r = rig();
    let (a, b) = (r.tone("a.wav", 0.2), r.tone("b.wav", 0.3));
    r.engine.send(Command::Repeat(Repeat::All));
    r.load(&[&a, &b]);
    let heard = r.heard_order(5);
    let ids = r.engine.entry_ids();
    assert_eq!(heard, [ids[0], ids[1], ids[0], ids[1], ids[0]]);
    r.engine.send(Command::Repeat(Repeat::Off));
    r.until_event("QueueFinished", |e| matches!(e, Event::QueueFinished));
    let s = r.snap();
    assert_eq!(s.underruns, 0);
    assert_eq!(s.frames_played, 3 * frames(0.2) + 3 * frames(0.3));
}

#[test]
fn removing_moving_and_play_next_on_later_entries_lose_no_frame_of_what_plays() {
    let mut r = rig();
    let lens = [0.6, 0.2, 0.3, 0.4, 0.25];
    let files: Vec<PathBuf> = lens
        .iter()
        .enumerate()
        .map(|(i, &l)| r.tone(&format!("{i}.wav"), l))
        .collect();
    r.engine.send(Command::Load(files));
    r.first_audio();
    let ids = r.engine.entry_ids();
    r.engine.send(Command::Remove(ids[1]));
    r.engine.send(Command::Move { id: ids[4], to: 1 });
    r.engine.send(Command::PlayNext(ids[3]));
    r.until_queue(&[ids[0], ids[3], ids[4], ids[2]]);
    let heard = r.heard_order(100);
    assert_eq!(heard, [ids[0], ids[3], ids[4], ids[2]]);
    let s = r.snap();
    let want = frames(0.6) + frames(0.4) + frames(0.25) + frames(0.3);
    assert_eq!(
        (s.frames_played, s.underruns),
        (want, 0),
        "no flush, no gap"
    );
}

#[test]
fn removing_the_playing_track_moves_on_to_the_next() {
    let mut r = rig();
    let (a, b) = (r.tone("a.wav", 5.0), r.tone("b.wav", 0.3));
    r.load(&[&a, &b]);
    r.first_audio();
    let ids = r.engine.entry_ids();
    r.engine.send(Command::Remove(ids[0]));
    let heard = r.heard_order(100);
    assert_eq!(heard.last(), Some(&ids[1]));
    assert_eq!(r.engine.entry_ids(), [ids[1]]);
    assert!(
        r.snap().frames_played < frames(1.0),
        "the removed track stopped"
    );
}

#[test]
fn an_edit_after_the_next_track_was_pushed_cuts_it_out_of_the_ring_without_a_gap() {
    let mut r = rig();
    // a and b together fit in the 200 ms ring: b is pushed while a plays.
    let (a, b, c) = (
        r.tone("a.wav", 0.15),
        r.tone("b.wav", 0.04),
        r.tone("c.wav", 0.2),
    );
    let (link, gate) = (r.dev.link().unwrap(), r.dev.gate());
    // Walk the decoder through its opens: a, then b (a is all in the ring by then).
    let opened = || {
        gate.wait_held(GatePoint::Opening);
        gate.hold(GatePoint::Decoding);
        gate.wait_held(GatePoint::Decoding);
    };
    gate.hold(GatePoint::Opening);
    r.load(&[&a, &b, &c]);
    opened();
    gate.hold(GatePoint::Opening);
    opened();
    // a is heard; then all of b is pushed behind it, and the decoder stops as it opens c.
    for _ in 0..4 {
        r.dev.step();
    }
    gate.hold(GatePoint::Opening);
    gate.wait_held(GatePoint::Opening);
    assert_eq!(
        link.pushed(),
        frames(0.15) + frames(0.04),
        "b is in the ring"
    );
    assert!(
        link.consumed() > 0 && link.consumed() < frames(0.15),
        "a is playing"
    );
    let ids = r.engine.entry_ids();
    r.engine.send(Command::Remove(ids[1]));
    gate.release();
    r.until_queue(&[ids[0], ids[2]]);
    r.until_event("QueueFinished", |e| matches!(e, Event::QueueFinished));
    let s = r.snap();
    assert_eq!(
        (s.frames_played, s.underruns),
        (frames(0.15) + frames(0.2), 0),
        "a whole, then c whole, none of b, no gap"
    );
}

#[test]
fn clear_stops_and_empties_the_queue() {
    let mut r = rig();
    let a = r.tone("a.wav", 5.0);
    r.load(&[&a]);
    r.first_audio();
    r.engine.send(Command::Clear);
    r.until_event("Stopped", |e| matches!(e, Event::Stopped));
    assert!(r.engine.entry_ids().is_empty());
    assert_eq!(r.snap().state, PlayState::Stopped);
}

#[test]
fn files_queued_after_the_end_of_the_queue_is_in_the_ring_follow_gaplessly() {
    let mut r = rig();
    let (a, b, c) = (
        r.tone("a.wav", 0.1),
        r.tone("b.wav", 0.05),
        r.tone("c.wav", 0.1),
    );
    let link = r.dev.link().unwrap();
    r.load(&[&a, &b]);
    // a and b fit in the ring: the decoder pushes both and marks the end behind b.
    let marked = r
        .dev
        .gate()
        .wait_for("the end of the queue", || link.end_index() != u64::MAX);
    assert!(marked);
    for _ in 0..2 {
        r.dev.step();
    }
    r.engine.send(Command::Queue(vec![c]));
    r.until_queue_is(|q| q.len() == 3);
    r.until_event("QueueFinished", |e| matches!(e, Event::QueueFinished));
    let s = r.snap();
    assert_eq!(
        (s.frames_played, s.underruns),
        (frames(0.1) + frames(0.05) + frames(0.1), 0),
        "a, b, then c, gaplessly"
    );
}
