//! Arbitrary bytes as the cache's `index.json`: both readers (`Index::parse`, which start-up
//! and every change use, and `parse_views`, which `reel cache list` uses) must return an error
//! or an index, never panic; and an index that parses must write back to bytes that parse to
//! the same entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reel::cache::index::{Index, parse_views};

fuzz_target!(|data: &[u8]| {
    let views = parse_views(data);
    let index = Index::parse(data);
    if let Ok(mut index) = index {
        // `parse_views` is `reel cache list`'s fast path, and stricter (the whole line must be
        // UTF-8, even inside fields it does not know); when it refuses, listing falls back to
        // the full index (Cache::with_entries). When both read the file, they agree.
        if let Ok((_, views)) = views {
            // (A hand-made file may repeat a hash; the index keeps one entry per hash.)
            assert!(views.len() >= index.len());
            for v in &views {
                assert!(index.get(&v.hash).is_some(), "a view the index lacks");
                let _ = v.object_rel();
            }
        }
        let bytes = index.to_json(index.counters);
        let mut back = Index::parse(&bytes).expect("an index reads back what it wrote");
        assert_eq!(back.len(), index.len());
        for e in index.entries() {
            assert_eq!(back.get(&e.hash), Some(e));
            if let Some(p) = e.original() {
                assert!(back.lookup_source(p).is_some());
            }
        }
        let _ = index.lookup_source(std::path::Path::new("/nowhere"));
    }
});
