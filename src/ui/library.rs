//! The library: every file in the cache, with title, artist, album, duration and format from
//! its tags (the file name when it has no title). A filter box, sortable columns, double-click
//! to play, a context menu to queue or remove from the cache.
//!
//! Long libraries stay smooth: the filtered and sorted view is recomputed only when the
//! entries, the filter or the sort change (not every frame), and the table lays out only the
//! rows on screen (egui_extras' `rows`, which virtualises), so 10,000 entries cost what 30 do.

use std::cmp::Ordering;
use std::sync::Arc;

use eframe::egui::{self, RichText};
use egui_extras::{Column, TableBuilder};

use super::format;
use super::labels;
use super::settings::SortKey;
use super::worker::display_title;
use crate::cache::Entry;

/// What the user asked of the library this frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Queue this cached object and play it now.
    Play(String),
    /// Append it to the queue.
    Queue(String),
    /// Remove it from the cache.
    Remove(String),
}

#[derive(Default)]
pub struct Library {
    entries: Arc<Vec<Entry>>,
    /// Per entry: title (or file name), artist, album, and everything lower-cased for the
    /// filter, computed once per listing.
    rows: Vec<Row>,
    /// Indices into `entries`, filtered and sorted.
    view: Vec<usize>,
    pub filter: String,
    view_for: Option<(String, SortKey, bool)>,
    pub selected: Option<String>,
}

struct Row {
    title: String,
    artist: String,
    album: String,
    format: String,
    haystack: String,
}

impl Library {
    pub fn set_entries(&mut self, entries: Arc<Vec<Entry>>) {
        self.rows = entries
            .iter()
            .map(|e| {
                let title = display_title(e);
                let artist = e.tags.artist.clone().unwrap_or_default();
                let album = e.tags.album.clone().unwrap_or_default();
                let format = format!("{} {} Hz", e.codec, e.rate);
                let haystack =
                    format!("{title}\n{artist}\n{album}\n{}\n{format}", e.name).to_lowercase();
                Row {
                    title,
                    artist,
                    album,
                    format,
                    haystack,
                }
            })
            .collect();
        self.entries = entries;
        self.view_for = None;
        if let Some(sel) = &self.selected
            && !self.entries.iter().any(|e| &e.hash == sel)
        {
            self.selected = None;
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn entry(&self, hash: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.hash == hash)
    }

    /// Rows shown after filtering.
    #[cfg(test)]
    pub fn shown(&self) -> usize {
        self.view.len()
    }

    fn refresh_view(&mut self, sort: SortKey, ascending: bool) {
        let key = (self.filter.clone(), sort, ascending);
        if self.view_for.as_ref() == Some(&key) {
            return;
        }
        let needle = self.filter.trim().to_lowercase();
        let words: Vec<&str> = needle.split_whitespace().collect();
        let mut view: Vec<usize> = (0..self.entries.len())
            .filter(|&i| words.iter().all(|w| self.rows[i].haystack.contains(w)))
            .collect();
        let cmp_text = |a: &str, b: &str| a.to_lowercase().cmp(&b.to_lowercase());
        view.sort_by(|&a, &b| {
            let (ra, rb) = (&self.rows[a], &self.rows[b]);
            let (ea, eb) = (&self.entries[a], &self.entries[b]);
            let o = match sort {
                SortKey::Title => cmp_text(&ra.title, &rb.title),
                SortKey::Artist => cmp_text(&ra.artist, &rb.artist)
                    .then_with(|| cmp_text(&ra.album, &rb.album))
                    .then_with(|| ea.tags.track.cmp(&eb.tags.track)),
                SortKey::Album => {
                    cmp_text(&ra.album, &rb.album).then_with(|| ea.tags.track.cmp(&eb.tags.track))
                }
                SortKey::Duration => ea
                    .duration_secs
                    .partial_cmp(&eb.duration_secs)
                    .unwrap_or(Ordering::Equal),
                SortKey::Format => cmp_text(&ra.format, &rb.format),
            }
            .then_with(|| cmp_text(&ra.title, &rb.title));
            if ascending { o } else { o.reverse() }
        });
        self.view = view;
        self.view_for = Some(key);
    }

    /// The library panel. `playing`: the hash heard now (shown bold).
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        sort: &mut SortKey,
        ascending: &mut bool,
        playing: Option<&str>,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.filter)
                    .hint_text(labels::FILTER_HINT)
                    .desired_width(240.0),
            )
            .on_hover_text("Show only entries whose title, artist, album, file name or format contain every word typed.");
            if !self.filter.is_empty() && ui.button("x").on_hover_text("Clear the filter").clicked() {
                self.filter.clear();
            }
            ui.label(format!("{} of {} entries", self.shown_after(*sort, *ascending), self.len()));
            if let Some(sel) = self.selected.clone()
                && ui
                    .button(labels::REMOVE_FROM_CACHE)
                    .on_hover_text("Delete the selected entry's cached copy (the original file is not touched). Entries that are queued or playing are kept.")
                    .clicked()
            {
                actions.push(Action::Remove(sel));
            }
        });
        self.refresh_view(*sort, *ascending);
        if self.entries.is_empty() {
            ui.add_space(24.0);
            ui.vertical_centered(|ui| {
                ui.label(
                    RichText::new("The library is empty. Drop audio files or folders here, or use “Add files…”.")
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
            .column(Column::remainder().at_least(140.0).clip(true))
            .column(Column::initial(160.0).at_least(60.0).clip(true))
            .column(Column::initial(160.0).at_least(60.0).clip(true))
            .column(Column::initial(64.0).at_least(48.0))
            .column(Column::initial(110.0).at_least(60.0).clip(true))
            .header(row_h + 2.0, |mut header| {
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
                    let e = &self.entries[i];
                    let r = &self.rows[i];
                    let is_playing = playing == Some(e.hash.as_str());
                    row.set_selected(self.selected.as_deref() == Some(e.hash.as_str()));
                    let text = |s: &str| {
                        if is_playing {
                            RichText::new(s).strong()
                        } else {
                            RichText::new(s)
                        }
                    };
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
                        self.selected = Some(e.hash.clone());
                    }
                    if resp.double_clicked() {
                        actions.push(Action::Play(e.hash.clone()));
                    }
                    let source = e
                        .original()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| e.name.clone());
                    resp.on_hover_text(source).context_menu(|ui| {
                        if ui.button("Play now").clicked() {
                            actions.push(Action::Play(e.hash.clone()));
                            ui.close();
                        }
                        if ui.button("Add to queue").clicked() {
                            actions.push(Action::Queue(e.hash.clone()));
                            ui.close();
                        }
                        if ui.button(labels::REMOVE_FROM_CACHE).clicked() {
                            actions.push(Action::Remove(e.hash.clone()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{SourceRef, Tags};

    fn entries(n: usize) -> Arc<Vec<Entry>> {
        Arc::new(
            (0..n)
                .map(|i| Entry {
                    hash: format!("{i:064x}"),
                    ext: "flac".into(),
                    size: 1000,
                    check: String::new(),
                    name: format!("file{i}.flac"),
                    sources: vec![SourceRef {
                        path: format!("/music/file{i}.flac").into(),
                        size: 1000,
                        mtime_s: 0,
                        mtime_ns: 0,
                    }],
                    codec: "flac".into(),
                    container: "flac".into(),
                    rate: 44_100,
                    channels: 2,
                    duration_secs: Some(i as f64),
                    tags: Tags {
                        title: Some(format!("Track {i}")),
                        artist: Some(if i % 2 == 0 { "Alpha" } else { "Beta" }.into()),
                        album: None,
                        track: None,
                        cover_art: false,
                    },
                    imported_at_ms: 0,
                    last_played_ms: None,
                    play_count: 0,
                })
                .collect(),
        )
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
        lib.set_entries(entries(10_000));
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
        lib.set_entries(entries(100));
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
}
