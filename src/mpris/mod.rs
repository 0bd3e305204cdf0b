//! MPRIS2 on the session bus: media keys, the desktop's sound menu and `playerctl` see and
//! drive reel.
//!
//! ```text
//!  front end ──publish(PlayerState), seeked──▶ reel-mpris thread ──PropertiesChanged, Seeked──▶ bus
//!  (cli.rs)  ◀──────────Request (crossbeam)─── zbus executor thread ◀──method calls, Get/Set── bus
//! ```
//!
//! Threads: the front end's thread calls [`Mpris`] and [`Feed`]; the `reel-mpris` thread
//! (started here, non-real-time) reads tags and cover art for the current track and emits the
//! signals; zbus's own executor thread answers clients (interfaces.rs). `Position` is read on
//! demand from the engine's [`HeardProbe`], so it is always the heard position. Nothing here
//! ever touches the audio thread.
//!
//! The bus name is `org.mpris.MediaPlayer2.reel`; when it is taken (a second reel),
//! `org.mpris.MediaPlayer2.reel.instance<PID>`, as the spec allows.

mod interfaces;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use zbus::blocking::Connection;
use zbus::fdo::RequestNameFlags;
use zbus::zvariant::OwnedObjectPath;

use crate::engine::{Command, Event, HeardProbe, Modes, PlayState, Repeat};
use crate::error::MprisError;
use interfaces::{Link, Meta, Player, Published, Root};

/// Where both interfaces are served (fixed by the spec).
const OBJECT_PATH: &str = "/org/mpris/MediaPlayer2";
/// The bus name reel asks for first.
pub const BUS_NAME: &str = "org.mpris.MediaPlayer2.reel";
/// Track ids: this prefix and a number unique per queue entry.
const TRACK_ID_PREFIX: &str = "/org/reel/track/";

/// The media types reel plays (what symphonia and the Opus adapter decode).
pub const MIME_TYPES: &[&str] = &[
    "audio/flac",
    "audio/x-flac",
    "audio/mpeg",
    "audio/mp4",
    "audio/x-m4a",
    "audio/aac",
    "audio/ogg",
    "audio/x-vorbis+ogg",
    "audio/x-opus+ogg",
    "audio/opus",
    "audio/wav",
    "audio/x-wav",
    "audio/x-aiff",
    "audio/x-caf",
    "audio/webm",
    "audio/x-matroska",
];

/// What a client asked for; the front end turns it into an engine [`Command`] (or quits).
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Play,
    Pause,
    PlayPause,
    Stop,
    Next,
    Previous,
    /// Move to this position in the current track (`Seek` and `SetPosition`, checked here).
    SeekTo(Duration),
    /// 0.0 ..= 1.0.
    Volume(f64),
    /// `Quit`: end as Ctrl-C does.
    Quit,
    /// `Raise`: show the window (only offered when there is one).
    Raise,
    /// `Shuffle` set.
    Shuffle(bool),
    /// `LoopStatus` set: None, Track, Playlist.
    Loop(Repeat),
}

impl Request {
    /// The engine command this is, if any (`Quit` and `Raise` are the front end's own).
    pub fn command(&self) -> Option<Command> {
        Some(match self {
            Request::Play => Command::Play,
            Request::Pause => Command::Pause,
            Request::PlayPause => Command::TogglePause,
            Request::Stop => Command::Stop,
            Request::Next => Command::Next,
            Request::Previous => Command::Previous,
            Request::SeekTo(d) => Command::Seek(*d),
            Request::Volume(v) => Command::Volume(*v as f32),
            Request::Shuffle(on) => Command::Shuffle(*on),
            Request::Loop(r) => Command::Repeat(*r),
            Request::Quit | Request::Raise => return None,
        })
    }
}

/// The current queue entry, as the front end knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackRef {
    /// Its index in the engine's queue (what [`HeardProbe`] reports).
    pub index: usize,
    /// Unique per queue entry for the life of the player: the `mpris:trackid`.
    pub id: u64,
    /// The file tags and cover art are read from (the window's cached copy).
    pub path: PathBuf,
    /// The file as the user knows it: `xesam:url`.
    pub url_path: PathBuf,
    pub length: Option<Duration>,
}

/// What the front end publishes on every change.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayerState {
    pub status: PlayState,
    pub track: Option<TrackRef>,
    /// 0.0 ..= 1.0.
    pub volume: f64,
    pub can_go_next: bool,
    pub can_go_previous: bool,
    /// The queue is not empty (also CanPause).
    pub can_play: bool,
    /// `Shuffle`.
    pub shuffle: bool,
    /// `LoopStatus`: off is None, one is Track, all is Playlist.
    pub repeat: Repeat,
}

impl Default for PlayerState {
    fn default() -> Self {
        PlayerState {
            status: PlayState::Stopped,
            track: None,
            volume: 1.0,
            can_go_next: false,
            can_go_previous: false,
            can_play: false,
            shuffle: false,
            repeat: Repeat::Off,
        }
    }
}

enum Update {
    State(PlayerState),
    /// A seek landed here, in the current track.
    Seeked(Duration),
    Shutdown,
}

/// A running MPRIS service. Dropping it leaves the bus.
pub struct Mpris {
    probe: HeardProbe,
    requests: Receiver<Request>,
    updates: Sender<Update>,
    thread: Option<JoinHandle<()>>,
    bus_name: String,
}

/// How the front end is served.
pub struct MprisOptions {
    /// A window that `Raise` can show (false for `reel play --no-gui`).
    pub can_raise: bool,
    /// The engine's heard position, for `Position`.
    pub probe: HeardProbe,
    /// What clients see from the moment the name is taken ([`Feed::state`]).
    pub initial: PlayerState,
    /// Called after each request is queued (the window asks for a repaint); `None`: the
    /// front end waits on [`Mpris::requests`] itself.
    pub waker: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Mpris {
    /// Connects to the session bus, serves both interfaces and takes the bus name. Errors say
    /// why MPRIS is off; the caller says it in one line and plays on.
    pub fn start(opts: MprisOptions) -> Result<Mpris, MprisError> {
        let (req_tx, requests) = crossbeam_channel::unbounded();
        let published = Arc::new(Mutex::new(Published {
            state: opts.initial.clone(),
            meta: Meta::default(),
        }));
        let link = Link {
            published: published.clone(),
            requests: req_tx,
            probe: opts.probe.clone(),
            waker: opts.waker,
        };
        let refused = |e: zbus::Error| MprisError::Refused(e.to_string());
        let conn = zbus::blocking::connection::Builder::session()
            .and_then(|b| {
                b.serve_at(
                    OBJECT_PATH,
                    Root {
                        link: link.clone(),
                        can_raise: opts.can_raise,
                    },
                )
            })
            .and_then(|b| b.serve_at(OBJECT_PATH, Player { link }))
            .and_then(|b| b.build())
            .map_err(|e| MprisError::NoBus(e.to_string()))?;
        let bus_name = take_name(&conn).map_err(refused)?;
        let (updates, rx) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name("reel-mpris".into())
            .spawn(move || Service::new(conn, published, opts.initial).run(rx))
            .map_err(|e| MprisError::Refused(format!("cannot start its thread: {e}")))?;
        Ok(Mpris {
            probe: opts.probe,
            requests,
            updates,
            thread: Some(thread),
            bus_name,
        })
    }

    /// The bus name taken.
    pub fn bus_name(&self) -> &str {
        &self.bus_name
    }

    /// What clients asked for, for the front end's select loop.
    pub fn requests(&self) -> &Receiver<Request> {
        &self.requests
    }

    /// The player's state changed (PropertiesChanged follows for what differs).
    pub fn publish(&self, state: PlayerState) {
        let _ = self.updates.send(Update::State(state));
    }

    /// A seek landed at `position` in the current track (`Seeked` follows).
    pub fn seeked(&self, position: Duration) {
        let _ = self.updates.send(Update::Seeked(position));
    }
}

impl Drop for Mpris {
    fn drop(&mut self) {
        let _ = self.updates.send(Update::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `org.mpris.MediaPlayer2.reel`, or the per-instance name when another player holds it.
fn take_name(conn: &Connection) -> zbus::Result<String> {
    let flags = RequestNameFlags::DoNotQueue.into();
    match conn.request_name_with_flags(BUS_NAME, flags) {
        Ok(_) => Ok(BUS_NAME.to_string()),
        Err(zbus::Error::NameTaken) => {
            let name = format!("{BUS_NAME}.instance{}", std::process::id());
            conn.request_name_with_flags(name.as_str(), flags)?;
            Ok(name)
        }
        Err(e) => Err(e),
    }
}

/// The `reel-mpris` thread: applies what the front end publishes and emits the signals.
struct Service {
    conn: Connection,
    published: Arc<Mutex<Published>>,
    last: PlayerState,
    covers: Covers,
}

impl Service {
    fn new(conn: Connection, published: Arc<Mutex<Published>>, last: PlayerState) -> Service {
        Service {
            conn,
            published,
            last,
            covers: Covers::default(),
        }
    }

    fn run(mut self, rx: Receiver<Update>) {
        while let Ok(update) = rx.recv() {
            match update {
                Update::State(s) => self.apply(s),
                Update::Seeked(at) => self.emit_seeked(at),
                Update::Shutdown => break,
            }
        }
        self.covers.remove_all();
    }

    fn apply(&mut self, state: PlayerState) {
        if state == self.last {
            return;
        }
        let old = std::mem::replace(&mut self.last, state.clone());
        let new_track = old.track != state.track;
        // Tags and cover art are read here, without the lock (a client may be asking).
        let meta = new_track.then(|| self.meta_of(state.track.as_ref()));
        // What clients were shown: a property a client set through `Set` holds its new value
        // there already, and zbus announced it then; it is not announced twice.
        let shown = {
            let mut p = self.published.lock().unwrap_or_else(|p| p.into_inner());
            let shown = std::mem::replace(&mut p.state, state.clone());
            if let Some(m) = meta {
                p.meta = m;
            }
            shown
        };
        let Ok(player) = self
            .conn
            .object_server()
            .interface::<_, Player>(OBJECT_PATH)
        else {
            return;
        };
        let (p, e) = (player.get(), player.signal_emitter());
        // A client that went away mid-signal is no reason to stop; the next change tries again.
        let _ = zbus::block_on(async {
            if old.status != state.status {
                p.playback_status_changed(e).await?;
            }
            if new_track {
                p.metadata_changed(e).await?;
                p.can_seek_changed(e).await?;
            }
            if old.volume != state.volume && shown.volume != state.volume {
                p.volume_changed(e).await?;
            }
            if old.can_go_next != state.can_go_next {
                p.can_go_next_changed(e).await?;
            }
            if old.can_go_previous != state.can_go_previous {
                p.can_go_previous_changed(e).await?;
            }
            if old.can_play != state.can_play {
                p.can_play_changed(e).await?;
                p.can_pause_changed(e).await?;
            }
            if old.shuffle != state.shuffle && shown.shuffle != state.shuffle {
                p.shuffle_changed(e).await?;
            }
            if old.repeat != state.repeat && shown.repeat != state.repeat {
                p.loop_status_changed(e).await?;
            }
            zbus::Result::Ok(())
        });
    }

    fn emit_seeked(&self, at: Duration) {
        if let Ok(player) = self
            .conn
            .object_server()
            .interface::<_, Player>(OBJECT_PATH)
        {
            let us = at.as_micros().min(i64::MAX as u128) as i64;
            let _ = zbus::block_on(Player::seeked(player.signal_emitter(), us));
        }
    }

    /// The metadata of `track`: its tags (the file name when it has no title), its length,
    /// its URL, and its embedded cover art as a file of our own.
    fn meta_of(&mut self, track: Option<&TrackRef>) -> Meta {
        let Some(t) = track else {
            self.covers.keep(None);
            return Meta::default();
        };
        let tags = crate::cache::read_tags(&t.path).unwrap_or_default();
        let title = crate::library::title_or_stem(tags.title.as_deref(), &t.path);
        Meta {
            trackid: OwnedObjectPath::try_from(format!("{TRACK_ID_PREFIX}{}", t.id)).ok(),
            title,
            artists: tags.artist.into_iter().collect(),
            album: tags.album,
            length_us: t.length.map(|l| l.as_micros().min(i64::MAX as u128) as i64),
            url: file_url(&t.url_path),
            art_url: if tags.cover_art {
                self.covers.write(t.id, &t.path)
            } else {
                self.covers.keep(None);
                None
            },
        }
    }
}

/// `file://` and the absolute path, percent-encoded.
fn file_url(path: &Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let abs = std::path::absolute(path).ok()?;
    Some(format!(
        "file://{}",
        percent_encoding::percent_encode(abs.as_os_str().as_bytes(), SET)
    ))
}

/// Cover art extracted for `mpris:artUrl`: one file, the current track's, in a directory of
/// this process's own under the runtime directory (0700); removed when MPRIS stops.
#[derive(Default)]
struct Covers {
    dir: Option<PathBuf>,
    current: Option<PathBuf>,
}

impl Covers {
    fn dir(&mut self) -> Option<PathBuf> {
        if let Some(d) = &self.dir {
            return Some(d.clone());
        }
        use std::os::unix::fs::DirBuilderExt;
        let base = directories::BaseDirs::new()
            .and_then(|b| b.runtime_dir().map(Path::to_path_buf))
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("reel-mpris-{}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(&dir)
            .ok()?;
        self.dir = Some(dir.clone());
        Some(dir)
    }

    /// Extracts the cover of `path` as track `id`'s; its `file://` URL, `None` when there is
    /// none or it cannot be written. Written under a temporary name and renamed, so a client
    /// never reads half a picture.
    fn write(&mut self, id: u64, path: &Path) -> Option<String> {
        let cover = crate::cache::read_cover(path);
        let Some(cover) = cover else {
            self.keep(None);
            return None;
        };
        let ext = match cover.media_type.as_deref() {
            Some("image/png") => "png",
            Some("image/jpeg" | "image/jpg") => "jpg",
            Some("image/gif") => "gif",
            Some("image/webp") => "webp",
            _ => "img",
        };
        let dir = self.dir()?;
        let file = dir.join(format!("cover-{id}.{ext}"));
        let tmp = dir.join(format!(".cover-{id}.{ext}.partial"));
        let written = std::fs::write(&tmp, &cover.data).and_then(|_| std::fs::rename(&tmp, &file));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
            self.keep(None);
            return None;
        }
        self.keep(Some(file.clone()));
        file_url(&file)
    }

    /// Keeps only `file` (the current track's cover), removing the previous one.
    fn keep(&mut self, file: Option<PathBuf>) {
        if let Some(old) = self.current.take()
            && Some(&old) != file.as_ref()
        {
            let _ = std::fs::remove_file(old);
        }
        self.current = file;
    }

    fn remove_all(&mut self) {
        self.keep(None);
        if let Some(d) = self.dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// The front end's side for a fixed queue (`reel play --no-gui`): follows the engine's events
/// and publishes the player's state on every change, and `Seeked` after every seek.
pub struct Feed {
    queue: Vec<PathBuf>,
    lengths: Vec<Option<Duration>>,
    state: PlayerState,
}

impl Feed {
    pub fn new(queue: Vec<PathBuf>, volume: f64) -> Feed {
        let state = PlayerState {
            volume,
            can_play: !queue.is_empty(),
            // The first entry plays first.
            can_go_next: queue.len() > 1,
            ..PlayerState::default()
        };
        Feed {
            lengths: vec![None; queue.len()],
            queue,
            state,
        }
    }

    /// The state as it is now (for [`MprisOptions::initial`]).
    pub fn state(&self) -> &PlayerState {
        &self.state
    }

    /// Follows one engine event.
    pub fn on_event(&mut self, ev: &Event, mpris: &Mpris) {
        let before = self.state.clone();
        match ev {
            Event::TrackStarted { index, info } => {
                if let Some(l) = self.lengths.get_mut(*index) {
                    *l = info.duration_secs().map(Duration::from_secs_f64);
                }
                self.set_track(*index);
                self.state.status = PlayState::Playing;
            }
            Event::Paused => self.state.status = PlayState::Paused,
            Event::Resumed => {
                // Playback (re)starts before its first frame is heard (TrackStarted): the
                // track it starts is already known to the engine.
                let heard = mpris.probe.now();
                if let Some(t) = heard.track
                    && self.state.track.as_ref().map(|t| t.index) != Some(t)
                {
                    if let Some(l) = self.lengths.get_mut(t) {
                        *l = heard.duration;
                    }
                    self.set_track(t);
                }
                self.state.status = PlayState::Playing;
            }
            Event::Stopped | Event::QueueFinished => self.state.status = PlayState::Stopped,
            Event::Seeked { index, position } => {
                if self.state.track.as_ref().map(|t| t.index) != Some(*index) {
                    self.set_track(*index);
                }
                mpris.seeked(*position);
            }
            _ => {}
        }
        if matches!(ev, Event::TrackStarted { .. } | Event::QueueChanged) {
            // Where Next and Previous can go, as the engine has it now.
            self.set_navigation(mpris.probe.now().modes);
        }
        if self.state != before {
            mpris.publish(self.state.clone());
        }
    }

    /// The volume was changed (by a client or by the user).
    pub fn set_volume(&mut self, volume: f64, mpris: &Mpris) {
        if self.state.volume != volume {
            self.state.volume = volume;
            mpris.publish(self.state.clone());
        }
    }

    /// The modes `reel play --shuffle --repeat` started with.
    pub fn with_modes(mut self, shuffle: bool, repeat: Repeat) -> Feed {
        self.state.shuffle = shuffle;
        self.state.repeat = repeat;
        if repeat == Repeat::All {
            self.state.can_go_next = self.state.can_play;
        }
        self
    }

    /// A client set `Shuffle` or `LoopStatus`. Only clients change the modes of `reel play`,
    /// so what they asked for is what the engine has (it takes every mode); the engine's
    /// [`Event::QueueChanged`] that follows updates where Next and Previous can go.
    pub fn set_mode(&mut self, request: &Request, mpris: &Mpris) {
        let before = self.state.clone();
        match request {
            Request::Shuffle(on) => self.state.shuffle = *on,
            Request::Loop(r) => self.state.repeat = *r,
            _ => return,
        }
        if self.state != before {
            mpris.publish(self.state.clone());
        }
    }

    fn set_navigation(&mut self, modes: Modes) {
        if self.state.track.is_some() {
            self.state.can_go_next = modes.can_go_next;
            self.state.can_go_previous = modes.can_go_previous;
        }
    }

    fn set_track(&mut self, index: usize) {
        let Some(path) = self.queue.get(index) else {
            return;
        };
        self.state.track = Some(TrackRef {
            index,
            id: index as u64,
            path: path.clone(),
            url_path: path.clone(),
            length: self.lengths.get(index).copied().flatten(),
        });
        self.state.can_go_next = index + 1 < self.queue.len();
        self.state.can_go_previous = index > 0;
    }
}
