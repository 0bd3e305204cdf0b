//! Errors that a caller can act on.
//!
//! Every file that cannot be played is reported as one [`FileError`]: the path and a
//! [`FileErrorKind`] that says why, rendered as a single line such as
//! `reel: /music/a.flac: not an audio file`. The kinds are the ones a user can do something
//! about (fix the path, fix permissions, replace the file); the engine uses them to decide
//! whether to skip a packet, end the track, or tell the user.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a file cannot be played (or can only partly be played).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileErrorKind {
    /// There is nothing at the path.
    NotFound,
    /// The path names a directory, not a file.
    IsDirectory,
    /// The file exists but cannot be opened for reading.
    PermissionDenied,
    /// The file has zero bytes.
    Empty,
    /// No container format recognises the content (an image, a text file, random bytes).
    NotAudio,
    /// The container is recognised but the content is damaged beyond decoding.
    Corrupt(String),
    /// The container is recognised but the codec is not one reel can decode (e.g. Opus).
    UnsupportedCodec(String),
    /// Any other I/O failure while reading (a failing disk, a vanished network share).
    Io(String),
    /// The decoder panicked; the track was ended and the player went on.
    DecoderPanic,
    /// A folder given to play holds no audio file.
    NoAudioInFolder,
}

impl fmt::Display for FileErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileErrorKind::NotFound => write!(f, "not found"),
            FileErrorKind::IsDirectory => write!(f, "is a directory, not an audio file"),
            FileErrorKind::PermissionDenied => write!(f, "permission denied"),
            FileErrorKind::Empty => write!(f, "empty file (0 bytes)"),
            FileErrorKind::NotAudio => write!(f, "not an audio file (no known audio format)"),
            FileErrorKind::Corrupt(why) => write!(f, "corrupt audio: {why}"),
            FileErrorKind::UnsupportedCodec(codec) => write!(f, "unsupported codec: {codec}"),
            FileErrorKind::Io(why) => write!(f, "read error: {why}"),
            FileErrorKind::DecoderPanic => write!(f, "decoder crashed on this file; track ended"),
            FileErrorKind::NoAudioInFolder => write!(f, "is a directory with no audio files in it"),
        }
    }
}

impl FileErrorKind {
    /// A stable snake_case name, used in JSON output and tests.
    pub fn code(&self) -> &'static str {
        match self {
            FileErrorKind::NotFound => "not_found",
            FileErrorKind::IsDirectory => "is_directory",
            FileErrorKind::PermissionDenied => "permission_denied",
            FileErrorKind::Empty => "empty",
            FileErrorKind::NotAudio => "not_audio",
            FileErrorKind::Corrupt(_) => "corrupt",
            FileErrorKind::UnsupportedCodec(_) => "unsupported_codec",
            FileErrorKind::Io(_) => "io",
            FileErrorKind::DecoderPanic => "decoder_panic",
            FileErrorKind::NoAudioInFolder => "no_audio_in_folder",
        }
    }

    /// Classify an I/O error from opening or reading a file.
    pub fn from_io(err: &std::io::Error) -> FileErrorKind {
        match err.kind() {
            std::io::ErrorKind::NotFound => FileErrorKind::NotFound,
            std::io::ErrorKind::PermissionDenied => FileErrorKind::PermissionDenied,
            std::io::ErrorKind::IsADirectory => FileErrorKind::IsDirectory,
            _ => FileErrorKind::Io(err.to_string()),
        }
    }
}

/// A file that could not be played, and why. Displays as one line: `PATH: REASON`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub path: PathBuf,
    pub kind: FileErrorKind,
}

impl FileError {
    pub fn new(path: &Path, kind: FileErrorKind) -> FileError {
        FileError {
            path: path.to_path_buf(),
            kind,
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.kind)
    }
}

impl std::error::Error for FileError {}

/// A file that played, but not whole: damaged frames were skipped, or it ended before its
/// header said. Not an error (what could be played was played, and the exit code stays 0),
/// but always said in one line: `b.mp3: ends at 0:05.1 of 0:12.0 (truncated)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWarning {
    pub path: PathBuf,
    pub what: String,
}

impl fmt::Display for FileWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.what)
    }
}

/// Errors of the audio output (the device side).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutputError {
    /// No output device could be opened: no sound server, no card, or the host refused.
    NoDevice(String),
    /// `--device NAME` named a device that does not exist.
    UnknownDevice {
        name: String,
        available: Vec<String>,
    },
    /// The device exists but would not play with any configuration we tried.
    Unusable(String),
    /// A sound server runs (its socket answers) but refused reel's connection. reel does not
    /// fall back to ALSA through it (see src/engine/host.rs).
    ServerRefused { socket: PathBuf, why: String },
}

impl fmt::Display for OutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputError::NoDevice(why) => write!(
                f,
                "no usable audio output device ({why}); is a sound server (PipeWire or PulseAudio) running?"
            ),
            OutputError::UnknownDevice { name, available } => {
                write!(f, "no output device named {name:?}; available: ")?;
                if available.is_empty() {
                    write!(f, "none")
                } else {
                    write!(f, "{}", available.join(", "))
                }
            }
            OutputError::Unusable(why) => write!(f, "the output device cannot play: {why}"),
            OutputError::ServerRefused { socket, why } => write!(
                f,
                "the sound server at {} did not accept reel ({why}); reel does not go through \
                 its ALSA plugin instead, which busy-polls a core (REEL_AUDIO_HOST=alsa forces it)",
                socket.display()
            ),
        }
    }
}

impl std::error::Error for OutputError {}

/// Errors of the file cache (`src/cache`). Each displays as one line that names the cache
/// directory and the cause, e.g. `cache /home/a/.cache/reel: no space left on device while
/// importing /music/a.flac`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheError {
    /// The cache directory cannot be used at all (another user's, a symlink to another user's
    /// place, not a directory, no home to put it in).
    Refused { dir: PathBuf, why: String },
    /// An operation on the cache failed: `why` is the cause ("no space left on device",
    /// "read-only file system"), `doing` what reel was doing ("while importing /a.flac").
    Io {
        dir: PathBuf,
        why: String,
        doing: String,
    },
    /// A file given to the cache cannot be imported (not audio, not found, ...).
    File(FileError),
    /// The file changed while it was being copied into the cache.
    Changed(PathBuf),
    /// `reel cache remove ARG`: nothing in the cache matches.
    NotInCache(String),
    /// `reel cache remove HASH`: the hash prefix matches more than one object.
    Ambiguous { what: String, matches: usize },
    /// `reel cache remove`: the object is playing or queued in a running reel.
    InUse { what: String, pids: Vec<u32> },
    /// The import was interrupted (Ctrl-C); nothing was left behind.
    Interrupted,
}

impl CacheError {
    /// Errors about one file (the others can still be imported or played), as opposed to the
    /// cache itself failing.
    pub fn is_about_the_file(&self) -> bool {
        matches!(
            self,
            CacheError::File(_)
                | CacheError::Changed(_)
                | CacheError::NotInCache(_)
                | CacheError::Ambiguous { .. }
                | CacheError::InUse { .. }
        )
    }
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Refused { dir, why } => write!(f, "cache {}: {why}", dir.display()),
            CacheError::Io { dir, why, doing } => {
                write!(f, "cache {}: {why}", dir.display())?;
                if !doing.is_empty() {
                    write!(f, " {doing}")?;
                }
                Ok(())
            }
            CacheError::File(e) => write!(f, "{e}"),
            CacheError::Changed(path) => write!(
                f,
                "{}: changed while it was being copied into the cache; try again",
                path.display()
            ),
            CacheError::NotInCache(what) => write!(f, "{what}: not in the cache"),
            CacheError::Ambiguous { what, matches } => write!(
                f,
                "{what}: matches {matches} objects in the cache; give more of the hash"
            ),
            CacheError::InUse { what, pids } => {
                let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
                write!(
                    f,
                    "{what}: in use by a running reel (pid {}); not removed",
                    pids.join(", ")
                )
            }
            CacheError::Interrupted => write!(f, "interrupted; nothing was left half-written"),
        }
    }
}

impl std::error::Error for CacheError {}

impl From<FileError> for CacheError {
    fn from(e: FileError) -> Self {
        CacheError::File(e)
    }
}

/// The cause of an I/O error as one short lower-case phrase, without Rust's
/// `(os error N)` suffix: "no space left on device", "read-only file system".
pub fn io_cause(err: &std::io::Error) -> String {
    let text = match err.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code).to_string(),
        None => err.to_string(),
    };
    let text = match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// Errors of the library (`src/library`), the user's collection. Each displays as one line
/// naming the database or the file, e.g. `library /home/a/.local/share/reel: disk I/O error
/// while saving a scan`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LibraryError {
    /// The library directory cannot be used at all (another user's, not a directory, no home).
    Refused { dir: PathBuf, why: String },
    /// The database failed (disk full, read-only, damaged, busy for too long): `why` is the
    /// cause, `doing` what reel was doing.
    Db {
        dir: PathBuf,
        why: String,
        doing: String,
    },
    /// The database was written by a newer reel (its schema version is higher than ours).
    TooNew { dir: PathBuf, version: i64 },
    /// A file or folder given to `reel library add` cannot be scanned (not found, damaged
    /// audio, unreadable): the others still are.
    File(FileError),
    /// `reel library remove PATH`: nothing in the library is at or under that path.
    NotInLibrary(PathBuf),
    /// The scan was interrupted (Ctrl-C); what it had saved is whole.
    Interrupted,
}

impl LibraryError {
    /// Errors about one file (the others can still be scanned or removed), as opposed to the
    /// library itself failing.
    pub fn is_about_the_file(&self) -> bool {
        matches!(self, LibraryError::File(_) | LibraryError::NotInLibrary(_))
    }
}

impl fmt::Display for LibraryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LibraryError::Refused { dir, why } => write!(f, "library {}: {why}", dir.display()),
            LibraryError::Db { dir, why, doing } => {
                write!(f, "library {}: {why}", dir.display())?;
                if !doing.is_empty() {
                    write!(f, " {doing}")?;
                }
                Ok(())
            }
            LibraryError::TooNew { dir, version } => write!(
                f,
                "library {}: written by a newer reel (schema version {version}); not changed",
                dir.display()
            ),
            LibraryError::File(e) => write!(f, "{e}"),
            LibraryError::NotInLibrary(path) => {
                write!(f, "{}: not in the library", path.display())
            }
            LibraryError::Interrupted => {
                write!(f, "interrupted; what was scanned so far is saved")
            }
        }
    }
}

/// Errors of playlists (`src/playlist.rs`). Every one leaves the rest of the playlist, and the
/// other inputs, loading: a missing entry, an unreadable playlist or a failed save is told in
/// one line and nothing else stops.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlaylistError {
    /// The playlist file cannot be read (or written, when saving): `why` is the cause.
    File(FileError),
    /// An entry of `playlist` cannot be loaded: `entry` as written in the playlist.
    Entry {
        playlist: PathBuf,
        entry: String,
        why: EntryProblem,
    },
    /// Saving: the playlist could not be written; nothing was left half-written.
    Write { playlist: PathBuf, why: String },
}

/// Why one playlist entry is left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryProblem {
    /// Nothing at the path the entry names.
    NotFound,
    /// The entry is a URL other than `file://` (reel plays files, not streams).
    NotAFile,
    /// The entry is a playlist inside a playlist inside ... more than this allows (or a loop).
    NestedTooDeep,
}

impl fmt::Display for PlaylistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlaylistError::File(e) => write!(f, "{e}"),
            PlaylistError::Entry {
                playlist,
                entry,
                why,
            } => {
                let why = match why {
                    EntryProblem::NotFound => "not found; left out",
                    EntryProblem::NotAFile => {
                        "not a file (reel plays files, not streams); left out"
                    }
                    EntryProblem::NestedTooDeep => "playlists nested too deep (a loop?); left out",
                };
                write!(f, "{}: entry {entry}: {why}", playlist.display())
            }
            PlaylistError::Write { playlist, why } => {
                write!(f, "{}: cannot save the playlist: {why}", playlist.display())
            }
        }
    }
}

impl std::error::Error for LibraryError {}

impl std::error::Error for PlaylistError {}

/// Why a file being streamed into the cache (cache/fill.rs) did not become a cached copy. The
/// ones about the source ([`StreamError::Vanished`], [`StreamError::Truncated`],
/// [`StreamError::Read`], [`StreamError::Changed`]) are recoverable: what arrived plays, the
/// partial copy is dropped and the queue goes on. [`StreamError::Cache`] is the cache's own
/// failure (full, read-only): the player stops. The others are said by someone else (the
/// engine names a file it cannot play) or by no one (the user stopped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// The source went away mid-copy (an unmounted share, a pulled USB stick, a deleted file).
    Vanished { at: u64, size: u64 },
    /// The source ended before the size it had when the copy began.
    Truncated { at: u64, size: u64 },
    /// Reading the source failed.
    Read { at: u64, size: u64, why: String },
    /// The source changed while it was being copied (grew, shrank, was replaced).
    Changed,
    /// Writing into the cache failed.
    Cache(CacheError),
    /// The copy is whole but reel cannot play it (the engine says why when it opens it).
    NotPlayable(FileError),
    /// Stopped by the player (quit, or the track was dropped).
    Cancelled,
}

impl StreamError {
    /// The one line for `file` (None: nothing to say, someone else says it).
    pub fn line(&self, file: &Path) -> Option<String> {
        let f = file.display();
        let mb = |b: u64| b as f64 / 1e6;
        Some(match self {
            StreamError::Vanished { at, size } => format!(
                "{f}: the source vanished after {:.1} of {:.1} MB; played what arrived, the \
                 partial copy is not kept",
                mb(*at),
                mb(*size)
            ),
            StreamError::Truncated { at, size } => format!(
                "{f}: truncated: the source ended at {:.1} of {:.1} MB; played what arrived, \
                 the partial copy is not kept",
                mb(*at),
                mb(*size)
            ),
            StreamError::Read { at, size, why } => format!(
                "{f}: read error after {:.1} of {:.1} MB ({why}); played what arrived, the \
                 partial copy is not kept",
                mb(*at),
                mb(*size)
            ),
            StreamError::Changed => CacheError::Changed(file.to_path_buf()).to_string(),
            StreamError::Cache(e) => e.to_string(),
            StreamError::NotPlayable(_) | StreamError::Cancelled => return None,
        })
    }
}

/// Why MPRIS (src/mpris) is off. Never fatal: playback goes on without it, after one line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MprisError {
    /// No session bus to connect to (none running, or `DBUS_SESSION_BUS_ADDRESS` unset).
    NoBus(String),
    /// The bus answered but refused what MPRIS needs (its names, its object paths).
    Refused(String),
}

impl fmt::Display for MprisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MprisError::NoBus(why) => write!(
                f,
                "MPRIS is off (media keys and playerctl cannot see reel): no D-Bus session bus ({why})"
            ),
            MprisError::Refused(why) => write!(
                f,
                "MPRIS is off (media keys and playerctl cannot see reel): the session bus refused it ({why})"
            ),
        }
    }
}

impl std::error::Error for MprisError {}
