//! A private virtual display for the tests that open reel's real window: Xvfb on a display
//! number it picks itself (`-displayfd`, so parallel test binaries never collide and nothing
//! polls for a socket), plus the X tools the tests use: `xwininfo` to find a window by title,
//! ImageMagick's `import` to take a screenshot and `convert` to count its colours.
//!
//! Everything is bounded in time, and the server is killed when the handle drops.

use std::io::Read;
use std::os::fd::FromRawFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::run_with_timeout;

/// How long Xvfb may take to come up.
const XVFB_START: Duration = Duration::from_secs(20);
/// How often the waits below look again.
const XPOLL: Duration = Duration::from_millis(50);

pub struct Xvfb {
    child: Child,
    /// `:N`, for `DISPLAY`.
    pub display: String,
}

impl Xvfb {
    /// Starts `Xvfb -displayfd` with a 1280×800, 24-bit screen and no TCP listener; returns
    /// once it accepts clients (it writes its display number when ready).
    #[track_caller]
    pub fn start() -> Xvfb {
        let mut fds = [0; 2];
        // SAFETY: pipe(2) writes two fds into the array; neither is close-on-exec, so the
        // write end is inherited by Xvfb (the read end is closed in the child by Xvfb's
        // own start-up; it only ever writes to the fd it is given).
        let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
        assert_eq!(rc, 0, "pipe: {}", std::io::Error::last_os_error());
        let (read_fd, write_fd) = (fds[0], fds[1]);
        let child = Command::new("Xvfb")
            .args(["-displayfd", &write_fd.to_string()])
            .args([
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
                "-noreset",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start Xvfb (`make deps` installs xvfb): {e}"));
        // SAFETY: our copy of the write end is ours to close; the read end becomes a File that
        // owns (and closes) it.
        let mut reader = unsafe {
            libc::close(write_fd);
            std::fs::File::from_raw_fd(read_fd)
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Up to the newline: Xvfb may keep its end open.
            let mut s = String::new();
            let mut byte = [0u8; 1];
            while let Ok(1) = reader.read(&mut byte) {
                if byte[0] == b'\n' {
                    break;
                }
                s.push(byte[0] as char);
            }
            let _ = tx.send(s);
        });
        let mut x = Xvfb {
            child,
            display: String::new(),
        };
        // Xvfb writes "N\n" once it accepts clients; a dead Xvfb closes the pipe empty.
        match rx.recv_timeout(XVFB_START) {
            Ok(s) if !s.trim().is_empty() => x.display = format!(":{}", s.trim()),
            Ok(_) => panic!("Xvfb exited without naming a display"),
            Err(_) => panic!("Xvfb did not come up within {XVFB_START:?}"),
        }
        x
    }

    /// The id of a top-level window whose title contains `needle`, if one is mapped.
    pub fn find_window(&self, needle: &str) -> Option<String> {
        self.windows(needle).into_iter().next()
    }

    /// The ids of every mapped top-level window whose title contains `needle`.
    pub fn windows(&self, needle: &str) -> Vec<String> {
        let o = run_with_timeout(
            Command::new("xwininfo").args(["-display", &self.display, "-root", "-children"]),
            Duration::from_secs(10),
        );
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("0x"))
            .filter(|l| {
                l.split('"')
                    .nth(1)
                    .is_some_and(|title| title.contains(needle))
            })
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    }

    /// Waits until a window titled with `needle` exists; panics after `timeout`.
    #[track_caller]
    pub fn wait_for_window(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(id) = self.find_window(needle) {
                return id;
            }
            assert!(
                Instant::now() < deadline,
                "no window titled {needle:?} on {} within {timeout:?}",
                self.display
            );
            std::thread::sleep(XPOLL);
        }
    }

    /// A PNG of the whole screen.
    #[track_caller]
    pub fn screenshot(&self, out: &Path) {
        let o = run_with_timeout(
            Command::new("import")
                .args(["-display", &self.display, "-window", "root"])
                .arg(out),
            Duration::from_secs(30),
        );
        assert!(
            o.status.success(),
            "import failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// How many distinct colours an image has (a blank or single-colour window has one or two).
#[track_caller]
pub fn distinct_colours(png: &Path) -> usize {
    let o = run_with_timeout(
        Command::new("convert")
            .arg(png)
            .args(["-format", "%k", "info:"]),
        Duration::from_secs(30),
    );
    assert!(
        o.status.success(),
        "convert failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("convert printed {:?}", String::from_utf8_lossy(&o.stdout)))
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
