#!/usr/bin/env bash
# The window's cost, idle and playing: frames per second and CPU, under Xvfb.
#
#   tests/support/with-sound-server.sh benches/gui_cpu.sh [SECONDS]
#   REEL_BIN=target/debug/reel tests/support/with-sound-server.sh benches/gui_cpu.sh
#
# Runs the release build's window twice on a private virtual display: once idle (no files),
# once playing assets/demo.flac with the meters panel open. For each it waits until the window
# is up (and playing), then measures over SECONDS (default 10): CPU from /proc/PID/stat
# (utime + stime, every thread of the process) and frames from the `ui_frames` count that
# `--metrics-log` writes. Prints one line per case. Needs a sound server for the playing case
# (hence with-sound-server.sh) and Xvfb, xwininfo (make deps installs both).
set -euo pipefail
secs=${1:-10}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# REEL_BIN=path measures that binary instead of the release build.
reel=${REEL_BIN:-}
if [[ -z $reel ]]; then
    cargo build --release --quiet --manifest-path "$root/Cargo.toml"
    reel=$root/target/release/reel
fi
work=$(mktemp -d)
xvfb_pid=
reel_pid=
cleanup() {
    [[ -n $reel_pid ]] && kill "$reel_pid" 2>/dev/null || true
    [[ -n $xvfb_pid ]] && kill "$xvfb_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Xvfb picks a free display and writes its number when it accepts clients.
Xvfb -displayfd 5 -screen 0 1280x800x24 -nolisten tcp 5>"$work/display" 2>/dev/null &
xvfb_pid=$!
for _ in $(seq 200); do [[ -s $work/display ]] && break; sleep 0.1; done
[[ -s $work/display ]] || { echo "Xvfb did not start" >&2; exit 1; }
export DISPLAY=:$(head -1 "$work/display")
unset WAYLAND_DISPLAY
export HOME=$work/home XDG_DATA_HOME=$work/home/data XDG_CONFIG_HOME=$work/home/config
mkdir -p "$HOME"
clk=$(getconf CLK_TCK)

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
last_json() { tail -1 "$1" 2>/dev/null || true; }
field() { sed -n "s/.*\"$2\":\\([^,}]*\\).*/\\1/p" <<<"$1"; }

# measure NAME CONDITION_FIELD CONDITION_VALUE [reel args...]
measure() {
    local name=$1 key=$2 want=$3
    shift 3
    local log=$work/$name.jsonl
    "$reel" --cache-dir "$work/cache" --metrics-log "$log" "$@" 2>"$work/$name.err" &
    reel_pid=$!
    # Up: a window, and the log says the wanted state (poll, bounded).
    local ok=
    for _ in $(seq 600); do
        if xwininfo -root -children 2>/dev/null | grep -q '"[^"]*reel"' &&
            [[ $(field "$(last_json "$log")" "$key") == "$want" ]]; then
            ok=1
            break
        fi
        sleep 0.1
    done
    [[ -n $ok ]] || { echo "$name: window not ready; stderr:" >&2; cat "$work/$name.err" >&2; exit 1; }
    sleep 2 # settle: the first frames lay out fonts and the library
    local t0 c0 f0 t1 c1 f1
    t0=$(date +%s.%N); c0=$(cpu_ticks "$reel_pid"); f0=$(field "$(last_json "$log")" ui_frames)
    sleep "$secs"
    t1=$(date +%s.%N); c1=$(cpu_ticks "$reel_pid"); f1=$(field "$(last_json "$log")" ui_frames)
    kill -TERM "$reel_pid"
    wait "$reel_pid" || { echo "$name: reel exited non-zero" >&2; exit 1; }
    reel_pid=
    awk -v n="$name" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v f0="$f0" -v f1="$f1" \
        -v clk="$clk" 'BEGIN {
            dt = t1 - t0
            printf "%-8s %5.1f fps   CPU %5.1f %% of one core   (%d frames, %.2f s CPU in %.1f s)\n",
                n, (f1 - f0) / dt, 100 * (c1 - c0) / clk / dt, f1 - f0, (c1 - c0) / clk, dt
        }'
}

measure idle state '"stopped"'
measure playing state '"playing"' "$root/assets/demo.flac"
