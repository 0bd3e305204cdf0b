//! The audio callback must never touch the heap. This drives `Callback::process` through every
//! state it has (idle, priming, playing, volume ramps, underrun, recovery, flush, end of queue)
//! for every sample format cpal offers, with a global allocator that aborts the test on any
//! allocation or free inside `assert_no_alloc`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use assert_no_alloc::{AllocDisabler, assert_no_alloc};
use cpal::{FromSample, SizedSample};
use ringbuf::traits::{Consumer, Observer, Producer};
use ringbuf::{HeapCons, HeapProd, HeapRb};

use reel::engine::callback::Callback;
use reel::engine::shared::{Episode, Link, Mode, Shared};

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

const RATE: u32 = 48_000;
const CHANNELS: u16 = 2;
const PERIOD: usize = 512;

struct Rig {
    cb: Callback,
    prod: HeapProd<f32>,
    episodes: HeapCons<Episode>,
    link: Arc<Link>,
    shared: Arc<Shared>,
}

fn rig() -> Rig {
    let capacity_frames = 9600u64;
    let ring = Arc::new(HeapRb::<f32>::new(
        capacity_frames as usize * CHANNELS as usize,
    ));
    let eps = Arc::new(HeapRb::<Episode>::new(16));
    let link = Arc::new(Link::new(RATE, CHANNELS, capacity_frames));
    let shared = Arc::new(Shared::default());
    link.prime_frames.store(960, Ordering::Relaxed);
    let cb = Callback::new(
        HeapCons::new(ring.clone()),
        link.clone(),
        shared.clone(),
        HeapProd::new(eps.clone()),
        Instant::now(),
    );
    Rig {
        cb,
        prod: HeapProd::new(ring),
        episodes: HeapCons::new(eps),
        link,
        shared,
    }
}

fn push(r: &mut Rig, frames: usize, value: f32) {
    let samples = vec![value; frames * CHANNELS as usize];
    let n = r.prod.push_slice(&samples);
    r.link
        .pushed
        .fetch_add((n / CHANNELS as usize) as u64, Ordering::Release);
}

fn run<T: SizedSample + FromSample<f32>>(r: &mut Rig, buf: &mut [T]) {
    let cb = &mut r.cb;
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
    assert_eq!(r.shared.underrun_episodes.load(Ordering::Relaxed), 1);
    assert!(r.shared.silent_frames.load(Ordering::Relaxed) > 0);

    // Data comes back: the episode ends and is reported.
    push(&mut r, 2000, 0.25);
    run(&mut r, &mut buf);
    assert_eq!(r.episodes.try_pop().map(|e| e.frames > 0), Some(true));

    // A flush (seek): queued audio is dropped and acknowledged.
    push(&mut r, 3000, 0.25);
    r.link.set_mode(Mode::Priming);
    r.link.flush_request.store(1, Ordering::Release);
    run(&mut r, &mut buf);
    assert_eq!(r.link.flush_done.load(Ordering::Acquire), 1);
    assert_eq!(r.cb_occupied(), 0);
    assert_eq!(
        r.link.consumed.load(Ordering::Relaxed),
        r.link.pushed.load(Ordering::Relaxed)
    );

    // The end of the queue: running dry there is not an underrun.
    push(&mut r, 1500, 0.25);
    r.link
        .end_index
        .store(r.link.pushed.load(Ordering::Relaxed), Ordering::Release);
    let before = r.shared.underrun_episodes.load(Ordering::Relaxed);
    for _ in 0..6 {
        run(&mut r, &mut buf);
    }
    assert_eq!(r.link.mode(), Mode::Idle);
    assert_eq!(r.shared.underrun_episodes.load(Ordering::Relaxed), before);
    assert!(r.shared.callback_count.load(Ordering::Relaxed) > 30);
}

impl Rig {
    fn cb_occupied(&self) -> usize {
        self.prod.occupied_len()
    }
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
