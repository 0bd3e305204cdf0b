//! Where the cache lives, and making sure it is ours and private before anything is written.

use std::fs::{self, DirBuilder};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{CacheError, io_cause};

/// Environment variable that overrides the cache location (`--cache-dir` overrides it).
pub const CACHE_DIR_ENV: &str = "REEL_CACHE_DIR";

/// The cache directory: `--cache-dir`, else `$REEL_CACHE_DIR`, else the user's cache directory
/// (`$XDG_CACHE_HOME/reel`, or `~/.cache/reel`), made absolute.
pub fn resolve(explicit: Option<&Path>) -> Result<PathBuf, CacheError> {
    let dir = match explicit {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os(CACHE_DIR_ENV).filter(|v| !v.is_empty()) {
            Some(v) => PathBuf::from(v),
            None => directories::BaseDirs::new()
                .map(|b| b.cache_dir().join("reel"))
                .ok_or_else(|| CacheError::Refused {
                    dir: PathBuf::from("~/.cache/reel"),
                    why: format!(
                        "no home directory to put it in; set {CACHE_DIR_ENV} or use --cache-dir"
                    ),
                })?,
        },
    };
    std::path::absolute(&dir).map_err(|e| CacheError::Io {
        dir: dir.clone(),
        why: io_cause(&e),
        doing: "while resolving its path".into(),
    })
}

pub fn euid() -> u32 {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Makes sure `dir` is a private directory of the current user, creating it (0700) when it
/// does not exist. Refuses a directory owned by someone else, and a symlink that points to a
/// place the user does not own: whoever owns the place could read what is played, or plant
/// objects that reel would trust. A directory of ours that others can read is made private.
pub fn secure_dir(dir: &Path) -> Result<(), CacheError> {
    let refuse = |why: String| CacheError::Refused {
        dir: dir.to_path_buf(),
        why,
    };
    let io = |e: std::io::Error, doing: &str| CacheError::Io {
        dir: dir.to_path_buf(),
        why: io_cause(&e),
        doing: doing.to_string(),
    };
    let me = euid();
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(|e| io(e, "while creating it"))?;
            }
            match DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => {}
                // Another reel created it at the same moment: check what is there now.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e, "while creating it")),
            }
            fs::symlink_metadata(dir).map_err(|e| io(e, "while creating it"))?
        }
        Err(e) => return Err(io(e, "while opening it")),
    };
    let target = if meta.file_type().is_symlink() {
        let to = fs::read_link(dir)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "?".into());
        let t = match fs::metadata(dir) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(refuse(format!(
                    "is a symlink to {to}, which does not exist; refusing to use it"
                )));
            }
            Err(e) => return Err(io(e, "while following its symlink")),
        };
        if t.uid() != me {
            return Err(refuse(format!(
                "is a symlink to {to}, which belongs to another user (uid {}); refusing to use it",
                t.uid()
            )));
        }
        if !t.is_dir() {
            return Err(refuse(format!(
                "is a symlink to {to}, which is not a directory"
            )));
        }
        t
    } else {
        if !meta.is_dir() {
            return Err(refuse("is not a directory".into()));
        }
        if meta.uid() != me {
            return Err(refuse(format!(
                "is owned by another user (uid {}); refusing to use it",
                meta.uid()
            )));
        }
        meta
    };
    if target.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| io(e, "while making it private (chmod 700)"))?;
    }
    // If others could once write into it, they may have left something in it: a symlink named
    // like one of reel's own files (`index.json.tmp`, `dirty`) would have reel overwrite
    // whatever it points to, and a directory of theirs (`objects`) would let them plant or
    // read objects. Only the top level is looked at (a few entries, so every start can afford
    // it): everything below is created 0700 by reel.
    let entries = fs::read_dir(dir).map_err(|e| io(e, "while listing it"))?;
    for entry in entries {
        let entry = entry.map_err(|e| io(e, "while listing it"))?;
        let Ok(m) = fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if m.uid() != me {
            return Err(refuse(format!(
                "holds {}, which belongs to another user (uid {}); refusing to use it",
                entry.file_name().to_string_lossy(),
                m.uid()
            )));
        }
    }
    Ok(())
}

/// Creates `dir` (0700) if missing; an existing one is left as it is.
pub fn ensure_subdir(cache: &Path, dir: &Path) -> Result<(), CacheError> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(CacheError::Io {
            dir: cache.to_path_buf(),
            why: io_cause(&e),
            doing: format!(
                "while creating {}/",
                dir.file_name().unwrap_or_default().to_string_lossy()
            ),
        }),
    }
}
