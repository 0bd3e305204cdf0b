//! Settings kept between runs in eframe's storage (a RON file in the user's data directory).
//! The window that edits them is settings_window.rs.
//!
//! Every field has a default (`#[serde(default)]`), so a file written by an older or newer reel
//! still loads. The window layout (size, position, panel sizes) is eframe's own persisted
//! state. The cache cap is the cache's own setting (`settings.json` in the cache, shared with
//! `reel cache config`), so the window and the command line never disagree about it; the window
//! edits it through the cache worker.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::engine::{DEFAULT_PERIOD_FRAMES, DEFAULT_RING_MS, GainSettings, Repeat};

/// The key under which [`Settings`] is stored.
pub const STORAGE_KEY: &str = "reel.settings";

/// The ring sizes the settings window offers, in ms (the engine accepts 5..=10 000).
pub const RING_MS_RANGE: std::ops::RangeInclusive<u32> = 20..=2_000;
/// The device buffer sizes it offers, in frames.
pub const PERIOD_FRAMES_CHOICES: [u32; 7] = [64, 128, 256, 512, 1024, 2048, 4096];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Theme {
    Dark,
    Light,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortKey {
    Title,
    Artist,
    Album,
    Duration,
    Format,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Output device id or name; `None`: the system default.
    pub device: Option<String>,
    pub ring_ms: u32,
    pub period_frames: u32,
    pub theme: Theme,
    /// 0.0 ..= 1.0.
    pub volume: f32,
    /// The queue, as the user's files (restored, not played, at the next start, through the
    /// session: a file whose source is gone plays from its cached copy). Older settings kept
    /// the cache's hashes under `queue`: that queue is not restored.
    pub queue_files: Vec<PathBuf>,
    /// Where the listener was in that queue when the window closed: restored paused there.
    pub resume_at: Option<Resume>,
    /// The queue as an older reel saved it (the cache's hashes), read so that it is restored
    /// once, as the files those copies were made from; never written.
    #[serde(rename = "queue", skip_serializing)]
    pub legacy_queue: Vec<String>,
    /// Its place in that queue (by hash); never written.
    #[serde(rename = "resume", skip_serializing)]
    pub legacy_resume: Option<LegacyResume>,
    pub show_meters: bool,
    pub sort: SortKey,
    pub sort_ascending: bool,
    /// ReplayGain mode and pre-amp (README, "Fidelity"), as `reel play --replaygain --preamp`.
    pub replaygain: GainSettings,
    /// The queue's play modes, as `reel play --shuffle --repeat`.
    pub shuffle: bool,
    pub repeat: Repeat,
}

/// A place in the saved queue: its entry (by its file, which stays right if another entry
/// could not be restored) and the heard position in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    pub file: PathBuf,
    pub position_ms: f64,
}

/// A place in a queue saved by an older reel (by the cached object's hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyResume {
    pub hash: String,
    pub position_ms: f64,
}

/// The pre-amp range the settings window offers, in dB (the same as `--preamp`).
pub const PREAMP_DB_RANGE: std::ops::RangeInclusive<f64> = -24.0..=24.0;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            device: None,
            ring_ms: DEFAULT_RING_MS,
            period_frames: DEFAULT_PERIOD_FRAMES,
            theme: Theme::Dark,
            volume: 0.8,
            queue_files: Vec::new(),
            resume_at: None,
            legacy_queue: Vec::new(),
            legacy_resume: None,
            show_meters: true,
            sort: SortKey::Artist,
            sort_ascending: true,
            replaygain: GainSettings::default(),
            shuffle: false,
            repeat: Repeat::Off,
        }
    }
}

/// Makes egui draw in `theme`.
pub fn apply_theme(ctx: &eframe::egui::Context, theme: Theme) {
    ctx.set_theme(match theme {
        Theme::Dark => eframe::egui::Theme::Dark,
        Theme::Light => eframe::egui::Theme::Light,
    });
}

impl Settings {
    pub fn load(storage: Option<&dyn eframe::Storage>) -> Settings {
        let mut s: Settings = storage
            .and_then(|st| eframe::get_value(st, STORAGE_KEY))
            .unwrap_or_default();
        s.sanitise();
        s
    }

    pub fn save(&self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, self);
    }

    /// Values out of range (a hand-edited file) come back to something the engine accepts.
    fn sanitise(&mut self) {
        if !self.volume.is_finite() {
            self.volume = Settings::default().volume;
        }
        self.volume = self.volume.clamp(0.0, 1.0);
        self.ring_ms = self
            .ring_ms
            .clamp(*RING_MS_RANGE.start(), *RING_MS_RANGE.end());
        self.period_frames = self.period_frames.clamp(16, 16_384);
        if !self.replaygain.preamp_db.is_finite() {
            self.replaygain.preamp_db = 0.0;
        }
        self.replaygain.preamp_db = self
            .replaygain
            .preamp_db
            .clamp(*PREAMP_DB_RANGE.start(), *PREAMP_DB_RANGE.end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_an_older_file_keep_their_values_and_default_the_rest() {
        let old = r#"(ring_ms: 300, volume: 0.5)"#;
        let s: Settings = ron_from(old);
        assert_eq!(s.ring_ms, 300);
        assert_eq!(s.volume, 0.5);
        assert_eq!(s.period_frames, DEFAULT_PERIOD_FRAMES);
        assert!(s.queue_files.is_empty());
    }

    #[test]
    fn a_queue_saved_as_hashes_is_read_for_its_one_restore_and_never_written_again() {
        let old =
            r#"(volume: 0.5, queue: ["ab12"], resume: Some((hash: "ab12", position_ms: 1500.0)))"#;
        let s: Settings = ron_from(old);
        assert_eq!(s.volume, 0.5);
        assert_eq!(s.legacy_queue, ["ab12"]);
        assert_eq!(s.legacy_resume.as_ref().unwrap().position_ms, 1500.0);
        #[derive(Default)]
        struct Kept(Option<String>);
        impl eframe::Storage for Kept {
            fn get_string(&self, _: &str) -> Option<String> {
                None
            }
            fn set_string(&mut self, _: &str, v: String) {
                self.0 = Some(v);
            }
            fn remove_string(&mut self, _: &str) {}
            fn flush(&mut self) {}
        }
        let mut kept = Kept::default();
        s.save(&mut kept);
        let written = kept.0.unwrap();
        assert!(!written.contains("ab12"), "{written}");
    }

    fn ron_from(text: &str) -> Settings {
        struct One(String);
        impl eframe::Storage for One {
            fn get_string(&self, key: &str) -> Option<String> {
                (key == STORAGE_KEY).then(|| self.0.clone())
            }
            fn set_string(&mut self, _: &str, _: String) {}
            fn remove_string(&mut self, _: &str) {}
            fn flush(&mut self) {}
        }
        Settings::load(Some(&One(text.into())))
    }
}
