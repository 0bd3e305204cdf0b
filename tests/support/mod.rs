//! Helpers shared by the integration tests: `mod support;` in each test file.
//!
//! The tests that play sound run inside the private sound server that `make test` starts
//! (`tests/support/with-sound-server.sh`): a PipeWire session whose default sink is a null sink
//! named by `REEL_TEST_SINK`. Whatever a test plays to ALSA/Pulse/PipeWire "default" ends up
//! there, and [`Recorder`] records it from the sink's monitor. Outside that server the helpers
//! panic with a message saying so: a sound test never skips.
//!
//! Everything here is bounded in time: helpers that wait poll against a deadline and panic
//! (killing what they started) instead of hanging.
//!
//! Audio-making tests share one sink, so two of them playing at once would mix into each
//! other's recordings. [`Recorder::start`] therefore holds [`lock_sink`] until it is stopped; a
//! test that plays into the sink without recording should hold `lock_sink()` for as long as it
//! plays. (The lock is per test binary; cargo runs test binaries one after another.)

// Each test binary compiles its own copy of this module and uses a different subset of it.
#![allow(dead_code)]

pub mod faults;
pub mod host;

#[allow(unused_imports)] // Only the test binaries that record use it.
pub use host::judged_by_recording;
pub mod slowfs;
pub mod xvfb;

use std::cell::Cell;
use std::f64::consts::PI;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

/// How often the bounded waits below poll.
const POLL: Duration = Duration::from_millis(10);

/// The `reel` binary cargo built for these tests.
pub fn reel_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_reel"))
}

/// The null sink of the private sound server. Panics outside it: tests never skip.
#[track_caller]
pub fn test_sink() -> String {
    match std::env::var("REEL_TEST_SINK") {
        Ok(s) if !s.is_empty() => s,
        _ => panic!(
            "REEL_TEST_SINK is not set: run the tests through `make test`, which starts the \
             private sound server (or wrap the command in tests/support/with-sound-server.sh)"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Processes and bounded waits

/// Runs `cmd` (stdin closed, stdout and stderr captured) and returns its output. If it has not
/// exited within `timeout` it is killed and the test panics with what it printed so far.
#[track_caller]
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let deadline = Instant::now() + timeout;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(POLL);
    };
    // A grandchild that inherited the pipes could keep them open after the child exits: wait
    // for the readers only a little past the deadline.
    let grace = deadline.max(Instant::now()) + Duration::from_secs(2);
    let collect = |rx: mpsc::Receiver<Vec<u8>>| {
        rx.recv_timeout(grace.saturating_duration_since(Instant::now()))
    };
    let (out, err) = (collect(stdout), collect(stderr));
    let text = |r: &Result<Vec<u8>, _>| match r {
        Ok(b) => String::from_utf8_lossy(b).into_owned(),
        Err(_) => "<still held open by a leftover process>".to_string(),
    };
    match (status, &out, &err) {
        (Some(status), Ok(_), Ok(_)) => Output {
            status,
            stdout: out.unwrap(),
            stderr: err.unwrap(),
        },
        (None, ..) => panic!(
            "{cmd:?} did not finish within {timeout:?} and was killed\n--- stdout:\n{}\n--- stderr:\n{}",
            text(&out),
            text(&err)
        ),
        (Some(status), ..) => panic!(
            "{cmd:?} exited ({status}) but a process it left behind still holds its output \
             open\n--- stdout:\n{}\n--- stderr:\n{}",
            text(&out),
            text(&err)
        ),
    }
}

fn drain(mut r: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Waits for `child` to exit; kills it and panics if it takes longer than `timeout`.
#[track_caller]
pub fn wait_child_with_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "process {} did not exit within {timeout:?}; killed it",
                child.id()
            );
        }
        std::thread::sleep(POLL);
    }
}

/// Polls `cond` until it is true; panics if that takes longer than `timeout`.
#[track_caller]
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        std::thread::sleep(POLL);
    }
}

/// Sends SIGINT (what Ctrl-C sends) to process `pid`.
#[track_caller]
pub fn send_sigint(pid: u32) {
    send_signal(pid, libc::SIGINT);
}

#[track_caller]
pub fn send_signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid out of range");
    // SAFETY: kill(2) has no memory-safety preconditions.
    let r = unsafe { libc::kill(pid, signal) };
    assert_eq!(
        r,
        0,
        "kill({pid}, {signal}): {}",
        std::io::Error::last_os_error()
    );
}

// ---------------------------------------------------------------------------------------------
// The sound server

thread_local! {
    static SINK_DEPTH: Cell<usize> = const { Cell::new(0) };
}
static SINK: Mutex<()> = Mutex::new(());

/// Exclusive use of the test sink within this test binary, for as long as the guard lives.
/// Re-entrant on the same thread (a test holding it can still start a [`Recorder`]).
pub struct SinkGuard {
    _lock: Option<MutexGuard<'static, ()>>,
}

impl Drop for SinkGuard {
    fn drop(&mut self) {
        SINK_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

/// Takes the test sink for this test (see the module docs). A test that failed while holding
/// it does not block the others.
pub fn lock_sink() -> SinkGuard {
    let lock = if SINK_DEPTH.with(Cell::get) == 0 {
        Some(SINK.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    } else {
        None
    };
    SINK_DEPTH.with(|d| d.set(d.get() + 1));
    SinkGuard { _lock: lock }
}

/// Stops the private sound server (pipewire, wireplumber, pipewire-pulse), as if it had gone
/// away under the player: `crash` sends SIGKILL, otherwise SIGTERM. Returns once it is gone.
#[track_caller]
pub fn stop_sound_server(crash: bool) {
    let mut cmd = Command::new(server_script("REEL_SOUND_SERVER_STOP"));
    if crash {
        cmd.arg("--kill");
    }
    let o = run_with_timeout(&mut cmd, Duration::from_secs(30));
    assert!(
        o.status.success(),
        "stopping the sound server failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Starts the private sound server again after [`stop_sound_server`]: same sockets, the null
/// sink re-created as the default. Returns once a new stream would be routed to the sink.
#[track_caller]
pub fn start_sound_server() {
    let o = run_with_timeout(
        &mut Command::new(server_script("REEL_SOUND_SERVER_START")),
        Duration::from_secs(60),
    );
    assert!(
        o.status.success(),
        "restarting the sound server failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[track_caller]
fn server_script(var: &str) -> PathBuf {
    test_sink();
    PathBuf::from(
        std::env::var_os(var).unwrap_or_else(|| panic!("{var} is not set by with-sound-server.sh")),
    )
}

/// Records what is played into the test sink, from its monitor, with `parec`: 48 kHz,
/// stereo, 32-bit float (the sink's own format, so the samples are exactly what was mixed).
///
/// `start` returns only once the recorder is linked to the sink and running, so everything
/// played after it returns is captured. Holds [`lock_sink`] until stopped or dropped.
///
/// It records into RAM (/dev/shm), where a busy disk cannot stall it into dropping audio;
/// `stop` copies the file to `out_wav`.
pub struct Recorder {
    child: Option<Child>,
    /// Watches the machine while recording (see [`host`]).
    watch: Option<host::StallWatch>,
    path: PathBuf,
    scratch: tempfile::TempDir,
    _sink: SinkGuard,
}

/// The format [`Recorder`] records in.
pub const RECORD_RATE: u32 = 48_000;
pub const RECORD_CHANNELS: u16 = 2;

impl Recorder {
    #[track_caller]
    pub fn start(out_wav: &Path) -> Recorder {
        Recorder::start_on(&test_sink(), out_wav)
    }

    /// Records the monitor of `sink` (another sink than the test sink, which a test added).
    #[track_caller]
    pub fn start_on(sink: &str, out_wav: &Path) -> Recorder {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let sink = sink.to_string();
        let guard = lock_sink();
        let node = format!(
            "reel-test-recorder-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let scratch = tempfile::Builder::new()
            .prefix("reel-recorder-")
            .tempdir_in("/dev/shm")
            .or_else(|_| tempfile::tempdir())
            .unwrap();
        let log = std::fs::File::create(scratch.path().join("recorder.log")).unwrap();
        // parec on the sink's monitor, not pw-record: on this server pw-record silently drops
        // whole buffers now and then, which a test would take for reel's gaps.
        // The recorder is the measuring instrument: under a CPU-stress test it must not be
        // the part that drops audio. As root (CI) it gets real-time priority for all its
        // threads, below the sound server's own.
        let mut recorder = if is_root() {
            let mut c = Command::new("chrt");
            c.args(["-f", "50", "parec"]);
            c
        } else {
            Command::new("parec")
        };
        let child = recorder
            .arg(format!("--device={sink}.monitor"))
            .arg(format!("--client-name={node}"))
            .arg(format!("--stream-name={node}"))
            .arg(format!("--rate={RECORD_RATE}"))
            .arg(format!("--channels={RECORD_CHANNELS}"))
            .args([
                "--format=float32le",
                "--file-format=wav",
                "--latency-msec=20",
            ])
            .arg(scratch.path().join("recording.wav"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start parec (is pulseaudio-utils installed?): {e}"));
        let mut rec = Recorder {
            child: Some(child),
            watch: Some(host::StallWatch::start()),
            path: out_wav.to_path_buf(),
            scratch,
            _sink: guard,
        };

        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = rec.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "parec exited ({status}) before recording:\n{}",
                    rec.stderr()
                );
            }
            let why = match recorder_state(&node, &sink) {
                Ok(()) => return rec,
                Err(why) => why,
            };
            if Instant::now() >= deadline {
                panic!(
                    "parec did not connect to {sink}'s monitor within 10 s ({why}):\n{}",
                    rec.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops recording (SIGINT, so parec finishes the WAV header) and returns the file.
    ///
    /// Audio that reached the sink before `stop` was called may still be on its way through
    /// the graph, so it first waits (bounded) until the file has grown by another 100 ms.
    #[track_caller]
    pub fn stop(mut self) -> PathBuf {
        let recorded = self.scratch.path().join("recording.wav");
        let size = || std::fs::metadata(&recorded).map(|m| m.len()).unwrap_or(0);
        let frame_bytes = u64::from(RECORD_CHANNELS) * 4;
        let target = size() + u64::from(RECORD_RATE) / 10 * frame_bytes;
        let deadline = Instant::now() + Duration::from_secs(5);
        while size() < target {
            if self.child.as_mut().unwrap().try_wait().unwrap().is_some() {
                panic!("parec died while recording:\n{}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "parec stopped writing to its recording:\n{}",
                self.stderr()
            );
            std::thread::sleep(POLL);
        }
        let mut child = self.child.take().unwrap();
        send_sigint(child.id());
        self.end_watch();
        // Only a missing or short file is an error, whatever parec's exit status after SIGINT.
        wait_child_with_timeout(&mut child, Duration::from_secs(5));
        assert!(size() > 44, "parec left no recording:\n{}", self.stderr());
        std::fs::copy(&recorded, &self.path).unwrap_or_else(|e| {
            panic!("cannot copy the recording to {}: {e}", self.path.display())
        });
        self.path.clone()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.scratch.path().join("recorder.log")).unwrap_or_default()
    }

    fn end_watch(&mut self) {
        if let Some(w) = self.watch.take() {
            let name = self.path.file_name().unwrap_or_default().to_string_lossy();
            host::note(&format!("the recording {name}"), w.finish());
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.end_watch();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Ok once the recorder's stream (pipewire-pulse names its node after parec's stream name,
/// `media.name`) is running with at least two active links from `sink`, else why not.
fn recorder_state(node: &str, sink: &str) -> Result<(), String> {
    let o = run_with_timeout(
        Command::new("pw-dump").arg("--no-colors"),
        Duration::from_secs(5),
    );
    if !o.status.success() {
        return Err(format!(
            "pw-dump failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    let dump: serde_json::Value =
        serde_json::from_slice(&o.stdout).map_err(|e| format!("pw-dump output: {e}"))?;
    let objects = dump.as_array().ok_or("pw-dump output is not an array")?;
    let find_node = |name: &str| {
        objects.iter().find(|o| {
            o["type"] == "PipeWire:Interface:Node"
                && o["info"]["props"]["node.name"].as_str() == Some(name)
        })
    };
    let rec = objects
        .iter()
        .find(|o| {
            o["type"] == "PipeWire:Interface:Node"
                && o["info"]["props"]["media.name"].as_str() == Some(node)
        })
        .ok_or("the recorder node does not exist yet")?;
    let sink_node = find_node(sink).ok_or_else(|| format!("sink {sink} not found"))?;
    let state = rec["info"]["state"].as_str().unwrap_or("?");
    let links = objects
        .iter()
        .filter(|o| {
            o["type"] == "PipeWire:Interface:Link"
                && o["info"]["input-node-id"] == rec["id"]
                && o["info"]["output-node-id"] == sink_node["id"]
                && o["info"]["state"] == "active"
        })
        .count();
    if state == "running" && links >= usize::from(RECORD_CHANNELS) {
        Ok(())
    } else {
        Err(format!(
            "recorder node {state}, {links} active links from the sink"
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Making test files

/// The ffmpeg codec arguments for a file name's extension.
#[track_caller]
fn codec_args_for(path: &Path) -> &'static [&'static str] {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "wav" => &["-c:a", "pcm_s16le"],
        "flac" => &["-c:a", "flac"],
        "mp3" => &["-c:a", "libmp3lame", "-b:a", "192k"],
        "ogg" | "oga" => &["-c:a", "libvorbis", "-q:a", "5"],
        "opus" => &["-c:a", "libopus", "-b:a", "128k"],
        "m4a" | "aac" => &["-c:a", "aac", "-b:a", "192k"],
        "aif" | "aiff" => &["-c:a", "pcm_s16be"],
        _ => panic!(
            "make_tone: no codec for {}; use make_tone_codec",
            path.display()
        ),
    }
}

/// A `secs`-long sine of `freq_hz` at peak `amplitude` (1.0 = full scale) on every one of
/// `channels` channels, `rate` Hz, encoded as the extension says: wav (16-bit PCM), flac, mp3,
/// ogg (Vorbis), opus, m4a (AAC), aiff. Exactly `secs * rate` frames (before any encoder
/// padding). Deterministic.
#[track_caller]
pub fn make_tone(path: &Path, freq_hz: f64, secs: f64, rate: u32, channels: u16, amplitude: f64) {
    make_tone_codec(
        path,
        codec_args_for(path),
        freq_hz,
        secs,
        rate,
        channels,
        amplitude,
    );
}

/// [`make_tone`] with explicit ffmpeg output arguments, e.g. `&["-c:a", "alac"]` for ALAC in a
/// `.m4a`, or `&["-c:a", "pcm_s24le"]` for 24-bit WAV.
#[track_caller]
pub fn make_tone_codec(
    path: &Path,
    codec_args: &[&str],
    freq_hz: f64,
    secs: f64,
    rate: u32,
    channels: u16,
    amplitude: f64,
) {
    assert!(channels >= 1, "a tone needs at least one channel");
    let expr = format!("{amplitude}*sin(2*PI*{freq_hz}*t)");
    let exprs = vec![expr; usize::from(channels)].join("|");
    ffmpeg_generate(
        path,
        &format!("aevalsrc=exprs={exprs}:s={rate}:d={secs}"),
        codec_args,
    );
}

/// A stereo file with a `left_hz` sine on the left and a `right_hz` sine on the right, both at
/// amplitude 0.5, codec from the extension as for [`make_tone`].
#[track_caller]
pub fn make_stereo_tones(path: &Path, left_hz: f64, right_hz: f64, secs: f64, rate: u32) {
    let filter = format!(
        "aevalsrc=exprs=0.5*sin(2*PI*{left_hz}*t)|0.5*sin(2*PI*{right_hz}*t):c=stereo:s={rate}:d={secs}"
    );
    ffmpeg_generate(path, &filter, codec_args_for(path));
}

#[track_caller]
fn ffmpeg_generate(path: &Path, source: &str, codec_args: &[&str]) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", source])
        // No encoder version strings or dates in the file: the same call makes the same bytes.
        .args([
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
            "-flags:a",
            "+bitexact",
        ])
        .args(codec_args)
        .arg(path);
    let o = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(
        o.status.success(),
        "ffmpeg could not make {} ({cmd:?}):\n{}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `secs` of a sine in memory, for checking the analysis helpers.
pub fn sine(freq_hz: f64, secs: f64, rate: u32, amplitude: f64) -> Vec<f32> {
    let n = (secs * f64::from(rate)).round() as usize;
    (0..n)
        .map(|i| (amplitude * (2.0 * PI * freq_hz * i as f64 / f64::from(rate)).sin()) as f32)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Reading and decoding

/// A WAV file's samples, one vector per channel, as f32 in [-1, 1].
#[derive(Debug, Clone)]
pub struct Wav {
    pub rate: u32,
    pub channels: Vec<Vec<f32>>,
}

impl Wav {
    /// Frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }
}

/// Reads a 8/16/24/32-bit integer or 32-bit float WAV with any number of channels. Integers
/// are scaled by 2^(bits-1), as ffmpeg does, so a 16-bit WAV reads back exactly.
#[track_caller]
pub fn read_wav(path: &Path) -> Wav {
    let mut r = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("cannot read {} as WAV: {e}", path.display()));
    let spec = r.spec();
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        hound::SampleFormat::Int => {
            let scale = 1.0 / f64::from(1u32 << (spec.bits_per_sample - 1));
            r.samples::<i32>()
                .map(|s| s.map(|s| (f64::from(s) * scale) as f32))
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        }
    };
    Wav {
        rate: spec.sample_rate,
        channels: deinterleave(&interleaved, spec.channels),
    }
}

/// Splits interleaved samples into one vector per channel (a trailing partial frame is dropped).
pub fn deinterleave(interleaved: &[f32], channels: u16) -> Vec<Vec<f32>> {
    let n = usize::from(channels);
    assert!(n > 0, "zero channels");
    (0..n)
        .map(|c| interleaved.chunks_exact(n).map(|frame| frame[c]).collect())
        .collect()
}

/// ffmpeg's decode of `path` as interleaved f32, optionally resampled to `rate` and/or mixed to
/// `channels`.
#[track_caller]
pub fn ffmpeg_decode_f32(path: &Path, rate: Option<u32>, channels: Option<u16>) -> Vec<f32> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-i"]).arg(path);
    if let Some(r) = rate {
        cmd.args(["-ar", &r.to_string()]);
    }
    if let Some(c) = channels {
        cmd.args(["-ac", &c.to_string()]);
    }
    cmd.args(["-f", "f32le", "-acodec", "pcm_f32le", "-"]);
    let o = run_with_timeout(&mut cmd, Duration::from_secs(120));
    assert!(
        o.status.success(),
        "ffmpeg could not decode {}:\n{}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Analysis

/// RMS level in dBFS, relative to a full-scale DC (so a full-scale sine is -3.01 dBFS and a
/// 0.5-amplitude sine -9.03 dBFS). Silence (or no samples) is negative infinity.
pub fn rms_dbfs(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    20.0 * (sum / samples.len() as f64).sqrt().log10()
}

/// Largest absolute sample value.
pub fn peak(samples: &[f32]) -> f32 {
    samples.iter().fold(0.0f32, |m, s| m.max(s.abs()))
}

/// Indices of the first and the last sample whose magnitude exceeds `threshold`, or `None` if
/// none does.
pub fn signal_span(samples: &[f32], threshold: f32) -> Option<(usize, usize)> {
    let first = samples.iter().position(|s| s.abs() > threshold)?;
    let last = samples.iter().rposition(|s| s.abs() > threshold)?;
    Some((first, last))
}

/// Window of [`longest_silence_within`]: 1 ms at 48 kHz.
pub const SILENCE_WINDOW: usize = 48;

/// The longest silence, in samples, inside `span` (inclusive indices, e.g. from
/// [`signal_span`]): the longest run of samples with magnitude at or below `threshold`.
///
/// A sine dips below any threshold around its zero crossings; such dips are not silence. So
/// it works on an envelope (the peak over a window of [`SILENCE_WINDOW`] samples): runs
/// shorter than the window count as signal. A real dropout of N >= window samples is reported
/// as exactly N. For other rates or windows use [`longest_silence_within_window`].
pub fn longest_silence_within(samples: &[f32], span: (usize, usize), threshold: f32) -> usize {
    longest_silence_within_window(samples, span, threshold, SILENCE_WINDOW)
}

/// [`longest_silence_within`] with a window of `window` samples.
pub fn longest_silence_within_window(
    samples: &[f32],
    span: (usize, usize),
    threshold: f32,
    window: usize,
) -> usize {
    if samples.is_empty() {
        return 0;
    }
    let end = span.1.min(samples.len() - 1);
    if span.0 > end {
        return 0;
    }
    let mut longest = 0;
    let mut run = 0;
    for s in &samples[span.0..=end] {
        if s.abs() > threshold {
            if run >= window {
                longest = longest.max(run);
            }
            run = 0;
        } else {
            run += 1;
        }
    }
    if run >= window {
        longest.max(run)
    } else {
        longest
    }
}

/// Every silence inside `span` (as [`longest_silence_within`] finds them: runs of at least
/// [`SILENCE_WINDOW`] samples at or below `threshold`), as (start, length) in samples.
pub fn silences_within(
    samples: &[f32],
    span: (usize, usize),
    threshold: f32,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    if samples.is_empty() {
        return out;
    }
    let end = span.1.min(samples.len() - 1);
    let mut run = 0;
    for (i, s) in samples.iter().enumerate().take(end + 1).skip(span.0) {
        if s.abs() > threshold {
            if run >= SILENCE_WINDOW {
                out.push((i - run, run));
            }
            run = 0;
        } else {
            run += 1;
        }
    }
    if run >= SILENCE_WINDOW {
        out.push((end + 1 - run, run));
    }
    out
}

/// The frequency, in Hz, of the strongest sinusoid in `samples` (sampled at `rate`), to well
/// under 0.1 Hz for a steady tone of half a second or more. A Hann-windowed FFT finds the peak
/// bin, then a golden-section search on the windowed spectrum (evaluated directly, off the
/// bin grid) finds the exact peak. Ignores DC and anything below 10 Hz.
#[track_caller]
pub fn dominant_frequency(samples: &[f32], rate: u32) -> f64 {
    assert!(
        samples.len() >= 64,
        "dominant_frequency needs at least 64 samples, got {}",
        samples.len()
    );
    // Long inputs: analyse the middle 2^20 samples (22 s at 48 kHz) — plenty for a steady tone.
    const MAX: usize = 1 << 20;
    let samples = if samples.len() > MAX {
        let start = (samples.len() - MAX) / 2;
        &samples[start..start + MAX]
    } else {
        samples
    };
    let n = samples.len();
    let mean = samples.iter().map(|&s| f64::from(s)).sum::<f64>() / n as f64;
    let x: Vec<f64> = samples
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let w = 0.5 - 0.5 * (2.0 * PI * i as f64 / (n - 1) as f64).cos();
            (f64::from(s) - mean) * w
        })
        .collect();

    let size = (2 * n).next_power_of_two();
    let mut re = x.clone();
    re.resize(size, 0.0);
    let mut im = vec![0.0; size];
    fft(&mut re, &mut im);
    let bin_hz = f64::from(rate) / size as f64;
    let lowest = ((10.0 / bin_hz).ceil() as usize).max(1);
    let peak_bin = (lowest..size / 2)
        .max_by(|&a, &b| {
            let ma = re[a] * re[a] + im[a] * im[a];
            let mb = re[b] * re[b] + im[b] * im[b];
            ma.total_cmp(&mb)
        })
        .expect("no frequency bins above 10 Hz");

    // The true peak is within half a bin of the peak bin; the window's main lobe is wider than
    // a bin, so the magnitude is unimodal over +-1 bin.
    let power = |f: f64| {
        let (mut sr, mut si) = (0.0, 0.0);
        let step = -2.0 * PI * f / f64::from(rate);
        let (rot_c, rot_s) = (step.cos(), step.sin());
        let (mut c, mut s) = (1.0f64, 0.0f64);
        for (i, v) in x.iter().enumerate() {
            sr += v * c;
            si += v * s;
            let nc = c * rot_c - s * rot_s;
            s = c * rot_s + s * rot_c;
            c = nc;
            if i % 4096 == 4095 {
                // Renormalise the rotating phasor against rounding drift.
                let m = (c * c + s * s).sqrt();
                c /= m;
                s /= m;
            }
        }
        sr * sr + si * si
    };
    let (mut lo, mut hi) = (
        (peak_bin as f64 - 1.0) * bin_hz,
        (peak_bin as f64 + 1.0) * bin_hz,
    );
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let mut a = hi - g * (hi - lo);
    let mut b = lo + g * (hi - lo);
    let (mut pa, mut pb) = (power(a), power(b));
    while hi - lo > 1e-4 {
        if pa < pb {
            lo = a;
            a = b;
            pa = pb;
            b = lo + g * (hi - lo);
            pb = power(b);
        } else {
            hi = b;
            b = a;
            pb = pa;
            a = hi - g * (hi - lo);
            pa = power(a);
        }
    }
    (lo + hi) / 2.0
}

/// In-place iterative radix-2 FFT; `re.len()` must be a power of two.
fn fft(re: &mut [f64], im: &mut [f64]) {
    let n = re.len();
    assert!(n.is_power_of_two() && im.len() == n);
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let ang = -2.0 * PI / len as f64;
        let (wr, wi) = (ang.cos(), ang.sin());
        for start in (0..n).step_by(len) {
            let (mut cr, mut ci) = (1.0f64, 0.0f64);
            for k in 0..len / 2 {
                let (a, b) = (start + k, start + k + len / 2);
                let tr = re[b] * cr - im[b] * ci;
                let ti = re[b] * ci + im[b] * cr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
                let ncr = cr * wr - ci * wi;
                ci = cr * wi + ci * wr;
                cr = ncr;
            }
        }
        len <<= 1;
    }
}

/// Whether the tests run as root (as CI does).
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// CPU time (user + system) of process `pid` so far, from /proc/PID/stat.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis((f[11] + f[12]) * 1000 / ticks)
}

/// The last heard position in a metrics log, in ms.
pub fn logged_position_ms(log: &Path) -> f64 {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find_map(|v| v["position_ms"].as_f64())
        .unwrap_or(0.0)
}

/// `cmd` (a `reel` command) run as `play --no-gui --metrics-log LOG FILE`: its CPU (user +
/// system) per ms of audio heard, from 1 s of audio heard (start-up, import and cache checks
/// over) for `span_ms` more; then SIGINT, which must end it with exit 0.
pub fn cpu_share_while_playing(mut cmd: Command, file: &Path, log: &Path, span_ms: f64) -> f64 {
    let mut child = cmd
        .args(["play", "--no-gui", "--metrics-log"])
        .arg(log)
        .arg(file)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(15), || logged_position_ms(log) > 1000.0);
    let (cpu0, pos0) = (cpu_time(child.id()), logged_position_ms(log));
    wait_until(Duration::from_secs(15), || {
        logged_position_ms(log) > pos0 + span_ms
    });
    let (cpu1, pos1) = (cpu_time(child.id()), logged_position_ms(log));
    send_sigint(child.id());
    let status = wait_child_with_timeout(&mut child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{}: reel failed", file.display());
    (cpu1 - cpu0).as_secs_f64() * 1000.0 / (pos1 - pos0)
}
