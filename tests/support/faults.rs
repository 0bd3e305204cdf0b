//! Helpers for the fault tests (corrupt files, slow disks, long runs): running `reel` with its
//! peak memory measured, and playing through ALSA's `null` plugin, which consumes audio as fast
//! as it is written (about 1000× real time), so hours of audio play in seconds.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What a measured run did.
#[derive(Debug)]
pub struct Measured {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// Peak resident set size of the process, in KiB (getrusage's `ru_maxrss`).
    pub peak_rss_kib: u64,
}

/// Runs `cmd` (stdin closed, output captured), reaping it with `wait4` to read its peak RSS.
/// Kills it and panics if it runs longer than `timeout` (a hang is a failure, not a skip).
// The child is reaped by wait4 (which std's `wait` cannot do: it drops the rusage), so clippy's
// check that every path calls `wait()` does not see it.
#[allow(clippy::zombie_processes)]
#[track_caller]
pub fn run_measured(cmd: &mut Command, timeout: Duration) -> Measured {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let pid = child.id() as libc::pid_t;
    let deadline = Instant::now() + timeout;
    let (status, rss) = loop {
        let mut status = 0;
        // SAFETY: rusage is plain data, zero is a valid value; wait4 writes into both.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 on our own child, with valid pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break (ExitStatus::from_raw(status), usage.ru_maxrss as u64);
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {timeout:?} (a hang); killed it\n--- stderr:\n{}",
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Measured {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        peak_rss_kib: rss,
    }
}

/// A place where `reel` plays into ALSA's `null` plugin: a HOME whose `.asoundrc` makes it
/// the default PCM (through `plug`, so any format the engine picks is accepted), its own cache,
/// and cpal's ALSA host forced. The test sound server's `ALSA_CONFIG_PATH` (which makes ALSA
/// ignore `~/.asoundrc`) is removed for these runs.
pub struct NullAlsa {
    pub home: tempfile::TempDir,
}

impl NullAlsa {
    pub fn new() -> NullAlsa {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join(".asoundrc"),
            "pcm.!default { type plug slave.pcm \"null\" }\n",
        )
        .unwrap();
        NullAlsa { home }
    }

    /// The cache directory of these runs.
    pub fn cache(&self) -> PathBuf {
        self.home.path().join("cache").join("reel")
    }

    /// `reel` set up to play into the null device.
    pub fn reel(&self) -> Command {
        let mut c = Command::new(crate::support::reel_bin());
        self.apply(&mut c);
        c
    }

    pub fn apply(&self, c: &mut Command) {
        c.env("HOME", self.home.path())
            .env("XDG_CACHE_HOME", self.home.path().join("cache"))
            .env("REEL_AUDIO_HOST", "alsa")
            .env("RUST_BACKTRACE", "0")
            .env_remove("ALSA_CONFIG_PATH")
            .env_remove("REEL_CACHE_DIR");
    }
}

impl Default for NullAlsa {
    fn default() -> Self {
        NullAlsa::new()
    }
}

/// The metrics log's lines: the samples, and the closing summary.
pub fn read_metrics(log: &Path) -> (Vec<serde_json::Value>, serde_json::Value) {
    let text = std::fs::read_to_string(log)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", log.display()));
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let summary = lines.pop().expect("empty metrics log");
    assert_eq!(summary["event"], "summary", "{summary}");
    (lines, summary)
}
