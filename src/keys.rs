//! Keys for `reel play --no-gui` on a terminal, as mpv has them: space pauses, ←/→ seek 5 s,
//! ↑/↓ change the volume, n/p go to the next/previous track, q quits.
//!
//! Only when standard input is a terminal and reel runs in its foreground: it is switched out
//! of line mode (no echo, keys come one by one; Ctrl-C still interrupts), and put back as it
//! was when [`Keys`] is dropped.
//! A thread of its own reads the keys and passes them on through a crossbeam channel; the
//! play loop (src/cli.rs) selects on it. Hand-written rather than a terminal crate: it needs
//! one termios switch and five escape sequences, nothing a dependency would add.

use std::io::{IsTerminal, Read};

use crossbeam_channel::Receiver;

/// Seek step of ←/→, in seconds.
pub const SEEK_STEP_SECS: f64 = 5.0;
/// Volume step of ↑/↓ (of 1.0).
pub const VOLUME_STEP: f32 = 0.05;

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Key {
    TogglePause,
    /// Seconds, negative = back.
    Seek(f64),
    /// Volume change, of 1.0.
    Volume(f32),
    Next,
    Previous,
    Quit,
}

/// The terminal in key mode, and the keys it gives.
pub struct Keys {
    saved: libc::termios,
    keys: Receiver<Key>,
}

impl Keys {
    /// Key mode on standard input, if it is a terminal; `None` otherwise (keys are off).
    pub fn start() -> Option<Keys> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        // Only in the terminal's foreground: a background job (`reel play --no-gui x &`)
        // that changed the terminal's mode would be stopped by SIGTTOU.
        // SAFETY: tcgetpgrp and getpgrp have no memory-safety preconditions.
        if unsafe { libc::tcgetpgrp(libc::STDIN_FILENO) != libc::getpgrp() } {
            return None;
        }
        // SAFETY: termios is plain data; tcgetattr fills it and reports failure by its result.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 is open (it is a terminal, checked above) and `saved` is valid memory.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        raw.c_lflag &= !(libc::ICANON | libc::ECHO);
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: as above; `raw` is a valid termios derived from the current one.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let spawned = std::thread::Builder::new()
            .name("reel-keys".into())
            .spawn(move || {
                let mut parser = Parser::default();
                let mut byte = [0u8; 1];
                let mut stdin = std::io::stdin().lock();
                while let Ok(1) = stdin.read(&mut byte) {
                    if let Some(key) = parser.feed(byte[0])
                        && tx.send(key).is_err()
                    {
                        return;
                    }
                }
            });
        let keys = Keys { saved, keys: rx };
        spawned.ok().map(|_| keys)
    }

    pub fn receiver(&self) -> &Receiver<Key> {
        &self.keys
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `start` on the same descriptor.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.saved) };
    }
}

/// Bytes to keys: plain letters, and the arrows' `ESC [ A..D` sequences.
#[derive(Default)]
struct Parser {
    /// Bytes of an escape sequence so far (0, 1 = ESC, 2 = ESC [).
    escape: u8,
}

impl Parser {
    fn feed(&mut self, b: u8) -> Option<Key> {
        match (self.escape, b) {
            (0, 0x1b) => {
                self.escape = 1;
                None
            }
            (1, b'[') | (1, b'O') => {
                self.escape = 2;
                None
            }
            (2, arrow) => {
                self.escape = 0;
                match arrow {
                    b'A' => Some(Key::Volume(VOLUME_STEP)),
                    b'B' => Some(Key::Volume(-VOLUME_STEP)),
                    b'C' => Some(Key::Seek(SEEK_STEP_SECS)),
                    b'D' => Some(Key::Seek(-SEEK_STEP_SECS)),
                    _ => None,
                }
            }
            (_, b) => {
                self.escape = 0;
                match b {
                    b' ' => Some(Key::TogglePause),
                    b'n' | b'N' => Some(Key::Next),
                    b'p' | b'P' => Some(Key::Previous),
                    b'q' | b'Q' => Some(Key::Quit),
                    _ => None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_and_arrow_sequences_become_keys() {
        let mut p = Parser::default();
        let keys: Vec<Key> = b" nq\x1b[C\x1b[D\x1b[A\x1b[Bx\x1bOCp"
            .iter()
            .filter_map(|&b| p.feed(b))
            .collect();
        assert_eq!(
            keys,
            vec![
                Key::TogglePause,
                Key::Next,
                Key::Quit,
                Key::Seek(5.0),
                Key::Seek(-5.0),
                Key::Volume(0.05),
                Key::Volume(-0.05),
                Key::Seek(5.0),
                Key::Previous,
            ]
        );
    }
}
