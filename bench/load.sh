#!/usr/bin/env bash
# Load test of scim-gateway on this machine; see docs/benchmarks.md.
#
# Usage: bench/load.sh            (from anywhere; about 3-5 minutes plus the release build)
#
# Environment (all optional):
#   DURATION=20       seconds of each timed wrk run
#   THREADS=2         wrk threads
#   CONNS=64          wrk connections for the runs that are compared (GETs, first POST run)
#   POST_CONNS="64 256"  connection counts of the POST runs
#   USERS=100000      users in the store before the read runs (the POST runs count toward it)
#   SEED_WORKERS=32   concurrent POST /Bulk requests while seeding
#   OUT=DIR           where the raw outputs go [docs/benchmark-results/<UTC timestamp>]
#   QUIET_WAIT=20     before each timed run, wait up to this many seconds for other processes
#                     to use less than a quarter of a core (the machine may be shared)
#
# It installs wrk if missing (apt-get), builds the release binary and the `ceiling` example,
# starts the gateway on a free 127.0.0.1 port with an empty data directory, runs:
#   a. POST /Users (unique userNames) for DURATION at each of POST_CONNS; every answer must be 201
#   b. seeds up to USERS users by POST /Bulk (1000 operations a request, bounded by count) and
#      checks GET /Users?count=0
#   c. saves every id and userName (paging by 1000)
#   d. GET /Users/{id} over random ids
#   e. GET /Users?filter=userName eq "<random existing>"
#   f. the same GET load as d. against the ceiling example (bare axum, fixed body)
#   g. the gateway's RSS after seeding and VmHWM (peak RSS) at the end
# then prints a summary and keeps it, with every raw wrk output, in OUT. Servers it started are
# stopped (by PID) on exit; the data directory is removed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
DURATION=${DURATION:-20}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
POST_CONNS=${POST_CONNS:-"64 256"}
QUIET_WAIT=${QUIET_WAIT:-20}
USERS=${USERS:-100000}
SEED_WORKERS=${SEED_WORKERS:-32}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$ROOT/docs/benchmark-results/$STAMP}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
TOKEN=bench-$RANDOM$RANDOM

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- tools and binaries ----------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    log "installing wrk"
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update
    $SUDO apt-get install -y wrk
fi
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }

log "building release binary and ceiling example"
(cd "$ROOT" && cargo build --release -p scim-gateway --bin scim-gateway --example ceiling)
GATEWAY_BIN=$TARGET/release/scim-gateway
CEILING_BIN=$TARGET/release/examples/ceiling

# --- servers, cleanup ------------------------------------------------------------------------
WORK=$(mktemp -d)
GATEWAY_PID=
CEILING_PID=
cleanup() {
    local status=$? pid
    # On failure keep the servers' logs next to the raw outputs.
    [ "$status" -eq 0 ] || cp "$WORK"/*.out "$WORK"/*.err "$OUT"/ 2>/dev/null || true
    for pid in $GATEWAY_PID $CEILING_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_listening LOGFILE PID: waits (at most 30 s) for the server's "listening on" line.
wait_listening() {
    local logfile=$1 pid=$2 i
    for i in $(seq 300); do
        grep -q 'listening on' "$logfile" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$logfile" "$logfile.err" >&2 || true; return 1; }
        sleep 0.1
    done
    echo "server did not start" >&2
    return 1
}

rss() { awk -v k="$2:" '$1 == k {print $2 " " $3}' "/proc/$1/status"; }

mkdir -p "$OUT"
: >"$OUT/runs.txt"
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- gateway 2>/dev/null || echo '+dirty')"
    echo "cpus=$(nproc)"
    echo "cpu_model=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    echo "kernel=$(uname -r)"
    echo "threads=$THREADS"
    echo "duration=$DURATION"
    echo "fs=$(df -T "$WORK" | awk 'NR==2 {print $2 " (" $1 ")"}')"
} >"$OUT/meta.env"

GW_PORT=$(python3 "$BENCH/bench.py" port)
SCIM_GATEWAY_TOKEN=$TOKEN "$GATEWAY_BIN" serve --listen "127.0.0.1:$GW_PORT" \
    --data-dir "$WORK/data" >"$WORK/gateway.out" 2>"$WORK/gateway.out.err" &
GATEWAY_PID=$!
SERVER_PID=$GATEWAY_PID
wait_listening "$WORK/gateway.out" "$GATEWAY_PID"
BASE=http://127.0.0.1:$GW_PORT/scim/v2
log "gateway pid $GATEWAY_PID at $BASE"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, in clock ticks
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

# Waits (at most QUIET_WAIT seconds) until the machine is idle apart from our server: busy CPU
# over one second, minus the server's, below 0.25 cores.
wait_quiet() {
    local hz waited=0 b0 b1 s0 s1 other
    hz=$(getconf CLK_TCK)
    while :; do
        b0=$(busy_ticks); s0=$(cpu_ticks "$SERVER_PID")
        sleep 1
        b1=$(busy_ticks); s1=$(cpu_ticks "$SERVER_PID")
        other=$(( (b1 - b0) - (s1 - s0) ))
        [ $((other * 4)) -lt "$hz" ] && return 0
        waited=$((waited + 1))
        if [ "$waited" -ge "$QUIET_WAIT" ]; then
            log "other processes still use $((other * 100 / hz))% of a core; running anyway"
            return 0
        fi
    done
}

# run NAME CONNS [wrk args...] : one wrk run against $SERVER_PID, raw output in $OUT/NAME.txt,
# followed by a `cpu:` line: CPU seconds used by the server, by wrk, and by everything else on
# the machine during the run (other tenants' work makes the req/s of that run unreliable).
run() {
    local name=$1 conns=$2 hz s0 b0 s1 b1 wall user sys TIMEFORMAT='%R %U %S'
    shift 2
    hz=$(getconf CLK_TCK)
    wait_quiet
    log "$name: wrk -t$THREADS -c$conns $*"
    s0=$(cpu_ticks "$SERVER_PID")
    b0=$(busy_ticks)
    { time wrk -t"$THREADS" -c"$conns" --latency "$@" >"$OUT/$name.txt" 2>&1; } 2>"$WORK/time"
    s1=$(cpu_ticks "$SERVER_PID")
    b1=$(busy_ticks)
    read -r wall user sys <"$WORK/time"
    python3 -c "
srv = ($s1 - $s0) / $hz
wrk = $user + $sys
other = max(0.0, ($b1 - $b0) / $hz - srv - wrk)
print(f'cpu: wall_s={$wall:.1f} server_s={srv:.2f} wrk_s={wrk:.2f} other_s={other:.2f} load_before=$(cut -d' ' -f1 /proc/loadavg)')
" >>"$OUT/$name.txt"
    echo "$name $conns $name.txt" >>"$OUT/runs.txt"
    grep -E 'Requests/sec|^lua:|^cpu:' "$OUT/$name.txt" >&2 || true
}

# --- a. durable creates ----------------------------------------------------------------------
for c in $POST_CONNS; do
    run "post_c$c" "$c" -d"${DURATION}s" -s "$BENCH/post_users.lua" "$BASE/Users" -- "$TOKEN" "p$c"
done

echo "rss_after_posts=$(rss "$GATEWAY_PID" VmRSS)" >>"$OUT/meta.env"

# --- b. seed to $USERS -----------------------------------------------------------------------
have=$(python3 "$BENCH/bench.py" count "$BASE" "$TOKEN")
missing=$((USERS - have))
if [ "$missing" -gt 0 ]; then
    log "seeding $missing users (have $have)"
    # Bounded by count: ceil(missing / 1000) bulk requests of at most 1000 operations.
    python3 "$BENCH/bench.py" seed "$BASE" "$TOKEN" "$missing" "$SEED_WORKERS" | tee "$OUT/seed.txt" >&2
    echo "seed=$(sed 's/^bulk: //' "$OUT/seed.txt")" >>"$OUT/meta.env"
fi
have=$(python3 "$BENCH/bench.py" count "$BASE" "$TOKEN")
[ "$have" -ge "$USERS" ] || { echo "only $have users after seeding" >&2; exit 1; }
{
    echo "users=$have"
    echo "db_size=$(du -h "$WORK/data/gateway.redb" | cut -f1)"
    echo "rss_after_seed=$(rss "$GATEWAY_PID" VmRSS)"
} >>"$OUT/meta.env"
log "$have users; RSS $(rss "$GATEWAY_PID" VmRSS)"

# --- c. ids and userNames --------------------------------------------------------------------
n=$(python3 "$BENCH/bench.py" dump "$BASE" "$TOKEN" "$WORK/ids.txt" "$WORK/names.txt")
log "saved $n ids and userNames"

# --- d., e. reads ----------------------------------------------------------------------------
run get_by_id "$CONNS" -d"${DURATION}s" -s "$BENCH/get_user.lua" "$BASE/Users" -- "$TOKEN" "$WORK/ids.txt"
run filter_username "$CONNS" -d"${DURATION}s" -s "$BENCH/filter_user.lua" "$BASE/Users" -- "$TOKEN" "$WORK/names.txt"

# --- g. gateway memory -----------------------------------------------------------------------
{
    echo "rss_end=$(rss "$GATEWAY_PID" VmRSS)"
    echo "hwm_end=$(rss "$GATEWAY_PID" VmHWM)"
} >>"$OUT/meta.env"
kill "$GATEWAY_PID"
wait "$GATEWAY_PID" 2>/dev/null || true
GATEWAY_PID=

# --- f. the ceiling (the gateway is stopped, so it has the CPUs to itself) --------------------
CE_PORT=$(python3 "$BENCH/bench.py" port)
"$CEILING_BIN" "127.0.0.1:$CE_PORT" >"$WORK/ceiling.out" 2>"$WORK/ceiling.out.err" &
CEILING_PID=$!
SERVER_PID=$CEILING_PID
wait_listening "$WORK/ceiling.out" "$CEILING_PID"
run ceiling_get "$CONNS" -d"${DURATION}s" -s "$BENCH/get_user.lua" "http://127.0.0.1:$CE_PORT/scim/v2/Users" -- "$TOKEN" "$WORK/ids.txt"
echo "ceiling_hwm=$(rss "$CEILING_PID" VmHWM)" >>"$OUT/meta.env"

python3 "$BENCH/bench.py" summary "$OUT"
log "raw outputs and summary.txt in ${OUT#"$ROOT"/}"
