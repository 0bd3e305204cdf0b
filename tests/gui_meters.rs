//! The meters panel of the real window (egui_kittest, a real engine playing into the test
//! sound server), read the way a screen reader reads it: by role and name. Level figures,
//! the clip indicator and the callback-load plot each have a name and a value.
#![cfg(feature = "gui")]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use reel::cache::Cache;
use reel::ui::labels;
use reel::ui::{App, AppOptions};
use support::*;

const PATIENCE: Duration = Duration::from_secs(20);

/// A file dropped onto the window, as the windowing system hands it over.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

fn window(dir: &Path) -> Harness<'static, App> {
    let mut opts = AppOptions::new(Arc::new(Cache::open_dir(dir.join("cache")).unwrap()));
    opts.library_dir = Some(dir.join("library"));
    let mut h = Harness::builder()
        .with_size(egui::vec2(1280.0, 900.0))
        .build_eframe(move |cc| App::new(cc, opts).expect("engine starts"));
    h.step();
    h
}

/// Steps the window until `cond` holds on it; panics with `what` after PATIENCE.
#[track_caller]
fn until(
    h: &mut Harness<'static, App>,
    what: &str,
    mut cond: impl FnMut(&Harness<'static, App>) -> bool,
) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        h.step();
        if cond(h) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {PATIENCE:?}; shown: {:?}",
            h.state().shown_snapshot()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The value words of the node with `role` and `name`, if the frame shows it.
fn words(h: &Harness<'static, App>, role: egui::Role, name: &str) -> Option<String> {
    h.query_by_role_and_label(role, name)
        .and_then(|n| n.accesskit_node().value())
}

#[test]
fn a_full_scale_track_shows_its_true_peak_callback_load_and_a_clip_light_until_clicked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("full-scale.wav");
    make_tone(&file, 1000.0, 1.5, 48_000, 2, 1.0);
    let _sink = lock_sink();
    let mut h = window(dir.path());
    h.input_mut().dropped_files.push(Arc::new(Dropped(file)));
    until(&mut h, "queued", |h| h.state().queue().len() == 1);
    // Full volume (the window starts at 80 %), as a listener gets there: the Up key.
    for _ in 0..10 {
        h.key_press(egui::Key::ArrowUp);
        h.step();
    }
    assert_eq!(h.state().engine().volume(), 1.0);
    // ReplayGain off (the window would play an untagged file at its loudness scan's gain).
    h.get_by_label(labels::SETTINGS).click();
    until(&mut h, "the settings window", |h| {
        h.query_by_label(labels::REPLAYGAIN_OFF).is_some()
    });
    h.get_by_label(labels::REPLAYGAIN_OFF).click();
    h.step();
    h.get_by_label(labels::PLAY).click();

    let clip = |h: &Harness<'static, App>| words(h, egui::Role::Button, labels::CLIP);
    until(&mut h, "the clip indicator lights", |h| {
        clip(h).as_deref() == Some("clipped")
    });
    until(&mut h, "a true peak near 0 dBTP", |h| {
        h.query_by_role_and_label(egui::Role::ProgressIndicator, "True peak L")
            .and_then(|n| n.accesskit_node().numeric_value())
            .is_some_and(|v| v.abs() < 0.3)
    });
    let tp = words(&h, egui::Role::ProgressIndicator, "True peak R").unwrap();
    assert!(tp.ends_with(" dBTP"), "{tp}");
    let load = words(&h, egui::Role::Image, labels::CALLBACK_LOAD_PLOT).unwrap();
    for figure in ["p50 ", "p99 ", "max ", " period"] {
        assert!(
            load.contains(figure),
            "the callback-load plot says {load:?}"
        );
    }
    for name in ["Sample peak L", "Peak hold L", "Level R"] {
        assert!(
            words(&h, egui::Role::ProgressIndicator, name).is_some(),
            "no meter {name:?}"
        );
    }

    // Once the track has ended, a click puts the indicator out, and it stays out.
    until(&mut h, "the track ends", |h| {
        h.state().shown_snapshot().state == reel::engine::PlayState::Stopped
    });
    h.get_by_role_and_label(egui::Role::Button, labels::CLIP)
        .click();
    until(&mut h, "the clip indicator clears", |h| {
        clip(h).as_deref() == Some("not clipped")
    });
    assert!(!h.state().engine().snapshot().clipped);
}
