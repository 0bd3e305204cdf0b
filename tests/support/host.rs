//! Telling reel's gaps from the machine's.
//!
//! A test that judges a recording of the sink asks the whole chain to be perfect: reel, the
//! sound server's graph, and the recorder. On a shared virtual machine (CI's) the machine
//! itself sometimes stops running for tens of milliseconds: the hypervisor gives a virtual
//! CPU to someone else. Nothing in userspace, not even the sound server's real-time threads,
//! runs meanwhile, so the graph misses a cycle and the recording has a hole that no player
//! could have prevented. A desktop is not a VM, and the tests should test what a desktop does.
//!
//! [`StallWatch`] sees such stalls: one thread per CPU, pinned to it at the highest real-time
//! priority, sleeps a millisecond at a time and notes how late it wakes. Only the machine can
//! make such a thread late: no process can take its CPU from it. [`Recorder`] runs one while
//! it records, and keeps what it saw for [`judged_by_recording`].
//!
//! [`judged_by_recording`] runs a test once more, and only once, when it failed and a stall
//! of at least [`STALL_EXCUSES`] was seen while one of its recordings ran. Without that
//! evidence the failure stands, and its message says that no stall was seen.
//!
//! [`Recorder`]: super::Recorder

use std::cell::RefCell;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The shortest stall taken as the machine's. Stopping every CPU on purpose while the sink
/// was recorded (`a_stall_of_the_whole_machine_is_…` in sound_server_harness.rs, at other
/// lengths by hand): stops of 12 ms and more left a 512-frame hole, 4 and 8 ms none. The
/// null sink's timer seems to give up half a 1024-frame cycle (10.7 ms) once it wakes that
/// late; its wake-up has a few milliseconds of its own lateness (up to 3.8 ms seen on an
/// idle machine here), so 8 ms of stall is where a hole can begin.
pub const STALL_EXCUSES: Duration = Duration::from_millis(8);

/// How long the watching threads sleep between looks.
const TICK: Duration = Duration::from_millis(1);

thread_local! {
    /// What the recordings of the test running on this thread saw.
    static SEEN: RefCell<Vec<(String, Stall)>> = const { RefCell::new(Vec::new()) };
}

/// Watches every CPU for stalls until stopped (see the module docs).
pub struct StallWatch {
    stop: Arc<AtomicBool>,
    /// Per CPU: the worst lateness (µs) and when it happened (µs after `started`).
    worst: Vec<(Arc<AtomicU64>, Arc<AtomicU64>)>,
    threads: Vec<JoinHandle<bool>>,
}

impl StallWatch {
    pub fn start() -> StallWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut worst = Vec::new();
        let mut threads = Vec::new();
        for cpu in 0..cpus {
            let late = Arc::new(AtomicU64::new(0));
            let at = Arc::new(AtomicU64::new(0));
            worst.push((late.clone(), at.clone()));
            let stop = stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("stall-watch-{cpu}"))
                .spawn(move || watch(cpu, &stop, &late, &at, started))
                .expect("cannot start a stall-watch thread");
            threads.push(thread);
        }
        StallWatch {
            stop,
            worst,
            threads,
        }
    }

    /// Stops watching. `Some` (the worst stall, per CPU) when the threads ran at real-time
    /// priority, so that their lateness is the machine's; `None` when they could not (not
    /// root): then nothing they saw excuses anything.
    pub fn finish(self) -> Option<Vec<Stall>> {
        self.stop.store(true, Ordering::Relaxed);
        let mut realtime = true;
        for t in self.threads {
            realtime &= t.join().unwrap_or(false);
        }
        realtime.then(|| {
            self.worst
                .iter()
                .enumerate()
                .map(|(cpu, (late, at))| Stall {
                    cpu,
                    late: Duration::from_micros(late.load(Ordering::Relaxed)),
                    at: Duration::from_micros(at.load(Ordering::Relaxed)),
                })
                .collect()
        })
    }
}

/// The worst stall one CPU saw.
#[derive(Clone, Copy, Debug)]
pub struct Stall {
    pub cpu: usize,
    pub late: Duration,
    /// When, from the start of the watch.
    pub at: Duration,
}

/// One watching thread: pinned to `cpu`, at SCHED_FIFO 99 if it may. Returns whether it did.
fn watch(cpu: usize, stop: &AtomicBool, late: &AtomicU64, at: &AtomicU64, t0: Instant) -> bool {
    let realtime = pin_realtime(cpu);
    while !stop.load(Ordering::Relaxed) {
        let before = Instant::now();
        std::thread::sleep(TICK);
        let over = before.elapsed().saturating_sub(TICK);
        let us = over.as_micros() as u64;
        if us > late.load(Ordering::Relaxed) {
            late.store(us, Ordering::Relaxed);
            at.store(
                before.duration_since(t0).as_micros() as u64,
                Ordering::Relaxed,
            );
        }
    }
    realtime
}

/// Pins the calling thread to `cpu` at the highest SCHED_FIFO priority; false if it may not
/// (not root).
pub fn pin_realtime(cpu: usize) -> bool {
    // SAFETY: plain syscalls on this thread (pid 0) with a zeroed, then filled, cpu_set_t and
    // sched_param that live across the calls.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let pinned = libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0;
        let param = libc::sched_param {
            sched_priority: libc::sched_get_priority_max(libc::SCHED_FIFO),
        };
        pinned && libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) == 0
    }
}

/// Keeps, for [`judged_by_recording`], what a watch over the recording `what` saw.
pub fn note(what: &str, seen: Option<Vec<Stall>>) {
    if let Some(stalls) = seen {
        SEEN.with(|s| {
            s.borrow_mut()
                .extend(stalls.into_iter().map(|st| (what.to_string(), st)))
        });
    }
}

/// Runs `test`, a test that judges recordings of the sink. If it fails and the machine was
/// seen to stall while one of its recordings ran, it is run once more (see the module
/// docs); the second run's result is the test's.
pub fn judged_by_recording(test: impl Fn()) {
    SEEN.with(|s| s.borrow_mut().clear());
    let Err(failure) = catch_unwind(AssertUnwindSafe(&test)) else {
        return;
    };
    let seen = SEEN.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let say = |(what, s): &(String, Stall)| {
        format!(
            "CPU {} stopped for {:.1} ms, {:.2} s into {what}",
            s.cpu,
            s.late.as_secs_f64() * 1e3,
            s.at.as_secs_f64()
        )
    };
    let excusing: Vec<String> = seen
        .iter()
        .filter(|(_, s)| s.late >= STALL_EXCUSES)
        .map(say)
        .collect();
    if excusing.is_empty() {
        let worst = seen.iter().max_by_key(|(_, s)| s.late).map_or_else(
            || "the watch could not run at real-time priority".to_string(),
            |w| format!("the worst: {}", say(w)),
        );
        eprintln!(
            "no stall of the machine ({} ms or more) was seen while this test recorded \
             ({worst}): the failure stands",
            STALL_EXCUSES.as_millis()
        );
        resume_unwind(failure);
    }
    // Straight to the process's stderr, past the test harness's capture: a second run is
    // said in the log even when it passes.
    let name = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let why = failure
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| failure.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    let _ = writeln!(
        std::io::stderr(),
        "{name}: failed ({}) while the machine stalled ({}): the sink could not have been \
         perfect, so the test runs once more",
        why.lines().next().unwrap_or_default(),
        excusing.join("; ")
    );
    test();
}
