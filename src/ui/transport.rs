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
use crate::engine::analysis::Waveform;
use crate::engine::{MeterSnapshot, PlayState, Repeat};

/// Height of the seek bar when it shows a waveform (points).
const WAVEFORM_BAR_HEIGHT: f32 = 30.0;

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
    /// Queue entry at this index: take it out, move it to `to`, or play it next.
    Remove(usize),
    Move {
        from: usize,
        to: usize,
    },
    PlayNext(usize),
    Shuffle(bool),
    Repeat(Repeat),
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
    /// The heard track's waveform summary from the library's loudness scan, when it has one:
    /// drawn behind the seek slider.
    pub waveform: Option<&'a Waveform>,
    /// The heard track's bit-perfect verdict (`Engine::bit_perfect`), once it is open.
    pub bit_perfect: Option<(bool, Option<&'static str>)>,
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
                        if let Some((ok, reason)) = b.bit_perfect {
                            bit_perfect_badge(ui, ok, reason);
                        }
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
            out.extend(modes(ui, s));

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
            // The waveform goes behind the slider: its place in the paint order is taken now,
            // its shape set once the slider's rectangle is known.
            let behind = b.waveform.map(|_| {
                ui.spacing_mut().interact_size.y = WAVEFORM_BAR_HEIGHT;
                ui.painter().add(egui::Shape::Noop)
            });
            let r = ui.add_enabled(
                total_s.is_some() && s.track.is_some(),
                egui::Slider::new(&mut v, 0.0..=max)
                    .show_value(false)
                    .trailing_fill(true),
            );
            r.widget_info(|| egui::WidgetInfo::slider(true, v, labels::SEEK_SLIDER));
            if let (Some(w), Some(idx)) = (b.waveform, behind) {
                let heard = (heard_s / max).clamp(0.0, 1.0) as f32;
                ui.painter().set(idx, waveform_shape(ui, r.rect, w, heard));
                // The heard position over it: a line across the bar.
                let x = r.rect.left() + heard * r.rect.width();
                ui.painter().line_segment(
                    [egui::pos2(x, r.rect.top()), egui::pos2(x, r.rect.bottom())],
                    egui::Stroke::new(2.0, ui.visuals().strong_text_color()),
                );
            }
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

/// "bit-perfect" (in the accent colour) or "not bit-perfect: REASON": the same figure as the
/// metrics summary's `bit_perfect`, for screen readers a status named "Bit-perfect".
fn bit_perfect_badge(ui: &mut egui::Ui, ok: bool, reason: Option<&str>) {
    let text = labels::bit_perfect_text(ok, reason);
    let shown = if ok {
        RichText::new(&text)
            .small()
            .color(ui.visuals().selection.stroke.color)
    } else {
        RichText::new(&text).small().weak()
    };
    let r = ui.add(egui::Label::new(shown).sense(egui::Sense::hover()));
    r.widget_info(|| {
        let mut info = egui::WidgetInfo::labeled(egui::Role::Status, true, labels::BIT_PERFECT);
        info.current_text_value = Some(text.clone());
        info
    });
    r.on_hover_text(
        "Every sample sent to the device equals the decoded sample, unless: resampled (the \
         file's rate is not the device's), volume (below 100 %), gain (ReplayGain or a codec \
         gain) or format (the device's format cannot hold the file's samples)",
    );
}

/// One vertical stroke per pixel column of `rect`, from the min to the max of the summary's
/// columns under it (scaled to the track's peak); the part already heard (left of `heard`,
/// 0..=1) in the accent colour.
fn waveform_shape(ui: &egui::Ui, rect: egui::Rect, w: &Waveform, heard: f32) -> egui::Shape {
    let n = w.columns.len();
    let px = rect.width().max(1.0) as usize;
    if n == 0 {
        return egui::Shape::Noop;
    }
    let mid = rect.center().y;
    // Scaled to the track's own peak, so a quiet track shows its shape too (not below 1/20 of
    // full scale, where the shape would be noise).
    let peak = w.columns.iter().fold(0.05f32, |p, c| p.max(-c.0).max(c.1));
    let half = rect.height() / 2.0 / peak;
    let played = ui.visuals().selection.bg_fill.gamma_multiply(0.8);
    let ahead = ui.visuals().weak_text_color().gamma_multiply(0.6);
    // One mesh of pixel-wide rectangles: a thousand line shapes each went through the
    // tessellator (with anti-aliasing feathers) on every frame.
    let mut mesh = egui::Mesh::default();
    mesh.reserve_triangles(2 * px);
    mesh.reserve_vertices(4 * px);
    for x in 0..px {
        let a = x * n / px;
        let b = ((x + 1) * n / px).clamp(a + 1, n);
        let (lo, hi) = w.columns[a..b]
            .iter()
            .fold((0f32, 0f32), |(l, h), c| (l.min(c.0), h.max(c.1)));
        let left = rect.left() + x as f32;
        let colour = if (x as f32) < heard * px as f32 {
            played
        } else {
            ahead
        };
        // At least a hairline, so silence still shows where the track is.
        let (top, bottom) = (mid - (hi * half).max(0.5), mid - (lo * half).min(-0.5));
        mesh.add_colored_rect(
            egui::Rect::from_min_max(egui::pos2(left, top), egui::pos2(left + 1.0, bottom)),
            colour,
        );
    }
    egui::Shape::mesh(mesh)
}

/// The shuffle toggle and the repeat button (off → all → one → off).
fn modes(ui: &mut egui::Ui, s: &MeterSnapshot) -> Option<Action> {
    let mut out = None;
    if ui
        .add(egui::Button::selectable(s.shuffle, labels::SHUFFLE))
        .on_hover_text("Play the queue in a random order, every track once before any repeats")
        .clicked()
    {
        out = Some(Action::Shuffle(!s.shuffle));
    }
    if ui
        .add(egui::Button::selectable(
            s.repeat != Repeat::Off,
            labels::repeat_text(s.repeat),
        ))
        .on_hover_text("Repeat: off, all (the queue) or one (this track); click for the next")
        .clicked()
    {
        out = Some(Action::Repeat(s.repeat.cycled()));
    }
    out
}

/// One queue entry's controls (right to left: remove, play next, down, up), each named for
/// screen readers after what it does and the entry's title. Words and "×", not arrow glyphs:
/// egui's default fonts have no arrows.
fn entry_controls(ui: &mut egui::Ui, i: usize, len: usize, title: &str) -> Option<Action> {
    let mut out = None;
    let control = |ui: &mut egui::Ui, glyph: &str, name: &str, enabled: bool, hover: &str| {
        let said = labels::entry_control(name, title);
        let r = ui
            .add_enabled(enabled, egui::Button::new(glyph).small())
            .on_hover_text(hover);
        r.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, enabled, &said));
        r.clicked()
    };
    if control(ui, "×", labels::REMOVE_ENTRY, true, "Remove from the queue") {
        out = Some(Action::Remove(i));
    }
    if control(
        ui,
        "»",
        labels::PLAY_NEXT,
        true,
        "Play next, after the track heard now",
    ) {
        out = Some(Action::PlayNext(i));
    }
    if control(ui, "Down", labels::MOVE_DOWN, i + 1 < len, "Move down") {
        out = Some(Action::Move { from: i, to: i + 1 });
    }
    if control(ui, "Up", labels::MOVE_UP, i > 0, "Move up") {
        out = Some(Action::Move { from: i, to: i - 1 });
    }
    out
}

/// What a queue entry carries while it is dragged: its index.
struct QueueDrag(usize);

/// Drag and drop within the queue: entry `i` (`r`, its row) is dragged, or something dragged
/// is over it (a line where it would land) or dropped on it (it moves there).
fn drag_to_move(ui: &egui::Ui, r: &egui::Response, i: usize) -> Option<Action> {
    r.dnd_set_drag_payload(QueueDrag(i));
    let from = r.dnd_hover_payload::<QueueDrag>()?.0;
    if from != i {
        let y = if from < i {
            r.rect.bottom()
        } else {
            r.rect.top()
        };
        let stroke = egui::Stroke::new(2.0, ui.visuals().selection.stroke.color);
        ui.painter().hline(r.rect.x_range(), y, stroke);
    }
    let from = r.dnd_release_payload::<QueueDrag>()?.0;
    (from != i).then_some(Action::Move { from, to: i })
}

/// The queue: every entry in order, the one heard now marked; double-click to play one, drag
/// one to move it. Each entry has its own controls: move up, move down, play next, remove.
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
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    out.extend(entry_controls(ui, i, queue.len(), &item.title));
                    let r = ui
                        .add(
                            egui::Button::selectable(here, text)
                                .truncate()
                                .sense(egui::Sense::click_and_drag()),
                        )
                        .on_hover_text(format!(
                            "{}\nDouble-click to play; drag to move",
                            item.source.display()
                        ));
                    if r.double_clicked() {
                        out.push(Action::PlayIndex(i));
                    }
                    out.extend(drag_to_move(ui, &r, i));
                });
            }
        });
    out
}
