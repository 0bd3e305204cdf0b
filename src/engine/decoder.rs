//! The decoder thread: opens tracks, decodes, maps channels, resamples, and pushes into the
//! ring. It never runs on the audio thread, so it may allocate, lock the status mutex and
//! block; it must only keep the ring from running dry.
//!
//! When the ring is full it blocks on its command channel with a timeout sized to the time the
//! device needs to free the space it wants: it neither spins nor misses a command.
//!
//! Flushes (seek, pause, stop, next) are asynchronous: the decoder asks through
//! `Link::request_flush` and pushes nothing more until the callback has acknowledged it, so
//! no new audio can be thrown away with the old (the protocol: `shared.rs`).
//!
//! The queue (engine/queue.rs) is this thread's: edits, shuffle and repeat are commands
//! handled here. An edit that keeps the track heard touches nothing already in the ring
//! unless it changes which track follows after that one's start was decoded; then only those
//! frames are cut (`Link::request_cut`) and the new next track pushed behind them, so the
//! join stays gapless. The indices kept for queue entries (the pipeline's, the segments',
//! where to resume) follow their entries through every edit (`remap`).

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::bitperfect::SampleHash;
use super::control::{Command, DecoderMsg, Event, OutputSlot};
use super::opener::{OpenerSlot, ScanKnown, WaitTag};
use super::pipeline::{OutputFormat, Pipeline};
use super::queue::{EntryId, PlayQueue, Step};
use super::replaygain::{self, GainMode, GainSettings};
use super::shared::{Activity, Mode, Shared};
use super::status::{PlayState, Segment, Status, TrackRecord};
use crate::error::{FileError, FileErrorKind, FileWarning};

/// Audio needed in the ring before playback starts after a start, seek or resume.
pub const PRIME_MS: u64 = 20;

/// Longest wait for the callback to acknowledge a flush before a pause reads the position
/// anyway (a stalled device must not freeze the decoder).
const FLUSH_ACK_WAIT: Duration = Duration::from_millis(200);

/// "Previous" restarts the current track when more than this has been heard of it.
const PREVIOUS_RESTARTS_AFTER: Duration = Duration::from_secs(3);

/// Nice value asked for the decoder thread. The decoder must get the CPU back within the
/// ring's length however busy the machine is; a modest boost over normal programs (nice 0)
/// makes that hold under `stress-ng --cpu 2` even with the default ring, while it stays far
/// below real-time classes, so a runaway decode could never lock up a desktop.
pub const DECODER_NICE: i32 = -10;

/// Best effort: without CAP_SYS_NICE or an RLIMIT_NICE that allows it, the thread keeps the
/// normal priority (the ring is sized to cope with that on an ordinary desktop).
fn raise_own_priority() {
    // SAFETY: gettid and setpriority have no memory-safety preconditions; they act on this
    // thread only.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, DECODER_NICE);
    }
}

struct Out {
    slot: OutputSlot,
    id: u64,
    /// When the ring was last found full, and the link's `consumed` then: how fast the device
    /// really drains it (see `work`).
    last_full: Option<(Instant, u64)>,
}

pub(crate) struct Decoder {
    rx: Receiver<DecoderMsg>,
    events: Sender<Event>,
    shared: Arc<Shared>,
    status: Arc<Mutex<Status>>,
    queue: PlayQueue,
    out: Option<Out>,
    next_link_id: u64,
    pipeline: Option<(usize, Pipeline)>,
    pending: Vec<f32>,
    pending_off: usize,
    state: PlayState,
    /// Where to resume: (queue entry, output frame at the current output rate).
    resume_at: Option<(usize, u64)>,
    /// The rate `resume_at`'s frame is counted in.
    resume_rate: u32,
    /// The request time to attach to the next segment (TTFA).
    request: Option<Instant>,
    /// ReplayGain mode and pre-amp, for the tracks opened from now on.
    gain: GainSettings,
    /// Album of each file met, for `auto` ReplayGain (`None`: no album tag, or unreadable).
    album_keys: HashMap<PathBuf, Option<String>>,
    /// Who supplies readers for queue entries (the session's streaming fills), if anyone.
    opener: Arc<OpenerSlot>,
    /// Hash of the samples of the current track pushed into the ring (since its open or
    /// last seek), and whether the volume was below 100 % at any push: bitperfect.rs.
    pushed_hash: SampleHash,
    volume_below_full: bool,
}

impl Decoder {
    pub fn new(
        rx: Receiver<DecoderMsg>,
        events: Sender<Event>,
        shared: Arc<Shared>,
        status: Arc<Mutex<Status>>,
        opener: Arc<OpenerSlot>,
    ) -> Decoder {
        Decoder {
            rx,
            events,
            shared,
            status,
            queue: PlayQueue::default(),
            out: None,
            next_link_id: 1,
            pipeline: None,
            pending: Vec::new(),
            pending_off: 0,
            state: PlayState::Stopped,
            resume_at: None,
            resume_rate: 48_000,
            request: None,
            gain: GainSettings::default(),
            album_keys: HashMap::new(),
            opener,
            pushed_hash: SampleHash::default(),
            volume_below_full: false,
        }
    }

    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        // A panic elsewhere while holding the lock must not take playback down with it.
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    pub fn run(mut self) {
        raise_own_priority();
        super::source::set_sample_hashes(self.shared.observed());
        loop {
            // 1. Take commands: block when there is nothing to do, poll when decoding.
            let msg = if self.wants_to_work() {
                match self.rx.try_recv() {
                    Ok(m) => Some(m),
                    Err(crossbeam_channel::TryRecvError::Empty) => None,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => return,
                }
            } else {
                match self.rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => return,
                }
            };
            if let Some(msg) = msg {
                if !self.handle(msg) {
                    return;
                }
                continue;
            }
            // 2. Work: push what is pending, or decode more.
            if let Some(wait) = self.work() {
                match self.rx.recv_timeout(wait) {
                    Ok(msg) => {
                        if !self.handle(msg) {
                            return;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        }
    }

    fn wants_to_work(&self) -> bool {
        self.state == PlayState::Playing
            && self.out.is_some()
            && (self.pending_off < self.pending.len() || self.pipeline.is_some())
    }

    /// Returns `false` on shutdown.
    fn handle(&mut self, msg: DecoderMsg) -> bool {
        match msg {
            DecoderMsg::Shutdown => return false,
            DecoderMsg::User(cmd, at) => self.command(cmd, at),
            DecoderMsg::Output(slot) => self.new_output(slot),
            DecoderMsg::OutputLost => self.output_lost(),
            DecoderMsg::Finished => {
                if self.state == PlayState::Playing && self.pipeline.is_none() {
                    self.state = PlayState::Stopped;
                    self.resume_at = None;
                    let mut st = self.status();
                    st.state = PlayState::Stopped;
                    st.decoding = None;
                }
            }
        }
        true
    }

    fn command(&mut self, cmd: Command, at: Instant) {
        let edits = matches!(
            cmd,
            Command::Load(_)
                | Command::Queue(_)
                | Command::Remove(_)
                | Command::Move { .. }
                | Command::PlayNext(_)
                | Command::Clear
                | Command::Shuffle(_)
                | Command::Repeat(_)
        );
        self.run_command(cmd, at);
        if edits {
            self.emit(Event::QueueChanged);
        }
    }

    fn run_command(&mut self, cmd: Command, at: Instant) {
        match cmd {
            Command::Load(paths) => {
                self.queue.clear();
                self.queue.add(paths);
                self.reset_records();
                let first = self.queue.first().and_then(|id| self.queue.index_of(id));
                self.start(first.unwrap_or(0), 0, at);
                self.publish_queue();
            }
            Command::Queue(paths) => self.edit(at, |q, _| {
                q.add(paths);
            }),
            Command::Remove(id) => self.remove(id, at),
            Command::Move { id, to } => self.edit(at, |q, _| {
                q.move_to(id, to);
            }),
            Command::PlayNext(id) => self.edit(at, |q, current| {
                q.play_next(id, current);
            }),
            Command::Clear => {
                // Stopped is told after the empty queue is published: whoever hears it sees
                // no entries left.
                let stopped = self.halt();
                self.queue.clear();
                self.resume_at = None;
                self.reset_records();
                self.publish_queue();
                if stopped {
                    self.emit(Event::Stopped);
                }
            }
            Command::Shuffle(on) => self.edit(at, |q, current| q.set_shuffle(on, current)),
            Command::Repeat(r) => self.edit(at, |q, _| q.set_repeat(r)),
            Command::PlayIndex(i) => {
                if i < self.queue.len() {
                    self.start(i, 0, at);
                }
            }
            Command::Cue(i, to) => self.cue(i, to),
            Command::Play | Command::Resume => self.play(at),
            Command::TogglePause => match self.state {
                PlayState::Playing => self.pause(),
                _ => self.play(at),
            },
            Command::Pause => self.pause(),
            Command::Stop => self.stop(),
            Command::Seek(to) => self.seek_to(to, at),
            Command::SeekBy(secs) => {
                if let Some((track, frame)) = self.heard() {
                    let rate = self.out_rate() as f64;
                    let now = frame as f64 / rate;
                    let target = (now + secs).max(0.0);
                    let _ = track;
                    self.seek_to(Duration::from_secs_f64(target), at);
                }
            }
            Command::Next => {
                if let Some(next) = self
                    .current_track()
                    .and_then(|cur| self.next_index(cur, Step::Skip))
                {
                    self.start(next, 0, at);
                }
            }
            Command::Previous => {
                if let Some((track, frame)) = self.heard() {
                    let heard = Duration::from_secs_f64(frame as f64 / self.out_rate() as f64);
                    let back = if heard > PREVIOUS_RESTARTS_AFTER {
                        None
                    } else {
                        self.queue
                            .id(track)
                            .and_then(|id| self.queue.previous(id))
                            .and_then(|id| self.queue.index_of(id))
                    };
                    self.start(back.unwrap_or(track), 0, at);
                }
            }
            Command::Volume(v) => self.shared.set_volume(v),
            Command::ReplayGain(g) => self.gain = g,
        }
    }

    /// The per-entry records follow the queue (by entry id): kept for the entries that stay,
    /// new ones for the entries added.
    fn reset_records(&mut self) {
        let queue = &self.queue;
        let mut st = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let mut old: HashMap<EntryId, TrackRecord> = std::mem::take(&mut st.tracks)
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        st.tracks = queue
            .entries()
            .iter()
            .map(|e| match old.remove(&e.id) {
                Some(r) => r,
                None => TrackRecord {
                    id: e.id,
                    path: e.path.clone(),
                    ..TrackRecord::default()
                },
            })
            .collect();
    }

    /// Publish the queue (entries, order, modes) for the front ends, once an edit is done.
    fn publish_queue(&self) {
        self.status().queue = self.queue.clone();
    }

    /// The queue entry that follows entry `track` (`Step` says why it moves on).
    fn next_index(&mut self, track: usize, step: Step) -> Option<usize> {
        let id = self.queue.id(track)?;
        let next = self.queue.next(id, step)?;
        self.queue.index_of(next)
    }

    fn out_rate(&self) -> u32 {
        self.out.as_ref().map_or(48_000, |o| o.slot.link.rate())
    }

    fn current_track(&self) -> Option<usize> {
        self.heard()
            .map(|(t, _)| t)
            .or(self.pipeline.as_ref().map(|(t, _)| *t))
    }

    /// What the listener hears now (or heard last): queue entry and output frame.
    fn heard(&self) -> Option<(usize, u64)> {
        if self.state == PlayState::Paused {
            return self.resume_at;
        }
        let out = self.out.as_ref()?;
        let idx = out.slot.link.consumed();
        self.status().locate_heard(out.id, idx).or(self.resume_at)
    }

    /// Ask the callback to drop what is queued; new audio waits for its answer.
    fn flush(&mut self, mode: Mode) {
        self.pending.clear();
        self.pending_off = 0;
        if let Some(out) = &self.out {
            out.slot.link.request_flush(mode);
        }
        let mut st = self.status();
        st.drained = false;
    }

    /// What `flush(Mode::Priming)` does, minus the flush: for a start from silence.
    fn start_silent(&mut self) {
        self.pending.clear();
        self.pending_off = 0;
        if let Some(out) = &self.out {
            out.slot.link.start_priming();
        }
        self.status().drained = false;
    }

    /// Wait (bounded) until the callback has dropped the ring, so that "paused" and "stopped"
    /// mean silent. The callback cannot wake us without a syscall, so this polls each ms.
    fn wait_for_flush(&self) {
        let deadline = Instant::now() + FLUSH_ACK_WAIT;
        while !self.flush_acknowledged() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn flush_acknowledged(&self) -> bool {
        self.out
            .as_ref()
            .is_none_or(|o| o.slot.link.no_flush_pending())
    }

    /// Start queue entry `track` at output frame `frame`, as asked at `at`.
    fn start(&mut self, track: usize, frame: u64, at: Instant) {
        if track >= self.queue.len() {
            return;
        }
        let was_playing = self.state == PlayState::Playing;
        // Starting a track from its beginning while the output is silent (idle, ring empty:
        // nothing to drop, nothing to fade out) needs no flush. Waiting for the callback to
        // acknowledge one anyway cost a whole device period of time to first audio: new
        // audio could only be pushed after one callback and heard from the next.
        // (The callback never leaves Idle by itself, so this cannot race with it.)
        let silent = frame == 0
            && self
                .out
                .as_ref()
                .is_some_and(|o| o.slot.link.mode() == Mode::Idle && o.slot.feed.is_empty());
        if silent {
            self.start_silent();
        } else {
            self.flush(Mode::Priming);
        }
        self.state = PlayState::Playing;
        self.status().state = PlayState::Playing;
        self.resume_at = None;
        let reuse = matches!(&self.pipeline, Some((t, _)) if *t == track);
        if reuse {
            self.seek_pipeline(track, frame, Some(at));
        } else {
            self.pipeline = None;
            self.open_track(track, frame, Some(at));
        }
        if !was_playing {
            self.emit(Event::Resumed);
        }
    }

    fn play(&mut self, at: Instant) {
        match self.state {
            PlayState::Playing => {}
            PlayState::Paused => {
                let (track, frame) = self.resume_at.unwrap_or((0, 0));
                self.start(track, frame, at);
            }
            PlayState::Stopped => {
                let first = self.queue.first().and_then(|id| self.queue.index_of(id));
                let track = self.resume_at.map(|(t, _)| t).or(first).unwrap_or(0);
                self.start(track, 0, at);
            }
        }
    }

    /// Stand paused at queue entry `track`, `to` into it, without a sound: `Play` starts there.
    fn cue(&mut self, track: usize, to: Duration) {
        if self.state == PlayState::Playing || track >= self.queue.len() {
            return;
        }
        let rate = self.out_rate();
        self.resume_at = Some((track, (to.as_secs_f64() * rate as f64).round() as u64));
        self.resume_rate = rate;
        self.state = PlayState::Paused;
        {
            let mut st = self.status();
            st.state = PlayState::Paused;
            st.paused_at = self.resume_at;
        }
        self.emit(Event::Paused);
    }

    fn pause(&mut self) {
        if self.state != PlayState::Playing {
            return;
        }
        let heard_before = self.heard();
        self.flush(Mode::Paused);
        // Wait briefly for the callback, so the pause position is exactly the last frame heard.
        self.wait_for_flush();
        let heard = match &self.out {
            Some(out) if self.flush_acknowledged() => {
                let idx = out.slot.link.flushed_at();
                self.status().locate(out.id, idx).or(heard_before)
            }
            _ => heard_before,
        };
        self.resume_at = heard.or(self
            .pipeline
            .as_ref()
            .map(|(t, p)| (*t, p.position_out_frames())));
        self.resume_rate = self.out_rate();
        self.state = PlayState::Paused;
        {
            let mut st = self.status();
            st.state = PlayState::Paused;
            st.paused_at = self.resume_at;
        }
        self.emit(Event::Paused);
    }

    fn stop(&mut self) {
        if self.halt() {
            self.emit(Event::Stopped);
        }
    }

    /// Stop playing without telling anyone yet; false when it was already stopped.
    fn halt(&mut self) -> bool {
        if self.state == PlayState::Stopped {
            return false;
        }
        let track = self.current_track();
        self.flush(Mode::Idle);
        self.wait_for_flush();
        self.pipeline = None;
        self.state = PlayState::Stopped;
        self.resume_at = track.map(|t| (t, 0));
        {
            let mut st = self.status();
            st.state = PlayState::Stopped;
            st.paused_at = None;
            st.decoding = None;
        }
        true
    }

    fn seek_to(&mut self, to: Duration, at: Instant) {
        let frame = (to.as_secs_f64() * self.out_rate() as f64).round() as u64;
        let moved = match self.state {
            PlayState::Paused => match self.resume_at {
                Some((t, _)) => {
                    self.resume_at = Some((t, frame));
                    self.status().paused_at = self.resume_at;
                    Some(t)
                }
                None => None,
            },
            PlayState::Playing => match self.current_track() {
                Some(track) => {
                    self.flush(Mode::Priming);
                    if matches!(&self.pipeline, Some((t, _)) if *t == track) {
                        self.seek_pipeline(track, frame, Some(at));
                    } else {
                        self.pipeline = None;
                        self.open_track(track, frame, Some(at));
                    }
                    Some(track)
                }
                None => None,
            },
            PlayState::Stopped => None,
        };
        if let Some(index) = moved {
            self.emit(Event::Seeked {
                index,
                position: to,
            });
        }
    }

    fn seek_pipeline(&mut self, track: usize, frame: u64, request: Option<Instant>) {
        let Some((_, p)) = &mut self.pipeline else {
            return;
        };
        if let Some(out) = &self.out {
            out.slot.link.set_activity(Activity::Seeking);
        }
        let result = catch_unwind(AssertUnwindSafe(|| p.seek_out_frames(frame)));
        self.pushed_hash = SampleHash::default();
        self.volume_below_full = false;
        match result {
            Ok(Ok(reached)) => {
                self.request = request;
                self.add_segment(track, reached);
                // The seek is done: a shortage from here on is the decoder falling behind.
                if let Some(out) = &self.out {
                    out.slot.link.set_activity(Activity::Decoding);
                }
            }
            Ok(Err(kind)) => self.track_failed(track, kind),
            Err(_) => self.track_failed(track, FileErrorKind::DecoderPanic),
        }
    }

    fn add_segment(&mut self, track: usize, track_frame: u64) {
        let Some(out) = &self.out else { return };
        let link = &out.slot.link;
        let start_index = link.pushed();
        let requested_at = self.request.take();
        link.watch_first_audio(start_index);
        let id = out.id;
        let mut st = self.status();
        st.segments.push(Segment {
            link_id: id,
            start_index,
            track,
            track_frame,
            requested_at,
            ttfa_recorded: false,
        });
        st.decoding = Some(track);
    }

    /// Open queue entry `track` (skipping files that fail) and position it at `frame`.
    fn open_track(&mut self, track: usize, frame: u64, request: Option<Instant>) {
        self.request = request.or(self.request);
        // Each entry is tried once at most: with repeat all, a queue of files that all fail
        // would otherwise go round for ever.
        let mut tries = self.queue.len();
        let mut next = Some(track);
        while let Some(track) = next.filter(|&t| t < self.queue.len() && tries > 0) {
            tries -= 1;
            let Some(out) = &self.out else {
                // No device yet: remember where to start when one arrives.
                self.resume_at = Some((track, frame));
                return;
            };
            let fmt = OutputFormat {
                rate: out.slot.link.rate(),
                channels: out.slot.link.channels(),
            };
            out.slot.link.set_activity(Activity::Opening);
            let path = self.queue.path(track).cloned().unwrap_or_default();
            if let Some(id) = self.queue.id(track) {
                self.queue.arrive(id);
                self.publish_queue();
            }
            let t0 = Instant::now();
            let (opener, wait) = (self.opener.get(), WaitTag::on(out.slot.link.clone()));
            let opened = catch_unwind(AssertUnwindSafe(|| {
                Pipeline::open_via(&path, Some(fmt), opener.as_deref(), wait)
            }));
            self.shared.add_decode_busy(t0.elapsed().as_nanos() as u64);
            match opened {
                Ok(Ok(mut p)) => {
                    let known = opener.as_deref().map_or(ScanKnown::Unknown, |o| {
                        catch_unwind(AssertUnwindSafe(|| o.loudness(&path))).unwrap_or_default()
                    });
                    if known == ScanKnown::Unscanned && frame == 0 {
                        // A first play decodes the whole track anyway: scan it in the same
                        // pass (a seek drops the scan, which must see every sample).
                        p.start_analysis();
                    }
                    self.apply_gain(track, &mut p, known);
                    self.pushed_hash = SampleHash::default();
                    self.volume_below_full = false;
                    {
                        let mut st = self.status();
                        if let Some(r) = st.tracks.get_mut(track) {
                            r.info = Some(p.info().clone());
                            r.error = None;
                            r.fidelity_at_open = Some(p.fidelity());
                            // This play's verdict comes at its end, not an earlier play's.
                            r.fidelity = None;
                        }
                        st.out_rate = fmt.rate;
                        st.resampler_delay_frames = p.resampler_delay_frames();
                        st.codec = p.info().codec.clone();
                        st.file_rate = p.info().rate;
                    }
                    self.pipeline = Some((track, p));
                    if frame > 0 {
                        let request = self.request;
                        self.seek_pipeline(track, frame, request);
                    } else {
                        self.add_segment(track, 0);
                    }
                    if let Some(out) = &self.out {
                        out.slot.link.set_activity(Activity::Decoding);
                    }
                    if self.pipeline.is_some() {
                        return;
                    }
                }
                Ok(Err(e)) => self.record_error(track, e),
                Err(_) => {
                    self.record_error(track, FileError::new(&path, FileErrorKind::DecoderPanic))
                }
            }
            next = self.next_index(track, Step::Skip);
        }
        self.queue_end();
    }

    /// Open what follows entry `track` (`step` says why it moves on), or end the queue.
    fn open_after(&mut self, track: usize, step: Step) {
        match self.next_index(track, step) {
            Some(next) => self.open_track(next, 0, None),
            None => self.queue_end(),
        }
    }

    // ---- queue edits ----

    /// Apply an edit `f` (given the entry heard now) that keeps the entry heard now: what
    /// plays goes on untouched, and the gapless look-ahead follows the new order.
    fn edit(&mut self, at: Instant, f: impl FnOnce(&mut PlayQueue, Option<EntryId>)) {
        let old_ids = self.queue.ids();
        let current = self.current_track().and_then(|t| self.queue.id(t));
        let ahead = self
            .ring_ahead()
            .map(|(start, track)| (start, self.queue.id(track)));
        f(&mut self.queue, current);
        self.remap(&old_ids);
        self.reset_records();
        self.follow_edit(current, ahead, at);
        self.publish_queue();
    }

    /// Take entry `id` out. When it is the one heard, the next one plays (or, paused, waits
    /// at its start).
    fn remove(&mut self, id: EntryId, at: Instant) {
        let current = self.current_track().and_then(|t| self.queue.id(t));
        if current != Some(id) {
            return self.edit(at, |q, _| {
                q.remove(id);
            });
        }
        let next = self.queue.next(id, Step::Skip).filter(|&n| n != id);
        let old_ids = self.queue.ids();
        self.queue.remove(id);
        self.remap(&old_ids);
        self.reset_records();
        let next = next.and_then(|n| self.queue.index_of(n));
        match (self.state, next) {
            (PlayState::Playing, Some(n)) => self.start(n, 0, at),
            (_, None) => {
                self.stop();
                self.resume_at = None;
            }
            (PlayState::Paused, Some(n)) => {
                self.pipeline = None;
                self.resume_at = Some((n, 0));
                self.status().paused_at = self.resume_at;
            }
            (PlayState::Stopped, Some(n)) => self.resume_at = Some((n, 0)),
        }
        self.publish_queue();
    }

    /// The first track pushed after the one the device is taking now (gapless look-ahead):
    /// where it starts in the ring and its queue entry. Starts and seeks are not look-ahead.
    fn ring_ahead(&self) -> Option<(u64, usize)> {
        let out = self.out.as_ref()?;
        if self.state != PlayState::Playing {
            return None;
        }
        let consumed = out.slot.link.consumed();
        self.status()
            .segments
            .iter()
            .find(|s| s.link_id == out.id && s.start_index > consumed && s.requested_at.is_none())
            .map(|s| (s.start_index, s.track))
    }

    /// After an edit: the indices kept for entries (the pipeline's, the segments', where to
    /// resume) move with their entries; those of removed entries are dropped.
    fn remap(&mut self, old: &[EntryId]) {
        let queue = &self.queue;
        let map = |p: usize| old.get(p).and_then(|id| queue.index_of(*id));
        let pipeline_gone = match &mut self.pipeline {
            Some((t, _)) => match map(*t) {
                Some(n) => {
                    *t = n;
                    false
                }
                None => true,
            },
            None => false,
        };
        if pipeline_gone {
            self.pipeline = None;
            self.pending.clear();
            self.pending_off = 0;
        }
        self.resume_at = self.resume_at.and_then(|(t, f)| Some((map(t)?, f)));
        let mut st = self.status.lock().unwrap_or_else(|p| p.into_inner());
        st.segments.retain_mut(|s| match map(s.track) {
            Some(n) => {
                s.track = n;
                true
            }
            None => false,
        });
        st.paused_at = st.paused_at.and_then(|(t, f)| Some((map(t)?, f)));
        st.held_at = st.held_at.and_then(|(t, ms)| Some((map(t)?, ms)));
        st.decoding = st.decoding.and_then(map);
    }

    /// After an edit that kept entry `current` playing: if the track already pushed after it
    /// (`ahead`: where it starts in the ring, and its entry) is no longer the one that
    /// follows, cut it out of the ring and push the one that does; if the end of the queue
    /// was pushed and something follows now, push it.
    fn follow_edit(
        &mut self,
        current: Option<EntryId>,
        ahead: Option<(u64, Option<EntryId>)>,
        at: Instant,
    ) {
        if self.state != PlayState::Playing || self.out.is_none() {
            return;
        }
        let Some(current) = current.filter(|&c| self.queue.index_of(c).is_some()) else {
            return;
        };
        let wanted = self.queue.next(current, Step::Ended);
        if let Some((start, was)) = ahead
            && !(was.is_some() && was == wanted)
        {
            return self.cut_ahead(start, wanted, at);
        }
        // The end of the queue was pushed: if something follows the last track pushed now
        // (files queued, repeat all), the ring still plays: carry on gaplessly.
        let Some(link_id) = self.out.as_ref().map(|o| o.id) else {
            return;
        };
        let last = {
            let st = self.status();
            let last = st.segments.iter().rev().find(|s| s.link_id == link_id);
            last.filter(|_| st.drained).map(|s| s.track)
        };
        if self.pipeline.is_none()
            && let Some(w) = last.and_then(|t| self.next_index(t, Step::Ended))
        {
            if let Some(out) = &self.out {
                out.slot.link.reopen_queue();
            }
            self.status().drained = false;
            self.open_track(w, 0, None);
        }
    }

    /// Replace what was pushed from ring index `start` on (the old next track) with entry
    /// `wanted` (or the end of the queue), without touching the audio before it.
    fn cut_ahead(&mut self, start: u64, wanted: Option<EntryId>, at: Instant) {
        let wanted = wanted.and_then(|w| self.queue.index_of(w));
        let Some(out) = &self.out else { return };
        let (link, link_id) = (out.slot.link.clone(), out.id);
        let cut = link.request_cut(start, link.pushed());
        if !cut || link.consumed() > start {
            // A cut still outstanding, or the device took the old next track's first frames
            // meanwhile: too late to cut cleanly, so jump (a flush) instead.
            match wanted {
                Some(w) => self.start(w, 0, at),
                None => self.stop(),
            }
            return;
        }
        self.pending.clear();
        self.pending_off = 0;
        self.pipeline = None;
        {
            let mut st = self.status();
            st.segments
                .retain(|s| !(s.link_id == link_id && s.start_index >= start));
            st.drained = false;
        }
        link.reopen_queue();
        match wanted {
            Some(w) => self.open_track(w, 0, None),
            None => self.queue_end(),
        }
    }

    /// Choose and set the ReplayGain of queue entry `track`, just opened. Each track's
    /// pipeline multiplies its own samples, so the gain changes on the exact first sample of
    /// the next track.
    /// Tags win; without them, the library's scan (`known`) gives the track gain.
    fn apply_gain(&mut self, track: usize, p: &mut Pipeline, known: ScanKnown) {
        let mut loud = p.info().loudness.clone();
        if loud.source == replaygain::GainSource::None
            && let ScanKnown::Scanned(scan) = known
        {
            loud = replaygain::Loudness {
                album_key: loud.album_key.take(),
                ..scan
            };
        }
        if let Some(key) = &loud.album_key {
            self.album_keys
                .insert(p.info().path.clone(), Some(key.clone()));
        }
        // `auto`: album gain while the track plays next to another of its album in the
        // queue's order (only looked up when there is an album gain to use).
        let run = self.gain.mode == GainMode::Auto && loud.album.is_some() && {
            let before = track.checked_sub(1).and_then(|i| self.album_key(i));
            let after = self.album_key(track + 1);
            replaygain::in_album_run(
                loud.album_key.as_deref(),
                before.as_deref(),
                after.as_deref(),
            )
        };
        p.set_gain(replaygain::choose(self.gain, &loud, run));
    }

    /// The album of queue entry `i`, read from its tags once (on this thread, at the open of
    /// its neighbour: a metadata probe, a few ms).
    fn album_key(&mut self, i: usize) -> Option<String> {
        let path = self.queue.path(i)?.clone();
        self.album_keys
            .entry(path)
            .or_insert_with_key(|path| {
                catch_unwind(AssertUnwindSafe(|| super::source::Source::open(path)))
                    .ok()
                    .and_then(Result::ok)
                    .and_then(|s| s.info().loudness.album_key.clone())
            })
            .clone()
    }

    /// Queue entry `track` was decoded and pushed to its end: record what altered its
    /// samples (bitperfect.rs), and check the file's own checksum of its audio (FLAC).
    fn track_played_out(&mut self, track: usize, p: &mut Pipeline) {
        if let Some(analysis) = p.take_analysis() {
            self.emit(Event::Analysed {
                index: track,
                path: p.path().to_path_buf(),
                analysis,
            });
        }
        let mut fidelity = p.fidelity();
        fidelity.volume = self.volume_below_full;
        fidelity.pushed = self.pushed_hash.digest();
        if let Some(r) = self.status().tracks.get_mut(track) {
            r.fidelity = Some(fidelity);
        }
        let verified = catch_unwind(AssertUnwindSafe(|| p.verify_end()))
            .ok()
            .flatten();
        // One line per file: what was lost (damaged frames, truncation), else a checksum
        // that does not match (damage no decoder error showed).
        let what = p.damage_line().or_else(|| {
            (verified == Some(false)).then(|| {
                "its audio does not match the MD5 checksum in its header (damaged?)".to_string()
            })
        });
        if let Some(what) = what {
            if let Some(r) = self.status().tracks.get_mut(track) {
                r.warning = Some(what.clone());
            }
            let path = p.path().to_path_buf();
            self.emit(Event::FileWarning(FileWarning { path, what }));
        }
    }

    fn record_error(&mut self, track: usize, err: FileError) {
        if let Some(r) = self.status().tracks.get_mut(track) {
            r.error = Some(err.clone());
        }
        self.emit(Event::FileError(err));
    }

    fn track_failed(&mut self, track: usize, kind: FileErrorKind) {
        self.pipeline = None;
        let path = self.queue.path(track).cloned().unwrap_or_default();
        self.record_error(track, FileError::new(&path, kind));
        self.open_after(track, Step::Skip);
    }

    /// Everything queued has been pushed: mark where the ring ends.
    fn queue_end(&mut self) {
        self.pipeline = None;
        if let Some(out) = &self.out {
            // Nothing left in the ring and nothing coming: do not wait to prime.
            out.slot
                .link
                .mark_end_of_queue(self.pending_off >= self.pending.len());
            out.slot.link.set_activity(Activity::Decoding);
        }
        let mut st = self.status();
        st.drained = true;
        st.decoding = None;
    }

    /// Push pending audio or decode more. Returns how long to wait when the ring is full.
    fn work(&mut self) -> Option<Duration> {
        let out = self.out.as_mut()?;
        if self.pending_off < self.pending.len() {
            if !out.slot.link.no_flush_pending() {
                return Some(Duration::from_millis(1));
            }
            let n = out.slot.feed.push(&self.pending[self.pending_off..]);
            if self.shared.observed() {
                self.pushed_hash
                    .update(&self.pending[self.pending_off..self.pending_off + n]);
            }
            if self.shared.volume() != 1.0 {
                self.volume_below_full = true;
            }
            self.pending_off += n;
            if self.pending_off < self.pending.len() {
                // Full: wait for the device to drain about a quarter of the ring.
                let free = out.slot.feed.vacant_frames();
                let want = (out.slot.link.capacity_frames() as usize / 4).max(1);
                let frames = want.saturating_sub(free).max(1);
                return Some(drain_wait(out, frames));
            }
            self.pending.clear();
            self.pending_off = 0;
            return None;
        }
        let (track, pipeline) = self.pipeline.as_mut()?;
        let track = *track;
        let t0 = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| match pipeline.next_chunk() {
            Ok(Some(chunk)) => Ok(Some(chunk.to_vec())),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        }));
        let busy = t0.elapsed();
        self.shared.add_decode_busy(busy.as_nanos() as u64);
        match result {
            Ok(Ok(Some(chunk))) => {
                let ch = out.slot.link.channels() as usize;
                let frames = (chunk.len() / ch) as u64;
                let audio_ns = frames * 1_000_000_000 / out.slot.link.rate().max(1) as u64;
                self.shared.add_decoded_audio(audio_ns);
                if let Some(r) = self.status().tracks.get_mut(track) {
                    r.frames_decoded += frames;
                }
                self.pending = chunk;
                self.pending_off = 0;
            }
            Ok(Ok(None)) => {
                if let Some((_, mut p)) = self.pipeline.take() {
                    self.track_played_out(track, &mut p);
                }
                self.open_after(track, Step::Ended);
            }
            Ok(Err(kind)) => self.track_failed(track, kind),
            Err(_) => self.track_failed(track, FileErrorKind::DecoderPanic),
        }
        None
    }

    fn new_output(&mut self, slot: OutputSlot) {
        // Where the listener was (on the old stream, if any), to resume there.
        let (resume, resume_rate) = match (&self.out, self.state) {
            (Some(_), PlayState::Playing) => (self.heard().or(self.resume_at), self.out_rate()),
            (Some(_), _) => (self.resume_at, self.out_rate()),
            (None, _) => (self.resume_at, self.resume_rate),
        };
        // With a server buffer behind the stream, the first audio replaces the server's queue
        // and the server asks for all of it at once: prime that much, plus a period.
        let server = slot.link.server_buffer_frames();
        let server_fill = if server > 0 {
            server + slot.link.rate() as u64 * PRIME_MS / 1000
        } else {
            0
        };
        let prime = (slot.link.rate() as u64 * PRIME_MS / 1000)
            .max(server_fill)
            .min(slot.link.capacity_frames() * 3 / 4)
            .max(1);
        slot.link.set_prime_frames(prime);
        let id = self.next_link_id;
        self.next_link_id += 1;
        let new_rate = slot.link.rate();
        self.out = Some(Out {
            slot,
            id,
            last_full: None,
        });
        self.pending.clear();
        self.pending_off = 0;
        {
            let mut st = self.status();
            st.segments.clear();
            st.link_id = id;
            st.held_at = None;
        }
        let resume =
            resume.map(|(t, f)| (t, super::pipeline::file_to_out(f, resume_rate, new_rate)));
        self.resume_at = resume;
        self.resume_rate = new_rate;
        // The output format may have changed: pipelines are rebuilt for the new one.
        self.pipeline = None;
        let link = self
            .out
            .as_ref()
            .map(|o| o.slot.link.clone())
            .expect("just set");
        match self.state {
            PlayState::Playing => {
                let (track, frame) = resume.unwrap_or((0, 0));
                link.set_mode(Mode::Priming);
                self.resume_at = None;
                self.open_track(track, frame, Some(Instant::now()));
            }
            PlayState::Paused => link.set_mode(Mode::Paused),
            PlayState::Stopped => link.set_mode(Mode::Idle),
        }
    }

    fn output_lost(&mut self) {
        if self.state == PlayState::Playing {
            self.resume_at = self.heard().or(self.resume_at);
        }
        if let Some(out) = &self.out {
            out.slot.link.set_mode(Mode::Idle);
        }
        self.resume_rate = self.out_rate();
        let held = self
            .resume_at
            .map(|(t, f)| (t, f as f64 * 1000.0 / self.resume_rate.max(1) as f64));
        self.status().held_at = held;
        self.out = None;
        self.pending.clear();
        self.pending_off = 0;
        self.pipeline = None;
    }
}

/// How long to wait, with the ring full, for the device to take `frames` more.
///
/// A real device drains the ring at its rate, so that is `frames / rate`. But a device that
/// consumes faster than real time (ALSA's `null` plugin, about 1000× real time, which the
/// long-run test plays ten hours through) would empty a 200 ms ring in a fraction of the
/// 1 ms floor this wait used to have, and the decoder would sleep through most of the run while
/// the callback wrote silence: about 180× real time instead of the decoder's own speed. So the
/// drain rate is measured between two full rings (`consumed` advances as the device takes
/// frames) and the wait uses the faster of that and the nominal rate; at real time nothing
/// changes (the observed rate is the nominal one, and the floor stays 1 ms).
fn drain_wait(out: &mut Out, frames: usize) -> Duration {
    const LONGEST: Duration = Duration::from_millis(50);
    const SHORTEST_AT_REAL_TIME: Duration = Duration::from_millis(1);
    let link = &out.slot.link;
    let nominal = link.rate().max(1) as f64;
    let now = Instant::now();
    let consumed = link.consumed();
    let observed = out.last_full.map_or(0.0, |(then, was)| {
        let secs = now.duration_since(then).as_secs_f64();
        if secs > 0.0 {
            consumed.saturating_sub(was) as f64 / secs
        } else {
            0.0
        }
    });
    out.last_full = Some((now, consumed));
    let rate = nominal.max(observed);
    let shortest = SHORTEST_AT_REAL_TIME.mul_f64(nominal / rate);
    Duration::from_secs_f64(frames as f64 / rate).clamp(shortest, LONGEST)
}
