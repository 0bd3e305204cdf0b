//! The two MPRIS2 interfaces, `org.mpris.MediaPlayer2` and `org.mpris.MediaPlayer2.Player`,
//! served at `/org/mpris/MediaPlayer2`.
//!
//! Threads: zbus's own executor thread calls these methods and getters (a client asks); the
//! `reel-mpris` thread (mod.rs) reads the getters to emit `PropertiesChanged`. Both go through
//! one mutex over [`Published`], held for a copy only. Requests go to the front end on a
//! crossbeam channel; nothing here waits for the engine.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::Sender;
use zbus::interface;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};

use super::{PlayerState, Request};
use crate::engine::{HeardProbe, PlayState, Repeat};

/// The track id MPRIS reserves for "no track".
pub const NO_TRACK: &str = "/org/mpris/MediaPlayer2/TrackList/NoTrack";

/// What a client sees: the front end's last published state and the current track's
/// metadata (read by the `reel-mpris` thread).
pub(super) struct Published {
    pub state: PlayerState,
    pub meta: Meta,
}

/// The current track's metadata, as MPRIS names it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Meta {
    /// `mpris:trackid`; `None`: no track.
    pub trackid: Option<OwnedObjectPath>,
    pub title: String,
    pub artists: Vec<String>,
    pub album: Option<String>,
    pub length_us: Option<i64>,
    pub url: Option<String>,
    pub art_url: Option<String>,
}

/// What both interfaces share.
#[derive(Clone)]
pub(super) struct Link {
    pub published: Arc<Mutex<Published>>,
    pub requests: Sender<Request>,
    pub probe: HeardProbe,
    /// Wakes the front end after a request (the window repaints only when asked to).
    pub waker: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Link {
    fn get(&self) -> MutexGuard<'_, Published> {
        self.published.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ask(&self, r: Request) {
        let _ = self.requests.send(r);
        if let Some(wake) = &self.waker {
            wake();
        }
    }

    /// The heard position in the current track, in µs (0 when nothing is heard).
    fn position_us(&self) -> i64 {
        let index = self.get().state.track.as_ref().map(|t| t.index);
        let heard = self.probe.now();
        match (heard.track, index) {
            (Some(h), Some(i)) if h == i => (heard.position_ms * 1000.0).round() as i64,
            _ => 0,
        }
    }
}

/// `org.mpris.MediaPlayer2`.
pub(super) struct Root {
    pub link: Link,
    pub can_raise: bool,
}

#[interface(name = "org.mpris.MediaPlayer2")]
impl Root {
    fn raise(&self) {
        if self.can_raise {
            self.link.ask(Request::Raise);
        }
    }

    fn quit(&self) {
        self.link.ask(Request::Quit);
    }

    #[zbus(property)]
    fn can_quit(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn can_raise(&self) -> bool {
        self.can_raise
    }

    #[zbus(property)]
    fn has_track_list(&self) -> bool {
        false
    }

    #[zbus(property)]
    fn identity(&self) -> &str {
        "reel"
    }

    #[zbus(property)]
    fn desktop_entry(&self) -> &str {
        "reel"
    }

    #[zbus(property)]
    fn supported_uri_schemes(&self) -> Vec<String> {
        vec!["file".into()]
    }

    #[zbus(property)]
    fn supported_mime_types(&self) -> Vec<String> {
        super::MIME_TYPES.iter().map(|s| s.to_string()).collect()
    }
}

/// `org.mpris.MediaPlayer2.Player`.
pub(super) struct Player {
    pub link: Link,
}

#[interface(name = "org.mpris.MediaPlayer2.Player")]
impl Player {
    fn play(&self) {
        if self.link.get().state.can_play {
            self.link.ask(Request::Play);
        }
    }

    fn pause(&self) {
        if self.link.get().state.can_play {
            self.link.ask(Request::Pause);
        }
    }

    fn play_pause(&self) {
        if self.link.get().state.can_play {
            self.link.ask(Request::PlayPause);
        }
    }

    fn stop(&self) {
        self.link.ask(Request::Stop);
    }

    fn next(&self) {
        if self.link.get().state.can_go_next {
            self.link.ask(Request::Next);
        }
    }

    fn previous(&self) {
        if self.link.get().state.can_go_previous {
            self.link.ask(Request::Previous);
        }
    }

    /// Relative seek, µs. Before the start: the start; past the end: the next track (spec).
    fn seek(&self, offset: i64) {
        let length_us = match self.link.get().state.track.as_ref() {
            Some(t) => t.length.map(|l| l.as_micros() as i64),
            None => return,
        };
        let target = self.link.position_us().saturating_add(offset);
        if length_us.is_some_and(|l| target > l) {
            self.link.ask(Request::Next);
        } else {
            self.link
                .ask(Request::SeekTo(Duration::from_micros(target.max(0) as u64)));
        }
    }

    /// Absolute seek, µs, only when `track_id` is the current track and `position` lies in
    /// it; otherwise ignored (spec: a stale request from a client must not move another track).
    fn set_position(&self, track_id: ObjectPath<'_>, position: i64) {
        let p = self.link.get();
        let current = p.meta.trackid.as_ref().map(|t| t.as_str());
        if current != Some(track_id.as_str()) || position < 0 {
            return;
        }
        if p.meta.length_us.is_some_and(|l| position > l) {
            return;
        }
        drop(p);
        self.link
            .ask(Request::SeekTo(Duration::from_micros(position as u64)));
    }

    #[zbus(signal)]
    pub(super) async fn seeked(emitter: &SignalEmitter<'_>, position: i64) -> zbus::Result<()>;

    #[zbus(property)]
    fn playback_status(&self) -> &'static str {
        match self.link.get().state.status {
            PlayState::Playing => "Playing",
            PlayState::Paused => "Paused",
            PlayState::Stopped => "Stopped",
        }
    }

    /// None, Track or Playlist: the engine's repeat off, one or all.
    #[zbus(property)]
    fn loop_status(&self) -> &'static str {
        match self.link.get().state.repeat {
            Repeat::Off => "None",
            Repeat::One => "Track",
            Repeat::All => "Playlist",
        }
    }

    #[zbus(property)]
    fn set_loop_status(&mut self, status: &str) -> zbus::fdo::Result<()> {
        let repeat = match status {
            "None" => Repeat::Off,
            "Track" => Repeat::One,
            "Playlist" => Repeat::All,
            other => {
                return Err(zbus::fdo::Error::InvalidArgs(format!(
                    "{other:?} is not a LoopStatus (None, Track or Playlist)"
                )));
            }
        };
        // Read back at once; the engine's answer publishes the same.
        self.link.get().state.repeat = repeat;
        self.link.ask(Request::Loop(repeat));
        Ok(())
    }

    #[zbus(property)]
    fn shuffle(&self) -> bool {
        self.link.get().state.shuffle
    }

    #[zbus(property)]
    fn set_shuffle(&mut self, on: bool) {
        self.link.get().state.shuffle = on;
        self.link.ask(Request::Shuffle(on));
    }

    #[zbus(property)]
    fn rate(&self) -> f64 {
        1.0
    }

    /// Only 1.0 is allowed (Minimum and MaximumRate are 1.0): other values are ignored.
    #[zbus(property)]
    fn set_rate(&mut self, _rate: f64) {}

    #[zbus(property)]
    fn minimum_rate(&self) -> f64 {
        1.0
    }

    #[zbus(property)]
    fn maximum_rate(&self) -> f64 {
        1.0
    }

    #[zbus(property)]
    fn metadata(&self) -> HashMap<String, OwnedValue> {
        metadata_map(&self.link.get().meta)
    }

    #[zbus(property)]
    fn volume(&self) -> f64 {
        self.link.get().state.volume
    }

    /// 0.0 ..= 1.0 (the engine's range): below is 0, above is 1.
    #[zbus(property)]
    fn set_volume(&mut self, volume: f64) {
        let v = if volume.is_finite() {
            volume.clamp(0.0, 1.0)
        } else {
            return;
        };
        self.link.get().state.volume = v;
        self.link.ask(Request::Volume(v));
    }

    /// The heard position, read on demand (the spec sends no PropertiesChanged for it; clients
    /// follow `Seeked` and the rate).
    #[zbus(property(emits_changed_signal = "false"))]
    fn position(&self) -> i64 {
        self.link.position_us()
    }

    #[zbus(property)]
    fn can_go_next(&self) -> bool {
        self.link.get().state.can_go_next
    }

    #[zbus(property)]
    fn can_go_previous(&self) -> bool {
        self.link.get().state.can_go_previous
    }

    #[zbus(property)]
    fn can_play(&self) -> bool {
        self.link.get().state.can_play
    }

    #[zbus(property)]
    fn can_pause(&self) -> bool {
        self.link.get().state.can_play
    }

    #[zbus(property)]
    fn can_seek(&self) -> bool {
        self.link.get().state.track.is_some()
    }

    #[zbus(property(emits_changed_signal = "const"))]
    fn can_control(&self) -> bool {
        true
    }
}

/// The `a{sv}` of `Metadata`: only the keys that have a value.
fn metadata_map(m: &Meta) -> HashMap<String, OwnedValue> {
    let mut map = HashMap::new();
    let mut put = |key: &str, v: Value<'_>| {
        if let Ok(v) = OwnedValue::try_from(v) {
            map.insert(key.to_string(), v);
        }
    };
    let Some(id) = &m.trackid else {
        if let Ok(p) = ObjectPath::try_from(NO_TRACK) {
            put("mpris:trackid", Value::from(p));
        }
        return map;
    };
    put("mpris:trackid", Value::from(id.as_ref()));
    put("xesam:title", Value::from(m.title.as_str()));
    if !m.artists.is_empty() {
        put("xesam:artist", Value::from(m.artists.clone()));
    }
    if let Some(a) = &m.album {
        put("xesam:album", Value::from(a.as_str()));
    }
    if let Some(l) = m.length_us {
        put("mpris:length", Value::from(l));
    }
    if let Some(u) = &m.url {
        put("xesam:url", Value::from(u.as_str()));
    }
    if let Some(u) = &m.art_url {
        put("mpris:artUrl", Value::from(u.as_str()));
    }
    map
}
