//! ReplayGain is read from every tag format reel reads: `reel decode --replaygain track` of a
//! file tagged by ffmpeg is quieter than `--replaygain off` by exactly the tagged gain.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::*;

fn make(path: &Path, args: &[&str]) {
    let o = run_with_timeout(
        Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg("aevalsrc=exprs=0.3*sin(2*PI*440*t)|0.3*sin(2*PI*550*t):s=48000:d=1")
            .args(args)
            .arg(path),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn level_db(path: &Path, mode: &str) -> f64 {
    let out = path.with_extension(format!("{mode}.wav"));
    let o = run_with_timeout(
        Command::new(reel_bin())
            .arg("decode")
            .arg(path)
            .arg("--out")
            .arg(&out)
            .args(["--replaygain", mode]),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let w = read_wav(&out);
    rms_dbfs(&w.channels[0])
}

#[test]
fn replaygain_is_read_from_id3_ape_vorbis_comments_flac_and_opus_r128() {
    let dir = tempfile::tempdir().unwrap();
    let rg = "REPLAYGAIN_TRACK_GAIN=-6.00 dB";
    let cases: [(&str, Vec<&str>, f64); 6] = [
        // ID3v2 TXXX frame.
        ("id3.mp3", vec!["-c:a", "libmp3lame", "-metadata", rg], -6.0),
        // APEv2 at the end of an MP3 (and no ID3v2).
        (
            "ape.mp3",
            vec![
                "-c:a",
                "libmp3lame",
                "-write_id3v2",
                "0",
                "-write_apetag",
                "1",
                "-metadata",
                rg,
            ],
            -6.0,
        ),
        // Vorbis comments in Ogg and in FLAC.
        (
            "vorbis.ogg",
            vec!["-c:a", "libvorbis", "-metadata", rg],
            -6.0,
        ),
        ("comments.flac", vec!["-c:a", "flac", "-metadata", rg], -6.0),
        // Opus: R128_TRACK_GAIN, Q7.8 dB re −23 LUFS: −1536 is −6 dB there, −1 dB here.
        (
            "r128.opus",
            vec!["-c:a", "libopus", "-metadata", "R128_TRACK_GAIN=-1536"],
            -1.0,
        ),
        // An album gain alone serves `track` mode too (no track gain to prefer).
        (
            "album.flac",
            vec![
                "-c:a",
                "flac",
                "-metadata",
                "REPLAYGAIN_ALBUM_GAIN=-3.00 dB",
            ],
            -3.0,
        ),
    ];
    for (name, args, want_db) in cases {
        let file = dir.path().join(name);
        make(&file, &args);
        let off = level_db(&file, "off");
        let track = level_db(&file, "track");
        let got = track - off;
        assert!(
            (got - want_db).abs() < 0.01,
            "{name}: --replaygain track is {got:.3} dB from off, want {want_db}"
        );
    }
}
