//! `reel cache import` and the commands around it: what lands in the cache, dedup, hits,
//! folders, tags, rejected files, permissions, and the small commands (path, config, stats,
//! remove, clear).

mod cache_support;
mod support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use cache_support::*;
use support::*;

#[test]
fn an_imported_file_becomes_one_object_named_by_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let file = dir.path().join("Tone.WAV");
    make_tone(&file, 440.0, 1.0, 48_000, 2, 0.5);
    let out = import(&cache, &[&file]);
    assert_eq!(out.stdout.trim(), "imported 1 file", "{}", out.stdout);
    let objects = object_files(&cache);
    assert_eq!(objects.len(), 1, "{objects:?}");
    let hash = blake3_of(&file);
    let want = cache
        .join("objects")
        .join(&hash[..2])
        .join(format!("{hash}.wav"));
    assert_eq!(
        objects[0], want,
        "named objects/<ab>/<blake3>.<ext, lower case>"
    );
    assert_eq!(std::fs::read(&want).unwrap(), std::fs::read(&file).unwrap());
    assert_consistent(&cache);

    let entries = list(&cache);
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e["hash"], hash.as_str());
    assert_eq!(e["name"], "Tone.WAV");
    assert_eq!(e["size"], std::fs::metadata(&file).unwrap().len());
    assert_eq!(
        e["sources"][0]["path"],
        std::fs::canonicalize(&file).unwrap().to_str().unwrap()
    );
    assert_eq!(e["codec"], "pcm_s16le");
    assert_eq!(e["container"], "wave");
    assert_eq!(e["rate"], 48_000);
    assert_eq!(e["channels"], 2);
    assert!(
        (e["duration_secs"].as_f64().unwrap() - 1.0).abs() < 1e-6,
        "{e}"
    );
    assert_eq!(e["play_count"], 0);
    assert!(e["last_played_ms"].is_null());
    assert!(e["imported_at_ms"].as_u64().unwrap() > 0);
    assert_eq!(e["object"], want.to_str().unwrap());
}

#[test]
fn the_same_content_under_two_names_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let a = dir.path().join("a.flac");
    let b = dir.path().join("renamed copy.flac");
    make_tone(&a, 440.0, 1.0, 48_000, 2, 0.5);
    std::fs::copy(&a, &b).unwrap();
    import(&cache, &[&a]);
    let out = import(&cache, &[&b]);
    assert!(
        out.stdout.contains("already cached under another name"),
        "{}",
        out.stdout
    );
    assert_eq!(object_files(&cache).len(), 1);
    let entries = list(&cache);
    assert_eq!(entries.len(), 1);
    let sources: Vec<&str> = entries[0]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(sources.len(), 2, "both names are known: {sources:?}");
    assert_consistent(&cache);
    // Both names are now hits.
    let out = import(&cache, &[&a, &b]);
    assert!(out.stdout.contains("2 already cached"), "{}", out.stdout);
}

#[test]
fn a_hit_is_counted_and_copies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let file = dir.path().join("a.wav");
    make_tone(&file, 440.0, 2.0, 48_000, 2, 0.5);
    import(&cache, &[&file]);
    let object = object_files(&cache).remove(0);
    let before = std::fs::metadata(&object).unwrap();
    let s = stats(&cache);
    assert_eq!(
        (s["hits"].as_u64(), s["misses"].as_u64()),
        (Some(0), Some(1))
    );

    let out = import(&cache, &[&file]);
    assert!(out.stdout.contains("1 already cached"), "{}", out.stdout);
    let after = std::fs::metadata(&object).unwrap();
    assert_eq!(after.ino(), before.ino(), "the object was replaced");
    assert_eq!(
        (after.mtime(), after.mtime_nsec()),
        (before.mtime(), before.mtime_nsec()),
        "the object was rewritten"
    );
    let s = stats(&cache);
    assert_eq!(s["hits"], 1, "{s}");
    assert_eq!(s["misses"], 1, "{s}");
    assert_eq!(s["bytes_saved"], before.len(), "{s}");

    // A changed file (new mtime) is a miss again, even with the same content: copied and
    // found to be the same object.
    let f = std::fs::File::options().write(true).open(&file).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    drop(f);
    import(&cache, &[&file]);
    let s = stats(&cache);
    assert_eq!(
        (s["hits"].as_u64(), s["misses"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(object_files(&cache), vec![object]);
}

#[test]
fn a_folder_imports_its_audio_files_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let music = dir.path().join("music");
    std::fs::create_dir_all(music.join("disc 2/extras")).unwrap();
    make_tone(&music.join("01.flac"), 440.0, 0.5, 48_000, 2, 0.5);
    make_tone(&music.join("02.mp3"), 550.0, 0.5, 44_100, 2, 0.5);
    make_tone(&music.join("disc 2/03.ogg"), 660.0, 0.5, 44_100, 2, 0.5);
    make_tone(
        &music.join("disc 2/extras/04.wav"),
        770.0,
        0.5,
        48_000,
        1,
        0.5,
    );
    std::fs::write(
        music.join("cover.jpg"),
        b"\xff\xd8\xff\xe0 not really a jpeg",
    )
    .unwrap();
    std::fs::write(music.join("disc 2/notes.txt"), "liner notes\n".repeat(20)).unwrap();
    std::fs::write(music.join("disc 2/empty.flac"), b"").unwrap();
    let out = import(&cache, &[&music]);
    assert_eq!(
        out.stdout.trim(),
        "imported 4 files, skipped 3 non-audio",
        "{}",
        out.stdout
    );
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    assert_eq!(object_files(&cache).len(), 4);
    assert_consistent(&cache);
}

#[test]
fn a_folder_that_holds_the_cache_does_not_import_the_cache_itself() {
    let dir = tempfile::tempdir().unwrap();
    let music = dir.path().join("music");
    std::fs::create_dir(&music).unwrap();
    // Not hidden (hidden folders are passed over anyway): the cache itself is recognised.
    let cache = music.join("reel-cache");
    make_tone(&music.join("a.flac"), 440.0, 0.5, 48_000, 2, 0.5);
    let out = import(&cache, &[&music]);
    assert_eq!(out.stdout.trim(), "imported 1 file", "{}", out.stdout);
    // Again, through a relative path: still only the one file, now a hit.
    let out = run(reel_in(&cache)
        .current_dir(dir.path())
        .args(["cache", "import", "music"]))
    .ok();
    assert_eq!(
        out.stdout.trim(),
        "imported 1 file (1 already cached)",
        "{}",
        out.stdout
    );
    let entries = list(&cache);
    assert_eq!(
        entries[0]["sources"].as_array().unwrap().len(),
        1,
        "{entries:?}"
    );
}

#[test]
fn tags_and_cover_art_are_read_into_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let cover = dir.path().join("cover.png");
    let tagged = dir.path().join("tagged.flac");
    let o = run_with_timeout(
        std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg("color=c=red:s=16x16:d=1")
            .args(["-frames:v", "1"])
            .arg(&cover),
        std::time::Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run_with_timeout(
        std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg("sine=f=440:d=1")
            .arg("-i")
            .arg(&cover)
            .args(["-map", "0:a", "-map", "1:v", "-c:a", "flac", "-c:v", "png"])
            .args(["-disposition:v", "attached_pic"])
            .args(["-metadata", "title=Blue in Green"])
            .args(["-metadata", "artist=Miles Davis"])
            .args(["-metadata", "album=Kind of Blue"])
            .args(["-metadata", "track=3"])
            .arg(&tagged),
        std::time::Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plain = dir.path().join("plain.wav");
    make_tone(&plain, 440.0, 0.5, 48_000, 2, 0.5);
    import(&cache, &[&tagged, &plain]);
    let entries = list(&cache);
    let find = |name: &str| {
        entries
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed"))
            .clone()
    };
    let t = find("tagged.flac")["tags"].clone();
    assert_eq!(t["title"], "Blue in Green", "{t}");
    assert_eq!(t["artist"], "Miles Davis", "{t}");
    assert_eq!(t["album"], "Kind of Blue", "{t}");
    assert_eq!(t["track"], 3, "{t}");
    assert_eq!(t["cover_art"], true, "{t}");
    let p = find("plain.wav")["tags"].clone();
    assert!(p["title"].is_null() && p["cover_art"] == false, "{p}");
    // The text listing shows artist and title.
    let text = reel(&cache, &["cache", "list"]).ok().stdout;
    assert!(text.contains("Miles Davis – Blue in Green"), "{text}");
}

/// Files reel cannot play are refused with the engine's own reason, and nothing is written:
/// no object, no temp file, no index entry.
#[test]
fn non_audio_empty_and_unreadable_files_are_rejected_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let text = dir.path().join("notes.mp3");
    std::fs::write(&text, "not a song\n".repeat(100)).unwrap();
    let empty = dir.path().join("empty.flac");
    std::fs::write(&empty, b"").unwrap();
    let secret = dir.path().join("secret.wav");
    make_tone(&secret, 440.0, 0.5, 48_000, 2, 0.5);
    set_mode(&secret, 0o000);
    let missing = dir.path().join("missing.flac");
    let cases: [(&Path, &str); 4] = [
        (&text, "not an audio file"),
        (&empty, "empty file"),
        (&secret, "permission denied"),
        (&missing, "not found"),
    ];
    for (file, reason) in cases {
        let r = run(reel_without_dac_override(&cache)
            .args(["cache", "import"])
            .arg(file));
        assert_eq!(r.code, Some(1), "{}: {}", file.display(), r.stderr);
        let lines = reel_lines(&r.stderr);
        assert_eq!(lines.len(), 1, "{}", r.stderr);
        assert!(
            lines[0].starts_with(&format!("reel: {}: ", file.display()))
                && lines[0].contains(reason),
            "{}",
            lines[0]
        );
        assert!(object_files(&cache).is_empty(), "{}", file.display());
        assert!(temp_files(&cache).is_empty(), "{}", file.display());
    }
    assert_eq!(stats(&cache)["entries"], 0);
}

#[test]
fn the_cache_is_private_directories_0700_files_0600() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("deep/er/cache");
    let file = dir.path().join("a.wav");
    make_tone(&file, 440.0, 0.5, 48_000, 2, 0.5);
    import(&cache, &[&file]);
    reel(&cache, &["cache", "config", "--max-size", "1G"]).ok();
    for d in ["", "objects", "tmp", "pins"] {
        assert_eq!(mode_of(&cache.join(d)), 0o700, "{d}/");
    }
    let object = object_files(&cache).remove(0);
    assert_eq!(mode_of(object.parent().unwrap()), 0o700);
    for f in [
        object.as_path(),
        &cache.join("index.json"),
        &cache.join("settings.json"),
        &cache.join("lock"),
    ] {
        assert_eq!(mode_of(f), 0o600, "{}", f.display());
    }
    // A cache directory of ours that others can read is made private.
    set_mode(&cache, 0o755);
    reel(&cache, &["cache", "stats"]).ok();
    assert_eq!(mode_of(&cache), 0o700);
}

#[test]
fn path_config_stats_remove_and_clear() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // `path` follows --cache-dir, then REEL_CACHE_DIR, then XDG_CACHE_HOME.
    assert_eq!(
        reel(&cache, &["cache", "path"]).ok().stdout.trim(),
        cache.to_str().unwrap()
    );
    let via_env = dir.path().join("env-cache");
    let r = run(std::process::Command::new(reel_bin())
        .args(["cache", "path"])
        .env("REEL_CACHE_DIR", &via_env));
    assert_eq!(r.stdout.trim(), via_env.to_str().unwrap());
    let xdg = dir.path().join("xdg");
    let r = run(std::process::Command::new(reel_bin())
        .args(["cache", "path"])
        .env_remove("REEL_CACHE_DIR")
        .env("XDG_CACHE_HOME", &xdg));
    assert_eq!(r.stdout.trim(), xdg.join("reel").to_str().unwrap());

    // config: default 2 GiB; sizes with units; a bad size is a usage error.
    let c = reel(&cache, &["cache", "config"]).ok().stdout;
    assert!(c.contains("max size: 2.0 GiB (2147483648 bytes)"), "{c}");
    for (arg, bytes) in [
        ("500M", 500u64 << 20),
        ("1.5GiB", 3 << 29),
        ("123456", 123_456),
    ] {
        reel(&cache, &["cache", "config", "--max-size", arg]).ok();
        assert_eq!(stats(&cache)["max_size_bytes"], bytes, "{arg}");
    }
    let bad = reel(&cache, &["cache", "config", "--max-size", "lots"]);
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
    reel(&cache, &["cache", "config", "--max-size", "2G"]).ok();

    let a = dir.path().join("a.wav");
    let b = dir.path().join("b.wav");
    let c = dir.path().join("c.wav");
    make_tone(&a, 440.0, 0.5, 48_000, 2, 0.5);
    make_tone(&b, 550.0, 0.5, 48_000, 2, 0.5);
    make_tone(&c, 660.0, 0.5, 48_000, 2, 0.5);
    import(&cache, &[&a, &b, &c]);
    let s = stats(&cache);
    assert_eq!(s["entries"], 3);
    let sizes: u64 = [&a, &b, &c]
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    assert_eq!(s["bytes"], sizes);
    let text = reel(&cache, &["cache", "stats"]).ok().stdout;
    for word in ["entries:", "hits:", "misses:", "evictions:", "of 2.0 GiB"] {
        assert!(text.contains(word), "{text}");
    }

    // remove: by hash prefix and by original path; unknown names are one clear line each.
    let hash_a = blake3_of(&a);
    let r = reel(
        &cache,
        &["cache", "remove", &hash_a[..10], b.to_str().unwrap()],
    )
    .ok();
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    assert_eq!(stats(&cache)["entries"], 1);
    let r = reel(
        &cache,
        &["cache", "remove", "deadbeef", "/no/such/file.flac"],
    );
    assert_eq!(r.code, Some(1));
    assert_eq!(reel_lines(&r.stderr).len(), 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("deadbeef: not in the cache"),
        "{}",
        r.stderr
    );
    assert_consistent(&cache);

    // clear.
    let r = reel(&cache, &["cache", "clear"]).ok();
    assert!(r.stdout.starts_with("removed 1 object"), "{}", r.stdout);
    assert!(object_files(&cache).is_empty());
    assert_eq!(stats(&cache)["entries"], 0);
    assert_consistent(&cache);
}

/// On a terminal, a large import draws a one-line progress bar on stderr (and clears it);
/// without one, nothing but the summary.
#[test]
fn a_large_import_shows_a_progress_bar_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let big = dir.path().join("big.wav");
    write_wav(&big, 48 << 20, 7);
    let typescript = dir.path().join("typescript");
    let cmd = format!(
        "{} --cache-dir {} cache import {}",
        reel_bin().display(),
        cache.display(),
        big.display()
    );
    let out = run(std::process::Command::new("script")
        .args(["-q", "-e", "-c", &cmd])
        .arg(&typescript));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let screen = std::fs::read_to_string(&typescript).unwrap();
    assert!(
        screen.contains("importing 100% [########################]"),
        "{screen}"
    );
    assert!(screen.contains("48.0 MiB of 48.0 MiB"), "{screen}");
    assert!(screen.contains("imported 1 file"), "{screen}");

    std::fs::remove_dir_all(&cache).unwrap();
    let out = import(&cache, &[&big]);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

/// The same file named twice is imported once; a bad one named twice gets its line twice, as
/// playing it twice always did, and the files keep their places in `reel play`'s summary.
#[test]
fn a_file_named_twice_is_one_import_and_a_bad_one_two_lines() {
    let _sink = lock_sink();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let good = dir.path().join("good.wav");
    make_tone(&good, 440.0, 0.5, 48_000, 2, 0.5);
    let bad = dir.path().join("notes.mp3");
    std::fs::write(&bad, "not a song\n".repeat(100)).unwrap();
    let r = reel(
        &cache,
        &[
            "cache",
            "import",
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
            good.to_str().unwrap(),
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(reel_lines(&r.stderr).len(), 2, "{}", r.stderr);
    assert_eq!(
        r.stdout.trim(),
        "imported 2 files (1 already cached), 2 failed",
        "{}",
        r.stdout
    );
    assert_eq!(object_files(&cache).len(), 1);

    let log = dir.path().join("m.jsonl");
    let r = run(reel_in(&cache)
        .args(["play", "--no-gui", "--metrics-log"])
        .arg(&log)
        .args([&bad, &good, &bad, &good]));
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(reel_lines(&r.stderr).len(), 2, "{}", r.stderr);
    let text = std::fs::read_to_string(&log).unwrap();
    let s: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let errors: Vec<&str> = s["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["error"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(errors, ["not_audio", "-", "not_audio", "-"], "{s}");
    assert_eq!(s["frames_played"], 48_000, "{s}");
}

#[test]
fn a_damaged_settings_file_is_named_and_the_default_cap_used_until_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    reel(&cache, &["cache", "config", "--max-size", "500M"]).ok();
    std::fs::write(cache.join("settings.json"), b"{\"max_size_bytes\": oops").unwrap();
    let r = reel(&cache, &["cache", "config"]).ok();
    assert!(r.stdout.contains("max size: 2.0 GiB"), "{}", r.stdout);
    let lines = reel_lines(&r.stderr);
    assert_eq!(lines.len(), 1, "one line, said once: {}", r.stderr);
    assert!(
        lines[0].contains(cache.join("settings.json").to_str().unwrap())
            && lines[0].contains("cannot parse"),
        "{}",
        r.stderr
    );
    // Setting the cap again repairs it, silently from then on.
    reel(&cache, &["cache", "config", "--max-size", "500M"]).ok();
    let r = reel(&cache, &["cache", "config"]).ok();
    assert!(r.stdout.contains("max size: 500 MiB"), "{}", r.stdout);
    assert!(reel_lines(&r.stderr).is_empty(), "{}", r.stderr);
}
