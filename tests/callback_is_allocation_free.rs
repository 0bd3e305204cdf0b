//! The audio callback must never touch the heap. This drives `Callback::process` through every
//! state it has (idle, priming, playing, volume ramps, underrun, recovery, flush, a cut, end of
//! queue) for every sample format cpal offers, with a global allocator that aborts the test on
//! any allocation or free inside `assert_no_alloc`.

use std::sync::Arc;
use std::time::Instant;

use assert_no_alloc::{AllocDisabler, assert_no_alloc};
use cpal::{FromSample, SizedSample};
use ringbuf::traits::Consumer;

use reel::engine::callback::{Wiring, wire};
use reel::engine::shared::{Link, Mode, Shared};

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

const RATE: u32 = 48_000;
const CHANNELS: u16 = 2;
const PERIOD: usize = 512;

/// The callback as the engine wires it (the same `wire` the output backends use).
struct Rig {
    w: Wiring,
    link: Arc<Link>,
    shared: Arc<Shared>,
}

fn rig() -> Rig {
    let capacity_frames = 9600u64;
    let shared = Arc::new(Shared::default());
    let w = wire(
        RATE,
        CHANNELS,
        capacity_frames,
        &shared,
        Instant::now(),
        None,
    );
    w.link.set_prime_frames(960);
    Rig {
        link: w.link.clone(),
        w,
        shared,
    }
}

fn push(r: &mut Rig, frames: usize, value: f32) {
    let samples = vec![value; frames * CHANNELS as usize];
    r.w.feed.push(&samples);
}

fn run<T: SizedSample + FromSample<f32>>(r: &mut Rig, buf: &mut [T]) {
    let cb = &mut r.w.callback;
    let before = assert_no_alloc::violation_count();
    assert_no_alloc(|| cb.process(buf, 21_000_000));
    assert_eq!(
        assert_no_alloc::violation_count(),
        before,
        "the callback allocated or freed"
    );
}

fn drive_every_state<T>()
where
    T: SizedSample + FromSample<f32> + PartialEq + std::fmt::Debug,
{
    let mut r = rig();
    let mut buf = vec![T::EQUILIBRIUM; PERIOD * CHANNELS as usize];
    let silence = T::EQUILIBRIUM;

    // Idle: silence, no underrun.
    run(&mut r, &mut buf);
    assert!(buf.iter().all(|s| *s == silence));

    // Priming: not enough queued yet → silence, still no underrun.
    r.link.set_mode(Mode::Priming);
    push(&mut r, 100, 0.5);
    run(&mut r, &mut buf);
    assert!(buf.iter().all(|s| *s == silence));
    assert_eq!(r.link.mode(), Mode::Priming);

    // Enough queued: plays.
    push(&mut r, 4000, 0.5);
    run(&mut r, &mut buf);
    assert_eq!(r.link.mode(), Mode::Playing);
    assert!(buf.iter().all(|s| *s == T::from_sample(0.5f32)));

    // A volume change ramps (no jump within one buffer).
    r.shared.set_volume(0.0);
    run(&mut r, &mut buf);
    assert_ne!(buf[0], buf[buf.len() - 1]);
    r.shared.set_volume(1.0);
    for _ in 0..3 {
        run(&mut r, &mut buf);
    }

    // Drain the ring: an underrun episode with silent frames.
    for _ in 0..20 {
        run(&mut r, &mut buf);
    }
    assert_eq!(r.shared.counters().underrun_episodes, 1);
    assert!(r.shared.counters().silent_frames > 0);

    // Data comes back: the episode ends and is reported.
    push(&mut r, 2000, 0.25);
    run(&mut r, &mut buf);
    assert_eq!(r.w.episodes.try_pop().map(|e| e.frames > 0), Some(true));

    // A flush (seek): queued audio is dropped and acknowledged.
    push(&mut r, 3000, 0.25);
    let ticket = r.link.request_flush(Mode::Priming);
    run(&mut r, &mut buf);
    assert!(r.link.flush_acknowledged(ticket));
    assert_eq!(r.link.fill_frames(), 0);
    assert!(r.w.feed.is_empty());
    assert_eq!(r.link.consumed(), r.link.pushed());

    // A cut (a queue edit replaced the next track already pushed): the callback plays up to
    // it, skips it, and plays on from the new next track in the same period.
    push(&mut r, 600, 0.25);
    let from = r.link.pushed();
    push(&mut r, 900, 0.75);
    assert!(r.link.request_cut(from, r.link.pushed()));
    push(&mut r, 1000, 0.5);
    let skipped = T::from_sample(0.75f32);
    for _ in 0..3 {
        run(&mut r, &mut buf);
        assert!(!buf.contains(&skipped), "the cut was played");
    }
    assert_eq!(buf[0], T::from_sample(0.5f32));
    assert!(!r.link.cut_pending());
    assert_eq!(r.link.fill_frames(), 2500 - 900 - 3 * PERIOD as u64);

    // The end of the queue: running dry there is not an underrun.
    push(&mut r, 1500, 0.25);
    r.link.mark_end_of_queue(false);
    let before = r.shared.counters().underrun_episodes;
    for _ in 0..6 {
        run(&mut r, &mut buf);
    }
    assert_eq!(r.link.mode(), Mode::Idle);
    assert_eq!(r.shared.counters().underrun_episodes, before);
    assert!(r.shared.callback_window().count > 30);
}

#[test]
fn callback_never_allocates_for_f32() {
    drive_every_state::<f32>();
}

#[test]
fn callback_never_allocates_for_f64() {
    drive_every_state::<f64>();
}

#[test]
fn callback_never_allocates_for_i16() {
    drive_every_state::<i16>();
}

#[test]
fn callback_never_allocates_for_i32() {
    drive_every_state::<i32>();
}

#[test]
fn callback_never_allocates_for_i24() {
    drive_every_state::<cpal::I24>();
}

#[test]
fn callback_never_allocates_for_u16() {
    drive_every_state::<u16>();
}

#[test]
fn callback_never_allocates_for_u8_and_i8() {
    drive_every_state::<u8>();
    drive_every_state::<i8>();
}

#[test]
fn callback_never_allocates_for_64_bit_integers() {
    drive_every_state::<i64>();
    drive_every_state::<u64>();
    drive_every_state::<u32>();
}

/// The guard itself must work, or the tests above prove nothing. (The crate runs in its
/// counting mode, `warn_debug`/`warn_release`, so a violation is observable instead of an
/// abort that would take the whole test binary down.)
#[test]
fn the_guard_catches_an_allocation() {
    let before = assert_no_alloc::violation_count();
    assert_no_alloc(|| {
        let v = vec![1u8; 10];
        std::hint::black_box(v);
    });
    assert!(assert_no_alloc::violation_count() > before);
}
