//! The seam between the engine and an output device. Runs on the supervisor thread.
//!
//! The supervisor opens, watches and closes streams only through [`Backend`] and
//! [`DeviceStream`], as kira's `Backend` and symphonia-play's output do. Two implementations:
//! - [`super::output::CpalBackend`]: a real device through cpal (what reel plays on);
//! - [`super::mock::MockBackend`]: a device that a test steps by hand, with no sound server,
//!   faster than real time, and that can fail or stall on request.
//!
//! Either way the callback is the engine's own ([`super::callback::wire`]), so what the
//! mock drives is exactly what runs on a device's audio thread.

use std::sync::Arc;
use std::time::Instant;

use ringbuf::HeapCons;

use super::output::OutputRequest;
use super::shared::{Episode, Feed, Link, Shared};
use crate::error::OutputError;

/// Opens output streams.
pub trait Backend: Send + 'static {
    /// Open the output that `req` asks for, wire a callback for the format the device takes
    /// (with [`super::callback::wire`]), and start it. The callback stamps its episodes on
    /// `epoch`'s clock and writes its meters into `shared`.
    fn open(
        &mut self,
        req: &OutputRequest,
        shared: &Arc<Shared>,
        epoch: Instant,
    ) -> Result<Opened, OutputError>;

    /// Whether the output device named `name` (an id or a name, as `--device` takes) is there
    /// now; `None` when that cannot be told (no sound server answers, or a backend that has
    /// no names). The supervisor asks it a few times a second at most, only while it plays on
    /// the default in place of a named device that went away. Must not block for long.
    fn device_present(&mut self, _name: &str) -> Option<bool> {
        None
    }

    /// What the meters call the device with id `id` (its description); `None` when it cannot
    /// be told. Must not block for long.
    fn device_label(&mut self, _id: &str) -> Option<String> {
        None
    }
}

/// A stream just opened, and the ends of its rings that the engine's threads take.
pub struct Opened {
    pub stream: Box<dyn DeviceStream>,
    /// For the decoder.
    pub feed: Feed,
    /// For the supervisor.
    pub episodes: HeapCons<Episode>,
}

/// What the meters and the window show about a stream.
#[derive(Debug, Clone, Default)]
pub struct StreamDescription {
    pub device: String,
    pub host: String,
    pub sample_format: String,
    /// How the audio thread is scheduled, e.g. "SCHED_FIFO 60".
    pub scheduling: String,
}

/// Whether a stream still plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Running,
    /// The stream is gone (an error from the host, or it stopped calling back), with why.
    Failed(String),
}

/// A running output stream.
pub trait DeviceStream {
    fn link(&self) -> &Arc<Link>;
    fn describe(&self) -> &StreamDescription;
    /// Called by the supervisor on every poll. Must not block.
    fn health(&mut self) -> Health;
    /// Once after the sound server moved the stream to another device by itself (a stream on
    /// "the default" follows the default): that device's id.
    fn take_moved(&mut self) -> Option<String> {
        None
    }
    /// Stop the stream and free it (the ring's memory last, after the audio thread has let
    /// go of the callback).
    fn close(self: Box<Self>);
}
