//! The transport bar (now playing, cover, prev / play-pause / stop / next, the seek slider with
//! elapsed and total time, volume) and the queue panel. Both only return what the user asked
//! for; the app turns that into engine commands.
//!
//! The position shown is the engine's `position_ms`: what the listener hears now, that is the
//! decoded position minus the output latency.

use std::time::Duration;

use eframe::egui::{self, RichText};

use super::format;
use super::labels;
use super::worker::QueueItem;
use crate::engine::{MeterSnapshot, PlayState};

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Play,
    Pause,
    Stop,
    Previous,
    Next,
    Seek(Duration),
    Volume(f32),
    PlayIndex(usize),
    ClearQueue,
    /// "Save queue…": write the queue as an M3U8 playlist.
    SaveQueue,
}

/// State the bar keeps between frames.
#[derive(Default)]
pub struct Transport {
    /// While the seek slider is held: where it is (s). The seek is sent on release, so a drag
    /// is one seek, not dozens.
    seek_drag: Option<f64>,
}

pub struct BarInputs<'a> {
    pub snap: &'a MeterSnapshot,
    pub now_playing: Option<&'a QueueItem>,
    pub cover: Option<&'a egui::TextureHandle>,
    pub volume: f32,
    pub queue_len: usize,
}

impl Transport {
    pub fn bar(&mut self, ui: &mut egui::Ui, b: &BarInputs<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        let s = b.snap;
        let playing = s.state == PlayState::Playing;
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            // Cover and title.
            let cover_px = 56.0;
            match b.cover {
                Some(t) => {
                    ui.add(egui::Image::new(t).fit_to_exact_size(egui::vec2(cover_px, cover_px)))
                        .on_hover_text("Cover art from the file's tags");
                }
                None => {
                    let (rect, _) = ui
                        .allocate_exact_size(egui::vec2(cover_px, cover_px), egui::Sense::hover());
                    ui.painter()
                        .rect_filled(rect, 4.0, ui.visuals().faint_bg_color);
                    ui.painter().text(
                        rect.center(),
                        egui::Align2::CENTER_CENTER,
                        "-",
                        egui::FontId::proportional(26.0),
                        ui.visuals().weak_text_color(),
                    );
                }
            }
            ui.vertical(|ui| {
                ui.set_width(260.0);
                match b.now_playing {
                    Some(item) => {
                        ui.add(
                            egui::Label::new(RichText::new(&item.title).strong().size(15.0))
                                .truncate(),
                        )
                        .on_hover_text(item.source.display().to_string());
                        ui.add(egui::Label::new(RichText::new(&item.artist).weak()).truncate());
                    }
                    None => {
                        ui.label(RichText::new("Nothing playing").weak());
                        if b.queue_len > 0 {
                            ui.label(RichText::new(format!("{} in the queue", b.queue_len)).weak());
                        }
                    }
                }
            });

            // Buttons.
            let has_queue = b.queue_len > 0;
            if ui
                .add_enabled(has_queue, egui::Button::new(labels::PREVIOUS))
                .on_hover_text("Previous track, or back to the start of this one after 3 s (P)")
                .clicked()
            {
                out.push(Action::Previous);
            }
            if playing {
                if ui
                    .button(labels::PAUSE)
                    .on_hover_text("Pause (Space)")
                    .clicked()
                {
                    out.push(Action::Pause);
                }
            } else if ui
                .add_enabled(has_queue, egui::Button::new(labels::PLAY))
                .on_hover_text("Play the queue, or resume (Space)")
                .clicked()
            {
                out.push(Action::Play);
            }
            if ui
                .add_enabled(
                    s.state != PlayState::Stopped,
                    egui::Button::new(labels::STOP),
                )
                .on_hover_text("Stop")
                .clicked()
            {
                out.push(Action::Stop);
            }
            if ui
                .add_enabled(has_queue, egui::Button::new(labels::NEXT))
                .on_hover_text("Next track (N)")
                .clicked()
            {
                out.push(Action::Next);
            }

            // Volume, at the right end.
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let mut v = b.volume;
                ui.label(labels::figure(
                    labels::VOLUME_VALUE,
                    &format!("{:.0} %", v * 100.0),
                ))
                .on_hover_text("Up / Down arrows change it by 5 %");
                let r = ui
                    .add(
                        egui::Slider::new(&mut v, 0.0..=1.0)
                            .show_value(false)
                            .text(labels::VOLUME_SLIDER),
                    )
                    .on_hover_text("Volume (Up / Down arrows)");
                if r.changed() {
                    out.push(Action::Volume(v));
                }
            });
        });

        // Seek slider with elapsed and total time.
        ui.horizontal(|ui| {
            let total_s = s.duration_ms.map(|d| d / 1000.0);
            let heard_s = s.position_ms / 1000.0;
            let shown_s = self.seek_drag.unwrap_or(heard_s);
            ui.label(
                RichText::new(labels::figure(
                    labels::POSITION,
                    &format::clock_ms(shown_s * 1000.0),
                ))
                .monospace(),
            )
            .on_hover_text("What you hear now: the decoded position minus the output latency");
            let total_text = total_s
                .map(|t| format::clock_ms(t * 1000.0))
                .unwrap_or_else(|| "–:––".into());
            let right_w = 64.0;
            let width = (ui.available_width() - right_w).max(80.0);
            ui.spacing_mut().slider_width = width;
            let mut v = shown_s;
            let max = total_s.unwrap_or(0.0).max(0.001);
            let r = ui.add_enabled(
                total_s.is_some() && s.track.is_some(),
                egui::Slider::new(&mut v, 0.0..=max)
                    .show_value(false)
                    .trailing_fill(true),
            );
            r.widget_info(|| egui::WidgetInfo::slider(true, v, labels::SEEK_SLIDER));
            let r = r.on_hover_text("Seek (Left / Right arrows jump 5 s)");
            if r.is_pointer_button_down_on() {
                self.seek_drag = Some(v);
            } else if let Some(to) = self.seek_drag.take() {
                out.push(Action::Seek(Duration::from_secs_f64(to.max(0.0))));
            } else if r.changed() {
                // Keyboard or assistive technology.
                out.push(Action::Seek(Duration::from_secs_f64(v.max(0.0))));
            }
            ui.label(RichText::new(total_text).monospace())
                .on_hover_text("Length of the track");
        });
        ui.add_space(2.0);
        out
    }
}

/// The queue: every entry in order, the one heard now marked; double-click to play one.
pub fn queue_panel(ui: &mut egui::Ui, queue: &[QueueItem], current: Option<usize>) -> Vec<Action> {
    let mut out = Vec::new();
    ui.heading("Queue");
    // The buttons on their own row: beside the heading, a narrow panel had them cover it.
    ui.horizontal_wrapped(|ui| {
        if ui
            .add_enabled(!queue.is_empty(), egui::Button::new(labels::SAVE_QUEUE))
            .on_hover_text("Save the queue as an M3U8 playlist, with the files' own paths")
            .clicked()
        {
            out.push(Action::SaveQueue);
        }
        if ui
            .add_enabled(!queue.is_empty(), egui::Button::new(labels::CLEAR_QUEUE))
            .on_hover_text("Stop and empty the queue (the library keeps the files)")
            .clicked()
        {
            out.push(Action::ClearQueue);
        }
    });
    if queue.is_empty() {
        ui.label(RichText::new("Empty. Drop files here, or double-click a library entry.").weak());
        return out;
    }
    let row_h = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    egui::ScrollArea::vertical()
        .id_salt("queue-scroll")
        .auto_shrink(false)
        .show_rows(ui, row_h, queue.len(), |ui, range| {
            for i in range {
                let item = &queue[i];
                let here = current == Some(i);
                let d = item
                    .duration_secs
                    .map(|s| format::clock_ms(s * 1000.0))
                    .unwrap_or_default();
                let text = format!(
                    "{}{}. {}  {}",
                    if here { "> " } else { "" },
                    i + 1,
                    item.title,
                    d
                );
                let r = ui
                    .add(egui::Button::selectable(here, text).truncate())
                    .on_hover_text(format!("{}\nDouble-click to play", item.source.display()));
                if r.double_clicked() {
                    out.push(Action::PlayIndex(i));
                }
            }
        });
    out
}
