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
//! [`DecoderGate`] lets a test stop the decoder thread at one step of the protocol (opening a
//! track, seeking, pushing audio) and let it go again, so that "the decoder is opening the next
//! file while the ring runs dry" happens on purpose, not by timing. Only the decoder's side of
//! the protocol looks at the gate; the callback never does, and a real device's link has none.
//!
//! Everything here synchronises on conditions (the gate's condition variable, the mock's own
//! counters); the only timeouts are failure bounds.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::shared::Activity;

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
            Activity::Decoding | Activity::DeviceChange | Activity::Source => GatePoint::Decoding,
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
        st.held_at = None;
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

    /// Test: let the decoder go on.
    pub fn release(&self) {
        self.lock().hold = None;
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
