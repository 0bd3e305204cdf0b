//! The supervisor thread: owns the cpal stream, rebuilds it when it fails, and turns the
//! callback's counters into events ("track started", "position", "queue finished").
//!
//! It polls: the error callback only sets an atomic (it must not block), and a stream that
//! silently stops calling back (a sound server killed mid-write) is caught by a watchdog on the
//! callback counter. Each poll is a wakeup, and on a VM a wakeup costs tens of microseconds, so
//! it polls every [`SUPERVISOR_POLL`] only while something is due (priming, a track boundary
//! about to be heard, the end of the queue) and every [`SUPERVISOR_IDLE_POLL`] otherwise.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use ringbuf::HeapCons;
use ringbuf::traits::Consumer;

use super::backend::{Backend, DeviceStream, Health};
use super::control::{DecoderMsg, Event, OutputSlot};
use super::meters::heard_index;
use super::output::OutputRequest;
use super::shared::{Activity, Episode, Mode, Shared};
use super::status::{PlayState, Status};
use crate::error::OutputError;

/// The poll while an event is due: how late a "track started" or "queue finished" may come.
pub const SUPERVISOR_POLL: Duration = Duration::from_millis(10);
/// The poll while nothing is due (steady play, paused, stopped). At 10 ms the supervisor was
/// a fifth of `reel play`'s CPU (100 wakeups a second); nothing it watches for then needs more
/// than this: the stall watchdog works in [`STREAM_STALL`], position events every
/// [`POSITION_EVERY`].
pub const SUPERVISOR_IDLE_POLL: Duration = Duration::from_millis(50);
/// A running stream whose callback has not run for this long is treated as lost.
pub const STREAM_STALL: Duration = Duration::from_millis(750);
/// How often to try to reopen a lost device.
pub const REOPEN_EVERY: Duration = Duration::from_millis(200);
/// While playing on the default in place of a named device that went away: how often to look
/// whether it is back (one device listing from the sound server, on this thread).
pub const DEVICE_RETURN_CHECK: Duration = Duration::from_millis(500);
/// Position events while playing.
pub const POSITION_EVERY: Duration = Duration::from_millis(250);
/// Extra wait after the device's reported latency before calling the queue finished.
pub const DRAIN_MARGIN: Duration = Duration::from_millis(10);
/// Underrun episodes kept for the meters' history.
pub const EPISODE_HISTORY: usize = 512;
/// With nothing playing (queue ended, stopped or paused) for this long, the output stream is
/// closed, so the sound server can suspend the sink (and a laptop's card or a Bluetooth
/// headset can sleep). Playing again opens it, at the position kept.
pub const IDLE_RELEASE: Duration = Duration::from_secs(10);
/// Overrides [`IDLE_RELEASE`], in milliseconds (for tests, which should not wait 10 s).
pub const IDLE_RELEASE_ENV: &str = "REEL_IDLE_RELEASE_MS";
/// The poll while the device is released: nothing is due; a command wakes the supervisor.
const RELEASED_POLL: Duration = Duration::from_secs(1);

/// [`IDLE_RELEASE`], or what [`IDLE_RELEASE_ENV`] says.
pub fn idle_release() -> Duration {
    std::env::var(IDLE_RELEASE_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map_or(IDLE_RELEASE, Duration::from_millis)
}

pub(crate) enum SupervisorMsg {
    Reconfigure(OutputRequest),
    /// A command that may start playback: open the device if it was released while idle.
    Wake,
    Shutdown,
}

/// What the supervisor publishes about the output for snapshots.
#[derive(Default)]
pub(crate) struct OutputState {
    pub stream: Option<StreamInfo>,
    pub lost_reason: Option<String>,
    pub episodes: VecDeque<Episode>,
    /// The stream was closed because nothing played for [`IDLE_RELEASE`] (not a problem).
    pub released: bool,
}

#[derive(Clone)]
pub(crate) struct StreamInfo {
    pub link: Arc<super::shared::Link>,
    pub device: String,
    pub host: String,
    pub sample_format: String,
    pub scheduling: String,
}

pub(crate) struct Supervisor {
    pub rx: Receiver<SupervisorMsg>,
    pub decoder: Sender<DecoderMsg>,
    pub events: Sender<Event>,
    pub shared: Arc<Shared>,
    pub status: Arc<Mutex<Status>>,
    pub output: Arc<Mutex<OutputState>>,
    pub epoch: Instant,
    pub request: OutputRequest,
    pub backend: Box<dyn Backend>,
}

struct Running {
    stream: Box<dyn DeviceStream>,
    episodes: HeapCons<Episode>,
    server: ServerWatch,
}

/// Turns the server's underflow notices into underrun episodes with the cause `server`.
#[derive(Default)]
struct ServerWatch {
    /// Underflow notices already turned into episodes.
    seen: u64,
    /// A notice came; the episode is recorded once a callback has run after it was seen
    /// (`callbacks` then was the count), because only that callback knows how long reel was
    /// away if the wait had not ended yet.
    pending: Option<u64>,
    /// The longest wait between two callbacks taken from the link since the notice came,
    /// and when it ended (engine clock, the newest callback then): (wait, end).
    longest: Option<(u64, u64)>,
    /// A wait longer than the server's buffer, taken before any notice came: (wait, end).
    /// Such a wait always earns a notice, but the reactor thread may run the callback that
    /// ends the wait before it reads the notice, and a poll can fall between the two (after
    /// a SIGSTOP both threads wake at once). The notice that follows within [`CLAIM_WITHIN`]
    /// is this wait's; without this, the episode was one period long instead of the gap.
    unclaimed: Option<(u64, u64)>,
}

/// How soon after a wait longer than the server's buffer its underflow notice must be seen
/// to be counted as that wait's: a few polls, far less than any two real underruns apart.
const CLAIM_WITHIN: Duration = Duration::from_millis(250);

/// What one poll reads from the link for [`ServerWatch::observe`] (engine clock, ns).
#[derive(Clone, Copy, Debug)]
struct Observed {
    /// The longest wait between two callbacks since the last poll.
    wait_ns: u64,
    last_callback_ns: u64,
    now_ns: u64,
    /// Underflow notices so far.
    notices: u64,
    callbacks: u64,
    buffer_ns: u64,
    period_ns: u64,
}

impl ServerWatch {
    /// The server ran out of reel's audio (an underflow notice): reel's process or its audio
    /// thread was away for longer than the server's buffer. The listener heard silence for
    /// about the wait between the two callbacks around it minus what the server held, which
    /// was its whole buffer after the earlier one. Returns the episode (start, duration)
    /// once the poll that completes it comes.
    fn observe(&mut self, o: Observed) -> Option<(u64, u64)> {
        let claim_ns = CLAIM_WITHIN.as_nanos() as u64;
        self.unclaimed = self
            .unclaimed
            .filter(|&(_, end)| o.now_ns.saturating_sub(end) <= claim_ns);
        if self.pending.is_none()
            && o.wait_ns > o.buffer_ns
            && self.unclaimed.is_none_or(|(u, _)| o.wait_ns > u)
        {
            self.unclaimed = Some((o.wait_ns, o.last_callback_ns));
        }
        if o.notices > self.seen && self.pending.is_none() {
            // The wait behind this notice may already be in (taken before the notice was
            // read: `unclaimed`), or end with a callback still to come: keep the longest
            // until a callback has run after the notice was seen.
            self.pending = Some(o.callbacks);
            self.longest = self.unclaimed.take();
        }
        // Only waits around a notice count, never an old one.
        if self.pending.is_none() {
            self.longest = None;
            return None;
        }
        if o.wait_ns > self.longest.map_or(0, |(wait, _)| wait) {
            self.longest = Some((o.wait_ns, o.last_callback_ns));
        }
        if o.callbacks <= self.pending? {
            return None;
        }
        let (wait_ns, end_ns) = self.longest.take().unwrap_or((0, o.last_callback_ns));
        let duration_ns = wait_ns.saturating_sub(o.buffer_ns).max(o.period_ns);
        self.seen = o.notices;
        self.pending = None;
        Some((end_ns.saturating_sub(duration_ns), duration_ns))
    }
}

impl Supervisor {
    /// Open the first stream; the result is reported before the loop starts.
    ///
    /// A named device (`--device`) that goes away is not given up: the output moves to the
    /// default while it is gone ([`Fallback`]), and back to it once it is there again, with
    /// the heard position kept both times (the reopen path of a device loss).
    pub fn run(mut self, first: Sender<Result<String, OutputError>>) {
        let mut request = self.request.clone();
        let mut fallback = Fallback::default();
        let mut running = match self.open(&request) {
            Ok(r) => {
                let _ = first.send(Ok(r.stream.describe().device.clone()));
                Some(r)
            }
            Err(e) => {
                self.lock_output().lost_reason = Some(e.to_string());
                let _ = first.send(Err(e));
                None
            }
        };
        drop(first);
        let mut next_try = Instant::now() + REOPEN_EVERY;
        let mut watch = Watch::default();
        let mut poll = SUPERVISOR_POLL;
        let release_after = idle_release();
        let mut idle_since: Option<Instant> = None;
        let mut released = false;
        loop {
            match self.rx.recv_timeout(poll) {
                Ok(SupervisorMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(SupervisorMsg::Wake) => {
                    if released {
                        released = false;
                        next_try = Instant::now();
                    }
                }
                Ok(SupervisorMsg::Reconfigure(req)) => {
                    request = req;
                    fallback = Fallback::default();
                    if let Some(r) = running.take() {
                        self.lose(r, None, &mut watch);
                    }
                    next_try = Instant::now();
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if let Some(r) = &mut running
                && let Health::Failed(why) = r.stream.health()
            {
                let r = running.take().expect("checked");
                if fallback.device_gone(&request, &mut *self.backend) {
                    // The named device went away under the stream: go to the default now,
                    // as a device change (the fallback's notice says why, in one line).
                    self.lose(r, None, &mut watch);
                    next_try = Instant::now();
                } else {
                    self.lose(r, Some(why), &mut watch);
                    next_try = Instant::now() + REOPEN_EVERY;
                }
            }
            if let Some(r) = &mut running
                && let Some(id) = r.stream.take_moved()
            {
                self.moved(id);
            }
            if running.is_some() && !released && fallback.returned(&request, &mut *self.backend) {
                // Back to the device the user named, from where the listener is.
                let r = running.take().expect("checked");
                self.lose(r, None, &mut watch);
                next_try = Instant::now();
            }
            if let Some(r) = &running {
                if !self.is_idle(r) {
                    idle_since = None;
                } else if idle_since.get_or_insert_with(Instant::now).elapsed() >= release_after {
                    let r = running.take().expect("checked");
                    self.release(r);
                    released = true;
                    idle_since = None;
                }
            }
            if running.is_none() && !released && Instant::now() >= next_try {
                let was_released = self.lock_output().released;
                fallback.recheck(&request, &mut *self.backend);
                match self.open(&fallback.effective(&request)) {
                    Ok(r) => {
                        {
                            let mut out = self.lock_output();
                            out.lost_reason = None;
                            out.released = false;
                        }
                        let device = r.stream.describe().device.clone();
                        // Back after a loss is news; back after an idle release is not.
                        if let Some(wanted) = fallback.take_news(&request) {
                            let _ = self.events.send(Event::DeviceFallback { wanted, device });
                        } else if !was_released {
                            let _ = self.events.send(Event::DeviceReady { device });
                        }
                        running = Some(r);
                    }
                    Err(e) => {
                        // A named device that went away: play on the default one until
                        // it is back (at once: nothing is wrong with the default).
                        if matches!(e, OutputError::UnknownDevice { .. })
                            && fallback.start(&request)
                        {
                            next_try = Instant::now();
                            continue;
                        }
                        // Reopening after an idle release failed: that is a problem now.
                        let mut out = self.lock_output();
                        out.lost_reason = Some(e.to_string());
                        out.released = false;
                    }
                }
                next_try = Instant::now() + REOPEN_EVERY;
            }
            poll = match &mut running {
                Some(r) => {
                    self.drain_episodes(r);
                    watch.tick(&self, r)
                }
                None if released => RELEASED_POLL,
                None => SUPERVISOR_POLL,
            };
        }
        if let Some(r) = running.take() {
            self.close(r);
        }
    }

    /// The server moved the stream to device `id` by itself (it follows the default): the
    /// meters name where it plays now, and the user hears of it once.
    fn moved(&mut self, id: String) {
        let device = self.backend.device_label(&id).unwrap_or(id);
        {
            let mut out = self.lock_output();
            match &mut out.stream {
                Some(s) if s.device != device => s.device = device.clone(),
                _ => return,
            }
        }
        let _ = self.events.send(Event::DeviceMoved { device });
    }

    fn lock_output(&self) -> std::sync::MutexGuard<'_, OutputState> {
        self.output.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open(&mut self, request: &OutputRequest) -> Result<Running, OutputError> {
        let opened = self.backend.open(request, &self.shared, self.epoch)?;
        let link = opened.stream.link().clone();
        let d = opened.stream.describe();
        self.lock_output().stream = Some(StreamInfo {
            link: link.clone(),
            device: d.device.clone(),
            host: d.host.clone(),
            sample_format: d.sample_format.clone(),
            scheduling: d.scheduling.clone(),
        });
        let _ = self.decoder.send(DecoderMsg::Output(OutputSlot {
            link,
            feed: opened.feed,
        }));
        Ok(Running {
            stream: opened.stream,
            episodes: opened.episodes,
            server: ServerWatch::default(),
        })
    }

    /// The stream is gone (`why`), or being replaced (`None`: a reconfiguration).
    fn lose(&self, r: Running, why: Option<String>, watch: &mut Watch) {
        let link = r.stream.link();
        let playing = self.lock_status().state == PlayState::Playing;
        if playing && link.mode() == Mode::Playing && watch.device_change_from_ns.is_none() {
            // The listener hears the old stream up to the end of its last period; the gap
            // runs from there to the new stream's first audio (see `Watch::tick`).
            let period_ns = link.period_frames() as u64 * 1_000_000_000 / link.rate().max(1) as u64;
            watch.device_change_from_ns = Some(link.last_callback_ns() + period_ns);
        }
        self.hold_position(link);
        {
            let mut out = self.lock_output();
            out.stream = None;
            out.lost_reason = why.clone();
        }
        // The stream is closed and the meters show the loss (and the held position) before
        // anyone hears of it.
        self.close(r);
        let _ = self.decoder.send(DecoderMsg::OutputLost);
        if let Some(why) = why {
            let _ = self.events.send(Event::DeviceLost(why));
        }
    }

    /// Publish where the listener was on the stream being lost, which is where playback will
    /// resume: the frame the callback would have taken next, or the pause position. (The
    /// decoder records the same when it hears of the loss; doing it here first means a
    /// snapshot taken after the `DeviceLost` event already shows it.)
    fn hold_position(&self, link: &super::shared::Link) {
        let mut st = self.lock_status();
        let at = match st.state {
            PlayState::Playing => st.locate(st.link_id, link.consumed()),
            PlayState::Paused => st.paused_at,
            PlayState::Stopped => None,
        };
        if let Some((track, frame)) = at {
            st.held_at = Some((track, frame as f64 * 1000.0 / link.rate().max(1) as f64));
        }
    }

    /// Nothing plays: stopped, paused or played out, with no flush outstanding.
    fn is_idle(&self, r: &Running) -> bool {
        let link = r.stream.link();
        self.lock_status().state != PlayState::Playing
            && matches!(link.mode(), Mode::Idle | Mode::Paused)
            && link.no_flush_pending()
    }

    /// Close an idle stream so the server can suspend the sink. The decoder keeps where it
    /// was (as after a loss); the next command that may play wakes the supervisor to reopen.
    fn release(&self, r: Running) {
        self.hold_position(r.stream.link());
        {
            let mut out = self.lock_output();
            out.stream = None;
            out.released = true;
        }
        self.close(r);
        let _ = self.decoder.send(DecoderMsg::OutputLost);
    }

    fn close(&self, r: Running) {
        let Running {
            stream, episodes, ..
        } = r;
        stream.close();
        drop(episodes);
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn drain_episodes(&self, r: &mut Running) {
        while let Some(e) = r.episodes.try_pop() {
            self.publish_episode(e);
        }
        self.watch_server(r);
    }

    /// Underflow notices from the server become `server` episodes ([`ServerWatch::observe`]).
    fn watch_server(&self, r: &mut Running) {
        let link = r.stream.link();
        let rate = link.rate().max(1) as u64;
        let seen = Observed {
            wait_ns: link.take_longest_callback_wait_ns(),
            last_callback_ns: link.last_callback_ns(),
            now_ns: self.epoch.elapsed().as_nanos() as u64,
            notices: link.server_underflows(),
            callbacks: link.callbacks(),
            buffer_ns: link.server_buffer_frames() * 1_000_000_000 / rate,
            period_ns: link.period_frames() as u64 * 1_000_000_000 / rate,
        };
        let Some((start_ns, duration_ns)) = r.server.observe(seen) else {
            return;
        };
        let frames = (duration_ns as u128 * rate as u128 / 1_000_000_000) as u64;
        self.shared.count_underrun();
        self.shared.add_silent_frames(frames);
        self.publish_episode(Episode {
            start_ns,
            duration_ns,
            frames,
            cause: Activity::Server,
        });
    }

    /// Keep `e` in the meters' history and tell the engine's user.
    fn publish_episode(&self, e: Episode) {
        {
            let mut out = self.lock_output();
            out.episodes.push_back(e);
            while out.episodes.len() > EPISODE_HISTORY {
                out.episodes.pop_front();
            }
        }
        let _ = self.events.send(Event::Underrun(e));
    }

    /// A device change while playing ended at `first_audio_ns` (engine clock), with the new
    /// stream's first audio: count the gap as an underrun episode.
    fn device_change_heard(&self, from_ns: u64, first_audio_ns: u64, rate: u32) {
        let duration_ns = first_audio_ns.saturating_sub(from_ns);
        let frames = (duration_ns as u128 * rate as u128 / 1_000_000_000) as u64;
        self.shared.count_underrun();
        self.shared.add_silent_frames(frames);
        self.publish_episode(Episode {
            start_ns: from_ns,
            duration_ns,
            frames,
            cause: Activity::DeviceChange,
        });
    }
}

/// Playing on the default in place of the named device the user asked for, while that one is
/// gone. The request keeps the name; this says whether it is being stood in for.
///
/// Why reel watches and not the server: a stream on a named sink is pinned to it (see the
/// vendored cpal's `no_move`), so when the sink goes the server kills the stream rather than
/// moving it somewhere reel does not know. pipewire-pulse with WirePlumber would otherwise
/// move it to the default silently and leave it there when the sink returns; PulseAudio
/// moves it too (module-rescue-streams). Pinned, the supervisor always knows where it plays
/// (the meters' and the window's `device`), and takes the named device back itself.
#[derive(Default)]
struct Fallback {
    active: bool,
    /// The move to the default has not been announced yet.
    news: bool,
    /// When to look again whether the named device is back.
    next_check: Option<Instant>,
}

impl Fallback {
    /// Start standing in for `request`'s named device (it is unknown now). False when there
    /// is nothing to stand in for: no device was named, or the default is already in use.
    fn start(&mut self, request: &OutputRequest) -> bool {
        if request.device.is_none() || self.active {
            return false;
        }
        *self = Fallback {
            active: true,
            news: true,
            next_check: Some(Instant::now() + DEVICE_RETURN_CHECK),
        };
        true
    }

    /// The stream on the named device failed: whether that is because the device is gone
    /// (then the fallback starts). A stream on the default failing is a plain loss.
    fn device_gone(&mut self, request: &OutputRequest, backend: &mut dyn Backend) -> bool {
        match (&request.device, self.active) {
            (Some(name), false) if backend.device_present(name) == Some(false) => {
                self.start(request)
            }
            _ => false,
        }
    }

    /// At most every [`DEVICE_RETURN_CHECK`]: whether the named device is back (then the
    /// fallback ends).
    fn returned(&mut self, request: &OutputRequest, backend: &mut dyn Backend) -> bool {
        let now = Instant::now();
        if !self.active || self.next_check.is_some_and(|t| now < t) {
            return false;
        }
        self.next_check = Some(now + DEVICE_RETURN_CHECK);
        self.recheck(request, backend);
        !self.active
    }

    /// Before opening: if the named device is back, open it and not the default.
    fn recheck(&mut self, request: &OutputRequest, backend: &mut dyn Backend) {
        if self.active
            && let Some(name) = &request.device
            && backend.device_present(name) == Some(true)
        {
            *self = Fallback::default();
        }
    }

    /// What to open: the request, or the default in place of its device.
    fn effective(&self, request: &OutputRequest) -> OutputRequest {
        let mut r = request.clone();
        if self.active {
            r.device = None;
        }
        r
    }

    /// Once, when the default has opened in the named device's place: that device's name.
    fn take_news(&mut self, request: &OutputRequest) -> Option<String> {
        if !(self.active && std::mem::take(&mut self.news)) {
            return None;
        }
        request.device.clone()
    }
}

/// Turns counters into heard-based events.
#[derive(Default)]
struct Watch {
    /// While the stream is being replaced during playback: when the listener stopped hearing
    /// the old one (engine clock).
    device_change_from_ns: Option<u64>,
    heard_track: Option<HeardTrack>,
    last_position: Option<Instant>,
    finished_sent: bool,
    /// When the ring ran out at the end of the queue: the device still holds its last
    /// buffer, which is heard during the next device-latency.
    drained_at: Option<Instant>,
}

/// The queue entry heard, by id (queue edits move indices), and the ring segment it was
/// first heard in.
#[derive(Debug, Clone, Copy, PartialEq)]
struct HeardTrack {
    id: crate::engine::EntryId,
    segment: u64,
    /// That segment plays the track from its start, run into gaplessly (not a seek or a
    /// start someone asked for): with repeat one, the same entry heard again.
    replay: bool,
}

impl HeardTrack {
    fn of(st: &Status, link_id: u64, idx: u64, track: usize) -> HeardTrack {
        let seg = st.segment_at(link_id, idx);
        HeardTrack {
            id: st.tracks.get(track).map_or(0, |t| t.id),
            segment: seg.map_or(0, |s| s.start_index),
            replay: seg.is_some_and(|s| s.requested_at.is_none() && s.track_frame == 0),
        }
    }

    /// Whether hearing this (after `before`) is a new track start: another entry, or the
    /// same one played again from its start (repeat one).
    fn starts_after(&self, before: Option<HeardTrack>) -> bool {
        match before {
            None => true,
            Some(b) => b.id != self.id || (self.replay && b.segment != self.segment),
        }
    }

    /// Where the entry is in the queue now (`None`: removed).
    fn index(&self, st: &Status) -> Option<usize> {
        st.tracks.iter().position(|t| t.id == self.id)
    }
}

impl Watch {
    /// Returns how long to wait before the next tick.
    fn tick(&mut self, sup: &Supervisor, r: &Running) -> Duration {
        let link = r.stream.link();
        let now_ns = sup.epoch.elapsed().as_nanos() as u64;
        let mut events = Vec::new();
        let mut finished = false;
        let mut next = SUPERVISOR_IDLE_POLL;
        {
            let mut st = sup.status.lock().unwrap_or_else(|p| p.into_inner());
            // Time to first audio for the newest segment.
            if let Some(first) = link.first_audio() {
                let link_id = st.link_id;
                if let Some(seg) = st
                    .segments
                    .iter_mut()
                    .find(|s| s.link_id == link_id && s.start_index == first.index)
                    && !seg.ttfa_recorded
                {
                    seg.ttfa_recorded = true;
                    let ms = match seg.requested_at {
                        Some(t) => {
                            let hit_at = sup.epoch + Duration::from_nanos(first.at_ns);
                            hit_at.saturating_duration_since(t).as_secs_f64() * 1000.0
                        }
                        None => first.gap_ns as f64 / 1e6,
                    };
                    if let Some(from_ns) = self.device_change_from_ns.take() {
                        sup.device_change_heard(from_ns, first.at_ns, link.rate());
                    }
                    let track = seg.track;
                    st.last_ttfa_ms = Some(ms);
                    if let Some(rec) = st.tracks.get_mut(track)
                        && rec.time_to_first_audio_ms.is_none()
                    {
                        rec.time_to_first_audio_ms = Some(ms);
                    }
                }
            }
            let playing = st.state == PlayState::Playing;
            if !playing {
                // Paused or stopped while the device changed: no gap is heard.
                self.device_change_from_ns = None;
            }
            let idx = heard_index(link, &sup.shared, now_ns);
            let link_id = st.link_id;
            let located = st.locate(link_id, idx);
            let mode = link.mode();
            if playing && mode != Mode::Playing {
                // Priming or flushing: a first audio or a track start is moments away.
                next = SUPERVISOR_POLL;
            }
            if playing && let Some(start) = st.next_start(link_id, idx) {
                // The next track is in the ring: look again about when it is heard.
                let frames = start - idx;
                let until = Duration::from_secs_f64(frames as f64 / link.rate().max(1) as f64);
                next = next.min(until.max(SUPERVISOR_POLL));
            }
            if playing && mode != Mode::Priming {
                if let Some((track, frame)) = located {
                    // A track counts as started once its record says what it is: the
                    // first frame can be heard a moment before the decoder has filed that
                    // (a queue loaded again while the device reopens), and a start without
                    // its info would never be announced.
                    let info = st.tracks.get(track).and_then(|t| t.info.clone());
                    let now = HeardTrack::of(&st, link_id, idx, track);
                    if now.starts_after(self.heard_track)
                        && let Some(info) = info
                    {
                        if let Some(prev) = self.heard_track.and_then(|h| h.index(&st)) {
                            events.push(Event::TrackEnded { index: prev });
                        }
                        events.push(Event::TrackStarted { index: track, info });
                        self.heard_track = Some(now);
                        self.finished_sent = false;
                    }
                    if self
                        .last_position
                        .is_none_or(|t| t.elapsed() >= POSITION_EVERY)
                    {
                        self.last_position = Some(Instant::now());
                        let rate = link.rate().max(1) as f64;
                        let duration = st
                            .tracks
                            .get(track)
                            .and_then(|t| t.info.as_ref())
                            .and_then(|i| i.duration_secs());
                        events.push(Event::Position {
                            index: track,
                            position: Duration::from_secs_f64(frame as f64 / rate),
                            duration: duration.map(Duration::from_secs_f64),
                        });
                    }
                }
                st.prune(link_id, idx);
            }
            let played_out = playing && st.drained && mode == Mode::Idle;
            if !played_out {
                self.drained_at = None;
            } else if self.drained_at.is_none() {
                self.drained_at = Some(Instant::now());
            }
            // "Finished" only once the device has played what it was given, so a caller that
            // exits on it does not cut off the last few milliseconds.
            let tail = Duration::from_nanos(sup.shared.device_latency_ns())
                + Duration::from_secs_f64(link.period_frames() as f64 / link.rate().max(1) as f64)
                + DRAIN_MARGIN;
            if playing && st.drained && !self.finished_sent {
                // The decoder has pushed the end of the queue: the ring is running out.
                next = SUPERVISOR_POLL;
            }
            if played_out
                && self.drained_at.is_some_and(|t| t.elapsed() >= tail)
                && !self.finished_sent
            {
                self.finished_sent = true;
                finished = true;
                if let Some(prev) = self.heard_track.take().and_then(|h| h.index(&st)) {
                    events.push(Event::TrackEnded { index: prev });
                }
                events.push(Event::QueueFinished);
            }
        }
        if finished {
            let _ = sup.decoder.send(DecoderMsg::Finished);
        }
        for e in events {
            let _ = sup.events.send(e);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// A poll at `now` ms: the longest wait since the last poll, the notices and callbacks so
    /// far; a 200 ms server buffer and 21.3 ms periods.
    fn poll(now: u64, wait: u64, notices: u64, callbacks: u64) -> Observed {
        Observed {
            wait_ns: wait * MS,
            last_callback_ns: now * MS,
            now_ns: now * MS,
            notices,
            callbacks,
            buffer_ns: 200 * MS,
            period_ns: 21_333_333,
        }
    }

    #[test]
    fn a_notice_read_before_the_callback_that_ends_the_wait_is_as_long_as_the_wait_past_the_buffer()
    {
        let mut w = ServerWatch::default();
        assert_eq!(w.observe(poll(1000, 20, 0, 50)), None);
        // The notice is in; the callback after the 600 ms wait has not run yet.
        assert_eq!(w.observe(poll(1010, 0, 1, 50)), None);
        assert_eq!(
            w.observe(poll(1620, 600, 1, 51)),
            Some((1220 * MS, 400 * MS))
        );
    }

    #[test]
    fn a_notice_read_after_the_wait_was_taken_still_gets_the_wait() {
        // After a SIGSTOP both threads wake at once: a poll takes the 600 ms wait before the
        // reactor thread reads the notice the server sent during it.
        let mut w = ServerWatch::default();
        assert_eq!(w.observe(poll(1000, 20, 0, 50)), None);
        assert_eq!(w.observe(poll(1600, 600, 0, 51)), None);
        assert_eq!(w.observe(poll(1610, 20, 1, 52)), None);
        assert_eq!(
            w.observe(poll(1630, 20, 1, 53)),
            Some((1200 * MS, 400 * MS))
        );
    }

    #[test]
    fn an_old_long_wait_is_not_given_to_a_later_notice() {
        // A wait past the buffer with no notice (the server held out), then an unrelated
        // notice a second later: that one is one period, not the old wait.
        let mut w = ServerWatch::default();
        assert_eq!(w.observe(poll(1000, 210, 0, 50)), None);
        assert_eq!(w.observe(poll(2000, 20, 1, 90)), None);
        assert_eq!(
            w.observe(poll(2010, 20, 1, 91)),
            Some((2000 * MS - 21_333_333, 21_333_333))
        );
    }

    #[test]
    fn waits_shorter_than_the_buffer_make_no_episode_without_a_notice() {
        let mut w = ServerWatch::default();
        for i in 0..10 {
            assert_eq!(w.observe(poll(1000 + i * 100, 150, 0, 50 + i)), None);
        }
    }
}
