//! `reel library ...`: the commands as a user meets them, on the main thread. Each returns the
//! process exit code; problems are one line each on stderr (`reel: ...`), results go to stdout.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{AddOptions, CacheView, Library, LoudnessProgress, Query, Sort, Track};
use crate::cache::commands::{
    EXIT_CACHE, EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED, ProgressBar,
};
use crate::cache::size::format_size;
use crate::cache::{Cache, Progress};
use crate::error::LibraryError;

/// Exit code: the library itself cannot be used (not ours, unwritable, damaged, from a newer
/// reel).
pub const EXIT_LIBRARY: i32 = 7;

/// `reel library <command>`.
#[derive(Debug, Clone)]
pub enum LibraryCommand {
    Add {
        paths: Vec<PathBuf>,
        /// Then scan the loudness of unscanned tracks (`--no-scan` turns it off).
        scan: bool,
    },
    List {
        json: bool,
        search: Option<String>,
        sort: Sort,
    },
    Remove {
        paths: Vec<PathBuf>,
    },
    Stats {
        json: bool,
    },
    Path,
}

fn say(msg: impl std::fmt::Display) {
    eprintln!("reel: {msg}");
}

/// Runs a `reel library` command on the library at `dir` (`--library-dir`) or the default
/// one; `cache_dir` (`--cache-dir`) is the cache asked what is cached.
pub fn run(dir: Option<&Path>, cache_dir: Option<&Path>, cmd: LibraryCommand) -> i32 {
    if let LibraryCommand::Path = cmd {
        return match super::resolve(dir) {
            Ok(p) => {
                println!("{}", p.display());
                EXIT_OK
            }
            Err(e) => {
                say(e);
                EXIT_LIBRARY
            }
        };
    }
    let mut lib = match Library::open(dir) {
        Ok(l) => l,
        Err(e) => {
            say(e);
            return EXIT_LIBRARY;
        }
    };
    match cmd {
        LibraryCommand::Add { paths, scan } => add(&mut lib, cache_dir, &paths, scan),
        LibraryCommand::List { json, search, sort } => {
            list(&mut lib, cache_dir, json, search, sort)
        }
        LibraryCommand::Remove { paths } => remove(&mut lib, &paths),
        LibraryCommand::Stats { json } => stats(&mut lib, cache_dir, json),
        LibraryCommand::Path => unreachable!("handled above"),
    }
}

/// The exit code of a library failure.
fn code_of(e: &LibraryError) -> i32 {
    match e {
        LibraryError::Interrupted => EXIT_INTERRUPTED,
        e if e.is_about_the_file() => EXIT_SOME_FAILED,
        _ => EXIT_LIBRARY,
    }
}

fn add(lib: &mut Library, cache_dir: Option<&Path>, paths: &[PathBuf], scan: bool) -> i32 {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    let mut bar = ProgressBar::on_stderr();
    let opts = AddOptions {
        cancel: Some(&cancel),
        // The cache's objects are copies of the user's files: never scanned as a collection.
        skip_dirs: crate::cache::location::resolve(cache_dir)
            .into_iter()
            .collect(),
    };
    let report = lib.add(paths, &opts, &mut |p| {
        bar.update(&Progress {
            file: p.file,
            done: p.bytes_done,
            total: p.bytes_total,
        })
    });
    bar.clear();
    for e in &report.errors {
        say(e);
    }
    println!("{}", report.summary());
    if let Some(e) = &report.stopped {
        say(e);
        return code_of(e);
    }
    if !scan {
        return if report.errors.is_empty() {
            EXIT_OK
        } else {
            EXIT_SOME_FAILED
        };
    }
    // Then the loudness scan of what is still unscanned (this add's tracks, and any an
    // earlier add left), in the same command: its results are in the library when it exits.
    let loud = lib.scan_loudness(Some(&cancel), &mut loudness_progress());
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
    for e in &loud.errors {
        say(e);
    }
    println!("{}", loud.summary());
    if let Some(e) = &loud.stopped {
        say(e);
        return code_of(e);
    }
    if report.errors.is_empty() && loud.errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_SOME_FAILED
    }
}

/// The loudness scan's progress line on a terminal: `loudness: scanning 3 of 10  NAME`.
fn loudness_progress() -> impl FnMut(&LoudnessProgress<'_>) {
    let tty = std::io::stderr().is_terminal();
    move |p| {
        if tty {
            let name = p.file.file_name().unwrap_or_default().to_string_lossy();
            eprint!(
                "\r\x1b[Kloudness: scanning {} of {}  {name}",
                p.done + 1,
                p.total
            );
            let _ = std::io::stderr().flush();
        }
    }
}

/// Opens the cache to ask it what is cached. A cache that cannot be opened is said in one
/// line, and every track is then listed as not cached: the library does not depend on it.
fn cache_view(cache_dir: Option<&Path>) -> (Option<CacheView>, i32) {
    match Cache::open(cache_dir).and_then(|c| {
        let v = CacheView::of(&c);
        c.forget_at_exit();
        v
    }) {
        Ok(v) => (Some(v), EXIT_OK),
        Err(e) => {
            say(format!("{e}; cached status unknown"));
            (None, EXIT_CACHE)
        }
    }
}

fn list(
    lib: &mut Library,
    cache_dir: Option<&Path>,
    json: bool,
    search: Option<String>,
    sort: Sort,
) -> i32 {
    let q = Query {
        search,
        sort,
        ..Query::default()
    };
    let mut tracks = match lib.list(&q) {
        Ok(t) => t,
        Err(e) => {
            say(&e);
            return code_of(&e);
        }
    };
    let (view, mut code) = cache_view(cache_dir);
    let marked = match &view {
        Some(v) => lib.mark_cached(&mut tracks, v),
        None => Ok(()),
    };
    if let Err(e) = marked.and_then(|()| lib.check_sources(&mut tracks)) {
        // The listing is still right; only saving what it learned failed.
        say(&e);
        code = code.max(code_of(&e));
    }
    let mut out = std::io::stdout().lock();
    let written = if json {
        serde_json::to_writer_pretty(&mut out, &tracks)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        print_table(&mut out, &tracks)
    };
    // A closed pipe (`| head`) is not an error worth a line.
    let _ = written.and_then(|()| out.flush());
    code
}

fn print_table(out: &mut impl Write, tracks: &[Track]) -> std::io::Result<()> {
    if tracks.is_empty() {
        return writeln!(
            out,
            "the library is empty (add files with `reel library add PATH...`)"
        );
    }
    for t in tracks {
        let mark = match (t.cached, t.source_missing) {
            (true, true) => "C!",
            (true, false) => "C ",
            (false, true) => " !",
            (false, false) => "  ",
        };
        let dur = t
            .duration_secs
            .map(|d| format!("{}:{:02}", (d as u64) / 60, (d as u64) % 60))
            .unwrap_or_else(|| "?".into());
        writeln!(
            out,
            "{mark} {:>6}  {} - {} - {}  {}",
            dur,
            t.artist.as_deref().unwrap_or("?"),
            t.album.as_deref().unwrap_or("?"),
            t.display_title(),
            t.path.display()
        )?;
    }
    writeln!(out, "{} tracks (C: cached, !: file missing)", tracks.len())
}

fn remove(lib: &mut Library, paths: &[PathBuf]) -> i32 {
    let mut code = EXIT_OK;
    let mut removed = 0;
    for r in lib.remove(paths) {
        match r {
            Ok(n) => removed += n,
            Err(e) => {
                say(&e);
                code = code.max(code_of(&e));
            }
        }
    }
    println!(
        "removed {removed} track{} from the library (files and cached copies are untouched)",
        if removed == 1 { "" } else { "s" }
    );
    code
}

fn stats(lib: &mut Library, cache_dir: Option<&Path>, json: bool) -> i32 {
    let (view, code) = cache_view(cache_dir);
    let s = match lib.stats(view.as_ref()) {
        Ok(s) => s,
        Err(e) => {
            say(&e);
            return code_of(&e);
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
    } else {
        let secs = s.total_duration_secs as u64;
        println!("library:  {}", lib.dir().display());
        println!("tracks:   {}", s.tracks);
        println!(
            "duration: {}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        println!(
            "cached:   {} tracks, {}",
            s.cached_tracks,
            format_size(s.cached_bytes)
        );
        println!("missing:  {} tracks whose file is gone", s.missing_sources);
    }
    code
}
