#!/usr/bin/env bash
# Runs COMMAND inside a private, throw-away sound session and always cleans up.
#
#   tests/support/with-sound-server.sh COMMAND [ARGS...]
#
# The session has its own D-Bus session bus, a PipeWire server with
# WirePlumber and pipewire-pulse, and a null sink ($REEL_TEST_SINK) that is the
# default sink, so anything that plays to ALSA "default" (as cpal does, through
# pipewire-alsa), to PulseAudio or to PipeWire ends up in that sink, where
# tests record it (parec on its monitor, see tests/support/mod.rs). No sound card needed.
#
# COMMAND gets, besides the usual environment:
#   REEL_TEST_SINK=reel_test_sink   REEL_SOUND_SERVER=pipewire
#   REEL_SOUND_DIR                  the session's private directory
#   XDG_CACHE_HOME                  $REEL_SOUND_DIR/cache (reel's cache: not ~/.cache)
#   REEL_TEST_SERVER_PIDS           "name pid" lines of the running daemons
#   REEL_SOUND_SERVER_START/_STOP   sound-server-start.sh / sound-server-stop.sh
#   XDG_RUNTIME_DIR, DBUS_SESSION_BUS_ADDRESS, PULSE_SERVER, ALSA_CONFIG_PATH, ...
#
# Exit status: COMMAND's, or non-zero (with the daemons' logs) when the sound
# server does not come up. On exit, error or signal the daemons are stopped,
# leftover processes started inside the session are killed and the directory
# is removed (kept, for its daemon logs, if REEL_KEEP_SOUND_DIR is set).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self=$here/$(basename "${BASH_SOURCE[0]}")
# shellcheck source=tests/support/sound-server-common.sh
. "$here/sound-server-common.sh"

(($# > 0)) || sound_die "usage: $0 COMMAND [ARGS...]"

# Run under tini as a child subreaper: daemons that a test restarts with
# sound-server-start.sh are orphaned when that script exits; tini adopts and
# reaps them (otherwise they would linger as zombies on machines whose init
# does not reap, such as CI's). -g forwards signals sent to tini to the whole
# process group, so `kill <tini>` reaches the command and triggers our cleanup.
if [[ -z ${REEL_SOUND_REAPER:-} ]]; then
    export REEL_SOUND_REAPER=1
    if command -v tini >/dev/null; then
        exec tini -s -g -- "$self" "$@"
    fi
    sound_log "warning: tini not found (\`make deps\` installs it); restarted daemons may linger as zombies"
fi

for tool in dbus-daemon dbus-send pipewire wireplumber pipewire-pulse pactl pw-cli pw-metadata parec; do
    command -v "$tool" >/dev/null ||
        sound_die "$tool is not installed: run \`make deps\` (installs the Debian packages the tests need)"
done

REEL_SOUND_DIR=
dbus_pid=

# kill_leftovers: kills every process still carrying this session's marker
# in its environment (anything started inside the session that outlived
# COMMAND, e.g. a player or pw-record a failed test left behind).
kill_leftovers() {
    local marker="REEL_SOUND_DIR=$REEL_SOUND_DIR" p kv found=() cmd
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [[ $p == "$$" || $p == "$BASHPID" ]] && continue
        while IFS= read -r -d '' kv; do
            if [[ $kv == "$marker" ]]; then
                found+=("$p")
                break
            fi
        done 2>/dev/null <"/proc/$p/environ" || true
    done
    ((${#found[@]})) || return 0
    for p in "${found[@]}"; do
        { cmd=$(tr '\0' ' ' <"/proc/$p/cmdline"); } 2>/dev/null || cmd='?'
        sound_log "killing leftover process $p: $cmd"
        kill -TERM "$p" 2>/dev/null || true
    done
    local deadline=$((SECONDS + 3)) alive
    while :; do
        alive=()
        for p in "${found[@]}"; do
            pid_running "$p" && alive+=("$p")
        done
        ((${#alive[@]})) || break
        if ((SECONDS >= deadline)); then
            kill -KILL "${alive[@]}" 2>/dev/null || true
            break
        fi
        sleep 0.05
    done
}

cleanup() {
    local status=$?
    set +e
    trap '' INT TERM HUP
    if [[ -n $REEL_SOUND_DIR && -d $REEL_SOUND_DIR ]]; then
        "$here/sound-server-stop.sh" || sound_log "warning: sound-server-stop.sh failed"
        if [[ -n $dbus_pid ]]; then
            kill -TERM "$dbus_pid" 2>/dev/null
            wait "$dbus_pid" 2>/dev/null
        fi
        kill_leftovers
        if [[ -n ${REEL_KEEP_SOUND_DIR:-} ]]; then
            sound_log "kept $REEL_SOUND_DIR (logs in logs/)"
        else
            rm -rf "$REEL_SOUND_DIR"
        fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

REEL_SOUND_DIR=$(mktemp -d "${TMPDIR:-/tmp}/reel-sound.XXXXXX")
chmod 700 "$REEL_SOUND_DIR"
mkdir -m 700 "$REEL_SOUND_DIR/runtime" "$REEL_SOUND_DIR/logs"
export REEL_SOUND_DIR
export REEL_TEST_SERVER_PIDS=$REEL_SOUND_DIR/pids
export REEL_TEST_SINK=$REEL_SINK_NAME_DEFAULT
export REEL_SOUND_SERVER=pipewire
export REEL_SOUND_SERVER_START=$here/sound-server-start.sh
export REEL_SOUND_SERVER_STOP=$here/sound-server-stop.sh

# reel copies every file it plays into its cache: keep the tests' cache in the
# session too, never in the real ~/.cache (tests that need their own pass
# --cache-dir or REEL_CACHE_DIR).
mkdir -m 700 "$REEL_SOUND_DIR/cache"
export XDG_CACHE_HOME=$REEL_SOUND_DIR/cache
unset REEL_CACHE_DIR

# Everything (PipeWire, Pulse, D-Bus sockets) lives in the private runtime dir.
export XDG_RUNTIME_DIR=$REEL_SOUND_DIR/runtime
export PIPEWIRE_RUNTIME_DIR=$XDG_RUNTIME_DIR
export PULSE_RUNTIME_PATH=$XDG_RUNTIME_DIR/pulse
export PULSE_SERVER=unix:$XDG_RUNTIME_DIR/pulse/native
export DBUS_SESSION_BUS_ADDRESS=unix:path=$XDG_RUNTIME_DIR/bus
unset PIPEWIRE_REMOTE PIPEWIRE_PROPS PIPEWIRE_NODE PULSE_SINK PULSE_SOURCE PULSE_PROP
# Pulse clients: never autospawn a real pulseaudio (e.g. while a test has the
# server stopped), keep the cookie out of $HOME.
printf 'autospawn = no\n' >"$REEL_SOUND_DIR/pulse-client.conf"
export PULSE_CLIENTCONFIG=$REEL_SOUND_DIR/pulse-client.conf
export PULSE_COOKIE=$REEL_SOUND_DIR/pulse-cookie
# ALSA: the system configuration (which, with pipewire-alsa, routes "default"
# to PipeWire) without the user's ~/.asoundrc / ~/.config/alsa/asoundrc, which
# could send "default" elsewhere. HOME itself is kept (cargo needs it).
alsa_conf=${ALSA_CONFIG_DIR:-/usr/share/alsa}/alsa.conf
if [[ -r $alsa_conf ]]; then
    sed -e 's|"~/\.asoundrc"|"/nonexistent/reel-test-ignores/.asoundrc"|' \
        -e 's|"/alsa/asoundrc"|"/reel-test-ignores-user-config/alsa/asoundrc"|' \
        "$alsa_conf" >"$REEL_SOUND_DIR/alsa.conf"
    export ALSA_CONFIG_PATH=$REEL_SOUND_DIR/alsa.conf
else
    sound_log "warning: $alsa_conf not found; ALSA uses its default configuration search"
fi

# A private session bus: wireplumber exits without one.
dbus-daemon --session --nofork --nopidfile --address="$DBUS_SESSION_BUS_ADDRESS" \
    </dev/null >"$REEL_SOUND_DIR/logs/dbus-daemon.log" 2>&1 &
dbus_pid=$!
dbus_ready() {
    timeout 5 dbus-send --session --dest=org.freedesktop.DBus --type=method_call \
        --print-reply /org/freedesktop/DBus org.freedesktop.DBus.GetId
}
if ! wait_until "$REEL_SOUND_SERVER_TIMEOUT" "the private D-Bus session bus" dbus_ready; then
    dump_sound_logs
    sound_die "the private D-Bus session bus did not come up"
fi

"$here/sound-server-start.sh"

set +e
"$@"
status=$?
set -e
exit "$status"
