//! Real-time priority goes to the thread that runs the audio callback, identified by the
//! callback itself (its first call registers its thread), never to "whatever thread appeared
//! while the stream was being built": a thread of ours that starts at that moment (a cache
//! copy, say) stays at normal priority. Runs on the test sound server.

mod support;

use std::sync::mpsc;

use reel::engine::output::{AUDIO_THREAD_RT_PRIORITY, CpalBackend};
use reel::engine::{Engine, EngineConfig};

/// Scheduling policy (without the reset-on-fork flag) and priority of thread `tid`.
fn scheduling(tid: i32) -> (i32, i32) {
    // SAFETY: sched_getscheduler/sched_getparam take a tid and a valid out-pointer.
    unsafe {
        let policy = libc::sched_getscheduler(tid) & !libc::SCHED_RESET_ON_FORK;
        let mut param: libc::sched_param = std::mem::zeroed();
        libc::sched_getparam(tid, &mut param);
        (policy, param.sched_priority)
    }
}

fn our_threads() -> Vec<i32> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter_map(|t| t.file_name().to_str()?.parse().ok())
        .collect()
}

#[test]
fn only_the_callbacks_own_thread_is_promoted_not_one_that_starts_during_stream_set_up() {
    let _ = support::test_sink(); // fails clearly outside the sound server
    let (tid_tx, tid_rx) = mpsc::sync_channel::<i32>(1);
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let mut stop_rx = Some(stop_rx);
    // Runs between building the stream and starting it: a bystander thread starts right then
    // and lives on (until the test ends).
    let backend = CpalBackend::with_setup_hook(move || {
        if let Some(stop) = stop_rx.take() {
            let tid_tx = tid_tx.clone();
            std::thread::spawn(move || {
                // SAFETY: gettid has no preconditions.
                let _ = tid_tx.send(unsafe { libc::gettid() });
                let _ = stop.recv();
            });
        }
    });
    let engine = Engine::start_with_backend(EngineConfig::default(), Box::new(backend))
        .expect("the test sound server must be running");
    let bystander = tid_rx.recv().unwrap();

    let s = engine.snapshot();
    assert_eq!(
        s.audio_thread,
        format!("SCHED_FIFO {AUDIO_THREAD_RT_PRIORITY} (the callback's thread)")
    );
    assert_eq!(
        scheduling(bystander).0,
        libc::SCHED_OTHER,
        "a thread that started during set-up was promoted"
    );
    let promoted: Vec<i32> = our_threads()
        .into_iter()
        .filter(|t| scheduling(*t) == (libc::SCHED_FIFO, AUDIO_THREAD_RT_PRIORITY))
        .collect();
    assert_eq!(
        promoted.len(),
        1,
        "exactly one thread, the callback's: {promoted:?}"
    );
    assert_ne!(promoted[0], bystander);
    drop(stop_tx);
}
