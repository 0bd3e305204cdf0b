//! The meters panel: what the audio pipeline is doing, live. Every figure is a field of the
//! engine's own [`MeterSnapshot`] for this frame (taken once per frame by the app), shown as
//! `CAPTION: VALUE` with a hover text that says what it measures. Nothing here is computed
//! from anything else than that snapshot, the engine's underrun episodes, and the cache's
//! stats.
//!
//! For screen readers (accesskit), every bar is a progress indicator named after its meter,
//! with its value, its range and that as words ("Ring fill", 189 of 0..200, "189 ms of
//! 200 ms"): see [`expose`]. No text is drawn over a bar; the plot's legend sits under it.

use std::collections::VecDeque;

use eframe::egui::{self, Color32, RichText};

use super::charts;
use super::format;
use super::labels::{self, figure};
use crate::cache::Stats;
use crate::engine::levels::{PEAK_HOLD_MS, RMS_WINDOW_MS};
use crate::engine::{Episode, MeterSnapshot, PlayState};

/// How much ring-fill history the plot shows.
pub const HISTORY_SECS: f64 = 30.0;

/// Levels below this read as an empty bar.
const LEVEL_FLOOR_DBFS: f64 = -60.0;
/// The level bars' right end: above full scale, so a true peak over 0 dBTP shows.
const LEVEL_CEILING_DB: f64 = 3.0;
/// The level bars' colours: RMS, sample peak, true-peak tick, hold marker.
const RMS_FILL: Color32 = Color32::from_rgb(0x4f, 0x9d, 0x69);
const PEAK_FILL: Color32 = Color32::from_rgb(0x9b, 0xd1, 0x8f);
const TRUE_PEAK_TICK: Color32 = Color32::from_rgb(0xf2, 0xb6, 0x56);
const HOLD_TICK: Color32 = Color32::WHITE;

const WARN: Color32 = Color32::from_rgb(0xe0, 0x5a, 0x47);
/// The plot's lines: ring fill, lowest between frames, capacity.
const FILL_LINE: Color32 = Color32::from_rgb(0xf2, 0xb6, 0x56);
const MIN_LINE: Color32 = Color32::from_rgb(0x6f, 0x9f, 0xd8);
const CAPACITY_LINE: Color32 = Color32::GRAY;
/// The plot's legend, under it: (colour, what).
const LEGEND: [(Color32, &str); 4] = [
    (FILL_LINE, "ring fill"),
    (MIN_LINE, "lowest between frames"),
    (CAPACITY_LINE, "capacity"),
    (WARN, "underrun, with its cause"),
];

/// The ring fill over the last [`HISTORY_SECS`], one point per painted frame, and the underrun
/// episodes in that time (re-read from the engine only when its underrun count changes).
#[derive(Default)]
pub struct History {
    /// (engine clock s, ring fill ms, lowest fill since the previous frame ms)
    points: VecDeque<(f64, f64, f64)>,
    episodes: Vec<Episode>,
    underruns_seen: Option<u64>,
    /// The underrun count moved, but the episode is reported only once it ends: until an
    /// episode newer than this one (the newest known then) arrives, look again each frame.
    awaiting_after: Option<Option<u64>>,
}

impl History {
    /// Adds this frame's figures; `episodes` is called only when the underrun count moved,
    /// and then each frame until the new episode has arrived.
    pub fn push(
        &mut self,
        now_s: f64,
        snap: &MeterSnapshot,
        episodes: impl FnOnce() -> Vec<Episode>,
    ) {
        if snap.state == PlayState::Playing || snap.ring_fill_frames > 0 {
            self.points
                .push_back((now_s, snap.ring_fill_ms, snap.ring_min_fill_ms));
        }
        while self
            .points
            .front()
            .is_some_and(|p| p.0 < now_s - HISTORY_SECS)
        {
            self.points.pop_front();
        }
        let newest = |e: &[Episode]| e.last().map(|e| e.start_ns);
        if self.underruns_seen != Some(snap.underruns) {
            if self.underruns_seen.is_some() {
                self.awaiting_after = Some(newest(&self.episodes));
            }
            self.underruns_seen = Some(snap.underruns);
        } else if self.awaiting_after.is_none() {
            return;
        }
        self.episodes = episodes();
        if self.awaiting_after != Some(newest(&self.episodes)) {
            self.awaiting_after = None;
        }
    }
}

/// Everything the panel shows besides the snapshot.
pub struct MeterInputs<'a> {
    pub snap: &'a MeterSnapshot,
    pub history: &'a History,
    /// Engine clock now, in seconds (the clock episodes are stamped with).
    pub now_s: f64,
    pub cache: Option<&'a Stats>,
    /// Why there is no output, if there is none.
    pub output_problem: Option<&'a str>,
}

fn row(ui: &mut egui::Ui, caption: &str, value: String, hover: &str) {
    ui.label(figure(caption, &value)).on_hover_text(hover);
}

/// A meter's bar as assistive technology reads it: `name`, `value` within `range`, and `words`
/// (the value as the panel says it, e.g. "189 ms of 200 ms").
fn expose(
    ui: &egui::Ui,
    bar: &egui::Response,
    name: &str,
    value: f64,
    range: std::ops::RangeInclusive<f64>,
    words: String,
) {
    bar.widget_info(|| egui::WidgetInfo {
        value: Some(value),
        ..egui::WidgetInfo::labeled(egui::Role::ProgressIndicator, true, name)
    });
    ui.ctx().accesskit_node_builder(bar.id, |node| {
        node.set_min_numeric_value(*range.start());
        node.set_max_numeric_value(*range.end());
        node.set_value(words);
    });
}

/// What the listener asked of the engine through the panel this frame.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MeterActions {
    /// The clip indicator was clicked: clear it.
    pub clear_clip: bool,
}

pub fn show(ui: &mut egui::Ui, m: &MeterInputs<'_>) -> MeterActions {
    let s = m.snap;
    let mut actions = MeterActions::default();
    egui::ScrollArea::vertical()
        .id_salt("meters-scroll")
        .show(ui, |ui| {
            ui.heading(labels::METERS);
            if let Some(why) = m.output_problem {
                ui.colored_label(WARN, format!("No audio output: {why}"))
                    .on_hover_text(
                        "reel keeps trying to open the output every 200 ms and plays as soon \
                         as it can; choose another device in Settings if this one is gone.",
                    );
            }

            // Ring fill: bar and history.
            ui.add_space(4.0);
            let frac = if s.ring_capacity_ms > 0.0 {
                (s.ring_fill_ms / s.ring_capacity_ms).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let fill_words = format!(
                "{} of {}",
                format::ms(s.ring_fill_ms),
                format::ms(s.ring_capacity_ms)
            );
            row(
                ui,
                labels::RING_FILL,
                fill_words.clone(),
                "Decoded audio waiting in the ring between the decoder and the audio callback \
                 (frames in the ring ÷ device rate). When it reaches zero while playing, the \
                 callback has nothing to play: an underrun.",
            );
            let bar = ui.add(egui::ProgressBar::new(frac as f32).desired_height(10.0));
            expose(
                ui,
                &bar,
                labels::RING_FILL,
                s.ring_fill_ms.round(),
                0.0..=s.ring_capacity_ms.round(),
                fill_words,
            );
            bar.on_hover_text(format!(
                "{} frames of {} (lowest since the previous frame: {})",
                s.ring_fill_frames,
                s.ring_capacity_frames,
                format::ms(s.ring_min_fill_ms)
            ));
            history_plot(ui, m);

            // Latency breakdown.
            ui.add_space(6.0);
            ui.strong("Latency: ring + device + resampler = total");
            ui.horizontal_wrapped(|ui| {
                row(
                    ui,
                    labels::RING_LATENCY,
                    format::ms(s.ring_fill_ms),
                    "Audio decoded but not yet handed to the device: the ring fill now.",
                );
                ui.label("+");
                let device = if s.server_buffer_ms > 0.0 {
                    format!(
                        "{} (server buffer {})",
                        format::ms(s.device_latency_ms),
                        format::ms(s.server_buffer_ms)
                    )
                } else {
                    format::ms(s.device_latency_ms)
                };
                row(
                    ui,
                    labels::DEVICE_LATENCY,
                    device,
                    "How far ahead of the loudspeaker the audio callback writes, as the host \
                     reports it (cpal: playback - callback timestamp). On a sound server this is \
                     mostly the server's own buffer behind reel's stream, which reel keeps at \
                     the figure in brackets so that a short stall of reel is never heard; a \
                     pause or seek replaces what it holds, so it delays neither.",
                );
                ui.label("+");
                row(
                    ui,
                    labels::RESAMPLER_DELAY,
                    format::ms(s.resampler_delay_ms),
                    "The resampler's filter delay (zero when the file already has the device's \
                     rate).",
                );
                ui.label("=");
                row(
                    ui,
                    labels::TOTAL_LATENCY,
                    format::ms(s.output_latency_ms),
                    "From \"decoded\" to \"heard\". The position shown is the decoded position \
                     minus this, so it is what you hear now.",
                );
            });
            row(
                ui,
                "Device buffer",
                format!(
                    "{} frames ({})",
                    s.device_buffer_frames,
                    format::ms(s.device_buffer_ms)
                ),
                "Frames the device asks for in each callback (the period).",
            );

            // Health.
            ui.add_space(6.0);
            ui.strong("Health");
            let under = figure(
                labels::UNDERRUNS,
                &format!(
                    "{} ({} silent frames; device xruns {})",
                    s.underruns, s.silent_frames, s.device_xruns
                ),
            );
            let under_text = if s.underruns > 0 {
                RichText::new(under).color(WARN)
            } else {
                RichText::new(under)
            };
            ui.label(under_text).on_hover_text(
                "Underrun episodes: runs of callbacks that found the ring short and played \
                 silence, and the silent frames inserted (start-up priming and the deliberate \
                 flush at seek and stop are not counted). Device xruns are the ones the host \
                 itself reported. Episodes are marked red on the plot above.",
            );
            row(
                ui,
                labels::CALLBACK_LOAD,
                format!(
                    "last {} · p99 {} · max {} of the period",
                    format::percent(s.callback_load_last),
                    format::percent(s.callback_load_p99),
                    format::percent(s.callback_load_max)
                ),
                "Time spent in the audio callback ÷ the period it must fill (frames ÷ rate), \
                 over the recent callbacks. At 100 % the callback takes as long as the audio it \
                 produces and the device starves.",
            );
            let bar = ui.add(
                egui::ProgressBar::new(s.callback_load_max.clamp(0.0, 1.0) as f32)
                    .desired_height(6.0),
            );
            expose(
                ui,
                &bar,
                labels::CALLBACK_LOAD,
                (s.callback_load_max * 100.0).round(),
                0.0..=100.0,
                format!("max {} of the period", format::percent(s.callback_load_max)),
            );
            bar.on_hover_text(format!(
                "max {} of 100 %; callback time last {:.0} µs, p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
                format::percent(s.callback_load_max),
                s.callback_last_us,
                s.callback_p50_us,
                s.callback_p99_us,
                s.callback_max_us
            ));
            callback_load_plot(ui, s);
            row(
                ui,
                labels::DECODE_SPEED,
                format!("{:.0}× realtime", s.decode_speed),
                "Seconds of audio decoded (and resampled) per second the decoder spent working, \
                 not counting the time it waits on a full ring.",
            );
            row(
                ui,
                labels::GAIN,
                if s.gain_source == "none" || s.gain_source.is_empty() {
                    "none".into()
                } else {
                    format!("{:+.1} dB ({})", s.gain_db, s.gain_source)
                },
                "The ReplayGain applied to the track heard, in the decoder thread, and where it \
                 came from: the file's tags, reel's loudness scan, or none (Settings, \
                 Loudness).",
            );
            row(
                ui,
                labels::TTFA,
                s.time_to_first_audio_ms
                    .map(format::ms)
                    .unwrap_or_else(|| "—".into()),
                "From the last play, seek or resume request to the first audio callback that \
                 wrote its sound.",
            );

            // Formats and device.
            ui.add_space(6.0);
            ui.strong("Format and device");
            let file = if s.file_rate > 0 {
                format!("{} Hz {}", s.file_rate, s.codec)
            } else {
                "—".into()
            };
            let device = if s.device_rate > 0 {
                format!(
                    "{} Hz {} × {} ch",
                    s.device_rate, s.sample_format, s.device_channels
                )
            } else {
                "—".into()
            };
            row(
                ui,
                "Format",
                format!("{file} -> {device}"),
                "The file's rate and codec, and the format the device plays (reel resamples \
                 and converts between them).",
            );
            row(
                ui,
                "Output",
                if s.device.is_empty() {
                    "none".into()
                } else {
                    format!("{} · {}", s.host, s.device)
                },
                "The audio host (PulseAudio protocol or ALSA) and the device playing.",
            );
            if !s.audio_thread.is_empty() {
                row(
                    ui,
                    "Audio thread",
                    s.audio_thread.clone(),
                    "How the operating system schedules the audio callback's thread.",
                );
            }

            // Levels.
            ui.add_space(6.0);
            levels(ui, s, &mut actions);

            // Cache.
            ui.add_space(6.0);
            ui.strong("Cache");
            match m.cache {
                Some(c) => {
                    row(
                        ui,
                        "Cache",
                        format!(
                            "{} entries · {} of {} · hits {} · misses {}",
                            c.entries,
                            format::bytes(c.bytes),
                            format::bytes(c.max_size_bytes),
                            c.hits,
                            c.misses
                        ),
                        "Files held in reel's cache, their size against the cap (least \
                         recently played are evicted above it), and how many additions found \
                         the file already cached (hits) or had to copy it (misses).",
                    );
                }
                None => {
                    ui.label("Cache: —");
                }
            }
        });
    actions
}

/// The clip indicator, then one row per channel: a bar (RMS filled, sample peak lighter
/// beyond it, a true-peak tick, a hold marker) with its figures beside it. Each figure is
/// also its own accessible meter ("True peak L", -0.1 dBTP).
fn levels(ui: &mut egui::Ui, s: &MeterSnapshot, actions: &mut MeterActions) {
    ui.horizontal(|ui| {
        ui.strong(format!(
            "Levels (RMS over {RMS_WINDOW_MS} ms, hold {:.1} s)",
            PEAK_HOLD_MS as f64 / 1000.0
        ))
        .on_hover_text(levels_help());
        if clip_indicator(ui, s.clipped).clicked() {
            actions.clear_clip = true;
        }
    });
    let n = s.peak_dbfs.len();
    for c in 0..n {
        let at = |v: &Vec<f64>| v.get(c).copied().unwrap_or(-200.0);
        let ch = Channel {
            name: channel_name(c, n),
            peak: at(&s.peak_dbfs),
            true_peak: at(&s.true_peak_dbtp),
            rms: at(&s.rms_dbfs),
            hold: at(&s.true_peak_hold_dbtp),
        };
        level_row(ui, &ch);
    }
}

fn levels_help() -> String {
    format!(
        "Measured as the audio is decoded, shown when it is heard. \
         Sample peak: the largest sample since the previous frame (dBFS, light bar). \
         True peak: the largest value of the wave between the samples, 4x oversampled as \
         ITU-R BS.1770-4 defines it (dBTP, orange tick); it can exceed the sample peak. \
         RMS: the root mean square over the last {RMS_WINDOW_MS} ms (dBFS, dark bar). \
         Hold: the highest true peak of the last {PEAK_HOLD_MS} ms (white tick). \
         The red line is full scale (0 dB). Clip lights when a sample reaches full scale and \
         stays lit until clicked."
    )
}

/// One channel's figures, in dB (the engine reports -200 for silence).
struct Channel {
    name: String,
    peak: f64,
    true_peak: f64,
    rms: f64,
    hold: f64,
}

/// The clip indicator: a button that is red once a sample reached full scale; a click clears
/// it. Accessible as "Clip", with the value "clipped" or "not clipped".
fn clip_indicator(ui: &mut egui::Ui, clipped: bool) -> egui::Response {
    let (text, fill) = if clipped {
        (
            RichText::new(labels::CLIP).strong().color(Color32::WHITE),
            WARN,
        )
    } else {
        (RichText::new(labels::CLIP).weak(), Color32::TRANSPARENT)
    };
    let button = ui.add(egui::Button::new(text).fill(fill).small());
    let state = if clipped { "clipped" } else { "not clipped" };
    ui.ctx()
        .accesskit_node_builder(button.id, |node| node.set_value(state));
    button.on_hover_text(
        "Lights (and stays lit) when a sample heard reached full scale (|x| ≥ 1.0 after the \
         volume): the converter cannot go beyond it, so the wave was clipped. Click to clear.",
    )
}

/// Where `db` falls on a level bar from `LEVEL_FLOOR_DBFS` to `LEVEL_CEILING_DB`.
fn level_x(rect: egui::Rect, db: f64) -> f32 {
    let f = ((db - LEVEL_FLOOR_DBFS) / (LEVEL_CEILING_DB - LEVEL_FLOOR_DBFS)).clamp(0.0, 1.0);
    rect.left() + rect.width() * f as f32
}

fn level_row(ui: &mut egui::Ui, ch: &Channel) {
    let words = format!(
        "peak {} · TP {} · RMS {}",
        format::dbfs(ch.peak),
        format::dbtp(ch.true_peak),
        format::dbfs(ch.rms)
    );
    ui.horizontal(|ui| {
        let caption = ui.label(RichText::new(&ch.name).monospace());
        let (rect, bar) = ui.allocate_exact_size(egui::vec2(120.0, 10.0), egui::Sense::hover());
        let p = ui.painter();
        p.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
        let span =
            |db: f64| egui::Rect::from_min_max(rect.min, egui::pos2(level_x(rect, db), rect.max.y));
        p.rect_filled(span(ch.peak), 2.0, PEAK_FILL);
        p.rect_filled(span(ch.rms), 2.0, RMS_FILL);
        let full_scale = level_x(rect, 0.0);
        p.vline(full_scale, rect.y_range(), egui::Stroke::new(1.0, WARN));
        for (db, colour) in [(ch.true_peak, TRUE_PEAK_TICK), (ch.hold, HOLD_TICK)] {
            if db > LEVEL_FLOOR_DBFS {
                p.vline(
                    level_x(rect, db),
                    rect.y_range(),
                    egui::Stroke::new(2.0, colour),
                );
            }
        }
        // The figures beside the bar, not over it: over a bar they were unreadable where
        // the bar's fill ended under them.
        ui.label(RichText::new(&words).monospace().small())
            .labelled_by(caption.id);
        let rounded = |db: f64| (db.max(LEVEL_FLOOR_DBFS) * 10.0).round() / 10.0;
        expose(
            ui,
            &bar,
            &format!("{} {}", labels::LEVEL, ch.name),
            rounded(ch.rms),
            LEVEL_FLOOR_DBFS..=0.0,
            words.clone(),
        );
        let figures = [
            (labels::SAMPLE_PEAK, ch.peak, format::dbfs(ch.peak)),
            (labels::TRUE_PEAK, ch.true_peak, format::dbtp(ch.true_peak)),
            (labels::PEAK_HOLD, ch.hold, format::dbtp(ch.hold)),
        ];
        for (what, db, said) in figures {
            let name = format!("{what} {}", ch.name);
            let node = ui.interact(rect, bar.id.with(what), egui::Sense::hover());
            expose(
                ui,
                &node,
                &name,
                rounded(db),
                LEVEL_FLOOR_DBFS..=LEVEL_CEILING_DB,
                said,
            );
        }
        bar.on_hover_text(levels_help());
    });
}

fn channel_name(c: usize, n: usize) -> String {
    match (n, c) {
        (1, _) => "M".into(),
        (2, 0) => "L".into(),
        (2, 1) => "R".into(),
        _ => format!("{}", c + 1),
    }
}

/// The callback-load plot's scale: log10 of % of the period, from 0.01 % to the period.
const LOAD_LOG_FLOOR: f64 = -2.0;
const LOAD_LOG_PERIOD: f64 = 2.0;

/// The callback's p50, p99 and max duration as bars, in % of the period it must fill, on a
/// log scale from 0.01 % up to the period itself (100 %, the red line): a healthy callback
/// takes a small fraction, and a log scale shows both it and how far it is from the line.
/// Accessible as [`labels::CALLBACK_LOAD_PLOT`] with the three figures as its value.
fn callback_load_plot(ui: &mut egui::Ui, s: &MeterSnapshot) {
    let figures = [
        ("p50", s.callback_load_p50, s.callback_p50_us),
        ("p99", s.callback_load_p99, s.callback_p99_us),
        ("max", s.callback_load_max, s.callback_max_us),
    ];
    let words = format!(
        "{} of a {} period",
        figures
            .iter()
            .map(|(name, load, us)| format!("{name} {} ({us:.0} µs)", format::percent(*load)))
            .collect::<Vec<_>>()
            .join(" · "),
        format::ms(s.device_buffer_ms)
    );
    ui.horizontal(|ui| {
        let (area, plot) = ui.allocate_exact_size(egui::vec2(170.0, 80.0), egui::Sense::hover());
        let bars = figures.map(|(name, load, _)| charts::LoadBar { name, load });
        charts::load(
            ui,
            area,
            &bars,
            LOAD_LOG_FLOOR,
            LOAD_LOG_PERIOD + 0.3,
            FILL_LINE,
            WARN,
        );
        plot.widget_info(|| egui::WidgetInfo {
            value: Some((s.callback_load_max * 1000.0).round() / 10.0),
            ..egui::WidgetInfo::labeled(egui::Role::Image, true, labels::CALLBACK_LOAD_PLOT)
        });
        ui.ctx()
            .accesskit_node_builder(plot.id, |node| node.set_value(words.clone()));
        plot.on_hover_text(
            "How long the audio callback took, as a share of the period it fills (frames ÷ \
             rate), over the recent callbacks: the median (p50), the 99th percentile and the \
             longest, on a log scale from 0.01 %. The red line is the whole period (100 %): \
             a callback that long starves the device.",
        );
        // The figures beside the plot, not over it.
        ui.vertical(|ui| {
            for (name, load, us) in figures {
                ui.label(
                    RichText::new(format!("{name} {} · {us:.0} µs", format::percent(load)))
                        .monospace()
                        .small(),
                );
            }
            ui.label(
                RichText::new(format!("of {}", format::ms(s.device_buffer_ms)))
                    .monospace()
                    .small(),
            );
        });
    });
}

/// The episodes that reach into the last [`HISTORY_SECS`], relative to `now` (s).
fn recent_episodes(episodes: &[Episode], now: f64) -> Vec<charts::Mark<'static>> {
    episodes
        .iter()
        .map(|e| {
            let start_s = e.start_ns as f64 / 1e9 - now;
            charts::Mark {
                start_s,
                end_s: start_s + e.duration_ns as f64 / 1e9,
                cause: e.cause.cause(),
            }
        })
        .filter(|e| e.end_s >= -HISTORY_SECS)
        .collect()
}

/// "2 underruns: starved 12.3 s ago (21 ms) · server 3.1 s ago (43 ms)".
fn episodes_words(episodes: &[charts::Mark<'_>]) -> String {
    if episodes.is_empty() {
        return "no underrun in the last 30 s".into();
    }
    let each: Vec<String> = episodes
        .iter()
        .map(|e| {
            format!(
                "{} {:.1} s ago ({})",
                e.cause,
                -e.start_s,
                format::ms((e.end_s - e.start_s) * 1000.0)
            )
        })
        .collect();
    let n = episodes.len();
    let noun = if n == 1 { "underrun" } else { "underruns" };
    format!("{n} {noun}: {}", each.join(" · "))
}

fn history_plot(ui: &mut egui::Ui, m: &MeterInputs<'_>) {
    let now = m.now_s;
    let points: Vec<(f64, f64, f64)> = m
        .history
        .points
        .iter()
        .map(|&(t, f, mn)| (t - now, f, mn))
        .collect();
    let episodes = recent_episodes(&m.history.episodes, now);
    // No legend inside the chart: wherever it sat, it covered data (top right: the newest).
    // The legend is a row under the chart instead.
    let (area, plot) = ui.allocate_exact_size(
        egui::vec2(ui.available_width(), 110.0),
        egui::Sense::hover(),
    );
    charts::ring(
        ui,
        area,
        &charts::RingChart {
            points: &points,
            capacity_ms: m.snap.ring_capacity_ms,
            span_s: HISTORY_SECS,
            marks: &episodes,
            fill: FILL_LINE,
            min: MIN_LINE,
            capacity: CAPACITY_LINE,
            warn: WARN,
        },
    );
    let said = episodes_words(&episodes);
    plot.widget_info(|| egui::WidgetInfo {
        value: Some(episodes.len() as f64),
        ..egui::WidgetInfo::labeled(egui::Role::Image, true, labels::RING_PLOT)
    });
    ui.ctx()
        .accesskit_node_builder(plot.id, |node| node.set_value(said.clone()));
    plot.on_hover_text(
        "Ring fill over the last 30 s (ms). Red lines mark underrun episodes, each with its \
         cause: starved (the decoder fell behind), source (the file's source fell behind), \
         server (reel gave the data but the sound server ran dry), device-change, opening, \
         seeking.",
    );
    // The episodes in words, under the plot (the plot's marks can crowd).
    if !episodes.is_empty() {
        ui.label(RichText::new(&said).small().color(WARN))
            .on_hover_text("Underrun episodes in the last 30 s: when, how long, and why.");
    }
    ui.horizontal_wrapped(|ui| {
        for (colour, what) in LEGEND {
            let (swatch, _) = ui.allocate_exact_size(egui::vec2(14.0, 8.0), egui::Sense::hover());
            ui.painter().hline(
                swatch.x_range(),
                swatch.center().y,
                egui::Stroke::new(2.0, colour),
            );
            ui.label(RichText::new(what).small());
        }
    });
}

#[cfg(test)]
mod tests {
    use egui_kittest::Harness;
    use egui_kittest::kittest::{NodeT, Queryable};

    use super::*;
    use crate::engine::shared::Activity;

    #[test]
    fn an_episode_reported_after_the_count_moved_still_reaches_the_plot() {
        let mut snap = MeterSnapshot {
            state: PlayState::Playing,
            ..Default::default()
        };
        let mut history = History::default();
        history.push(1.0, &snap, Vec::new);
        // The count moves when the episode begins; the episode comes when it ends.
        snap.underruns = 1;
        history.push(1.1, &snap, Vec::new);
        let ended = Episode {
            start_ns: 1_050_000_000,
            duration_ns: 40_000_000,
            frames: 1920,
            cause: Activity::Decoding,
        };
        history.push(1.2, &snap, || vec![ended]);
        assert_eq!(history.episodes, vec![ended]);
        // Then no more look-ups until the count moves again.
        history.push(1.3, &snap, || panic!("looked up again"));
    }

    #[test]
    fn the_ring_plot_names_each_underrun_episode_with_its_cause() {
        let snap = MeterSnapshot {
            state: PlayState::Playing,
            underruns: 2,
            ring_capacity_ms: 200.0,
            ring_fill_ms: 150.0,
            ..Default::default()
        };
        let episode = |start_s: u64, cause| Episode {
            start_ns: start_s * 1_000_000_000,
            duration_ns: 21_000_000,
            frames: 1008,
            cause,
        };
        let mut history = History::default();
        history.push(40.0, &snap, || {
            vec![
                episode(5, Activity::Seeking), // older than the plot: not shown
                episode(28, Activity::Decoding),
                episode(37, Activity::Source),
            ]
        });
        let mut harness = Harness::new_ui(|ui| {
            show(
                ui,
                &MeterInputs {
                    snap: &snap,
                    history: &history,
                    now_s: 40.0,
                    cache: None,
                    output_problem: None,
                },
            );
        });
        harness.run();
        let plot = harness.get_by_role_and_label(egui::Role::Image, labels::RING_PLOT);
        let said = plot.accesskit_node().value().unwrap();
        assert_eq!(
            said,
            "2 underruns: starved 12.0 s ago (21.0 ms) · source 3.0 s ago (21.0 ms)"
        );
        assert_eq!(plot.accesskit_node().numeric_value(), Some(2.0));
        assert!(
            harness.query_by_label(&said).is_some(),
            "listed under the plot"
        );
    }
}
