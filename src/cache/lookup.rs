//! What the player asks the cache before it plays a file (the session layer, on the thread
//! that prepares the queue): is it cached unchanged (a hit, pinned at once, then the quick
//! check), and, for a file that is gone, is a copy of it cached (offline play).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{Cache, Imported};
use crate::error::CacheError;

/// What the cache holds for a file about to play.
#[derive(Debug, Clone)]
pub enum Found {
    /// Cached unchanged, the object passed the quick check; pinned.
    Hit(Imported),
    /// Cached unchanged, but its object was damaged: discarded (copy it again).
    Damaged,
    /// Not cached (or cached with another size or mtime).
    Miss,
}

impl Cache {
    /// Looks up the file `given` (canonical path `canon`, metadata `meta`) for playing it.
    pub fn find_for_play(
        &self,
        given: &Path,
        canon: &Path,
        meta: &fs::Metadata,
    ) -> Result<Found, CacheError> {
        let mtime = (meta.mtime(), meta.mtime_nsec() as u32);
        let hit = self.locked(|st| {
            let Some((e, s)) = st.index.lookup_source(canon) else {
                return Ok(None);
            };
            if s.size != meta.len() || (s.mtime_s, s.mtime_ns) != mtime {
                return Ok(None);
            }
            let (hash, size, object) = (e.hash.clone(), e.size, self.object_path(e));
            if !fs::metadata(&object).is_ok_and(|m| m.len() == size) {
                return Ok(Some(None));
            }
            self.pin_locked(st, std::slice::from_ref(&hash))?;
            st.pending.hits += 1;
            st.pending.bytes_saved += size;
            Ok(Some(Some(Imported::hit(given, hash, object, size))))
        })?;
        match hit {
            None => Ok(Found::Miss),
            Some(Some(imp)) if self.quick_check(&imp.hash) => Ok(Found::Hit(imp)),
            Some(Some(imp)) => {
                self.discard(&imp.hash)?;
                Ok(Found::Damaged)
            }
            Some(None) => Ok(Found::Damaged),
        }
    }

    /// For a file that cannot be found: the cached copy of whatever was last imported from
    /// that path, pinned, if the cache has one and it passes the quick check.
    pub fn find_offline(&self, given: &Path) -> Result<Option<Imported>, CacheError> {
        let candidates = offline_keys(given);
        let found = self.locked(|st| {
            for key in &candidates {
                if let Some((e, _)) = st.index.lookup_source(key) {
                    let (hash, size, object) = (e.hash.clone(), e.size, self.object_path(e));
                    self.pin_locked(st, std::slice::from_ref(&hash))?;
                    return Ok(Some(Imported::hit(given, hash, object, size)));
                }
            }
            Ok(None)
        })?;
        Ok(found.filter(|imp| self.quick_check(&imp.hash)))
    }
}

/// The canonical paths a missing file may have been imported under: its absolute path, and
/// the one through its parent folder's canonical path (when that folder is still there).
fn offline_keys(given: &Path) -> Vec<PathBuf> {
    let mut keys = Vec::new();
    if let Ok(abs) = std::path::absolute(given) {
        keys.push(abs);
    }
    if let (Some(parent), Some(name)) = (given.parent(), given.file_name()) {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if let Ok(p) = fs::canonicalize(parent) {
            let k = p.join(name);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    keys
}
