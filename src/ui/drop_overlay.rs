//! The drop target drawn over the whole window while files are dragged over it. Runs on the UI
//! thread; what is dropped is handled by the app (`App::handle_drops`).

use eframe::egui::{self, Color32};

/// What the overlay says.
pub const DROP_HINT: &str = "Drop to add to the queue";

/// Draws the overlay if files hover over the window.
pub fn show(ctx: &egui::Context) {
    let hovering = ctx.input(|i| !i.raw.hovered_files.is_empty());
    if !hovering {
        return;
    }
    let painter = ctx.layer_painter(egui::LayerId::new(
        egui::Order::Foreground,
        egui::Id::unique("drop-target"),
    ));
    let rect = ctx.content_rect().shrink(12.0);
    let accent = ctx.global_style().visuals.selection.bg_fill;
    painter.rect_filled(rect, 12.0, accent.gamma_multiply(0.25));
    painter.rect_stroke(
        rect,
        12.0,
        egui::Stroke::new(3.0, accent),
        egui::StrokeKind::Inside,
    );
    painter.text(
        rect.center(),
        egui::Align2::CENTER_CENTER,
        DROP_HINT,
        egui::FontId::proportional(28.0),
        Color32::WHITE,
    );
}
