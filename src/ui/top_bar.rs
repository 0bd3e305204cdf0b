//! The top bar: "Add files…", "Add folder…", the Meters and Settings toggles, and a library
//! scan's progress. Runs on the UI thread; returns what the user asked for, the app acts on it.

use eframe::egui::{self, RichText};

use super::labels;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    AddFiles,
    AddFolder,
}

pub struct Inputs {
    /// A file picker is open (the add buttons are off until it closes).
    pub picking: bool,
    /// A library scan in progress: files done, files found.
    pub scan: Option<(usize, usize)>,
    /// The cache worker is busy (looking files up, a listing).
    pub busy: bool,
}

/// Draws the bar; `show_meters` and `show_settings` are its two toggles.
pub fn show(
    ui: &mut egui::Ui,
    inputs: &Inputs,
    show_meters: &mut bool,
    show_settings: &mut bool,
) -> Vec<Action> {
    let mut out = Vec::new();
    ui.horizontal(|ui| {
        ui.heading(RichText::new("reel").strong());
        ui.separator();
        if ui
            .add_enabled(!inputs.picking, egui::Button::new(labels::ADD_FILES))
            .on_hover_text(
                "Pick audio files or playlists: they are queued, and copied into reel's cache \
                 as they play",
            )
            .clicked()
        {
            out.push(Action::AddFiles);
        }
        if ui
            .add_enabled(!inputs.picking, egui::Button::new(labels::ADD_FOLDER))
            .on_hover_text(
                "Pick a folder: its audio files are added to the library (tags only; nothing is \
                 copied)",
            )
            .clicked()
        {
            out.push(Action::AddFolder);
        }
        ui.separator();
        ui.toggle_value(show_meters, labels::METERS)
            .on_hover_text("Show or hide the meters panel");
        ui.toggle_value(show_settings, labels::SETTINGS)
            .on_hover_text("Output device, ring and buffer sizes, cache cap, theme");
        if let Some((done, total)) = inputs.scan {
            ui.separator();
            let frac = if total > 0 {
                done as f32 / total as f32
            } else {
                1.0
            };
            ui.add(
                egui::ProgressBar::new(frac)
                    .desired_width(200.0)
                    .text(format!("Scanning {done} of {total}")),
            )
            .on_hover_text("Reading tags into the library (nothing is copied)");
        }
        if inputs.busy {
            ui.separator();
            ui.spinner();
        }
    });
    out
}
