//! The meters panel's two small charts, painted directly: the ring fill over the last 30 s
//! and the callback load as three bars on a log scale. Runs on the UI thread.
//!
//! Hand-painted rather than drawn with egui_plot, which did the job but laid out its axes,
//! grid, tick labels and hover machinery anew on every frame: the two plots cost about 3 ms of
//! a 15 ms frame under software GL (measured with `perf stat -e task-clock` over the playing
//! window), which is much of what the window spends while playing. These charts never zoom or
//! pan, so a few lines, bars and labels say the same for a fraction of the cost. Each pixel
//! column of the history keeps its lowest and highest point, so no dip is lost when there are
//! more frames than pixels.

use eframe::egui::{self, Align2, Color32, FontId, Pos2, Rect, Shape, Stroke, pos2};

/// Room for the y axis' labels, left of the chart (points).
const Y_LABELS_W: f32 = 44.0;
/// Room for the x axis' labels, under the chart (points).
const X_LABELS_H: f32 = 14.0;

/// A polyline through `points` (x, y), each already in screen space, reduced to the lowest
/// and highest point of each pixel column, in time order.
fn columns(points: impl Iterator<Item = Pos2>) -> Vec<Pos2> {
    let mut out: Vec<Pos2> = Vec::new();
    let mut col: Option<(i32, Pos2, Pos2)> = None; // (column, lowest, highest)
    let flush = |out: &mut Vec<Pos2>, (_, lo, hi): (i32, Pos2, Pos2)| {
        out.push(lo);
        if hi != lo {
            out.push(hi);
        }
    };
    for p in points {
        let c = p.x.floor() as i32;
        match &mut col {
            Some((k, lo, hi)) if *k == c => {
                // Screen y grows downwards: "lowest" is the largest y.
                if p.y > lo.y {
                    *lo = p;
                }
                if p.y < hi.y {
                    *hi = p;
                }
            }
            _ => {
                if let Some(done) = col.take() {
                    flush(&mut out, done);
                }
                col = Some((c, p, p));
            }
        }
    }
    if let Some(done) = col {
        flush(&mut out, done);
    }
    out
}

/// An underrun episode as the chart marks it: seconds relative to now, and its cause.
pub struct Mark<'a> {
    pub start_s: f64,
    pub end_s: f64,
    pub cause: &'a str,
}

/// What the ring history chart draws.
pub struct RingChart<'a> {
    /// (seconds relative to now, ring fill ms, lowest fill since the frame before ms)
    pub points: &'a [(f64, f64, f64)],
    pub capacity_ms: f64,
    pub span_s: f64,
    pub marks: &'a [Mark<'a>],
    pub fill: Color32,
    pub min: Color32,
    pub capacity: Color32,
    pub warn: Color32,
}

/// The frame around a chart's area and its faint grid; returns the area inside it.
fn frame(ui: &egui::Ui, outer: Rect) -> Rect {
    let area = Rect::from_min_max(
        pos2(outer.left() + Y_LABELS_W, outer.top() + 4.0),
        pos2(outer.right() - 2.0, outer.bottom() - X_LABELS_H),
    );
    let v = ui.visuals();
    let p = ui.painter();
    p.rect_filled(area, 0.0, v.extreme_bg_color);
    p.rect_stroke(
        area,
        0.0,
        v.widgets.noninteractive.bg_stroke,
        egui::StrokeKind::Inside,
    );
    area
}

fn small(ui: &egui::Ui) -> FontId {
    egui::TextStyle::Small.resolve(ui.style())
}

/// Paints the ring fill chart into `outer` (its labels included).
pub fn ring(ui: &egui::Ui, outer: Rect, c: &RingChart<'_>) {
    let area = frame(ui, outer);
    let font = small(ui);
    let text = ui.visuals().weak_text_color();
    let grid = Stroke::new(1.0, ui.visuals().faint_bg_color.gamma_multiply(2.0));
    let cap = c.capacity_ms.max(1.0) * 1.05;
    let x = |s: f64| area.left() + ((s + c.span_s) / c.span_s) as f32 * area.width();
    let y = |ms: f64| area.bottom() - (ms / cap).clamp(0.0, 1.0) as f32 * area.height();
    let p = ui.painter();
    // Every 10 s a faint line, labelled under the chart.
    let mut s = -c.span_s;
    while s <= 0.0 {
        let at = x(s);
        p.vline(at, area.y_range(), grid);
        let label = if s == 0.0 {
            "now".to_string()
        } else {
            format!("{s:.0} s")
        };
        p.text(
            pos2(at, area.bottom() + 1.0),
            Align2::CENTER_TOP,
            label,
            font.clone(),
            text,
        );
        s += 10.0;
    }
    p.text(
        pos2(area.left() - 4.0, area.bottom()),
        Align2::RIGHT_BOTTOM,
        "0 ms",
        font.clone(),
        text,
    );
    p.text(
        pos2(area.left() - 4.0, y(c.capacity_ms)),
        Align2::RIGHT_CENTER,
        format!("{:.0} ms", c.capacity_ms),
        font.clone(),
        text,
    );
    let clipped = p.with_clip_rect(area);
    clipped.hline(
        area.x_range(),
        y(c.capacity_ms),
        Stroke::new(1.0, c.capacity),
    );
    for (pick, colour, width) in [(2usize, c.min, 1.0), (1, c.fill, 1.5)] {
        let line = columns(
            c.points
                .iter()
                .map(|&(t, f, m)| pos2(x(t), y(if pick == 1 { f } else { m }))),
        );
        if line.len() >= 2 {
            clipped.add(Shape::line(line, Stroke::new(width, colour)));
        }
    }
    for (i, m) in c.marks.iter().enumerate() {
        let at = x(m.start_s);
        clipped.vline(at, area.y_range(), Stroke::new(2.0, c.warn));
        if m.end_s - m.start_s > 0.05 {
            clipped.vline(x(m.end_s), area.y_range(), Stroke::new(1.0, c.warn));
        }
        // The cause at the line's foot (a healthy ring keeps the lines up top), alternating
        // heights so neighbours stay apart; a recent one on the left of its line.
        let foot = y(c.capacity_ms * if i % 2 == 0 { 0.02 } else { 0.3 });
        let anchor = if m.start_s > -c.span_s / 2.0 {
            Align2::RIGHT_BOTTOM
        } else {
            Align2::LEFT_BOTTOM
        };
        clipped.text(pos2(at, foot), anchor, m.cause, font.clone(), c.warn);
    }
}

/// One bar of the callback load chart: its name and its share of the period (1.0 = all).
pub struct LoadBar<'a> {
    pub name: &'a str,
    pub load: f64,
}

/// Paints the callback load into `outer`: bars on a log scale from 10^`floor_log` % to
/// 10^`top_log` %, with a `warn` line at the whole period (100 %); a bar that reaches it is
/// `warn` too.
pub fn load(
    ui: &egui::Ui,
    outer: Rect,
    bars: &[LoadBar<'_>],
    floor_log: f64,
    top_log: f64,
    fill: Color32,
    warn: Color32,
) {
    let area = frame(ui, outer);
    let font = small(ui);
    let text = ui.visuals().weak_text_color();
    let log = |load: f64| (load * 100.0).max(1e-9).log10().clamp(floor_log, top_log);
    let y =
        |l: f64| area.bottom() - ((l - floor_log) / (top_log - floor_log)) as f32 * area.height();
    let p = ui.painter();
    // The decades labelled every other one: 0.01 %, 1 %, 100 %.
    let mut d = floor_log.ceil();
    while d <= top_log {
        let at = y(d);
        p.hline(
            area.x_range(),
            at,
            Stroke::new(1.0, ui.visuals().faint_bg_color.gamma_multiply(2.0)),
        );
        if (d - floor_log) as i64 % 2 == 0 {
            p.text(
                pos2(area.left() - 4.0, at),
                Align2::RIGHT_CENTER,
                format!("{} %", 10f64.powf(d)),
                font.clone(),
                text,
            );
        }
        d += 1.0;
    }
    let n = bars.len().max(1) as f32;
    let slot = area.width() / n;
    for (i, b) in bars.iter().enumerate() {
        let cx = area.left() + slot * (i as f32 + 0.5);
        let top = y(log(b.load));
        let bar = Rect::from_min_max(
            pos2(cx - slot * 0.3, top),
            pos2(cx + slot * 0.3, area.bottom()),
        );
        p.rect_filled(bar, 0.0, if b.load >= 1.0 { warn } else { fill });
        p.text(
            pos2(cx, (top - 1.0).max(area.top() + 10.0)),
            Align2::CENTER_BOTTOM,
            b.name,
            font.clone(),
            text,
        );
    }
    p.hline(area.x_range(), y(log(1.0)), Stroke::new(1.0, warn));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dip_between_two_points_in_one_pixel_column_is_kept() {
        // Three frames in the same column: full, empty, full. The empty one must survive.
        let pts = [
            pos2(10.1, 0.0),
            pos2(10.5, 100.0),
            pos2(10.9, 0.0),
            pos2(11.2, 5.0),
        ];
        let line = columns(pts.into_iter());
        assert!(line.iter().any(|p| p.y == 100.0), "{line:?}");
        assert!(line.iter().any(|p| p.y == 0.0), "{line:?}");
        assert_eq!(line.last(), Some(&pos2(11.2, 5.0)));
        assert_eq!(line.len(), 3);
    }

    #[test]
    fn one_point_per_column_passes_through_unchanged() {
        let pts: Vec<Pos2> = (0..50)
            .map(|i| pos2(i as f32, (i * 7 % 13) as f32))
            .collect();
        assert_eq!(columns(pts.iter().copied()), pts);
    }
}
