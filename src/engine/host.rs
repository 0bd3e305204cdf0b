//! Which cpal host reel talks to, and why. Runs on whichever thread opens or lists devices
//! (the supervisor, or the caller of `reel devices`); never on the audio thread.
//!
//! The order, by what answers (README, "Audio host on Linux"):
//! 1. `REEL_AUDIO_HOST=alsa|pulseaudio` forces one.
//! 2. The PulseAudio protocol, spoken by PulseAudio and by PipeWire's pipewire-pulse. It
//!    connects with or without a cookie: with none, reel's vendored `pulseaudio` crate sends an
//!    anonymous one, as libpulse does (a fresh desktop account has no `~/.config/pulse/cookie`:
//!    pipewire-pulse neither writes nor checks one).
//! 3. ALSA, only when no sound server runs. Through a running server's ALSA plugin
//!    (pipewire-alsa) cpal's ALSA worker busy-polls a whole core at real-time priority, so
//!    when a server's socket is there but will not take reel, that is said as an error
//!    instead of falling back to it.

use std::path::PathBuf;

use crate::error::OutputError;

/// Environment variable that forces a cpal host by name (`pulseaudio` or `alsa`).
pub const HOST_ENV: &str = "REEL_AUDIO_HOST";

/// The chosen host and the reason, for `reel devices`, the meters and the window.
pub struct HostChoice {
    pub host: cpal::Host,
    /// One line: why this host ("the sound server at … answered").
    pub why: String,
}

impl HostChoice {
    /// cpal's name for the host: `PulseAudio` or `ALSA`.
    pub fn name(&self) -> &'static str {
        self.host.id().name()
    }
}

/// Choose the host (see the module docs). Connecting to a sound server takes about a
/// millisecond, so this runs every time a stream is opened or devices are listed: after a
/// server restart the new one is found.
pub fn choose() -> Result<HostChoice, OutputError> {
    let forced = std::env::var(HOST_ENV).ok().map(|s| s.to_ascii_lowercase());
    match forced.as_deref() {
        Some("alsa") => Ok(HostChoice {
            host: alsa()?,
            why: format!("{HOST_ENV}=alsa"),
        }),
        Some("pulseaudio") => pulse()
            .map(|host| HostChoice {
                host,
                why: format!("{HOST_ENV}=pulseaudio"),
            })
            .map_err(OutputError::NoDevice),
        Some(other) => Err(OutputError::NoDevice(format!(
            "{HOST_ENV}={other:?} names no audio host; use alsa or pulseaudio"
        ))),
        None => choose_by_what_answers(),
    }
}

fn choose_by_what_answers() -> Result<HostChoice, OutputError> {
    let sockets = server_sockets();
    match pulse() {
        Ok(host) => Ok(HostChoice {
            host,
            why: match sockets.first() {
                Some(s) => format!("the sound server at {} answered", s.display()),
                None => "a PulseAudio-protocol sound server answered".into(),
            },
        }),
        Err(why) if !sockets.is_empty() => Err(OutputError::ServerRefused {
            socket: sockets[0].clone(),
            why,
        }),
        Err(_) => Ok(HostChoice {
            host: alsa()?,
            why: "no sound server runs (no PulseAudio or PipeWire socket), so ALSA directly".into(),
        }),
    }
}

fn pulse() -> Result<cpal::Host, String> {
    cpal::host_from_id(cpal::HostId::PulseAudio).map_err(|e| format!("PulseAudio: {e}"))
}

fn alsa() -> Result<cpal::Host, OutputError> {
    cpal::host_from_id(cpal::HostId::Alsa)
        .map_err(|e| OutputError::NoDevice(format!("ALSA host: {e}")))
}

/// The sockets of a running sound server, where libpulse and libpipewire look for them:
/// that accept a connection: `$PULSE_SERVER` (a `unix:` path), `$XDG_RUNTIME_DIR/pulse/native` (PulseAudio or
/// pipewire-pulse), `$PIPEWIRE_RUNTIME_DIR` or `$XDG_RUNTIME_DIR` `/pipewire-0` (PipeWire).
pub fn server_sockets() -> Vec<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let runtime = env("XDG_RUNTIME_DIR");
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(s) = std::env::var("PULSE_SERVER").ok()
        && let Some(path) = s.strip_prefix("unix:")
    {
        candidates.push(PathBuf::from(path));
    }
    if let Some(r) = &runtime {
        candidates.push(r.join("pulse/native"));
    }
    if let Some(r) = env("PIPEWIRE_RUNTIME_DIR").or(runtime) {
        candidates.push(r.join("pipewire-0"));
    }
    // A socket file left by a server that died refuses connections: only a live one counts.
    candidates.retain(|p| std::os::unix::net::UnixStream::connect(p).is_ok());
    candidates.dedup();
    candidates
}
