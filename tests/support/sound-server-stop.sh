#!/usr/bin/env bash
# Stops the private sound server started by sound-server-start.sh (within the
# session of with-sound-server.sh). The session itself (runtime directory,
# D-Bus) stays, so sound-server-start.sh can bring the server back.
#
#   sound-server-stop.sh          SIGTERM: an orderly shutdown
#   sound-server-stop.sh --kill   SIGKILL: simulates a crash of the server
#
# Returns once none of the daemons is running (escalating to SIGKILL after
# 5 s); idempotent.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/support/sound-server-common.sh
. "$here/sound-server-common.sh"

sig=TERM
case ${1:-} in
"") ;;
--kill) sig=KILL ;;
*) sound_die "usage: $0 [--kill]" ;;
esac

require_sound_session
[[ -s $REEL_TEST_SERVER_PIDS ]] || exit 0

names=() pids=()
while read -r name pid; do
    names+=("$name")
    pids+=("$pid")
done <"$REEL_TEST_SERVER_PIDS"

# Clients first, pipewire last.
for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    if proc_alive "${pids[i]}" "${names[i]}"; then
        kill "-$sig" "${pids[i]}" 2>/dev/null || true
    fi
done

any_alive() {
    local i
    for i in "${!pids[@]}"; do
        proc_alive "${pids[i]}" "${names[i]}" && return 0
    done
    return 1
}
not_any_alive() { ! any_alive; }

if ! wait_until 5 "the sound server to exit after SIG$sig" not_any_alive; then
    for i in "${!pids[@]}"; do
        if proc_alive "${pids[i]}" "${names[i]}"; then
            sound_log "${names[i]} (pid ${pids[i]}) ignored SIG$sig; sending SIGKILL"
            kill -KILL "${pids[i]}" 2>/dev/null || true
        fi
    done
    wait_until 5 "the sound server to exit after SIGKILL" not_any_alive ||
        sound_die "could not stop the sound server"
fi
: >"$REEL_TEST_SERVER_PIDS"
