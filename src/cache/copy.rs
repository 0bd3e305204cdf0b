//! Copying a file into `tmp/` while hashing it, and the small file-system helpers around that.
//!
//! The copy is the import's hot path: it must keep up with `cp`. A single thread that reads,
//! hashes and writes 1 MiB at a time moves data through user space twice and manages about
//! half of `cp`'s speed on this project's machine (kernel page-cache copies there run at about
//! 1.5 GB/s; BLAKE3 hashes at about 3 GB/s). So large files are copied in two threads:
//!
//! - the copier moves the bytes with `copy_file_range(2)` (an in-kernel copy, what `cp` does;
//!   plain read/write when the kernel cannot, e.g. across file systems), 8 MiB at a time, and
//!   starts write-back of each chunk at once (`sync_file_range`), so the final fsync has little
//!   left to wait for;
//! - the calling thread hashes each chunk *of the temp file* as soon as it is written, through
//!   a read-only memory map (no copy into user space).
//!
//! Hashing what was written, not what was read, means an object always hashes to its name even
//! if the source changes during the copy (which the import then notices and rejects). Small
//! files go through the plain one-thread loop, which is quicker for them.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Buffer of the one-thread copy and of hashing for verification.
pub const COPY_BUFFER: usize = 1 << 20;
/// Chunk of the two-thread copy.
const CHUNK: usize = 8 << 20;
/// Files up to this size take the one-thread path.
const SMALL_FILE: u64 = 4 << 20;
/// Bytes at each end of a file that the quick check hashes.
pub const CHECK_BYTES: u64 = 64 * 1024;

/// A unique-enough number for file names (pid and clock and a counter, mixed).
pub fn nonce() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = t
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A temp file `tmp/<pid>-<nonce>`, flocked while we write it, removed on drop unless it was
/// renamed into place. The pid and the lock let a later start-up tell a crashed import's
/// leftovers from a live one's.
pub struct TempFile {
    path: PathBuf,
    file: File,
    persisted: bool,
}

impl TempFile {
    pub fn create(dir: &Path) -> std::io::Result<TempFile> {
        loop {
            let path = dir.join(format!("{}-{:016x}", std::process::id(), nonce()));
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(file) => {
                    // New and ours: nobody else can hold its lock.
                    let _ = file.try_lock();
                    return Ok(TempFile {
                        path,
                        file,
                        persisted: false,
                    });
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the temp file to `dest` (same file system). It is no longer removed on drop.
    pub fn persist(mut self, dest: &Path) -> std::io::Result<()> {
        fs::rename(&self.path, dest)?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Why a copy stopped.
#[derive(Debug)]
pub enum CopyError {
    /// Reading the source failed: the file's problem.
    Read(std::io::Error),
    /// Writing into the cache failed: the cache's problem (full, read-only, ...).
    Write(std::io::Error),
    Cancelled,
}

/// What a copy produced.
pub struct Copied {
    pub hash: String,
    pub check: String,
    pub len: u64,
}

/// Copies `src` (open, at offset 0) into `tmp`, hashing what lands in `tmp`, then fsyncs it.
/// `progress(bytes)` is called as the copy advances; `cancel` is polled between chunks.
pub fn copy_and_hash(
    src: &File,
    len_hint: u64,
    tmp: &TempFile,
    progress: &mut dyn FnMut(u64),
    cancel: Option<&AtomicBool>,
) -> Result<Copied, CopyError> {
    let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    let dst = tmp.file();
    let (hash, len) = if len_hint <= SMALL_FILE {
        copy_small(src, dst, progress, &cancelled)?
    } else {
        copy_large(src, dst, progress, &cancelled)?
    };
    dst.sync_all().map_err(CopyError::Write)?;
    let check = quick_check(dst, len).map_err(CopyError::Write)?;
    Ok(Copied { hash, check, len })
}

fn copy_small(
    mut src: &File,
    mut dst: &File,
    progress: &mut dyn FnMut(u64),
    cancelled: &dyn Fn() -> bool,
) -> Result<(String, u64), CopyError> {
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut hasher = blake3::Hasher::new();
    let mut len = 0u64;
    loop {
        if cancelled() {
            return Err(CopyError::Cancelled);
        }
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n]).map_err(CopyError::Write)?;
        len += n as u64;
        progress(len);
    }
    Ok((hasher.finalize().to_hex().to_string(), len))
}

enum Chunk {
    Copied(u64),
    Failed(CopyError),
}

fn copy_large(
    src: &File,
    dst: &File,
    progress: &mut dyn FnMut(u64),
    cancelled: &dyn Fn() -> bool,
) -> Result<(String, u64), CopyError> {
    let stop = AtomicBool::new(false);
    let (tx, rx) = crossbeam_channel::bounded::<Chunk>(16);
    std::thread::scope(|scope| {
        let copier = std::thread::Builder::new()
            .name("reel-cache-copy".into())
            .spawn_scoped(scope, || copier(src, dst, &stop, tx))
            .map_err(CopyError::Write)?;
        let mut hasher = blake3::Hasher::new();
        let mut hashed = 0u64;
        let mut result = Ok(());
        for msg in rx.iter() {
            match msg {
                Chunk::Copied(upto) => {
                    if let Err(e) = hash_range(dst, hashed, upto, &mut hasher) {
                        result = Err(CopyError::Write(e));
                        break;
                    }
                    hashed = upto;
                    progress(hashed);
                    if cancelled() {
                        result = Err(CopyError::Cancelled);
                        break;
                    }
                }
                Chunk::Failed(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        // Unblock a copier waiting on a full channel.
        drop(rx);
        let _ = copier.join();
        result.map(|()| (hasher.finalize().to_hex().to_string(), hashed))
    })
}

/// The copier thread: moves chunks and reports how far the temp file is written.
fn copier(src: &File, dst: &File, stop: &AtomicBool, tx: crossbeam_channel::Sender<Chunk>) {
    let (sfd, dfd) = (src.as_raw_fd(), dst.as_raw_fd());
    let mut in_kernel = true;
    let mut buf: Vec<u8> = Vec::new();
    let mut written = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let n = if in_kernel {
            // SAFETY: both descriptors are open for the duration (the files outlive the scoped
            // thread); null offsets mean "use and advance the file offsets".
            let n = unsafe {
                libc::copy_file_range(
                    sfd,
                    std::ptr::null_mut(),
                    dfd,
                    std::ptr::null_mut(),
                    CHUNK,
                    0,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG | libc::EROFS) => {
                        let _ = tx.send(Chunk::Failed(CopyError::Write(e)));
                        return;
                    }
                    // Not possible here (another file system, an old kernel, a special file),
                    // or an I/O error on one side: fall back to read/write from the same
                    // offsets, which tells the two sides apart.
                    _ => {
                        in_kernel = false;
                        continue;
                    }
                }
            }
            n as usize
        } else {
            if buf.is_empty() {
                buf = vec![0u8; COPY_BUFFER];
            }
            let n = match (&*src).read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.send(Chunk::Failed(CopyError::Read(e)));
                    return;
                }
            };
            if let Err(e) = (&*dst).write_all(&buf[..n]) {
                let _ = tx.send(Chunk::Failed(CopyError::Write(e)));
                return;
            }
            n
        };
        if n == 0 {
            return;
        }
        // Start writing this chunk back now; the fsync at the end then finds little to do.
        // SAFETY: plain syscall on an open descriptor.
        unsafe {
            libc::sync_file_range(
                dfd,
                written as libc::off64_t,
                n as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
        written += n as u64;
        if tx.send(Chunk::Copied(written)).is_err() {
            return;
        }
    }
}

/// Hashes bytes `from..to` of `file` through a read-only map (falls back to reads).
fn hash_range(file: &File, from: u64, to: u64, hasher: &mut blake3::Hasher) -> std::io::Result<()> {
    if to <= from {
        return Ok(());
    }
    let page = 4096u64;
    let start = from - from % page;
    let len = (to - start) as usize;
    // SAFETY: we map a range of our own temp file that is already written; nothing truncates
    // it while it is mapped (only this import writes it, and only by appending), so every
    // byte of the mapping stays backed. The mapping is read-only and unmapped below.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            start as libc::off_t,
        );
        if p == libc::MAP_FAILED {
            return hash_range_read(file, from, to, hasher);
        }
        libc::madvise(p, len, libc::MADV_SEQUENTIAL);
        let bytes = std::slice::from_raw_parts(p as *const u8, len);
        hasher.update(&bytes[(from - start) as usize..]);
        libc::munmap(p, len);
    }
    Ok(())
}

fn hash_range_read(
    file: &File,
    from: u64,
    to: u64,
    hasher: &mut blake3::Hasher,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut pos = from;
    while pos < to {
        let want = ((to - pos) as usize).min(buf.len());
        let n = file.read_at(&mut buf[..want], pos)?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        hasher.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(())
}

/// BLAKE3 of the whole file, read 1 MiB at a time (reads, not a map: an object someone
/// truncates under us must give an error, not SIGBUS). `(hash, length)`.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut hasher = blake3::Hasher::new();
    let mut len = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hasher.finalize().to_hex().to_string(), len))
}

/// The quick check: BLAKE3 of the first 64 KiB followed by the last 64 KiB (of what is left
/// after the first), for a file of `len` bytes; its first 128 bits, as 32 hex digits (plenty
/// to tell damage apart, and half the bytes in the index).
pub fn quick_check(file: &File, len: u64) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    let head = len.min(CHECK_BYTES);
    hash_range_read(file, 0, head, &mut hasher)?;
    let tail_from = (len - CHECK_BYTES.min(len)).max(head);
    hash_range_read(file, tail_from, len, &mut hasher)?;
    let mut hex = hasher.finalize().to_hex().to_string();
    hex.truncate(32);
    Ok(hex)
}

/// fsync a directory, so a rename or a new entry in it survives a crash.
pub fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Whether process `pid` exists (in our pid namespace).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) with signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes temp files left by imports that died (crash, kill -9, power loss). A temp file is
/// removed only when no live import holds its lock *and* its creator is gone (or, should the
/// pid have been reused, it is over an hour old). A concurrent import's temp file is always
/// locked, so it is never touched. Returns how many were removed.
pub fn clean_tmp(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let me = std::process::id();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let pid: Option<u32> = name.split('-').next().and_then(|p| p.parse().ok());
        if pid == Some(me) {
            continue;
        }
        let path = entry.path();
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > super::STALE_TEMP_AGE);
        let creator_gone = pid.is_none_or(|p| !pid_alive(p));
        if !(creator_gone || old) {
            continue;
        }
        let Ok(file) = File::open(&path) else {
            continue;
        };
        if file.try_lock().is_ok() && fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}
