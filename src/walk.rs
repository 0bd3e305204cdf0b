//! The one folder walker: what playing (src/session/inputs.rs), importing into the cache
//! (src/cache/import.rs) and scanning into the library (src/library/scan.rs) find in a folder,
//! in the same order and by the same rules. Each decides for itself what is audio (playing by
//! the name, so nothing is read twice; importing and scanning by probing the file).
//!
//! Runs on the caller's thread (a worker's, or the command's).

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What the walk finds.
#[derive(Debug)]
pub enum Walked {
    /// A file: its path under the folder walked, its metadata (a symlink's target's), and
    /// whether that path is a symlink.
    File {
        path: PathBuf,
        meta: fs::Metadata,
        link: bool,
    },
    /// A folder that could not be read (its path under the folder walked).
    Unreadable(PathBuf, io::Error),
}

/// Walks `dir`: depth first, each folder's entries sorted by name (so files come in path
/// order). Hidden entries (named with a leading dot: `.git`, `.Trash-1000`, macOS's `._x.flac`
/// resource forks, which carry an audio extension but are not audio) are passed over quietly,
/// files and folders alike. Symlinks to files are followed; symlinks to folders are not (no loops), and neither
/// are dangling links or anything that is not a file or a folder. A folder in `skip` (the
/// cache, the library's own folder) is not entered. `dir` and `skip` are canonical, so every
/// folder met is too (no link to a folder is entered) and is compared as it is: no path is
/// resolved again on the way. [`walk_as_given`] walks a folder named any way.
pub fn walk(dir: &Path, skip: &[PathBuf], visit: &mut dyn FnMut(Walked)) {
    let mut entries: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(e) => {
            visit(Walked::Unreadable(dir.to_path_buf(), e));
            return;
        }
    };
    entries.sort();
    for path in entries {
        if path
            .file_name()
            .is_some_and(|n| n.as_bytes().first() == Some(&b'.'))
        {
            continue;
        }
        let Ok(lmeta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if lmeta.is_dir() {
            if !skip.contains(&path) {
                walk(&path, skip, visit);
            }
            continue;
        }
        let link = lmeta.file_type().is_symlink();
        let meta = if link {
            match fs::metadata(&path) {
                Ok(m) => m,
                Err(_) => continue,
            }
        } else {
            lmeta
        };
        if meta.is_file() {
            visit(Walked::File { path, meta, link });
        }
    }
}

/// [`walk`] of `dir` as the user named it (a relative path, through a link): the canonical
/// folder is walked, and what is found is named under `dir` again.
pub fn walk_as_given(dir: &Path, skip: &[PathBuf], visit: &mut dyn FnMut(Walked)) {
    let start = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let rename = |p: PathBuf| match p.strip_prefix(&start) {
        Ok(rel) if rel.as_os_str().is_empty() => dir.to_path_buf(),
        Ok(rel) => dir.join(rel),
        Err(_) => p,
    };
    walk(&start, skip, &mut |w| {
        visit(match w {
            Walked::File { path, meta, link } => Walked::File {
                path: rename(path),
                meta,
                link,
            },
            Walked::Unreadable(p, e) => Walked::Unreadable(rename(p), e),
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_come_in_path_order_without_hidden_or_skipped_folders_or_followed_folder_links() {
        let dir = tempfile::tempdir().unwrap();
        let d = fs::canonicalize(dir.path()).unwrap();
        for sub in ["b/inner", "cache", "a", ".git"] {
            fs::create_dir_all(d.join(sub)).unwrap();
        }
        for f in [
            "b/2.flac",
            "b/10.mp3",
            "a/x.wav",
            "b/inner/y.ogg",
            "cache/obj",
            "z.txt",
            "b/._2.flac",
            ".git/x.wav",
        ] {
            fs::write(d.join(f), b"x").unwrap();
        }
        std::os::unix::fs::symlink(d.join("b"), d.join("loop")).unwrap();
        std::os::unix::fs::symlink(d.join("z.txt"), d.join("link.txt")).unwrap();
        let mut seen = Vec::new();
        walk(&d, &[d.join("cache")], &mut |w| match w {
            Walked::File { path, link, .. } => {
                seen.push((path.strip_prefix(&d).unwrap().display().to_string(), link))
            }
            Walked::Unreadable(p, e) => panic!("{}: {e}", p.display()),
        });
        let expect = [
            ("a/x.wav", false),
            ("b/10.mp3", false),
            ("b/2.flac", false),
            ("b/inner/y.ogg", false),
            ("link.txt", true),
            ("z.txt", false),
        ];
        let expect: Vec<(String, bool)> = expect.iter().map(|(p, l)| (p.to_string(), *l)).collect();
        assert_eq!(seen, expect);
    }
}
