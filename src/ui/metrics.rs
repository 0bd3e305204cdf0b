//! `reel --metrics-log FILE` (and `reel play FILE --metrics-log FILE`) for the window: one JSON
//! object per line every [`GUI_METRICS_EVERY`], with every meter (the same fields as the
//! headless player's log), `t_ms`, and `ui_frames`, the number of frames the window has
//! painted so far. The benchmark divides the growth of `ui_frames` by time for the frame rate;
//! an idle window's count stands still.
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
}

impl FrameShare {
    /// The window painted a frame showing `snap`.
    pub fn painted(&self, snap: &MeterSnapshot) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), snap.clone()));
    }
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
