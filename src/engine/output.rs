//! cpal output: choosing a device and a configuration, and building the stream around a
//! [`Callback`]. Runs on the supervisor thread.
//!
//! Host: cpal's default on Linux, ALSA. Through the `pipewire-alsa` or pulseaudio ALSA plugin it
//! reaches whichever sound server runs, it reports real callback timestamps (so device latency
//! is measured, not guessed), and it needs no extra system libraries. The native PipeWire host
//! reports no timestamps, and the native PulseAudio host needs cpal features and a `Fixed`
//! buffer to behave; see README.
//!
//! Buffer size: always `BufferSize::Fixed`, clamped into the device's supported range. Never
//! `Default`: on PulseAudio that gives about 2 s per callback (cpal#1222).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{BufferSize, FromSample, SampleFormat, SizedSample, StreamConfig, SupportedBufferSize};
use ringbuf::HeapCons;

use super::callback::{Callback, RingStorage, Wiring, wire};
use super::shared::{Episode, Feed, Link, Shared};
use crate::error::OutputError;

/// Error kinds the error callback reports to the supervisor (0 = none).
pub const STREAM_OK: u8 = 0;
pub const STREAM_LOST: u8 = 1;
pub const STREAM_INVALIDATED: u8 = 2;
pub const STREAM_OTHER: u8 = 3;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRequest {
    /// Device id or name; `None` = the host's default output.
    pub device: Option<String>,
    /// Ring capacity.
    pub ring_ms: u32,
    /// Device buffer (period) in frames.
    pub period_frames: u32,
}

/// A running output stream and everything that must outlive it.
pub struct OpenedStream {
    stream: cpal::Stream,
    pub link: Arc<Link>,
    pub device_name: String,
    pub host_name: String,
    pub sample_format: SampleFormat,
    pub period_frames: u32,
    /// How the audio thread is scheduled (see [`promote_audio_thread`]).
    pub scheduling: String,
    /// Set by the error callback (one of the STREAM_* codes).
    pub error: Arc<AtomicU8>,
    /// Keeps the ring's storage and the callback's own state alive here, so that when cpal
    /// drops its closure on the audio thread only reference counts change there; the memory
    /// is freed here, on the supervisor thread, after the stream is gone.
    _keepalive: (RingStorage, Arc<CallbackSlot>),
}

impl OpenedStream {
    /// Stop the stream. The callback (and its Arcs) are dropped by cpal's thread, but the
    /// storage they point at is still held by `_keepalive`, which drops here, afterwards.
    pub fn close(self) {
        let OpenedStream {
            stream, _keepalive, ..
        } = self;
        let _ = stream.pause();
        drop(stream);
        drop(_keepalive);
    }
}

/// A listing of one output device, for `reel devices` and the settings UI.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceListing {
    pub id: String,
    pub name: String,
    pub is_default: bool,
    pub configs: Vec<String>,
}

pub use super::host::HOST_ENV;

/// The host `reel devices` and the stream use, and why (see host.rs).
pub fn host_choice() -> Result<super::host::HostChoice, OutputError> {
    super::host::choose()
}

fn device_label(device: &cpal::Device) -> (String, String) {
    let id = device
        .id()
        .map(|i| i.id().to_string())
        .unwrap_or_else(|_| "?".into());
    let name = device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|_| id.clone());
    (id, name)
}

pub fn list_devices() -> Result<Vec<DeviceListing>, OutputError> {
    let host = host_choice()?.host;
    let default_id = host
        .default_output_device()
        .and_then(|d| d.id().ok())
        .map(|i| i.id().to_string());
    let devices = host
        .output_devices()
        .map_err(|e| OutputError::NoDevice(e.to_string()))?;
    let mut out = Vec::new();
    for d in devices {
        let (id, name) = device_label(&d);
        let configs = match d.supported_output_configs() {
            Ok(cs) => summarize_configs(cs.collect()),
            Err(e) => vec![format!("(cannot query: {e})")],
        };
        out.push(DeviceListing {
            is_default: default_id.as_deref() == Some(id.as_str()),
            id,
            name,
            configs,
        });
    }
    Ok(out)
}

/// One line per sample format: channel range, rate range and buffer-size range. (A sound
/// server offers every channel count from 1 to 32 in every format; listing each is noise.)
fn summarize_configs(configs: Vec<cpal::SupportedStreamConfigRange>) -> Vec<String> {
    let mut formats: Vec<SampleFormat> = Vec::new();
    for c in &configs {
        if !formats.contains(&c.sample_format()) {
            formats.push(c.sample_format());
        }
    }
    formats
        .into_iter()
        .map(|f| {
            let of: Vec<_> = configs.iter().filter(|c| c.sample_format() == f).collect();
            let ch_min = of.iter().map(|c| c.channels()).min().unwrap_or(0);
            let ch_max = of.iter().map(|c| c.channels()).max().unwrap_or(0);
            let r_min = of.iter().map(|c| c.min_sample_rate()).min().unwrap_or(0);
            let r_max = of.iter().map(|c| c.max_sample_rate()).max().unwrap_or(0);
            let (b_min, b_max) =
                of.iter()
                    .fold((u32::MAX, 0u32), |(lo, hi), c| match c.buffer_size() {
                        SupportedBufferSize::Range { min, max } => (lo.min(*min), hi.max(*max)),
                        SupportedBufferSize::Unknown => (lo, hi),
                    });
            let channels = if ch_min == ch_max {
                format!("{ch_min} ch")
            } else {
                format!("{ch_min}–{ch_max} ch")
            };
            let rates = if r_min == r_max {
                format!("{r_min} Hz")
            } else {
                format!("{r_min}–{r_max} Hz")
            };
            let buffer = if b_max == 0 {
                "buffer size unknown".to_string()
            } else {
                format!("buffer {b_min}–{b_max} frames")
            };
            format!("{f}: {channels}, {rates}, {buffer}")
        })
        .collect()
}

fn find_device(host: &cpal::Host, wanted: Option<&str>) -> Result<cpal::Device, OutputError> {
    match wanted {
        None => host.default_output_device().ok_or_else(|| {
            OutputError::NoDevice("the audio host has no default output device".into())
        }),
        Some(name) => {
            let devices: Vec<cpal::Device> = host
                .output_devices()
                .map_err(|e| OutputError::NoDevice(e.to_string()))?
                .collect();
            let mut available = Vec::new();
            for d in devices {
                let (id, label) = device_label(&d);
                if id == name || label == name {
                    return Ok(d);
                }
                available.push(id);
            }
            Err(OutputError::UnknownDevice {
                name: name.to_string(),
                available,
            })
        }
    }
}

/// Open the requested device and start a stream feeding from a new ring.
pub fn open(
    req: &OutputRequest,
    shared: &Arc<Shared>,
    epoch: Instant,
) -> Result<(OpenedStream, Feed, HeapCons<Episode>), OutputError> {
    let host = host_choice()?.host;
    let device = find_device(&host, req.device.as_deref())?;
    let (_, device_name) = device_label(&device);
    let default = device
        .default_output_config()
        .map_err(|e| OutputError::NoDevice(format!("{device_name}: {e}")))?;
    let rate = default.sample_rate();
    let channels = default.channels();
    // Prefer f32 (no conversion loss) when the device offers it at this rate and width.
    let mut format = default.sample_format();
    let mut range = *default.buffer_size();
    if let Ok(configs) = device.supported_output_configs() {
        for c in configs {
            if c.channels() == channels
                && c.contains_rate(rate)
                && c.sample_format() == SampleFormat::F32
            {
                format = SampleFormat::F32;
                range = *c.buffer_size();
                break;
            }
        }
    }
    let period = match range {
        SupportedBufferSize::Range { min, max } => req.period_frames.clamp(min, max.max(min)),
        SupportedBufferSize::Unknown => req.period_frames,
    };
    let config = StreamConfig {
        channels,
        sample_rate: rate,
        buffer_size: BufferSize::Fixed(period),
    };

    let capacity_frames = (rate as u64 * req.ring_ms.max(1) as u64 / 1000).max(period as u64 * 2);
    let Wiring {
        callback,
        feed,
        link,
        episodes,
        storage,
    } = wire(rate, channels, capacity_frames, shared, epoch, None);
    let callback = Arc::new(CallbackSlot(std::cell::UnsafeCell::new(callback)));
    let callback_keepalive = callback.clone();
    let error = Arc::new(AtomicU8::new(STREAM_OK));

    let threads_before = threads_named(None).unwrap_or_default();
    let stream = match format {
        SampleFormat::I8 => build::<i8>(&device, config, callback, &error, shared),
        SampleFormat::I16 => build::<i16>(&device, config, callback, &error, shared),
        SampleFormat::I24 => build::<cpal::I24>(&device, config, callback, &error, shared),
        SampleFormat::I32 => build::<i32>(&device, config, callback, &error, shared),
        SampleFormat::I64 => build::<i64>(&device, config, callback, &error, shared),
        SampleFormat::U8 => build::<u8>(&device, config, callback, &error, shared),
        SampleFormat::U16 => build::<u16>(&device, config, callback, &error, shared),
        SampleFormat::U32 => build::<u32>(&device, config, callback, &error, shared),
        SampleFormat::U64 => build::<u64>(&device, config, callback, &error, shared),
        SampleFormat::F32 => build::<f32>(&device, config, callback, &error, shared),
        SampleFormat::F64 => build::<f64>(&device, config, callback, &error, shared),
        other => {
            return Err(OutputError::Unusable(format!(
                "{device_name}: sample format {other} is not supported"
            )));
        }
    }
    .map_err(|e| OutputError::NoDevice(format!("{device_name}: {e}")))?;
    stream
        .play()
        .map_err(|e| OutputError::NoDevice(format!("{device_name}: {e}")))?;
    let period_frames = stream.buffer_size().unwrap_or(period);
    let scheduling = match promote_audio_threads(&threads_before) {
        Ok(s) => s,
        Err(why) => format!("normal ({why})"),
    };
    Ok((
        OpenedStream {
            stream,
            link,
            device_name,
            host_name: host.id().name().to_string(),
            sample_format: format,
            period_frames,
            scheduling,
            error,
            _keepalive: (storage, callback_keepalive),
        },
        feed,
        episodes,
    ))
}

/// The callback's state, shared between cpal's closure and the supervisor's keepalive so that
/// its memory (the ring handles, the 16 KiB scratch array) is never freed on the audio thread.
///
/// Only the audio thread touches the inside, through `process`, and cpal calls a stream's data
/// closure from one thread at a time (it is `FnMut`). The supervisor's clone is only ever
/// dropped, after the stream has been stopped and dropped.
pub struct CallbackSlot(std::cell::UnsafeCell<Callback>);

// SAFETY: `Callback` is `Send` (its fields are ring handles, Arcs and plain data); the slot is
// shared between threads only so that the last reference decides where it is freed, and the
// single mutable access path is the audio thread's, as explained above.
unsafe impl Sync for CallbackSlot {}

fn build<T>(
    device: &cpal::Device,
    config: StreamConfig,
    callback: Arc<CallbackSlot>,
    error: &Arc<AtomicU8>,
    shared: &Arc<Shared>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32>,
{
    let error = error.clone();
    let xruns: Arc<Shared> = shared.clone();
    device.build_output_stream::<T, _, _>(
        config,
        move |data: &mut [T], info: &cpal::OutputCallbackInfo| {
            let ts = info.timestamp();
            let latency = ts.playback.duration_since(ts.callback).as_nanos() as u64;
            // SAFETY: see `CallbackSlot`: cpal runs this closure on one thread at a time, and
            // nothing else ever dereferences the slot.
            unsafe { (*callback.0.get()).process(data, latency) };
        },
        move |err: cpal::Error| {
            // Never blocks: record the kind and return. The supervisor polls it.
            let code = match err.kind() {
                cpal::ErrorKind::Xrun => {
                    xruns.count_device_xrun();
                    return;
                }
                cpal::ErrorKind::DeviceChanged | cpal::ErrorKind::RealtimeDenied => return,
                cpal::ErrorKind::DeviceNotAvailable | cpal::ErrorKind::HostUnavailable => {
                    STREAM_LOST
                }
                cpal::ErrorKind::StreamInvalidated => STREAM_INVALIDATED,
                _ => STREAM_OTHER,
            };
            error.store(code, Ordering::Release);
        },
        None,
    )
}

/// Real-time priority asked for the audio thread: below PipeWire's and PulseAudio's own data
/// threads (88 and up by default), above everything at normal priority.
pub const AUDIO_THREAD_RT_PRIORITY: i32 = 60;

/// How long to look for the audio host's threads after starting the stream.
const AUDIO_THREAD_SEARCH: std::time::Duration = std::time::Duration::from_millis(500);

/// Thread ids in this process, with their names; only those named `name` when given.
fn threads_named(name: Option<&str>) -> Result<Vec<(i32, String)>, String> {
    let tasks =
        std::fs::read_dir("/proc/self/task").map_err(|e| format!("cannot list threads: {e}"))?;
    Ok(tasks
        .flatten()
        .filter_map(|t| {
            let tid = t.file_name().to_str()?.parse::<i32>().ok()?;
            let comm = std::fs::read_to_string(t.path().join("comm"))
                .ok()?
                .trim_end()
                .to_string();
            Some((tid, comm))
        })
        .filter(|(_, comm)| name.is_none_or(|n| n == comm))
        .collect())
}

/// Give the audio host's stream threads real-time (SCHED_FIFO) priority.
///
/// Why by hand: cpal's `realtime` feature promotes only ALSA hardware PCMs, so through a sound
/// server the thread that runs our callback stays at normal priority, and a fully loaded CPU
/// (`stress-ng --cpu 2`) delays it past the server's buffer: the server plays silence although
/// our ring is full (measured: 4–6 gaps of up to 32 ms in 12 s). Our callback never blocks, so
/// running it at real-time priority cannot starve anything.
///
/// It runs here, on the supervisor thread, so the audio thread makes no syscall for it. The
/// stream's threads are the ones that appeared while it was built (cpal's pulseaudio host does
/// not name them); they are promoted with sched_setscheduler(2) on their tids. Without the
/// privilege (RLIMIT_RTPRIO of 0, no CAP_SYS_NICE) they stay at normal priority and the meters
/// say so.
pub fn promote_audio_threads(before: &[(i32, String)]) -> Result<String, String> {
    // A new thread names itself when it first runs, which on a busy machine may be a moment
    // after `play()` returns: look for a bounded time.
    let deadline = std::time::Instant::now() + AUDIO_THREAD_SEARCH;
    let old: std::collections::HashSet<i32> = before.iter().map(|(t, _)| *t).collect();
    let fresh = loop {
        let fresh: Vec<(i32, String)> = threads_named(None)?
            .into_iter()
            .filter(|(t, _)| !old.contains(t))
            .collect();
        if !fresh.is_empty() || std::time::Instant::now() >= deadline {
            break fresh;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    if fresh.is_empty() {
        return Err("audio thread not found".into());
    }
    let param = libc::sched_param {
        sched_priority: AUDIO_THREAD_RT_PRIORITY,
    };
    let mut promoted = 0;
    let mut last_err = None;
    for (tid, _) in &fresh {
        // SAFETY: sched_getscheduler/sched_setscheduler take a tid and a pointer to a live
        // sched_param; they have no other memory-safety preconditions.
        let policy = unsafe { libc::sched_getscheduler(*tid) } & !libc::SCHED_RESET_ON_FORK;
        if policy == libc::SCHED_FIFO || policy == libc::SCHED_RR {
            continue; // the host (or its sound-server library) already made it real-time
        }
        let r = unsafe {
            libc::sched_setscheduler(*tid, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
        };
        if r == 0 {
            promoted += 1;
        } else {
            last_err = Some(std::io::Error::last_os_error().to_string());
        }
    }
    match last_err {
        None => Ok(format!(
            "SCHED_FIFO {AUDIO_THREAD_RT_PRIORITY} ({promoted} threads)"
        )),
        Some(e) => Err(format!("real-time priority refused: {e}")),
    }
}
