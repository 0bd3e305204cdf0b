//! A real slow filesystem for the streaming tests: `slowfs.py` (a FUSE passthrough through
//! Debian's python3-fusepy) mounted over a folder, its reads throttled. See slowfs.py.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait_until;

/// A mounted slow source. Dropping it kills the daemon and unmounts.
pub struct SlowFs {
    /// Where files are put (the real folder behind the mount).
    pub src: PathBuf,
    /// The mount: read the files through here.
    pub mnt: PathBuf,
    ctl: PathBuf,
    daemon: Option<Child>,
    _dir: tempfile::TempDir,
}

fn mounted(mnt: &Path) -> bool {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mnt = mnt.to_string_lossy();
    table.lines().any(|l| l.split(' ').nth(4) == Some(&*mnt))
}

impl SlowFs {
    /// A slow source reading at `bytes_per_sec`, with `latency_ms` a read; `fill` puts its
    /// files in place (in `src`) before it is mounted.
    pub fn mount(bytes_per_sec: u64, latency_ms: u64, fill: impl FnOnce(&Path)) -> SlowFs {
        let dir = tempfile::tempdir().unwrap();
        // Canonical: reel records the canonical path, and the tests compare with it.
        let base = std::fs::canonicalize(dir.path()).unwrap();
        let (src, mnt, ctl) = (base.join("src"), base.join("mnt"), base.join("ctl"));
        for d in [&src, &mnt, &ctl] {
            std::fs::create_dir(d).unwrap();
        }
        fill(&src);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/slowfs.py");
        // Debian's interpreter, where python3-fusepy is installed (not a PATH python).
        let daemon = Command::new("/usr/bin/python3")
            .arg(&script)
            .args([&src, &mnt, &ctl])
            .arg(bytes_per_sec.to_string())
            .arg(latency_ms.to_string())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e} (make deps)", script.display()));
        let mut fs = SlowFs {
            src,
            mnt,
            ctl,
            daemon: Some(daemon),
            _dir: dir,
        };
        let mnt = fs.mnt.clone();
        let daemon = fs.daemon.as_mut().unwrap();
        wait_until(Duration::from_secs(20), || {
            if let Ok(Some(st)) = daemon.try_wait() {
                panic!("slowfs.py exited ({st}) before mounting: is python3-fusepy installed?");
            }
            mounted(&mnt)
        });
        fs
    }

    /// The path of `name` through the slow mount.
    pub fn path(&self, name: &str) -> PathBuf {
        self.mnt.join(name)
    }

    /// Reads block from now on (a stalled source) ...
    pub fn pause(&self) {
        std::fs::write(self.ctl.join("pause"), b"").unwrap();
    }

    /// ... until this.
    pub fn resume(&self) {
        std::fs::remove_file(self.ctl.join("pause")).unwrap();
    }

    /// The source vanishes: the daemon is killed (every read of the mount then fails, as for
    /// a pulled USB stick), and the dead mount is detached.
    pub fn vanish(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        if !mounted(&self.mnt) {
            return;
        }
        let quiet = |c: &mut Command| c.stderr(Stdio::null()).status();
        let detached = quiet(Command::new("fusermount").arg("-uz").arg(&self.mnt));
        if !detached.is_ok_and(|s| s.success()) {
            let _ = quiet(Command::new("umount").arg("-l").arg(&self.mnt));
        }
    }
}

impl Drop for SlowFs {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.ctl.join("pause"));
        self.vanish();
    }
}
