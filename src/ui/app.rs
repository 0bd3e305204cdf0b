//! The window's application state and frame loop (`eframe::App`).
//!
//! Runs on the UI thread only. What is played goes through the session layer (src/session),
//! as with `reel play --no-gui`: the cache worker looks files up, the session queues them (a
//! first play streams while it is copied, a gone file plays from its cached copy, hits are
//! checked in full while playing), and the session's lines become notices. Each frame: take
//! what the cache worker, the session, the file pickers, the engine (through the event thread)
//! and the cover loader sent; take one meter snapshot; handle
//! dropped files and keyboard shortcuts; draw the panels; turn what the user did into engine
//! commands and worker jobs; and ask for the next frame in [`REPAINT_EVERY`] only while
//! something moves (playing, looking files up, scanning). Nothing here waits on a file, a lock held by another
//! process, or the audio thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use eframe::egui::{self, Key, Modifiers};

use super::cover::Covers;
use super::dialogs::{Dialogs, Pick};
use super::drop_overlay;
use super::library::{self, Library};
use super::library_worker::{LibraryJob, LibraryReport, LibraryWorker};
use super::meters::{self, History, MeterInputs};
use super::metrics::{FrameShare, GuiMetricsLog, MetricsThread};
use super::mpris::WindowMpris;
use super::notices::{Notice, NoticeKind, Notices, Topic};
use super::playlists::{self, Playlists};
use super::queue_edit;
use super::settings::{self, Resume, Settings};
use super::settings_window::{self, SettingsWindow};
use super::signals::Watcher;
use super::top_bar;
use super::transport::{self, BarInputs, Transport};
use super::worker::{Job, QueueItem, Report, Then, Worker};
use super::{HIDDEN_REPAINT_EVERY, OutputOverride, REPAINT_EVERY};
use crate::cache::{Cache, Stats};
use crate::engine::analysis::Waveform;
use crate::engine::{
    Command, Engine, EngineConfig, Event, GainSettings, MeterSnapshot, OutputRequest, PlayState,
};
use crate::error::OutputError;
use crate::library::Track;
use crate::mpris::Request;
use crate::session::{Batch, Reaction, Session};

/// Left/Right arrows jump this far.
pub const SEEK_STEP_SECS: f64 = 5.0;
/// Up/Down arrows change the volume by this much.
pub const VOLUME_STEP: f32 = 0.05;

/// What the window is started with.
pub struct AppOptions {
    pub cache: Arc<Cache>,
    /// Files other `reel FILE...` hand over, and the slot its thread wakes the UI through.
    pub instance: Option<(
        crate::instance::Listener,
        Arc<std::sync::OnceLock<egui::Context>>,
    )>,
    /// Queued (replacing the saved queue) and played.
    pub files: Vec<PathBuf>,
    pub output: OutputOverride,
    pub volume: Option<f32>,
    pub start: Option<Duration>,
    pub metrics_log: Option<GuiMetricsLog>,
    pub close_on_signal: Option<Watcher>,
    /// The library's directory; `None`: `$REEL_LIBRARY_DIR` or the user's data directory.
    pub library_dir: Option<PathBuf>,
    /// `--replaygain` / `--preamp` when given: override (and replace) the saved setting.
    pub gain: Option<GainSettings>,
}

impl AppOptions {
    /// Options for a window on `cache` with nothing else asked for.
    pub fn new(cache: Arc<Cache>) -> AppOptions {
        AppOptions {
            cache,
            instance: None,
            files: Vec::new(),
            output: OutputOverride::default(),
            volume: None,
            start: None,
            metrics_log: None,
            close_on_signal: None,
            library_dir: None,
            gain: None,
        }
    }
}

pub struct App {
    engine: Arc<Engine>,
    cache: Arc<Cache>,
    events: Receiver<Event>,
    worker: Worker,
    /// The library's own thread (the collection, in SQLite).
    lib_worker: LibraryWorker,
    /// A library scan in progress: files looked at, of files found.
    scan: Option<(usize, usize)>,
    settings: Settings,
    /// What the engine runs with.
    applied_output: OutputRequest,
    queue: Vec<QueueItem>,
    library: Library,
    stats: Option<Stats>,
    max_size_bytes: u64,
    notices: Notices,
    /// The session layer: the queue's files, their copies and checks, plays.
    session: Session,
    /// Where plays and loudness scans are recorded (`None`: the default library).
    library_dir: Option<PathBuf>,
    snap: MeterSnapshot,
    output_problem: Option<String>,
    history: History,
    transport: Transport,
    covers: Covers,
    dialogs: Dialogs,
    playlists: Playlists,
    share: Arc<FrameShare>,
    metrics: Option<MetricsThread>,
    signals: Option<Watcher>,
    /// Files that other `reel FILE...` hand to this window (src/instance.rs).
    instance: Option<crate::instance::Listener>,
    /// `--start`: seek here when the first file starts.
    start_at: Option<Duration>,
    settings_window: SettingsWindow,
    window_title: String,
    frames: u64,
    /// MPRIS on the session bus.
    mpris: WindowMpris,
    /// The seek bar's waveform: the content hash of the track it was asked for, and the
    /// summary once the library worker has read it (`None`: not scanned, or not yet read).
    waveform: Option<(String, Option<Arc<Waveform>>)>,
}

impl App {
    /// Starts the engine (it does not need a device: with none the window opens and says
    /// why), the cache worker, the event thread and the metrics log.
    pub fn new(cc: &eframe::CreationContext<'_>, opts: AppOptions) -> Result<App, OutputError> {
        let ctx = cc.egui_ctx.clone();
        let mut settings = Settings::load(cc.storage);
        if let Some(v) = opts.volume.filter(|v| v.is_finite()) {
            settings.volume = v.clamp(0.0, 1.0);
        }
        if let Some(g) = opts.gain {
            settings.replaygain = g;
        }
        settings::apply_theme(&ctx, settings.theme);
        let request = opts.output.apply(&settings);
        let engine = Arc::new(Engine::start(EngineConfig {
            output: request.clone(),
            require_device: false,
            observed: true,
        })?);
        engine.send(Command::Volume(settings.volume));
        // Before anything is loaded: the first track opens with it.
        engine.send(Command::ReplayGain(settings.replaygain));
        engine.send(Command::Shuffle(settings.shuffle));
        engine.send(Command::Repeat(settings.repeat));

        // Engine events wake the window: a device lost while nothing repaints still shows.
        let (ev_tx, events) = crossbeam_channel::unbounded();
        {
            let source = engine.events().clone();
            let ctx = ctx.clone();
            let _ = std::thread::Builder::new()
                .name("reel-ui-events".into())
                .spawn(move || {
                    for ev in source {
                        // Position events come 4 times a second while playing, when the
                        // window already repaints every REPAINT_EVERY: ask for a repaint no
                        // sooner than that, or each one adds a frame (32 fps, not 30).
                        let soon = matches!(ev, Event::Position { .. });
                        if ev_tx.send(ev).is_err() {
                            return;
                        }
                        if soon {
                            ctx.request_repaint_after(REPAINT_EVERY);
                        } else {
                            ctx.request_repaint();
                        }
                    }
                });
        }

        let worker = Worker::start(opts.cache.clone(), ctx.clone(), opts.library_dir.clone());
        worker.send(Job::Refresh);
        // The engine opens the queue's files through the session (cached copies, copies under
        // way); scanned tracks without tags play levelled (asked on the decoder thread).
        let session = Session::open(opts.cache.clone());
        session.use_library_once_there(opts.library_dir.as_deref());
        {
            // A copy that ends while nothing repaints (paused) still shows (its hash, the
            // library's cached mark).
            let ctx = ctx.clone();
            session.wake_with(move || ctx.request_repaint());
        }
        session.attach(&engine);
        let lib_worker =
            LibraryWorker::start(opts.library_dir.clone(), opts.cache.clone(), ctx.clone());
        if !opts.files.is_empty() {
            lib_worker.send(LibraryJob::Add {
                paths: opts.files.clone(),
                quiet: true,
            });
            worker.send(Job::LookUp {
                paths: opts.files.clone(),
                then: Then::Replace,
            });
        } else if !settings.queue_files.is_empty() {
            worker.send(Job::LookUp {
                paths: settings.queue_files.clone(),
                then: Then::Restore,
            });
        } else if !settings.legacy_queue.is_empty() {
            worker.send(Job::RestoreHashes {
                hashes: std::mem::take(&mut settings.legacy_queue),
                resume: settings
                    .legacy_resume
                    .take()
                    .map(|r| (r.hash, r.position_ms)),
            });
        }

        let share = Arc::new(FrameShare::default());
        let metrics = opts
            .metrics_log
            .map(|log| MetricsThread::start(log, engine.clone(), share.clone()));
        if let Some(w) = &opts.close_on_signal {
            w.attach(&ctx);
        }
        let instance = opts.instance.map(|(listener, wake)| {
            let _ = wake.set(ctx.clone());
            listener
        });
        let max_size_bytes = opts.cache.settings().max_size_bytes;
        let mpris = WindowMpris::start(&engine, &ctx);
        Ok(App {
            engine,
            cache: opts.cache,
            events,
            worker,
            settings_window: SettingsWindow::new(request.clone(), max_size_bytes),
            applied_output: request,
            lib_worker,
            scan: None,
            settings,
            queue: Vec::new(),
            library: Library::default(),
            stats: None,
            max_size_bytes,
            notices: Notices::default(),
            session,
            library_dir: opts.library_dir,
            snap: MeterSnapshot::default(),
            output_problem: None,
            history: History::default(),
            transport: Transport::default(),
            covers: Covers::default(),
            dialogs: Dialogs::default(),
            playlists: Playlists::default(),
            share,
            metrics,
            signals: opts.close_on_signal,
            instance,
            start_at: opts.start,
            waveform: None,
            window_title: String::new(),
            frames: 0,
            mpris,
        })
    }

    // ---- read-only views, for the tests and the benchmark -------------------------------

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The waveform the seek bar draws for the track heard now, once the library has it.
    pub fn heard_waveform(&self) -> Option<&Waveform> {
        self.waveform.as_ref().and_then(|(_, w)| w.as_deref())
    }

    /// The snapshot the last frame showed.
    pub fn shown_snapshot(&self) -> &MeterSnapshot {
        &self.snap
    }

    pub fn queue(&self) -> &[QueueItem] {
        &self.queue
    }

    pub fn notices(&self) -> &[Notice] {
        self.notices.all()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Frames painted so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Worker jobs are waiting or running (a look-up, a listing, a library scan).
    pub fn busy(&self) -> bool {
        self.worker.busy() || self.lib_worker.busy()
    }

    /// Library tracks listed.
    pub fn library_len(&self) -> usize {
        self.library.len()
    }

    /// The library track selected in the view.
    pub fn library_selected(&self) -> Option<&std::path::Path> {
        self.library.selected.as_deref()
    }

    /// The library track of this (canonical) path, as listed.
    pub fn library_track(&self, path: &std::path::Path) -> Option<&Track> {
        self.library.track(path)
    }

    // ---- actions ------------------------------------------------------------------------

    /// Files, folders or playlists to bring in (drops, pickers). Playlists are read on a
    /// thread first ([`Playlists::expand`]); their files come back through
    /// [`App::take_playlists`].
    fn add_paths(&mut self, paths: Vec<PathBuf>, then: Then, ctx: &egui::Context) {
        if paths.is_empty() {
            return;
        }
        if Playlists::any(&paths) {
            self.playlists.expand(paths, then, ctx);
            return;
        }
        // Whatever the user brings in belongs to the library; only what is to be played now
        // goes through the cache.
        self.lib_worker.send(LibraryJob::Add {
            paths: paths.clone(),
            quiet: then != Then::Library,
        });
        if then != Then::Library {
            self.worker.send(Job::LookUp { paths, then });
        }
    }

    /// "Save queue…": the files as the user added them (never the cache's objects).
    fn save_queue(&mut self, ctx: &egui::Context) {
        let entries = self
            .queue
            .iter()
            .map(|q| crate::playlist::SaveEntry {
                path: q.source.clone(),
                title: if q.artist.is_empty() {
                    q.title.clone()
                } else {
                    format!("{} - {}", q.artist, q.title)
                },
                duration_secs: q.duration_secs,
            })
            .collect();
        self.playlists.save(entries, ctx);
    }

    /// Asks the library worker for the waveform of the track heard now, once per track.
    fn want_waveform(&mut self, playing: Option<&QueueItem>) {
        // A first play's content hash is known once its copy is committed.
        let Some((q, hash)) = playing.and_then(|q| q.hash.as_ref().map(|h| (q, h))) else {
            return;
        };
        if self.waveform.as_ref().is_some_and(|(h, _)| h == hash) {
            return;
        }
        self.waveform = Some((hash.clone(), None));
        self.lib_worker.send(LibraryJob::Waveform {
            source: q.source.clone(),
            hash: hash.clone(),
        });
    }

    fn current_index(&self) -> Option<usize> {
        self.snap.track.filter(|&t| t < self.queue.len())
    }

    fn play_pause(&mut self) {
        if self.snap.state == PlayState::Playing {
            self.engine.send(Command::Pause);
        } else if !self.queue.is_empty() {
            self.engine.send(Command::Play);
        }
    }

    fn set_volume(&mut self, v: f32) {
        let v = v.clamp(0.0, 1.0);
        self.settings.volume = v;
        self.engine.send(Command::Volume(v));
    }

    /// MPRIS: the requests clients made since the last frame, then this frame's state.
    fn sync_mpris(&mut self, ctx: &egui::Context) {
        for r in self.mpris.requests() {
            match r {
                Request::PlayPause => self.play_pause(),
                Request::Volume(v) => self.set_volume(v as f32),
                Request::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
                Request::Raise => {
                    ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(false));
                    ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
                }
                other => {
                    if let Some(cmd) = other.command() {
                        self.engine.send(cmd);
                    }
                }
            }
        }
        self.mpris
            .publish(&self.snap, &self.queue, self.settings.volume);
    }

    /// Plays so far, recorded by the cache worker (the cache's index, the library).
    fn record_plays(&mut self) {
        let plays = self.session.take_plays();
        if !plays.is_empty() {
            self.worker.send(Job::RecordPlays(plays));
        }
    }

    fn transport_action(&mut self, a: transport::Action, ctx: &egui::Context) {
        use transport::Action as A;
        match a {
            A::Play => self.engine.send(Command::Play),
            A::Pause => self.engine.send(Command::Pause),
            A::Stop => self.engine.send(Command::Stop),
            A::Previous => self.engine.send(Command::Previous),
            A::Next => self.engine.send(Command::Next),
            A::Seek(to) => self.engine.send(Command::Seek(to)),
            A::Volume(v) => self.set_volume(v),
            A::PlayIndex(i) => self.engine.send(Command::PlayIndex(i)),
            A::SaveQueue => self.save_queue(ctx),
            A::Remove(i) => {
                if let Some(id) = queue_edit::entry_id(&self.engine, &self.queue, i) {
                    self.engine.send(Command::Remove(id));
                    self.queue.remove(i);
                    let hashes = self.queue.iter().filter_map(|q| q.hash.clone()).collect();
                    self.worker.send(Job::Repin(hashes));
                }
            }
            A::Move { from, to } => {
                if let Some(id) = queue_edit::entry_id(&self.engine, &self.queue, from) {
                    self.engine.send(Command::Move { id, to });
                }
            }
            A::PlayNext(i) => {
                if let Some(id) = queue_edit::entry_id(&self.engine, &self.queue, i) {
                    self.engine.send(Command::PlayNext(id));
                }
            }
            A::Shuffle(on) => {
                self.settings.shuffle = on;
                self.engine.send(Command::Shuffle(on));
            }
            A::Repeat(r) => {
                self.settings.repeat = r;
                self.engine.send(Command::Repeat(r));
            }
            A::ClearQueue => {
                self.engine.send(Command::Stop);
                self.engine.send(Command::Load(Vec::new()));
                self.queue.clear();
                self.session.clear();
                self.worker.send(Job::Repin(Vec::new()));
                self.mpris.new_queue();
            }
        }
    }

    fn library_action(&mut self, a: library::Action) {
        match a {
            library::Action::Play(p) => self.worker.send(Job::LookUp {
                paths: vec![p],
                then: Then::PlayNow,
            }),
            library::Action::Queue(p) => self.worker.send(Job::LookUp {
                paths: vec![p],
                then: Then::Queue,
            }),
            library::Action::RemoveFromLibrary(p) => {
                self.lib_worker.send(LibraryJob::Remove(vec![p]));
            }
            library::Action::RemoveCachedCopy(h) => {
                if let Some(q) = self.queue.iter().find(|q| q.hash.as_ref() == Some(&h)) {
                    let name = q.source.display().to_string();
                    self.notices.post(
                        Topic::Queued(h),
                        NoticeKind::Error,
                        format!(
                            "{name}: queued; clear the queue before removing it from the cache"
                        ),
                    );
                } else {
                    self.worker.send(Job::Remove(vec![h]));
                }
            }
        }
    }

    // ---- inputs -------------------------------------------------------------------------

    fn take_reports(&mut self) {
        let reports: Vec<Report> = self.worker.reports.try_iter().collect();
        for r in reports {
            match r {
                Report::Looked { batch, items, then } => self.take_looked(*batch, items, then),
                Report::Library {
                    entries,
                    stats,
                    max_size_bytes,
                } => {
                    // The cache changed: which library tracks are cached may have too.
                    self.lib_worker.send(LibraryJob::Refresh(Some(entries)));
                    self.stats = stats;
                    self.max_size_bytes = max_size_bytes;
                }
                Report::ResumeAt(r) => self.settings.resume_at = Some(r),
                Report::Error(e) => self.notices.message(NoticeKind::Error, e),
            }
        }
        let reports: Vec<LibraryReport> = self.lib_worker.reports.try_iter().collect();
        for r in reports {
            match r {
                LibraryReport::Tracks(tracks) => {
                    self.library.set_tracks(tracks);
                    self.learn_tags();
                    // The library changed (a scan may have stored it): ask again.
                    if matches!(self.waveform, Some((_, None))) {
                        self.waveform = None;
                    }
                }
                LibraryReport::LoudnessStored => {
                    if matches!(self.waveform, Some((_, None))) {
                        self.waveform = None;
                    }
                }
                LibraryReport::Waveform { hash, wave } => {
                    if let Some((want, got)) = &mut self.waveform
                        && *want == hash
                    {
                        *got = wave;
                    }
                }
                LibraryReport::Progress { done, total } => self.scan = Some((done, total)),
                LibraryReport::Scanned { summary, errors } => {
                    self.scan = None;
                    for e in errors {
                        self.notices.message(NoticeKind::Error, e);
                    }
                    if let Some(summary) = summary {
                        self.notices.message(NoticeKind::Info, summary);
                    }
                }
                LibraryReport::Error(e) => self.notices.message(NoticeKind::Error, e),
            }
        }
    }

    /// Files looked up by the cache worker: queued through the session, and given to the
    /// engine as the user's paths (the session's opener gives the decoder their copies).
    fn take_looked(&mut self, batch: Batch, items: Vec<QueueItem>, then: Then) {
        let skipped = batch.skipped_non_audio();
        if skipped > 0 {
            self.notices.post(
                Topic::SkippedNonAudio,
                NoticeKind::Info,
                format!(
                    "skipped {skipped} file{} that {} not audio",
                    if skipped == 1 { "" } else { "s" },
                    if skipped == 1 { "is" } else { "are" }
                ),
            );
        }
        if then == Then::Replace {
            self.session.clear();
        }
        // The user goes on after a failed cache (a full disk): say the next failure again.
        self.session.forget_failure();
        let added = self.session.add(batch);
        self.say(Reaction {
            lines: added.lines,
            ..Reaction::default()
        });
        // The cache could not be asked (what was looked up before it still queues): said,
        // and what plays goes on.
        if let Some(e) = added.fatal {
            self.notices.message(NoticeKind::Error, e.to_string());
        }
        // One item per file queued, in order (the worker made them from the same batch).
        let items: Vec<QueueItem> = items
            .into_iter()
            .zip(&added.queued)
            .map(|(i, _)| i)
            .collect();
        if items.is_empty() || then == Then::Library {
            return;
        }
        let files = added.queued;
        match then {
            Then::Library => {}
            Then::Queue => {
                self.engine.send(Command::Queue(files));
                self.queue.extend(items);
            }
            Then::Restore => {
                self.engine.send(Command::Queue(files));
                self.queue.extend(items);
                // Paused where the listener was: never a sound until they press play.
                if let Some(r) = self.settings.resume_at.take()
                    && let Some(index) = self.queue.iter().position(|q| q.source == r.file)
                {
                    let at = Duration::from_secs_f64(r.position_ms.max(0.0) / 1000.0);
                    self.engine.send(Command::Cue(index, at));
                }
            }
            Then::PlayNow => {
                let first = self.queue.len();
                self.engine.send(Command::Queue(files));
                self.engine.send(Command::PlayIndex(first));
                self.queue.extend(items);
            }
            Then::Replace => {
                self.engine.send(Command::Load(files));
                if let Some(at) = self.start_at.take() {
                    self.engine.send(Command::Seek(at));
                }
                self.queue = items;
                self.mpris.new_queue();
            }
        }
        self.learn_tags();
    }

    /// Tags the library knows, for queue items the cache had none for (first plays). The
    /// library keys tracks by canonical path, and the file is not resolved here (on the UI
    /// thread, a stalled share could hang it): a file named through a link keeps its name.
    fn learn_tags(&mut self) {
        for q in self.queue.iter_mut().filter(|q| q.object.is_none()) {
            if let Some(t) = self.library.track(&q.source) {
                q.learn(t);
            }
        }
    }

    /// The session's lines as notices: errors and news keyed by their text (the same line
    /// twice shows once), a failed cache as one error.
    fn say(&mut self, r: Reaction) {
        for (line, error) in r.lines {
            let kind = if error {
                NoticeKind::Error
            } else {
                NoticeKind::Info
            };
            self.notices.message(kind, line);
        }
        if let Some(e) = r.fatal {
            self.engine.send(Command::Stop);
            self.notices.message(NoticeKind::Error, e.to_string());
        }
    }

    /// What the session learned in the background: copies committed or failed, corrupt
    /// cached copies found by the full check.
    fn take_session_news(&mut self) {
        let notices: Vec<_> = self.session.notices().try_iter().collect();
        let committed = !notices.is_empty();
        for n in notices {
            let r = self.session.on_notice(n);
            self.say(r);
        }
        let corrupt: Vec<String> = self.session.corrupt().try_iter().collect();
        for hash in corrupt {
            let r = self.session.on_corrupt(Some(hash), &self.engine);
            self.say(r);
        }
        if committed {
            // Copies now known by their content: the cache listing (and the library's
            // cached marks) changed.
            for (i, q) in self.queue.iter_mut().enumerate() {
                if q.hash.is_none() {
                    q.hash = self.session.hash_of(i);
                }
            }
            self.worker.send(Job::Refresh);
        }
    }

    fn take_events(&mut self) {
        let events: Vec<Event> = self.events.try_iter().collect();
        for ev in events {
            let r = self.session.on_event(&ev, &self.engine);
            match ev {
                // The window words the output's own notices (one topic: "back" replaces "lost").
                Event::DeviceLost(why) => self.notices.post(
                    Topic::Output,
                    NoticeKind::Error,
                    format!("audio output lost: {why}; waiting for it to come back"),
                ),
                Event::DeviceReady { device } => self.notices.post(
                    Topic::Output,
                    NoticeKind::Info,
                    format!("audio output on {device}"),
                ),
                Event::DeviceMoved { device } => self.notices.post(
                    Topic::Output,
                    NoticeKind::Info,
                    format!("audio output on {device}"),
                ),
                Event::DeviceFallback { wanted, device } => self.notices.post(
                    Topic::Output,
                    NoticeKind::Info,
                    format!("{wanted} is gone: playing on the default ({device}) until it is back"),
                ),
                Event::OutputError(e) => {
                    self.notices
                        .post(Topic::Output, NoticeKind::Error, e.to_string())
                }
                Event::Stopped | Event::QueueFinished => {
                    self.say(r);
                    self.record_plays();
                }
                Event::Seeked { position, .. } => {
                    self.mpris.seeked(position);
                }
                // An edit (or shuffle): the list, and the session's queue, in the engine's order.
                Event::QueueChanged => {
                    let engine = self.engine.queue();
                    queue_edit::follow(&mut self.queue, &engine);
                    let files: Vec<_> = engine.entries().iter().map(|e| e.path.clone()).collect();
                    self.session.follow(&files);
                }
                _ => self.say(r),
            }
            // A first play scanned the track: into the library, against the user's file.
            for (source, analysis) in self.session.take_analysed() {
                self.lib_worker.send(LibraryJob::StoreAnalysis {
                    source,
                    analysis: Box::new(analysis),
                });
            }
        }
    }

    fn take_picks(&mut self, ctx: &egui::Context) {
        let picks: Vec<_> = self.dialogs.rx.try_iter().collect();
        for p in picks {
            let then = match p.kind {
                Pick::Files => Then::Queue,
                Pick::Folder => Then::Library,
            };
            self.add_paths(p.paths, then, ctx);
        }
    }

    fn take_playlists(&mut self) {
        let outcomes: Vec<_> = self.playlists.rx.try_iter().collect();
        for o in outcomes {
            match o {
                playlists::Outcome::Expanded {
                    files,
                    problems,
                    then,
                } => {
                    for p in problems {
                        self.notices.message(NoticeKind::Error, p);
                    }
                    if !files.is_empty() {
                        self.worker.send(Job::LookUp { paths: files, then });
                    }
                }
                playlists::Outcome::Saved(path) => self.notices.post(
                    Topic::SaveQueue,
                    NoticeKind::Info,
                    format!("saved the queue to {}", path.display()),
                ),
                playlists::Outcome::SaveFailed(e) => {
                    self.notices.post(Topic::SaveQueue, NoticeKind::Error, e)
                }
            }
        }
    }

    /// Files another `reel FILE...` handed over: queued and played now, and the window raised.
    fn take_handed_over(&mut self, ctx: &egui::Context) {
        let batches = self.instance.as_ref().map(|l| l.take()).unwrap_or_default();
        for files in batches {
            ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
            self.add_paths(files, Then::PlayNow, ctx);
        }
    }

    fn handle_drops(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        self.add_paths(dropped, Then::Queue, ctx);
    }

    /// Space, Left/Right arrows, Up/Down arrows, N, P — unless a text field has the keyboard;
    /// Ctrl+F (focus the library filter) always. Taken before the panels draw, so a focused
    /// button does not also see the key.
    fn shortcuts(&mut self, ctx: &egui::Context) {
        if ctx.input_mut(|i| i.consume_key(Modifiers::COMMAND, Key::F)) {
            self.library.focus_filter();
        }
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let pressed = |key: Key| ctx.input_mut(|i| i.consume_key(Modifiers::NONE, key));
        let space = pressed(Key::Space);
        let left = pressed(Key::ArrowLeft);
        let right = pressed(Key::ArrowRight);
        let up = pressed(Key::ArrowUp);
        let down = pressed(Key::ArrowDown);
        let next = pressed(Key::N);
        let prev = pressed(Key::P);
        if space {
            self.play_pause();
        }
        if left {
            self.engine.send(Command::SeekBy(-SEEK_STEP_SECS));
        }
        if right {
            self.engine.send(Command::SeekBy(SEEK_STEP_SECS));
        }
        if up {
            self.set_volume(self.settings.volume + VOLUME_STEP);
        }
        if down {
            self.set_volume(self.settings.volume - VOLUME_STEP);
        }
        if next {
            self.engine.send(Command::Next);
        }
        if prev {
            self.engine.send(Command::Previous);
        }
    }

    // ---- panels -------------------------------------------------------------------------

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        let actions = top_bar::show(
            ui,
            &top_bar::Inputs {
                picking: self.dialogs.is_open(),
                scan: self.scan,
                busy: self.worker.busy(),
            },
            &mut self.settings.show_meters,
            &mut self.settings_window.open,
        );
        for a in actions {
            match a {
                top_bar::Action::AddFiles => self.dialogs.open(Pick::Files, ui.ctx()),
                top_bar::Action::AddFolder => self.dialogs.open(Pick::Folder, ui.ctx()),
            }
        }
        self.notices.show(ui);
    }

    fn settings_window(&mut self, ctx: &egui::Context) {
        let actions = self.settings_window.show(
            ctx,
            &settings_window::Inputs {
                applied_output: &self.applied_output,
                max_size_bytes: self.max_size_bytes,
                cache_dir: self.cache.dir(),
            },
            &mut self.settings.theme,
            &mut self.settings.replaygain,
        );
        for a in actions {
            match a {
                settings_window::Action::ApplyOutput(request) => {
                    self.engine.reconfigure(request.clone());
                    self.settings.device = request.device.clone();
                    self.settings.ring_ms = request.ring_ms;
                    self.settings.period_frames = request.period_frames;
                    self.applied_output = request;
                }
                settings_window::Action::SetMaxSize(cap) => self.worker.send(Job::SetMaxSize(cap)),
                settings_window::Action::Theme(theme) => settings::apply_theme(ctx, theme),
                settings_window::Action::ReplayGain(gain) => {
                    self.engine.send(Command::ReplayGain(gain))
                }
            }
        }
    }

    fn update_title(&mut self, ctx: &egui::Context) {
        let title = match self.current_index().and_then(|i| self.queue.get(i)) {
            Some(q) if q.artist.is_empty() => format!("{} — reel", q.title),
            Some(q) => format!("{} · {} — reel", q.title, q.artist),
            None => "reel".into(),
        };
        if title != self.window_title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.window_title = title;
        }
    }
}

fn bare(ui: &egui::Ui, central: bool) -> egui::Frame {
    let f = if central {
        egui::Frame::central_panel(ui.style())
    } else {
        egui::Frame::side_top_panel(ui.style())
    };
    f.fill(egui::Color32::TRANSPARENT)
}

impl eframe::App for App {
    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        visuals.panel_fill.to_normalized_gamma_f32()
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        if self.signals.as_ref().is_some_and(Watcher::close_requested) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        self.take_reports();
        self.take_events();
        self.take_session_news();
        self.take_picks(&ctx);
        self.take_playlists();
        self.settings_window.poll();
        self.covers.poll(&ctx);

        // With the source's state when the track heard is being copied (waiting for it, its
        // speed, how far ahead of the play head).
        let snap = self.engine.snapshot();
        let track = snap.track;
        self.snap = self.session.show_source(snap, track);
        self.output_problem = self.engine.output_problem();
        let now_s = self.engine.clock_ns() as f64 / 1e9;
        {
            let engine = &self.engine;
            self.history.push(now_s, &self.snap, || engine.episodes());
        }
        self.frames += 1;
        self.share.painted(&self.snap);
        if let Some(secs) = frame.info().cpu_usage {
            self.share.frame_time(secs);
        }

        self.handle_drops(&ctx);
        self.take_handed_over(&ctx);
        self.shortcuts(&ctx);
        self.sync_mpris(&ctx);

        let current = self.current_index();
        let playing_item = current.and_then(|i| self.queue.get(i)).cloned();
        // Covers are keyed by content; a first play's, until it is known, by its file.
        let cover_key = playing_item
            .as_ref()
            .map(|q| q.source.display().to_string())
            .unwrap_or_default();
        self.covers.want(
            &ctx,
            playing_item.as_ref().map(|q| {
                (
                    q.hash.as_deref().unwrap_or(&cover_key),
                    q.object.as_deref().unwrap_or(&q.source),
                    q.cover_art,
                )
            }),
        );
        self.want_waveform(playing_item.as_ref());
        self.update_title(&ctx);

        egui::Panel::top("top-bar")
            .frame(bare(ui, false))
            .show(ui, |ui| {
                ui.add_space(4.0);
                self.top_bar(ui);
                ui.add_space(2.0);
            });
        let mut t_actions = Vec::new();
        egui::Panel::bottom("transport")
            .frame(bare(ui, false))
            .show(ui, |ui| {
                t_actions = self.transport.bar(
                    ui,
                    &BarInputs {
                        snap: &self.snap,
                        now_playing: playing_item.as_ref(),
                        cover: self.covers.texture.as_ref(),
                        waveform: self
                            .waveform
                            .as_ref()
                            .filter(|(h, _)| {
                                playing_item
                                    .as_ref()
                                    .is_some_and(|q| q.hash.as_ref() == Some(h))
                            })
                            .and_then(|(_, w)| w.as_deref()),
                        bit_perfect: current.and_then(|i| {
                            self.engine.bit_perfect(
                                i,
                                self.settings.volume < 1.0,
                                &self.snap.sample_format,
                            )
                        }),
                        volume: self.settings.volume,
                        queue_len: self.queue.len(),
                    },
                );
            });
        if self.settings.show_meters {
            egui::Panel::right("meters")
                .frame(bare(ui, false))
                .resizable(true)
                .default_size(360.0)
                .size_range(280.0..=640.0)
                .show(ui, |ui| {
                    let asked = meters::show(
                        ui,
                        &MeterInputs {
                            snap: &self.snap,
                            history: &self.history,
                            now_s,
                            cache: self.stats.as_ref(),
                            output_problem: self.output_problem.as_deref(),
                        },
                    );
                    if asked.clear_clip {
                        self.engine.clear_clip();
                    }
                });
        }
        egui::Panel::left("queue")
            .frame(bare(ui, false))
            .resizable(true)
            .default_size(260.0)
            .size_range(180.0..=520.0)
            .show(ui, |ui| {
                t_actions.extend(transport::queue_panel(ui, &self.queue, current));
            });
        let mut l_actions = Vec::new();
        egui::CentralPanel::default()
            .frame(bare(ui, true))
            .show(ui, |ui| {
                ui.heading("Library");
                l_actions = self.library.show(
                    ui,
                    &mut self.settings.sort,
                    &mut self.settings.sort_ascending,
                    playing_item.as_ref().map(|q| q.source.as_path()),
                );
            });
        self.share.library(self.library.len(), self.library.shown());
        self.settings_window(&ctx);
        drop_overlay::show(&ctx);

        for a in t_actions {
            self.transport_action(a, &ctx);
        }
        for a in l_actions {
            self.library_action(a);
        }

        // Repaint only while something moves.
        let moving = self.snap.state == PlayState::Playing
            || self.busy()
            || self.dialogs.is_open()
            || self.playlists.is_saving();
        if moving {
            // Minimised or covered, nobody sees the meters: a frame a second keeps the title
            // and the session's bookkeeping going for a fraction of the cost.
            let hidden = ctx.input(|i| {
                let v = i.viewport();
                v.minimized == Some(true) || v.occluded == Some(true)
            });
            ctx.request_repaint_after(if hidden {
                HIDDEN_REPAINT_EVERY
            } else {
                REPAINT_EVERY
            });
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.settings.queue_files = self.queue.iter().map(|q| q.source.clone()).collect();
        // As the engine has them: an MPRIS client may have changed them too.
        self.settings.shuffle = self.snap.shuffle;
        self.settings.repeat = self.snap.repeat;
        // Where the listener is (playing or paused): the next start stands paused there.
        self.settings.resume_at = match self.snap.state {
            PlayState::Stopped => None,
            _ => self.current_index().map(|i| Resume {
                file: self.queue[i].source.clone(),
                position_ms: self.snap.position_ms,
            }),
        };
        self.settings.save(storage);
    }
}

impl Drop for App {
    /// Closing: the metrics log writes its last line, the workers stop, copies under way are
    /// dropped (nothing half-written is left), the engine stops, then plays are recorded and
    /// pins dropped (the session's end, as for `reel play`).
    fn drop(&mut self) {
        if let Some(m) = &mut self.metrics {
            m.finish();
        }
        self.record_plays();
        self.lib_worker.shutdown();
        self.worker.shutdown(true);
        // Before the engine stops: its decoder may be waiting in a copy.
        self.session.end_streams(true, &|| true);
        self.engine.send(Command::Stop);
        for line in self.session.finish(true, self.library_dir.as_deref()) {
            eprintln!("reel: {line}");
        }
    }
}
