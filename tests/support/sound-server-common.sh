# shellcheck shell=bash
# Shared helpers for the private test sound server scripts:
#   with-sound-server.sh, sound-server-start.sh, sound-server-stop.sh.
# Sourced, not executed.

REEL_SINK_NAME_DEFAULT=reel_test_sink

# Seconds each start-up phase may take before we give up (bounded waits only).
: "${REEL_SOUND_SERVER_TIMEOUT:=10}"

sound_log() { printf '[sound-server] %s\n' "$*" >&2; }

sound_die() {
    printf '[sound-server] ERROR: %s\n' "$*" >&2
    exit 1
}

# wait_until TIMEOUT_SECONDS DESCRIPTION COMMAND...: polls COMMAND every 20 ms
# until it succeeds; returns 1 after TIMEOUT_SECONDS.
wait_until() {
    local timeout=$1 what=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    while ! "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            sound_log "timed out after ${timeout}s waiting for: $what"
            return 1
        fi
        sleep 0.02
    done
}

# The variables the start/stop scripts need; with-sound-server.sh exports them.
require_sound_session() {
    local v
    for v in REEL_SOUND_DIR XDG_RUNTIME_DIR REEL_TEST_SERVER_PIDS DBUS_SESSION_BUS_ADDRESS; do
        if [[ -z ${!v:-} ]]; then
            sound_die "\$$v is not set: run this inside tests/support/with-sound-server.sh (e.g. via \`make test\`)"
        fi
    done
    [[ -d $REEL_SOUND_DIR && -d $XDG_RUNTIME_DIR ]] ||
        sound_die "session directory $REEL_SOUND_DIR is gone"
}

# pid_running PID: true while any thread of PID is alive. A zombie thread-group
# leader whose other threads are still shutting down counts as running: only
# when all of them are gone can its parent reap it.
pid_running() {
    local task stat state
    for task in /proc/"$1"/task/*; do
        { read -r stat <"$task/stat"; } 2>/dev/null || continue
        # The command name (field 2) is in parentheses and may contain spaces;
        # the state is the field after the last ')'.
        stat=${stat##*) }
        state=${stat%% *}
        [[ $state == Z || $state == X ]] || return 0
    done
    return 1
}

# proc_alive PID COMM: true while PID runs and is named COMM (the name check
# guards against a recycled PID).
proc_alive() {
    local pid=$1 comm=$2 actual
    { read -r actual <"/proc/$pid/comm"; } 2>/dev/null || return 1
    [[ $actual == "$comm" ]] && pid_running "$pid"
}

# Prints the tail of every daemon log, for error reports.
dump_sound_logs() {
    local f text
    for f in "$REEL_SOUND_DIR"/logs/*.log; do
        [[ -f $f ]] || continue
        # (dbus-daemon's complaint about the fd limit is harmless noise.)
        text=$(grep -v 'Failed to set fd limit' "$f" | tail -n 30) || true
        [[ -n $text ]] || continue
        printf -- '----- %s (last 30 lines) -----\n%s\n' "${f##*/}" "$text" >&2
    done
}
