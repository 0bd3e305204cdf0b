//! The protocol between the decoder thread and the audio callback: atomics only.
//!
//! Two structs, both with private fields and one method per step of the protocol:
//! - [`Shared`]: one per engine. Volume, and the cumulative meters the callback writes.
//! - [`Link`]: one per output stream (and its ring). The decoder and the callback coordinate
//!   through it: mode, flush requests, the end of the queue, and ring-index counters that let
//!   non-real-time code map "the frame being played" back to a track and a position.
//!
//! and [`Feed`], the decoder's end of a link's ring: pushing through it publishes the frames.
//!
//! Each method says which thread calls it: *decoder* (the decoder thread, or a test standing
//! in for it), *callback* (the audio thread; these never block, allocate or make a syscall),
//! or *reader* (any non-real-time thread: supervisor, meters, UI).
//!
//! # Ring indices
//! Every frame pushed into a link's ring gets the next index (`pushed`). The callback consumes
//! frames in order (`consumed` = index of the next frame it will take); frames discarded by a
//! flush count as consumed. So `consumed` names, at any instant, the exact place in the
//! decoder's output that the device is about to play.
//!
//! # The protocol, step by step
//! 1. **Priming.** Playback from silence or after a flush starts in [`Mode::Priming`]: the
//!    callback plays nothing (and counts no underrun) until the ring holds
//!    [`Link::set_prime_frames`] frames or the whole queue is in it, then turns it into
//!    [`Mode::Playing`] itself ([`Link::settle_priming`]).
//! 2. **Flush** (seek, pause, stop, next). The decoder calls [`Link::request_flush`] with the
//!    mode to continue in, and pushes nothing more until [`Link::flush_acknowledged`]; the
//!    callback sees [`Link::pending_flush`], drops the ring (fading out a few ms), and answers
//!    with [`Link::acknowledge_flush`], which also records where the listener was
//!    ([`Link::flushed_at`]).
//! 3. **End of queue.** When everything queued has been pushed, the decoder calls
//!    [`Link::mark_end_of_queue`]; the callback running dry exactly there is the end
//!    ([`Link::finish_if_played_out`]), not an underrun. More audio queued gaplessly takes the
//!    mark back ([`Link::reopen_queue`]).
//! 4. **First audio.** The decoder names the first frame of the newest segment
//!    ([`Link::watch_first_audio`]); the first callback that plays it stamps the time
//!    ([`Link::note_first_audio`]) for the supervisor's time-to-first-audio
//!    ([`Link::first_audio`]).
//! 5. **Activity.** What the decoder is doing ([`Link::set_activity`]) tags the cause of an
//!    underrun episode that begins meanwhile.
//! 6. **Cut.** A queue edit changed which track follows the one playing, after the decoder
//!    had already pushed the start of the old next one (gapless look-ahead). The decoder asks
//!    [`Link::request_cut`] to skip exactly those frames and pushes the new next track's audio
//!    behind them at once; the callback plays up to the cut, skips it
//!    ([`Link::cut`], [`Link::finish_cut`]) and plays on: no flush, no gap. Skipped frames
//!    count as consumed, as flushed ones do.
//!
//! # Memory ordering (the rules, in one place)
//! - **Ring indices.** Only the decoder writes `pushed` (in [`Feed::push`], after the samples
//!   are in the ring) and only the callback writes `consumed`; each stores with `Release` and
//!   every reader loads with `Acquire`, so an index a reader sees is never ahead of the data.
//! - **Flush.** The decoder stores the end mark, then the mode, then the new request number
//!   (`Release`): a callback that loads the request (`Acquire`) sees the mode and end mark that
//!   go with it. The callback stores the flush index and `consumed`, then the answer
//!   (`Release`): a decoder that loads the answer (`Acquire`) sees where the flush happened.
//! - **Mode.** Both sides write it. The decoder stores (`Release`); the callback only ever
//!   moves it with a compare-exchange from the value it read (`AcqRel`): Priming → Playing,
//!   Priming → Idle, Playing → Idle. So a decoder's store is never overwritten by a stale
//!   callback transition.
//! - **Cut.** The decoder stores `cut_to`, then `cut_from` (`Release`); the callback loads
//!   `cut_from` (`Acquire`) first, so it sees the `cut_to` that goes with it. Only the
//!   callback clears it (compare-exchange), or a flush request, which drops the ring anyway.
//! - **End mark.** Stored (`Release`) after the frames up to it were pushed, loaded (`Acquire`)
//!   after `pushed`: whoever sees the mark sees the frames before it.
//! - **First audio.** The decoder clears the stamp (`Relaxed`) and then stores the watched
//!   index (`Release`); the callback loads the index (`Acquire`), stores the gap (`Relaxed`)
//!   and then the stamp (`Release`); the supervisor loads the stamp (`Acquire`) first.
//! - **Meters and counters** are independent figures: `Relaxed`. The callback-duration window
//!   publishes its slot before bumping `callback_count` (`Release`), which readers load
//!   (`Acquire`) first.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

use ringbuf::HeapProd;
use ringbuf::traits::{Observer, Producer};

use super::levels::{LevelTape, LevelWriter};
use super::mock::DecoderGate;

/// Callback durations kept for the p50/p99/max window: about 20 s of 512-frame periods at 48 kHz.
pub const CALLBACK_WINDOW: usize = 2048;

/// Channels for which peak and RMS levels are metered (engine/levels.rs).
pub const METERED_CHANNELS: usize = 8;

/// What the callback does with the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Nothing to play: silence, no underruns.
    Idle = 0,
    /// Paused by the user: silence, no underruns.
    Paused = 1,
    /// Waiting for the ring to hold enough to start: silence, no underruns (priming).
    Priming = 2,
    /// Playing: a short ring is an underrun.
    Playing = 3,
}

impl Mode {
    fn from_u8(v: u8) -> Mode {
        match v {
            1 => Mode::Paused,
            2 => Mode::Priming,
            3 => Mode::Playing,
            _ => Mode::Idle,
        }
    }
}

/// What the decoder was doing, used to tag underrun episodes with a cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Activity {
    /// Decoding normally: a shortage means it could not keep up (CPU or a slow read).
    Decoding = 0,
    /// Opening the next track.
    Opening = 1,
    /// Seeking.
    Seeking = 2,
    /// The output stream was replaced (lost and reopened, or another device chosen): the gap
    /// between the old stream's last audio and the new one's first. Set by the supervisor on
    /// the episodes it records, never by the decoder.
    DeviceChange = 3,
    /// Blocked on a file still being copied into the cache (engine/opener.rs).
    Source = 4,
    /// reel gave the audio, but the sound server ran out of it anyway (its underflow notice):
    /// reel's process or its audio thread was not scheduled for longer than the server's
    /// buffer. Set by the supervisor on the episodes it records, never by the decoder.
    Server = 5,
}

impl Activity {
    fn from_u8(v: u8) -> Activity {
        match v {
            1 => Activity::Opening,
            2 => Activity::Seeking,
            3 => Activity::DeviceChange,
            4 => Activity::Source,
            5 => Activity::Server,
            _ => Activity::Decoding,
        }
    }

    /// The cause tag shown for an underrun episode that began while the decoder did this.
    pub fn cause(self) -> &'static str {
        match self {
            Activity::Decoding => "starved",
            Activity::Opening => "opening",
            Activity::Seeking => "seeking",
            Activity::DeviceChange => "device-change",
            Activity::Source => "source",
            Activity::Server => "server",
        }
    }
}

/// One underrun episode: a run of callbacks that found the ring short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Episode {
    /// Engine clock (ns since the engine started) when it began.
    pub start_ns: u64,
    /// How long it lasted.
    pub duration_ns: u64,
    /// Silent frames inserted.
    pub frames: u64,
    pub cause: Activity,
}

/// A flush the decoder asked for; [`Link::flush_acknowledged`] says when it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushTicket(u64);

/// When the newest segment's first frame was first played (see [`Link::first_audio`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstAudio {
    /// The ring index of the watched frame.
    pub index: u64,
    /// Engine clock of the callback that played it.
    pub at_ns: u64,
    /// Length of the underrun (if any) that this frame ended: a gap before the track.
    pub gap_ns: u64,
}

/// Per-stream coordination between the decoder thread and the callback.
pub struct Link {
    rate: u32,
    channels: u16,
    capacity_frames: u64,
    /// Callback size actually seen, in frames.
    period_frames: AtomicU32,
    mode: AtomicU8,
    activity: AtomicU8,
    /// Decoder asks for a flush by bumping this; the callback answers in `flush_done`.
    flush_request: AtomicU64,
    flush_done: AtomicU64,
    /// The ring index the listener heard at the moment of the last flush (`consumed` then,
    /// less what the device still held): what the listener heard last.
    flush_at_index: AtomicU64,
    /// The queue ends at this index: running dry there is the end, not an underrun.
    end_index: AtomicU64,
    /// A cut the decoder asked for (step 6 of the protocol): ring indices `cut_from..cut_to`
    /// are skipped, not played. `cut_from` is `u64::MAX` when there is none.
    cut_from: AtomicU64,
    cut_to: AtomicU64,
    pushed: AtomicU64,
    consumed: AtomicU64,
    /// Frames needed in the ring before Priming turns into Playing.
    prime_frames: AtomicU64,
    /// The first frame of the newest track, and when a callback first wrote it.
    watch_index: AtomicU64,
    watch_hit_ns: AtomicU64,
    /// Length of the underrun (if any) that the watched frame ended: the gap before the track.
    watch_gap_ns: AtomicU64,
    /// Engine clock of the newest callback.
    last_callback_ns: AtomicU64,
    /// Callbacks run on this stream (a stalled stream stops counting).
    callbacks: AtomicU64,
    /// The callback's thread, registered by its first call (0 = not yet); see
    /// [`Link::register_audio_thread`].
    audio_thread: AtomicU64,
    /// Test builds of the engine (the mock backend) can stop the decoder at a protocol step;
    /// `None` for a real device. Only decoder-side steps look at it, never the callback.
    gate: Option<Arc<DecoderGate>>,
    /// The levels of what was pushed, by ring index (engine/levels.rs); the callback never
    /// touches it.
    levels: LevelTape,
    /// The sound server's own buffer behind this stream (see [`ServerQueue`]).
    server: ServerQueue,
}

/// The audio a sound server keeps queued behind the callback, and the two signals reel shares
/// with the stream about it (through the vendored cpal's PulseAudio host, `PlaybackOptions`).
///
/// reel asks the server to keep [`ServerQueue::frames`] queued, so that a stall of reel's
/// process shorter than that is never heard. That buffer must never delay what the user does,
/// so every block the callback writes after a flush (pause, seek, stop, next) or when priming
/// ends *replaces* what the server had queued: it is written at the server's read index
/// (`PA_SEEK_RELATIVE_ON_READ`), in order with the audio on the same socket, so there is no
/// window in which old audio or priming silence can still be heard. A device without a server
/// buffer (ALSA, the mock) leaves `frames` at 0 and nobody reads the signals.
#[derive(Default)]
struct ServerQueue {
    /// Frames the server keeps queued (0 = none).
    frames: AtomicU64,
    /// Set by the callback; the stream's reactor writes the next block at the read index and
    /// clears it.
    replace: Arc<std::sync::atomic::AtomicBool>,
    /// The server's underflow notices for this stream, counted by the stream's reactor.
    underflows: Arc<AtomicU64>,
    /// The longest time between two callbacks since the supervisor last looked (ns): how long
    /// the server went without new audio from reel.
    longest_wait_ns: AtomicU64,
    /// The ring index of the first frame of the newest replacing block, and the engine clock
    /// when it was written (0 = never): the server plays it at once, so for a while after it
    /// this is a better clock of what is heard than the server's latency reports, which lag.
    replace_index: AtomicU64,
    replace_ns: AtomicU64,
}

/// For this long after a replacing block, the heard position runs from it (see
/// [`Link::heard_at`]); then from the server's latency reports again, which follow the
/// device's own clock.
const REPLACE_SETTLE_NS: u64 = 1_000_000_000;

impl Link {
    pub fn new(rate: u32, channels: u16, capacity_frames: u64) -> Link {
        Link::with_gate(rate, channels, capacity_frames, None)
    }

    pub(crate) fn with_gate(
        rate: u32,
        channels: u16,
        capacity_frames: u64,
        gate: Option<Arc<DecoderGate>>,
    ) -> Link {
        Link {
            rate,
            channels,
            capacity_frames,
            period_frames: AtomicU32::new(0),
            mode: AtomicU8::new(Mode::Idle as u8),
            activity: AtomicU8::new(Activity::Decoding as u8),
            flush_request: AtomicU64::new(0),
            flush_done: AtomicU64::new(0),
            flush_at_index: AtomicU64::new(0),
            end_index: AtomicU64::new(u64::MAX),
            cut_from: AtomicU64::new(u64::MAX),
            cut_to: AtomicU64::new(u64::MAX),
            pushed: AtomicU64::new(0),
            consumed: AtomicU64::new(0),
            prime_frames: AtomicU64::new(0),
            watch_index: AtomicU64::new(u64::MAX),
            watch_hit_ns: AtomicU64::new(0),
            watch_gap_ns: AtomicU64::new(0),
            last_callback_ns: AtomicU64::new(0),
            callbacks: AtomicU64::new(0),
            audio_thread: AtomicU64::new(0),
            gate,
            levels: LevelTape::new(rate, capacity_frames),
            server: ServerQueue::default(),
        }
    }

    // ---- the server's buffer behind the stream (set by the output before it starts) ----

    /// Output: the server keeps `frames` queued behind this stream.
    pub fn set_server_buffer_frames(&self, frames: u64) {
        self.server.frames.store(frames, Ordering::Relaxed);
    }

    /// Reader: frames the server keeps queued behind this stream (0 = none).
    pub fn server_buffer_frames(&self) -> u64 {
        self.server.frames.load(Ordering::Relaxed)
    }

    /// Output: the flag the stream's reactor reads to write a block at the read index, and
    /// the counter of the server's underflow notices, to hand to the stream.
    pub fn server_signals(&self) -> (Arc<std::sync::atomic::AtomicBool>, Arc<AtomicU64>) {
        (self.server.replace.clone(), self.server.underflows.clone())
    }

    /// Reader: the server's underflow notices so far.
    pub fn server_underflows(&self) -> u64 {
        self.server.underflows.load(Ordering::Relaxed)
    }

    /// Supervisor: the longest time between two callbacks since the last call (ns), and reset.
    pub fn take_longest_callback_wait_ns(&self) -> u64 {
        self.server.longest_wait_ns.swap(0, Ordering::Relaxed)
    }

    /// Callback: what it writes now (from ring index `consumed` on, at engine time `now_ns`)
    /// replaces what the server has queued.
    fn replace_server_queue(&self, now_ns: u64) {
        self.server.replace.store(true, Ordering::Release);
        self.server
            .replace_index
            .store(self.consumed.load(Ordering::Relaxed), Ordering::Relaxed);
        self.server
            .replace_ns
            .store(now_ns.max(1), Ordering::Relaxed);
    }

    /// Any thread: the ring index the listener hears at engine time `now_ns`, given the
    /// device's reported latency. The first frame of the last callback plays at callback time
    /// plus latency, and time runs on from there. Within [`REPLACE_SETTLE_NS`] of a block that
    /// replaced the server's queue, the server's latency report still describes the old queue,
    /// so the position runs from that block instead, which the server began playing at once.
    pub fn heard_at(&self, now_ns: u64, latency_ns: u64) -> u64 {
        let consumed = self.consumed.load(Ordering::Acquire);
        let rate = self.rate.max(1) as i128;
        let replace_ns = self.server.replace_ns.load(Ordering::Relaxed);
        if self.server_buffer_frames() > 0
            && replace_ns != 0
            && now_ns >= replace_ns
            && now_ns - replace_ns < REPLACE_SETTLE_NS
        {
            let from = self.server.replace_index.load(Ordering::Relaxed) as i128;
            let heard = from + (now_ns - replace_ns) as i128 * rate / 1_000_000_000;
            return heard.clamp(0, consumed as i128) as u64;
        }
        let period = self.period_frames() as u64;
        let cb_ns = self.last_callback_ns();
        let first_of_last = consumed.saturating_sub(period);
        let since_ns = now_ns.saturating_sub(cb_ns) as i128 - latency_ns as i128;
        let heard = first_of_last as i128 + since_ns * rate / 1_000_000_000;
        heard.clamp(0, consumed as i128) as u64
    }

    // ---- the stream's format (fixed when it is built) ----

    /// Device rate, frames per second.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Ring capacity in frames.
    pub fn capacity_frames(&self) -> u64 {
        self.capacity_frames
    }

    // ---- decoder steps ----

    /// Decoder: frames needed in the ring before priming turns into playing.
    pub fn set_prime_frames(&self, frames: u64) {
        self.prime_frames.store(frames, Ordering::Relaxed);
    }

    /// Decoder: set the mode outright (a new stream, a lost one). Transitions that go with a
    /// flush or a start use [`Link::request_flush`] and [`Link::start_priming`].
    pub fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::Release);
        self.nudge_gate();
    }

    /// Decoder: start from silence (nothing queued, nothing to drop): prime, with no end.
    pub fn start_priming(&self) {
        self.end_index.store(u64::MAX, Ordering::Release);
        self.set_mode(Mode::Priming);
    }

    /// Decoder: ask the callback to drop what is queued and continue in `then`.
    ///
    /// The end mark goes first: a callback that saw Priming with the old end mark and an
    /// empty ring would take the queue for played out and go Idle for good.
    pub fn request_flush(&self, then: Mode) -> FlushTicket {
        self.end_index.store(u64::MAX, Ordering::Release);
        // The flush drops the whole ring, a cut in it with the rest.
        self.cut_from.store(u64::MAX, Ordering::Release);
        self.mode.store(then as u8, Ordering::Release);
        // Only the decoder writes the request, so load + store cannot lose a bump.
        let ticket = self.flush_request.load(Ordering::Relaxed) + 1;
        self.flush_request.store(ticket, Ordering::Release);
        self.nudge_gate();
        FlushTicket(ticket)
    }

    /// Decoder (or reader): has the callback done the flush of `ticket` (or a later one)?
    pub fn flush_acknowledged(&self, ticket: FlushTicket) -> bool {
        self.flush_done.load(Ordering::Acquire) >= ticket.0
    }

    /// Decoder: no flush is outstanding (everything asked for was done).
    pub fn no_flush_pending(&self) -> bool {
        self.flush_done.load(Ordering::Acquire) >= self.flush_request.load(Ordering::Relaxed)
    }

    /// Decoder: the ring index the listener was at when the last acknowledged flush happened.
    /// Valid once [`Link::flush_acknowledged`] said so.
    pub fn flushed_at(&self) -> u64 {
        self.flush_at_index.load(Ordering::Acquire)
    }

    /// Decoder: skip ring indices `from..to` (already pushed, not yet consumed: the start of a
    /// next track the queue no longer plays next), and play on from `to`. False when a cut
    /// is still outstanding (one at a time).
    pub fn request_cut(&self, from: u64, to: u64) -> bool {
        if self.cut_pending() {
            return false;
        }
        self.cut_to.store(to, Ordering::Relaxed);
        self.cut_from.store(from, Ordering::Release);
        self.nudge_gate();
        true
    }

    /// Decoder (or reader): a cut was asked for and the callback has not reached it yet.
    pub fn cut_pending(&self) -> bool {
        self.cut_from.load(Ordering::Acquire) != u64::MAX
    }

    /// Decoder: more audio follows what was marked as the end (queued gaplessly).
    pub fn reopen_queue(&self) {
        self.end_index.store(u64::MAX, Ordering::Release);
    }

    /// Decoder: everything queued has been pushed; the ring ends here. When nothing is left
    /// in the ring and `nothing_pending` (the decoder holds no unpushed audio), a stream
    /// still priming goes idle at once: there is nothing to wait for.
    pub fn mark_end_of_queue(&self, nothing_pending: bool) {
        let end = self.pushed.load(Ordering::Relaxed);
        self.end_index.store(end, Ordering::Release);
        if nothing_pending && self.consumed.load(Ordering::Acquire) >= end {
            let _ = self.mode.compare_exchange(
                Mode::Priming as u8,
                Mode::Idle as u8,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
        self.nudge_gate();
    }

    /// Decoder: say what it is doing now (tags the cause of an underrun that begins).
    pub fn set_activity(&self, a: Activity) {
        self.activity.store(a as u8, Ordering::Relaxed);
        if let Some(gate) = &self.gate {
            gate.pass(super::mock::GatePoint::from_activity(a));
        }
    }

    /// Decoder, while a streamed track's reader blocks for bytes that have not arrived
    /// (engine/opener.rs): tag what it does as `a`, returning what it did before, to be put
    /// back with [`Link::restore_activity`]. No mock gate point: the wait is inside a read.
    pub fn swap_activity(&self, a: Activity) -> Activity {
        Activity::from_u8(self.activity.swap(a as u8, Ordering::Relaxed))
    }

    /// Decoder: put back what [`Link::swap_activity`] returned.
    pub fn restore_activity(&self, a: Activity) {
        self.activity.store(a as u8, Ordering::Relaxed);
    }

    /// Decoder: the newest segment starts at ring index `index`; time its first audio.
    pub fn watch_first_audio(&self, index: u64) {
        self.watch_hit_ns.store(0, Ordering::Relaxed);
        self.watch_gap_ns.store(0, Ordering::Relaxed);
        self.watch_index.store(index, Ordering::Release);
    }

    /// Decoder (or reader): frames ever pushed: the index the next pushed frame gets.
    pub fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::Acquire)
    }

    fn nudge_gate(&self) {
        if let Some(gate) = &self.gate {
            gate.nudge();
        }
    }

    // ---- callback steps (never block, allocate or make a syscall) ----

    /// Callback: a new device period of `frames` begins at engine time `now_ns`.
    pub(crate) fn begin_callback(&self, frames: usize, now_ns: u64) {
        self.period_frames.store(frames as u32, Ordering::Relaxed);
        let previous = self.last_callback_ns.swap(now_ns, Ordering::Relaxed);
        if previous != 0 {
            self.server
                .longest_wait_ns
                .fetch_max(now_ns.saturating_sub(previous), Ordering::Relaxed);
        }
        self.callbacks.fetch_add(1, Ordering::Relaxed);
    }

    /// Callback, on its first call: record which thread runs it, for
    /// [`super::output`]'s real-time promotion. `pthread_self()` reads the thread pointer
    /// (a register on Linux): no syscall, no allocation, no lock.
    pub(crate) fn register_audio_thread(&self) {
        // SAFETY: pthread_self has no preconditions and always succeeds.
        let me = unsafe { libc::pthread_self() } as u64;
        self.audio_thread.store(me, Ordering::Release);
    }

    /// Reader: the callback's thread, once its first call has registered it.
    pub fn audio_thread(&self) -> Option<libc::pthread_t> {
        match self.audio_thread.load(Ordering::Acquire) {
            0 => None,
            t => Some(t as libc::pthread_t),
        }
    }

    /// Callback: the flush the decoder asked for, if it is not done yet.
    pub(crate) fn pending_flush(&self) -> Option<u64> {
        let request = self.flush_request.load(Ordering::Acquire);
        (request != self.flush_done.load(Ordering::Relaxed)).then_some(request)
    }

    /// Callback: the flush `request` is done: `dropped` frames (played in a fade or thrown
    /// away) left the ring.
    pub(crate) fn acknowledge_flush(
        &self,
        request: u64,
        dropped: u64,
        now_ns: u64,
        latency_ns: u64,
    ) {
        let consumed = self.consumed.load(Ordering::Relaxed);
        // What the listener hears now: everything after it is dropped, in the ring and (by
        // the replacing block that follows) in the server's buffer.
        let heard = self.heard_at(now_ns, latency_ns);
        self.replace_server_queue(now_ns);
        self.flush_at_index.store(heard, Ordering::Relaxed);
        self.consumed.store(consumed + dropped, Ordering::Release);
        self.flush_done.store(request, Ordering::Release);
    }

    /// Callback: settle priming with `fill` frames in the ring, and return the mode to play
    /// this period in. Priming becomes Playing once the ring holds the prime amount or the
    /// whole rest of the queue, and Idle when nothing was (or will be) queued at all.
    pub(crate) fn settle_priming(&self, fill: u64, now_ns: u64) -> Mode {
        let mode = self.mode();
        if mode != Mode::Priming {
            return mode;
        }
        let pushed = self.pushed.load(Ordering::Acquire);
        let whole_queue_ready = pushed >= self.end_index.load(Ordering::Acquire);
        if whole_queue_ready && fill == 0 {
            let _ = self.mode.compare_exchange(
                Mode::Priming as u8,
                Mode::Idle as u8,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
            return Mode::Priming; // silent this period either way
        }
        let primed = fill >= self.prime_frames.load(Ordering::Relaxed) || whole_queue_ready;
        if primed
            && self
                .mode
                .compare_exchange(
                    Mode::Priming as u8,
                    Mode::Playing as u8,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            // The first audio replaces the silence the server queued while priming.
            self.replace_server_queue(now_ns);
            return Mode::Playing;
        }
        mode
    }

    /// Callback: the cut asked for, if any: the ring indices `from..to` to skip.
    pub(crate) fn cut(&self) -> Option<(u64, u64)> {
        let from = self.cut_from.load(Ordering::Acquire);
        (from != u64::MAX).then(|| (from, self.cut_to.load(Ordering::Relaxed)))
    }

    /// Callback: the cut that began at `from` is done (a newer request is left alone).
    pub(crate) fn finish_cut(&self, from: u64) {
        let _ = self
            .cut_from
            .compare_exchange(from, u64::MAX, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// Callback: frames up to (not including) `index` have been taken from the ring.
    pub(crate) fn publish_consumed(&self, index: u64) {
        self.consumed.store(index, Ordering::Release);
    }

    /// Callback: the ring ran short at `consumed`. If that is the end of the queue, the
    /// stream goes idle and this returns true (the end, not an underrun).
    pub(crate) fn finish_if_played_out(&self, consumed: u64) -> bool {
        if consumed < self.end_index.load(Ordering::Acquire) {
            return false;
        }
        let _ = self.mode.compare_exchange(
            Mode::Playing as u8,
            Mode::Idle as u8,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
        true
    }

    /// Callback: this period played ring indices `from..to`, at `now_ns`. If the watched
    /// first frame is among them and not yet stamped, stamp it (with the gap it ended).
    pub(crate) fn note_first_audio(&self, from: u64, to: u64, now_ns: u64, gap_ns: u64) {
        let watch = self.watch_index.load(Ordering::Acquire);
        if watch >= from && watch < to && self.watch_hit_ns.load(Ordering::Relaxed) == 0 {
            self.watch_gap_ns.store(gap_ns, Ordering::Relaxed);
            self.watch_hit_ns.store(now_ns.max(1), Ordering::Release);
        }
    }

    /// Callback (or reader): what the decoder is doing now.
    pub fn activity(&self) -> Activity {
        Activity::from_u8(self.activity.load(Ordering::Relaxed))
    }

    // ---- readers ----

    pub fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Ordering::Acquire))
    }

    /// Reader: the index of the next frame the callback will take.
    pub fn consumed(&self) -> u64 {
        self.consumed.load(Ordering::Acquire)
    }

    /// Reader: where the queue ends (`u64::MAX` while more is coming).
    pub fn end_index(&self) -> u64 {
        self.end_index.load(Ordering::Acquire)
    }

    /// Reader: frames needed before priming turns into playing.
    pub fn prime_frames(&self) -> u64 {
        self.prime_frames.load(Ordering::Relaxed)
    }

    /// Frames waiting in the ring.
    pub fn fill_frames(&self) -> u64 {
        self.pushed
            .load(Ordering::Acquire)
            .saturating_sub(self.consumed.load(Ordering::Acquire))
    }

    /// Reader: frames per callback as last seen (0 before the first).
    pub fn period_frames(&self) -> u32 {
        self.period_frames.load(Ordering::Relaxed)
    }

    /// Reader: engine clock of the newest callback.
    pub fn last_callback_ns(&self) -> u64 {
        self.last_callback_ns.load(Ordering::Relaxed)
    }

    /// Reader: callbacks run so far on this stream.
    pub fn callbacks(&self) -> u64 {
        self.callbacks.load(Ordering::Relaxed)
    }

    /// Reader: the measured levels of what was pushed, by ring index.
    pub fn levels(&self) -> &LevelTape {
        &self.levels
    }

    /// Reader: the first audio of the watched segment, once a callback has played it.
    pub fn first_audio(&self) -> Option<FirstAudio> {
        let at_ns = self.watch_hit_ns.load(Ordering::Acquire);
        (at_ns != 0).then(|| FirstAudio {
            index: self.watch_index.load(Ordering::Acquire),
            at_ns,
            gap_ns: self.watch_gap_ns.load(Ordering::Relaxed),
        })
    }
}

/// The decoder's end of a link's ring. Pushing through it is what makes frames count as
/// pushed (step "ring indices" above), so nothing can push without publishing.
pub struct Feed {
    producer: HeapProd<f32>,
    link: Arc<Link>,
    /// Measures what goes into the ring, for the level meters (engine/levels.rs); `None` when
    /// the front end shows no levels.
    levels: Option<LevelWriter>,
}

impl Feed {
    pub(crate) fn new(producer: HeapProd<f32>, link: Arc<Link>, observed: bool) -> Feed {
        Feed {
            levels: observed.then(|| LevelWriter::new(link.rate, link.channels)),
            producer,
            link,
        }
    }

    /// Decoder: push as many whole frames of `samples` (interleaved) as fit; returns the
    /// samples taken.
    pub fn push(&mut self, samples: &[f32]) -> usize {
        if let Some(gate) = &self.link.gate {
            gate.pass(super::mock::GatePoint::Push);
        }
        let ch = self.link.channels.max(1) as usize;
        let room = self.producer.vacant_len() / ch * ch;
        let first = self.link.pushed.load(Ordering::Relaxed);
        let n = self
            .producer
            .push_slice(&samples[..samples.len().min(room)]);
        // Measured before the frames count as pushed, so their levels are on the tape before
        // any reader can hear them.
        if let Some(levels) = &mut self.levels {
            levels.add(&self.link.levels, first, &samples[..n]);
        }
        self.link
            .pushed
            .fetch_add((n / ch) as u64, Ordering::Release);
        self.link.nudge_gate();
        n
    }

    /// Decoder: whole frames the ring has room for.
    pub fn vacant_frames(&self) -> usize {
        self.producer.vacant_len() / self.link.channels.max(1) as usize
    }

    /// Decoder: the ring holds nothing.
    pub fn is_empty(&self) -> bool {
        self.producer.is_empty()
    }

    pub fn link(&self) -> &Arc<Link> {
        &self.link
    }
}

/// Engine-wide controls and cumulative meters.
pub struct Shared {
    /// Target volume, f32 bits (0.0 ..= 1.0, linear gain).
    volume: AtomicU32,
    device_latency_ns: AtomicU64,
    underrun_episodes: AtomicU64,
    silent_frames: AtomicU64,
    frames_played: AtomicU64,
    episodes_dropped: AtomicU64,
    /// Lowest ring fill (frames) seen by a callback since the last reader reset it.
    ring_min_frames: AtomicU64,
    callback_last_ns: AtomicU32,
    callback_max_ns: AtomicU32,
    callback_count: AtomicU64,
    callback_dur_ns: [AtomicU32; CALLBACK_WINDOW],
    callback_load_ppm: [AtomicU32; CALLBACK_WINDOW],
    /// Audio decoded (ns of audio) and wall time spent decoding (ns, excluding time parked on a
    /// full ring): their ratio is the decode speed.
    decoded_audio_ns: AtomicU64,
    decode_busy_ns: AtomicU64,
    /// Device xruns reported by the host through the error callback.
    device_xruns: AtomicU64,
    /// Whether a front end shows what only the decoder can measure: the level meters
    /// (engine/levels.rs) and the bit-perfect proof's sample hashes (bitperfect.rs). Fixed at
    /// start: `reel play` with no metrics log shows neither and turns them off, since the
    /// true-peak oversampler and the hashes were a fifth of its playback CPU
    /// (docs/PERFORMANCE.md, §2 notes).
    observed: AtomicBool,
}

/// The cumulative counters, read together (each figure on its own; see "Meters and counters").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub underrun_episodes: u64,
    pub silent_frames: u64,
    pub frames_played: u64,
    pub episodes_dropped: u64,
    pub device_xruns: u64,
    pub device_latency_ns: u64,
    pub decoded_audio_ns: u64,
    pub decode_busy_ns: u64,
}

/// The callback-duration window, copied out by [`Shared::callback_window`].
#[derive(Debug, Clone, Default)]
pub struct CallbackWindow {
    /// Callbacks ever timed (the window holds the last `CALLBACK_WINDOW` of them).
    pub count: u64,
    pub last_ns: u32,
    pub durations_ns: Vec<u32>,
    pub loads_ppm: Vec<u32>,
    /// The load of the newest callback.
    pub last_load_ppm: u32,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            volume: AtomicU32::new(1.0f32.to_bits()),
            device_latency_ns: AtomicU64::new(0),
            underrun_episodes: AtomicU64::new(0),
            silent_frames: AtomicU64::new(0),
            frames_played: AtomicU64::new(0),
            episodes_dropped: AtomicU64::new(0),
            ring_min_frames: AtomicU64::new(u64::MAX),
            callback_last_ns: AtomicU32::new(0),
            callback_max_ns: AtomicU32::new(0),
            callback_count: AtomicU64::new(0),
            callback_dur_ns: std::array::from_fn(|_| AtomicU32::new(0)),
            callback_load_ppm: std::array::from_fn(|_| AtomicU32::new(0)),
            decoded_audio_ns: AtomicU64::new(0),
            decode_busy_ns: AtomicU64::new(0),
            device_xruns: AtomicU64::new(0),
            observed: AtomicBool::new(true),
        }
    }
}

impl Shared {
    // ---- set up (before any stream opens) ----

    /// Start: whether levels and proofs are measured (see the field).
    pub(crate) fn set_observed(&self, on: bool) {
        self.observed.store(on, Ordering::Relaxed);
    }

    /// Wiring a stream, the decoder: whether levels and proofs are measured.
    pub(crate) fn observed(&self) -> bool {
        self.observed.load(Ordering::Relaxed)
    }

    // ---- controls (any thread writes, the callback reads) ----

    pub fn volume(&self) -> f32 {
        f32::from_bits(self.volume.load(Ordering::Relaxed))
    }

    pub fn set_volume(&self, v: f32) {
        let v = if v.is_finite() {
            v.clamp(0.0, 1.0)
        } else {
            1.0
        };
        self.volume.store(v.to_bits(), Ordering::Relaxed);
    }

    // ---- callback ----

    /// Callback: cpal's playback − callback time for this period.
    pub(crate) fn publish_device_latency(&self, ns: u64) {
        self.device_latency_ns.store(ns, Ordering::Relaxed);
    }

    /// Callback (or the supervisor, for a device change): an underrun episode began.
    pub(crate) fn count_underrun(&self) {
        self.underrun_episodes.fetch_add(1, Ordering::Relaxed);
    }

    /// Callback (or the supervisor): `frames` of silence stood in for audio.
    pub(crate) fn add_silent_frames(&self, frames: u64) {
        self.silent_frames.fetch_add(frames, Ordering::Relaxed);
    }

    /// Callback: the episode queue was full; an episode was not reported.
    pub(crate) fn count_dropped_episode(&self) {
        self.episodes_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Callback: `frames` of ring audio were played. (Their levels were measured by the
    /// decoder as it pushed them: engine/levels.rs.)
    pub(crate) fn publish_played(&self, frames: u64) {
        self.frames_played.fetch_add(frames, Ordering::Relaxed);
    }

    /// Callback: the ring held `frames` at its lowest this period.
    pub(crate) fn note_ring_low(&self, frames: u64) {
        self.ring_min_frames.fetch_min(frames, Ordering::Relaxed);
    }

    /// Callback: this period took `dur_ns`, `load_ppm` of its time budget.
    pub(crate) fn record_callback(&self, dur_ns: u32, load_ppm: u32) {
        let i = self.callback_count.load(Ordering::Relaxed) as usize % CALLBACK_WINDOW;
        self.callback_dur_ns[i].store(dur_ns, Ordering::Relaxed);
        self.callback_load_ppm[i].store(load_ppm, Ordering::Relaxed);
        self.callback_last_ns.store(dur_ns, Ordering::Relaxed);
        self.callback_max_ns.fetch_max(dur_ns, Ordering::Relaxed);
        self.callback_count.fetch_add(1, Ordering::Release);
    }

    // ---- the error callback (cpal's, never blocks) ----

    pub(crate) fn count_device_xrun(&self) {
        self.device_xruns.fetch_add(1, Ordering::Relaxed);
    }

    // ---- decoder ----

    /// Decoder: `ns` of wall time went into decoding (not parked on a full ring).
    pub fn add_decode_busy(&self, ns: u64) {
        self.decode_busy_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Decoder: `ns` of audio were decoded.
    pub fn add_decoded_audio(&self, ns: u64) {
        self.decoded_audio_ns.fetch_add(ns, Ordering::Relaxed);
    }

    // ---- readers ----

    /// Reader: cpal's playback − callback time, as of the newest callback.
    pub fn device_latency_ns(&self) -> u64 {
        self.device_latency_ns.load(Ordering::Relaxed)
    }

    pub fn counters(&self) -> Counters {
        Counters {
            underrun_episodes: self.underrun_episodes.load(Ordering::Relaxed),
            silent_frames: self.silent_frames.load(Ordering::Relaxed),
            frames_played: self.frames_played.load(Ordering::Relaxed),
            episodes_dropped: self.episodes_dropped.load(Ordering::Relaxed),
            device_xruns: self.device_xruns.load(Ordering::Relaxed),
            device_latency_ns: self.device_latency_ns.load(Ordering::Relaxed),
            decoded_audio_ns: self.decoded_audio_ns.load(Ordering::Relaxed),
            decode_busy_ns: self.decode_busy_ns.load(Ordering::Relaxed),
        }
    }

    /// Reader: the callback durations and loads in the window (unsorted).
    pub fn callback_window(&self) -> CallbackWindow {
        let count = self.callback_count.load(Ordering::Acquire);
        let n = (count as usize).min(CALLBACK_WINDOW);
        let last_i = (count as usize).wrapping_sub(1) % CALLBACK_WINDOW;
        CallbackWindow {
            count,
            last_ns: self.callback_last_ns.load(Ordering::Relaxed),
            durations_ns: (0..n)
                .map(|i| self.callback_dur_ns[i].load(Ordering::Relaxed))
                .collect(),
            loads_ppm: (0..n)
                .map(|i| self.callback_load_ppm[i].load(Ordering::Relaxed))
                .collect(),
            last_load_ppm: if count > 0 {
                self.callback_load_ppm[last_i].load(Ordering::Relaxed)
            } else {
                0
            },
        }
    }

    /// Reader: the lowest ring fill a callback saw since the previous call (which resets it),
    /// or `None` when no playing callback ran since.
    pub fn take_ring_low(&self) -> Option<u64> {
        match self.ring_min_frames.swap(u64::MAX, Ordering::Relaxed) {
            u64::MAX => None,
            v => Some(v),
        }
    }
}
