//! The library view: the user's collection (`crate::library`, listed by the library worker,
//! `library_worker.rs`), not the cache. Title (the file name when there is none), artist,
//! album, duration and format; a mark for tracks that are cached (C) and for those whose file
//! is missing (!). A filter box, an artist and an album filter, sortable columns,
//! double-click to play, a context menu to queue, to remove from the library, or to remove
//! the cached copy (two separate things). Runs on the UI thread: it only draws what the
//! worker listed.
//!
//! Long libraries stay smooth: the filtered and sorted view is recomputed only when the
//! tracks, the filters or the sort change (not every frame); the library is sorted only when
//! the tracks, the sort or the artist and album filters change, so a key typed in the filter
//! box is one pass over the rows shown, a backspace goes back to the view kept for the
//! shorter filter, and another filter is one pass over the sorted tracks, never a sort; and the
//! table lays out only the rows on screen (egui_extras' `rows`, which virtualises), so 100,000
//! tracks cost what 30 do.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui::{self, RichText};
use egui_extras::{Column, TableBuilder};
use memchr::memmem::Finder;

use super::format;
use super::labels;
use super::settings::SortKey;
use crate::library::Track;

/// What the user asked of the library this frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Queue this file and play it now.
    Play(PathBuf),
    /// Append it to the queue.
    Queue(PathBuf),
    /// Remove the track from the library (the file and its cached copy stay).
    RemoveFromLibrary(PathBuf),
    /// Remove its cached copy, by content hash (the track stays in the library).
    RemoveCachedCopy(String),
}

#[derive(Default)]
pub struct Library {
    tracks: Arc<Vec<Track>>,
    /// Per track: title (or file name), artist, album, and sort keys, computed once per
    /// listing.
    rows: Vec<Row>,
    /// Every row's lower-cased text (title, artist, album, album artist, file name, format),
    /// row after row, each ending in '\n': the filter searches this once per word, in one
    /// pass of memchr's SIMD searcher, instead of once per row. Per row, the searcher's
    /// start-up and 100,000 scattered strings cost more than the search itself.
    hay: String,
    /// Where each row's text ends in `hay` (its '\n'), in row order.
    hay_ends: Vec<usize>,
    /// Indices into `tracks`, ordered by path: [`Library::track`] finds a path by binary
    /// search. It is asked every frame while a track is selected and for each queue entry
    /// whose tags the cache lacks; a scan of 100,000 tracks each time showed in frame time.
    by_path: Vec<u32>,
    /// Indices into `tracks`, filtered and sorted.
    view: Vec<usize>,
    /// Indices into `tracks` that pass the artist and album filters, sorted: what the text
    /// filter picks from, so a change of the text (typing, backspace, clearing) is one pass
    /// over it and never a sort. Sorted again only when the tracks, those filters or the
    /// sort change.
    sorted: Vec<usize>,
    sorted_for: Option<SortedKey>,
    /// The views of the shorter filters typed on the way to this one (same artist, album and
    /// sort), shortest first: a backspace goes back to one of them instead of filtering again.
    typed: Vec<(String, Vec<usize>)>,
    pub filter: String,
    /// Only this artist (or album artist) / album.
    pub artist: Option<String>,
    pub album: Option<String>,
    artists: Vec<String>,
    albums: Vec<String>,
    view_for: Option<ViewKey>,
    pub selected: Option<PathBuf>,
    /// Ctrl+F was pressed: the filter box takes the keyboard at the next frame.
    focus_filter: bool,
}

type ViewKey = (String, Option<String>, Option<String>, SortKey, bool);
type SortedKey = (Option<String>, Option<String>, SortKey, bool);

struct Row {
    title: String,
    artist: String,
    album: String,
    format: String,
    /// Lower-cased title, artist, album and format: what sorting compares, computed once
    /// here so that a sort of 100,000 rows allocates nothing.
    keys: [String; 4],
}

impl Library {
    pub fn set_tracks(&mut self, tracks: Arc<Vec<Track>>) {
        self.hay.clear();
        self.hay_ends.clear();
        self.rows = tracks
            .iter()
            .map(|t| {
                let title = t.display_title();
                let artist = t.artist.clone().unwrap_or_default();
                let album = t.album.clone().unwrap_or_default();
                let format = format!("{} {} Hz", t.codec, t.rate);
                let name = t
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let text = format!(
                    "{title}\n{artist}\n{album}\n{}\n{name}\n{format}",
                    t.album_artist.as_deref().unwrap_or("")
                );
                self.hay.push_str(&text.to_lowercase());
                self.hay_ends.push(self.hay.len());
                self.hay.push('\n');
                let keys = [&title, &artist, &album, &format].map(|s| s.to_lowercase());
                Row {
                    title,
                    artist,
                    album,
                    format,
                    keys,
                }
            })
            .collect();
        let distinct = |f: &dyn Fn(&Track) -> Option<&String>| {
            let mut v: Vec<String> = tracks.iter().filter_map(f).cloned().collect();
            v.sort_by_key(|s| s.to_lowercase());
            v.dedup();
            v
        };
        self.artists = distinct(&|t| t.artist.as_ref());
        self.albums = distinct(&|t| t.album.as_ref());
        self.by_path = (0..tracks.len() as u32).collect();
        self.by_path
            .sort_unstable_by(|&a, &b| tracks[a as usize].path.cmp(&tracks[b as usize].path));
        self.tracks = tracks;
        self.view_for = None;
        self.sorted_for = None;
        if let Some(sel) = self.selected.clone()
            && self.track(&sel).is_none()
        {
            self.selected = None;
        }
    }

    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    /// Gives the filter box the keyboard when the panel next draws (Ctrl+F).
    pub fn focus_filter(&mut self) {
        self.focus_filter = true;
    }

    /// The track at `path` (canonical, as the library keys it), if listed.
    pub fn track(&self, path: &std::path::Path) -> Option<&Track> {
        let k = self
            .by_path
            .binary_search_by(|&i| self.tracks[i as usize].path.as_path().cmp(path))
            .ok()?;
        Some(&self.tracks[self.by_path[k] as usize])
    }

    /// Tracks shown after filtering, in order (refreshed by the last frame).
    #[cfg(test)]
    pub fn shown_tracks(&self) -> impl Iterator<Item = &Track> {
        self.view.iter().map(|&i| &self.tracks[i])
    }

    /// Rows shown after filtering (as the last frame drew them).
    pub fn shown(&self) -> usize {
        self.view.len()
    }

    fn refresh_view(&mut self, sort: SortKey, ascending: bool) {
        let key = (
            self.filter.clone(),
            self.artist.clone(),
            self.album.clone(),
            sort,
            ascending,
        );
        if self.view_for.as_ref() == Some(&key) {
            return;
        }
        let needle = self.filter.trim().to_lowercase();
        let old_needle = self
            .view_for
            .as_ref()
            .filter(|old| (&old.1, &old.2, old.3, old.4) == (&key.1, &key.2, key.3, key.4))
            .map(|old| old.0.trim().to_lowercase());
        match old_needle {
            // Typing on: everything the longer filter keeps, the shorter one kept, in the same
            // order, so the view is narrowed in place (one pass over the rows shown, not over
            // the library); the shorter filter's view is kept for a backspace.
            Some(old) if needle.starts_with(old.as_str()) => {
                if needle != old {
                    self.typed.push((old, self.view.clone()));
                }
                let mut view = std::mem::take(&mut self.view);
                self.narrow(&mut view, &needle);
                self.view = view;
                self.view_for = Some(key);
                return;
            }
            // Backspace, or another word: back to the longest view kept that the new filter
            // extends, narrowed from there.
            Some(_) => {
                while self
                    .typed
                    .last()
                    .is_some_and(|(n, _)| !needle.starts_with(n.as_str()))
                {
                    self.typed.pop();
                }
                if let Some((n, view)) = self.typed.pop() {
                    self.view = view;
                    if n != needle {
                        self.typed.push((n, self.view.clone()));
                        let mut view = std::mem::take(&mut self.view);
                        self.narrow(&mut view, &needle);
                        self.view = view;
                    }
                    self.view_for = Some(key);
                    return;
                }
            }
            None => self.typed.clear(),
        }
        let sorted_key = (key.1.clone(), key.2.clone(), key.3, key.4);
        if self.sorted_for.as_ref() != Some(&sorted_key) {
            self.sort(sort, ascending);
            self.sorted_for = Some(sorted_key);
        }
        let mut view = self.sorted.clone();
        self.narrow(&mut view, &needle);
        self.view = view;
        self.view_for = Some(key);
    }

    /// Keeps the rows of `view` whose text holds every word of `needle` (lower-cased). A
    /// small view is checked row by row; a large one by one search through `hay` per word,
    /// which at 100,000 rows is about six times faster than a search per row.
    fn narrow(&self, view: &mut Vec<usize>, needle: &str) {
        let words: Vec<Finder> = needle.split_whitespace().map(Finder::new).collect();
        if words.is_empty() {
            return;
        }
        if view.len() * 8 < self.hay_ends.len() {
            view.retain(|&i| {
                let text = self.row_text(i);
                words.iter().all(|w| w.find(text).is_some())
            });
        } else {
            let hits = self.rows_matching(&words);
            view.retain(|&i| hits[i]);
        }
    }

    /// Row `i`'s lower-cased text in `hay`.
    fn row_text(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.hay_ends[i - 1] + 1 };
        &self.hay.as_bytes()[start..self.hay_ends[i]]
    }

    /// Per row, whether its text holds every one of `words`: one search through `hay` per
    /// word; after a hit the search goes on from the next row, so a word found many times in
    /// a row costs one search.
    fn rows_matching(&self, words: &[Finder]) -> Vec<bool> {
        let hay = self.hay.as_bytes();
        let mut all = vec![true; self.hay_ends.len()];
        for finder in words {
            let mut hit = vec![false; self.hay_ends.len()];
            let (mut pos, mut row) = (0, 0);
            while pos < hay.len()
                && let Some(k) = finder.find(&hay[pos..])
            {
                let at = pos + k;
                // Words hold no '\n', so a match ends in the row it starts in.
                while self.hay_ends[row] < at {
                    row += 1;
                }
                hit[row] = true;
                pos = self.hay_ends[row] + 1;
            }
            for (a, h) in all.iter_mut().zip(hit) {
                *a &= h;
            }
        }
        all
    }

    /// `sorted`: the tracks that pass the artist and album filters, in the order asked.
    fn sort(&mut self, sort: SortKey, ascending: bool) {
        let tracks = &self.tracks;
        let by_artist = |t: &Track| {
            self.artist
                .as_ref()
                .is_none_or(|a| t.artist.as_ref() == Some(a) || t.album_artist.as_ref() == Some(a))
        };
        let by_album = |t: &Track| {
            self.album
                .as_ref()
                .is_none_or(|a| t.album.as_ref() == Some(a))
        };
        let mut view: Vec<usize> = (0..tracks.len())
            .filter(|&i| by_artist(&tracks[i]) && by_album(&tracks[i]))
            .collect();
        const TITLE: usize = 0;
        const ARTIST: usize = 1;
        const ALBUM: usize = 2;
        const FORMAT: usize = 3;
        view.sort_by(|&a, &b| {
            let (ka, kb) = (&self.rows[a].keys, &self.rows[b].keys);
            let (ea, eb) = (&tracks[a], &tracks[b]);
            let o = match sort {
                SortKey::Title => ka[TITLE].cmp(&kb[TITLE]),
                SortKey::Artist => ka[ARTIST]
                    .cmp(&kb[ARTIST])
                    .then_with(|| ka[ALBUM].cmp(&kb[ALBUM]))
                    .then_with(|| ea.disc.cmp(&eb.disc))
                    .then_with(|| ea.track.cmp(&eb.track)),
                SortKey::Album => ka[ALBUM]
                    .cmp(&kb[ALBUM])
                    .then_with(|| ea.disc.cmp(&eb.disc))
                    .then_with(|| ea.track.cmp(&eb.track)),
                SortKey::Duration => ea
                    .duration_secs
                    .partial_cmp(&eb.duration_secs)
                    .unwrap_or(Ordering::Equal),
                SortKey::Format => ka[FORMAT].cmp(&kb[FORMAT]),
            }
            .then_with(|| ka[TITLE].cmp(&kb[TITLE]));
            if ascending { o } else { o.reverse() }
        });
        self.sorted = view;
    }

    /// The artist and album filters.
    fn filters(&mut self, ui: &mut egui::Ui) {
        for (label, choice, options) in [
            ("Artist", &mut self.artist, &self.artists),
            ("Album", &mut self.album, &self.albums),
        ] {
            egui::ComboBox::from_label(label)
                .selected_text(choice.clone().unwrap_or_else(|| format!("All ({label})")))
                .width(150.0)
                .show_ui(ui, |ui| {
                    ui.selectable_value(choice, None, format!("All ({label})"));
                    for o in options {
                        ui.selectable_value(choice, Some(o.clone()), o);
                    }
                });
        }
    }

    /// The library panel. `playing`: the file heard now (shown bold).
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        sort: &mut SortKey,
        ascending: &mut bool,
        playing: Option<&std::path::Path>,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        // Wrapped: with the filters, the bar is wider than a narrow library panel, and a button
        // past its edge would be drawn clipped and could not be clicked.
        ui.horizontal_wrapped(|ui| {
            let filter = ui.add(
                egui::TextEdit::singleline(&mut self.filter)
                    .hint_text(labels::FILTER_HINT)
                    .desired_width(240.0),
            );
            // Named for screen readers (the hint is only a placeholder), which is also how the
            // tests find it.
            ui.ctx()
                .accesskit_node_builder(filter.id, |node| node.set_label(labels::FILTER_HINT));
            if std::mem::take(&mut self.focus_filter) {
                filter.request_focus();
            }
            filter.on_hover_text("Show only tracks whose title, artist, album, file name or format contain every word typed (Ctrl+F).");
            if !self.filter.is_empty() && ui.button("x").on_hover_text("Clear the filter").clicked() {
                self.filter.clear();
            }
            self.filters(ui);
            ui.label(format!("{} of {} tracks", self.shown_after(*sort, *ascending), self.len()));
            if let Some(sel) = self.selected.clone() {
                if ui
                    .button(labels::REMOVE_FROM_LIBRARY)
                    .on_hover_text("Remove the selected track from the library. The file and its cached copy stay.")
                    .clicked()
                {
                    actions.push(Action::RemoveFromLibrary(sel.clone()));
                }
                if let Some(hash) = self.track(&sel).filter(|t| t.cached).and_then(|t| t.content_hash.clone())
                    && ui
                        .button(labels::REMOVE_FROM_CACHE)
                        .on_hover_text("Delete the selected track's cached copy (the original file is not touched; the track stays in the library). Tracks that are queued or playing are kept.")
                        .clicked()
                {
                    actions.push(Action::RemoveCachedCopy(hash));
                }
            }
        });
        self.refresh_view(*sort, *ascending);
        if self.tracks.is_empty() {
            ui.add_space(24.0);
            ui.vertical_centered(|ui| {
                ui.label(
                    RichText::new("The library is empty. Drop audio files or folders here, or use “Add folder…”.")
                        .size(15.0),
                );
            });
            return actions;
        }

        let row_h = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
        let mut clicked_header = None;
        TableBuilder::new(ui)
            .id_salt("library-table")
            .striped(true)
            .resizable(true)
            .sense(egui::Sense::click())
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
            .column(Column::exact(22.0))
            .column(Column::remainder().at_least(140.0).clip(true))
            .column(Column::initial(160.0).at_least(60.0).clip(true))
            .column(Column::initial(160.0).at_least(60.0).clip(true))
            .column(Column::initial(64.0).at_least(48.0))
            .column(Column::initial(110.0).at_least(60.0).clip(true))
            .header(row_h + 2.0, |mut header| {
                header.col(|ui| {
                    ui.label("")
                        .on_hover_text("C: cached (plays from the cache); !: the file is missing");
                });
                for (key, name) in [
                    (SortKey::Title, "Title"),
                    (SortKey::Artist, "Artist"),
                    (SortKey::Album, "Album"),
                    (SortKey::Duration, "Duration"),
                    (SortKey::Format, "Format"),
                ] {
                    header.col(|ui| {
                        let arrow = if *sort == key {
                            if *ascending { " ^" } else { " v" }
                        } else {
                            ""
                        };
                        if ui
                            .add(
                                egui::Button::new(RichText::new(format!("{name}{arrow}")).strong())
                                    .frame(false),
                            )
                            .on_hover_text("Sort by this column (again: reverse)")
                            .clicked()
                        {
                            clicked_header = Some(key);
                        }
                    });
                }
            })
            .body(|body| {
                body.rows(row_h, self.view.len(), |mut row| {
                    let i = self.view[row.index()];
                    let e = &self.tracks[i];
                    let r = &self.rows[i];
                    let is_playing = playing == Some(e.path.as_path());
                    row.set_selected(self.selected.as_deref() == Some(e.path.as_path()));
                    let text = |s: &str| {
                        if is_playing {
                            RichText::new(s).strong()
                        } else {
                            RichText::new(s)
                        }
                    };
                    row.col(|ui| {
                        ui.add(egui::Label::new(mark(e)).selectable(false));
                    });
                    row.col(|ui| {
                        let t = if is_playing {
                            format!("> {}", r.title)
                        } else {
                            r.title.clone()
                        };
                        ui.add(egui::Label::new(text(&t)).selectable(false).truncate());
                    });
                    row.col(|ui| {
                        ui.add(
                            egui::Label::new(text(&r.artist))
                                .selectable(false)
                                .truncate(),
                        );
                    });
                    row.col(|ui| {
                        ui.add(
                            egui::Label::new(text(&r.album))
                                .selectable(false)
                                .truncate(),
                        );
                    });
                    row.col(|ui| {
                        let d = e
                            .duration_secs
                            .map(|s| format::clock_ms(s * 1000.0))
                            .unwrap_or_default();
                        ui.add(egui::Label::new(text(&d)).selectable(false));
                    });
                    row.col(|ui| {
                        ui.add(
                            egui::Label::new(text(&r.format))
                                .selectable(false)
                                .truncate(),
                        );
                    });
                    let resp = row.response();
                    if resp.clicked() {
                        self.selected = Some(e.path.clone());
                    }
                    if resp.double_clicked() {
                        actions.push(Action::Play(e.path.clone()));
                    }
                    let mut hover = e.path.display().to_string();
                    if e.source_missing {
                        hover.push_str(if e.cached {
                            "\nthe file is missing; its cached copy plays"
                        } else {
                            "\nthe file is missing"
                        });
                    }
                    resp.on_hover_text(hover).context_menu(|ui| {
                        if ui.button("Play now").clicked() {
                            actions.push(Action::Play(e.path.clone()));
                            ui.close();
                        }
                        if ui.button("Add to queue").clicked() {
                            actions.push(Action::Queue(e.path.clone()));
                            ui.close();
                        }
                        if ui.button(labels::REMOVE_FROM_LIBRARY).clicked() {
                            actions.push(Action::RemoveFromLibrary(e.path.clone()));
                            ui.close();
                        }
                        if let Some(h) = e.content_hash.clone().filter(|_| e.cached)
                            && ui.button(labels::REMOVE_FROM_CACHE).clicked()
                        {
                            actions.push(Action::RemoveCachedCopy(h));
                            ui.close();
                        }
                    });
                });
            });
        if let Some(key) = clicked_header {
            if *sort == key {
                *ascending = !*ascending;
            } else {
                *sort = key;
                *ascending = true;
            }
        }
        actions
    }

    fn shown_after(&mut self, sort: SortKey, ascending: bool) -> usize {
        self.refresh_view(sort, ascending);
        self.view.len()
    }
}

/// The mark column: C cached, ! missing.
fn mark(t: &Track) -> &'static str {
    match (t.cached, t.source_missing) {
        (true, true) => "C!",
        (true, false) => "C",
        (false, true) => "!",
        (false, false) => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracks(n: usize) -> Arc<Vec<Track>> {
        Arc::new(
            (0..n)
                .map(|i| Track {
                    id: i as i64,
                    path: format!("/music/file{i}.flac").into(),
                    size: 1000,
                    mtime: (0, 0),
                    title: Some(format!("Track {i}")),
                    artist: Some(if i % 2 == 0 { "Alpha" } else { "Beta" }.into()),
                    album: Some(format!("Album {}", i % 3)),
                    album_artist: None,
                    track: None,
                    disc: None,
                    year: None,
                    genre: None,
                    has_cover: false,
                    codec: "flac".into(),
                    container: "flac".into(),
                    rate: 44_100,
                    channels: 2,
                    bit_depth: Some(16),
                    duration_secs: Some(i as f64),
                    play_count: 0,
                    last_played_ms: None,
                    added_ms: 0,
                    content_hash: None,
                    cached: i % 5 == 0,
                    loudness_lufs: None,
                    true_peak_dbtp: None,
                    loudness_range_lu: None,
                    loudness_scanned: false,
                    source_missing: i % 7 == 0,
                })
                .collect(),
        )
    }

    #[test]
    fn every_listed_path_finds_its_own_track_and_an_unlisted_one_none() {
        let mut lib = Library::default();
        // Listed in id order, which is not path order ("file10" sorts before "file2").
        let listed = tracks(25);
        lib.set_tracks(listed.clone());
        for t in listed.iter() {
            assert_eq!(lib.track(&t.path).map(|f| f.id), Some(t.id));
        }
        assert!(
            lib.track(std::path::Path::new("/music/file25.flac"))
                .is_none()
        );
        assert!(lib.track(std::path::Path::new("/music")).is_none());
    }

    #[test]
    fn a_selection_whose_track_left_the_library_is_dropped() {
        let mut lib = Library::default();
        lib.set_tracks(tracks(10));
        lib.selected = Some("/music/file9.flac".into());
        lib.set_tracks(tracks(10));
        assert!(lib.selected.is_some());
        lib.set_tracks(tracks(9));
        assert!(lib.selected.is_none());
    }

    /// Texts drawn in one frame of the library panel on a 1280×800 screen.
    fn drawn_texts(lib: &mut Library, sort: &mut SortKey, asc: &mut bool) -> Vec<String> {
        let ctx = egui::Context::default();
        let mut texts = Vec::new();
        for _ in 0..2 {
            let input = egui::RawInput {
                screen_rect: Some(egui::Rect::from_min_size(
                    egui::Pos2::ZERO,
                    egui::vec2(1280.0, 800.0),
                )),
                ..Default::default()
            };
            let mut out = ctx.run_ui(input, |ui| {
                egui::CentralPanel::default().show(ui, |ui| {
                    lib.show(ui, sort, asc, None);
                });
            });
            // No renderer here: the font atlas upload is dropped on purpose.
            out.textures_delta.clear();
            texts = out
                .shapes
                .iter()
                .filter_map(|c| match &c.shape {
                    egui::Shape::Text(t) => Some(t.galley.text().to_string()),
                    _ => None,
                })
                .collect();
        }
        texts
    }

    #[test]
    fn ten_thousand_entries_lay_out_only_the_rows_on_screen() {
        let mut lib = Library::default();
        lib.set_tracks(tracks(10_000));
        let (mut sort, mut asc) = (SortKey::Title, true);
        let texts = drawn_texts(&mut lib, &mut sort, &mut asc);
        let rows = texts.iter().filter(|t| t.starts_with("Track ")).count();
        assert!(rows > 10, "only {rows} rows drawn");
        assert!(rows < 100, "{rows} rows drawn for a screen that shows ~35");
        assert_eq!(lib.shown(), 10_000);
    }

    #[test]
    fn the_filter_keeps_entries_matching_every_word_and_sorting_reverses() {
        let mut lib = Library::default();
        lib.set_tracks(tracks(100));
        lib.filter = "BETA 7".into();
        let (mut sort, mut asc) = (SortKey::Duration, false);
        let texts = drawn_texts(&mut lib, &mut sort, &mut asc);
        // Beta (odd i) with a 7 in its number (title and file name), longest first.
        let expected: Vec<usize> = (0..100)
            .filter(|i| i % 2 == 1 && i.to_string().contains('7'))
            .collect();
        assert_eq!(lib.shown(), expected.len());
        let first = texts.iter().find(|t| t.starts_with("Track ")).unwrap();
        assert_eq!(first, &format!("Track {}", expected.last().unwrap()));
    }

    #[test]
    fn the_artist_and_album_filters_narrow_the_view_and_marks_show_cached_and_missing() {
        let mut lib = Library::default();
        lib.set_tracks(tracks(30));
        lib.artist = Some("Alpha".into());
        lib.album = Some("Album 0".into());
        let (mut sort, mut asc) = (SortKey::Duration, true);
        let texts = drawn_texts(&mut lib, &mut sort, &mut asc);
        // Even i (Alpha) with i % 3 == 0 (Album 0): 0, 6, 12, 18, 24.
        let shown: Vec<String> = lib.shown_tracks().map(|t| t.display_title()).collect();
        assert_eq!(
            shown,
            ["Track 0", "Track 6", "Track 12", "Track 18", "Track 24"]
        );
        // Track 0 is both cached (i % 5) and missing (i % 7).
        assert!(texts.iter().any(|t| t == "C!"), "{texts:?}");
        lib.artist = None;
        lib.album = None;
        drawn_texts(&mut lib, &mut sort, &mut asc);
        assert_eq!(lib.shown(), 30);
    }

    #[test]
    fn changing_the_sort_and_filters_in_any_order_shows_what_filtering_afresh_shows() {
        let mut typed = Library::default();
        typed.set_tracks(tracks(200));
        let mut fresh = Library::default();
        let steps: [(&str, SortKey, bool, Option<&str>); 8] = [
            ("1", SortKey::Title, true, None),
            ("", SortKey::Title, true, None),
            ("1", SortKey::Duration, false, None),
            ("", SortKey::Duration, false, None),
            ("", SortKey::Duration, false, Some("Beta")),
            ("2", SortKey::Duration, false, Some("Beta")),
            ("", SortKey::Album, true, Some("Beta")),
            ("track", SortKey::Album, true, None),
        ];
        for (text, sort, asc, artist) in steps {
            let (mut sort, mut asc) = (sort, asc);
            typed.filter = text.into();
            typed.artist = artist.map(Into::into);
            drawn_texts(&mut typed, &mut sort, &mut asc);
            fresh.set_tracks(typed.tracks.clone()); // forgets the view and the sort
            fresh.filter = text.into();
            fresh.artist = artist.map(Into::into);
            drawn_texts(&mut fresh, &mut sort, &mut asc);
            let paths = |l: &Library| l.shown_tracks().map(|t| t.path.clone()).collect::<Vec<_>>();
            assert!(!paths(&fresh).is_empty());
            assert_eq!(
                paths(&typed),
                paths(&fresh),
                "at {text:?} {sort:?} {asc} {artist:?}"
            );
        }
    }

    #[test]
    fn narrowing_the_filter_while_typing_shows_what_filtering_afresh_shows() {
        let (mut sort, mut asc) = (SortKey::Album, false);
        let mut typed = Library::default();
        typed.set_tracks(tracks(200));
        let mut fresh = Library::default();
        fresh.set_tracks(tracks(200));
        for text in [
            "b", "be", "beta", "beta ", "beta 1", "beta 19", "beta 1", "beta 12", "beta", "b",
            "al", "a", "alpha 3", "", "1", "",
        ] {
            typed.filter = text.into();
            drawn_texts(&mut typed, &mut sort, &mut asc);
            fresh.set_tracks(fresh.tracks.clone()); // forgets the view: filters afresh
            fresh.filter = text.into();
            drawn_texts(&mut fresh, &mut sort, &mut asc);
            let paths = |l: &Library| l.shown_tracks().map(|t| t.path.clone()).collect::<Vec<_>>();
            assert_eq!(paths(&typed), paths(&fresh), "after typing {text:?}");
        }
    }
    #[test]
    fn the_filter_finds_what_a_search_of_each_row_finds_on_large_and_small_views() {
        let mut lib = Library::default();
        lib.set_tracks(tracks(400));
        let naive = |lib: &Library, view: &[usize], needle: &str| -> Vec<usize> {
            view.iter()
                .copied()
                .filter(|&i| {
                    let text = String::from_utf8_lossy(lib.row_text(i)).into_owned();
                    needle.split_whitespace().all(|w| text.contains(w))
                })
                .collect()
        };
        let all: Vec<usize> = (0..400).collect();
        let small: Vec<usize> = (0..400).step_by(17).collect(); // 24 rows: checked row by row
        for needle in [
            "track 0",
            "track 399",
            "1",
            "alpha album 2",
            "flac 44100",
            "file3",
            "zzz",
            "track 1 beta",
        ] {
            for view in [&all, &small] {
                let mut got = view.clone();
                lib.narrow(&mut got, needle);
                assert_eq!(
                    got,
                    naive(&lib, view, needle),
                    "{needle:?} on {} rows",
                    view.len()
                );
            }
        }
        // The first and the last row are found too (no row boundary is missed).
        let mut got = all.clone();
        lib.narrow(&mut got, "file0.flac");
        assert_eq!(got, [0]);
        let mut got = all.clone();
        lib.narrow(&mut got, "file399.flac");
        assert_eq!(got, [399]);
    }
}
