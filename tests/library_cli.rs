//! `reel library add | list | remove | stats` on real files and a real SQLite database: what
//! a scan adds, what a rescan reads again (only new and changed files), what it marks missing,
//! what is skipped, and that the library and the cache stay apart.

mod cache_support;
mod library_support;
mod support;

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use cache_support::{import, reel_lines, write_wav};
use library_support::*;

/// Three tagged FLACs, a picture and a text file in one folder.
fn album(dirs: &Dirs) -> std::path::PathBuf {
    let music = dirs.music("music");
    tagged_flac(&music.join("01.flac"), "Morning", "Alpha", "Days", 1);
    tagged_flac(&music.join("02.flac"), "noon", "Alpha", "Days", 2);
    fs::create_dir(music.join("b")).unwrap();
    tagged_flac(&music.join("b/03.flac"), "Evening", "Beta", "Nights", 1);
    fs::write(music.join("cover.jpg"), [0xFFu8, 0xD8, 0xFF, 0xE0, 1, 2, 3]).unwrap();
    fs::write(music.join("b/notes.txt"), "liner notes\n").unwrap();
    music
}

fn set_mtime(path: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn adding_a_folder_lists_its_tracks_with_their_tags_and_copies_nothing() {
    let dirs = Dirs::new();
    let music = album(&dirs);
    let r = dirs.add(&[&music]).ok();
    assert_eq!(summary(&r.stdout), [3, 0, 0, 0, 2], "{}", r.stdout);
    assert!(reel_lines(&r.stderr).is_empty(), "{}", r.stderr);

    let tracks = dirs.list(&["--sort", "album"]);
    assert_eq!(titles(&tracks), ["Morning", "noon", "Evening"]);
    let t = &tracks[0];
    assert_eq!(t["artist"], "Alpha");
    assert_eq!(t["album"], "Days");
    assert_eq!(t["track"], 1);
    assert_eq!(t["year"], 1999);
    assert_eq!(t["genre"], "Test");
    assert_eq!(t["codec"], "flac");
    assert_eq!(t["rate"], 44_100);
    assert_eq!(t["channels"], 2);
    assert_eq!(t["bit_depth"], 16);
    assert!(
        (t["duration_secs"].as_f64().unwrap() - 1.0).abs() < 0.01,
        "{t}"
    );
    assert_eq!(t["cached"], false);
    assert_eq!(t["source_missing"], false);
    let canon = fs::canonicalize(music.join("01.flac")).unwrap();
    assert_eq!(t["path"], canon.to_str().unwrap());

    // Nothing was copied into the cache, and the database is in the library directory.
    assert!(
        !dirs.cache.join("objects").exists() || cache_support::object_files(&dirs.cache).is_empty()
    );
    assert!(dirs.db().is_file());
}

#[test]
fn search_and_sort_select_and_order_the_tracks() {
    let dirs = Dirs::new();
    let music = album(&dirs);
    dirs.add(&[&music]).ok();

    // Case-insensitive, over title, artist, album and file name.
    assert_eq!(titles(&dirs.list(&["--search", "NOON"])), ["noon"]);
    assert_eq!(titles(&dirs.list(&["--search", "beta"])), ["Evening"]);
    assert_eq!(
        titles(&dirs.list(&["--search", "days", "--sort", "title"])),
        ["Morning", "noon"]
    );
    assert_eq!(titles(&dirs.list(&["--search", "03.fl"])), ["Evening"]);
    assert!(dirs.list(&["--search", "nothing like this"]).is_empty());

    assert_eq!(
        titles(&dirs.list(&["--sort", "title"])),
        ["Evening", "Morning", "noon"]
    );
    assert_eq!(
        titles(&dirs.list(&["--sort", "artist"])),
        ["Morning", "noon", "Evening"]
    );
    // Added: newest first. The third file is added after the others.
    let later = dirs.music("later");
    tagged_flac(&later.join("x.flac"), "Latest", "Gamma", "Later", 1);
    dirs.add(&[&later]).ok();
    assert_eq!(titles(&dirs.list(&["--sort", "added"]))[0], "Latest");

    // The text listing names the tracks too.
    let r = dirs.reel(&["library", "list", "--search", "alpha"]).ok();
    assert!(
        r.stdout.contains("Morning") && r.stdout.contains("noon"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("Evening"), "{}", r.stdout);
}

#[test]
fn a_rescan_reads_only_new_and_changed_files_and_marks_removed_ones_missing() {
    let dirs = Dirs::new();
    let music = album(&dirs);
    dirs.add(&[&music]).ok();

    // Unchanged files are not read again: overwrite one with garbage of the same size and
    // give it back its mtime. A rescan that read it would fail on it or change its tags.
    let same = music.join("02.flac");
    let meta = fs::metadata(&same).unwrap();
    fs::write(&same, vec![0x55u8; meta.len() as usize]).unwrap();
    set_mtime(&same, meta.modified().unwrap());
    // A changed file (new mtime) is read again; a removed one is marked missing; a new one
    // is added.
    let changed = music.join("01.flac");
    tagged_flac(&changed, "Dawn", "Alpha", "Days", 1);
    set_mtime(&changed, SystemTime::now() + Duration::from_secs(5));
    fs::remove_file(music.join("b/03.flac")).unwrap();
    tagged_flac(&music.join("b/04.flac"), "Night", "Beta", "Nights", 2);

    let r = dirs.add(&[&music]).ok();
    assert_eq!(summary(&r.stdout), [1, 1, 1, 1, 2], "{}", r.stdout);
    assert!(reel_lines(&r.stderr).is_empty(), "{}", r.stderr);

    let tracks = dirs.list(&["--sort", "title"]);
    assert_eq!(titles(&tracks), ["Dawn", "Evening", "Night", "noon"]);
    let missing: Vec<_> = tracks
        .iter()
        .filter(|t| t["source_missing"] == true)
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(missing, ["Evening"]);

    // Nothing changed since: nothing is read, the missing one is still missing.
    let r = dirs.add(&[&music]).ok();
    assert_eq!(summary(&r.stdout), [0, 0, 3, 1, 2], "{}", r.stdout);

    // It comes back: found again, unchanged.
    tagged_flac(&music.join("b/03.flac"), "Evening", "Beta", "Nights", 1);
    let r = dirs.add(&[&music]).ok();
    assert_eq!(summary(&r.stdout), [0, 1, 3, 0, 2], "{}", r.stdout);
    assert!(dirs.list(&[]).iter().all(|t| t["source_missing"] == false));
}

#[test]
fn a_listing_marks_a_track_whose_file_is_gone_as_missing() {
    let dirs = Dirs::new();
    let music = album(&dirs);
    dirs.add(&[&music]).ok();
    fs::remove_file(music.join("01.flac")).unwrap();
    let tracks = dirs.list(&["--search", "morning"]);
    assert_eq!(tracks.len(), 1);
    assert_eq!(tracks[0]["source_missing"], true);
    let r = dirs.reel(&["library", "stats", "--json"]).ok();
    assert_eq!(r.json()["missing_sources"], 1);
}

#[test]
fn damaged_audio_is_named_in_one_line_and_the_rest_is_added() {
    let dirs = Dirs::new();
    let music = album(&dirs);
    let bad = music.join("broken.flac");
    // A FLAC signature with nothing decodable after it.
    let mut bytes = b"fLaC".to_vec();
    bytes.extend(std::iter::repeat_n(0xAAu8, 4000));
    fs::write(&bad, bytes).unwrap();

    let r = dirs.add(&[&music]);
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    let lines = reel_lines(&r.stderr);
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(lines[0].contains("broken.flac"), "{}", lines[0]);
    assert_eq!(summary(&r.stdout)[0], 3, "{}", r.stdout);
    assert_eq!(dirs.list(&[]).len(), 3);
}

#[test]
fn a_file_named_on_the_command_line_that_is_not_audio_is_an_error() {
    let dirs = Dirs::new();
    let music = album(&dirs);
    let r = dirs.add(&[&music.join("b/notes.txt"), &music.join("01.flac")]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let lines = reel_lines(&r.stderr);
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(lines[0].contains("notes.txt") && lines[0].contains("not an audio file"));
    assert_eq!(summary(&r.stdout), [1, 0, 0, 0, 0]);
    let r = dirs.add(&[&music.join("nope.flac")]);
    assert_eq!(r.code, Some(1));
    assert!(
        reel_lines(&r.stderr)[0].contains("nope.flac: not found"),
        "{}",
        r.stderr
    );
}

#[test]
fn remove_takes_tracks_out_of_the_library_but_not_the_file_nor_its_cached_copy() {
    let dirs = Dirs::new();
    let music = album(&dirs);
    dirs.add(&[&music]).ok();
    let file = music.join("01.flac");
    import(&dirs.cache, &[&file]);

    let r = dirs
        .reel(&["library", "remove", file.to_str().unwrap()])
        .ok();
    assert!(r.stdout.contains("removed 1 track"), "{}", r.stdout);
    assert_eq!(
        titles(&dirs.list(&["--sort", "title"])),
        ["Evening", "noon"]
    );
    assert!(file.is_file());
    assert_eq!(cache_support::list(&dirs.cache).len(), 1);

    // A folder removes everything under it.
    let r = dirs
        .reel(&["library", "remove", music.join("b").to_str().unwrap()])
        .ok();
    assert!(r.stdout.contains("removed 1 track"), "{}", r.stdout);
    assert_eq!(titles(&dirs.list(&[])), ["noon"]);

    // Something that is not in the library is said, in one line.
    let r = dirs.reel(&["library", "remove", file.to_str().unwrap()]);
    assert_eq!(r.code, Some(1));
    assert!(
        reel_lines(&r.stderr)[0].contains("not in the library"),
        "{}",
        r.stderr
    );
}

#[test]
fn list_and_stats_say_which_tracks_are_cached() {
    let dirs = Dirs::new();
    let music = album(&dirs);
    dirs.add(&[&music]).ok();
    let file = music.join("02.flac");
    import(&dirs.cache, &[&file]);

    let tracks = dirs.list(&["--sort", "title"]);
    let cached: Vec<_> = tracks
        .iter()
        .filter(|t| t["cached"] == true)
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(cached, ["noon"]);
    // Learned from the cache: the content hash.
    let hash = cache_support::blake3_of(&file);
    assert_eq!(tracks[2]["content_hash"], hash.as_str());

    let s = dirs.reel(&["library", "stats", "--json"]).ok().json();
    assert_eq!(s["tracks"], 3);
    assert!(
        (s["total_duration_secs"].as_f64().unwrap() - 3.0).abs() < 0.05,
        "{s}"
    );
    assert_eq!(s["cached_tracks"], 1);
    assert_eq!(s["cached_bytes"], fs::metadata(&file).unwrap().len());

    // Clearing the cache changes what is cached, never what is in the library.
    dirs.reel(&["cache", "clear"]).ok();
    let tracks = dirs.list(&[]);
    assert_eq!(tracks.len(), 3);
    assert!(tracks.iter().all(|t| t["cached"] == false));
}

#[test]
fn a_library_bigger_than_the_cache_cap_is_listed_whole_and_eviction_removes_none() {
    let dirs = Dirs::new();
    let music = dirs.music("many");
    const FILES: u32 = 40;
    const FILE_BYTES: u64 = 256 << 10;
    for i in 0..FILES {
        write_wav(&music.join(format!("{i:03}.wav")), FILE_BYTES, i);
    }
    // A cap that holds a quarter of them; importing all evicts the rest.
    let cap = (FILE_BYTES + 1024) * u64::from(FILES) / 4;
    dirs.reel(&["cache", "config", "--max-size", &cap.to_string()])
        .ok();
    dirs.add(&[&music]).ok();
    dirs.reel(&["cache", "import", music.to_str().unwrap()])
        .ok();
    dirs.reel(&["cache", "gc"]).ok();

    let in_cache = cache_support::list(&dirs.cache).len();
    assert!(in_cache > 0 && in_cache < FILES as usize / 2, "{in_cache}");
    let tracks = dirs.list(&[]);
    assert_eq!(tracks.len(), FILES as usize);
    let cached = tracks.iter().filter(|t| t["cached"] == true).count();
    assert_eq!(cached, in_cache);
    let s = dirs.reel(&["library", "stats", "--json"]).ok().json();
    assert_eq!(s["tracks"], FILES);
    assert_eq!(s["cached_tracks"], in_cache);
}

#[test]
fn the_library_lives_in_the_data_directory_unless_told_otherwise() {
    let dirs = Dirs::new();
    let home = dirs.music("home");
    let r = cache_support::run(
        std::process::Command::new(support::reel_bin())
            .args(["library", "path"])
            .env_remove("REEL_LIBRARY_DIR")
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join("data")),
    )
    .ok();
    assert_eq!(r.stdout.trim(), home.join("data/reel").to_str().unwrap());
    let r = cache_support::run(
        std::process::Command::new(support::reel_bin())
            .args(["library", "path"])
            .env("REEL_LIBRARY_DIR", home.join("elsewhere")),
    )
    .ok();
    assert_eq!(r.stdout.trim(), home.join("elsewhere").to_str().unwrap());
}

/// A play counts in the library (play count, last played) for a file it holds, once playback
/// is over; playing a file when there is no library does not create one.
#[test]
fn playing_a_library_track_counts_the_play_and_playing_never_creates_a_library() {
    let dirs = Dirs::new();
    let music = album(&dirs);
    let track = music.join("01.flac");
    let other = dirs.music("loose").join("other.flac");
    tagged_flac(&other, "Loose", "Gamma", "None", 1);
    let _sink = support::lock_sink();

    // No library yet: playing leaves none behind.
    dirs.reel(&["play", "--no-gui", other.to_str().unwrap()])
        .ok();
    assert!(!dirs.db().exists(), "playing created a library");

    dirs.add(&[&music]).ok();
    let before = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    dirs.reel(&["play", "--no-gui", track.to_str().unwrap()])
        .ok();
    let tracks = dirs.list(&["--sort", "played"]);
    let played: Vec<&serde_json::Value> = tracks
        .iter()
        .filter(|t| t["play_count"].as_u64() != Some(0))
        .collect();
    assert_eq!(played.len(), 1, "{tracks:#?}");
    assert_eq!(played[0]["title"], "Morning");
    assert_eq!(played[0]["play_count"], 1);
    assert!(
        played[0]["last_played_ms"].as_u64().unwrap_or(0) >= before,
        "{:#?}",
        played[0]
    );
}
