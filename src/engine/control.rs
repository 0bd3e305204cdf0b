//! Commands into the engine and events out of it (crossbeam-channel, non-real-time threads only).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::queue::{EntryId, Repeat};
use super::replaygain::GainSettings;
use super::shared::{Episode, Feed, Link};
use super::source::SourceInfo;
use crate::error::{FileError, FileWarning, OutputError};

/// What a user (the CLI, the window) can ask the engine to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Replace the queue with these files and play the first.
    Load(Vec<PathBuf>),
    /// Append to the queue (playback continues, gaplessly, into them).
    Queue(Vec<PathBuf>),
    /// Play the queue entry at this index.
    PlayIndex(usize),
    /// Stand paused at this queue entry and position, with no sound, so that `Play` starts
    /// there (a restored session). Ignored while playing.
    Cue(usize, Duration),
    /// Start (from stopped) or resume (from paused).
    Play,
    Pause,
    Resume,
    /// Pause when playing, play otherwise.
    TogglePause,
    Stop,
    /// Jump to this position in the current track.
    Seek(Duration),
    /// Jump relative to the heard position (negative = back).
    SeekBy(f64),
    Next,
    Previous,
    /// Set the volume, 0.0 ..= 1.0 (applied by the callback with a short ramp).
    Volume(f32),
    /// ReplayGain mode and pre-amp. They apply from the next track opened (send before
    /// `Load` for the first): a gain never jumps in the middle of a track.
    ReplayGain(GainSettings),
    /// Take entry `id` out of the queue. What plays goes on untouched, unless it is that
    /// entry: then the next one plays.
    Remove(EntryId),
    /// Move entry `id` to index `to` of the queue (clamped to its end).
    Move {
        id: EntryId,
        to: usize,
    },
    /// Make entry `id` the next to play after the one heard now.
    PlayNext(EntryId),
    /// Stop and empty the queue.
    Clear,
    /// Play the queue in a random order, every entry once before any repeats (on), or in
    /// its own order (off).
    Shuffle(bool),
    Repeat(Repeat),
}

impl Command {
    /// Whether this may start playback (and so needs the output device).
    pub fn may_start_playback(&self) -> bool {
        matches!(
            self,
            Command::Load(_)
                | Command::PlayIndex(_)
                | Command::Play
                | Command::Resume
                | Command::TogglePause
                | Command::Next
                | Command::Previous
        )
    }
}

/// Engine → UI/CLI.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The listener now hears the first frame of queue entry `index`.
    TrackStarted {
        index: usize,
        info: SourceInfo,
    },
    /// The listener heard the last frame of queue entry `index` (or it was left).
    TrackEnded {
        index: usize,
    },
    /// Heard position in the current track, a few times a second while playing.
    Position {
        index: usize,
        position: Duration,
        duration: Option<Duration>,
    },
    /// The listener was moved to `position` in queue entry `index` (a seek, whoever asked
    /// for it: front ends announce it, e.g. MPRIS's `Seeked`).
    Seeked {
        index: usize,
        position: Duration,
    },
    /// The whole queue has been heard.
    QueueFinished,
    Paused,
    Resumed,
    Stopped,
    /// A file could not be played (or stopped playing); the engine went on to the next.
    FileError(FileError),
    /// A file played, but not whole (damaged frames skipped, truncated): sent when the
    /// decoder reaches its end.
    FileWarning(FileWarning),
    /// The output device went away; the engine keeps trying to get it back.
    DeviceLost(String),
    /// Playing again, on this device, after a loss (or at start), or back on the device the
    /// user named after a [`Event::DeviceFallback`].
    DeviceReady {
        device: String,
    },
    /// The sound server moved the stream to `device` by itself: a stream on "the default"
    /// follows the default (headphones plugged in, another default chosen). Nothing was lost.
    DeviceMoved {
        device: String,
    },
    /// The device the user named (`wanted`) went away; playback goes on, from where it was, on
    /// the default output (`device`) until `wanted` is back (then [`Event::DeviceReady`]).
    DeviceFallback {
        wanted: String,
        device: String,
    },
    /// The output could not be opened at all.
    OutputError(OutputError),
    /// Queue entry `index` (file `path`) was decoded whole while it played, and its loudness
    /// scan ([`ScanKnown::Unscanned`](super::opener::ScanKnown)) is done: for the library.
    Analysed {
        index: usize,
        path: std::path::PathBuf,
        analysis: super::analysis::Analysis,
    },
    /// An underrun episode ended: the listener heard a gap (its cause says why).
    Underrun(Episode),
    /// The queue or its modes changed (an edit, shuffle, repeat): [`super::Engine::queue`]
    /// and the heard probe's modes already show the change.
    QueueChanged,
}

/// Internal: a freshly built output stream handed from the supervisor to the decoder.
pub(crate) struct OutputSlot {
    pub link: Arc<Link>,
    pub feed: Feed,
}

pub(crate) enum DecoderMsg {
    User(Command, Instant),
    Output(OutputSlot),
    OutputLost,
    /// The supervisor saw the whole queue heard.
    Finished,
    Shutdown,
}
