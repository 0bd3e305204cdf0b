//! `reel --metrics-log FILE` (and `reel play FILE --metrics-log FILE`) for the window: one JSON
//! object per line every [`GUI_METRICS_EVERY`], with every meter (the same fields as the
//! headless player's log), `t_ms`, and `ui_frames`, the number of frames the window has
//! painted so far. The benchmark divides the growth of `ui_frames` by time for the frame rate;
//! an idle window's count stands still. `ui_frame_ms` is `{p50, p95, max, n}` of the frame
//! times eframe reported for the frames painted since the previous line (`null` when none
//! was): the time of the window's `ui` plus tessellation and the GL calls, without the wait
//! for the buffer swap (see [`FrameShare::frame_time`]). `ui_library_tracks` and
//! `ui_library_shown` are the library panel's tracks and the rows its filter shows, as the
//! last frame drew them (the benchmark waits for the first, and checks with the second that
//! what it typed reached the filter).
//!
//! The lines are written by their own thread, so they keep coming while the window draws
//! nothing. While the window draws, the line carries the snapshot the window itself took
//! (taking a second one here would reset the "since last read" figures, the ring minimum and
//! the levels, under the window's feet); while it is idle, this thread takes its own.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use serde_json::{Value, json};

use crate::engine::{Engine, MeterSnapshot};

/// How often a line is written.
pub const GUI_METRICS_EVERY: Duration = Duration::from_millis(250);

/// A window snapshot younger than this is used as is.
const FRESH: Duration = Duration::from_millis(500);

/// Frame times kept between two lines: 250 ms at up to 1,000 frames a second. Past it, only
/// `n` and `max` go on counting (the percentiles are then of the first ones).
const FRAME_TIMES_CAP: usize = 256;

pub struct GuiMetricsLog {
    out: BufWriter<File>,
}

impl GuiMetricsLog {
    pub fn create(path: &Path) -> std::io::Result<GuiMetricsLog> {
        Ok(GuiMetricsLog {
            out: BufWriter::new(File::create(path)?),
        })
    }
}

/// What the window shares with the log thread.
#[derive(Default)]
pub struct FrameShare {
    pub frames: AtomicU64,
    latest: Mutex<Option<(Instant, MeterSnapshot)>>,
    times: Mutex<FrameTimes>,
    library_tracks: AtomicU64,
    library_shown: AtomicU64,
}

/// Frame times since the last line, in milliseconds.
#[derive(Default)]
struct FrameTimes {
    /// Pre-sized to [`FRAME_TIMES_CAP`] and never grown: the UI thread's push allocates nothing.
    ms: Vec<f32>,
    n: u64,
    max_ms: f32,
}

impl FrameShare {
    /// The window painted a frame showing `snap`.
    pub fn painted(&self, snap: &MeterSnapshot) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), snap.clone()));
    }

    /// UI thread: the library panel as this frame drew it (tracks, rows shown).
    pub fn library(&self, tracks: usize, shown: usize) {
        self.library_tracks.store(tracks as u64, Ordering::Relaxed);
        self.library_shown.store(shown as u64, Ordering::Relaxed);
    }

    /// UI thread: eframe's time for the previous frame (`Frame::info().cpu_usage`, in
    /// seconds: `App::ui`, tessellation and painting, not the wait for the buffer swap).
    pub fn frame_time(&self, seconds: f32) {
        let ms = seconds * 1000.0;
        let mut t = self.times.lock().unwrap_or_else(|p| p.into_inner());
        if t.ms.capacity() == 0 {
            t.ms.reserve_exact(FRAME_TIMES_CAP);
        }
        if t.ms.len() < FRAME_TIMES_CAP {
            t.ms.push(ms);
        }
        t.n += 1;
        t.max_ms = t.max_ms.max(ms);
    }

    /// Log thread: the frame times since the last call, summarised; `into` is scratch space.
    fn take_frame_times(&self, into: &mut Vec<f32>) -> Value {
        let (n, max_ms) = {
            let mut t = self.times.lock().unwrap_or_else(|p| p.into_inner());
            into.clear();
            into.extend_from_slice(&t.ms);
            t.ms.clear();
            let taken = (t.n, t.max_ms);
            t.n = 0;
            t.max_ms = 0.0;
            taken
        };
        frame_ms_summary(into, n, max_ms)
    }
}

/// `{p50, p95, max, n}` of frame times in milliseconds (nearest rank), or `null` for none.
/// `n` and `max_ms` count every frame, also those past the buffer.
fn frame_ms_summary(ms: &mut [f32], n: u64, max_ms: f32) -> Value {
    if ms.is_empty() {
        return Value::Null;
    }
    ms.sort_unstable_by(f32::total_cmp);
    let rank = |p: f64| ms[((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    let round = |x: f32| (f64::from(x) * 1000.0).round() / 1000.0;
    json!({"p50": round(rank(0.50)), "p95": round(rank(0.95)), "max": round(max_ms), "n": n})
}

pub struct MetricsThread {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsThread {
    pub fn start(
        mut log: GuiMetricsLog,
        engine: Arc<Engine>,
        share: Arc<FrameShare>,
    ) -> MetricsThread {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("reel-metrics-log".into())
            .spawn(move || {
                let start = Instant::now();
                let mut next = start + GUI_METRICS_EVERY;
                let mut scratch = Vec::with_capacity(FRAME_TIMES_CAP);
                loop {
                    let done = !matches!(
                        stopped.recv_timeout(next.saturating_duration_since(Instant::now())),
                        Err(crossbeam_channel::RecvTimeoutError::Timeout)
                    );
                    next += GUI_METRICS_EVERY;
                    let snap = {
                        let latest = share.latest.lock().unwrap_or_else(|p| p.into_inner());
                        match &*latest {
                            Some((at, s)) if at.elapsed() < FRESH => Some(s.clone()),
                            _ => None,
                        }
                    }
                    .unwrap_or_else(|| engine.snapshot());
                    let mut v = serde_json::to_value(&snap).unwrap_or(Value::Null);
                    if let Value::Object(map) = &mut v {
                        map.insert("t_ms".into(), json!(start.elapsed().as_secs_f64() * 1000.0));
                        map.insert(
                            "ui_frames".into(),
                            json!(share.frames.load(Ordering::Relaxed)),
                        );
                        map.insert("ui_frame_ms".into(), share.take_frame_times(&mut scratch));
                        for (key, n) in [
                            ("ui_library_tracks", &share.library_tracks),
                            ("ui_library_shown", &share.library_shown),
                        ] {
                            map.insert(key.into(), json!(n.load(Ordering::Relaxed)));
                        }
                        if done {
                            map.insert("event".into(), json!("summary"));
                        }
                    }
                    if writeln!(log.out, "{v}")
                        .and_then(|_| log.out.flush())
                        .is_err()
                        || done
                    {
                        return;
                    }
                }
            })
            .ok();
        MetricsThread {
            stop: Some(stop),
            thread,
        }
    }

    /// Writes the closing line (`"event":"summary"`) and stops.
    pub fn finish(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MetricsThread {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_times_are_summarised_per_line_and_forgotten_after() {
        let share = FrameShare::default();
        let mut scratch = Vec::new();
        assert_eq!(share.take_frame_times(&mut scratch), Value::Null);
        // 1..=20 ms, shuffled: p50 is the 10th, p95 the 19th, max the 20th.
        for ms in [
            7, 20, 3, 11, 1, 15, 9, 19, 2, 14, 5, 18, 10, 4, 16, 6, 13, 8, 17, 12,
        ] {
            share.frame_time(ms as f32 / 1000.0);
        }
        let v = share.take_frame_times(&mut scratch);
        assert_eq!(v, json!({"p50": 10.0, "p95": 19.0, "max": 20.0, "n": 20}));
        assert_eq!(share.take_frame_times(&mut scratch), Value::Null);
    }

    #[test]
    fn frames_past_the_buffer_still_count_in_n_and_max() {
        let share = FrameShare::default();
        for _ in 0..FRAME_TIMES_CAP {
            share.frame_time(0.001);
        }
        share.frame_time(0.050);
        let v = share.take_frame_times(&mut Vec::new());
        assert_eq!(v["n"], json!(FRAME_TIMES_CAP + 1));
        assert_eq!(v["max"], json!(50.0));
        assert_eq!(v["p95"], json!(1.0));
    }
}
