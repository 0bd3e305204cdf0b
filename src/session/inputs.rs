//! Turning what the user named (files and folders) into the files to play, in order. Runs on
//! the thread that prepares a queue.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{FileError, FileErrorKind};

/// File name extensions of the formats reel plays (README, "Formats"). Inside a folder, a file
/// without one of these is skipped quietly (cover art, playlists, notes); a file named
/// explicitly is always tried, and the engine says why it cannot play it.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "aac", "adts", "aif", "aifc", "aiff", "alac", "caf", "flac", "m4a", "m4b", "mka", "mkv", "mp1",
    "mp2", "mp3", "mp4", "oga", "ogg", "opus", "wav", "wave", "webm",
];

/// Whether a file found in a folder is taken for audio.
pub fn looks_like_audio(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// One file to play, or why a name given cannot give one.
#[derive(Debug)]
pub enum Input {
    File(PathBuf),
    Failed(FileError),
}

/// Expands `paths`: files as given, folders into their audio files (recursively, sorted by
/// path, depth first; symlinks to folders are not followed, so no loops; `skip` is not
/// entered: the cache). Returns the inputs and how many files folders held that are not audio.
pub fn expand(paths: &[PathBuf], skip: &Path) -> (Vec<Input>, usize) {
    let mut out = Vec::new();
    let mut skipped = 0;
    for p in paths {
        match fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                let before = out.len();
                walk(p, skip, &mut out, &mut skipped);
                if out.len() == before {
                    out.push(Input::Failed(FileError::new(
                        p,
                        FileErrorKind::NoAudioInFolder,
                    )));
                }
            }
            // Anything else (a file, or something missing: it may be cached) is looked at
            // by the session.
            _ => out.push(Input::File(p.clone())),
        }
    }
    (out, skipped)
}

fn walk(dir: &Path, skip: &Path, out: &mut Vec<Input>, skipped: &mut usize) {
    let mut entries: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(e) => {
            out.push(Input::Failed(FileError::new(
                dir,
                FileErrorKind::from_io(&e),
            )));
            return;
        }
    };
    entries.sort();
    for path in entries {
        let Ok(lmeta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if lmeta.is_dir() {
            if fs::canonicalize(&path).ok().as_deref() != Some(skip) {
                walk(&path, skip, out, skipped);
            }
            continue;
        }
        if !fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        if looks_like_audio(&path) {
            out.push(Input::File(path));
        } else {
            *skipped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_expand_in_path_order_and_skip_what_is_not_audio() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("b/inner")).unwrap();
        fs::create_dir_all(d.join("empty")).unwrap();
        for f in [
            "b/2.flac",
            "b/10.mp3",
            "a.wav",
            "b/inner/x.ogg",
            "b/cover.jpg",
        ] {
            fs::write(d.join(f), b"x").unwrap();
        }
        let (inputs, skipped) = expand(&[d.to_path_buf(), d.join("empty")], Path::new("/none"));
        let names: Vec<String> = inputs
            .iter()
            .map(|i| match i {
                Input::File(p) => p.strip_prefix(d).unwrap().display().to_string(),
                Input::Failed(e) => format!("error {}", e.kind.code()),
            })
            .collect();
        assert_eq!(
            names,
            [
                "a.wav",
                "b/10.mp3",
                "b/2.flac",
                "b/inner/x.ogg",
                "error no_audio_in_folder"
            ]
        );
        assert_eq!(skipped, 1);
    }
}
