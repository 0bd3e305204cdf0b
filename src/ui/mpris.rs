//! The window's side of MPRIS (src/mpris): what it publishes each frame, and the requests it
//! takes. Threads: the UI thread; connecting to the bus (I/O) happens on a short-lived
//! `reel-mpris-connect` thread, and a request wakes the UI thread through the waker (a
//! repaint).

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use eframe::egui;

use super::worker::QueueItem;
use crate::engine::{Engine, MeterSnapshot};
use crate::error::MprisError;
use crate::mpris::{Mpris, MprisOptions, PlayerState, Request, TrackRef};

/// MPRIS for the window, once connected.
pub struct WindowMpris {
    connecting: Option<Receiver<Result<Mpris, MprisError>>>,
    mpris: Option<Mpris>,
    last: PlayerState,
    /// Bumped when the queue is replaced or cleared, so that a new queue's entries get new
    /// track ids (a stale `SetPosition` never moves another track).
    generation: u64,
}

impl WindowMpris {
    /// Starts serving MPRIS for `engine` in the background; no session bus is one line on
    /// stderr, and the window goes on.
    pub fn start(engine: &Engine, ctx: &egui::Context) -> WindowMpris {
        let ctx = ctx.clone();
        let opts = MprisOptions {
            can_raise: true,
            probe: engine.heard_probe(),
            initial: PlayerState::default(),
            waker: Some(Arc::new(move || ctx.request_repaint())),
        };
        let (tx, rx) = crossbeam_channel::bounded(1);
        let started = std::thread::Builder::new()
            .name("reel-mpris-connect".into())
            .spawn(move || {
                let _ = tx.send(Mpris::start(opts));
            });
        if let Err(e) = started {
            eprintln!("reel: {}", MprisError::Refused(e.to_string()));
        }
        WindowMpris {
            connecting: Some(rx),
            mpris: None,
            last: PlayerState::default(),
            generation: 0,
        }
    }

    /// Takes the connection once it is made (or says why there is none).
    fn poll_connect(&mut self) {
        let Some(rx) = &self.connecting else { return };
        match rx.try_recv() {
            Ok(Ok(m)) => {
                self.mpris = Some(m);
                self.connecting = None;
            }
            Ok(Err(e)) => {
                eprintln!("reel: {e}");
                self.connecting = None;
            }
            Err(crossbeam_channel::TryRecvError::Empty) => {}
            Err(crossbeam_channel::TryRecvError::Disconnected) => self.connecting = None,
        }
    }

    /// The queue was replaced or cleared.
    pub fn new_queue(&mut self) {
        self.generation += 1;
    }

    /// What clients asked for since the last frame.
    pub fn requests(&mut self) -> Vec<Request> {
        self.poll_connect();
        self.mpris
            .as_ref()
            .map(|m| m.requests().try_iter().collect())
            .unwrap_or_default()
    }

    /// A seek landed (Seeked follows).
    pub fn seeked(&self, position: Duration) {
        if let Some(m) = &self.mpris {
            m.seeked(position);
        }
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
                    // The engine's entry id: it stays with the entry through queue edits.
                    id: snap.entry_id.unwrap_or((self.generation << 32) | i as u64),
                    path: q.source.clone(),
                    url_path: q.source.clone(),
                    length: q.duration_secs.map(Duration::from_secs_f64),
                }
            }),
            volume: f64::from(volume),
            can_go_next: current.is_some() && snap.can_go_next,
            can_go_previous: current.is_some() && snap.can_go_previous,
            can_play: !queue.is_empty(),
            shuffle: snap.shuffle,
            repeat: snap.repeat,
        };
        if let Some(m) = &self.mpris
            && state != self.last
        {
            self.last = state.clone();
            m.publish(state);
        }
    }
}
