//! The settings window: output device, ring size and device buffer (applied together, playback
//! goes on where it was), the cache's size cap, and the theme. Runs on the UI thread; the
//! device list is fetched on its own short-lived thread (enumerating devices can take a while
//! on ALSA). It returns what the user applied; the app tells the engine and the cache worker.

use std::path::Path;

use crossbeam_channel::Receiver;
use eframe::egui;

use super::labels;
use super::settings::{PERIOD_FRAMES_CHOICES, PREAMP_DB_RANGE, RING_MS_RANGE, Theme};
use crate::engine::output::DeviceListing;
use crate::engine::{GainMode, GainSettings, OutputRequest};
use crate::error::OutputError;

/// The window's title.
pub const TITLE: &str = "Settings";
const SYSTEM_DEFAULT: &str = "System default";

/// The device list, fetched once the window first opens.
enum Devices {
    NotAsked,
    Loading(Receiver<Result<Vec<DeviceListing>, OutputError>>),
    Ready(Vec<DeviceListing>),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Reopen the output with these settings.
    ApplyOutput(OutputRequest),
    /// Set the cache's size cap, in bytes.
    SetMaxSize(u64),
    /// The theme was changed (it is already in the settings).
    Theme(Theme),
    /// ReplayGain mode or pre-amp changed (already in the settings): for the tracks opened
    /// from now on.
    ReplayGain(GainSettings),
}

pub struct Inputs<'a> {
    /// What the engine runs with now.
    pub applied_output: &'a OutputRequest,
    /// The cache's cap now.
    pub max_size_bytes: u64,
    pub cache_dir: &'a Path,
}

pub struct SettingsWindow {
    pub open: bool,
    devices: Devices,
    /// What the window edits, until applied.
    edit_output: OutputRequest,
    edit_cap_mib: f64,
    shown_cap_bytes: u64,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

impl SettingsWindow {
    pub fn new(output: OutputRequest, max_size_bytes: u64) -> SettingsWindow {
        SettingsWindow {
            open: false,
            devices: Devices::NotAsked,
            edit_output: output,
            edit_cap_mib: mib(max_size_bytes),
            shown_cap_bytes: max_size_bytes,
        }
    }

    /// Takes the device list once its thread has it.
    pub fn poll(&mut self) {
        if let Devices::Loading(rx) = &self.devices
            && let Ok(r) = rx.try_recv()
        {
            self.devices = match r {
                Ok(list) => Devices::Ready(list),
                Err(e) => Devices::Failed(e.to_string()),
            };
        }
    }

    fn ask_devices(&mut self, ctx: &egui::Context) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let ctx = ctx.clone();
        let _ = std::thread::Builder::new()
            .name("reel-devices".into())
            .spawn(move || {
                let _ = tx.send(crate::engine::output::list_devices());
                ctx.request_repaint();
            });
        self.devices = Devices::Loading(rx);
    }

    /// Draws the window if it is open; `theme` is edited in place.
    pub fn show(
        &mut self,
        ctx: &egui::Context,
        inputs: &Inputs<'_>,
        theme: &mut Theme,
        gain: &mut GainSettings,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.open {
            return out;
        }
        // The cap changed elsewhere (`reel cache config`): show the new one.
        if self.shown_cap_bytes != inputs.max_size_bytes {
            self.shown_cap_bytes = inputs.max_size_bytes;
            self.edit_cap_mib = mib(inputs.max_size_bytes);
        }
        if matches!(self.devices, Devices::NotAsked) {
            self.ask_devices(ctx);
        }
        let mut open = self.open;
        egui::Window::new(TITLE)
            .open(&mut open)
            .resizable(false)
            .collapsible(false)
            .show(ctx, |ui| {
                ui.strong("Output");
                self.output_section(ui, inputs, &mut out);
                ui.separator();
                ui.strong("Cache");
                self.cache_section(ui, inputs, &mut out);
                ui.separator();
                ui.strong("Loudness (ReplayGain)");
                loudness_section(ui, gain, &mut out);
                ui.separator();
                ui.strong("Theme");
                ui.horizontal(|ui| {
                    let before = *theme;
                    ui.radio_value(theme, Theme::Dark, "Dark");
                    ui.radio_value(theme, Theme::Light, "Light");
                    if *theme != before {
                        out.push(Action::Theme(*theme));
                    }
                });
            });
        self.open = open;
        out
    }

    fn output_section(&mut self, ui: &mut egui::Ui, inputs: &Inputs<'_>, out: &mut Vec<Action>) {
        let chosen = self
            .edit_output
            .device
            .clone()
            .unwrap_or_else(|| SYSTEM_DEFAULT.into());
        egui::ComboBox::from_label("Device")
            .selected_text(chosen)
            .width(280.0)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut self.edit_output.device, None, SYSTEM_DEFAULT);
                match &self.devices {
                    Devices::Ready(list) => {
                        for d in list {
                            ui.selectable_value(
                                &mut self.edit_output.device,
                                Some(d.id.clone()),
                                format!("{} ({})", d.name, d.id),
                            );
                        }
                    }
                    Devices::Failed(e) => {
                        ui.label(format!("cannot list devices: {e}"));
                    }
                    _ => {
                        ui.spinner();
                    }
                }
            });
        ui.add(
            egui::Slider::new(&mut self.edit_output.ring_ms, RING_MS_RANGE)
                .text("Ring size (ms)")
                .logarithmic(true),
        )
        .on_hover_text(
            "How much decoded audio waits between the decoder and the device. Bigger rides out \
             a busier machine; a seek or pause flushes it either way.",
        );
        egui::ComboBox::from_label("Device buffer (frames)")
            .selected_text(self.edit_output.period_frames.to_string())
            .show_ui(ui, |ui| {
                for f in PERIOD_FRAMES_CHOICES {
                    ui.selectable_value(&mut self.edit_output.period_frames, f, f.to_string());
                }
            });
        let changed = &self.edit_output != inputs.applied_output;
        if ui
            .add_enabled(changed, egui::Button::new(labels::APPLY_OUTPUT))
            .on_hover_text("Reopen the output with these settings; playback goes on where it was")
            .clicked()
        {
            out.push(Action::ApplyOutput(self.edit_output.clone()));
        }
    }

    fn cache_section(&mut self, ui: &mut egui::Ui, inputs: &Inputs<'_>, out: &mut Vec<Action>) {
        ui.horizontal(|ui| {
            let label = ui.label("Size cap");
            ui.add(
                egui::DragValue::new(&mut self.edit_cap_mib)
                    .range(1.0..=1_048_576.0)
                    .speed(16.0)
                    .suffix(" MiB"),
            )
            .labelled_by(label.id)
            .on_hover_text(
                "Size cap of reel's cache: above it, the least recently played files are \
                 evicted (never what is playing or queued)",
            );
        });
        let cap = (self.edit_cap_mib.max(1.0) * (1u64 << 20) as f64) as u64;
        if ui
            .add_enabled(
                cap != inputs.max_size_bytes,
                egui::Button::new(labels::APPLY_CAP),
            )
            .clicked()
        {
            out.push(Action::SetMaxSize(cap));
        }
        ui.label(format!("Folder: {}", inputs.cache_dir.display()));
    }
}

/// ReplayGain mode and pre-amp: applied to the tracks opened from now on (the one playing
/// keeps its gain, so nothing jumps mid-track).
fn loudness_section(ui: &mut egui::Ui, gain: &mut GainSettings, out: &mut Vec<Action>) {
    let before = *gain;
    ui.horizontal_wrapped(|ui| {
        for (mode, label) in [
            (GainMode::Off, labels::REPLAYGAIN_OFF),
            (GainMode::Track, labels::REPLAYGAIN_TRACK),
            (GainMode::Album, labels::REPLAYGAIN_ALBUM),
            (GainMode::Auto, labels::REPLAYGAIN_AUTO),
        ] {
            ui.radio_value(&mut gain.mode, mode, label);
        }
    });
    ui.horizontal(|ui| {
        ui.add(
            egui::DragValue::new(&mut gain.preamp_db)
                .range(PREAMP_DB_RANGE)
                .speed(0.1)
                .fixed_decimals(1),
        )
        .labelled_by(ui.label(labels::PREAMP).id)
        .on_hover_text(
            "Added to every gain found; the gain is still lowered so that the track's peak \
             stays at or under full scale",
        );
    });
    if *gain != before {
        out.push(Action::ReplayGain(*gain));
    }
}
