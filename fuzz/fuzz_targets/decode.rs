//! Arbitrary bytes through the engine's own decode path: `Source::from_bytes` (symphonia's
//! probe with reel's error mapping and sanity checks), then `Pipeline` (decode, channel map to
//! stereo, rubato resampler for one input in three), as the decoder thread runs it, plus a
//! sample-accurate seek for odd-length inputs.
//!
//! What must hold for any input: no panic, no hang, bounded memory; either an error
//! (one `FileErrorKind`) or blocks of finite samples with whole frames.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use reel::engine::pipeline::{OutputFormat, Pipeline};
use reel::engine::source::Source;

/// Stop after this much output: a few bytes of FLAC can legitimately declare hours of
/// constant audio, and decoding them all proves nothing more.
const MAX_OUTPUT_FRAMES: u64 = 48_000 / 4;
/// Chunks a stream may return without any frames before that is a hang.
const MAX_EMPTY_CHUNKS: u32 = 10_000;

fuzz_target!(|data: &[u8]| {
    // No extension: the probe decides from the content alone, as for a mis-named file.
    let Ok(source) = Source::from_bytes(Path::new("fuzz-input"), data.to_vec()) else {
        return;
    };
    let info = source.info().clone();
    assert!(info.rate > 0 && info.channels > 0);
    // Always map to stereo. One input in three is also resampled (to the other common rate):
    // building the sinc resampler costs far more than decoding a small input, and at every
    // input it would cut the fuzzer's speed tenfold.
    let rate = if data.len() % 3 != 0 {
        info.rate
    } else if info.rate == 48_000 {
        44_100
    } else {
        48_000
    };
    let out = OutputFormat { rate, channels: 2 };
    let Ok(mut pipeline) = Pipeline::new(source, Some(out)) else {
        return;
    };
    // Odd-length inputs seek first (to the middle when the length is known).
    if data.len() % 2 == 1 {
        let target = pipeline.total_out_frames().map_or(4_800, |t| t / 2);
        if pipeline.seek_out_frames(target).is_err() {
            return;
        }
    }
    let mut frames = 0u64;
    let mut empty = 0u32;
    while frames < MAX_OUTPUT_FRAMES {
        match pipeline.next_chunk() {
            Ok(Some(chunk)) => {
                assert_eq!(chunk.len() % 2, 0, "a partial frame");
                assert!(chunk.iter().all(|s| s.is_finite()), "a non-finite sample");
                if chunk.is_empty() {
                    empty += 1;
                    assert!(empty < MAX_EMPTY_CHUNKS, "no progress");
                }
                frames += (chunk.len() / 2) as u64;
            }
            Ok(None) | Err(_) => break,
        }
    }
});
