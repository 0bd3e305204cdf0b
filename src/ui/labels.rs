//! The visible text of the window's buttons and meter captions, shared with the tests that
//! find them by label (egui_kittest), so a renamed button fails to compile rather than to find.

pub const PLAY: &str = "Play";
pub const PAUSE: &str = "Pause";
pub const STOP: &str = "Stop";
pub const PREVIOUS: &str = "Previous";
pub const NEXT: &str = "Next";
pub const ADD_FILES: &str = "Add files…";
pub const ADD_FOLDER: &str = "Add folder…";
pub const SETTINGS: &str = "Settings";
pub const METERS: &str = "Meters";
pub const DISMISS: &str = "Dismiss";
pub const CLEAR_QUEUE: &str = "Clear queue";
/// The queue panel's per-entry controls; each is named [`entry_control`]`(ACTION, title)`.
pub const REMOVE_ENTRY: &str = "Remove";
pub const PLAY_NEXT: &str = "Play next";
pub const MOVE_UP: &str = "Move up";
pub const MOVE_DOWN: &str = "Move down";
/// The transport's shuffle toggle; the repeat button's name is [`repeat_text`].
pub const SHUFFLE: &str = "Shuffle";

/// The accessible name of a queue entry's control: `Remove: Title`.
pub fn entry_control(action: &str, title: &str) -> String {
    format!("{action}: {title}")
}

/// The repeat button's words (a click moves to the next mode: off, all, one).
pub fn repeat_text(r: crate::engine::Repeat) -> &'static str {
    match r {
        crate::engine::Repeat::Off => "Repeat off",
        crate::engine::Repeat::All => "Repeat all",
        crate::engine::Repeat::One => "Repeat one",
    }
}
pub const SAVE_QUEUE: &str = "Save queue…";
pub const REMOVE_FROM_CACHE: &str = "Remove from cache";
pub const REMOVE_FROM_LIBRARY: &str = "Remove from library";
pub const FILTER_HINT: &str = "Filter library";
pub const APPLY_OUTPUT: &str = "Apply output settings";
pub const APPLY_CAP: &str = "Apply cap";
pub const REPLAYGAIN_OFF: &str = "ReplayGain off";
pub const REPLAYGAIN_TRACK: &str = "Track gain";
pub const REPLAYGAIN_ALBUM: &str = "Album gain";
pub const REPLAYGAIN_AUTO: &str = "Auto (album gain while an album plays in order)";
pub const PREAMP: &str = "Pre-amp (dB)";
pub const GAIN: &str = "Loudness gain";
/// Accessible names of the sliders.
pub const SEEK_SLIDER: &str = "Seek";
pub const VOLUME_SLIDER: &str = "Volume";

/// Meter captions: each value is shown as `CAPTION: VALUE` in one label.
pub const RING_FILL: &str = "Ring fill";
pub const TOTAL_LATENCY: &str = "Total latency";
pub const DEVICE_LATENCY: &str = "Device latency";
pub const RESAMPLER_DELAY: &str = "Resampler delay";
pub const RING_LATENCY: &str = "Ring";
pub const UNDERRUNS: &str = "Underruns";
pub const CALLBACK_LOAD: &str = "Callback load";
/// The callback-load plot's accessible name (p50, p99 and max against the period).
pub const CALLBACK_LOAD_PLOT: &str = "Callback load plot";
/// The ring-fill plot's accessible name; its value lists the underrun episodes.
pub const RING_PLOT: &str = "Ring fill over the last 30 s";
pub const DECODE_SPEED: &str = "Decode speed";
pub const TTFA: &str = "Time to first audio";
pub const VOLUME_VALUE: &str = "Volume level";
pub const POSITION: &str = "Position";
/// The bit-perfect badge's accessible name; its value is [`bit_perfect_text`].
pub const BIT_PERFECT: &str = "Bit-perfect";

/// The badge's words: `bit-perfect`, or `not bit-perfect: REASON` (resampled, volume, gain,
/// format, altered), as the metrics summary's `bit_perfect` and `bit_perfect_reason` say.
pub fn bit_perfect_text(ok: bool, reason: Option<&str>) -> String {
    match (ok, reason) {
        (true, _) => "bit-perfect".into(),
        (false, Some(r)) => format!("not bit-perfect: {r}"),
        (false, None) => "not bit-perfect".into(),
    }
}
/// The level bars' accessible names: `Level L`, `Level R` (or `Level M`, `Level 3`, ...).
pub const LEVEL: &str = "Level";
/// The other level figures' accessible names, with the channel after them: `True peak L`.
pub const SAMPLE_PEAK: &str = "Sample peak";
pub const TRUE_PEAK: &str = "True peak";
pub const PEAK_HOLD: &str = "Peak hold";
/// The clip indicator (a button that clears it).
pub const CLIP: &str = "Clip";

/// `CAPTION: VALUE`, the form every meter figure and the position take.
pub fn figure(caption: &str, value: &str) -> String {
    format!("{caption}: {value}")
}
