#!/usr/bin/env bash
# Starts the private sound server (pipewire + wireplumber + pipewire-pulse)
# inside the session created by with-sound-server.sh, creates the null sink
# $REEL_TEST_SINK and makes it the default sink. Returns only once a client
# opening ALSA/Pulse/PipeWire "default" would be routed to that sink.
#
# with-sound-server.sh calls it once at start-up; tests may call it again after
# sound-server-stop.sh to simulate the sound server coming back.
# Fails (exit 1, with the daemons' logs on stderr) if anything does not come up
# within $REEL_SOUND_SERVER_TIMEOUT seconds per phase.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/support/sound-server-common.sh
. "$here/sound-server-common.sh"

require_sound_session
sink=${REEL_TEST_SINK:-$REEL_SINK_NAME_DEFAULT}
t=$REEL_SOUND_SERVER_TIMEOUT

# Refuse to start twice: a second pipewire would fail on the lock anyway.
if [[ -s $REEL_TEST_SERVER_PIDS ]]; then
    while read -r name pid; do
        if proc_alive "$pid" "$name"; then
            sound_die "$name (pid $pid) is still running; run sound-server-stop.sh first"
        fi
    done <"$REEL_TEST_SERVER_PIDS"
fi
: >"$REEL_TEST_SERVER_PIDS"

# Sockets left behind by a killed server would make the readiness checks below
# succeed (or connect to nothing); nothing is running now, so remove them.
rm -f "$XDG_RUNTIME_DIR/pipewire-0" "$XDG_RUNTIME_DIR/pipewire-0-manager" \
    "$XDG_RUNTIME_DIR/pulse/native" "$XDG_RUNTIME_DIR/pulse/pid"

logs=$REEL_SOUND_DIR/logs
daemon_home=$REEL_SOUND_DIR/daemon-home
mkdir -p "$logs" "$daemon_home/config" "$daemon_home/state" "$daemon_home/data"
# No Bluetooth in the test server: WirePlumber's Bluetooth monitor loads its logind
# module, and without systemd-logind's /run/systemd (containers, minimal systems)
# that fails and takes WirePlumber down. A file of the same name in the user
# config dir replaces the system's bluetooth.lua.d/90-enable-all.lua.
mkdir -p "$daemon_home/config/wireplumber/bluetooth.lua.d"
printf -- '-- reel tests: Bluetooth monitor disabled (see sound-server-start.sh)\n' \
    >"$daemon_home/config/wireplumber/bluetooth.lua.d/90-enable-all.lua"

fail() {
    sound_log "ERROR: $*"
    dump_sound_logs
    "$here/sound-server-stop.sh" >/dev/null 2>&1 || true
    sound_die "the private sound server did not come up (daemon logs above)"
}

# start_daemon NAME: starts NAME in the background, detached from our stdio
# (so a test's Command::output() never waits on it), with its own config and
# state directories (so neither the user's PipeWire/WirePlumber configuration
# nor state saved by a previous run changes what the tests see).
start_daemon() {
    local name=$1
    command -v "$name" >/dev/null || fail "$name is not installed (run \`make deps\`)"
    XDG_CONFIG_HOME=$daemon_home/config \
        XDG_STATE_HOME=$daemon_home/state \
        XDG_DATA_HOME=$daemon_home/data \
        "$name" </dev/null >>"$logs/$name.log" 2>&1 &
    echo "$name $!" >>"$REEL_TEST_SERVER_PIDS"
    disown  # no "Killed" job reports from this shell when the daemon is stopped
}

pipewire_ready() { [[ -S $XDG_RUNTIME_DIR/pipewire-0 ]] && timeout 5 pw-cli info 0; }
pulse_ready() { timeout 5 pactl info; }
# wireplumber creates the "default" metadata object that pipewire-pulse writes
# the default sink to; before that, `pactl set-default-sink` fails with "Not
# supported".
default_metadata_ready() {
    local out
    out=$(timeout 5 pw-metadata -n default 0 2>&1) || return 1
    [[ $out == *'Found "default" metadata'* ]]
}
set_default_sink() { timeout 5 pactl set-default-sink "$sink"; }
default_sink_ready() {
    local out
    out=$(timeout 5 pw-metadata -n default 0 default.audio.sink) || return 1
    [[ $out == *"{\"name\":\"$sink\"}"* ]]
}

# ready PREDICATE: PREDICATE succeeded, or a daemon died (then `fail` at once
# rather than waiting out the timeout).
died=
ready() {
    local name pid
    while read -r name pid; do
        # (Not proc_alive: until the fork has exec'd, the daemon's name is still bash.)
        if ! pid_running "$pid"; then
            died=$name
            return 0
        fi
    done <"$REEL_TEST_SERVER_PIDS"
    "$@"
}
wait_ready() {
    local what=$1
    shift
    wait_until "$t" "$what" ready "$@" || fail "timed out waiting for $what"
    [[ -z $died ]] || fail "$died exited during start-up"
}

start_daemon pipewire
wait_ready "pipewire to listen on $XDG_RUNTIME_DIR/pipewire-0" pipewire_ready
start_daemon wireplumber
start_daemon pipewire-pulse
wait_ready "pipewire-pulse to answer pactl" pulse_ready

timeout 5 pactl load-module module-null-sink "sink_name=$sink" rate=48000 channels=2 \
    channel_map=front-left,front-right "sink_properties=device.description=reel-test-sink" \
    >/dev/null || fail "could not create the null sink $sink"
wait_ready "wireplumber to publish the default-nodes metadata" default_metadata_ready
wait_ready "pactl set-default-sink $sink to succeed" set_default_sink
timeout 5 pactl set-sink-volume "$sink" 100% || fail "could not set the volume of $sink"
timeout 5 pactl set-sink-mute "$sink" 0 || fail "could not unmute $sink"
# pactl only sets the *configured* default; wireplumber (the session manager,
# which links new streams) publishes the effective default once it has seen the
# sink. Waiting for that also proves wireplumber is up.
wait_ready "wireplumber to make $sink the default sink" default_sink_ready

while read -r name pid; do
    proc_alive "$pid" "$name" || fail "$name (pid $pid) exited during start-up"
done <"$REEL_TEST_SERVER_PIDS"
sound_log "up: sink $sink is the default ($(tr '\n' ' ' <"$REEL_TEST_SERVER_PIDS"))"
