//! What an imported file is: the engine's own probe (`Source::open`, which also decides
//! whether reel can play it at all and why not) plus its tags, read here with symphonia's
//! metadata API because the engine has no use for them. The library (`crate::library`) reads
//! its tags here too, with the few more it keeps ([`ExtraTags`]).

use std::fs::File;
use std::path::Path;

use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::{
    MetadataContainer, MetadataOptions, MetadataRevision, StandardTag, StandardVisualKey, Visual,
};

use super::index::Tags;
use crate::engine::source::{SOURCE_BUFFER_BYTES, Source};
use crate::error::FileError;

/// What the probe found.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    pub codec: String,
    pub container: String,
    pub rate: u32,
    pub channels: u16,
    pub duration_secs: Option<f64>,
    pub tags: Tags,
    /// What the library keeps beyond the cache's tags (the cache ignores it).
    pub extra: ExtraTags,
}

/// Tags and format details that the library keeps and the cache index does not: read in the
/// same pass as [`Tags`], so the library has no tag reader of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraTags {
    pub album_artist: Option<String>,
    pub disc: Option<u64>,
    /// The year of the recording or release (the first four digits of a date tag).
    pub year: Option<u32>,
    pub genre: Option<String>,
    /// Bits per sample of the audio track, when the container or codec says.
    pub bits_per_sample: Option<u32>,
}

/// Probes `path` as the engine would open it; a file reel cannot play gets the same error
/// (`FileError`, one clear line) that playing it would give.
pub fn probe(path: &Path) -> Result<Probed, FileError> {
    let source = Source::open(path)?;
    let info = source.info().clone();
    drop(source);
    let (tags, extra) = read_all(path).unwrap_or_default();
    Ok(Probed::of(&info, tags, extra))
}

/// [`probe`] of the file at `actual` (a temp file in the cache) as if it were `given` (its
/// name in errors, its extension as the format hint).
pub fn probe_open(given: &Path, actual: &Path) -> Result<Probed, FileError> {
    let file = File::open(actual)
        .map_err(|e| FileError::new(given, crate::error::FileErrorKind::from_io(&e)))?;
    let source = Source::from_media_source(given, Box::new(file))?;
    let info = source.info().clone();
    drop(source);
    let (tags, extra) = open_for_metadata_as(actual, given)
        .map(|mut f| tags_of(&mut *f))
        .unwrap_or_default();
    Ok(Probed::of(&info, tags, extra))
}

impl Probed {
    fn of(info: &crate::engine::source::SourceInfo, tags: Tags, extra: ExtraTags) -> Probed {
        Probed {
            codec: info.codec.clone(),
            container: info.container.clone(),
            rate: info.rate,
            channels: info.channels,
            duration_secs: info.duration_secs(),
            tags,
            extra,
        }
    }
}

/// `path` probed by symphonia for its metadata (tags and pictures), with the extension as a
/// hint; `None` when it cannot be opened or probed. Shared by the tag reader and the window's
/// cover loader.
pub fn open_for_metadata(path: &Path) -> Option<Box<dyn FormatReader>> {
    open_for_metadata_as(path, path)
}

/// [`open_for_metadata`] of the file at `actual`, hinted by `hint`'s extension.
fn open_for_metadata_as(actual: &Path, hint_path: &Path) -> Option<Box<dyn FormatReader>> {
    let path = hint_path;
    let file = File::open(actual).ok()?;
    let mss = MediaSourceStream::new(
        Box::new(file),
        MediaSourceStreamOptions {
            buffer_len: SOURCE_BUFFER_BYTES,
        },
    );
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .ok()
}

/// Title, artist, album, track number and whether there is a picture, from every metadata
/// revision symphonia found (tags read while probing, such as ID3v2 ahead of an MP3 or APE/ID3v1
/// at its end, and the container's own, such as Vorbis comments in FLAC or Ogg). Later
/// revisions override earlier ones. `None` when the file cannot be probed.
pub fn read_tags(path: &Path) -> Option<Tags> {
    read_all(path).map(|(tags, _)| tags)
}

/// A picture embedded in a file's tags: its bytes and their media type (e.g. "image/jpeg"),
/// when the file says.
#[derive(Debug, Clone)]
pub struct Cover {
    pub data: Vec<u8>,
    pub media_type: Option<String>,
}

/// The embedded picture (the front cover when the file says which one is, else the first),
/// from any metadata revision symphonia finds. Shared by the window's cover loader and MPRIS's
/// `mpris:artUrl`.
pub fn read_cover(path: &Path) -> Option<Cover> {
    let mut format = open_for_metadata(path)?;
    let mut meta = format.metadata();
    let mut found = None;
    loop {
        if let Some(rev) = meta.current() {
            let v = pick_visual(&rev.media.visuals).or_else(|| {
                rev.per_track
                    .iter()
                    .find_map(|t| pick_visual(&t.metadata.visuals))
            });
            if let Some(v) = v {
                found = Some(Cover {
                    data: v.data.to_vec(),
                    media_type: v.media_type.clone(),
                });
            }
        }
        if meta.pop().is_none() {
            break;
        }
    }
    found
}

fn pick_visual(visuals: &[Visual]) -> Option<&Visual> {
    visuals
        .iter()
        .find(|v| v.usage == Some(StandardVisualKey::FrontCover))
        .or(visuals.first())
}

/// [`read_tags`] plus the [`ExtraTags`] the library keeps, from the same probe.
fn read_all(path: &Path) -> Option<(Tags, ExtraTags)> {
    let mut format = open_for_metadata(path)?;
    Some(tags_of(&mut *format))
}

fn tags_of(format: &mut dyn FormatReader) -> (Tags, ExtraTags) {
    let mut tags = Tags::default();
    let mut extra = ExtraTags {
        bits_per_sample: format
            .default_track(TrackType::Audio)
            .or_else(|| format.first_track(TrackType::Audio))
            .and_then(|t| t.codec_params.as_ref())
            .and_then(|p| p.audio())
            .and_then(|p| p.bits_per_sample),
        ..ExtraTags::default()
    };
    let mut meta = format.metadata();
    loop {
        if let Some(rev) = meta.current() {
            apply_revision(&mut tags, &mut extra, rev);
        }
        if meta.pop().is_none() {
            break;
        }
    }
    (tags, extra)
}

fn apply_revision(tags: &mut Tags, extra: &mut ExtraTags, rev: &MetadataRevision) {
    apply_container(tags, extra, &rev.media);
    for t in &rev.per_track {
        apply_container(tags, extra, &t.metadata);
    }
}

/// The year at the start of a date tag ("1999", "1999-05-03").
fn year_of(date: &str) -> Option<u32> {
    let digits = date.trim().get(..4)?;
    digits.parse().ok().filter(|y| (1..=9999).contains(y))
}

fn apply_container(tags: &mut Tags, extra: &mut ExtraTags, c: &MetadataContainer) {
    for tag in &c.tags {
        match &tag.std {
            Some(StandardTag::TrackTitle(s)) => tags.title = Some(s.to_string()),
            Some(StandardTag::Artist(s)) => tags.artist = Some(s.to_string()),
            Some(StandardTag::Album(s)) => tags.album = Some(s.to_string()),
            Some(StandardTag::TrackNumber(n)) => tags.track = Some(*n),
            Some(StandardTag::AlbumArtist(s)) => extra.album_artist = Some(s.to_string()),
            Some(StandardTag::DiscNumber(n)) => extra.disc = Some(*n),
            Some(StandardTag::Genre(s)) => extra.genre = Some(s.to_string()),
            Some(StandardTag::RecordingYear(y) | StandardTag::ReleaseYear(y)) => {
                extra.year = Some(u32::from(*y))
            }
            Some(StandardTag::RecordingDate(s) | StandardTag::ReleaseDate(s)) => {
                if let Some(y) = year_of(s) {
                    extra.year = Some(y);
                }
            }
            _ => {}
        }
    }
    if !c.visuals.is_empty() {
        tags.cover_art = true;
    }
}
