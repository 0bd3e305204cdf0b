//! The notice banner under the top bar: errors and news, each until dismissed.
//!
//! Runs on the UI thread. Each notice is keyed by a [`Topic`]: a new notice on a topic replaces
//! the one before it (the output coming back replaces "output lost"; the same file failing
//! twice shows once), so nothing is ever found again by matching its text.

use std::path::PathBuf;

use eframe::egui::{self, Color32, RichText};

use super::labels;

/// At most this many notices are kept (the oldest dropped).
const MAX_NOTICES: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Error,
    Info,
}

/// What a notice is about. One notice per topic is shown at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// The audio output: lost, back, or failing to open.
    Output,
    /// A file that could not be played (by the path the user added).
    File(PathBuf),
    /// Files an import skipped because they are not audio.
    SkippedNonAudio,
    /// Saving the queue as a playlist.
    SaveQueue,
    /// A library entry that cannot be removed while it is queued (by its hash).
    Queued(String),
    /// Any other message (an import or cache error, a playlist entry left out), keyed by
    /// itself: the same message twice shows once.
    Message(String),
}

/// A message in the banner, until dismissed.
#[derive(Debug, Clone)]
pub struct Notice {
    pub id: u64,
    pub topic: Topic,
    pub kind: NoticeKind,
    pub text: String,
}

#[derive(Default)]
pub struct Notices {
    list: Vec<Notice>,
    next_id: u64,
}

impl Notices {
    pub fn all(&self) -> &[Notice] {
        &self.list
    }

    /// Shows `text` on `topic`, replacing what was shown on it.
    pub fn post(&mut self, topic: Topic, kind: NoticeKind, text: impl Into<String>) {
        self.list.retain(|n| n.topic != topic);
        self.next_id += 1;
        self.list.push(Notice {
            id: self.next_id,
            topic,
            kind,
            text: text.into(),
        });
        if self.list.len() > MAX_NOTICES {
            self.list.remove(0);
        }
    }

    /// A message that is its own topic (see [`Topic::Message`]).
    pub fn message(&mut self, kind: NoticeKind, text: impl Into<String>) {
        let text = text.into();
        self.post(Topic::Message(text.clone()), kind, text);
    }

    /// Draws the banner; a notice whose "Dismiss" is clicked goes.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let mut dismissed = Vec::new();
        for n in &self.list {
            let bg = match n.kind {
                NoticeKind::Error => Color32::from_rgb(0x9b, 0x2c, 0x2c),
                NoticeKind::Info => Color32::from_rgb(0x2c, 0x5d, 0x9b),
            };
            egui::Frame::new()
                .fill(bg)
                .corner_radius(4.0)
                .inner_margin(egui::Margin::symmetric(8, 4))
                .show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.add(
                            egui::Label::new(RichText::new(&n.text).color(Color32::WHITE)).wrap(),
                        );
                        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                            if ui.button(labels::DISMISS).clicked() {
                                dismissed.push(n.id);
                            }
                        });
                    });
                });
        }
        self.list.retain(|n| !dismissed.contains(&n.id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_replaces_the_one_on_its_topic_and_leaves_the_others() {
        let mut n = Notices::default();
        n.post(Topic::Output, NoticeKind::Error, "audio output lost: gone");
        n.message(NoticeKind::Error, "a.flac: not found");
        n.message(NoticeKind::Error, "a.flac: not found");
        n.post(Topic::Output, NoticeKind::Info, "audio output on sink");
        let texts: Vec<&str> = n.all().iter().map(|n| n.text.as_str()).collect();
        assert_eq!(texts, ["a.flac: not found", "audio output on sink"]);
    }

    #[test]
    fn only_the_newest_notices_are_kept() {
        let mut n = Notices::default();
        for i in 0..MAX_NOTICES + 3 {
            n.message(NoticeKind::Info, format!("{i}"));
        }
        assert_eq!(n.all().len(), MAX_NOTICES);
        assert_eq!(n.all()[0].text, "3");
    }
}
