//! What the decoder has queued, where each track starts in the ring, and what happened to each
//! file. Shared under a mutex between non-real-time threads only (decoder, supervisor, UI); the
//! audio thread never sees it.

use std::path::PathBuf;
use std::time::Instant;

use super::bitperfect::Fidelity;
use super::source::SourceInfo;
use crate::error::FileError;

/// A stretch of the ring that holds one track, from `start_index` on.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Which link (output stream) these indices belong to.
    pub link_id: u64,
    pub start_index: u64,
    /// Queue entry.
    pub track: usize,
    /// Position in the track (output-rate frames) of the frame at `start_index`.
    pub track_frame: u64,
    /// Time to first audio is measured for this segment: when it was asked for (a command), or
    /// `None` when playback ran into it gaplessly.
    pub requested_at: Option<Instant>,
    /// The supervisor has measured this segment's time to first audio.
    pub ttfa_recorded: bool,
}

/// Per queue entry: the file, what it turned out to be, and how it went.
#[derive(Debug, Clone, Default)]
pub struct TrackRecord {
    /// The queue entry's id ([`super::queue::EntryId`]).
    pub id: super::queue::EntryId,
    pub path: PathBuf,
    /// What went wrong although it played (see [`crate::error::FileWarning`]), without the
    /// file name.
    pub warning: Option<String>,
    pub info: Option<SourceInfo>,
    pub error: Option<FileError>,
    /// Milliseconds from the request to the first callback that wrote this track's audio.
    pub time_to_first_audio_ms: Option<f64>,
    pub frames_decoded: u64,
    /// Set when the track was decoded to its end: what altered its samples, and the hashes.
    pub fidelity: Option<Fidelity>,
    /// What the pipeline opened for it will alter (resampler, channel map, gain), known at
    /// its open: the window's badge until [`TrackRecord::fidelity`] is known.
    pub fidelity_at_open: Option<Fidelity>,
}

/// What the player is doing. Serialised in lower case ("playing"), as the metrics log has
/// always written it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlayState {
    #[default]
    Stopped,
    Playing,
    Paused,
}

#[derive(Debug)]
pub struct Status {
    pub tracks: Vec<TrackRecord>,
    /// The queue as the decoder last changed it: entries, shuffle order, modes.
    pub queue: super::queue::PlayQueue,
    pub segments: Vec<Segment>,
    pub state: PlayState,
    /// Queue entry being decoded.
    pub decoding: Option<usize>,
    /// Everything queued has been decoded and pushed; the ring ends at the link's `end_index`.
    pub drained: bool,
    /// Where a pause left the listener: (queue entry, output frame).
    pub paused_at: Option<(usize, u64)>,
    /// Output format of the current link.
    pub out_rate: u32,
    pub resampler_delay_frames: usize,
    pub codec: String,
    pub file_rate: u32,
    /// Which link the segments' indices belong to.
    pub link_id: u64,
    /// Time to first audio of the newest start, seek or resume.
    pub last_ttfa_ms: Option<f64>,
    /// While the output is gone: the queue entry and position (ms) the listener heard last,
    /// where playback will resume.
    pub held_at: Option<(usize, f64)>,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            tracks: Vec::new(),
            queue: Default::default(),
            segments: Vec::new(),
            state: PlayState::Stopped,
            decoding: None,
            drained: false,
            paused_at: None,
            out_rate: 0,
            resampler_delay_frames: 0,
            codec: String::new(),
            file_rate: 0,
            link_id: 0,
            last_ttfa_ms: None,
            held_at: None,
        }
    }
}

impl Status {
    /// The track and position (output frames) of ring index `index` on link `link_id`.
    pub fn locate(&self, link_id: u64, index: u64) -> Option<(usize, u64)> {
        self.segments
            .iter()
            .rev()
            .find(|s| s.link_id == link_id && s.start_index <= index)
            .map(|s| (s.track, s.track_frame + (index - s.start_index)))
    }

    /// What the listener hears at ring index `index`, as [`Status::locate`]; but after a seek
    /// or a jump whose audio has not reached them yet (the ring was flushed for it), where it
    /// lands: what they hear next is that, not the rest of what was flushed.
    pub fn locate_heard(&self, link_id: u64, index: u64) -> Option<(usize, u64)> {
        self.segments
            .iter()
            .rev()
            .find(|s| s.link_id == link_id && s.start_index > index && s.requested_at.is_some())
            .map(|s| (s.track, s.track_frame))
            .or_else(|| self.locate(link_id, index))
    }

    /// The segment that holds ring index `index` on link `link_id`.
    pub fn segment_at(&self, link_id: u64, index: u64) -> Option<&Segment> {
        self.segments
            .iter()
            .rev()
            .find(|s| s.link_id == link_id && s.start_index <= index)
    }

    /// Where the first segment after `index` starts (the next track's audio already in the ring).
    pub fn next_start(&self, link_id: u64, index: u64) -> Option<u64> {
        self.segments
            .iter()
            .find(|s| s.link_id == link_id && s.start_index > index)
            .map(|s| s.start_index)
    }

    /// Drop segments that lie wholly before `index` (keeping the one that contains it).
    pub fn prune(&mut self, link_id: u64, index: u64) {
        let keep_from = self
            .segments
            .iter()
            .rposition(|s| s.link_id == link_id && s.start_index <= index)
            .unwrap_or(0);
        if keep_from > 0 {
            self.segments.drain(..keep_from);
        }
    }
}
