//! The playback engine.
//!
//! ```text
//!  UI / CLI ──Command──▶ decoder thread ──f32 frames──▶ ring ──▶ cpal callback (real time)
//!     ▲                  (decoder.rs: symphonia,         (ringbuf   (callback.rs: the only code
//!     │                   pipeline.rs, resample.rs,       SPSC)      on the audio thread)
//!     │                   channels.rs)                                   │ atomics (shared.rs)
//!     └──────Event────── supervisor thread (supervisor.rs, output.rs) ◀──┘
//!                        owns the output stream (through backend.rs: cpal's in
//!                        output.rs, or the tests' mock.rs), rebuilds it, watches the counters
//! ```
//!
//! Threads: the caller's, the decoder, the supervisor, and cpal's audio thread. Only
//! `callback.rs` runs on the audio thread. Commands and events travel on crossbeam channels
//! between non-real-time threads; samples travel only through the ring; the callback talks to
//! everyone else through atomics.

pub mod analysis;
pub mod backend;
pub mod bitperfect;
pub mod callback;
pub mod channels;
pub mod control;
pub(crate) mod decoder;
pub mod gapless;
pub mod host;
pub mod levels;
pub mod meters;
pub mod mock;
pub mod opener;
pub mod opus;
pub mod output;
pub mod pipeline;
pub mod queue;
pub mod replaygain;
pub mod resample;
pub mod shared;
pub mod source;
pub mod status;
pub(crate) mod supervisor;

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

pub use control::{Command, Event};
pub use meters::MeterSnapshot;
pub use opener::{ScanKnown, TrackOpener, WaitTag};
pub use output::OutputRequest;
pub use queue::{EntryId, PlayQueue, Repeat};
pub use replaygain::{GainMode, GainSettings, GainSource};
pub use shared::Episode;
pub use status::{PlayState, TrackRecord};
pub use supervisor::{IDLE_RELEASE, IDLE_RELEASE_ENV, STREAM_STALL};

use crate::error::OutputError;
use control::DecoderMsg;
use opener::OpenerSlot;
use shared::Shared;
use status::Status;
use supervisor::{OutputState, Supervisor, SupervisorMsg};

/// Default ring capacity. 200 ms rides out the scheduling delays of a fully loaded 2-core
/// machine (`stress-ng --cpu 2`) with room to spare, while a seek or pause still flushes it at
/// once, so the size costs no responsiveness. See README, "Ring size".
pub const DEFAULT_RING_MS: u32 = 200;

/// Default device period: 1024 frames (21.3 ms at 48 kHz), PipeWire's own default quantum.
/// A smaller request pulls the whole desktop's quantum down to it (PipeWire runs the graph at
/// the smallest quantum any client asks for), so every other application wakes more often
/// too; `--period` still lets a user ask for less.
pub const DEFAULT_PERIOD_FRAMES: u32 = 1024;

/// Audio the sound server keeps queued behind reel's stream (PulseAudio protocol only). A
/// stall of reel's whole process shorter than this (a loaded machine, a page-in, a debugger)
/// is never heard: 200 ms covers a 150 ms freeze with a period to spare. It delays nothing the
/// user does: after a pause, seek or stop the next block replaces what the server holds (see
/// `shared::ServerQueue`). The ring is this much larger, so that priming holds enough audio
/// to refill the server at once. See README, "Where the latency goes".
pub const SERVER_BUFFER_MS: u32 = 200;

/// The engine's queue in play order, read under the engine's status lock ([`Engine::play_order`]).
#[derive(Clone)]
pub struct PlayOrder(Arc<dyn Fn() -> Vec<std::path::PathBuf> + Send + Sync>);

impl PlayOrder {
    /// The files in the order they will play, the one decoded now first.
    pub fn files(&self) -> Vec<std::path::PathBuf> {
        (self.0)()
    }
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub output: OutputRequest,
    /// Fail `start` when no device can be opened (the CLI); otherwise keep trying (the window).
    pub require_device: bool,
    /// Whether a front end shows the measurements only the decoder can take as it decodes:
    /// the level meters (peaks, true peak, RMS, clip) and the bit-perfect proof's sample
    /// hashes. Off (a plain `reel play`, where nothing shows them) saves the decoder most of
    /// its work; the snapshot's levels then read silence and the proof says "not measured".
    /// FLAC's MD5 check stays on either way: its mismatch is a damage line for the user.
    pub observed: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            output: OutputRequest {
                device: None,
                ring_ms: DEFAULT_RING_MS,
                period_frames: DEFAULT_PERIOD_FRAMES,
            },
            require_device: true,
            observed: true,
        }
    }
}

/// A running engine. Dropping it stops playback and joins its threads.
pub struct Engine {
    decoder_tx: Sender<DecoderMsg>,
    supervisor_tx: Sender<SupervisorMsg>,
    events: Receiver<Event>,
    shared: Arc<Shared>,
    status: Arc<Mutex<Status>>,
    output: Arc<Mutex<OutputState>>,
    epoch: Instant,
    threads: Vec<JoinHandle<()>>,
    device: Option<String>,
    opener: Arc<OpenerSlot>,
    /// The level meters' reader state: held peaks, the clip latch (engine/levels.rs).
    levels: Mutex<levels::LevelReader>,
}

impl Engine {
    /// Start on a real device (cpal).
    pub fn start(config: EngineConfig) -> Result<Engine, OutputError> {
        Engine::start_with_backend(config, Box::new(output::CpalBackend::default()))
    }

    /// Start on the output `backend` opens (the tests' [`mock::MockBackend`], for one).
    pub fn start_with_backend(
        config: EngineConfig,
        backend: Box<dyn backend::Backend>,
    ) -> Result<Engine, OutputError> {
        quiet_decoder_panics();
        let epoch = Instant::now();
        let shared = Arc::new(Shared::default());
        shared.set_observed(config.observed);
        let status = Arc::new(Mutex::new(Status::default()));
        let output = Arc::new(Mutex::new(OutputState::default()));
        let (decoder_tx, decoder_rx) = crossbeam_channel::unbounded();
        let (supervisor_tx, supervisor_rx) = crossbeam_channel::unbounded();
        let (events_tx, events) = crossbeam_channel::unbounded();
        let opener = Arc::new(OpenerSlot::default());
        let decoder = decoder::Decoder::new(
            decoder_rx,
            events_tx.clone(),
            shared.clone(),
            status.clone(),
            opener.clone(),
        );
        let mut threads = vec![
            std::thread::Builder::new()
                .name(DECODER_THREAD.into())
                .spawn(move || decoder.run())
                .map_err(|e| {
                    OutputError::Unusable(format!("cannot start the decoder thread: {e}"))
                })?,
        ];
        let sup = Supervisor {
            rx: supervisor_rx,
            decoder: decoder_tx.clone(),
            events: events_tx,
            shared: shared.clone(),
            status: status.clone(),
            output: output.clone(),
            epoch,
            request: config.output.clone(),
            backend,
        };
        let (first_tx, first_rx) = crossbeam_channel::bounded(1);
        threads.push(
            std::thread::Builder::new()
                .name("reel-supervisor".into())
                .spawn(move || sup.run(first_tx))
                .map_err(|e| {
                    OutputError::Unusable(format!("cannot start the supervisor thread: {e}"))
                })?,
        );
        let mut engine = Engine {
            decoder_tx,
            supervisor_tx,
            events,
            shared,
            status,
            output,
            epoch,
            threads,
            device: None,
            opener,
            levels: Mutex::default(),
        };
        match first_rx.recv() {
            Ok(Ok(device)) => engine.device = Some(device),
            Ok(Err(e)) if config.require_device => return Err(e),
            Ok(Err(_)) => {}
            Err(_) => return Err(OutputError::Unusable("the supervisor thread died".into())),
        }
        Ok(engine)
    }

    /// The device opened at start, if any.
    pub fn device(&self) -> Option<&str> {
        self.device.as_deref()
    }

    /// Why no output stream runs now (it could not be opened at start, or was lost and has
    /// not come back yet), as one line for the window; `None` while a stream runs. Cheap: one
    /// short lock, no I/O, so the UI thread may call it every frame.
    pub fn output_problem(&self) -> Option<String> {
        let out = self.output.lock().unwrap_or_else(|p| p.into_inner());
        if out.stream.is_some() || out.released {
            return None;
        }
        Some(
            out.lost_reason
                .clone()
                .unwrap_or_else(|| "the output is being opened".into()),
        )
    }

    /// Queue entries are opened through `opener` from now on (the session layer's streaming
    /// fills); `None` opens them as plain files again.
    pub fn set_opener(&self, opener: Option<Arc<dyn TrackOpener>>) {
        self.opener.set(opener);
    }

    pub fn send(&self, cmd: Command) {
        if let Command::Volume(v) = cmd {
            // Volume needs no thread hop: the callback reads the atomic and ramps.
            self.shared.set_volume(v);
            return;
        }
        if cmd.may_start_playback() {
            // A device released while idle is opened again (see `supervisor::IDLE_RELEASE`).
            let _ = self.supervisor_tx.send(SupervisorMsg::Wake);
        }
        let _ = self.decoder_tx.send(DecoderMsg::User(cmd, Instant::now()));
    }

    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    pub fn volume(&self) -> f32 {
        self.shared.volume()
    }

    /// Change device, ring size or period while running; playback resumes where it was.
    pub fn reconfigure(&self, req: OutputRequest) {
        let _ = self.supervisor_tx.send(SupervisorMsg::Reconfigure(req));
    }

    /// Per-track records: what each queued file turned out to be and how it went.
    pub fn tracks(&self) -> Vec<TrackRecord> {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tracks
            .clone()
    }

    /// Underrun episodes seen so far (most recent last).
    pub fn episodes(&self) -> Vec<Episode> {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .episodes
            .iter()
            .copied()
            .collect()
    }

    /// Engine clock: nanoseconds since start (the clock episodes are stamped with).
    pub fn clock_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Clear the clip indicator ([`MeterSnapshot::clipped`]).
    pub fn clear_clip(&self) {
        self.levels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear_clip();
    }

    /// The bit-perfect verdict of queue entry `track` as the window's badge shows it
    /// ([`bitperfect::badge_verdict`]): `(true, None)`, or false and the first reason.
    pub fn bit_perfect(
        &self,
        track: usize,
        volume_below_full: bool,
        device_format: &str,
    ) -> Option<(bool, Option<&'static str>)> {
        let st = self.status.lock().unwrap_or_else(|p| p.into_inner());
        bitperfect::badge_verdict(st.tracks.get(track)?, volume_below_full, device_format)
    }

    /// A consistent copy of every meter. Resets the "since last read" figures (ring minimum,
    /// peaks).
    pub fn snapshot(&self) -> MeterSnapshot {
        let mut snap = MeterSnapshot::default();
        let (stream, released) = {
            let out = self.output.lock().unwrap_or_else(|p| p.into_inner());
            (out.stream.clone(), out.released)
        };
        meters::read_atomics(&mut snap, &self.shared, stream.as_ref().map(|s| &*s.link));
        self.read_levels(&mut snap, stream.as_ref().map(|s| &s.link));
        // Released while idle is not a problem: it is opened again on play.
        snap.device_ok = stream.is_some() || released;
        let st = self.status.lock().unwrap_or_else(|p| p.into_inner());
        snap.state = st.state;
        snap.codec = st.codec.clone();
        snap.file_rate = st.file_rate;
        snap.time_to_first_audio_ms = st.last_ttfa_ms;
        if let Some(s) = &stream {
            snap.device = s.device.clone();
            snap.host = s.host.clone();
            snap.sample_format = s.sample_format.clone();
            snap.audio_thread = s.scheduling.clone();
            let rate = s.link.rate().max(1) as f64;
            snap.resampler_delay_ms = st.resampler_delay_frames as f64 * 1000.0 / rate;
            let located = locate_heard(&st, s, &self.shared, self.epoch);
            if let Some((track, frame)) = located {
                snap.track = Some(track);
                snap.position_ms = frame as f64 * 1000.0 / rate;
                if let Some(rec) = st.tracks.get(track) {
                    if let Some(info) = &rec.info {
                        snap.gain_db = info.gain.db;
                        snap.gain_source = info.gain.source.as_str().into();
                    }
                    snap.track_path = Some(rec.path.display().to_string());
                    snap.duration_ms = rec
                        .info
                        .as_ref()
                        .and_then(|i| i.duration_secs())
                        .map(|d| d * 1000.0);
                }
            }
        }
        if stream.is_none()
            && let Some((track, ms)) = st.held_at
        {
            // The device is gone: show where the listener was, where playback will resume.
            snap.track = Some(track);
            snap.position_ms = ms;
            if let Some(rec) = st.tracks.get(track) {
                snap.track_path = Some(rec.path.display().to_string());
                snap.duration_ms = rec
                    .info
                    .as_ref()
                    .and_then(|i| i.duration_secs())
                    .map(|d| d * 1000.0);
            }
        }
        snap.output_latency_ms =
            snap.ring_fill_ms + snap.device_latency_ms + snap.resampler_delay_ms;
        let modes = Modes::of(&st, snap.track);
        snap.shuffle = modes.shuffle;
        snap.repeat = modes.repeat;
        snap.can_go_next = modes.can_go_next;
        snap.can_go_previous = modes.can_go_previous;
        snap.entry_id = snap.track.and_then(|t| st.queue.id(t));
        snap
    }

    /// The queue as the engine has it now: its entries with their ids (what
    /// [`Command::Remove`], [`Command::Move`] and [`Command::PlayNext`] name), the shuffle
    /// order and the repeat mode. A copy; cheap enough for an edit, not for every frame
    /// (see [`Engine::entry_ids`]).
    pub fn queue(&self) -> PlayQueue {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .queue
            .clone()
    }

    /// A handle that tells, from any thread and for as long as it is kept, the files of the
    /// engine's queue in the order they will play from the one decoded now
    /// ([`PlayQueue::play_order`]): the session copies ahead in this order.
    pub fn play_order(&self) -> PlayOrder {
        let status = self.status.clone();
        PlayOrder(Arc::new(move || {
            let st = status.lock().unwrap_or_else(|p| p.into_inner());
            st.queue.play_order(st.decoding)
        }))
    }

    /// The ids of the queue's entries, in order (one short lock, no paths copied).
    pub fn entry_ids(&self) -> Vec<EntryId> {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .queue
            .ids()
    }

    /// A handle that reads what the listener hears now from any non-real-time thread (MPRIS
    /// answers `Position` with it), without disturbing the meters [`Engine::snapshot`] resets.
    pub fn heard_probe(&self) -> HeardProbe {
        HeardProbe {
            shared: self.shared.clone(),
            status: self.status.clone(),
            output: self.output.clone(),
            epoch: self.epoch,
        }
    }

    /// The level meters at what is heard now (no stream: nothing is heard).
    fn read_levels(&self, snap: &mut MeterSnapshot, link: Option<&Arc<shared::Link>>) {
        let mut reader = self.levels.lock().unwrap_or_else(|p| p.into_inner());
        let levels = match link {
            Some(link) => reader.read(
                link.levels(),
                levels::ReadAt {
                    heard: meters::heard_index(link, &self.shared, self.clock_ns()),
                    playing: link.mode() == shared::Mode::Playing,
                    rate: link.rate(),
                    channels: link.channels() as usize,
                    volume: self.shared.volume(),
                    now_ns: self.clock_ns(),
                    stream: Arc::as_ptr(link) as usize,
                },
            ),
            None => levels::Levels {
                clipped: reader.clipped(),
                ..Default::default()
            },
        };
        meters::fill_levels(snap, levels);
    }

    /// Stop playback and join the threads.
    pub fn shutdown(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        let _ = self.supervisor_tx.send(SupervisorMsg::Shutdown);
        let _ = self.decoder_tx.send(DecoderMsg::Shutdown);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The queue entry and output frame the listener hears now on stream `s`.
fn locate_heard(
    st: &Status,
    s: &supervisor::StreamInfo,
    shared: &Shared,
    epoch: Instant,
) -> Option<(usize, u64)> {
    match st.state {
        PlayState::Paused => st.paused_at,
        PlayState::Playing => {
            let idx = meters::heard_index(&s.link, shared, epoch.elapsed().as_nanos() as u64);
            st.locate_heard(st.link_id, idx)
        }
        PlayState::Stopped => None,
    }
}

/// What the listener hears now: see [`Engine::heard_probe`]. Cheap (two short locks, no I/O).
#[derive(Clone)]
pub struct HeardProbe {
    shared: Arc<Shared>,
    status: Arc<Mutex<Status>>,
    output: Arc<Mutex<OutputState>>,
    epoch: Instant,
}

/// The engine's state and heard position at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Heard {
    pub state: PlayState,
    /// The queue entry heard (or where playback will resume while the output is gone).
    pub track: Option<usize>,
    pub position_ms: f64,
    /// That track's length, once it is open and its container says.
    pub duration: Option<std::time::Duration>,
    /// The queue's modes, and where Next and Previous can go from the track heard.
    pub modes: Modes,
}

/// The queue's play modes, and whether Next and Previous have somewhere to go from the entry
/// heard (with repeat all there always is a next; under shuffle, Previous walks the history).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Modes {
    pub shuffle: bool,
    pub repeat: Repeat,
    pub can_go_next: bool,
    pub can_go_previous: bool,
}

impl Modes {
    fn of(st: &Status, heard: Option<usize>) -> Modes {
        let q = &st.queue;
        let id = heard.and_then(|t| q.id(t));
        Modes {
            shuffle: q.shuffle(),
            repeat: q.repeat(),
            can_go_next: q.can_go_next(id),
            can_go_previous: q.can_go_previous(id),
        }
    }
}

impl HeardProbe {
    pub fn now(&self) -> Heard {
        let stream = self
            .output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stream
            .clone();
        let st = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let mut heard = Heard {
            state: st.state,
            ..Heard::default()
        };
        match &stream {
            Some(s) => {
                if let Some((track, frame)) = locate_heard(&st, s, &self.shared, self.epoch) {
                    heard.track = Some(track);
                    heard.position_ms = frame as f64 * 1000.0 / s.link.rate().max(1) as f64;
                }
            }
            None => {
                if let Some((track, ms)) = st.held_at {
                    heard.track = Some(track);
                    heard.position_ms = ms;
                }
            }
        }
        heard.modes = Modes::of(&st, heard.track);
        heard.duration = heard
            .track
            .and_then(|t| st.tracks.get(t)?.info.as_ref()?.duration_secs())
            .map(std::time::Duration::from_secs_f64);
        heard
    }
}

/// A panic on the decoder thread is caught there and reported as one clear line naming the
/// file ("decoder crashed on this file; track ended"). The default hook would also print a
/// multi-line panic message in the middle of the user's output, so for that thread only the
/// hook stays silent; every other thread keeps the default.
fn quiet_decoder_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some(DECODER_THREAD) {
                previous(info);
            }
        }));
    });
}

/// The decoder thread's name (also what `top -H` shows).
pub const DECODER_THREAD: &str = "reel-decoder";

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop_threads();
    }
}
