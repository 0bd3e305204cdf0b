//! One window per user: `reel FILE...` while a reel window runs hands the files to it
//! (queued and playing) and exits, as a desktop expects of a player that a file manager opens.
//!
//! The window listens on a Unix socket, `$XDG_RUNTIME_DIR/reel/instance.sock`, in a directory
//! only its owner can enter (0700; the runtime directory itself is the user's own), so other
//! users cannot reach it. A second `reel` connects, sends its files and waits (at most
//! [`HAND_OVER_TIMEOUT`]) for the window's answer. A socket that nobody answers on is a
//! leftover of a window that crashed: it is replaced. `reel --new-instance` skips all this,
//! and `reel play --no-gui` never takes part.
//!
//! Why a socket and not D-Bus: the window must take files before anything else in it runs,
//! with no session bus required, and a file in the runtime directory gives exactly the
//! per-user reach asked for.
//!
//! The protocol: the client writes each path's bytes followed by a NUL, then one more NUL,
//! and closes its side; the window answers `ok\n` once it has taken them.
//!
//! Threads: [`hand_over`] runs on the main thread of the second `reel`; [`Listener`] runs a
//! thread of its own in the window, which passes the files on through a crossbeam channel and
//! wakes the UI.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

/// How long the second `reel` waits for the window to take its files.
pub const HAND_OVER_TIMEOUT: Duration = Duration::from_secs(1);

/// The largest hand-over accepted (bytes): thousands of paths, not a stream of junk.
const MAX_MESSAGE_BYTES: u64 = 4 << 20;

/// Where the window listens, or `None` without a runtime directory (then every `reel` opens
/// its own window).
pub fn socket_path() -> Option<PathBuf> {
    let dir = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty())?;
    Some(PathBuf::from(dir).join("reel").join("instance.sock"))
}

/// Gives `files` (made absolute) to the running window. `Ok(true)`: it took them; `Ok(false)`:
/// no window runs (or none answers); `Err`: a window runs but the hand-over failed, with why.
pub fn hand_over(files: &[PathBuf]) -> Result<bool, String> {
    let Some(path) = socket_path() else {
        return Ok(false);
    };
    let Ok(mut stream) = UnixStream::connect(&path) else {
        return Ok(false);
    };
    let _ = stream.set_read_timeout(Some(HAND_OVER_TIMEOUT));
    let _ = stream.set_write_timeout(Some(HAND_OVER_TIMEOUT));
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut msg = Vec::new();
    for f in files {
        let abs = if f.is_absolute() {
            f.clone()
        } else {
            cwd.join(f)
        };
        msg.extend_from_slice(abs.as_os_str().as_bytes());
        msg.push(0);
    }
    msg.push(0);
    let why = |e: std::io::Error| format!("the running reel window did not take the files: {e}");
    stream.write_all(&msg).map_err(why)?;
    stream.shutdown(std::net::Shutdown::Write).map_err(why)?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).map_err(why)?;
    if answer == "ok\n" {
        Ok(true)
    } else {
        Err("the running reel window did not take the files (no answer)".into())
    }
}

/// The window's end: a thread that takes hand-overs.
pub struct Listener {
    path: PathBuf,
    files: Receiver<Vec<PathBuf>>,
}

impl Listener {
    /// Listens at [`socket_path`], calling `wake` after each hand-over. `Err` (one line) when
    /// it cannot: then this window is simply not the one others hand files to.
    pub fn start(wake: impl Fn() + Send + 'static) -> Result<Listener, String> {
        let path = socket_path().ok_or("no XDG_RUNTIME_DIR")?;
        let dir = path.parent().ok_or("no socket directory")?;
        private_dir(dir)?;
        let listener = match UnixListener::bind(&path) {
            Ok(l) => l,
            // A leftover of a window that is gone (nobody answers on it): replace it.
            Err(_) if UnixStream::connect(&path).is_err() => {
                let _ = std::fs::remove_file(&path);
                UnixListener::bind(&path).map_err(|e| format!("{}: {e}", path.display()))?
            }
            Err(_) => return Err("another reel window already listens".into()),
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("reel-instance".into())
            .spawn(move || serve(listener, tx, wake))
            .map_err(|e| e.to_string())?;
        Ok(Listener { path, files: rx })
    }

    /// Files handed over since the last call, one batch per `reel FILE...`.
    pub fn take(&self) -> Vec<Vec<PathBuf>> {
        self.files.try_iter().collect()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // The next window binds afresh; a `reel` started meanwhile finds no socket and opens
        // its own window.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `dir`, created 0700 if missing, must be ours and closed to others.
fn private_dir(dir: &Path) -> Result<(), String> {
    let _ = std::fs::DirBuilder::new().mode(0o700).create(dir);
    let meta = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // SAFETY: getuid has no preconditions and cannot fail.
    let me = unsafe { libc::getuid() };
    if meta.uid() != me || meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{}: not a private directory of this user",
            dir.display()
        ));
    }
    Ok(())
}

fn serve(listener: UnixListener, tx: Sender<Vec<PathBuf>>, wake: impl Fn()) {
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let _ = conn.set_read_timeout(Some(HAND_OVER_TIMEOUT));
        let mut msg = Vec::new();
        if (&mut conn)
            .take(MAX_MESSAGE_BYTES)
            .read_to_end(&mut msg)
            .is_err()
        {
            continue;
        }
        let Some(files) = parse(&msg) else { continue };
        if tx.send(files).is_err() {
            return;
        }
        wake();
        let _ = conn.write_all(b"ok\n");
    }
}

/// NUL-terminated paths and a final NUL; `None` for anything else.
fn parse(msg: &[u8]) -> Option<Vec<PathBuf>> {
    let body = msg.strip_suffix(&[0])?;
    if body.is_empty() {
        return Some(Vec::new());
    }
    let body = body.strip_suffix(&[0])?;
    Some(
        body.split(|b| *b == 0)
            .map(|p| PathBuf::from(std::ffi::OsString::from_vec(p.to_vec())))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_of_nul_terminated_paths_parses_back_to_them() {
        assert_eq!(parse(&[0]), Some(vec![]));
        assert_eq!(
            parse(b"/a b.flac\0/c\xff.mp3\0\0"),
            Some(vec![
                PathBuf::from("/a b.flac"),
                PathBuf::from(std::ffi::OsString::from_vec(b"/c\xff.mp3".to_vec()))
            ])
        );
        assert_eq!(parse(b"/a"), None);
        assert_eq!(parse(b""), None);
    }
}
