//! Pins: objects that a running reel is playing or has queued, which eviction must not touch.
//!
//! Each running reel that pins anything keeps `pins/<pid>-<nonce>.json`, listing the hashes,
//! and holds an exclusive `flock` on it for as long as it lives. The kernel drops that lock
//! when the process dies, however it dies, so a pin file whose lock can be taken belongs to a
//! process that is gone: its pins are ignored and the file is removed. Pin files are created,
//! rewritten and read only under the cache lock, so a reader never sees one half-written, and
//! never sees one between its creation and its flock.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Default)]
struct PinList {
    pid: u32,
    hashes: Vec<String>,
}

/// This process's pin file, locked while it exists. Dropping it removes the file.
pub struct PinFile {
    file: File,
    path: PathBuf,
    hashes: BTreeSet<String>,
}

impl PinFile {
    /// Creates and locks a new pin file in `dir`. Call with the cache lock held.
    pub fn create(dir: &Path) -> std::io::Result<PinFile> {
        let pid = std::process::id();
        loop {
            let path = dir.join(format!("{pid}-{:016x}.json", super::copy::nonce()));
            let file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            };
            file.lock()?;
            let mut pins = PinFile {
                file,
                path,
                hashes: BTreeSet::new(),
            };
            pins.write()?;
            return Ok(pins);
        }
    }

    pub fn hashes(&self) -> &BTreeSet<String> {
        &self.hashes
    }

    /// Adds `hashes`; rewrites the file when that changed anything. Call with the cache lock.
    pub fn add<'a>(&mut self, hashes: impl IntoIterator<Item = &'a str>) -> std::io::Result<()> {
        let before = self.hashes.len();
        self.hashes.extend(hashes.into_iter().map(str::to_string));
        if self.hashes.len() != before {
            self.write()?;
        }
        Ok(())
    }

    /// Removes `hash`; rewrites the file. Call with the cache lock.
    pub fn remove(&mut self, hash: &str) -> std::io::Result<()> {
        if self.hashes.remove(hash) {
            self.write()?;
        }
        Ok(())
    }

    fn write(&mut self) -> std::io::Result<()> {
        let list = PinList {
            pid: std::process::id(),
            hashes: self.hashes.iter().cloned().collect(),
        };
        let bytes = serde_json::to_vec(&list).expect("pins serialise");
        // A new file, locked before it is written and renamed over the old one: a failed
        // write (disk full, I/O error) leaves the old list whole. Rewriting in place could
        // leave it empty or cut short, and other reels would then read no pins and could
        // evict what this one plays. Readers never see the new file half-written: they read
        // pins under the cache lock, as this runs, and a crash unlocks it (dead: removed).
        let tmp = self.path.with_extension("json.new");
        let result = (|| {
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.lock()?;
            f.write_all(&bytes)?;
            fs::rename(&tmp, &self.path)?;
            Ok(f)
        })();
        match result {
            Ok(f) => {
                // The old file (and its lock) goes; the new one is locked under the name.
                self.file = f;
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}

impl Drop for PinFile {
    fn drop(&mut self) {
        // Only if the name still refers to our file (it always should: nobody removes a
        // locked pin file).
        if let (Ok(a), Ok(b)) = (fs::metadata(&self.path), self.file.metadata())
            && a.dev() == b.dev()
            && a.ino() == b.ino()
        {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Hashes pinned by live processes → their pids. Removes the pin files of dead processes.
/// Call with the cache lock held. Our own pin file counts (its lock is held through another
/// open file description, so it cannot be taken here either).
pub fn live_pins(dir: &Path) -> std::io::Result<HashMap<String, Vec<u32>>> {
    let mut live: HashMap<String, Vec<u32>> = HashMap::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(live),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let Ok(mut file) = File::open(&path) else {
            continue;
        };
        match file.try_lock() {
            Ok(()) => {
                // Nobody holds it: its process is gone. Remove it while we hold its lock.
                let _ = fs::remove_file(&path);
            }
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                if file.read_to_string(&mut text).is_ok()
                    && let Ok(list) = serde_json::from_str::<PinList>(&text)
                {
                    for h in list.hashes {
                        live.entry(h).or_default().push(list.pid);
                    }
                }
            }
            Err(TryLockError::Error(_)) => {}
        }
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_update_that_cannot_be_written_leaves_the_old_list_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut pins = PinFile::create(dir.path()).unwrap();
        pins.add(["a".repeat(64).as_str()]).unwrap();
        // The next write's new file cannot be created: a directory holds its name.
        fs::create_dir(pins.path.with_extension("json.new")).unwrap();
        assert!(pins.add(["b".repeat(64).as_str()]).is_err());
        let live = live_pins(dir.path()).unwrap();
        assert_eq!(
            live.keys().cloned().collect::<Vec<_>>(),
            vec!["a".repeat(64)],
            "the pins other reels read after a failed update"
        );
    }

    #[test]
    fn a_rewritten_pin_file_stays_locked_and_is_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let mut pins = PinFile::create(dir.path()).unwrap();
        for h in ["a", "b", "c"] {
            pins.add([h.repeat(64).as_str()]).unwrap();
        }
        pins.remove(&"b".repeat(64)).unwrap();
        // Still counted as a live process's pins (its lock is held), with the latest list.
        let mut live: Vec<String> = live_pins(dir.path()).unwrap().into_keys().collect();
        live.sort();
        assert_eq!(live, vec!["a".repeat(64), "c".repeat(64)]);
        let path = pins.path.clone();
        drop(pins);
        assert!(!path.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
