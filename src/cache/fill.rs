//! Streaming a file into the cache while it plays: one pass over the source feeds the cache's
//! temp file, BLAKE3, and (through [`FillReader`]) the decoder.
//!
//! Threads: [`Cache::start_fill`] spawns one `reel-cache-fill` thread per file; it reads the
//! source, hashes what it read, appends it to the temp file in `tmp/` (exactly as an import
//! does) and publishes the *watermark*, the bytes written so far. A [`FillReader`] runs on the
//! decoder thread: it reads the temp file (`pread` on its own descriptor) up to the watermark,
//! and when it catches up it waits on a condition variable, without spinning, until more
//! arrives or the fill ends. While it waits it tags the engine's activity `source` (an underrun
//! then has that cause) and counts itself in [`Fill::waiting`], which the meters show.
//!
//! When the source is read to its end and has not changed, the temp file is fsynced, probed
//! (as the engine would open it) and committed through the import's own commit path (rename
//! into `objects/`, directory fsync, index, pin, eviction): the next play is a hit. Anything
//! else (the source vanished, was truncated, gave a read error, changed; the cache failed; the
//! player quit) drops the temp file, so nothing half-written ever has an object's name; a
//! `kill -9` leaves the temp file to the next start's cleaning, as for an import.
//!
//! Seeking past the watermark: the reader simply waits for the copy to get there (the source
//! is read once, in order). A seek far into a file on a slow source therefore waits as long
//! as the copy takes to reach it. One exception: a read in the file's last MiB that has not
//! arrived goes to the source directly ([`TAIL_FROM_SOURCE_BYTES`]), because the probe reads
//! the end of the file (trailing tags) before its header.
//!
//! Memory stays flat: the fill holds one read buffer (at most [`FILL_READ_MAX_BYTES`]), the
//! reader none of its own.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use symphonia::core::io::MediaSource;

use super::copy::{self, TempFile};
use super::index::{self, SourceRef};
use super::{Cache, Imported};
use crate::engine::WaitTag;
use crate::error::{FileError, FileErrorKind, StreamError};

/// The first read from the source: small, so the decoder has a header to probe at once.
pub const FILL_READ_FIRST_BYTES: usize = 64 * 1024;
/// Reads then grow up to this (the import's own copy buffer) ...
pub const FILL_READ_MAX_BYTES: usize = copy::COPY_BUFFER;
/// ... but each is sized to take about this long at the source's speed: the watermark moves
/// once a read, so on a slow source (1 MB/s) a 1 MiB read would leave the decoder waiting a
/// second for bytes that trickle in during it.
const FILL_READ_SECS: f64 = 0.1;
/// Reads this close to the end of a file that the copy has not reached are read from the
/// source directly: symphonia's probe looks at the last bytes first (ID3v1 and APE tags, a
/// WAV's trailing chunks) before it reads the header, and waiting for the copy to get there
/// would delay the first sound by the whole copy. It costs a few hundred bytes read twice.
pub const TAIL_FROM_SOURCE_BYTES: u64 = 1 << 20;
/// The source speed shown is measured over windows of at least this long.
const SPEED_WINDOW: Duration = Duration::from_millis(250);
/// How long [`Fill::abandon`] waits for the fill thread to drop its temp file before removing
/// it itself (the thread may be stuck in a read of a stalled source).
const ABANDON_WAIT: Duration = Duration::from_millis(300);

/// How a fill ended.
#[derive(Debug, Clone)]
pub enum FillEnd {
    /// Committed: the object is in the cache (and pinned).
    Complete(Imported),
    Failed(StreamError),
}

/// A file being copied into the cache. Cheap to clone (a shared handle).
#[derive(Clone)]
pub struct Fill {
    inner: Arc<Inner>,
}

struct Inner {
    /// The file as given (errors and the object's name use it).
    given: PathBuf,
    /// Its canonical path (what the tail reads open).
    canon: PathBuf,
    /// Its size when the fill began.
    size: u64,
    /// The temp file, for readers (`pread`, so they share no offset with the writer).
    file: File,
    temp_path: PathBuf,
    /// Bytes written to the temp file (and hashed) so far.
    watermark: AtomicU64,
    /// Set once, when the fill ends; readers wait on `cv` for it or a higher watermark.
    end: Mutex<Option<FillEnd>>,
    cv: Condvar,
    /// Readers blocked on the watermark now.
    waiting: AtomicU32,
    /// Source speed over the last window, bytes/s (f64 bits).
    speed_bits: AtomicU64,
    /// Furthest byte a reader has read (for "seconds ahead of the decoder").
    read_pos: AtomicU64,
    cancel: AtomicBool,
}

/// What a fill shows to the meters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FillStatus {
    pub watermark: u64,
    pub size: u64,
    /// A reader is waiting for the source now.
    pub waiting: bool,
    pub speed_bytes_per_sec: f64,
    /// Bytes copied beyond what the decoder has read.
    pub ahead_bytes: u64,
    pub ended: bool,
}

impl Fill {
    pub fn given(&self) -> &Path {
        &self.inner.given
    }

    pub fn status(&self) -> FillStatus {
        let i = &self.inner;
        let w = i.watermark.load(Ordering::Acquire);
        FillStatus {
            watermark: w,
            size: i.size,
            waiting: i.waiting.load(Ordering::Relaxed) > 0,
            speed_bytes_per_sec: f64::from_bits(i.speed_bits.load(Ordering::Relaxed)),
            ahead_bytes: w.saturating_sub(i.read_pos.load(Ordering::Relaxed)),
            ended: self.end().is_some(),
        }
    }

    /// How it ended, once it has.
    pub fn end(&self) -> Option<FillEnd> {
        self.inner.lock_end().clone()
    }

    /// Blocks until the fill ends or `timeout` passes.
    pub fn wait_end(&self, timeout: Duration) -> Option<FillEnd> {
        let guard = self.inner.lock_end();
        let (guard, _) = self
            .inner
            .cv
            .wait_timeout_while(guard, timeout, |e| e.is_none())
            .unwrap_or_else(|p| p.into_inner());
        guard.clone()
    }

    /// A new reader over what has arrived (and will arrive), positioned at the start.
    pub fn reader(&self, wait: WaitTag) -> std::io::Result<FillReader> {
        Ok(FillReader {
            inner: self.inner.clone(),
            file: self.inner.file.try_clone()?,
            pos: 0,
            wait,
            source: None,
        })
    }

    /// Stops the fill: readers see the end of what arrived at once; the temp file is removed
    /// (by the fill thread, or here if that thread is stuck in a read of a stalled source).
    pub fn abandon(&self) {
        let i = &self.inner;
        i.cancel.store(true, Ordering::Relaxed);
        i.finish(FillEnd::Failed(StreamError::Cancelled));
        let gone = || !i.temp_path.exists();
        let until = Instant::now() + ABANDON_WAIT;
        // The thread notices `cancel` after its current read: wait on the condvar it signals
        // when it has dropped the temp file (see `run`), with a deadline.
        let mut guard = i.lock_end();
        while !gone() && Instant::now() < until {
            guard =
                i.cv.wait_timeout(guard, Duration::from_millis(20))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
        }
        drop(guard);
        if !gone() {
            // Ours (our pid in its name): removing it cannot touch another reel's import.
            let _ = fs::remove_file(&i.temp_path);
        }
    }
}

impl Inner {
    fn lock_end(&self) -> std::sync::MutexGuard<'_, Option<FillEnd>> {
        self.end.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes more bytes; wakes the readers.
    fn advance(&self, to: u64) {
        self.watermark.store(to, Ordering::Release);
        // Taking the lock orders this after a reader's check-then-wait: no lost wake-up.
        drop(self.lock_end());
        self.cv.notify_all();
    }

    /// Ends the fill (the first end wins); wakes the readers.
    fn finish(&self, end: FillEnd) {
        let mut g = self.lock_end();
        if g.is_none() {
            *g = Some(end);
        }
        drop(g);
        self.cv.notify_all();
    }
}

/// Reads a [`Fill`]'s temp file as the file itself: up to the watermark, waiting for more.
/// Runs on the decoder thread.
pub struct FillReader {
    inner: Arc<Inner>,
    file: File,
    pos: u64,
    wait: WaitTag,
    /// The source itself, opened for the first read of its tail (see `read_tail`).
    source: Option<File>,
}

impl FillReader {
    /// The bytes readable from `pos` now (0: the end), or `None` if they have not arrived.
    fn ready_from(&self, pos: u64) -> Option<u64> {
        let w = self.inner.watermark.load(Ordering::Acquire);
        if pos < w {
            Some(w - pos)
        } else if self.inner.lock_end().is_some() {
            Some(
                self.inner
                    .watermark
                    .load(Ordering::Acquire)
                    .saturating_sub(pos),
            )
        } else {
            None
        }
    }

    /// A read of the file's tail that has not arrived, straight from the source (see
    /// [`TAIL_FROM_SOURCE_BYTES`]); `None` when it is not the tail or the source fails (then
    /// the reader waits for the copy).
    fn read_tail(&mut self, buf: &mut [u8]) -> Option<usize> {
        let size = self.inner.size;
        if self.pos >= size || self.pos < size.saturating_sub(TAIL_FROM_SOURCE_BYTES) {
            return None;
        }
        if self.source.is_none() {
            self.source = File::open(&self.inner.canon).ok();
        }
        let want = buf
            .len()
            .min(usize::try_from(size - self.pos).unwrap_or(usize::MAX));
        match self.source.as_ref()?.read_at(&mut buf[..want], self.pos) {
            Ok(n) if n > 0 => Some(n),
            _ => None,
        }
    }

    /// Waits until byte `pos` has arrived or the fill has ended; returns the bytes readable
    /// from `pos` (0: the end).
    fn available_from(&self, pos: u64) -> u64 {
        let i = &self.inner;
        let ready = |end: &Option<FillEnd>| -> Option<u64> {
            let w = i.watermark.load(Ordering::Acquire);
            if pos < w {
                Some(w - pos)
            } else if end.is_some() {
                Some(0)
            } else {
                None
            }
        };
        let mut guard = i.lock_end();
        if let Some(n) = ready(&guard) {
            return n;
        }
        let before = self.wait.begin();
        i.waiting.fetch_add(1, Ordering::Relaxed);
        let n = loop {
            if let Some(n) = ready(&guard) {
                break n;
            }
            guard = i.cv.wait(guard).unwrap_or_else(|p| p.into_inner());
        };
        i.waiting.fetch_sub(1, Ordering::Relaxed);
        self.wait.end(before);
        n
    }
}

impl Read for FillReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.ready_from(self.pos).is_none()
            && let Some(n) = self.read_tail(buf)
        {
            self.pos += n as u64;
            return Ok(n);
        }
        let n = self.available_from(self.pos);
        if n == 0 {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        let got = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += got as u64;
        self.inner.read_pos.fetch_max(self.pos, Ordering::Relaxed);
        Ok(got)
    }
}

impl Seek for FillReader {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let len = self.inner.size as i128;
        let target = match to {
            SeekFrom::Start(n) => n as i128,
            SeekFrom::End(d) => len + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if target < 0 {
            return Err(std::io::Error::new(
                ErrorKind::InvalidInput,
                "seek before the start",
            ));
        }
        // Past the watermark is fine: the next read waits for the copy to get there.
        self.pos = target as u64;
        Ok(self.pos)
    }
}

impl MediaSource for FillReader {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.inner.size)
    }
}

/// The size of the next read from the source, after one of `n` bytes took `took`.
fn next_read_size(n: usize, took: Duration) -> usize {
    let bps = n as f64 / took.as_secs_f64().max(1e-6);
    let want = (bps * FILL_READ_SECS) as usize / 4096 * 4096;
    want.clamp(FILL_READ_FIRST_BYTES, FILL_READ_MAX_BYTES)
}

/// Errors of a source that is no longer there (unmounted, disconnected, deleted).
fn vanished(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::NotFound
        || matches!(
            e.raw_os_error(),
            Some(libc::ENOTCONN | libc::ENODEV | libc::ESTALE | libc::ENXIO | libc::ENOENT)
        )
}

fn mtime_of(m: &fs::Metadata) -> (i64, u32) {
    (m.mtime(), m.mtime_nsec() as u32)
}

impl Cache {
    /// Starts copying `given` (canonical path `canon`, whose metadata is `meta`) into the
    /// cache on a thread of its own; returns at once. `Err` only when the file cannot be
    /// opened (the file's problem) or the temp file cannot be made (the cache's).
    pub fn start_fill(
        self: &Arc<Self>,
        given: &Path,
        canon: &Path,
        meta: &fs::Metadata,
    ) -> Result<Fill, StreamError> {
        let src = File::open(canon).map_err(|e| {
            StreamError::NotPlayable(FileError::new(given, FileErrorKind::from_io(&e)))
        })?;
        let temp = TempFile::create(&self.tmp_dir()).map_err(|e| {
            StreamError::Cache(self.io_err(&e, format!("while importing {}", given.display())))
        })?;
        let reader_file = temp.file().try_clone().map_err(|e| {
            StreamError::Cache(self.io_err(&e, format!("while importing {}", given.display())))
        })?;
        let inner = Arc::new(Inner {
            given: given.to_path_buf(),
            canon: canon.to_path_buf(),
            size: meta.len(),
            file: reader_file,
            temp_path: temp.path().to_path_buf(),
            watermark: AtomicU64::new(0),
            end: Mutex::new(None),
            cv: Condvar::new(),
            waiting: AtomicU32::new(0),
            speed_bits: AtomicU64::new(0),
            read_pos: AtomicU64::new(0),
            cancel: AtomicBool::new(false),
        });
        let job = Job {
            cache: self.clone(),
            inner: inner.clone(),
            canon: canon.to_path_buf(),
            before: meta.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name("reel-cache-fill".into())
            .spawn(move || job.run(src, temp));
        if let Err(e) = spawned {
            return Err(StreamError::Cache(self.io_err(&e, "while starting a copy")));
        }
        Ok(Fill { inner })
    }
}

/// The fill thread's work.
struct Job {
    cache: Arc<Cache>,
    inner: Arc<Inner>,
    canon: PathBuf,
    before: fs::Metadata,
}

impl Job {
    fn run(self, src: File, temp: TempFile) {
        let inner = self.inner.clone();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.copy_and_commit(src, temp)
        }));
        let end = match result {
            Ok(Ok(imp)) => FillEnd::Complete(imp),
            Ok(Err(e)) => FillEnd::Failed(e),
            Err(_) => FillEnd::Failed(StreamError::Read {
                at: inner.watermark.load(Ordering::Relaxed),
                size: inner.size,
                why: "the copy crashed".into(),
            }),
        };
        // The temp file is gone (committed or dropped) by now: say so to `abandon` too.
        inner.finish(end);
        inner.cv.notify_all();
    }

    /// One pass: read, hash, append, publish; then check, fsync, probe and commit.
    fn copy_and_commit(&self, mut src: File, temp: TempFile) -> Result<Imported, StreamError> {
        let i = &self.inner;
        let size = i.size;
        let mut buf = vec![0u8; FILL_READ_MAX_BYTES];
        let mut want = FILL_READ_FIRST_BYTES;
        let mut hasher = blake3::Hasher::new();
        let mut written = 0u64;
        let mut window = (Instant::now(), 0u64);
        let doing = || format!("while importing {}", i.given.display());
        loop {
            if i.cancel.load(Ordering::Relaxed) {
                return Err(StreamError::Cancelled);
            }
            let read_started = Instant::now();
            let n = match src.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if vanished(&e) => {
                    return Err(StreamError::Vanished { at: written, size });
                }
                Err(e) => {
                    return Err(StreamError::Read {
                        at: written,
                        size,
                        why: crate::error::io_cause(&e),
                    });
                }
            };
            hasher.update(&buf[..n]);
            temp.file()
                .write_all(&buf[..n])
                .map_err(|e| StreamError::Cache(self.cache.io_err(&e, doing())))?;
            written += n as u64;
            i.advance(written);
            let dt = window.0.elapsed();
            if dt >= SPEED_WINDOW {
                let bps = (written - window.1) as f64 / dt.as_secs_f64();
                i.speed_bits.store(bps.to_bits(), Ordering::Relaxed);
                window = (Instant::now(), written);
            }
            want = next_read_size(n, read_started.elapsed());
        }
        drop(buf);
        // Read to its end: is it the file that was there when the copy began, whole?
        let after = match fs::metadata(&self.canon) {
            Ok(a) => a,
            Err(e) if vanished(&e) => return Err(StreamError::Vanished { at: written, size }),
            Err(_) => return Err(StreamError::Changed),
        };
        let b = &self.before;
        if after.ino() != b.ino() || mtime_of(&after) != mtime_of(b) || after.len() != b.len() {
            return Err(StreamError::Changed);
        }
        if written < size {
            return Err(StreamError::Truncated { at: written, size });
        }
        if written > size {
            return Err(StreamError::Changed);
        }
        if i.cancel.load(Ordering::Relaxed) {
            return Err(StreamError::Cancelled);
        }
        let cache_err = |e: std::io::Error| StreamError::Cache(self.cache.io_err(&e, doing()));
        temp.file().sync_all().map_err(cache_err)?;
        let check = copy::quick_check(temp.file(), written).map_err(cache_err)?;
        let probed =
            super::probe::probe_open(&i.given, temp.path()).map_err(StreamError::NotPlayable)?;
        let source = SourceRef {
            path: self.canon.clone(),
            size,
            mtime_s: mtime_of(b).0,
            mtime_ns: mtime_of(b).1,
        };
        let pending = super::import::Pending {
            slot: 0,
            given: i.given.clone(),
            repaired: false,
            temp,
            hash: hasher.finalize().to_hex().to_string(),
            check,
            len: written,
            probed,
            source,
            name: i
                .given
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            ext: index::ext_for(&i.given),
        };
        self.cache
            .commit_one(pending, true)
            .map_err(StreamError::Cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAV of `frames` stereo 16-bit frames of a ramp.
    fn wav(frames: u32) -> Vec<u8> {
        let data = frames * 4;
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + data).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&48_000u32.to_le_bytes());
        v.extend_from_slice(&(48_000u32 * 4).to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&16u16.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&data.to_le_bytes());
        for i in 0..frames * 2 {
            v.extend_from_slice(&((i % 30_000) as i16).to_le_bytes());
        }
        v
    }

    #[test]
    fn a_reader_sees_the_whole_file_and_the_copy_is_committed_under_its_hash() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(Cache::open_dir(dir.path().join("cache")).unwrap());
        let file = dir.path().join("a.wav");
        let bytes = wav(300_000);
        fs::write(&file, &bytes).unwrap();
        let canon = fs::canonicalize(&file).unwrap();
        let meta = fs::metadata(&file).unwrap();
        let fill = cache.start_fill(&file, &canon, &meta).unwrap();
        let mut reader = fill.reader(WaitTag::default()).unwrap();
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        assert_eq!(got, bytes);
        let Some(FillEnd::Complete(imp)) = fill.wait_end(Duration::from_secs(30)) else {
            panic!("not committed: {:?}", fill.end());
        };
        assert_eq!(imp.hash, blake3::hash(&bytes).to_hex().to_string());
        assert_eq!(fs::read(&imp.object).unwrap(), bytes);
        assert_eq!(
            fs::read_dir(dir.path().join("cache/tmp")).unwrap().count(),
            0
        );
        // A seek to the end and back reads the same bytes (the tail, then the start).
        reader.seek(SeekFrom::End(-4)).unwrap();
        let mut tail = [0u8; 4];
        reader.read_exact(&mut tail).unwrap();
        assert_eq!(tail, bytes[bytes.len() - 4..]);
    }

    #[test]
    fn an_abandoned_fill_ends_its_readers_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(Cache::open_dir(dir.path().join("cache")).unwrap());
        let file = dir.path().join("a.wav");
        fs::write(&file, wav(3_000_000)).unwrap();
        let canon = fs::canonicalize(&file).unwrap();
        let meta = fs::metadata(&file).unwrap();
        let fill = cache.start_fill(&file, &canon, &meta).unwrap();
        fill.abandon();
        let mut reader = fill.reader(WaitTag::default()).unwrap();
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        assert!(got.len() as u64 <= meta.len());
        // Cancelled (or, had the copy won the race, committed): ended either way.
        assert!(fill.end().is_some());
        assert_eq!(
            fs::read_dir(dir.path().join("cache/tmp")).unwrap().count(),
            0
        );
    }
}
