//! The window's part of issue 13, driven headlessly with egui_kittest: the real
//! `reel::ui::App` with a real engine playing into the test sound server, a real cache and a
//! real library (temporary directories per test). The bit-perfect badge is found in the
//! accessibility tree by role and name; the seek bar's waveform comes from the library's
//! loudness scan of the dropped file, read by the library worker.
#![cfg(feature = "gui")]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use reel::cache::Cache;
use reel::engine::{GainMode, GainSettings, PlayState};
use reel::ui::labels;
use reel::ui::{App, AppOptions};
use support::*;

/// A file dropped onto the window, as the windowing system hands it over.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// How long a condition on the window may take (imports, device start, scans).
const PATIENCE: Duration = Duration::from_secs(20);

struct Gui {
    harness: Harness<'static, App>,
    dir: tempfile::TempDir,
}

impl Gui {
    /// A window at full volume on its own cache and library, ReplayGain in `mode`.
    fn open(mode: GainMode) -> Gui {
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(Cache::open_dir(dir.path().join("cache")).unwrap());
        let mut opts = AppOptions::new(cache);
        opts.library_dir = Some(dir.path().join("library"));
        opts.volume = Some(1.0);
        opts.gain = Some(GainSettings {
            mode,
            preamp_db: 0.0,
        });
        let harness = Harness::builder()
            .with_size(egui::vec2(1280.0, 800.0))
            .build_eframe(move |cc| App::new(cc, opts).expect("engine starts"));
        let mut g = Gui { harness, dir };
        g.harness.step();
        g
    }

    /// Steps the window until `cond` holds; panics with `what` after PATIENCE.
    #[track_caller]
    fn until(&mut self, what: &str, mut cond: impl FnMut(&mut Harness<'static, App>) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.harness.step();
            if cond(&mut self.harness) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {PATIENCE:?}; notices: {:?}",
                self.harness.state().notices()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Drops `file`, waits until it is queued, clicks Play, waits until audio flows.
    fn drop_and_play(&mut self, file: &Path) {
        self.harness
            .input_mut()
            .dropped_files
            .push(Arc::new(Dropped(file.to_path_buf())));
        self.until("the dropped file queued", |h| h.state().queue().len() == 1);
        self.until("the Play button", |h| {
            h.query_by_label(labels::PLAY).is_some()
        });
        self.harness.get_by_label(labels::PLAY).click();
        self.until("playing", |h| {
            let s = h.state().engine().snapshot();
            s.state == PlayState::Playing && s.frames_played > 0
        });
    }

    /// The badge's words, when a frame shows it.
    fn badge(&self) -> Option<String> {
        self.harness
            .query_by_role_and_label(egui::Role::Status, labels::BIT_PERFECT)
            .and_then(|n| n.accesskit_node().value())
    }
}

/// A 1 kHz sine at `amp` for `loud_secs`, then silence up to `secs`, 48 kHz stereo 16-bit
/// FLAC, untagged.
fn flac(path: &Path, amp: f64, loud_secs: f64, secs: f64) {
    // (The comma is escaped from the filter graph's option parser.)
    let e = format!("{amp}*sin(2*PI*1000*t)*lt(t\\,{loud_secs})");
    let o = run_with_timeout(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("aevalsrc=exprs={e}|{e}:s=48000:d={secs}"))
            .args(["-c:a", "flac", "-sample_fmt", "s16"])
            .arg(path),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn the_bit_perfect_badge_says_bit_perfect_and_names_the_volume_once_it_is_below_100_percent() {
    // ReplayGain off: the window's loudness scan of the dropped file would otherwise give it
    // a gain (the next test).
    let mut g = Gui::open(GainMode::Off);
    let file = g.dir.path().join("clean.flac");
    flac(&file, 0.5, 3.0, 3.0);
    g.drop_and_play(&file);
    // 48 kHz 16-bit into the 48 kHz test sink, full volume, no gain: nothing alters it.
    g.until("the badge says bit-perfect", |h| {
        h.query_by_role_and_label(egui::Role::Status, labels::BIT_PERFECT)
            .and_then(|n| n.accesskit_node().value())
            .is_some_and(|v| v == "bit-perfect")
    });
    g.harness.key_press(egui::Key::ArrowDown);
    g.until("the badge names the volume", |h| {
        h.query_by_role_and_label(egui::Role::Status, labels::BIT_PERFECT)
            .and_then(|n| n.accesskit_node().value())
            .is_some_and(|v| v == "not bit-perfect: volume")
    });
    assert!(g.harness.state().settings().volume < 1.0);
    assert_eq!(g.badge().as_deref(), Some("not bit-perfect: volume"));
}

#[test]
fn the_seek_bar_gets_the_waveform_the_library_scanned_for_the_dropped_file() {
    let mut g = Gui::open(GainMode::Auto);
    let file = g.dir.path().join("half.flac");
    // Loud for the first half, silent for the second.
    flac(&file, 0.5, 3.0, 6.0);
    g.drop_and_play(&file);
    g.until("the waveform is read from the library", |h| {
        h.state().heard_waveform().is_some()
    });
    let w = g.harness.state().heard_waveform().unwrap().clone();
    assert_eq!(w.columns.len(), 1024);
    let (first, second) = w.columns.split_at(512);
    assert!(
        first[..508]
            .iter()
            .all(|(lo, hi)| (*hi - 0.5).abs() < 0.02 && (*lo + 0.5).abs() < 0.02),
        "{first:?}"
    );
    assert!(second[4..].iter().all(|c| *c == (0.0, 0.0)), "{second:?}");
}

#[test]
fn a_dropped_untagged_file_plays_at_the_gain_of_its_loudness_scan_once_scanned() {
    let mut g = Gui::open(GainMode::Auto);
    let file = g.dir.path().join("quiet.flac");
    // A −30 dBFS sine in both channels: −30 LUFS, so +12 dB to reach −18 LUFS.
    flac(&file, 10f64.powf(-30.0 / 20.0), 4.0, 4.0);
    g.drop_and_play(&file);
    // The first play opened before the scan: no gain. Once the scan is stored, the next
    // open of the track uses it.
    g.until("the library scanned the dropped file", |h| {
        h.state().heard_waveform().is_some()
    });
    g.until("the Stop button", |h| {
        h.query_by_label(labels::STOP).is_some()
    });
    g.harness.get_by_label(labels::STOP).click();
    g.until("stopped", |h| {
        h.state().engine().snapshot().state == PlayState::Stopped
    });
    g.until("the Play button", |h| {
        h.query_by_label(labels::PLAY).is_some()
    });
    g.harness.get_by_label(labels::PLAY).click();
    g.until("playing at the scan's gain", |h| {
        let s = h.state().engine().snapshot();
        s.state == PlayState::Playing && s.gain_source == "scan"
    });
    let gain = g.harness.state().engine().snapshot().gain_db;
    assert!((gain - 12.0).abs() < 0.5, "{gain}");
    g.until("the badge names the gain", |h| {
        h.query_by_role_and_label(egui::Role::Status, labels::BIT_PERFECT)
            .and_then(|n| n.accesskit_node().value())
            .is_some_and(|v| v == "not bit-perfect: gain")
    });
}
