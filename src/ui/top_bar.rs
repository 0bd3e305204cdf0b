//! The top bar: "Add files…", "Add folder…", the Meters and Settings toggles, and the import's
//! progress. Runs on the UI thread; returns what the user asked for, the app acts on it.

use std::path::PathBuf;

use eframe::egui::{self, RichText};

use super::labels;

/// An import in progress, as the cache worker reports it.
pub struct ImportProgress {
    pub file: PathBuf,
    pub done: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    AddFiles,
    AddFolder,
}

pub struct Inputs<'a> {
    /// A file picker is open (the add buttons are off until it closes).
    pub picking: bool,
    pub import: Option<&'a ImportProgress>,
    /// A library scan in progress: files done, files found.
    pub scan: Option<(usize, usize)>,
    /// The cache worker is busy with something other than an import (a listing).
    pub busy: bool,
}

/// Draws the bar; `show_meters` and `show_settings` are its two toggles.
pub fn show(
    ui: &mut egui::Ui,
    inputs: &Inputs<'_>,
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
                "Pick audio files or playlists: they are copied into reel's cache and queued",
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
        if let Some(p) = inputs.import {
            ui.separator();
            let frac = if p.total > 0 {
                p.done as f32 / p.total as f32
            } else {
                1.0
            };
            let name = p
                .file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            ui.add(
                egui::ProgressBar::new(frac)
                    .desired_width(260.0)
                    .show_percentage()
                    .text(format!("Importing {name}")),
            )
            .on_hover_text("Copying into reel's cache (hashing as it copies)");
        } else if inputs.busy {
            ui.separator();
            ui.spinner();
        }
    });
    out
}
