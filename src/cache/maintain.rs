//! Looking after the cache: list, stats, remove, clear, gc, verify, config.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::import::ImportOptions;
use super::index::Entry;
use super::{Cache, Settings, copy, pins};
use crate::error::CacheError;

/// `reel cache stats`.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub dir: PathBuf,
    pub entries: usize,
    pub bytes: u64,
    pub max_size_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    pub bytes_saved: u64,
    pub evictions: u64,
    pub bytes_evicted: u64,
    /// Objects pinned by running reels.
    pub pinned: usize,
}

/// `reel cache gc` (and what a new, smaller cap evicted).
#[derive(Debug, Clone, Serialize)]
pub struct GcReport {
    pub evicted: Vec<Entry>,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub max_size_bytes: u64,
    /// Pinned objects kept although the cache is still over the cap.
    pub kept_pinned: usize,
}

/// `reel cache clear`.
#[derive(Debug, Clone, Serialize)]
pub struct ClearReport {
    pub removed: usize,
    pub bytes: u64,
    /// Objects playing or queued in a running reel, which were kept.
    pub kept_in_use: usize,
}

/// One damaged object that `reel cache verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyProblem {
    pub hash: String,
    pub name: String,
    /// The original it was re-imported from, if any.
    pub restored_from: Option<PathBuf>,
    /// What happened, in words.
    pub detail: String,
}

/// `reel cache verify`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub checked: usize,
    pub ok: usize,
    pub corrupt: Vec<VerifyProblem>,
}

impl VerifyReport {
    /// Damaged objects that could not be restored from their originals.
    pub fn lost(&self) -> usize {
        self.corrupt
            .iter()
            .filter(|p| p.restored_from.is_none())
            .count()
    }
}

impl Cache {
    /// Every entry (a copy of the index).
    pub fn list(&self) -> Result<Vec<Entry>, CacheError> {
        self.read(|st| st.index.entries().cloned().collect())
    }

    pub fn stats(&self) -> Result<Stats, CacheError> {
        let settings = self.settings();
        let pinned = self.live_pins()?;
        self.with_entries(|c, entries| Stats {
            dir: self.dir.clone(),
            entries: entries.len(),
            bytes: entries.iter().map(|e| e.size).sum(),
            max_size_bytes: settings.max_size_bytes,
            hits: c.hits,
            misses: c.misses,
            bytes_saved: c.bytes_saved,
            evictions: c.evictions,
            bytes_evicted: c.bytes_evicted,
            pinned: entries
                .iter()
                .filter(|e| pinned.contains_key(e.hash.as_ref()))
                .count(),
        })
    }

    /// Removes objects named by hash (or a unique prefix of at least 4 hex digits), by an
    /// original path, or by their object path. One result per item: what it removed.
    pub fn remove(&self, items: &[String]) -> Vec<Result<Entry, CacheError>> {
        let outcome = self.locked(|st| {
            let pinned = pins::live_pins(&self.pins_dir())
                .map_err(|e| self.io_err(&e, "while reading its pins"))?;
            let mut results = Vec::new();
            let mut removed: Vec<Entry> = Vec::new();
            for item in items {
                let hexish = item.len() >= 4 && item.bytes().all(|b| b.is_ascii_hexdigit());
                let by_hash: Vec<String> = if hexish {
                    let prefix = item.to_ascii_lowercase();
                    st.index
                        .entries()
                        .filter(|e| e.hash.starts_with(&prefix))
                        .map(|e| e.hash.clone())
                        .collect()
                } else {
                    Vec::new()
                };
                let hash = match by_hash.len() {
                    1 => Some(by_hash[0].clone()),
                    0 => self.find_by_path(st, Path::new(item)),
                    n => {
                        results.push(Err(CacheError::Ambiguous {
                            what: item.clone(),
                            matches: n,
                        }));
                        continue;
                    }
                };
                let Some(hash) = hash else {
                    results.push(Err(CacheError::NotInCache(item.clone())));
                    continue;
                };
                if let Some(pids) = pinned.get(&hash) {
                    results.push(Err(CacheError::InUse {
                        what: item.clone(),
                        pids: pids.clone(),
                    }));
                    continue;
                }
                match st.index.remove(&hash) {
                    Some(e) => {
                        removed.push(e.clone());
                        results.push(Ok(e));
                    }
                    // Named twice.
                    None => results.push(Err(CacheError::NotInCache(item.clone()))),
                }
            }
            if !removed.is_empty() {
                self.remove_objects(st, &removed)?;
            }
            Ok(results)
        });
        match outcome {
            Ok(results) => results,
            Err(e) => items.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    fn find_by_path(&self, st: &mut super::State, path: &Path) -> Option<String> {
        let abs = fs::canonicalize(path)
            .or_else(|_| std::path::absolute(path))
            .ok()?;
        if let Some((e, _)) = st.index.lookup_source(&abs) {
            return Some(e.hash.clone());
        }
        st.index
            .entries()
            .find(|e| self.object_path(e) == abs || e.sources.iter().any(|s| s.path == abs))
            .map(|e| e.hash.clone())
    }

    /// Removes every object except those a running reel plays or has queued.
    pub fn clear(&self) -> Result<ClearReport, CacheError> {
        self.locked(|st| {
            let pinned = pins::live_pins(&self.pins_dir())
                .map_err(|e| self.io_err(&e, "while reading its pins"))?;
            let victims: Vec<String> = st
                .index
                .entries()
                .filter(|e| !pinned.contains_key(&e.hash))
                .map(|e| e.hash.clone())
                .collect();
            let removed: Vec<Entry> = victims.iter().filter_map(|h| st.index.remove(h)).collect();
            self.remove_objects(st, &removed)?;
            Ok(ClearReport {
                removed: removed.len(),
                bytes: removed.iter().map(|e| e.size).sum(),
                kept_in_use: st.index.len(),
            })
        })
    }

    /// Cleans up (crashed imports' temp files, dead pins, index against objects) and evicts
    /// down to `max` (default: the configured cap).
    pub fn gc(&self, max: Option<u64>) -> Result<GcReport, CacheError> {
        let cap = max.unwrap_or(self.settings().max_size_bytes);
        self.locked(|st| {
            copy::clean_tmp(&self.tmp_dir());
            let removing = self.read_dirty().unwrap_or_default();
            self.reconcile(st, &removing)?;
            self.end_change();
            let bytes_before = st.index.total_bytes();
            let evicted = self.plan_eviction(st, cap, &HashSet::new())?;
            if !evicted.is_empty() {
                self.remove_objects(st, &evicted)?;
            }
            let bytes_after = st.index.total_bytes();
            let kept_pinned = if bytes_after > cap {
                let pinned = pins::live_pins(&self.pins_dir()).unwrap_or_default();
                st.index
                    .entries()
                    .filter(|e| pinned.contains_key(&e.hash))
                    .count()
            } else {
                0
            };
            Ok(GcReport {
                evicted,
                bytes_before,
                bytes_after,
                max_size_bytes: cap,
                kept_pinned,
            })
        })
    }

    /// Sets the size cap and evicts down to it.
    pub fn set_max_size(&self, bytes: u64) -> Result<GcReport, CacheError> {
        self.locked(|_| {
            self.write_settings(&Settings {
                max_size_bytes: bytes,
            })
        })?;
        self.gc(None)
    }

    /// Re-hashes every object. A damaged one is removed, then re-imported from its original
    /// if that still exists unchanged (same size and mtime as when it was imported).
    /// `progress(done, total)` counts objects.
    pub fn verify(
        &self,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<VerifyReport, CacheError> {
        // First make the index and objects/ agree (an entry whose object is gone is dropped,
        // an object without an entry is re-hashed and adopted), as `gc` does.
        self.locked(|st| {
            let removing = self.read_dirty().unwrap_or_default();
            self.reconcile(st, &removing)?;
            self.end_change();
            Ok(())
        })?;
        let entries = self.list()?;
        let mut report = VerifyReport::default();
        for (i, e) in entries.iter().enumerate() {
            progress(i, entries.len());
            let path = self.object_path(e);
            let detail = match copy::hash_file(&path) {
                Ok((h, len)) if h == e.hash && len == e.size => {
                    report.checked += 1;
                    report.ok += 1;
                    continue;
                }
                // Removed or evicted since the list was taken: nothing to check.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Ok((_, len)) if len != e.size => {
                    format!("size {len} bytes, {} expected", e.size)
                }
                Ok(_) => "content does not match its hash".to_string(),
                Err(err) => format!("unreadable: {}", crate::error::io_cause(&err)),
            };
            report.checked += 1;
            self.discard(&e.hash)?;
            let mut problem = VerifyProblem {
                hash: e.hash.clone(),
                name: e.name.clone(),
                restored_from: None,
                detail: format!("{detail}; removed"),
            };
            let unchanged = e.sources.iter().find(|s| {
                fs::metadata(&s.path).is_ok_and(|m| {
                    use std::os::unix::fs::MetadataExt;
                    m.len() == s.size
                        && m.mtime() == s.mtime_s
                        && m.mtime_nsec() as u32 == s.mtime_ns
                })
            });
            match unchanged {
                Some(src) => {
                    let r = self.import(
                        std::slice::from_ref(&src.path),
                        ImportOptions::default(),
                        &mut |_| {},
                    );
                    if let Some(err) = r.stopped {
                        return Err(err);
                    }
                    match r.results.into_iter().next() {
                        Some(Ok(imp)) if imp.hash == e.hash => {
                            problem.detail =
                                format!("{detail}; copied again from {}", src.path.display());
                            problem.restored_from = Some(src.path.clone());
                        }
                        Some(Ok(_)) => {
                            problem.detail = format!(
                                "{detail}; removed, and {} now holds different content (imported that)",
                                src.path.display()
                            );
                        }
                        Some(Err(err)) => {
                            problem.detail =
                                format!("{detail}; removed, and re-importing failed: {err}");
                        }
                        None => {}
                    }
                }
                None if !e.sources.is_empty() => {
                    problem.detail =
                        format!("{detail}; removed (its original is gone or has changed)");
                }
                None => {
                    problem.detail = format!("{detail}; removed (its original is unknown)");
                }
            }
            report.corrupt.push(problem);
        }
        progress(entries.len(), entries.len());
        Ok(report)
    }
}
