//! Hostile files, generated from good ones: truncated at many offsets, bit-flipped, random
//! bytes, empty, headers that declare huge sizes, wrong extensions, directories named like
//! audio files, and files that grow or shrink while they are read.
//!
//! Each goes through `reel play --no-gui` and `reel cache import`. What must hold: a clear
//! one-line error naming the file, or the file plays as far as it can be decoded; never a panic
//! (not even one the decoder thread catches), a hang (every run has a timeout) or unbounded
//! memory (peak RSS is measured); and the cache is never left half-imported (no temp files,
//! every object hashes to its name, the index matches `objects/`).
//!
//! Playback goes to ALSA's `null` plugin (see `support::faults::NullAlsa`), which consumes audio
//! as fast as it is decoded: hundreds of files play in seconds, through the real engine.

mod cache_support;
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cache_support::*;
use support::faults::*;
use support::*;

/// Peak RSS a run over the whole corpus may reach. reel plays with about 30–40 MiB here; a
/// header that made it allocate what it declares (gigabytes) would blow far past this.
const PEAK_RSS_LIMIT_KIB: u64 = 256 * 1024;

/// Length of the good files everything is made from.
const TONE_SECS: f64 = 0.3;

/// Good files, one per container/codec reel plays, at 44.1 kHz (so playback resamples too).
fn good_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for name in [
        "tone.wav",
        "tone.flac",
        "tone.mp3",
        "tone.ogg",
        "tone.m4a",
        "tone.aiff",
        "tone.opus",
    ] {
        let p = dir.join(name);
        make_tone(&p, 440.0, TONE_SECS, 44_100, 2, 0.5);
        out.push(p);
    }
    let alac = dir.join("alac.m4a");
    make_tone_codec(&alac, &["-c:a", "alac"], 440.0, TONE_SECS, 44_100, 2, 0.5);
    out.push(alac);
    out
}

/// xorshift: deterministic "random" numbers, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() >> 24) as u8).collect()
    }
}

/// What a file must do.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// A one-line error whose reason contains this.
    Error(&'static str),
    /// Plays in full, with no error.
    PlaysFully,
    /// Either: plays what it can, or one clear line.
    Either,
}

struct Case {
    path: PathBuf,
    expect: Expect,
}

fn stem_ext(p: &Path) -> (String, String) {
    (
        p.file_stem().unwrap().to_string_lossy().into_owned(),
        p.extension().unwrap().to_string_lossy().into_owned(),
    )
}

/// Writes `bytes` as `dir/name` and records what it must do.
fn add(cases: &mut Vec<Case>, dir: &Path, name: String, bytes: &[u8], expect: Expect) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    cases.push(Case { path, expect });
}

fn put_u32_le(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Every hostile file, made from the good ones.
fn corpus(dir: &Path) -> Vec<Case> {
    let src = dir.join("good");
    std::fs::create_dir(&src).unwrap();
    let bad = dir.join("bad");
    std::fs::create_dir(&bad).unwrap();
    let goods = good_files(&src);
    let mut rng = Rng(0x0BAD_F11E_5EED);
    let mut cases = Vec::new();

    for good in &goods {
        let bytes = std::fs::read(good).unwrap();
        let (stem, ext) = stem_ext(good);
        let len = bytes.len();
        // Truncations: through the headers byte by byte at first, then across the audio.
        let mut cuts: Vec<usize> = vec![1, 2, 3, 4, 7, 8, 12, 16, 24, 32, 40, 44, 48, 64];
        cuts.extend([100, 128, 200, 256, 512, 1000, 1024, 2048, 4096]);
        cuts.extend([len / 8, len / 4, len / 2, 3 * len / 4, len - 100, len - 1]);
        cuts.sort_unstable();
        cuts.dedup();
        for cut in cuts.into_iter().filter(|&c| c > 0 && c < len) {
            add(
                &mut cases,
                &bad,
                format!("{stem}-{ext}-cut{cut}.{ext}"),
                &bytes[..cut],
                Expect::Either,
            );
        }
        // Bit flips: single bits in the header, then bursts anywhere.
        for i in 0..6 {
            let mut b = bytes.clone();
            let at = rng.below(64.min(len as u64)) as usize;
            b[at] ^= 1 << rng.below(8);
            add(
                &mut cases,
                &bad,
                format!("{stem}-{ext}-hdrflip{i}.{ext}"),
                &b,
                Expect::Either,
            );
        }
        for i in 0..8 {
            let mut b = bytes.clone();
            for _ in 0..1 + rng.below(16) {
                let at = rng.below(len as u64) as usize;
                b[at] ^= 1 << rng.below(8);
            }
            add(
                &mut cases,
                &bad,
                format!("{stem}-{ext}-flip{i}.{ext}"),
                &b,
                Expect::Either,
            );
        }
        // A run of random bytes over the middle.
        let mut b = bytes.clone();
        let at = len / 3;
        let n = (len / 10).max(1);
        b[at..at + n].copy_from_slice(&rng.bytes(n));
        add(
            &mut cases,
            &bad,
            format!("{stem}-{ext}-smear.{ext}"),
            &b,
            Expect::Either,
        );
    }

    // Random bytes and empty files under audio names.
    for (i, (n, ext)) in [
        (1usize, "flac"),
        (3, "mp3"),
        (100, "wav"),
        (4096, "ogg"),
        (65_536, "m4a"),
        (1 << 20, "mp3"),
        (1 << 20, "flac"),
    ]
    .into_iter()
    .enumerate()
    {
        add(
            &mut cases,
            &bad,
            format!("random{i}.{ext}"),
            &rng.bytes(n),
            Expect::Error("not an audio file"),
        );
    }
    for ext in ["flac", "wav", "mp3", "m4a"] {
        add(
            &mut cases,
            &bad,
            format!("empty.{ext}"),
            b"",
            Expect::Error("empty file"),
        );
    }

    // Headers that declare huge sizes.
    let wav = std::fs::read(src.join("tone.wav")).unwrap();
    let data_at = find(&wav, b"data").expect("data chunk");
    let fmt_at = find(&wav, b"fmt ").expect("fmt chunk");
    {
        let mut b = wav.clone();
        put_u32_le(&mut b, 4, u32::MAX);
        put_u32_le(&mut b, data_at + 4, 0xFFFF_FFF0);
        add(
            &mut cases,
            &bad,
            "huge-data-chunk.wav".into(),
            &b,
            Expect::Either,
        );
        let mut b = wav.clone();
        b[fmt_at + 10..fmt_at + 12].copy_from_slice(&u16::MAX.to_le_bytes());
        add(
            &mut cases,
            &bad,
            "65535-channels.wav".into(),
            &b,
            Expect::Error("corrupt"),
        );
        let mut b = wav.clone();
        put_u32_le(&mut b, fmt_at + 12, u32::MAX);
        add(
            &mut cases,
            &bad,
            "huge-rate.wav".into(),
            &b,
            Expect::Error("corrupt"),
        );
        // An unknown chunk before the audio that claims 2 GiB.
        let mut b = wav[..data_at].to_vec();
        b.extend_from_slice(b"junk");
        b.extend_from_slice(&0x7FFF_FFF0u32.to_le_bytes());
        b.extend_from_slice(&[0u8; 64]);
        b.extend_from_slice(&wav[data_at..]);
        add(
            &mut cases,
            &bad,
            "huge-junk-chunk.wav".into(),
            &b,
            Expect::Either,
        );
    }
    let flac = std::fs::read(src.join("tone.flac")).unwrap();
    {
        // STREAMINFO (the first block, after "fLaC" and its 4-byte header): total samples is
        // the low 36 bits of bytes 13..18 of the block.
        let mut b = flac.clone();
        let si = 8;
        b[si + 13] |= 0x0F;
        for x in &mut b[si + 14..si + 18] {
            *x = 0xFF;
        }
        add(
            &mut cases,
            &bad,
            "huge-total-samples.flac".into(),
            &b,
            Expect::Either,
        );
        // A metadata block (marked last) that claims 16 MiB, in a small file.
        let mut b = flac[..8 + 34].to_vec();
        b[4] &= 0x7F;
        b.extend_from_slice(&[0x81, 0xFF, 0xFF, 0xFF]);
        b.extend_from_slice(&[0u8; 256]);
        add(
            &mut cases,
            &bad,
            "huge-padding.flac".into(),
            &b,
            Expect::Either,
        );
        // A picture block whose MIME-type and data lengths claim 4 GiB.
        let mut b = flac[..8 + 34].to_vec();
        b[4] &= 0x7F;
        b.extend_from_slice(&[0x86, 0x00, 0x01, 0x00]);
        let mut pic = vec![0u8; 256];
        pic[0..4].copy_from_slice(&3u32.to_be_bytes());
        pic[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        b.extend_from_slice(&pic);
        add(
            &mut cases,
            &bad,
            "huge-picture.flac".into(),
            &b,
            Expect::Either,
        );
    }
    let mp3 = std::fs::read(src.join("tone.mp3")).unwrap();
    {
        // An ID3v2 tag whose (syncsafe) size claims 256 MiB, in front of the audio.
        let mut b = b"ID3\x03\x00\x00\x7F\x7F\x7F\x7F".to_vec();
        b.extend_from_slice(&mp3);
        add(&mut cases, &bad, "huge-id3.mp3".into(), &b, Expect::Either);
    }
    let m4a = std::fs::read(src.join("tone.m4a")).unwrap();
    for (atom, field_at, name) in [
        (&b"stsz"[..], 16usize, "huge-stsz-count"),
        (&b"stts"[..], 8, "huge-stts-count"),
        (&b"stco"[..], 8, "huge-stco-count"),
        (&b"stsc"[..], 8, "huge-stsc-count"),
        (&b"moov"[..], usize::MAX, "huge-moov-size"),
    ] {
        let Some(at) = find(&m4a, atom) else {
            panic!("no {} atom in the test m4a", String::from_utf8_lossy(atom))
        };
        let mut b = m4a.clone();
        if field_at == usize::MAX {
            b[at - 4..at].copy_from_slice(&u32::MAX.to_be_bytes());
        } else {
            let f = at + 4 + field_at - 4;
            b[f..f + 4].copy_from_slice(&0x7FFF_FFFFu32.to_be_bytes());
        }
        add(&mut cases, &bad, format!("{name}.m4a"), &b, Expect::Either);
    }

    // Wrong extensions: the content decides, so each plays in full.
    for (from, to) in [
        ("tone.flac", "mp3"),
        ("tone.wav", "ogg"),
        ("tone.mp3", "flac"),
        ("tone.ogg", "wav"),
        ("tone.m4a", "aiff"),
        ("tone.aiff", "m4a"),
    ] {
        let b = std::fs::read(src.join(from)).unwrap();
        let (stem, ext) = stem_ext(Path::new(from));
        add(
            &mut cases,
            &bad,
            format!("{stem}-{ext}-named.{to}"),
            &b,
            Expect::PlaysFully,
        );
    }

    // Directories named like audio files.
    for name in ["folder.flac", "folder.mp3"] {
        let path = bad.join(name);
        std::fs::create_dir(&path).unwrap();
        cases.push(Case {
            path,
            expect: Expect::Error("is a directory"),
        });
    }
    cases
}

/// The stderr lines that name `path` (exactly: followed by ": ").
fn lines_naming<'a>(stderr: &'a str, path: &Path) -> Vec<&'a str> {
    let prefix = format!("reel: {}: ", path.display());
    stderr.lines().filter(|l| l.starts_with(&prefix)).collect()
}

/// What every run must show: no panic message (symphonia panics that reel contains become one
/// line saying the decoder crashed on that file; they are listed, as they are bugs to report
/// upstream), no multi-line output, bounded memory.
#[track_caller]
fn assert_well_behaved(what: &str, m: &Measured) {
    assert!(
        !m.stderr.contains("panicked"),
        "{what}: a panic:\n{}",
        m.stderr
    );
    for line in m.stderr.lines().filter(|l| l.contains("decoder crashed")) {
        eprintln!("{what}: contained a decoder panic: {line}");
    }
    for line in m.stderr.lines() {
        assert!(
            line.starts_with("reel: ") || line.starts_with("imported "),
            "{what}: a line that is not one of reel's one-line messages: {line:?}\n{}",
            m.stderr
        );
    }
    assert!(
        m.peak_rss_kib < PEAK_RSS_LIMIT_KIB,
        "{what}: peak RSS {} MiB",
        m.peak_rss_kib / 1024
    );
}

#[test]
fn every_hostile_file_plays_what_it_can_or_fails_in_one_line_and_leaves_the_cache_whole() {
    let dir = tempfile::tempdir().unwrap();
    let cases = corpus(dir.path());
    let alsa = NullAlsa::new();
    let log = dir.path().join("m.jsonl");
    let t0 = Instant::now();
    let m = run_measured(
        alsa.reel()
            .args(["play", "--no-gui", "--metrics-log"])
            .arg(&log)
            .args(cases.iter().map(|c| &c.path)),
        Duration::from_secs(240),
    );
    eprintln!(
        "played {} hostile files in {:?}, peak RSS {} MiB",
        cases.len(),
        t0.elapsed(),
        m.peak_rss_kib / 1024
    );
    assert_well_behaved("play", &m);
    assert!(
        matches!(m.status.code(), Some(0 | 1)),
        "exit {:?}\n{}",
        m.status,
        m.stderr
    );
    let (_, summary) = read_metrics(&log);
    let tracks = summary["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), cases.len(), "one record per file given");
    let full = (TONE_SECS * 44_100.0) as u64;
    let mut failed = 0;
    for (case, track) in cases.iter().zip(tracks) {
        let lines = lines_naming(&m.stderr, &case.path);
        assert!(
            lines.len() <= 1,
            "{}: more than one line:\n{lines:#?}",
            case.path.display()
        );
        // A damaged FLAC that still decodes to its end gets a warning (its MD5 does not
        // match), not an error: only errors are refusals, and only they are in `errors`.
        failed += lines.iter().filter(|l| !l.contains(": warning: ")).count();
        match case.expect {
            Expect::Error(reason) => {
                assert_eq!(
                    lines.len(),
                    1,
                    "{}: no error line\n{}",
                    case.path.display(),
                    m.stderr
                );
                assert!(lines[0].contains(reason), "{:?} lacks {reason:?}", lines[0]);
            }
            Expect::PlaysFully => {
                assert!(lines.is_empty(), "{lines:?}");
                let frames = track["frames_decoded"].as_u64().unwrap_or(0);
                // frames_decoded counts device-rate (48 kHz) frames; lossy codecs may pad.
                let want = full * 48_000 / 44_100;
                assert!(
                    frames + 48 >= want && frames < want + 48_000 / 10,
                    "{}: decoded {frames} frames, want {want}: {track}",
                    case.path.display()
                );
            }
            Expect::Either => {}
        }
    }
    let played = tracks
        .iter()
        .filter(|t| t["frames_decoded"].as_u64().unwrap_or(0) > 0)
        .count();
    eprintln!(
        "{} files: {played} played (fully or in part), {failed} refused in one line",
        cases.len()
    );
    // Nothing is silently skipped: a file that yields no audio says why (this caught files
    // cut inside their first FLAC frame, or whose frames all failed their CRC).
    for (case, track) in cases.iter().zip(tracks) {
        assert!(
            track["frames_decoded"].as_u64().unwrap_or(0) > 0
                || !lines_naming(&m.stderr, &case.path).is_empty(),
            "{}: no audio and no error",
            case.path.display()
        );
    }
    // Every line names one of the files given: an error, or a warning for a file that
    // played but not whole (damaged frames skipped, truncated).
    assert_eq!(
        summary["errors"].as_array().unwrap().len() + summary["warnings"].as_array().unwrap().len(),
        failed,
        "every error or warning names one of the files given: {}",
        m.stderr
    );
    assert_consistent(&alsa.cache());

    // The same files (and their folder, recursively) through `reel cache import`.
    let cache = dir.path().join("import-cache");
    let m = run_measured(
        reel_in(&cache)
            .args(["cache", "import"])
            .args(cases.iter().map(|c| &c.path)),
        Duration::from_secs(120),
    );
    assert_well_behaved("cache import", &m);
    assert!(
        matches!(m.status.code(), Some(0 | 1)),
        "exit {:?}\n{}",
        m.status,
        m.stderr
    );
    for case in &cases {
        let lines = lines_naming(&m.stderr, &case.path);
        assert!(lines.len() <= 1, "{lines:#?}");
        if case.path.is_dir() {
            // `cache import` takes folders (whatever their names) and imports the audio in
            // them: these are empty.
            assert!(lines.is_empty(), "{lines:?}");
        } else if let Expect::Error(reason) = case.expect {
            assert_eq!(lines.len(), 1, "{}:\n{}", case.path.display(), m.stderr);
            assert!(lines[0].contains(reason), "{:?}", lines[0]);
        }
        if case.expect == Expect::PlaysFully {
            assert!(lines.is_empty(), "{lines:?}");
        }
    }
    assert_consistent(&cache);
    let m = run_measured(
        reel_in(&cache)
            .args(["cache", "import"])
            .arg(dir.path().join("bad")),
        Duration::from_secs(120),
    );
    assert_well_behaved("cache import of the folder", &m);
    assert_consistent(&cache);
}

/// A file that keeps growing, or is cut short, while `reel cache import` (and `reel play`,
/// which imports first) copies it: either it is imported whole as it was at some instant and
/// plays, or it is refused in one line; the cache never keeps a torn copy.
#[test]
fn files_that_grow_or_shrink_while_being_read_are_imported_whole_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let alsa = NullAlsa::new();
    for (round, shrink) in [(0, false), (1, true), (2, false), (3, true)] {
        let file = dir.path().join(format!("moving{round}.wav"));
        // 32 MiB: long enough that the copy is still running when the file changes.
        write_wav(&file, 32 << 20, round);
        let play = round >= 2;
        let mut cmd = if play {
            let mut c = alsa.reel();
            c.args(["play", "--no-gui"]).arg(&file);
            c
        } else {
            let mut c = reel_in(&dir.path().join("cache"));
            c.args(["cache", "import"]).arg(&file);
            c
        };
        let changer = {
            let file = file.clone();
            let cache = if play {
                alsa.cache()
            } else {
                dir.path().join("cache")
            };
            std::thread::spawn(move || {
                use std::io::Write;
                // Change the file once the import has started copying it.
                let deadline = Instant::now() + Duration::from_secs(20);
                while temp_files(&cache).is_empty() && Instant::now() < deadline {
                    std::thread::yield_now();
                }
                let f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&file)
                    .unwrap();
                if shrink {
                    f.set_len(16 << 20).unwrap();
                } else {
                    let mut f = f;
                    for _ in 0..64 {
                        f.write_all(&[7u8; 64 << 10]).unwrap();
                    }
                }
            })
        };
        let m = run_measured(&mut cmd, Duration::from_secs(120));
        changer.join().unwrap();
        let what = format!("round {round} ({})", if shrink { "shrink" } else { "grow" });
        assert_well_behaved(&what, &m);
        let lines = lines_naming(&m.stderr, &file);
        match m.status.code() {
            Some(0) => assert!(lines.is_empty(), "{what}: {}", m.stderr),
            Some(1) => {
                assert_eq!(lines.len(), 1, "{what}: {}", m.stderr);
                assert!(
                    lines[0].contains("changed while it was being copied"),
                    "{what}: {}",
                    lines[0]
                );
            }
            other => panic!("{what}: exit {other:?}\n{}", m.stderr),
        }
        let cache = if play {
            alsa.cache()
        } else {
            dir.path().join("cache")
        };
        assert_consistent(&cache);
    }
}

/// A file that plays, but not whole, says so in one line naming the file and what happened,
/// and the exit code stays 0 (what could be played was played). The summary lists it too.
#[test]
fn damaged_and_truncated_files_play_what_they_can_and_say_what_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(PathBuf, &str)> = Vec::new();
    for (name, codec) in [
        ("tone.flac", None),
        ("tone.mp3", None),
        ("aac.m4a", Some(["-c:a", "aac", "-movflags", "+faststart"])),
    ] {
        let good = dir.path().join(format!("good-{name}"));
        match codec {
            None => make_tone(&good, 440.0, 3.0, 48_000, 2, 0.5),
            Some(args) => make_tone_codec(&good, &args, 440.0, 3.0, 48_000, 2, 0.5),
        }
        let bytes = std::fs::read(&good).unwrap();
        // Cut at 60 %: the header still promises 3 s. (symphonia cannot read a cut MP4 at
        // all: that one is refused in one line, as the hostile-file test above checks.)
        if codec.is_none() {
            let cut = dir.path().join(format!("cut-{name}"));
            std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).unwrap();
            cases.push((cut, "(truncated)"));
        }
        // Damage at 40 %, inside the audio: a burst of flipped bytes, or for MP3 (which has
        // no checksum, so flipped bits can decode as quiet garbage) a frame header wiped.
        let mut flipped = bytes.clone();
        let at = bytes.len() * 4 / 10;
        if name.ends_with(".mp3") {
            let sync = at + find(&bytes[at..], &[0xff, 0xfb]).expect("an MP3 frame header");
            flipped[sync..sync + 4].fill(0);
        } else {
            for b in &mut flipped[at..at + 64] {
                *b ^= 0x5a;
            }
        }
        let damaged = dir.path().join(format!("damaged-{name}"));
        std::fs::write(&damaged, &flipped).unwrap();
        cases.push((damaged, "damaged frame"));
    }
    let alsa = NullAlsa::new();
    let log = dir.path().join("m.jsonl");
    let m = run_measured(
        alsa.reel()
            .args(["play", "--no-gui", "--metrics-log"])
            .arg(&log)
            .args(cases.iter().map(|c| &c.0)),
        Duration::from_secs(120),
    );
    assert_well_behaved("play", &m);
    assert_eq!(m.status.code(), Some(0), "{}", m.stderr);
    let (_, summary) = read_metrics(&log);
    let warnings = summary["warnings"].as_array().unwrap();
    for (path, want) in &cases {
        let lines = lines_naming(&m.stderr, path);
        assert_eq!(
            lines.len(),
            1,
            "{}: {lines:?}\n{}",
            path.display(),
            m.stderr
        );
        assert!(
            lines[0].starts_with(&format!("reel: {}: ", path.display())) && lines[0].contains(want),
            "{:?} lacks {want:?}",
            lines[0]
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.as_str().is_some_and(|w| lines[0].ends_with(w))),
            "{} missing from the summary's warnings {warnings:?}",
            path.display()
        );
    }
}
