//! A mock output backend, for tests that drive the engine with no sound server.
//!
//! Runs on the test's thread: [`MockDevice::step`] calls the real [`Callback::process`] of the
//! open stream once, into a buffer of one period, as a device's audio thread would; it does so
//! as fast as the test steps, so seconds of playback take milliseconds. Time, for the
//! supervisor's stall watchdog, is the mock's own clock: each step advances it by one period,
//! and [`MockDevice::stall`] advances it with no callback (a device that stopped calling back).
//! [`MockDevice::fail`] makes the stream report an error, as cpal's error callback would, and
//! [`MockDevice::unplug`] makes opening fail until [`MockDevice::plug_in`].
//!
//! The mock answers to "the default" and to any device name (the stream is named after it);
//! [`MockDevice::remove_named`] makes every named device unknown, as an unplugged USB card
//! is, until [`MockDevice::restore_named`], while the default still opens.
//!
//! [`DecoderGate`] lets a test stop the decoder thread at one step of the protocol (opening a
//! track, seeking, pushing audio) and let it go again, so that "the decoder is opening the next
//! file while the ring runs dry" happens on purpose, not by timing. Only the decoder's side of
//! the protocol looks at the gate; the callback never does, and a real device's link has none.
//!
//! Everything here synchronises on conditions (the gate's condition variable, the mock's own
//! counters); the only timeouts are failure bounds.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::backend::{Backend, DeviceStream, Health, Opened, StreamDescription};
use super::callback::{Callback, RingStorage, wire};
use super::output::OutputRequest;
use super::shared::{Activity, Link, Mode, Shared};
use super::supervisor::STREAM_STALL;
use crate::error::OutputError;

/// Where [`DecoderGate`] can hold the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatePoint {
    /// The decoder announced it is opening a track.
    Opening,
    /// The decoder announced it is seeking.
    Seeking,
    /// The decoder announced it is decoding (after an open).
    Decoding,
    /// The decoder is about to push audio into the ring.
    Push,
}

impl GatePoint {
    pub(crate) fn from_activity(a: Activity) -> GatePoint {
        match a {
            Activity::Opening => GatePoint::Opening,
            Activity::Seeking => GatePoint::Seeking,
            Activity::Decoding | Activity::DeviceChange | Activity::Source | Activity::Server => {
                GatePoint::Decoding
            }
        }
    }
}

#[derive(Default)]
struct GateState {
    /// Stop the decoder when it reaches this point.
    hold: Option<GatePoint>,
    /// Where the decoder is stopped now.
    held_at: Option<GatePoint>,
    /// Bumped by every decoder-side protocol step (push, flush, end mark, mode).
    nudges: u64,
}

/// A test's handle on the decoder thread's progress through the protocol (see module docs).
#[derive(Default)]
pub struct DecoderGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

/// How long a test may wait for the decoder before the wait counts as a hang (a failure).
pub const DECODER_HANG: Duration = Duration::from_secs(20);

impl DecoderGate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Decoder: passing `at`; stops here while a test holds it.
    pub(crate) fn pass(&self, at: GatePoint) {
        let mut st = self.lock();
        if st.hold != Some(at) {
            return;
        }
        st.held_at = Some(at);
        self.changed.notify_all();
        while st.hold == Some(at) {
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.nudges += 1;
        self.changed.notify_all();
    }

    /// Decoder: something a waiting test may care about changed.
    pub(crate) fn nudge(&self) {
        let mut st = self.lock();
        st.nudges += 1;
        self.changed.notify_all();
    }

    /// Test: stop the decoder the next time it reaches `at` (until [`DecoderGate::release`]).
    pub fn hold(&self, at: GatePoint) {
        self.lock().hold = Some(at);
        self.changed.notify_all();
    }

    /// Test: let the decoder go on. From here on it counts as running (not held), even
    /// before its thread has woken up.
    pub fn release(&self) {
        let mut st = self.lock();
        st.hold = None;
        st.held_at = None;
        self.changed.notify_all();
    }

    /// Where the decoder is stopped now, if anywhere.
    pub fn held_at(&self) -> Option<GatePoint> {
        self.lock().held_at
    }

    /// Test: block until the decoder is stopped at `at`. Panics after [`DECODER_HANG`].
    pub fn wait_held(&self, at: GatePoint) {
        let deadline = Instant::now() + DECODER_HANG;
        let mut st = self.lock();
        while st.held_at != Some(at) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the decoder never reached {at:?}");
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Test: block until `ready()` holds, re-checking after each decoder step (or when the
    /// decoder stops at a held point). Returns false if the decoder is held and `ready()`
    /// still does not hold. Panics after [`DECODER_HANG`].
    pub fn wait_for(&self, what: &str, ready: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + DECODER_HANG;
        loop {
            let seen = {
                let st = self.lock();
                if st.held_at.is_some() {
                    drop(st);
                    return ready();
                }
                st.nudges
            };
            if ready() {
                return true;
            }
            let mut st = self.lock();
            while st.nudges == seen && st.held_at.is_none() {
                let left = deadline.saturating_duration_since(Instant::now());
                assert!(!left.is_zero(), "the decoder never got to: {what}");
                st = self
                    .changed
                    .wait_timeout(st, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
    }
}

/// The mock device's format and timing.
#[derive(Debug, Clone, Copy)]
pub struct MockConfig {
    pub rate: u32,
    pub channels: u16,
    /// Frames per callback.
    pub period_frames: u32,
    /// What the device reports as playback − callback time.
    pub device_latency_ns: u64,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            rate: 48_000,
            channels: 2,
            period_frames: 512,
            device_latency_ns: 0,
        }
    }
}

/// The open stream, as the device side holds it.
struct MockOpen {
    id: u64,
    callback: Callback,
    link: Arc<Link>,
    /// Freed with the stream (here on the test's or supervisor's thread: nothing is real time).
    _storage: RingStorage,
    /// Set by [`MockDevice::fail`]: what the stream reports on the next health check.
    fault: Option<String>,
    /// The mock clock at this stream's newest callback (or at its opening).
    last_callback_clock_ns: u64,
}

struct DeviceState {
    config: MockConfig,
    open: Option<MockOpen>,
    next_id: u64,
    opens: u64,
    unplugged: bool,
    /// Named devices are unknown (see [`MockDevice::remove_named`]).
    named_gone: bool,
    /// The mock's clock: advanced by each step (one period) and by [`MockDevice::stall`].
    clock_ns: u64,
    steps: u64,
    buffer: Vec<f32>,
}

struct MockShared {
    state: Mutex<DeviceState>,
    gate: Arc<DecoderGate>,
}

impl MockShared {
    fn lock(&self) -> MutexGuard<'_, DeviceState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The engine's side of the mock: give it to [`crate::engine::Engine::start_with_backend`].
pub struct MockBackend {
    device: Arc<MockShared>,
}

/// The test's side of the mock: steps the callback, injects faults.
#[derive(Clone)]
pub struct MockDevice {
    device: Arc<MockShared>,
}

/// A mock backend and the handle that drives it.
pub fn mock(config: MockConfig) -> (MockBackend, MockDevice) {
    let device = Arc::new(MockShared {
        state: Mutex::new(DeviceState {
            config,
            open: None,
            next_id: 1,
            opens: 0,
            unplugged: false,
            named_gone: false,
            clock_ns: 0,
            steps: 0,
            buffer: vec![0.0; config.period_frames as usize * config.channels as usize],
        }),
        gate: Arc::new(DecoderGate::default()),
    });
    (
        MockBackend {
            device: device.clone(),
        },
        MockDevice { device },
    )
}

impl Backend for MockBackend {
    fn open(
        &mut self,
        req: &OutputRequest,
        shared: &Arc<Shared>,
        epoch: Instant,
    ) -> Result<Opened, OutputError> {
        let mut st = self.device.lock();
        if st.unplugged {
            return Err(OutputError::NoDevice("the mock device is unplugged".into()));
        }
        if let Some(name) = &req.device
            && st.named_gone
        {
            return Err(OutputError::UnknownDevice {
                name: name.clone(),
                available: vec!["mock".into()],
            });
        }
        let c = st.config;
        let capacity_frames =
            (c.rate as u64 * req.ring_ms.max(1) as u64 / 1000).max(c.period_frames as u64 * 2);
        let w = wire(
            c.rate,
            c.channels,
            capacity_frames,
            shared,
            epoch,
            Some(self.device.gate.clone()),
        );
        let id = st.next_id;
        st.next_id += 1;
        st.opens += 1;
        let clock = st.clock_ns;
        st.open = Some(MockOpen {
            id,
            callback: w.callback,
            link: w.link.clone(),
            _storage: w.storage,
            fault: None,
            last_callback_clock_ns: clock,
        });
        Ok(Opened {
            stream: Box::new(MockStream {
                device: self.device.clone(),
                id,
                link: w.link,
                description: StreamDescription {
                    device: req.device.clone().unwrap_or_else(|| "mock".into()),
                    host: "mock".into(),
                    sample_format: "f32".into(),
                    scheduling: "test thread".into(),
                },
            }),
            feed: w.feed,
            episodes: w.episodes,
        })
    }

    fn device_present(&mut self, _name: &str) -> Option<bool> {
        Some(!self.device.lock().named_gone)
    }
}

struct MockStream {
    device: Arc<MockShared>,
    id: u64,
    link: Arc<Link>,
    description: StreamDescription,
}

impl DeviceStream for MockStream {
    fn link(&self) -> &Arc<Link> {
        &self.link
    }

    fn describe(&self) -> &StreamDescription {
        &self.description
    }

    fn health(&mut self) -> Health {
        let st = self.device.lock();
        let Some(open) = st.open.as_ref().filter(|o| o.id == self.id) else {
            return Health::Failed("the mock stream is gone".into());
        };
        if let Some(why) = &open.fault {
            return Health::Failed(why.clone());
        }
        let quiet = Duration::from_nanos(st.clock_ns - open.last_callback_clock_ns);
        if quiet > STREAM_STALL {
            return Health::Failed(format!(
                "the output stopped calling back ({} ms on the mock clock)",
                quiet.as_millis()
            ));
        }
        Health::Running
    }

    fn close(self: Box<Self>) {
        {
            let mut st = self.device.lock();
            if st.open.as_ref().is_some_and(|o| o.id == self.id) {
                st.open = None;
            }
        }
        // A test may be waiting for this (see `MockDevice::wait_closed`).
        self.device.gate.nudge();
    }
}

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// A stream was open and its callback ran.
    pub ran: bool,
    /// Some sample of the period was not silence.
    pub audible: bool,
}

impl MockDevice {
    /// The decoder gate of every stream this device opens.
    pub fn gate(&self) -> &DecoderGate {
        &self.device.gate
    }

    /// The open stream's link, if a stream is open.
    pub fn link(&self) -> Option<Arc<Link>> {
        self.device.lock().open.as_ref().map(|o| o.link.clone())
    }

    /// Run the open stream's callback once, for one period, now (whatever the ring holds).
    pub fn step(&self) -> Step {
        let mut st = self.device.lock();
        let period_ns =
            st.config.period_frames as u64 * 1_000_000_000 / st.config.rate.max(1) as u64;
        st.clock_ns += period_ns;
        st.steps += 1;
        let clock = st.clock_ns;
        let latency = st.config.device_latency_ns;
        let mut buffer = std::mem::take(&mut st.buffer);
        let ran = match st.open.as_mut() {
            Some(open) => {
                open.callback.process(&mut buffer[..], latency);
                open.last_callback_clock_ns = clock;
                true
            }
            None => false,
        };
        let audible = ran && buffer.iter().any(|s| *s != 0.0);
        st.buffer = buffer;
        Step { ran, audible }
    }

    /// Step once the decoder has delivered what this period needs: a whole period while
    /// playing, the prime amount while priming (or the end of the queue in either case).
    /// With this, a test plays as fast as the decoder decodes and never starves it by
    /// accident; underruns happen only where a test makes them (a held [`DecoderGate`]).
    /// When the decoder stops at a held gate point before delivering, this does not step
    /// (`ran` is false): a test that holds the decoder steps with [`MockDevice::step`].
    pub fn step_fed(&self) -> Step {
        if let Some(link) = self.link() {
            let period = self.device.lock().config.period_frames as u64;
            if !self
                .gate()
                .wait_for("a period of audio", || fed(&link, period))
            {
                return Step {
                    ran: false,
                    audible: false,
                };
            }
        }
        self.step()
    }

    /// `n` fed steps; returns how many were audible.
    pub fn play(&self, n: usize) -> usize {
        (0..n).filter(|_| self.step_fed().audible).count()
    }

    /// Advance the mock clock by `d` with no callback: the device stops calling back (a
    /// late callback, or a stalled server).
    pub fn stall(&self, d: Duration) {
        self.device.lock().clock_ns += d.as_nanos() as u64;
    }

    /// Make the open stream fail with `why` (as a host's error callback would).
    pub fn fail(&self, why: &str) {
        if let Some(open) = self.device.lock().open.as_mut() {
            open.fault = Some(why.to_string());
        }
    }

    /// Make opening fail, as with no device at all, until [`MockDevice::plug_in`].
    pub fn unplug(&self) {
        self.device.lock().unplugged = true;
    }

    pub fn plug_in(&self) {
        self.device.lock().unplugged = false;
    }

    /// Make every named device unknown (the default still opens), until
    /// [`MockDevice::restore_named`]. The open stream goes on until [`MockDevice::fail`].
    pub fn remove_named(&self) {
        self.device.lock().named_gone = true;
    }

    pub fn restore_named(&self) {
        self.device.lock().named_gone = false;
    }

    /// Block until no stream is open (the engine closed it). Panics after [`DECODER_HANG`].
    pub fn wait_closed(&self) {
        self.gate()
            .wait_for("the stream closed", || self.link().is_none());
    }

    /// Steps taken so far (the mock's own counter).
    pub fn steps(&self) -> u64 {
        self.device.lock().steps
    }

    /// Streams opened so far.
    pub fn opens(&self) -> u64 {
        self.device.lock().opens
    }

    /// Frames per step.
    pub fn period_frames(&self) -> u32 {
        self.device.lock().config.period_frames
    }
}

/// Whether the ring holds what the next period needs (see [`MockDevice::step_fed`]).
fn fed(link: &Link, period: u64) -> bool {
    if link.pending_flush().is_some() {
        return true;
    }
    let queue_in_ring = link.pushed() >= link.end_index();
    match link.mode() {
        Mode::Playing => link.fill_frames() >= period || queue_in_ring,
        Mode::Priming => link.fill_frames() >= link.prime_frames().max(1) || queue_in_ring,
        Mode::Idle | Mode::Paused => true,
    }
}
