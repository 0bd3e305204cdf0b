//! MPRIS2: `reel play --no-gui` on the private session bus of the sound-server harness, driven
//! by `playerctl` and `busctl` as a desktop would, checked against the metrics log (the heard
//! position) and the recorded sink.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reel::metrics_log::mono_ms;
use support::*;

const WAIT: Duration = Duration::from_secs(10);
const BUS_NAME: &str = "org.mpris.MediaPlayer2.reel";
const OBJECT: &str = "/org/mpris/MediaPlayer2";
const PLAYER_IFACE: &str = "org.mpris.MediaPlayer2.Player";
/// Below this a stretch of the recording is silence.
const SILENCE: f32 = 0.01;
/// The sink's rate: recording samples per ms.
const SAMPLES_PER_MS: f64 = RECORD_RATE as f64 / 1000.0;

/// A `reel play --no-gui` with its metrics log; killed if the test fails.
struct Reel {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Reel {
    /// Starts reel on `files` and waits until its player is on the bus.
    fn play(files: &[&Path]) -> Reel {
        let _ = test_sink();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("metrics.jsonl");
        let child = Command::new(reel_bin())
            .args(["play", "--no-gui", "--metrics-log"])
            .arg(&log)
            .args(files)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .unwrap();
        let reel = Reel {
            child,
            log,
            _dir: dir,
        };
        wait_until(WAIT, || playerctl(&["status"]).is_some());
        reel
    }

    /// Every metrics line so far.
    fn lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until the heard position (metrics log) satisfies `ok`; returns it.
    fn wait_position(&self, what: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let mut last = 0.0;
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            last = self
                .lines()
                .last()
                .and_then(|v| v["position_ms"].as_f64())
                .unwrap_or(last);
            if ok(last) {
                return last;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: the heard position stayed at {last} ms"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Asks it to quit over MPRIS (`Quit`) and checks that it ends with exit 0.
    fn quit(self) {
        self.quit_on(BUS_NAME);
    }

    /// [`Reel::quit`] through bus name `name`.
    fn quit_on(mut self, name: &str) {
        busctl_call_on(name, "org.mpris.MediaPlayer2", "Quit", &[]);
        let status = wait_child_with_timeout(&mut self.child, WAIT);
        assert!(status.success(), "reel exited with {status}");
    }
}

impl Drop for Reel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `playerctl --player=reel ARGS`: its trimmed output, `None` when it failed.
fn playerctl(args: &[&str]) -> Option<String> {
    let out = run_with_timeout(
        Command::new("playerctl").arg("--player=reel").args(args),
        WAIT,
    );
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// One metadata value as playerctl prints it (object paths without GVariant's quotes).
fn metadata(key: &str) -> String {
    let v = playerctl(&["metadata", key]).unwrap_or_default();
    v.trim_matches('\'').to_string()
}

/// `busctl --user call` on reel's object.
fn busctl_call(iface: &str, method: &str, args: &[&str]) {
    busctl_call_on(BUS_NAME, iface, method, args);
}

/// [`busctl_call`] on the player that owns bus name `name`.
fn busctl_call_on(name: &str, iface: &str, method: &str, args: &[&str]) {
    let out = run_with_timeout(
        Command::new("busctl")
            .args(["--user", "call", name, OBJECT, iface, method])
            .args(args),
        WAIT,
    );
    assert!(
        out.status.success(),
        "busctl call {method} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `busctl --user monitor` of reel's `Seeked` or `PropertiesChanged` signals, as JSON lines.
struct BusWatch {
    child: Child,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl BusWatch {
    /// Watches the signals named `member`.
    fn start(member: &str) -> BusWatch {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("monitor.jsonl");
        let err = dir.path().join("monitor.err");
        let child = Command::new("busctl")
            .args(["--user", "monitor", "--json=short", "--match"])
            .arg(format!("type=signal,member={member}"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        // busctl says so once it is a monitor of the bus.
        wait_until(WAIT, || {
            std::fs::read_to_string(&err)
                .unwrap_or_default()
                .contains("Monitoring")
        });
        BusWatch {
            child,
            out,
            _dir: dir,
        }
    }

    /// The payloads of the signals seen so far.
    fn payloads(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["type"] == "signal")
            .map(|v| v["payload"]["data"].clone())
            .collect()
    }

    /// The positions (µs) of the `Seeked` signals seen so far.
    fn positions(&self) -> Vec<i64> {
        self.payloads()
            .iter()
            .filter_map(|d| d[0].as_i64())
            .collect()
    }

    /// The values `PropertiesChanged` announced for `property` of the Player, in order.
    fn changed(&self, property: &str) -> Vec<serde_json::Value> {
        self.payloads()
            .iter()
            .filter(|d| d[0] == PLAYER_IFACE)
            .filter_map(|d| d[1].get(property).map(|v| v["data"].clone()))
            .collect()
    }
}

impl Drop for BusWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `secs`-long tone with title, artist and album tags.
fn tagged_tone(dir: &Path, name: &str, hz: f64, secs: f64, title: &str) -> PathBuf {
    let p = dir.join(name);
    let (t, a, b) = (
        format!("title={title}"),
        "artist=The Testers".to_string(),
        "album=Signals".to_string(),
    );
    make_tone_codec(
        &p,
        &[
            "-c:a",
            "flac",
            "-metadata",
            &t,
            "-metadata",
            &a,
            "-metadata",
            &b,
        ],
        hz,
        secs,
        48_000,
        2,
        0.5,
    );
    p
}

#[test]
fn playerctl_sees_reel_playing_with_the_tracks_tags_length_and_id() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let dir = tempfile::tempdir().unwrap();
        let a = tagged_tone(dir.path(), "a.flac", 440.0, 3.0, "First Light");
        let b = tagged_tone(dir.path(), "b.flac", 660.0, 3.0, "Second Wind");
        let reel = Reel::play(&[&a, &b]);
        wait_until(WAIT, || {
            playerctl(&["status"]).as_deref() == Some("Playing")
        });
        assert_eq!(metadata("xesam:title"), "First Light");
        assert_eq!(metadata("xesam:artist"), "The Testers");
        assert_eq!(metadata("xesam:album"), "Signals");
        assert_eq!(metadata("mpris:length"), "3000000");
        assert_eq!(metadata("mpris:trackid"), "/org/reel/track/0");
        assert_eq!(
            metadata("xesam:url"),
            format!("file://{}", a.display()),
            "the url names the file played"
        );
        // The second track has its own id.
        playerctl(&["next"]).unwrap();
        wait_until(WAIT, || metadata("mpris:trackid") == "/org/reel/track/1");
        assert_eq!(metadata("xesam:title"), "Second Wind");
        reel.quit();
    });
}

#[test]
fn pause_silences_the_sink_within_300_ms_and_play_resumes() {
    support::judged_by_recording(|| {
        let dir = tempfile::tempdir().unwrap();
        let file = tagged_tone(dir.path(), "a.flac", 440.0, 6.0, "Tone");
        let rec = Recorder::start(&dir.path().join("recording.wav"));
        let reel = Reel::play(&[&file]);
        reel.wait_position("one second heard", |p| p > 1000.0);
        // The monotonic clock reel's metrics log stamps its lines with: when the pause is asked.
        let asked_ms = mono_ms();
        playerctl(&["pause"]).unwrap();
        wait_until(WAIT, || playerctl(&["status"]).as_deref() == Some("Paused"));
        // Three metrics periods logged as paused: the sink has a silence to find.
        wait_until(WAIT, || {
            let l = reel.lines();
            l.len() >= 3 && l[l.len() - 3..].iter().all(|v| v["state"] == "paused")
        });
        let paused_at = reel.lines().last().unwrap()["position_ms"]
            .as_f64()
            .unwrap();
        playerctl(&["play"]).unwrap();
        wait_until(WAIT, || {
            playerctl(&["status"]).as_deref() == Some("Playing")
        });
        reel.wait_position("playing on after the pause", |p| p > paused_at + 1000.0);
        let lines = reel.lines();
        reel.quit();
        let wav = read_wav(&rec.stop());
        let left = &wav.channels[0];

        // Where position 0 was heard, on the monotonic clock: mono_ms - position_ms of the lines
        // logged while playing before the pause.
        let offsets: Vec<f64> = lines
            .iter()
            .filter(|v| v["state"] == "playing" && v["mono_ms"].as_f64() < Some(asked_ms))
            .filter_map(|v| Some(v["mono_ms"].as_f64()? - v["position_ms"].as_f64()?))
            .collect();
        assert!(!offsets.is_empty(), "no playing lines before the pause");
        let start_ms = offsets.iter().sum::<f64>() / offsets.len() as f64;
        let heard_when_asked_ms = asked_ms - start_ms;

        let (first, last) = signal_span(left, SILENCE).expect("the recording is silent");
        let silences = silences_within(left, (first, last), SILENCE);
        let &(onset, len) = silences
            .iter()
            .find(|(_, len)| *len as f64 >= 100.0 * SAMPLES_PER_MS)
            .expect("pausing left no silence in the recording");
        let tone_before_ms = (onset - first) as f64 / SAMPLES_PER_MS;
        assert!(
            tone_before_ms <= heard_when_asked_ms + 300.0,
            "the tone went on {:.0} ms after pause was asked (at {heard_when_asked_ms:.0} ms heard)",
            tone_before_ms - heard_when_asked_ms
        );
        // Play resumed the tone, from where it paused.
        assert!(
            last > onset + len + (500.0 * SAMPLES_PER_MS) as usize,
            "no tone after the pause"
        );
        assert!(
            (tone_before_ms - paused_at).abs() < 300.0,
            "paused at {paused_at} ms heard but the sink went silent after {tone_before_ms} ms"
        );
    });
}

#[test]
fn playerctl_position_moves_the_heard_position_and_emits_seeked() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let dir = tempfile::tempdir().unwrap();
        let file = tagged_tone(dir.path(), "a.flac", 440.0, 14.0, "Long");
        let watch = BusWatch::start("Seeked");
        let reel = Reel::play(&[&file]);
        reel.wait_position("playing", |p| p > 200.0);
        playerctl(&["position", "6"]).unwrap();
        reel.wait_position("at 6 s", |p| (6000.0..7000.0).contains(&p));
        wait_until(WAIT, || watch.positions() == [6_000_000]);
        playerctl(&["position", "5+"]).unwrap();
        let p = reel.wait_position("5 s further", |p| p >= 11_000.0);
        assert!(p < 12_500.0, "5 s on from about 6 s landed at {p} ms");
        wait_until(WAIT, || watch.positions().len() == 2);
        let second = watch.positions()[1];
        assert!(
            (11_000_000..12_500_000).contains(&second),
            "Seeked said {second} µs"
        );
        // Position, read on demand, is the heard position.
        let said: f64 = playerctl(&["position"]).unwrap().parse().unwrap();
        assert!((11.0..13.5).contains(&said), "Position said {said} s");
        reel.quit();
    });
}

#[test]
fn set_position_with_a_wrong_track_id_is_ignored() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let dir = tempfile::tempdir().unwrap();
        let file = tagged_tone(dir.path(), "a.flac", 440.0, 10.0, "Tone");
        let watch = BusWatch::start("Seeked");
        let reel = Reel::play(&[&file]);
        reel.wait_position("playing", |p| p > 200.0);
        busctl_call(
            PLAYER_IFACE,
            "SetPosition",
            &["ox", "/org/reel/track/7", "8000000"],
        );
        // The same call with the right id, after it: requests are handled in order, so when this
        // one has landed the wrong one has been handled too.
        busctl_call(
            PLAYER_IFACE,
            "SetPosition",
            &["ox", "/org/reel/track/0", "4000000"],
        );
        reel.wait_position("at 4 s", |p| (4000.0..5000.0).contains(&p));
        wait_until(WAIT, || !watch.positions().is_empty());
        assert_eq!(watch.positions(), [4_000_000], "only the right id seeks");
        let heard: Vec<f64> = reel
            .lines()
            .iter()
            .filter_map(|v| v["position_ms"].as_f64())
            .collect();
        assert!(
            heard.iter().all(|p| *p < 7000.0),
            "the wrong id moved playback: {heard:?}"
        );
        reel.quit();
    });
}

#[test]
fn next_and_previous_move_between_the_queued_tracks() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let dir = tempfile::tempdir().unwrap();
        let a = tagged_tone(dir.path(), "a.flac", 440.0, 4.0, "One");
        let b = tagged_tone(dir.path(), "b.flac", 550.0, 4.0, "Two");
        let c = tagged_tone(dir.path(), "c.flac", 660.0, 4.0, "Three");
        let watch = BusWatch::start("PropertiesChanged");
        let reel = Reel::play(&[&a, &b, &c]);
        let heard_path = || {
            reel.lines()
                .last()
                .and_then(|v| v["track_path"].as_str().map(String::from))
        };
        wait_until(WAIT, || heard_path().as_deref() == a.to_str());
        assert_eq!(playerctl(&["metadata", "xesam:title"]).unwrap(), "One");
        playerctl(&["next"]).unwrap();
        wait_until(WAIT, || heard_path().as_deref() == b.to_str());
        wait_until(WAIT, || metadata("xesam:title") == "Two");
        playerctl(&["next"]).unwrap();
        wait_until(WAIT, || heard_path().as_deref() == c.to_str());
        wait_until(WAIT, || metadata("mpris:trackid") == "/org/reel/track/2");
        playerctl(&["previous"]).unwrap();
        wait_until(WAIT, || heard_path().as_deref() == b.to_str());
        wait_until(WAIT, || metadata("xesam:title") == "Two");
        // Every change was announced: the three tracks' metadata in the order played, and the
        // capabilities as the current track moved (previous from the second on; no next on the
        // last).
        let titles: Vec<String> = watch
            .changed("Metadata")
            .iter()
            .filter_map(|m| m["xesam:title"]["data"].as_str().map(String::from))
            .collect();
        assert_eq!(titles, ["One", "Two", "Three", "Two"]);
        assert_eq!(
            watch.changed("CanGoPrevious"),
            [serde_json::Value::from(true)]
        );
        assert_eq!(
            watch.changed("CanGoNext"),
            [false, true].map(serde_json::Value::from)
        );
        playerctl(&["volume", "0.25"]).unwrap();
        wait_until(WAIT, || {
            watch.changed("Volume").last() == Some(&serde_json::Value::from(0.25))
        });
        assert_eq!(playerctl(&["volume"]).unwrap(), "0.250000");
        reel.quit();
    });
}

#[test]
fn without_a_session_bus_reel_says_mpris_is_off_and_plays_on() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let dir = tempfile::tempdir().unwrap();
        let file = tagged_tone(dir.path(), "a.flac", 440.0, 1.0, "Short");
        let out = run_with_timeout(
            Command::new(reel_bin())
                .env(
                    "DBUS_SESSION_BUS_ADDRESS",
                    format!("unix:path={}", dir.path().join("no-bus").display()),
                )
                .args(["play", "--no-gui"])
                .arg(&file),
            WAIT,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("MPRIS")).collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(
            lines[0].starts_with("reel: MPRIS is off") && lines[0].contains("no D-Bus session bus"),
            "{stderr}"
        );
    });
}

#[test]
fn embedded_cover_art_is_offered_as_a_file_url_and_removed_at_exit() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let dir = tempfile::tempdir().unwrap();
        let plain = tagged_tone(dir.path(), "plain.flac", 440.0, 3.0, "Covered");
        let cover = dir.path().join("cover.png");
        let with_cover = dir.path().join("covered.flac");
        for args in [
            vec!["-f", "lavfi", "-i", "color=c=red:s=8x8", "-frames:v", "1"],
            vec![
                "-i",
                plain.to_str().unwrap(),
                "-i",
                cover.to_str().unwrap(),
                "-map",
                "0",
                "-map",
                "1",
                "-c",
                "copy",
                "-disposition:v",
                "attached_pic",
            ],
        ] {
            let out = if args[0] == "-f" { &cover } else { &with_cover };
            let o = run_with_timeout(
                Command::new("ffmpeg")
                    .args(["-nostdin", "-v", "error", "-y"])
                    .args(&args)
                    .arg(out),
                WAIT,
            );
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let reel = Reel::play(&[&with_cover]);
        wait_until(WAIT, || metadata("xesam:title") == "Covered");
        let url = metadata("mpris:artUrl");
        let path = PathBuf::from(url.strip_prefix("file://").expect("a file:// URL"));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(&cover).unwrap(),
            "the picture offered is the one embedded"
        );
        reel.quit();
        assert!(!path.exists(), "the extracted cover outlived reel");
    });
}

#[test]
fn the_window_is_an_mpris_player_that_can_be_raised_paused_seeked_and_quit() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let x = support::xvfb::Xvfb::start();
        let home = tempfile::tempdir().unwrap();
        let file = tagged_tone(home.path(), "a.flac", 440.0, 8.0, "Windowed");
        let log = home.path().join("metrics.jsonl");
        let mut child = Command::new(reel_bin())
            .env("DISPLAY", &x.display)
            .env_remove("WAYLAND_DISPLAY")
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .arg("--cache-dir")
            .arg(home.path().join("cache"))
            .arg("--metrics-log")
            .arg(&log)
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let logged = || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .rev()
                .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .unwrap_or_default()
        };
        let slow = Duration::from_secs(60);
        wait_until(slow, || {
            playerctl(&["status"]).as_deref() == Some("Playing")
        });
        wait_until(WAIT, || metadata("xesam:title") == "Windowed");
        // The url is the user's file, not the cache's copy.
        assert_eq!(metadata("xesam:url"), format!("file://{}", file.display()));
        let out = run_with_timeout(
            Command::new("busctl").args([
                "--user",
                "get-property",
                BUS_NAME,
                OBJECT,
                "org.mpris.MediaPlayer2",
                "CanRaise",
            ]),
            WAIT,
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "b true");
        busctl_call("org.mpris.MediaPlayer2", "Raise", &[]);

        let watch = BusWatch::start("Seeked");
        playerctl(&["position", "5"]).unwrap();
        wait_until(WAIT, || {
            logged()["position_ms"]
                .as_f64()
                .is_some_and(|p| (5000.0..6000.0).contains(&p))
        });
        wait_until(WAIT, || watch.positions() == [5_000_000]);
        playerctl(&["pause"]).unwrap();
        wait_until(WAIT, || logged()["state"] == "paused");
        wait_until(WAIT, || playerctl(&["status"]).as_deref() == Some("Paused"));

        busctl_call("org.mpris.MediaPlayer2", "Quit", &[]);
        let status = wait_child_with_timeout(&mut child, WAIT);
        assert!(status.success(), "the window exited with {status}");
        assert!(x.find_window("reel").is_none(), "the window is still there");
    });
}

#[test]
fn a_second_reel_takes_its_own_instance_name_and_the_first_keeps_the_plain_one() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let dir = tempfile::tempdir().unwrap();
        let a = tagged_tone(dir.path(), "a.flac", 440.0, 4.0, "One");
        let b = tagged_tone(dir.path(), "b.flac", 660.0, 4.0, "Two");
        let first = Reel::play(&[&a]);
        let second = Reel::play(&[&b]);
        let instance = format!("{BUS_NAME}.instance{}", second.child.id());
        let names = || {
            let out = run_with_timeout(
                Command::new("busctl").args(["--user", "list", "--acquired", "--no-legend"]),
                WAIT,
            );
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().next().map(String::from))
                .filter(|n| n.starts_with(BUS_NAME))
                .collect::<Vec<_>>()
        };
        wait_until(WAIT, || names().len() == 2);
        let mut got = names();
        got.sort();
        assert_eq!(got, [BUS_NAME.to_string(), instance.clone()]);
        // Each answers as itself.
        let title = |name: &str| {
            let out = run_with_timeout(
                Command::new("playerctl")
                    .arg(format!(
                        "--player={}",
                        name.trim_start_matches("org.mpris.MediaPlayer2.")
                    ))
                    .args(["metadata", "xesam:title"]),
                WAIT,
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        wait_until(WAIT, || {
            title(BUS_NAME) == "One" && title(&instance) == "Two"
        });
        second.quit_on(&instance);
        first.quit();
    });
}

#[test]
fn playerctl_loop_and_shuffle_set_the_engines_modes_and_read_back() {
    support::judged_by_recording(|| {
        let _sink = lock_sink();
        let dir = tempfile::tempdir().unwrap();
        let a = tagged_tone(dir.path(), "a.flac", 440.0, 6.0, "One");
        let b = tagged_tone(dir.path(), "b.flac", 550.0, 6.0, "Two");
        let watch = BusWatch::start("PropertiesChanged");
        let reel = Reel::play(&[&a, &b]);
        let heard_path = || {
            reel.lines()
                .last()
                .and_then(|v| v["track_path"].as_str().map(String::from))
        };
        assert_eq!(playerctl(&["loop"]).as_deref(), Some("None"));
        assert_eq!(playerctl(&["shuffle"]).as_deref(), Some("Off"));
        playerctl(&["next"]).unwrap();
        wait_until(WAIT, || heard_path().as_deref() == b.to_str());
        wait_until(WAIT, || {
            watch.changed("CanGoNext").last() == Some(&serde_json::Value::from(false))
        });
        for status in ["Track", "Playlist"] {
            playerctl(&["loop", status]).unwrap();
            assert_eq!(playerctl(&["loop"]).as_deref(), Some(status));
        }
        // The engine's repeat all: the last track has a next, and it is the first.
        wait_until(WAIT, || {
            watch.changed("CanGoNext").last() == Some(&serde_json::Value::from(true))
        });
        playerctl(&["next"]).unwrap();
        wait_until(WAIT, || heard_path().as_deref() == a.to_str());
        playerctl(&["loop", "None"]).unwrap();
        assert_eq!(playerctl(&["loop"]).as_deref(), Some("None"));
        playerctl(&["shuffle", "On"]).unwrap();
        assert_eq!(playerctl(&["shuffle"]).as_deref(), Some("On"));
        playerctl(&["shuffle", "Off"]).unwrap();
        assert_eq!(playerctl(&["shuffle"]).as_deref(), Some("Off"));
        // Every change was announced, once, in order.
        wait_until(WAIT, || watch.changed("Shuffle").len() == 2);
        assert_eq!(
            watch.changed("LoopStatus"),
            ["Track", "Playlist", "None"].map(serde_json::Value::from)
        );
        assert_eq!(
            watch.changed("Shuffle"),
            [true, false].map(serde_json::Value::from)
        );
        reel.quit();
    });
}
