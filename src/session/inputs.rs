//! Turning what the user named (files and folders) into the files to play, in order. Runs on
//! the thread that prepares a queue.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{FileError, FileErrorKind};
use crate::walk::Walked;

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

/// Expands `paths`: files as given, folders into their audio files (src/walk.rs: recursively,
/// sorted by path, depth first; symlinks to folders are not followed, so no loops; `skip`, the
/// cache, canonical, is not entered). Returns the inputs and how many files folders held that are not audio.
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
    crate::walk::walk_as_given(dir, &[skip.to_path_buf()], &mut |w| match w {
        Walked::File { path, .. } if looks_like_audio(&path) => out.push(Input::File(path)),
        Walked::File { .. } => *skipped += 1,
        Walked::Unreadable(p, e) => out.push(Input::Failed(FileError::new(
            &p,
            FileErrorKind::from_io(&e),
        ))),
    });
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
