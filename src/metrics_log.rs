//! `--metrics-log FILE`: the meters as JSON Lines, one object every 100 ms, and a summary at
//! the end. Field names are snake_case with their unit in the name. Written by the thread that
//! runs the play loop (never the audio thread).
//!
//! Every line carries `mono_ms`, the system's CLOCK_MONOTONIC in ms when the line was made,
//! so an outside recording (stamped with the same clock) can be lined up with reel's claims.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

use crate::engine::{Episode, MeterSnapshot, TrackRecord};

/// How `reel play` spent its start: the summary's `startup` object. All times are from the
/// command's start. `time_to_first_audio_ms` counts from the play command the engine got, so
/// it leaves out the cache step and opening the output; this says what came before it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Startup {
    /// Cache opened and every file imported or found (what `reel play` waits for).
    pub cache_ms: f64,
    /// The output opened (in parallel with the cache step).
    pub output_open_ms: f64,
    /// The first track's first audio written to the device.
    pub first_audio_since_launch_ms: Option<f64>,
}

pub struct MetricsLog {
    out: BufWriter<File>,
    start: Instant,
}

impl MetricsLog {
    pub fn create(path: &Path) -> std::io::Result<MetricsLog> {
        Ok(MetricsLog {
            out: BufWriter::new(File::create(path)?),
            start: Instant::now(),
        })
    }

    /// One sample line: `t_ms` plus every meter field.
    pub fn sample(&mut self, snap: &MeterSnapshot) -> std::io::Result<()> {
        let mut v = serde_json::to_value(snap).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            map.insert(
                "t_ms".into(),
                json!(self.start.elapsed().as_secs_f64() * 1000.0),
            );
            map.insert("mono_ms".into(), json!(mono_ms()));
        }
        writeln!(self.out, "{v}")?;
        self.out.flush()
    }

    /// The closing line: `"event":"summary"` with totals, one TTFA per track, and the underrun
    /// episodes with their causes.
    pub fn summary(
        &mut self,
        snap: &MeterSnapshot,
        tracks: &[TrackRecord],
        errors: &[String],
        episodes: &[Episode],
        startup: Option<&Startup>,
    ) -> std::io::Result<()> {
        let mut v = summary_json(snap, tracks, errors);
        v["episodes"] = episodes_json(episodes);
        if let (Some(s), Value::Object(map)) = (startup, &mut v) {
            map.insert("startup".into(), json!(s));
        }
        v["mono_ms"] = json!(mono_ms());
        writeln!(self.out, "{v}")?;
        self.out.flush()
    }
}

pub fn summary_json(snap: &MeterSnapshot, tracks: &[TrackRecord], errors: &[String]) -> Value {
    json!({
        "event": "summary",
        "frames_played": snap.frames_played,
        "underruns": snap.underruns,
        "silent_frames": snap.silent_frames,
        "device_xruns": snap.device_xruns,
        // The clip indicator: a heard sample reached full scale (src/engine/levels.rs).
        "clipped": snap.clipped,
        "time_to_first_audio_ms": tracks.iter().map(|t| t.time_to_first_audio_ms).collect::<Vec<_>>(),
        "tracks": tracks.iter().map(|t| json!({
            "path": t.path.display().to_string(),
            "codec": t.info.as_ref().map(|i| i.codec.clone()),
            "file_rate": t.info.as_ref().map(|i| i.rate),
            "frames_decoded": t.frames_decoded,
            "gain_db": t.info.as_ref().map(|i| i.gain.db),
            "gain_source": t.info.as_ref().map(|i| i.gain.source.as_str()),
            "gain_album": t.info.as_ref().map(|i| i.gain.album),
            "bit_perfect": t.fidelity.as_ref().map(|f| f.verdict(&snap.sample_format).0),
            "bit_perfect_reason": t.fidelity.as_ref().and_then(|f| f.verdict(&snap.sample_format).1),
            "decoded_hash": t.fidelity.as_ref().map(|f| &f.decoded.0),
            "pushed_hash": t.fidelity.as_ref().map(|f| &f.pushed.0),
            "time_to_first_audio_ms": t.time_to_first_audio_ms,
            "error": t.error.as_ref().map(|e| e.kind.code()),
            "warning": t.warning,
        })).collect::<Vec<_>>(),
        "errors": errors,
        // Files that played, but not whole: `FILE: what`, as said on stderr.
        "warnings": tracks
            .iter()
            .filter_map(|t| t.warning.as_ref().map(|w| format!("{}: {w}", t.path.display())))
            .collect::<Vec<_>>(),
    })
}

/// Underrun episodes (the engine keeps the last `EPISODE_HISTORY`): when each began and how
/// long it lasted (engine clock: ms since the engine started, which is a little after the
/// log's `t_ms` 0), the silence it inserted, and its cause (`starved`, `opening`, `seeking`,
/// `source`, `device-change`, `server`).
pub fn episodes_json(episodes: &[Episode]) -> Value {
    episodes
        .iter()
        .map(|e| {
            json!({
                "start_ms": e.start_ns as f64 / 1e6,
                "duration_ms": e.duration_ns as f64 / 1e6,
                "silent_frames": e.frames,
                "cause": e.cause.cause(),
            })
        })
        .collect()
}

/// CLOCK_MONOTONIC now, in ms: the clock `date`-independent tools (a recorder started by a
/// test, `clock_gettime` in another process) share with reel.
pub fn mono_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer; CLOCK_MONOTONIC
    // always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}
