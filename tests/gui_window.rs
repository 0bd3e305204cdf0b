//! The window, driven headlessly with egui_kittest: the real `reel::ui::App` with a real engine
//! playing into the test sound server, a real cache and a real library (their own temporary
//! directories per test).
//! Files are dropped the way the windowing system drops them (`RawInput::dropped_files`),
//! buttons are found by their labels and clicked, keys are pressed, and what is asserted is
//! what the engine does (its own snapshot) and what the sink hears (a recording).
#![cfg(feature = "gui")]

mod cache_support;
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use reel::cache::Cache;
use reel::engine::{GainMode, PlayState};
use reel::ui::labels;
use reel::ui::notices::NoticeKind;
use reel::ui::{App, AppOptions};
use support::slowfs::SlowFs;
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

/// Options for a window on the cache and library in `dir` (never the user's).
fn options_in(dir: &Path) -> AppOptions {
    let cache = Arc::new(Cache::open_dir(dir.join("cache")).unwrap());
    let mut o = AppOptions::new(cache);
    o.library_dir = Some(dir.join("library"));
    o
}

/// How long a condition on the window may take (imports, device start, seeks).
const PATIENCE: Duration = Duration::from_secs(20);

struct Gui {
    harness: Harness<'static, App>,
    dir: tempfile::TempDir,
}

impl Gui {
    fn open() -> Gui {
        let dir = tempfile::tempdir().unwrap();
        Gui::open_in(dir)
    }

    /// A window on the cache and library already in `dir`.
    fn open_in(dir: tempfile::TempDir) -> Gui {
        let opts = options_in(dir.path());
        let harness = Harness::builder()
            .with_size(egui::vec2(1280.0, 800.0))
            .build_eframe(move |cc| App::new(cc, opts).expect("engine starts"));
        let mut g = Gui { harness, dir };
        g.harness.step();
        g
    }

    fn app(&self) -> &App {
        self.harness.state()
    }

    fn tone(&self, name: &str, freq: f64, secs: f64) -> PathBuf {
        let p = self.dir.path().join(name);
        make_tone(&p, freq, secs, 48_000, 2, 0.5);
        p
    }

    fn drop_files(&mut self, files: &[PathBuf]) {
        for f in files {
            self.harness
                .input_mut()
                .dropped_files
                .push(Arc::new(Dropped(f.clone())));
        }
        self.harness.step();
    }

    /// Steps the window until `cond` holds on the app; panics with `what` after PATIENCE.
    #[track_caller]
    fn until(&mut self, what: &str, mut cond: impl FnMut(&App) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.harness.step();
            if cond(self.harness.state()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {PATIENCE:?}; shown snapshot: {:?}; notices: {:?}",
                self.app().shown_snapshot(),
                self.app().notices()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Clicks the widget labelled `label`, once a frame shows it. The window draws the engine
    /// state of the frame before, so right after the engine pauses, the button may still say
    /// "Pause" for a frame (seen once in CI: "No nodes found ... Play").
    fn click(&mut self, label: &str) {
        let deadline = Instant::now() + PATIENCE;
        while self.harness.query_by_label(label).is_none() {
            assert!(
                Instant::now() < deadline,
                "no widget labelled {label:?} within {PATIENCE:?}"
            );
            self.harness.step();
        }
        self.harness.get_by_label(label).click();
        self.harness.step();
    }

    fn key(&mut self, key: egui::Key) {
        self.harness.key_press(key);
        self.harness.step();
    }

    /// Drops `files`, waits until they are queued, clicks Play, waits until audio flows.
    fn queue_and_play(&mut self, files: &[PathBuf]) {
        self.drop_files(files);
        let n = files.len();
        self.until("dropped files queued", |a| a.queue().len() == n);
        self.click(labels::PLAY);
        self.until("playing", |a| {
            let s = a.engine().snapshot();
            s.state == PlayState::Playing && s.frames_played > 0 && s.position_ms > 200.0
        });
    }

    fn position_ms(&self) -> f64 {
        self.app().engine().snapshot().position_ms
    }
}

#[test]
fn dropped_files_are_queued_play_when_play_is_clicked_and_are_cached_by_playing() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let file = g.tone("a440.flac", 440.0, 20.0);
        g.drop_files(std::slice::from_ref(&file));
        g.until("queued", |a| a.queue().len() == 1);
        // Queued as the user's file, not copied first: the first play streams it into the cache.
        let item = g.app().queue()[0].clone();
        assert_eq!(item.source, file);
        assert_eq!(item.object, None, "{item:?}");
        g.until("listed in the library", |a| a.library_len() == 1);
        // Queued, not playing yet.
        assert_eq!(g.app().engine().snapshot().state, PlayState::Stopped);

        let rec_path = g.dir.path().join("heard.wav");
        let rec = Recorder::start(&rec_path);
        g.click(labels::PLAY);
        g.until("playing with audio flowing", |a| {
            let s = a.engine().snapshot();
            s.state == PlayState::Playing && s.position_ms > 1500.0
        });
        let wav = read_wav(&rec.stop());
        let left = &wav.channels[0];
        let f = dominant_frequency(left, wav.rate);
        assert!((f - 440.0).abs() < 1.0, "the sink heard {f} Hz, not 440 Hz");
        // (Levelled to -18 LUFS by the loudness scan of the dropped file, and at the window's
        // volume: well below the tone's own level, far above silence.)
        assert!(rms_dbfs(left) > -40.0, "the sink heard almost nothing");
        // Playing copied it: the copy is committed, and the queue knows it by its content.
        g.until("copied into the cache by playing", |a| {
            a.cache().list().unwrap().len() == 1 && a.queue()[0].hash.is_some()
        });
    });
}

#[test]
fn meters_show_the_engines_ring_fill_and_latency_while_playing() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let file = g.tone("a440.flac", 440.0, 20.0);
        let _sink = lock_sink();
        g.queue_and_play(&[file]);
        g.until("ring filled", |a| a.shown_snapshot().ring_fill_ms > 0.0);
        let shown = g.app().shown_snapshot().clone();
        // Every figure on screen is the snapshot's own, as `CAPTION: VALUE`.
        let ring = labels::figure(
            labels::RING_FILL,
            &format!(
                "{:.1} ms of {:.1} ms",
                shown.ring_fill_ms, shown.ring_capacity_ms
            ),
        );
        g.harness.get_by_label(&ring);
        let total = labels::figure(
            labels::TOTAL_LATENCY,
            &format!("{:.1} ms", shown.output_latency_ms),
        );
        g.harness.get_by_label(&total);
        let device = labels::figure(
            labels::DEVICE_LATENCY,
            &format!(
                "{:.1} ms (server buffer {:.1} ms)",
                shown.device_latency_ms, shown.server_buffer_ms
            ),
        );
        g.harness.get_by_label(&device);
        assert!(
            shown.ring_fill_ms > 0.0 && shown.output_latency_ms > 0.0,
            "{shown:?}"
        );
        let sum = shown.ring_fill_ms + shown.device_latency_ms + shown.resampler_delay_ms;
        assert!((shown.output_latency_ms - sum).abs() < 1e-6, "{shown:?}");
        // And the snapshot shown is the engine's: the same stream, ring and device.
        let fresh = g.app().engine().snapshot();
        assert_eq!(shown.ring_capacity_frames, fresh.ring_capacity_frames);
        assert_eq!(shown.device, fresh.device);
        assert_eq!(shown.device_rate, fresh.device_rate);
        assert!(
            (shown.device_latency_ms - fresh.device_latency_ms).abs() < 10.0,
            "device latency shown {} ms, engine now {} ms",
            shown.device_latency_ms,
            fresh.device_latency_ms
        );
    });
}

#[test]
fn pause_stops_the_audio_and_play_resumes_where_it_was() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let file = g.tone("a440.flac", 440.0, 20.0);
        let _sink = lock_sink();
        g.queue_and_play(&[file]);
        g.click(labels::PAUSE);
        g.until("paused", |a| {
            a.engine().snapshot().state == PlayState::Paused
        });
        let at = g.position_ms();
        let frames = g.app().engine().snapshot().frames_played;
        // While paused nothing more is played; the position stays.
        std::thread::sleep(Duration::from_millis(300)); // a stretch of time to observe, not a sync
        let s = g.app().engine().snapshot();
        assert_eq!(s.frames_played, frames, "frames kept flowing while paused");
        assert!((s.position_ms - at).abs() < 1.0);
        g.click(labels::PLAY);
        g.until("resumed", |a| {
            let s = a.engine().snapshot();
            s.state == PlayState::Playing && s.position_ms > at + 200.0
        });
        assert!(
            g.position_ms() < at + 3000.0,
            "resumed far from where it paused"
        );
    });
}

#[test]
fn seek_slider_moves_the_heard_position() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let file = g.tone("a440.flac", 440.0, 30.0);
        let _sink = lock_sink();
        g.queue_and_play(&[file]);
        g.harness
            .get_by_role_and_label(egui::Role::Slider, labels::SEEK_SLIDER)
            .set_value_accesskit(20.0);
        g.harness.step();
        g.until("heard position near 20 s", |a| {
            let p = a.engine().snapshot().position_ms;
            (19_500.0..22_000.0).contains(&p)
        });
    });
}

#[test]
fn next_and_previous_buttons_move_through_the_queue() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let files = [
            g.tone("one.flac", 440.0, 20.0),
            g.tone("two.flac", 660.0, 20.0),
        ];
        let _sink = lock_sink();
        g.queue_and_play(&files);
        assert_eq!(g.app().engine().snapshot().track, Some(0));
        g.click(labels::NEXT);
        g.until("second track heard", |a| {
            a.engine().snapshot().track == Some(1)
        });
        g.click(labels::PREVIOUS);
        g.until("first track heard again", |a| {
            a.engine().snapshot().track == Some(0)
        });
    });
}

#[test]
fn volume_slider_sets_the_engines_volume() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        g.harness
            .get_by_role_and_label(egui::Role::Slider, labels::VOLUME_SLIDER)
            .set_value_accesskit(0.25);
        g.harness.step();
        g.until("volume applied", |a| {
            (a.engine().volume() - 0.25).abs() < 1e-6
        });
        assert_eq!(g.app().settings().volume, 0.25);
        g.harness
            .get_by_label(&labels::figure(labels::VOLUME_VALUE, "25 %"));
    });
}

#[test]
fn space_toggles_play_and_pause() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let file = g.tone("a440.flac", 440.0, 20.0);
        let _sink = lock_sink();
        g.drop_files(&[file]);
        g.until("queued", |a| a.queue().len() == 1);
        g.key(egui::Key::Space);
        g.until("playing", |a| {
            a.engine().snapshot().state == PlayState::Playing
        });
        g.key(egui::Key::Space);
        g.until("paused", |a| {
            a.engine().snapshot().state == PlayState::Paused
        });
        g.key(egui::Key::Space);
        g.until("playing again", |a| {
            a.engine().snapshot().state == PlayState::Playing
        });
    });
}

#[test]
fn arrow_keys_seek_five_seconds_back_and_forth() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let file = g.tone("a440.flac", 440.0, 40.0);
        let _sink = lock_sink();
        g.queue_and_play(&[file]);
        let before = g.position_ms();
        g.key(egui::Key::ArrowRight);
        g.until("5 s further", |a| {
            a.engine().snapshot().position_ms > before + 4_500.0
        });
        let ahead = g.position_ms();
        assert!(
            ahead < before + 7_000.0,
            "jumped from {before} to {ahead} ms"
        );
        g.key(egui::Key::ArrowLeft);
        g.until("5 s back", |a| {
            a.engine().snapshot().position_ms < ahead - 3_500.0
        });
    });
}

#[test]
fn up_and_down_keys_change_the_volume_in_steps() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let start = g.app().engine().volume();
        g.key(egui::Key::ArrowDown);
        g.until("quieter", |a| {
            (a.engine().volume() - (start - 0.05)).abs() < 1e-4
        });
        g.key(egui::Key::ArrowUp);
        g.key(egui::Key::ArrowUp);
        g.until("louder", |a| {
            (a.engine().volume() - (start + 0.05)).abs() < 1e-4
        });
    });
}

#[test]
fn n_and_p_keys_go_to_the_next_and_previous_track() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let files = [
            g.tone("one.flac", 440.0, 20.0),
            g.tone("two.flac", 660.0, 20.0),
        ];
        let _sink = lock_sink();
        g.queue_and_play(&files);
        g.key(egui::Key::N);
        g.until("second track", |a| a.engine().snapshot().track == Some(1));
        g.key(egui::Key::P);
        g.until("first track", |a| a.engine().snapshot().track == Some(0));
    });
}

#[test]
fn a_dropped_non_audio_file_is_rejected_with_a_message_naming_it() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let notes = g.dir.path().join("notes.txt");
        std::fs::write(&notes, "shopping list: milk, eggs, an amplifier\n").unwrap();
        g.drop_files(&[notes]);
        g.until("error shown", |a| !a.notices().is_empty());
        let text = g.app().notices()[0].text.clone();
        assert!(text.contains("notes.txt"), "{text}");
        assert!(text.contains("not an audio file"), "{text}");
        g.harness.get_by_label(&text);
        assert!(g.app().queue().is_empty());
        assert_eq!(g.app().cache().list().unwrap().len(), 0);
        // The message can be dismissed, and the window goes on.
        g.click(labels::DISMISS);
        g.until("dismissed", |a| a.notices().is_empty());
        assert!(g.harness.query_by_label(&text).is_none());
    });
}

#[test]
fn a_dropped_playlist_queues_its_entries_in_order_and_names_the_missing_one() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let one = g.tone("one.flac", 440.0, 0.5);
        let two = g.tone("two.flac", 550.0, 0.5);
        let list = g.dir.path().join("list.m3u");
        std::fs::write(
            &list,
            "#EXTM3U\n#EXTINF:1,Two\ntwo.flac\ngone.flac\n# a comment\none.flac\n",
        )
        .unwrap();
        g.drop_files(std::slice::from_ref(&list));
        g.until("the playlist's files queued", |a| a.queue().len() == 2);
        let sources: Vec<&Path> = g.app().queue().iter().map(|q| q.source.as_path()).collect();
        assert_eq!(sources, vec![two.as_path(), one.as_path()]);
        g.until("the missing entry told", |a| !a.notices().is_empty());
        let notices = g.app().notices();
        assert_eq!(notices.len(), 1, "{notices:?}");
        let text = &notices[0].text;
        assert!(
            text.contains(list.to_str().unwrap()) && text.contains("gone.flac"),
            "{text}"
        );
    });
}

/// The roles of everything a user can operate (what a screen reader offers to press, drag or
/// type into).
const CONTROL_ROLES: [egui::Role; 8] = [
    egui::Role::Button,
    egui::Role::Switch,
    egui::Role::CheckBox,
    egui::Role::RadioButton,
    egui::Role::Slider,
    egui::Role::SpinButton,
    egui::Role::ComboBox,
    egui::Role::TextInput,
];

#[test]
fn every_control_and_meter_in_the_accessibility_tree_has_a_name_and_the_meters_a_value() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let a = g.tone("a.flac", 440.0, 3.0);
        g.queue_and_play(&[a]);
        g.until("the meters show a filling ring", |a| {
            a.shown_snapshot().ring_fill_ms > 0.0 && a.shown_snapshot().peak_dbfs.len() == 2
        });
        g.click(labels::SETTINGS);
        // The settings window's controls too (a window is laid out a frame before it is shown).
        let deadline = Instant::now() + PATIENCE;
        while g.harness.query_by_label(labels::APPLY_OUTPUT).is_none() {
            assert!(
                Instant::now() < deadline,
                "the settings window did not open"
            );
            g.harness.step();
        }

        let mut controls = Vec::new();
        for role in CONTROL_ROLES {
            for node in g.harness.query_all_by_role(role) {
                let n = node.accesskit_node();
                controls.push(n.label().unwrap_or_default());
                assert!(
                    n.label().is_some_and(|l| !l.trim().is_empty()),
                    "a {role:?} without a name: {n:?}"
                );
            }
        }
        // The tree holds the transport, the queue, the top bar and the settings window.
        for name in [
            labels::PAUSE,
            labels::SEEK_SLIDER,
            labels::VOLUME_SLIDER,
            labels::SAVE_QUEUE,
            labels::ADD_FILES,
            "Device",
            "Size cap",
        ] {
            assert!(
                controls.iter().any(|c| c == name),
                "no {name:?} in {controls:?}"
            );
        }

        let meters: Vec<_> = g
            .harness
            .query_all_by_role(egui::Role::ProgressIndicator)
            .map(|n| n.accesskit_node())
            .collect();
        for n in &meters {
            assert!(
                n.label().is_some_and(|l| !l.is_empty()),
                "a meter without a name: {n:?}"
            );
            assert!(
                n.numeric_value().is_some(),
                "a meter without a value: {n:?}"
            );
            assert!(
                n.value().is_some_and(|v| !v.is_empty()),
                "a meter without words: {n:?}"
            );
        }
        let names: Vec<String> = meters.iter().filter_map(|n| n.label()).collect();
        for name in [
            labels::RING_FILL,
            labels::CALLBACK_LOAD,
            "Level L",
            "Level R",
        ] {
            assert!(
                names.iter().any(|n| n == name),
                "no meter {name:?} in {names:?}"
            );
        }

        // The ring fill reads as the frame showed it: "Ring fill", N of the capacity, in ms.
        let shown = g.app().shown_snapshot().clone();
        let ring = g
            .harness
            .get_by_role_and_label(egui::Role::ProgressIndicator, labels::RING_FILL);
        let ring = ring.accesskit_node();
        assert_eq!(ring.numeric_value(), Some(shown.ring_fill_ms.round()));
        assert_eq!(
            ring.max_numeric_value(),
            Some(shown.ring_capacity_ms.round())
        );
        let words = ring.value().unwrap();
        assert!(words.contains(" of ") && words.ends_with("ms"), "{words}");
        // The latency breakdown shows the sound server's buffer beside the device latency.
        assert!(
            g.harness
                .query_by_label_contains(&format!(
                    "(server buffer {:.1} ms)",
                    reel::engine::SERVER_BUFFER_MS as f64
                ))
                .is_some(),
            "no server buffer in the latency breakdown"
        );
    });
}

#[test]
fn an_idle_window_asks_for_no_frames_a_playing_one_for_25_a_second_and_a_minimised_one_for_one() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        g.until("library listed", |a| !a.busy());
        let delay =
            |g: &Gui| g.harness.output().viewport_output[&egui::ViewportId::ROOT].repaint_delay;
        // The workers' last answers (the listing, its stats) may still wake it a time or two;
        // after that an idle window asks for no frames at all.
        let mut frames = 0;
        while delay(&g) != Duration::MAX {
            assert!(frames < 20, "an idle window keeps repainting");
            g.harness.step();
            frames += 1;
        }

        let file = g.tone("a440.flac", 440.0, 20.0);
        let _sink = lock_sink();
        g.queue_and_play(&[file]);
        g.harness.step();
        let d = delay(&g);
        assert!(
            d > Duration::ZERO && d <= reel::ui::REPAINT_EVERY,
            "playing: next frame in {d:?}"
        );
        // Minimised while playing: nobody sees the meters.
        let minimised = |g: &mut Gui, yes: bool| {
            g.harness
                .input_mut()
                .viewports
                .entry(egui::ViewportId::ROOT)
                .or_default()
                .minimized = Some(yes);
            g.harness.step();
        };
        minimised(&mut g, true);
        let d = delay(&g);
        assert!(
            d > reel::ui::REPAINT_EVERY && d <= reel::ui::HIDDEN_REPAINT_EVERY,
            "minimised: next frame in {d:?}"
        );
        minimised(&mut g, false);
        assert!(
            delay(&g) <= reel::ui::REPAINT_EVERY,
            "restored: {:?}",
            delay(&g)
        );
        g.click(labels::PAUSE);
        g.until("paused", |a| {
            a.engine().snapshot().state == PlayState::Paused
        });
        g.harness.step();
        g.harness.step();
        assert_eq!(delay(&g), Duration::MAX, "a paused window keeps repainting");
    });
}

#[test]
fn without_a_sound_server_the_window_opens_says_why_and_plays_once_it_is_back() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        stop_sound_server(false);
        // Whatever happens below, bring the server back for the tests after this one.
        struct Restart;
        impl Drop for Restart {
            fn drop(&mut self) {
                start_sound_server();
            }
        }
        let restart = Restart;
        let mut g = Gui::open();
        g.until("no-output message", |a| {
            a.engine().output_problem().is_some()
        });
        g.harness.step();
        g.harness.get_by_label_contains("No audio output:");
        let why = g.app().engine().output_problem().unwrap_or_default();
        assert!(!why.trim().is_empty(), "no reason given");
        // The rest of the window works: files can still be added and queued.
        let file = g.tone("a440.flac", 440.0, 20.0);
        g.drop_files(&[file]);
        g.until("queued without a device", |a| a.queue().len() == 1);

        drop(restart);
        g.until("output back", |a| a.engine().output_problem().is_none());
        g.click(labels::PLAY);
        g.until("playing on the server that came back", |a| {
            let s = a.engine().snapshot();
            s.state == PlayState::Playing && s.position_ms > 300.0
        });
    });
}

#[test]
fn settings_and_the_queue_survive_a_restart() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a440.flac");
        make_tone(&file, 440.0, 5.0, 48_000, 2, 0.5);
        let storage = {
            let opts = options_in(dir.path());
            let mut h = Harness::builder()
                .build_eframe(move |cc| App::new(cc, opts).expect("engine starts"));
            h.input_mut()
                .dropped_files
                .push(Arc::new(Dropped(file.clone())));
            let deadline = Instant::now() + PATIENCE;
            while h.state().queue().is_empty() {
                assert!(Instant::now() < deadline, "not queued");
                h.step();
                std::thread::sleep(Duration::from_millis(10));
            }
            h.get_by_role_and_label(egui::Role::Slider, labels::VOLUME_SLIDER)
                .set_value_accesskit(0.3);
            h.step();
            let mut storage = MemoryStorage::default();
            eframe::App::save(h.state_mut(), &mut storage);
            storage
        };
        let storage: &'static MemoryStorage = Box::leak(Box::new(storage));
        let opts = options_in(dir.path());
        let mut h = Harness::builder().build_eframe(move |cc| {
            cc.storage = Some(storage);
            App::new(cc, opts).expect("engine starts")
        });
        let deadline = Instant::now() + PATIENCE;
        while h.state().queue().is_empty() {
            assert!(Instant::now() < deadline, "queue not restored");
            h.step();
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(h.state().queue()[0].source, file);
        assert_eq!(h.state().settings().volume, 0.3);
        assert!((h.state().engine().volume() - 0.3).abs() < 1e-6);
    });
}

#[derive(Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.into(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

#[test]
fn the_library_view_shows_the_collection_marks_cached_and_missing_and_removes_apart_from_the_cache()
{
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let music = dir.path().join("music");
        std::fs::create_dir(&music).unwrap();
        for name in ["one.flac", "two.flac", "three.flac"] {
            make_tone(&music.join(name), 440.0, 1.0, 48_000, 2, 0.5);
        }
        let music = std::fs::canonicalize(&music).unwrap();
        // The collection, added before the window opens; one track cached, one whose file is gone.
        let mut lib = reel::library::Library::open_dir(dir.path().join("library")).unwrap();
        let r = lib.add(
            std::slice::from_ref(&music),
            &reel::library::AddOptions::default(),
            &mut |_| {},
        );
        assert_eq!(r.added, 3);
        drop(lib);
        let cache = Cache::open_dir(dir.path().join("cache")).unwrap();
        let imported = cache.import(
            &[music.join("two.flac")],
            reel::cache::ImportOptions::default(),
            &mut |_| {},
        );
        assert!(imported.results[0].is_ok());
        drop(cache);
        std::fs::remove_file(music.join("three.flac")).unwrap();

        let mut g = Gui::open_in(dir);
        g.until("library listed", |a| a.library_len() == 3 && !a.busy());
        let two = music.join("two.flac");
        let three = music.join("three.flac");
        assert!(g.app().library_track(&two).unwrap().cached);
        assert!(
            !g.app()
                .library_track(&music.join("one.flac"))
                .unwrap()
                .cached
        );
        assert!(g.app().library_track(&three).unwrap().source_missing);
        g.harness.step();
        g.harness.get_by_label("C");
        g.harness.get_by_label("!");

        // Removing "two" from the library leaves its file and its cached copy.
        g.click("two");
        g.until("selected", |a| a.library_selected() == Some(two.as_path()));
        g.click(labels::REMOVE_FROM_LIBRARY);
        g.until("removed from the library", |a| {
            a.library_len() == 2 && !a.busy()
        });
        assert!(g.app().library_track(&two).is_none());
        assert!(two.is_file());
        let cache = Cache::open_dir(g.dir.path().join("cache")).unwrap();
        assert_eq!(cache.list().unwrap().len(), 1);
    });
}

#[test]
fn ctrl_f_gives_the_library_filter_the_keyboard_and_typing_narrows_the_list() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let music = dir.path().join("music");
        std::fs::create_dir(&music).unwrap();
        for name in ["one.flac", "two.flac", "three.flac"] {
            make_tone(&music.join(name), 440.0, 0.5, 48_000, 2, 0.5);
        }
        let mut lib = reel::library::Library::open_dir(dir.path().join("library")).unwrap();
        let r = lib.add(&[music], &reel::library::AddOptions::default(), &mut |_| {});
        assert_eq!(r.added, 3);
        drop(lib);
        let mut g = Gui::open_in(dir);
        g.until("library listed", |a| a.library_len() == 3 && !a.busy());
        let filter = |h: &Harness<'static, App>| {
            let n = h.get_by_role_and_label(egui::accesskit::Role::TextInput, labels::FILTER_HINT);
            (n.is_focused(), n.value().unwrap_or_default())
        };
        assert_eq!(filter(&g.harness), (false, String::new()));
        g.harness
            .key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::F);
        g.harness.step();
        g.harness.step();
        assert_eq!(filter(&g.harness), (true, String::new()));
        g.harness
            .get_by_role_and_label(egui::accesskit::Role::TextInput, labels::FILTER_HINT)
            .type_text("tw");
        g.harness.step();
        g.harness.step();
        assert_eq!(filter(&g.harness), (true, "tw".to_string()));
        g.harness.get_by_label("1 of 3 tracks");
        g.harness.get_by_label("two");
        assert!(g.harness.query_by_label("one").is_none());
    });
}

/// The settings window's Loudness section reaches the engine. A file tagged −6 dB plays at
/// −6 dB from its tag by default (auto); once "ReplayGain off" is chosen, the track opened
/// next (here the same file, played again from the start) plays with no gain.
#[test]
fn replaygain_chosen_in_the_settings_window_reaches_the_engine() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let file = g.dir.path().join("tagged.flac");
        make_tone_codec(
            &file,
            &[
                "-c:a",
                "flac",
                "-metadata",
                "REPLAYGAIN_TRACK_GAIN=-6.00 dB",
            ],
            440.0,
            20.0,
            48_000,
            2,
            0.5,
        );
        g.queue_and_play(std::slice::from_ref(&file));
        g.until("the tag's gain in use", |a| {
            let s = a.engine().snapshot();
            s.gain_source == "tag" && (s.gain_db + 6.0).abs() < 0.01
        });
        g.click(labels::SETTINGS);
        g.click(labels::REPLAYGAIN_OFF);
        assert_eq!(g.app().settings().replaygain.mode, GainMode::Off);
        g.click(labels::STOP);
        g.until("stopped", |a| {
            a.engine().snapshot().state == PlayState::Stopped
        });
        g.click(labels::PLAY);
        g.until("playing again, with no gain", |a| {
            let s = a.engine().snapshot();
            s.state == PlayState::Playing && s.position_ms > 200.0 && s.gain_source == "none"
        });
        assert_eq!(g.app().engine().snapshot().gain_db, 0.0);
    });
}

/// The notice whose text starts with `start`, if one is shown.
fn notice_starting(app: &App, start: &str) -> Option<String> {
    app.notices()
        .iter()
        .map(|n| n.text.clone())
        .find(|t| t.starts_with(start))
}

#[test]
fn a_first_play_in_the_window_starts_before_its_copy_completes() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let mut size = 0;
        // 1 MB/s: the 2.3 MB copy takes over 2 s; the first sound needs only its first bytes.
        let fs = SlowFs::mount(1_000_000, 20, |src| {
            make_tone_codec(
                &src.join("song.wav"),
                &["-c:a", "pcm_f32le"],
                440.0,
                3.0,
                96_000,
                2,
                0.5,
            );
            size = std::fs::metadata(src.join("song.wav")).unwrap().len();
        });
        let mut g = Gui::open();
        let cache = g.dir.path().join("cache");
        g.queue_and_play(&[fs.path("song.wav")]);
        // Heard, and the copy is still under way: nothing committed, a partial temp file.
        assert!(
            cache_support::object_files(&cache).is_empty(),
            "committed before the copy ended"
        );
        let temps = cache_support::temp_files(&cache);
        assert_eq!(temps.len(), 1, "{temps:?}");
        let partial = std::fs::metadata(&temps[0]).map(|m| m.len()).unwrap_or(0);
        assert!(partial < size, "the copy was done ({partial} of {size})");
        // It goes on while the track plays, and commits a whole object.
        g.until("the copy committed", |a| a.queue()[0].hash.is_some());
        let objects = cache_support::object_files(&cache);
        assert_eq!(objects.len(), 1);
        assert_eq!(
            cache_support::blake3_of(&objects[0]),
            cache_support::blake3_of(&fs.src.join("song.wav"))
        );
    });
}

#[test]
fn a_track_whose_source_is_gone_plays_in_the_window_from_its_cached_copy_with_a_notice() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let dir = tempfile::tempdir().unwrap();
        let mut fs = SlowFs::mount(50_000_000, 0, |src| {
            make_tone(&src.join("a.flac"), 440.0, 3.0, 48_000, 2, 0.5);
        });
        let song = fs.path("a.flac");
        cache_support::import(&dir.path().join("cache"), &[&song]);
        // The stick is pulled; the window is asked to play the file (`reel FILE`).
        fs.vanish();
        let mut opts = options_in(dir.path());
        opts.files = vec![song.clone()];
        let harness = Harness::builder()
            .with_size(egui::vec2(1280.0, 800.0))
            .build_eframe(move |cc| App::new(cc, opts).expect("engine starts"));
        let mut g = Gui { harness, dir };
        g.until("playing its cached copy", |a| {
            let s = a.engine().snapshot();
            s.state == PlayState::Playing && s.position_ms > 200.0
        });
        let start = format!("{}: the source is gone", song.display());
        let text = notice_starting(g.app(), &start).expect("a notice says why");
        assert!(text.ends_with("playing its cached copy"), "{text}");
        let errors: Vec<_> = g
            .app()
            .notices()
            .iter()
            .filter(|n| n.kind == NoticeKind::Error)
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
    });
}

#[test]
fn a_damaged_cached_copy_is_caught_in_the_window_named_removed_and_skipped() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let bad = g.tone("bad.wav", 440.0, 3.0);
        let good = g.tone("good.wav", 550.0, 20.0);
        let cache = g.dir.path().join("cache");
        cache_support::import(&cache, &[&bad, &good]);
        let hash = cache_support::blake3_of(&bad);
        let object = cache_support::object_files(&cache)
            .into_iter()
            .find(|o| cache_support::name_hash(o) == hash)
            .unwrap();
        // A byte flipped in the middle: the quick check before playing does not see it.
        let mut bytes = std::fs::read(&object).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x5a;
        std::fs::write(&object, bytes).unwrap();

        let _sink = lock_sink();
        g.queue_and_play(&[bad.clone(), good]);
        let start = format!("{}: the cached copy is corrupt", bad.display());
        g.until("the damage named", |a| notice_starting(a, &start).is_some());
        // Skipped: the next track plays; and removed, so the next play copies the file again.
        g.until("the next track playing", |a| {
            a.engine().snapshot().track == Some(1)
        });
        assert!(!object.exists(), "the corrupt copy is still in the cache");
        let text = notice_starting(g.app(), &start).unwrap();
        assert!(text.contains("copies the file again"), "{text}");
    });
}

#[test]
fn a_play_in_the_window_is_counted_in_the_library_once_audio_stops() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let file = g.tone("counted.flac", 440.0, 20.0);
        let canon = std::fs::canonicalize(&file).unwrap();
        g.drop_files(std::slice::from_ref(&file));
        g.until("listed in the library", |a| {
            a.library_track(&canon).is_some()
        });
        assert_eq!(g.app().library_track(&canon).unwrap().play_count, 0);
        // The library lists it as soon as it is scanned; the queue takes it once the session has
        // looked it up: Play before that would have nothing to play.
        g.until("queued", |a| a.queue().len() == 1);
        let _sink = lock_sink();
        g.click(labels::PLAY);
        g.until("playing", |a| a.engine().snapshot().position_ms > 200.0);
        g.click(labels::STOP);
        g.until("the play counted", |a| {
            a.library_track(&canon).is_some_and(|t| t.play_count == 1)
        });
    });
}

#[test]
fn a_library_track_whose_file_is_gone_plays_from_its_cached_copy_with_a_notice() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let music = dir.path().join("music");
        std::fs::create_dir(&music).unwrap();
        let music = std::fs::canonicalize(&music).unwrap();
        let one = music.join("one.flac");
        make_tone(&one, 440.0, 3.0, 48_000, 2, 0.5);
        // In the library and in the cache; then the file goes.
        let mut lib = reel::library::Library::open_dir(dir.path().join("library")).unwrap();
        let r = lib.add(
            std::slice::from_ref(&music),
            &reel::library::AddOptions::default(),
            &mut |_| {},
        );
        assert_eq!(r.added, 1);
        drop(lib);
        cache_support::import(&dir.path().join("cache"), &[&one]);
        std::fs::remove_file(&one).unwrap();

        let mut g = Gui::open_in(dir);
        g.until("library listed", |a| a.library_len() == 1 && !a.busy());
        let t = g.app().library_track(&one).unwrap();
        assert!(t.source_missing && t.cached, "{t:?}");
        let _sink = lock_sink();
        g.harness.get_by_label("one").click_secondary();
        g.harness.step();
        g.click("Play now");
        g.until("playing its cached copy", |a| {
            let s = a.engine().snapshot();
            s.state == PlayState::Playing && s.position_ms > 200.0
        });
        let start = format!("{}: the source is gone", one.display());
        let text = notice_starting(g.app(), &start).expect("a notice says why");
        assert!(text.ends_with("playing its cached copy"), "{text}");
    });
}

#[test]
fn a_queue_saved_by_an_older_reel_as_cache_hashes_comes_back_as_its_files_where_it_was() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a440.flac");
        make_tone(&file, 440.0, 5.0, 48_000, 2, 0.5);
        cache_support::import(&dir.path().join("cache"), &[&file]);
        let hash = cache_support::blake3_of(&file);
        let mut storage = MemoryStorage::default();
        storage.0.insert(
            "reel.settings".to_string(),
            format!(
                r#"(volume: 0.3, queue: ["{hash}"], resume: Some((hash: "{hash}", position_ms: 1500.0)))"#
            ),
        );
        let storage: &'static MemoryStorage = Box::leak(Box::new(storage));
        let opts = options_in(dir.path());
        let harness = Harness::builder()
            .with_size(egui::vec2(1280.0, 800.0))
            .build_eframe(move |cc| {
                cc.storage = Some(storage);
                App::new(cc, opts).expect("engine starts")
            });
        let mut g = Gui { harness, dir };
        g.until("queue restored", |a| a.queue().len() == 1);
        assert_eq!(
            g.app().queue()[0].source,
            std::fs::canonicalize(&file).unwrap()
        );
        g.until("cued where it was", |a| {
            let s = a.engine().snapshot();
            s.state == PlayState::Paused
                && s.track == Some(0)
                && (s.position_ms - 1500.0).abs() < 300.0
        });
    });
}

#[test]
fn the_queue_panel_plays_an_entry_next_removes_one_and_the_transport_sets_the_modes() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let files = [
            g.tone("one.flac", 440.0, 20.0),
            g.tone("two.flac", 550.0, 20.0),
            g.tone("three.flac", 660.0, 20.0),
        ];
        let _sink = lock_sink();
        g.queue_and_play(&files);
        let titles =
            |g: &Gui| -> Vec<String> { g.app().queue().iter().map(|q| q.title.clone()).collect() };
        let before = titles(&g);
        let button = |g: &mut Gui, label: String| {
            g.harness
                .get_by_role_and_label(egui::Role::Button, &label)
                .click();
            g.harness.step();
        };
        button(&mut g, labels::entry_control(labels::PLAY_NEXT, &before[2]));
        g.until("the third entry moved up to play next", |a| {
            let q = a.queue();
            q[1].title == before[2] && a.engine().queue().path(1) == Some(&q[1].source)
        });
        button(
            &mut g,
            labels::entry_control(labels::REMOVE_ENTRY, &before[1]),
        );
        g.until(
            "the second file removed from the window and the engine",
            |a| a.queue().len() == 2 && a.engine().queue().len() == 2,
        );
        assert_eq!(titles(&g), [before[0].clone(), before[2].clone()]);
        let s = g.app().engine().snapshot();
        assert_eq!(
            (s.state, s.track),
            (PlayState::Playing, Some(0)),
            "the playing track plays on"
        );

        button(&mut g, labels::SHUFFLE.to_string());
        button(
            &mut g,
            labels::repeat_text(reel::engine::Repeat::Off).to_string(),
        );
        g.until("shuffle and repeat all on", |a| {
            let s = a.engine().snapshot();
            s.shuffle && s.repeat == reel::engine::Repeat::All
        });
    });
}

#[test]
fn dragging_a_queue_entry_onto_another_moves_it_there() {
    support::judged_by_recording(|| {
        let mut g = Gui::open();
        let files = [
            g.tone("one.flac", 440.0, 5.0),
            g.tone("two.flac", 550.0, 5.0),
            g.tone("three.flac", 660.0, 5.0),
        ];
        g.drop_files(&files);
        g.until("dropped files queued", |a| {
            a.queue().len() == 3 && a.engine().entry_ids().len() == 3
        });
        let first = g.app().queue()[0].title.clone();
        // An entry's row is the button named by its place in the queue and its title.
        let row = |g: &Gui, place: usize| {
            g.harness
                .query_all_by_role(egui::Role::Button)
                .find(|n| {
                    n.accesskit_node()
                        .label()
                        .is_some_and(|l| l.starts_with(&format!("{place}. ")))
                })
                .map(|n| n.rect().center())
                .expect("a queue row")
        };
        let (from, to) = (row(&g, 1), row(&g, 3));
        g.harness.hover_at(from);
        g.harness.step();
        g.harness.drag_at(from);
        g.harness.step();
        for k in 1..=4 {
            g.harness.hover_at(from + (to - from) * (k as f32 / 4.0));
            g.harness.step();
        }
        g.harness.drop_at(to);
        g.harness.step();
        g.until("the first entry moved to the end", |a| {
            a.queue()[2].title == first && a.engine().queue().path(2) == Some(&a.queue()[2].source)
        });
    });
}
