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
        }
    }
}

impl std::error::Error for OutputError {}
