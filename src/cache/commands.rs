//! `reel cache ...`: the commands as a user meets them. Each returns the process exit code;
//! problems are one line each on stderr (`reel: ...`), results go to stdout.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::size::format_size;
use super::{Cache, EntryView, ImportOptions, Progress, location};
use crate::error::CacheError;

/// Exit code: everything done.
pub const EXIT_OK: i32 = 0;
/// At least one file could not be imported, removed or restored (the others were).
pub const EXIT_SOME_FAILED: i32 = 1;
/// The cache itself cannot be used: refused (not ours), unwritable, disk full.
pub const EXIT_CACHE: i32 = 5;
/// Interrupted by Ctrl-C (128 + SIGINT, as shells report it); nothing was left half-written.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Imports show a progress bar on a terminal once there is at least this much to copy.
pub const PROGRESS_BAR_MIN_BYTES: u64 = 16 << 20;

/// `reel cache <command>`.
#[derive(Debug, Clone)]
pub enum CacheCommand {
    Import { paths: Vec<PathBuf> },
    List { json: bool },
    Remove { items: Vec<String> },
    Gc { max_size: Option<u64> },
    Verify { json: bool },
    Clear,
    Config { max_size: Option<u64> },
    Stats { json: bool },
    Path,
}

fn say(msg: impl std::fmt::Display) {
    eprintln!("reel: {msg}");
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Runs a `reel cache` command on the cache at `dir` (`--cache-dir`), or the default one.
pub fn run(dir: Option<&Path>, cmd: CacheCommand) -> i32 {
    if let CacheCommand::Path = cmd {
        return match location::resolve(dir) {
            Ok(p) => {
                println!("{}", p.display());
                EXIT_OK
            }
            Err(e) => {
                say(e);
                EXIT_CACHE
            }
        };
    }
    let cache = match Cache::open(dir) {
        Ok(c) => c,
        Err(e) => {
            say(e);
            return EXIT_CACHE;
        }
    };
    let code = match cmd {
        CacheCommand::Import { paths } => import(&cache, &paths),
        CacheCommand::List { json } => list(&cache, json),
        CacheCommand::Remove { items } => remove(&cache, &items),
        CacheCommand::Gc { max_size } => gc(&cache, max_size),
        CacheCommand::Verify { json } => verify(&cache, json),
        CacheCommand::Clear => clear(&cache),
        CacheCommand::Config { max_size } => config(&cache, max_size),
        CacheCommand::Stats { json } => stats(&cache, json),
        CacheCommand::Path => unreachable!("handled above"),
    };
    if let Err(e) = cache.flush() {
        say(e);
        return code.max(EXIT_CACHE);
    }
    // The process exits next: freeing a big index entry by entry would only delay that (about
    // 5 ms for 10,000 entries). Everything is saved, and no command here pins anything.
    cache.forget_at_exit();
    code
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal and there is
/// enough to copy to be worth it; at most ten redraws a second.
pub struct ProgressBar {
    enabled: bool,
    drawn: bool,
    last: Option<Instant>,
}

impl ProgressBar {
    pub fn on_stderr() -> ProgressBar {
        ProgressBar {
            enabled: std::io::stderr().is_terminal(),
            drawn: false,
            last: None,
        }
    }

    pub fn update(&mut self, p: &Progress<'_>) {
        if !self.enabled || p.total < PROGRESS_BAR_MIN_BYTES {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now - t < Duration::from_millis(100))
            && p.done < p.total
        {
            return;
        }
        self.last = Some(now);
        let frac = if p.total == 0 {
            1.0
        } else {
            p.done as f64 / p.total as f64
        };
        const WIDTH: usize = 24;
        let filled = ((frac * WIDTH as f64) as usize).min(WIDTH);
        let name = p
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        eprint!(
            "\r\x1b[Kimporting {:3.0}% [{}{}] {} of {}  {}",
            frac * 100.0,
            "#".repeat(filled),
            "-".repeat(WIDTH - filled),
            format_size(p.done),
            format_size(p.total),
            name
        );
        let _ = std::io::stderr().flush();
        self.drawn = true;
    }

    /// Removes the bar (before other output).
    pub fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[K");
            let _ = std::io::stderr().flush();
            self.drawn = false;
        }
    }
}

/// Ctrl-C sets the returned flag (the import then stops and cleans up) instead of killing.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let _ = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst));
    flag
}

fn import(cache: &Cache, paths: &[PathBuf]) -> i32 {
    let cancel = interrupt_flag();
    let mut bar = ProgressBar::on_stderr();
    let report = cache.import(
        paths,
        ImportOptions {
            recursive: true,
            pin: false,
            cancel: Some(&cancel),
        },
        &mut |p| bar.update(p),
    );
    bar.clear();
    let mut failed = 0;
    let (mut copied, mut hits, mut dups, mut repaired) = (0, 0, 0, 0);
    for r in &report.results {
        match r {
            Ok(imp) if imp.hit => hits += 1,
            Ok(imp) => {
                copied += 1;
                if imp.duplicate && !imp.repaired {
                    dups += 1;
                }
                if imp.repaired {
                    repaired += 1;
                }
            }
            Err(e) => {
                say(e);
                failed += 1;
            }
        }
    }
    let mut line = format!("imported {}", plural(copied + hits, "file", "files"));
    let mut notes = Vec::new();
    if hits > 0 {
        notes.push(format!("{hits} already cached"));
    }
    if dups > 0 {
        notes.push(format!(
            "{} already cached under another name",
            plural(dups, "copy", "copies")
        ));
    }
    if repaired > 0 {
        notes.push(format!(
            "{} of a damaged cached copy",
            plural(repaired, "replacement", "replacements")
        ));
    }
    if !notes.is_empty() {
        line += &format!(" ({})", notes.join(", "));
    }
    if report.skipped_non_audio > 0 {
        line += &format!(", skipped {} non-audio", report.skipped_non_audio);
    }
    if failed > 0 {
        line += &format!(", {failed} failed");
    }
    println!("{line}");
    match report.stopped {
        Some(CacheError::Interrupted) => {
            say(CacheError::Interrupted);
            EXIT_INTERRUPTED
        }
        Some(e) => {
            say(e);
            EXIT_CACHE
        }
        None if failed > 0 => EXIT_SOME_FAILED,
        None => EXIT_OK,
    }
}

/// `2026-11-24 01:23` (UTC) from milliseconds since the epoch.
pub fn format_time(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60
    )
}

fn duration_text(secs: Option<f64>) -> String {
    match secs {
        Some(s) if s.is_finite() && s >= 0.0 => {
            let s = s.round() as u64;
            format!("{}:{:02}", s / 60, s % 60)
        }
        _ => "?".into(),
    }
}

fn list(cache: &Cache, json: bool) -> i32 {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = cache.with_entries(|_, entries| {
        if json {
            // Each entry as stored, plus where its object is.
            let _ = writeln!(out, "[");
            for (i, e) in entries.iter().enumerate() {
                let object = cache.dir().join(e.object_rel());
                let object = serde_json::to_string(&object.to_string_lossy()).unwrap_or_default();
                let stored = e.json.trim_end();
                let body = stored.strip_suffix('}').unwrap_or(stored);
                let comma = if i + 1 < entries.len() { "," } else { "" };
                let _ = writeln!(out, "{body},\"object\":{object}}}{comma}");
            }
            let _ = writeln!(out, "]");
            return;
        }
        // By name, ignoring case (each key computed once).
        let mut keyed: Vec<(String, &EntryView)> =
            entries.iter().map(|e| (e.name.to_lowercase(), e)).collect();
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.hash.cmp(&b.1.hash)));
        let _ = writeln!(
            out,
            "{:<12}  {:>9}  {:>6}  {:<9}  {:>5}  {:<17}  NAME",
            "HASH", "SIZE", "LENGTH", "CODEC", "PLAYS", "LAST PLAYED (UTC)"
        );
        let mut line = String::with_capacity(200);
        for (_, e) in keyed {
            line.clear();
            let played = e
                .last_played_ms
                .map(format_time)
                .unwrap_or_else(|| "never".into());
            let _ = std::fmt::Write::write_fmt(
                &mut line,
                format_args!(
                    "{:<12}  {:>9}  {:>6}  {:<9}  {:>5}  {:<17}  ",
                    &e.hash[..12],
                    format_size(e.size),
                    duration_text(e.duration_secs),
                    e.codec,
                    e.play_count,
                    played,
                ),
            );
            match (&e.tags.artist, &e.tags.title) {
                (Some(a), Some(t)) => {
                    let _ = std::fmt::Write::write_fmt(
                        &mut line,
                        format_args!("{a} – {t}  ({})", e.name),
                    );
                }
                (None, Some(t)) => {
                    let _ =
                        std::fmt::Write::write_fmt(&mut line, format_args!("{t}  ({})", e.name));
                }
                _ => line.push_str(&e.name),
            }
            line.push('\n');
            let _ = out.write_all(line.as_bytes());
        }
    });
    match written {
        Ok(()) => EXIT_OK,
        Err(e) => {
            say(e);
            EXIT_CACHE
        }
    }
}

fn remove(cache: &Cache, items: &[String]) -> i32 {
    let mut code = EXIT_OK;
    for r in cache.remove(items) {
        match r {
            Ok(e) => println!(
                "removed {} ({}, {})",
                &e.hash[..12],
                e.name,
                format_size(e.size)
            ),
            Err(e) => {
                say(&e);
                code = code.max(if e.is_about_the_file() {
                    EXIT_SOME_FAILED
                } else {
                    EXIT_CACHE
                });
            }
        }
    }
    code
}

fn gc_line(r: &super::GcReport) -> String {
    let mut line = if r.evicted.is_empty() {
        "nothing to evict".to_string()
    } else {
        format!(
            "evicted {} ({})",
            plural(r.evicted.len(), "object", "objects"),
            format_size(r.bytes_before - r.bytes_after)
        )
    };
    line += &format!(
        "; the cache holds {} of {}",
        format_size(r.bytes_after),
        format_size(r.max_size_bytes)
    );
    if r.bytes_after > r.max_size_bytes && r.kept_pinned > 0 {
        line += &format!(
            " (over, because {} in use by running reels)",
            plural(r.kept_pinned, "object is", "objects are")
        );
    }
    line
}

fn gc(cache: &Cache, max_size: Option<u64>) -> i32 {
    match cache.gc(max_size) {
        Ok(r) => {
            println!("{}", gc_line(&r));
            EXIT_OK
        }
        Err(e) => {
            say(e);
            EXIT_CACHE
        }
    }
}

fn verify(cache: &Cache, json: bool) -> i32 {
    let report = match cache.verify(&mut |_, _| {}) {
        Ok(r) => r,
        Err(e) => {
            say(e);
            return EXIT_CACHE;
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        for p in &report.corrupt {
            say(format!(
                "cache object {} ({}): {}",
                &p.hash[..12],
                p.name,
                p.detail
            ));
        }
        let restored = report.corrupt.len() - report.lost();
        let mut line = format!(
            "verified {}: {} ok",
            plural(report.checked, "object", "objects"),
            report.ok
        );
        if !report.corrupt.is_empty() {
            line += &format!(
                ", {} corrupt ({restored} restored from the original, {} removed)",
                report.corrupt.len(),
                report.lost()
            );
        }
        println!("{line}");
    }
    if report.lost() > 0 {
        EXIT_SOME_FAILED
    } else {
        EXIT_OK
    }
}

fn clear(cache: &Cache) -> i32 {
    match cache.clear() {
        Ok(r) => {
            let mut line = format!(
                "removed {} ({})",
                plural(r.removed, "object", "objects"),
                format_size(r.bytes)
            );
            if r.kept_in_use > 0 {
                line += &format!("; kept {} in use by running reels", r.kept_in_use);
            }
            println!("{line}");
            EXIT_OK
        }
        Err(e) => {
            say(e);
            EXIT_CACHE
        }
    }
}

fn config(cache: &Cache, max_size: Option<u64>) -> i32 {
    if let Some(bytes) = max_size {
        return match cache.set_max_size(bytes) {
            Ok(r) => {
                println!("max size: {} ({bytes} bytes)", format_size(bytes));
                if !r.evicted.is_empty() {
                    println!("{}", gc_line(&r));
                }
                EXIT_OK
            }
            Err(e) => {
                say(e);
                EXIT_CACHE
            }
        };
    }
    let s = cache.settings();
    println!("cache dir: {}", cache.dir().display());
    println!(
        "max size: {} ({} bytes)",
        format_size(s.max_size_bytes),
        s.max_size_bytes
    );
    EXIT_OK
}

fn stats(cache: &Cache, json: bool) -> i32 {
    let s = match cache.stats() {
        Ok(s) => s,
        Err(e) => {
            say(e);
            return EXIT_CACHE;
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
        return EXIT_OK;
    }
    println!("cache dir: {}", s.dir.display());
    println!("entries:   {}", s.entries);
    println!(
        "size:      {} of {} ({} of {} bytes)",
        format_size(s.bytes),
        format_size(s.max_size_bytes),
        s.bytes,
        s.max_size_bytes
    );
    println!(
        "hits:      {} ({} not copied again)",
        s.hits,
        format_size(s.bytes_saved)
    );
    println!("misses:    {}", s.misses);
    println!(
        "evictions: {} ({})",
        s.evictions,
        format_size(s.bytes_evicted)
    );
    println!("in use:    {} pinned by running reels", s.pinned);
    EXIT_OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_as_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00");
        assert_eq!(format_time(1_700_000_000_000), "2023-11-14 22:13");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00");
    }
}
