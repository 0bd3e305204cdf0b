//! Playlists: read M3U/M3U8 (plain or extended, `#EXTM3U`/`#EXTINF`) and PLS, write M3U8.
//!
//! Runs on whichever non-real-time thread asks: the main thread before `reel play` or the
//! window starts ([`expand`] on the command line's files), or a short-lived thread of the
//! window (dropping or opening a playlist, "Save queue…"). Never the audio thread, never the
//! window's UI thread: reading a playlist can wait on a slow disk.
//!
//! Hand-written rather than a crate: the M3U crates either parse HLS (`m3u8-rs`, whose media
//! playlists are a different dialect) or have been unmaintained for years and take entries as
//! UTF-8 text, while Linux paths are bytes. The formats are a few lines each:
//! - M3U/M3U8: one entry a line; `#EXTINF:SECONDS,TITLE` describes the next entry; other `#`
//!   lines are comments. Entries are paths, absolute or relative to the playlist's folder, or
//!   `file://` URLs. A UTF-8 byte-order mark and CRLF line ends are accepted. Entries are kept
//!   as the bytes they are (a `.m3u` in Latin-1 names its files in Latin-1 too).
//! - PLS: an INI file, `[playlist]` with `FileN=`, `TitleN=`, `LengthN=` (N from 1).
//!
//! Saving writes M3U8 (UTF-8) with the files' *original* paths, as the user added them (never
//! reel's cache objects, which mean nothing to another player): relative to the playlist's
//! folder when the file is under it, absolute otherwise. The file is written to a temporary
//! name beside the target and renamed over it, so it is never half-written.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{EntryProblem, FileError, FileErrorKind, PlaylistError, io_cause};

/// A playlist inside a playlist is expanded, to this depth (deeper is taken for a loop).
const MAX_NESTING_DEPTH: usize = 8;
/// A playlist bigger than this is not a playlist (a mislabelled audio file, say).
const MAX_PLAYLIST_BYTES: u64 = 16 << 20;

/// The two formats, told by the file name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.m3u` and `.m3u8`.
    M3u,
    /// `.pls`.
    Pls,
}

impl Format {
    /// The format of `path` by its extension (any case), or `None` if it is not a playlist.
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "m3u" | "m3u8" => Some(Format::M3u),
            "pls" => Some(Format::Pls),
            _ => None,
        }
    }
}

/// Whether `path` is named like a playlist.
pub fn is_playlist(path: &Path) -> bool {
    Format::of(path).is_some()
}

/// One entry of a playlist as read: what it names, resolved against the playlist's folder,
/// and the text the playlist wrote for it (for messages).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// `None` when the entry is not a file (a stream URL).
    pub path: Option<PathBuf>,
    /// The entry as written, for error lines.
    pub written: String,
    /// `#EXTINF`'s or PLS's title, if any.
    pub title: Option<String>,
}

/// Reads the playlist at `path`: its entries in order, resolved against its folder. Only the
/// playlist itself failing is an error; entries are not checked here (see [`expand`]).
pub fn read(path: &Path) -> Result<Vec<Entry>, PlaylistError> {
    let file_error =
        |e: &std::io::Error| PlaylistError::File(FileError::new(path, FileErrorKind::from_io(e)));
    let meta = std::fs::metadata(path).map_err(|e| file_error(&e))?;
    if meta.is_dir() {
        return Err(PlaylistError::File(FileError::new(
            path,
            FileErrorKind::IsDirectory,
        )));
    }
    if meta.len() > MAX_PLAYLIST_BYTES {
        return Err(PlaylistError::File(FileError::new(
            path,
            FileErrorKind::Corrupt(format!("too big for a playlist ({} MiB)", meta.len() >> 20)),
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| file_error(&e))?;
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(match Format::of(path) {
        Some(Format::Pls) => parse_pls(&bytes, base),
        // Anything else given to `read` is taken as M3U, the plainest format.
        _ => parse_m3u(&bytes, base),
    })
}

/// The lines of `bytes`: without a UTF-8 byte-order mark, split on LF, CR stripped, trimmed.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    bytes.split(|&b| b == b'\n').map(|l| l.trim_ascii())
}

/// Parses M3U or M3U8 text; relative entries are resolved against `base`.
pub fn parse_m3u(bytes: &[u8], base: &Path) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut title = None;
    for line in lines(bytes) {
        if line.is_empty() {
            continue;
        }
        if let Some(info) = line.strip_prefix(b"#EXTINF:") {
            // `#EXTINF:SECONDS[ attributes],TITLE`: the title is what follows the first comma.
            title = info
                .iter()
                .position(|&b| b == b',')
                .map(|i| String::from_utf8_lossy(&info[i + 1..]).trim().to_string())
                .filter(|t| !t.is_empty());
            continue;
        }
        if line.starts_with(b"#") {
            continue;
        }
        entries.push(entry(line, base, title.take()));
    }
    entries
}

/// Parses PLS text; relative entries are resolved against `base`. Entries come in the order of
/// their numbers (`File1`, `File2`, ...), whatever the order of the lines.
pub fn parse_pls(bytes: &[u8], base: &Path) -> Vec<Entry> {
    let mut files: Vec<(u32, &[u8])> = Vec::new();
    let mut titles: Vec<(u32, String)> = Vec::new();
    for line in lines(bytes) {
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (key, value) = (line[..eq].trim_ascii(), line[eq + 1..].trim_ascii());
        let key = String::from_utf8_lossy(key).to_ascii_lowercase();
        let numbered = |prefix: &str| key.strip_prefix(prefix)?.parse::<u32>().ok();
        if let Some(n) = numbered("file") {
            files.push((n, value));
        } else if let Some(n) = numbered("title") {
            titles.push((n, String::from_utf8_lossy(value).into_owned()));
        }
    }
    files.sort_by_key(|&(n, _)| n);
    files
        .into_iter()
        .map(|(n, value)| {
            let title = titles.iter().find(|(t, _)| *t == n).map(|(_, t)| t.clone());
            entry(value, base, title)
        })
        .collect()
}

/// One entry line: a `file://` URL, another URL (not a file), or a path.
fn entry(line: &[u8], base: &Path, title: Option<String>) -> Entry {
    let written = String::from_utf8_lossy(line).into_owned();
    let path = if let Some(rest) = strip_prefix_ignore_case(line, b"file://") {
        // file:///abs/path or file://localhost/abs/path, percent-encoded.
        let rest = strip_prefix_ignore_case(rest, b"localhost").unwrap_or(rest);
        let decoded: Vec<u8> = percent_encoding::percent_decode(rest).collect();
        Some(PathBuf::from(OsStr::from_bytes(&decoded)))
    } else if is_url(line) {
        None
    } else {
        let p = Path::new(OsStr::from_bytes(line));
        Some(if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        })
    };
    Entry {
        path,
        written,
        title,
    }
}

fn strip_prefix_ignore_case<'a>(bytes: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &bytes[prefix.len()..])
}

/// `scheme://...` with an RFC 3986 scheme (letters, digits, `+-.`, starting with a letter).
fn is_url(line: &[u8]) -> bool {
    let Some(colon) = line.windows(3).position(|w| w == b"://") else {
        return false;
    };
    let scheme = &line[..colon];
    scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
}

/// Replaces every playlist among `inputs` by the files it lists (playlists in playlists too),
/// keeping the order; other inputs pass through as they are (the caller reports their own
/// problems). Returns the files, and one line for each playlist that cannot be read and each
/// entry left out (`LIST: entry ENTRY: not found; left out`), without a `reel: ` prefix.
pub fn expand(inputs: &[PathBuf]) -> (Vec<PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for input in inputs {
        expand_into(input, 0, &mut files, &mut problems);
    }
    let lines = problems.iter().map(ToString::to_string).collect();
    (files, lines)
}

fn expand_into(
    input: &Path,
    depth: usize,
    files: &mut Vec<PathBuf>,
    problems: &mut Vec<PlaylistError>,
) {
    if !is_playlist(input) {
        files.push(input.to_path_buf());
        return;
    }
    let entries = match read(input) {
        Ok(entries) => entries,
        Err(e) => {
            problems.push(e);
            return;
        }
    };
    for e in entries {
        let left_out = |why| PlaylistError::Entry {
            playlist: input.to_path_buf(),
            entry: e.written.clone(),
            why,
        };
        match &e.path {
            None => problems.push(left_out(EntryProblem::NotAFile)),
            Some(p) if !p.exists() => problems.push(left_out(EntryProblem::NotFound)),
            Some(p) if is_playlist(p) && depth + 1 >= MAX_NESTING_DEPTH => {
                problems.push(left_out(EntryProblem::NestedTooDeep))
            }
            Some(p) => expand_into(p, depth + 1, files, problems),
        }
    }
}

/// One file to save: its original path and what `#EXTINF` says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveEntry {
    pub path: PathBuf,
    /// "Artist - Title" or the title alone; empty for none.
    pub title: String,
    pub duration_secs: Option<f64>,
}

/// The M3U8 text for `entries` in a playlist saved in the folder `dir`: each path relative to
/// `dir` when it is under it, absolute otherwise.
pub fn render_m3u8(dir: &Path, entries: &[SaveEntry]) -> Vec<u8> {
    let mut out = b"#EXTM3U\n".to_vec();
    for e in entries {
        let secs = e.duration_secs.map_or(-1, |s| s.round() as i64);
        // A line end in a title would end the #EXTINF line early.
        let title: String = e.title.chars().filter(|c| !c.is_control()).collect();
        out.extend_from_slice(format!("#EXTINF:{secs},{title}\n").as_bytes());
        out.extend_from_slice(relative_to(&e.path, dir).as_os_str().as_bytes());
        out.push(b'\n');
    }
    out
}

/// `path` relative to `dir` when it lies under it (compared as given and after resolving
/// symbolic links), otherwise `path` itself.
fn relative_to(path: &Path, dir: &Path) -> PathBuf {
    let plain = |p: &Path| p.components().all(|c| matches!(c, Component::Normal(_)));
    if let Ok(rel) = path.strip_prefix(dir)
        && plain(rel)
    {
        return rel.to_path_buf();
    }
    if let (Ok(path), Ok(dir)) = (path.canonicalize(), dir.canonicalize())
        && let Ok(rel) = path.strip_prefix(&dir)
    {
        return rel.to_path_buf();
    }
    path.to_path_buf()
}

/// Saves `entries` as an M3U8 playlist at `path` (written beside it, then renamed over it).
pub fn write_m3u8(path: &Path, entries: &[SaveEntry]) -> Result<(), PlaylistError> {
    let failed = |e: &std::io::Error| PlaylistError::Write {
        playlist: path.to_path_buf(),
        why: io_cause(e),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir_abs = std::path::absolute(&dir).map_err(|e| failed(&e))?;
    let text = render_m3u8(&dir_abs, entries);
    let name = path.file_name().ok_or_else(|| PlaylistError::Write {
        playlist: path.to_path_buf(),
        why: "no file name".into(),
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".reel-{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let written = std::fs::write(&tmp, &text)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed(&e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(entries: &[Entry]) -> Vec<Option<PathBuf>> {
        entries.iter().map(|e| e.path.clone()).collect()
    }

    #[test]
    fn extended_m3u_with_a_bom_crlf_comments_and_relative_and_absolute_entries() {
        let text = "\u{feff}#EXTM3U\r\n#EXTINF:123,Artist - Song\r\nsub/a.flac\r\n\r\n# a comment\r\n/abs/b.mp3\r\n";
        let entries = parse_m3u(text.as_bytes(), Path::new("/lists"));
        assert_eq!(
            paths(&entries),
            vec![
                Some(PathBuf::from("/lists/sub/a.flac")),
                Some(PathBuf::from("/abs/b.mp3"))
            ]
        );
        assert_eq!(entries[0].title.as_deref(), Some("Artist - Song"));
        assert_eq!(entries[1].title, None);
    }

    #[test]
    fn plain_m3u_keeps_non_utf8_names_as_bytes_and_utf8_names_as_they_are() {
        let mut text = b"caf\xe9.flac\n".to_vec();
        text.extend_from_slice("Ünïcödé ♫.flac\n".as_bytes());
        let entries = parse_m3u(&text, Path::new("/m"));
        assert_eq!(
            entries[0].path.as_ref().unwrap().as_os_str().as_bytes(),
            b"/m/caf\xe9.flac"
        );
        assert_eq!(entries[1].path, Some(PathBuf::from("/m/Ünïcödé ♫.flac")));
    }

    #[test]
    fn file_urls_are_decoded_and_stream_urls_are_not_files() {
        let text = "file:///music/a%20b.flac\nFILE://localhost/music/c.flac\nhttp://radio/x\n";
        let entries = parse_m3u(text.as_bytes(), Path::new("/m"));
        assert_eq!(
            paths(&entries),
            vec![
                Some(PathBuf::from("/music/a b.flac")),
                Some(PathBuf::from("/music/c.flac")),
                None
            ]
        );
    }

    #[test]
    fn pls_entries_come_in_number_order_with_their_titles() {
        let text = "[playlist]\r\nFile2=/x/two.flac\r\nTitle2=Two\r\nfile1=one.ogg\r\nNumberOfEntries=2\r\nVersion=2\r\n";
        let entries = parse_pls(text.as_bytes(), Path::new("/lists"));
        assert_eq!(
            paths(&entries),
            vec![
                Some(PathBuf::from("/lists/one.ogg")),
                Some(PathBuf::from("/x/two.flac"))
            ]
        );
        assert_eq!(entries[1].title.as_deref(), Some("Two"));
    }

    #[test]
    fn saving_writes_paths_under_the_folder_relative_and_the_others_absolute() {
        let e = |p: &str, t: &str, d| SaveEntry {
            path: PathBuf::from(p),
            title: t.into(),
            duration_secs: d,
        };
        let text = render_m3u8(
            Path::new("/music/lists"),
            &[
                e("/music/lists/a/b.flac", "A - B", Some(61.4)),
                e("/music/other.flac", "Other", None),
                e("/music/lists/../c.flac", "bad\ntitle", None),
            ],
        );
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "#EXTM3U\n#EXTINF:61,A - B\na/b.flac\n#EXTINF:-1,Other\n/music/other.flac\n#EXTINF:-1,badtitle\n/music/lists/../c.flac\n"
        );
    }

    #[test]
    fn formats_are_told_by_extension_in_any_case() {
        assert_eq!(Format::of(Path::new("a.M3U8")), Some(Format::M3u));
        assert_eq!(Format::of(Path::new("a.m3u")), Some(Format::M3u));
        assert_eq!(Format::of(Path::new("a.PLS")), Some(Format::Pls));
        assert_eq!(Format::of(Path::new("a.flac")), None);
        assert_eq!(Format::of(Path::new("m3u")), None);
    }
}
