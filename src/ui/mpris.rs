//! The window's side of MPRIS (src/mpris): what it publishes each frame, and the requests it
//! takes. Threads: the UI thread; a request wakes it through the waker (a repaint).

use std::sync::Arc;
use std::time::Duration;

use eframe::egui;

use super::worker::QueueItem;
use crate::engine::{Engine, MeterSnapshot};
use crate::mpris::{Mpris, MprisOptions, PlayerState, Request, TrackRef};

/// MPRIS for the window; `None` from [`WindowMpris::start`] when there is no session bus.
pub struct WindowMpris {
    mpris: Mpris,
    last: PlayerState,
    /// Bumped when the queue is replaced or cleared, so that a new queue's entries get new
    /// track ids (a stale `SetPosition` never moves another track).
    generation: u64,
}

impl WindowMpris {
    /// Serves MPRIS for `engine`; no session bus is one line on stderr, and the window goes on.
    pub fn start(engine: &Engine, ctx: &egui::Context) -> Option<WindowMpris> {
        let ctx = ctx.clone();
        let opts = MprisOptions {
            can_raise: true,
            probe: engine.heard_probe(),
            initial: PlayerState::default(),
            waker: Some(Arc::new(move || ctx.request_repaint())),
        };
        match Mpris::start(opts) {
            Ok(mpris) => Some(WindowMpris {
                mpris,
                last: PlayerState::default(),
                generation: 0,
            }),
            Err(e) => {
                eprintln!("reel: {e}");
                None
            }
        }
    }

    /// The queue was replaced or cleared.
    pub fn new_queue(&mut self) {
        self.generation += 1;
    }

    /// What clients asked for since the last frame.
    pub fn requests(&self) -> Vec<Request> {
        self.mpris.requests().try_iter().collect()
    }

    /// A seek landed (Seeked follows).
    pub fn seeked(&self, position: Duration) {
        self.mpris.seeked(position);
    }

    /// Publishes the player's state as this frame shows it, when it changed.
    pub fn publish(&mut self, snap: &MeterSnapshot, queue: &[QueueItem], volume: f32) {
        let current = snap.track.filter(|&t| t < queue.len());
        let state = PlayerState {
            status: snap.state,
            track: current.map(|i| {
                let q = &queue[i];
                TrackRef {
                    index: i,
                    id: (self.generation << 32) | i as u64,
                    path: q.object.clone(),
                    url_path: q.source.clone(),
                    length: q.duration_secs.map(Duration::from_secs_f64),
                }
            }),
            volume: f64::from(volume),
            can_go_next: current.is_some_and(|i| i + 1 < queue.len()),
            can_go_previous: current.is_some_and(|i| i > 0),
            can_play: !queue.is_empty(),
        };
        if state != self.last {
            self.last = state.clone();
            self.mpris.publish(state);
        }
    }
}
