//! The index: what is in the cache, one entry per object.
//!
//! Stored as one JSON Lines file, `index.json` (a header line with the format version and the
//! counters, then one entry per line), replaced atomically (written to `index.json.tmp`,
//! fsynced, renamed over, directory fsynced) while the cache lock is held, so a reader sees the
//! old index or the new one, never half of one, and a crash leaves one of the two.
//!
//! Why JSON and not SQLite: the index is small (about 600 bytes an entry, 6 MB for 10,000
//! entries, parsed in a few tens of milliseconds), it is only ever changed under the cache lock
//! (which also has to guard the objects and the pins, so SQLite's own locking would not save
//! us one), and JSON needs no C library (rusqlite bundles SQLite's C source) and stays readable
//! with `jq` when something goes wrong. The cost is that every change rewrites the whole file;
//! imports therefore commit in batches (one write per batch, see `import.rs`), and a play
//! writes it once per started track, off the audio path.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Format version of `index.json`.
pub const INDEX_VERSION: u32 = 1;

/// A file that was imported and is known to hold an object's content: its canonical path, and
/// the size and modification time it had then. A file whose path, size and mtime still match
/// is a cache hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    #[serde(serialize_with = "ser_path", deserialize_with = "de_path")]
    pub path: PathBuf,
    pub size: u64,
    /// Modification time: seconds and nanoseconds since the Unix epoch.
    pub mtime_s: i64,
    pub mtime_ns: u32,
}

/// What the file's tags say (best effort; absent tags are `None`, and left out of the file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tags {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artist: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub album: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<u64>,
    /// The file carries a picture (cover art).
    #[serde(default)]
    pub cover_art: bool,
}

/// One object: content-addressed by its BLAKE3 hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// BLAKE3 of the whole content, 64 lower-case hex digits; also the object's file name.
    pub hash: String,
    /// The original's extension, lower-cased ("" when it had none).
    pub ext: String,
    pub size: u64,
    /// The cheap check run before every play: the first 128 bits (32 hex digits) of the BLAKE3
    /// of the first 64 KiB followed by the last 64 KiB (the whole file when smaller).
    pub check: String,
    /// The original file name at import.
    pub name: String,
    /// Files known to hold this content (the first one imported first).
    pub sources: Vec<SourceRef>,
    pub codec: String,
    pub container: String,
    pub rate: u32,
    pub channels: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
    #[serde(default)]
    pub tags: Tags,
    /// Milliseconds since the Unix epoch.
    pub imported_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_played_ms: Option<u64>,
    #[serde(default)]
    pub play_count: u64,
}

impl Entry {
    /// Eviction order: least recently played first; never played counts from its import.
    pub fn lru_key(&self) -> u64 {
        self.last_played_ms.unwrap_or(self.imported_at_ms)
    }

    /// The object's path relative to the cache directory.
    pub fn object_rel(&self) -> PathBuf {
        object_rel(&self.hash, &self.ext)
    }

    /// The first known original path.
    pub fn original(&self) -> Option<&Path> {
        self.sources.first().map(|s| s.path.as_path())
    }
}

/// `objects/<first two hex digits>/<hash>.<ext>`.
pub fn object_rel(hash: &str, ext: &str) -> PathBuf {
    let mut p = PathBuf::from("objects");
    p.push(&hash[..2]);
    if ext.is_empty() {
        p.push(hash);
    } else {
        p.push(format!("{hash}.{ext}"));
    }
    p
}

/// Splits an object file name into (hash, ext); `None` for anything that is not one.
pub fn parse_object_name(name: &str) -> Option<(String, String)> {
    let (hash, ext) = match name.split_once('.') {
        Some((h, e)) => (h, e),
        None => (name, ""),
    };
    let hash_ok = hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if hash_ok && valid_ext(ext) {
        Some((hash.to_string(), ext.to_string()))
    } else {
        None
    }
}

/// Extensions kept on object names: short, lower-case alphanumerics.
pub fn valid_ext(ext: &str) -> bool {
    ext.len() <= 10
        && ext
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The extension an object of `path` gets: lower-cased, or "" when unusable.
pub fn ext_for(path: &Path) -> String {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    if valid_ext(&ext) { ext } else { String::new() }
}

/// Hits, misses and evictions since the cache was created (kept in the index).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Files found in the cache unchanged, so not copied again.
    pub hits: u64,
    /// Files copied into the cache.
    pub misses: u64,
    /// Bytes the hits did not have to copy.
    pub bytes_saved: u64,
    /// Objects evicted to keep under the size cap.
    pub evictions: u64,
    pub bytes_evicted: u64,
}

impl Counters {
    pub fn add(&mut self, o: &Counters) {
        self.hits += o.hits;
        self.misses += o.misses;
        self.bytes_saved += o.bytes_saved;
        self.evictions += o.evictions;
        self.bytes_evicted += o.bytes_evicted;
    }

    pub fn is_zero(&self) -> bool {
        *self == Counters::default()
    }
}

/// The first line of `index.json`; every further line is one [`Entry`]. Unknown fields make
/// it unreadable (and the index is rebuilt), rather than silently read as empty.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    version: u32,
    counters: Counters,
}

/// Indexes bigger than this are parsed on two threads.
const PARALLEL_PARSE_BYTES: usize = 512 * 1024;

/// Parses the entry lines in `bytes` with `one`.
fn parse_lines<'a, T: Send>(
    bytes: &'a [u8],
    one: &(dyn Fn(&'a [u8]) -> Result<T, String> + Sync),
) -> Result<Vec<T>, String> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(one)
        .collect()
}

/// Splits `index.json` into its header and the entry lines, parsed with `one` (on two threads
/// when the file is big).
fn parse_file<'a, T: Send>(
    bytes: &'a [u8],
    one: &(dyn Fn(&'a [u8]) -> Result<T, String> + Sync),
) -> Result<(Header, Vec<T>), String> {
    let header_end = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("no header line")?;
    let header: Header = serde_json::from_slice(&bytes[..header_end]).map_err(|e| e.to_string())?;
    if header.version != INDEX_VERSION {
        return Err(format!("unknown index version {}", header.version));
    }
    let body = &bytes[header_end + 1..];
    if body.len() < PARALLEL_PARSE_BYTES {
        return Ok((header, parse_lines(body, one)?));
    }
    let mid = body.len() / 2;
    let split = mid + body[mid..].iter().position(|b| *b == b'\n').unwrap_or(0);
    let (first, second) = body.split_at(split);
    let (a, b) = std::thread::scope(|s| {
        let other = s.spawn(|| parse_lines(second, one));
        let a = parse_lines(first, one);
        (
            a,
            other
                .join()
                .unwrap_or_else(|_| Err("parser panicked".into())),
        )
    });
    let mut a = a?;
    a.extend(b?);
    Ok((header, a))
}

/// What listing shows of an entry, borrowed from the index file's bytes (strings without
/// escapes are not copied): `reel cache list` over 10,000 entries must take under 50 ms, and
/// building the whole [`Index`] costs more than that on a small machine.
#[derive(Debug, Deserialize)]
pub struct EntryView<'a> {
    #[serde(borrow)]
    pub hash: Cow<'a, str>,
    #[serde(borrow)]
    pub ext: Cow<'a, str>,
    pub size: u64,
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(borrow)]
    pub codec: Cow<'a, str>,
    #[serde(default)]
    pub duration_secs: Option<f64>,
    #[serde(default, borrow)]
    pub tags: TagsView<'a>,
    #[serde(default)]
    pub last_played_ms: Option<u64>,
    #[serde(default)]
    pub play_count: u64,
    /// The whole entry as stored: one JSON object.
    #[serde(skip)]
    pub json: Cow<'a, str>,
}

/// The tags listing shows.
#[derive(Debug, Default, Deserialize)]
pub struct TagsView<'a> {
    #[serde(default, borrow)]
    pub title: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub artist: Option<Cow<'a, str>>,
}

impl<'a> EntryView<'a> {
    /// A view of an entry in memory.
    pub fn of(e: &'a Entry) -> EntryView<'a> {
        EntryView {
            hash: Cow::Borrowed(&e.hash),
            ext: Cow::Borrowed(&e.ext),
            size: e.size,
            name: Cow::Borrowed(&e.name),
            codec: Cow::Borrowed(&e.codec),
            duration_secs: e.duration_secs,
            tags: TagsView {
                title: e.tags.title.as_deref().map(Cow::Borrowed),
                artist: e.tags.artist.as_deref().map(Cow::Borrowed),
            },
            last_played_ms: e.last_played_ms,
            play_count: e.play_count,
            json: Cow::Owned(serde_json::to_string(e).expect("entries serialise")),
        }
    }

    /// The object's path relative to the cache directory.
    pub fn object_rel(&self) -> PathBuf {
        object_rel(&self.hash, &self.ext)
    }
}

/// The counters and a view of every entry, from `index.json`'s bytes.
pub fn parse_views(bytes: &[u8]) -> Result<(Counters, Vec<EntryView<'_>>), String> {
    let (header, views) = parse_file(bytes, &|line| {
        let text = std::str::from_utf8(line).map_err(|e| e.to_string())?;
        let mut v: EntryView = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if Key::of(&v.hash).is_none() || !valid_ext(&v.ext) {
            return Err(format!("bad entry {:?}", v.hash));
        }
        v.json = Cow::Borrowed(text);
        Ok(v)
    })?;
    Ok((header.counters, views))
}

/// A hash as a map key: its 32 bytes (no allocation, and half the bytes to compare of the hex
/// string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key([u8; 32]);

impl Key {
    fn of(hash: &str) -> Option<Key> {
        let b = hash.as_bytes();
        if b.len() != 64 {
            return None;
        }
        let mut k = [0u8; 32];
        for (i, out) in k.iter_mut().enumerate() {
            let hex = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            };
            *out = hex(b[2 * i])? << 4 | hex(b[2 * i + 1])?;
        }
        Some(Key(k))
    }
}

/// The index in memory.
#[derive(Debug, Clone, Default)]
pub struct Index {
    pub counters: Counters,
    entries: BTreeMap<Key, Entry>,
    /// Canonical source path (as bytes: hashing a `Path` parses its components) → hash. Built
    /// on first use: listing 10,000 entries does not need it.
    by_path: Option<HashMap<OsString, Key>>,
}

impl Index {
    /// Parses `index.json`: a header line, then one entry per line (JSON Lines, so that a big
    /// index parses on two threads, split at a line in the middle: listing 10,000 entries must
    /// take well under 50 ms).
    pub fn parse(bytes: &[u8]) -> Result<Index, String> {
        let (header, entries) = parse_file(bytes, &|line| {
            serde_json::from_slice::<Entry>(line).map_err(|e| e.to_string())
        })?;
        let mut index = Index {
            counters: header.counters,
            ..Index::default()
        };
        // The file holds at most one entry per hash and per path; no need to check that here.
        for e in entries {
            let key = match Key::of(&e.hash) {
                Some(k) if valid_ext(&e.ext) => k,
                _ => return Err(format!("bad entry {:?}", e.hash)),
            };
            index.entries.insert(key, e);
        }
        Ok(index)
    }

    fn paths(&mut self) -> &mut HashMap<OsString, Key> {
        let entries = &self.entries;
        self.by_path.get_or_insert_with(|| {
            let mut m = HashMap::with_capacity(entries.len());
            for (k, e) in entries {
                for s in &e.sources {
                    m.insert(s.path.as_os_str().to_owned(), *k);
                }
            }
            m
        })
    }

    /// The file's bytes, with `counters` as the counters: a header line, then one line per
    /// entry, in hash order.
    pub fn to_json(&self, counters: Counters) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.entries.len() * 512 + 128);
        let header = Header {
            version: INDEX_VERSION,
            counters,
        };
        serde_json::to_writer(&mut bytes, &header).expect("the index serialises");
        bytes.push(b'\n');
        for e in self.entries.values() {
            serde_json::to_writer(&mut bytes, e).expect("the index serialises");
            bytes.push(b'\n');
        }
        bytes
    }

    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn get(&self, hash: &str) -> Option<&Entry> {
        self.entries.get(&Key::of(hash)?)
    }

    pub fn get_mut(&mut self, hash: &str) -> Option<&mut Entry> {
        self.entries.get_mut(&Key::of(hash)?)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn total_bytes(&self) -> u64 {
        self.entries.values().map(|e| e.size).sum()
    }

    /// The entry that `path` (canonical) was imported into, with its source record.
    pub fn lookup_source(&mut self, path: &Path) -> Option<(&Entry, &SourceRef)> {
        let key = *self.paths().get(path.as_os_str())?;
        let entry = self.entries.get(&key)?;
        let src = entry.sources.iter().find(|s| s.path == path)?;
        Some((entry, src))
    }

    /// Adds an entry, replacing one with the same hash. (Its hash must be 64 hex digits.)
    pub fn insert(&mut self, entry: Entry) {
        let Some(key) = Key::of(&entry.hash) else {
            return;
        };
        if let Some(old) = self.entries.remove(&key) {
            let paths = self.paths();
            for s in &old.sources {
                paths.remove(s.path.as_os_str());
            }
        }
        for s in &entry.sources {
            // A path belongs to one entry: the content it was last seen with.
            let prev = self.paths().insert(s.path.as_os_str().to_owned(), key);
            if let Some(prev) = prev
                && prev != key
                && let Some(other) = self.entries.get_mut(&prev)
            {
                other.sources.retain(|o| o.path != s.path);
            }
        }
        self.entries.insert(key, entry);
    }

    /// Records that `source` holds the content of entry `hash` (which must exist).
    pub fn add_source(&mut self, hash: &str, source: SourceRef) {
        let Some(key) = Key::of(hash) else {
            return;
        };
        if let Some(prev) = self.paths().get(source.path.as_os_str()).copied()
            && let Some(other) = self.entries.get_mut(&prev)
        {
            other.sources.retain(|o| o.path != source.path);
        }
        if self.entries.contains_key(&key) {
            self.paths().insert(source.path.as_os_str().to_owned(), key);
            if let Some(e) = self.entries.get_mut(&key) {
                e.sources.push(source);
            }
        }
    }

    pub fn remove(&mut self, hash: &str) -> Option<Entry> {
        let key = Key::of(hash)?;
        let e = self.entries.remove(&key)?;
        if let Some(paths) = &mut self.by_path {
            for s in &e.sources {
                if paths.get(s.path.as_os_str()) == Some(&key) {
                    paths.remove(s.path.as_os_str());
                }
            }
        }
        Some(e)
    }
}

// Paths are stored as JSON strings when they are UTF-8 (nearly always), and as an array of
// bytes when they are not, so that no file name is ever mangled.

fn ser_path<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    match path.to_str() {
        Some(text) => s.serialize_str(text),
        None => s.collect_seq(path.as_os_str().as_bytes()),
    }
}

fn de_path<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    struct PathVisitor;
    impl<'de> Visitor<'de> for PathVisitor {
        type Value = PathBuf;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a path as a string or an array of bytes")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<PathBuf, E> {
            Ok(PathBuf::from(v))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<PathBuf, E> {
            Ok(PathBuf::from(v))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PathBuf, A::Error> {
            let mut bytes = Vec::new();
            while let Some(b) = seq.next_element::<u8>()? {
                bytes.push(b);
            }
            Ok(PathBuf::from(OsString::from_vec(bytes)))
        }
    }
    d.deserialize_any(PathVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the cache_index fuzzer: a duration written with 20 significant digits read
    /// back one ulp off after a write and a read (serde_json's default float parser), so the
    /// index did not read back what it wrote. Fixed by serde_json's `float_roundtrip`.
    #[test]
    fn an_index_reads_back_exactly_what_it_wrote_long_decimals_included() {
        let input = include_bytes!("../../fuzz/regressions/cache_index/float-roundtrip.json");
        let index = Index::parse(input).unwrap();
        let back = Index::parse(&index.to_json(index.counters)).unwrap();
        assert_eq!(back.len(), index.len());
        for e in index.entries() {
            assert_eq!(back.get(&e.hash), Some(e));
        }
    }

    fn entry(hash: &str, path: &str) -> Entry {
        Entry {
            hash: hash.to_string(),
            ext: "wav".into(),
            size: 10,
            check: String::new(),
            name: "a.wav".into(),
            sources: vec![SourceRef {
                path: PathBuf::from(path),
                size: 10,
                mtime_s: 1,
                mtime_ns: 2,
            }],
            codec: "pcm_s16le".into(),
            container: "wave".into(),
            rate: 48_000,
            channels: 2,
            duration_secs: Some(1.0),
            tags: Tags::default(),
            imported_at_ms: 5,
            last_played_ms: None,
            play_count: 0,
        }
    }

    #[test]
    fn the_index_round_trips_even_with_non_utf8_paths() {
        let mut ix = Index::default();
        ix.insert(entry(&"a".repeat(64), "/music/a.wav"));
        let mut odd = entry(&"b".repeat(64), "/x");
        odd.sources[0].path = PathBuf::from(OsString::from_vec(b"/music/\xff.wav".to_vec()));
        ix.insert(odd.clone());
        let bytes = ix.to_json(Counters::default());
        let mut back = Index::parse(&bytes).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back.get(&odd.hash), Some(&odd));
        assert!(back.lookup_source(&odd.sources[0].path).is_some());
    }

    #[test]
    fn views_read_the_same_entries_as_the_index_and_keep_their_stored_json() {
        let mut ix = Index::default();
        let mut a = entry(&"a".repeat(64), "/music/a.wav");
        a.tags.title = Some("Quote \"this\"".into());
        ix.insert(a.clone());
        ix.insert(entry(&"b".repeat(64), "/music/b.wav"));
        let counters = Counters {
            hits: 7,
            ..Counters::default()
        };
        let bytes = ix.to_json(counters);
        let (c, views) = parse_views(&bytes).unwrap();
        assert_eq!(c.hits, 7);
        assert_eq!(views.len(), 2);
        assert_eq!(views[0].hash, a.hash);
        assert_eq!(views[0].tags.title.as_deref(), Some("Quote \"this\""));
        let back: Entry = serde_json::from_str(&views[0].json).unwrap();
        assert_eq!(back, a);
        // Big enough to be parsed on two threads: the same, in order.
        let mut big = Index::default();
        for i in 0..3000 {
            big.insert(entry(&format!("{i:064x}"), &format!("/music/{i}.wav")));
        }
        let bytes = big.to_json(Counters::default());
        assert!(bytes.len() > PARALLEL_PARSE_BYTES);
        let (_, views) = parse_views(&bytes).unwrap();
        assert_eq!(views.len(), 3000);
        assert!(views.windows(2).all(|w| w[0].hash < w[1].hash));
        assert_eq!(Index::parse(&bytes).unwrap().len(), 3000);
        // A header with fields this version does not know is not read as an empty index.
        let mut old_format = br#"{"version":1,"counters":"#.to_vec();
        old_format.extend(serde_json::to_vec(&Counters::default()).unwrap());
        old_format.extend(br#","entries":[]}"#);
        old_format.push(b'\n');
        assert!(Index::parse(&old_format).is_err());
    }

    #[test]
    fn a_path_belongs_to_the_content_it_was_last_imported_with() {
        let mut ix = Index::default();
        ix.insert(entry(&"a".repeat(64), "/music/a.wav"));
        ix.insert(entry(&"b".repeat(64), "/music/b.wav"));
        let src = ix.get(&"a".repeat(64)).unwrap().sources[0].clone();
        ix.add_source(&"b".repeat(64), src);
        assert!(ix.get(&"a".repeat(64)).unwrap().sources.is_empty());
        assert_eq!(
            ix.lookup_source(Path::new("/music/a.wav")).unwrap().0.hash,
            "b".repeat(64)
        );
    }

    #[test]
    fn object_names_parse() {
        let h = "0f".repeat(32);
        assert_eq!(
            parse_object_name(&format!("{h}.flac")),
            Some((h.clone(), "flac".into()))
        );
        assert_eq!(parse_object_name(&h), Some((h.clone(), String::new())));
        assert_eq!(parse_object_name("abc.flac"), None);
        assert_eq!(parse_object_name(&format!("{h}.FLAC")), None);
        assert_eq!(
            object_rel(&h, "flac"),
            PathBuf::from(format!("objects/0f/{h}.flac"))
        );
    }
}
