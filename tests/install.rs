//! `make install` as a user runs it, into a temporary prefix: the launcher entry validates, the
//! man page renders, the bash completion completes, the icon is there in every size, and
//! `make uninstall` takes all of it away again.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::*;

/// `make TARGET PREFIX=prefix`, installing the test build of reel (`make install` would build a
/// release binary first; `install-files` is the rest of `make install`).
fn make(target: &str, prefix: &Path) {
    let out = run_with_timeout(
        Command::new("make")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("--no-print-directory")
            .arg(target)
            .arg(format!("PREFIX={}", prefix.display()))
            .arg(format!("REEL_BIN={}", reel_bin().display())),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "make {target}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run(cmd: &mut Command) -> (String, String) {
    let out = run_with_timeout(cmd, Duration::from_secs(30));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{cmd:?}: {stdout}{stderr}");
    (stdout, stderr)
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        found.push(p.display().to_string());
        if p.is_dir() {
            found.extend(files_under(&p));
        }
    }
    found
}

#[test]
fn make_install_into_a_prefix_installs_a_valid_launcher_man_page_icon_and_completions_and_uninstall_removes_them()
 {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");
    std::fs::create_dir(&prefix).unwrap();
    make("install-files", &prefix);
    let share = prefix.join("share");

    // The binary runs from where it was installed.
    let (version, _) = run(Command::new(prefix.join("bin/reel")).arg("--version"));
    assert!(version.starts_with("reel "), "{version}");

    // The launcher: valid (no errors, warnings or hints), opening files, for audio and playlists.
    let desktop = share.join("applications/reel.desktop");
    let (said, said_err) = run(Command::new("desktop-file-validate").arg(&desktop));
    assert_eq!(said + &said_err, "", "desktop-file-validate found problems");
    let entry = std::fs::read_to_string(&desktop).unwrap();
    assert!(entry.lines().any(|l| l == "Exec=reel %F"), "{entry}");
    let mime = entry
        .lines()
        .find_map(|l| l.strip_prefix("MimeType="))
        .unwrap();
    for t in [
        "audio/flac",
        "audio/mpeg",
        "audio/ogg",
        "audio/x-mpegurl",
        "audio/x-scpls",
    ] {
        assert!(mime.split(';').any(|m| m == t), "{t} missing from {mime}");
    }

    // The icon: the SVG and each PNG size, rendered at that size.
    assert!(share.join("icons/hicolor/scalable/apps/reel.svg").is_file());
    for size in [16, 32, 48, 256] {
        let png = share.join(format!("icons/hicolor/{size}x{size}/apps/reel.png"));
        let bytes = std::fs::read(&png).unwrap();
        // PNG: signature, then the IHDR chunk whose first fields are width and height.
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", png.display());
        let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((width, height), (size, size), "{}", png.display());
    }

    // The man page renders with man, without a warning, and documents the subcommands.
    let page = share.join("man/man1/reel.1");
    let (text, warnings) = run(Command::new("man")
        .args(["--warnings", "-l"])
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80"));
    assert_eq!(warnings, "", "groff warned about {}", page.display());
    for word in ["NAME", "SYNOPSIS", "play", "cache", "--cache-dir"] {
        assert!(
            text.contains(word),
            "{word} missing from the man page:\n{text}"
        );
    }
    assert!(
        !text.contains("generate"),
        "the hidden `generate` is documented:\n{text}"
    );
    assert!(share.join("man/man1/reel-play.1").is_file());

    // The bash completion loads in bash and completes `reel pl` to `reel play`, and the
    // hidden `generate` is not offered.
    let completion = share.join("bash-completion/completions/reel");
    let script = format!(
        r#"source '{}'
fn=$(complete -p reel | sed -E 's/.*-F ([^ ]+).*/\1/')
complete_line() {{ COMP_LINE="$1"; COMP_POINT=${{#1}}; read -ra COMP_WORDS <<<"$1"
  [[ "$1" == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); COMPREPLY=()
  "$fn" reel "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
  printf '%s\n' "${{COMPREPLY[@]}}"; }}
echo "pl: $(complete_line 'reel pl' | tr '\n' ' ')"
echo "all: $(complete_line 'reel ' | tr '\n' ' ')"
"#,
        completion.display()
    );
    let (said, _) = run(Command::new("bash").args(["--norc", "--noprofile", "-c", &script]));
    let pl = said.lines().find_map(|l| l.strip_prefix("pl: ")).unwrap();
    assert_eq!(pl.trim(), "play", "{said}");
    let all = said.lines().find_map(|l| l.strip_prefix("all: ")).unwrap();
    assert!(all.split(' ').any(|w| w == "cache"), "{said}");
    assert!(!all.split(' ').any(|w| w == "generate"), "{said}");
    assert!(share.join("zsh/site-functions/_reel").is_file());
    assert!(share.join("fish/vendor_completions.d/reel.fish").is_file());

    make("uninstall", &prefix);
    assert_eq!(files_under(&prefix), Vec::<String>::new(), "left behind");
    assert!(prefix.is_dir(), "uninstall removed the prefix itself");
}
