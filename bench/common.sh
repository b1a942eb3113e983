# shellcheck shell=bash
# Shared by bench/load.sh and bench/passthrough.sh (sourced, not run): logging, the tools they
# need, the servers they start and stop, and the CPU accounting that tells whether the machine
# was quiet enough for a run to count.
#
# The sourcing script sets ROOT, OUT and WORK first, then appends the PID of every server it
# starts to SERVER_PIDS; `cleanup` (installed as the EXIT trap here) stops them by PID, keeps
# their logs in OUT if the script failed, and removes WORK.

SERVER_PIDS=()

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ensure_tools: installs wrk if missing (apt-get) and checks for python3.
ensure_tools() {
    if ! command -v wrk >/dev/null; then
        log "installing wrk"
        local sudo
        sudo=$([ "$(id -u)" = 0 ] || echo sudo)
        $sudo apt-get update
        $sudo apt-get install -y wrk
    fi
    command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
}

cleanup() {
    local status=$? pid
    # On failure keep the servers' logs next to the raw outputs.
    [ "$status" -eq 0 ] || cp "$WORK"/*.out "$WORK"/*.err "$OUT"/ 2>/dev/null || true
    for pid in "${SERVER_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_listening LOGFILE PID: waits (at most 30 s) for the server's "listening on" line and
# prints the base URL it names (http://127.0.0.1:PORT/...). The server's stderr is LOGFILE
# with `.out` replaced by `.err`.
wait_listening() {
    local logfile=$1 pid=$2 _
    for _ in $(seq 300); do
        if grep -q '^listening on ' "$logfile" 2>/dev/null; then
            sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$logfile" | head -n1
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || { cat "$logfile" "${logfile%.out}.err" >&2 || true; return 1; }
        sleep 0.1
    done
    echo "server did not start" >&2
    return 1
}

# rss PID KEY: a /proc status line's value (VmRSS, VmHWM) with its unit.
rss() { awk -v k="$2:" '$1 == k {print $2 " " $3}' "/proc/$1/status"; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, in clock ticks
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
servers_ticks() {
    local pid sum=0
    for pid in "${SERVER_PIDS[@]}"; do
        sum=$((sum + $(cpu_ticks "$pid")))
    done
    echo "$sum"
}

# wait_quiet [NAME]: waits (at most QUIET_WAIT seconds) until the machine is idle apart from our
# servers: busy CPU over one second, minus theirs, below 0.25 cores. A run that starts anyway is
# named in $OUT/not_quiet.txt.
wait_quiet() {
    local hz waited=0 b0 b1 s0 s1 other
    hz=$(getconf CLK_TCK)
    while :; do
        b0=$(busy_ticks); s0=$(servers_ticks)
        sleep 1
        b1=$(busy_ticks); s1=$(servers_ticks)
        other=$(( (b1 - b0) - (s1 - s0) ))
        [ $((other * 4)) -lt "$hz" ] && return 0
        waited=$((waited + 1))
        if [ "$waited" -ge "$QUIET_WAIT" ]; then
            log "other processes still use $((other * 100 / hz))% of a core; running anyway"
            echo "${1:-run}" >>"$OUT/not_quiet.txt"
            return 0
        fi
    done
}

# machine_meta DIRS...: the lines every results directory's meta.env starts with; the commit is
# marked `+dirty` when DIRS (of the repository) have uncommitted changes.
machine_meta() {
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- "$@" 2>/dev/null || echo '+dirty')"
    echo "cpus=$(nproc)"
    echo "cpu_model=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    echo "kernel=$(uname -r)"
}
