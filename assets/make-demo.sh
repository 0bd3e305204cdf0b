#!/usr/bin/env bash
# Synthesises assets/demo.flac, reel's bundled demo track, with sox alone: a short plucked
# arpeggio over I–V–vi–IV in C with a soft pad, 44.1 kHz stereo (so that on a 48 kHz device
# the demo also exercises the resampler). No third-party audio is involved. The output is
# committed; re-run this only to change the demo.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rate=44100
beat=0.25   # seconds per arpeggio note
# chord tones (root, third, fifth, octave) per bar, as note names sox understands
chords=("C4 E4 G4 C5" "G3 B3 D4 G4" "A3 C4 E4 A4" "F3 A3 C4 F4")
bars=()
for round in 1 2 3 4; do
    for ci in 0 1 2 3; do
        read -r -a notes <<<"${chords[$ci]}"
        parts=()
        for n in 0 1 2 3 2 1 3 2; do
            f="$tmp/n_${round}_${ci}_${n}_${#parts[@]}.wav"
            sox -n -r $rate -c 1 "$f" synth $beat pluck "${notes[$n]}" fade 0 $beat 0.05 vol 0.5
            parts+=("$f")
        done
        bar="$tmp/bar_${round}_${ci}.wav"
        sox "${parts[@]}" "$bar"
        pad="$tmp/pad_${round}_${ci}.wav"
        sox -n -r $rate -c 1 "$pad" synth 2 sine "${notes[0]}" sine "${notes[1]}" sine "${notes[2]}" \
            remix 1-3 fade 0.3 2 0.5 vol 0.12
        mixed="$tmp/mix_${round}_${ci}.wav"
        sox -m "$bar" "$pad" "$mixed"
        bars+=("$mixed")
    done
done
sox "${bars[@]}" "$tmp/mono.wav"
# A little width: the plucks lean left, a delayed copy leans right.
sox "$tmp/mono.wav" "$tmp/stereo.wav" remix 1v0.9 1v0.7 delay 0 0.012 reverb 30 50 60 fade 0 -0 1.5 norm -3
sox "$tmp/stereo.wav" -b 16 demo.flac
soxi demo.flac
