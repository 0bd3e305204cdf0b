//! cpal output: choosing a device and a configuration, and building the stream around a
//! [`Callback`]. [`CpalBackend`] is the engine's real [`Backend`]. Runs on the supervisor
//! thread.
//!
//! Host: chosen by what answers (see host.rs): the PulseAudio protocol, or ALSA when no sound
//! server runs. On the PulseAudio protocol the server keeps [`super::SERVER_BUFFER_MS`] queued
//! behind the stream, and the callback's replacing blocks keep that from delaying pause and
//! seek (see `shared::ServerQueue` and README, "Where the latency goes").
//!
//! Buffer size: always `BufferSize::Fixed`, clamped into the device's supported range. Never
//! `Default`: on PulseAudio that gives about 2 s per callback (cpal#1222).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{BufferSize, FromSample, SampleFormat, SizedSample, StreamConfig, SupportedBufferSize};
use ringbuf::HeapCons;

use super::backend::{Backend, DeviceStream, Health, Opened, StreamDescription};
use super::callback::{Callback, RingStorage, Wiring, wire};
use super::shared::{Episode, Feed, Link, Shared};
use super::supervisor::STREAM_STALL;
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

/// The engine's output through cpal (see the module docs for the host and buffer choices).
#[derive(Default)]
pub struct CpalBackend {
    /// Test seam: runs on the supervisor thread after the stream is built and before it is
    /// started, i.e. while it is being set up (see `tests/realtime_priority.rs`).
    on_setup: Option<Box<dyn FnMut() + Send>>,
    /// The connection [`Backend::device_present`] asks on, kept between its calls (one
    /// listing round trip each, instead of a new connection and its thread), and dropped
    /// when a listing fails (the server restarted) or a stream opens.
    watch_host: Option<cpal::Host>,
}

impl CpalBackend {
    /// A backend that calls `f` during each stream's set-up (between building and starting
    /// it). For tests that need something to happen at exactly that moment.
    pub fn with_setup_hook(f: impl FnMut() + Send + 'static) -> CpalBackend {
        CpalBackend {
            on_setup: Some(Box::new(f)),
            watch_host: None,
        }
    }
}

impl Backend for CpalBackend {
    fn open(
        &mut self,
        req: &OutputRequest,
        shared: &Arc<Shared>,
        epoch: Instant,
    ) -> Result<Opened, OutputError> {
        self.watch_host = None;
        let (stream, feed, episodes) = open(req, shared, epoch, self.on_setup.as_mut())?;
        Ok(Opened {
            stream: Box::new(stream),
            feed,
            episodes,
        })
    }

    fn device_present(&mut self, name: &str) -> Option<bool> {
        match self.watched_device(name) {
            Ok(_) => Some(true),
            Err(OutputError::UnknownDevice { .. }) => Some(false),
            Err(_) => None,
        }
    }

    fn device_label(&mut self, id: &str) -> Option<String> {
        self.watched_device(id).ok().map(|d| device_label(&d).1)
    }
}

impl CpalBackend {
    /// The device `name` names, looked up on the kept connection to the sound server (made
    /// again after a failure). Only a sound server's connection is kept: ALSA, chosen while
    /// no server runs, is asked afresh each time, so that a server that starts is found.
    fn watched_device(&mut self, name: &str) -> Result<cpal::Device, OutputError> {
        let host = match self.watch_host.take() {
            Some(h) => h,
            None => host_choice()?.host,
        };
        let found = find_device(&host, Some(name));
        if host.id() == cpal::HostId::PulseAudio && !matches!(found, Err(OutputError::NoDevice(_)))
        {
            self.watch_host = Some(host);
        }
        found
    }
}

/// A running output stream and everything that must outlive it.
pub struct OpenedStream {
    stream: cpal::Stream,
    link: Arc<Link>,
    description: StreamDescription,
    /// Engine clock when it was started, and the engine's epoch (for the stall watchdog).
    started_ns: u64,
    epoch: Instant,
    /// Set by the error callback (one of the STREAM_* codes).
    error: Arc<AtomicU8>,
    /// Where the server moved the stream (a sink's name), set by the vendored client.
    moved_to: Arc<std::sync::Mutex<Option<String>>>,
    /// Keeps the ring's storage and the callback's own state alive here, so that when cpal
    /// drops its closure on the audio thread only reference counts change there; the memory
    /// is freed here, on the supervisor thread, after the stream is gone.
    _keepalive: (RingStorage, Arc<CallbackSlot>),
}

impl DeviceStream for OpenedStream {
    fn link(&self) -> &Arc<Link> {
        &self.link
    }

    fn describe(&self) -> &StreamDescription {
        &self.description
    }

    /// An error the error callback recorded, or a callback that stopped coming (a sound
    /// server killed mid-write stops calling back without an error) for [`STREAM_STALL`].
    fn health(&mut self) -> Health {
        let code = self.error.load(Ordering::Acquire);
        if code != STREAM_OK {
            return Health::Failed(format!("the output stream failed (code {code})"));
        }
        let now_ns = self.epoch.elapsed().as_nanos() as u64;
        let last_ns = self.link.last_callback_ns().max(self.started_ns);
        if now_ns.saturating_sub(last_ns) > STREAM_STALL.as_nanos() as u64 {
            return Health::Failed(
                "the output stopped calling back (sound server gone?)".to_string(),
            );
        }
        Health::Running
    }

    fn take_moved(&mut self) -> Option<String> {
        self.moved_to
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Stop the stream. The callback (and its Arcs) are dropped by cpal's thread, but the
    /// storage they point at is still held by `_keepalive`, which drops here, afterwards.
    fn close(self: Box<Self>) {
        let OpenedStream {
            stream, _keepalive, ..
        } = *self;
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
fn open(
    req: &OutputRequest,
    shared: &Arc<Shared>,
    epoch: Instant,
    on_setup: Option<&mut Box<dyn FnMut() + Send>>,
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

    let server_frames = if host.id() == cpal::HostId::PulseAudio {
        rate as u64 * super::SERVER_BUFFER_MS as u64 / 1000
    } else {
        0
    };
    let capacity_frames =
        (rate as u64 * req.ring_ms.max(1) as u64 / 1000 + server_frames).max(period as u64 * 2);
    let Wiring {
        callback,
        feed,
        link,
        episodes,
        storage,
    } = wire(rate, channels, capacity_frames, shared, epoch, None);
    let moved_to = Arc::new(std::sync::Mutex::new(None));
    if server_frames > 0 {
        link.set_server_buffer_frames(server_frames);
        let (replace_queued, underflows) = link.server_signals();
        // Taken by the next stream built on this thread, i.e. the one `build` makes below.
        cpal::pulseaudio_options::set_next_playback_options(
            cpal::pulseaudio_options::PlaybackOptions {
                server_buffer_frames: Some(server_frames as u32),
                signals: cpal::pulseaudio_options::StreamSignals {
                    underflows,
                    replace_queued,
                    moved_to: moved_to.clone(),
                },
                // "The default" is the server's default, wherever it moves: the server then
                // moves the stream itself, with no gap and the position kept.
                follow_default: req.device.is_none(),
            },
        );
    }
    let callback = Arc::new(CallbackSlot(std::cell::UnsafeCell::new(callback)));
    let callback_keepalive = callback.clone();
    let error = Arc::new(AtomicU8::new(STREAM_OK));

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
    if let Some(f) = on_setup {
        f();
    }
    stream
        .play()
        .map_err(|e| OutputError::NoDevice(format!("{device_name}: {e}")))?;
    let started_ns = epoch.elapsed().as_nanos() as u64;
    let scheduling = match promote_audio_thread(&link) {
        Ok(s) => s,
        Err(why) => format!("normal ({why})"),
    };
    Ok((
        OpenedStream {
            stream,
            link,
            description: StreamDescription {
                device: device_name,
                host: host.id().name().to_string(),
                sample_format: format.to_string(),
                scheduling,
            },
            started_ns,
            epoch,
            error,
            moved_to,
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

/// How long to wait for the callback's first call (which registers its thread) after starting
/// the stream.
const AUDIO_THREAD_SEARCH: std::time::Duration = std::time::Duration::from_millis(500);

/// Give the thread that runs our callback real-time (SCHED_FIFO) priority.
///
/// Why by hand: cpal's `realtime` feature promotes only ALSA hardware PCMs, so through a sound
/// server the thread that runs our callback stays at normal priority, and a fully loaded CPU
/// (`stress-ng --cpu 2`) delays it past the server's buffer: the server plays silence although
/// our ring is full (measured: 4–6 gaps of up to 32 ms in 12 s). Our callback never blocks, so
/// running it at real-time priority cannot starve anything.
///
/// Which thread: the one the callback itself registered, by identity. Its first call stores
/// `pthread_self()` in the link ([`Link::register_audio_thread`]): reading the thread pointer
/// is not a syscall and allocates nothing, so the callback's contract holds. The promotion
/// (`pthread_setschedparam`, a syscall) happens here, on the supervisor thread, once that
/// first call has come. (Before, every thread that appeared while the stream was being built
/// was promoted: on the PulseAudio host that was cpal's helper threads, not the protocol
/// reactor that actually runs the callback, and any other thread of ours that happened to
/// start at that moment, such as a cache copy.) The thread outlives this call: it belongs to
/// the stream, which the supervisor holds until it closes it.
///
/// Without the privilege (RLIMIT_RTPRIO of 0, no CAP_SYS_NICE) it stays at normal priority
/// and the meters say so.
pub fn promote_audio_thread(link: &Link) -> Result<String, String> {
    let deadline = std::time::Instant::now() + AUDIO_THREAD_SEARCH;
    let thread = loop {
        if let Some(t) = link.audio_thread() {
            break t;
        }
        if std::time::Instant::now() >= deadline {
            return Err("the callback has not run yet".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    let mut policy = 0;
    // SAFETY: sched_param is plain data; zero is a valid value.
    let mut param: libc::sched_param = unsafe { std::mem::zeroed() };
    // SAFETY: `thread` is a live thread (see above); the out-pointers are valid.
    let r = unsafe { libc::pthread_getschedparam(thread, &mut policy, &mut param) };
    if r != 0 {
        return Err(format!(
            "cannot read its scheduling: {}",
            std::io::Error::from_raw_os_error(r)
        ));
    }
    let policy = policy & !libc::SCHED_RESET_ON_FORK;
    if policy == libc::SCHED_FIFO || policy == libc::SCHED_RR {
        // The host (or its sound-server library) already made it real-time.
        return Ok(format!(
            "SCHED_FIFO {} (set by the host)",
            param.sched_priority
        ));
    }
    let param = libc::sched_param {
        sched_priority: AUDIO_THREAD_RT_PRIORITY,
    };
    // SAFETY: as above; glibc passes the policy (with SCHED_RESET_ON_FORK, so no child
    // inherits real-time priority) to sched_setscheduler(2) on the thread's tid.
    let r = unsafe {
        libc::pthread_setschedparam(thread, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
    };
    if r != 0 {
        return Err(format!(
            "real-time priority refused: {}",
            std::io::Error::from_raw_os_error(r)
        ));
    }
    Ok(format!(
        "SCHED_FIFO {AUDIO_THREAD_RT_PRIORITY} (the callback's thread)"
    ))
}
