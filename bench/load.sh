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

WORK=$(mktemp -d)
# shellcheck source=bench/common.sh
. "$BENCH/common.sh"

# --- tools and binaries ----------------------------------------------------------------------
ensure_tools

log "building release binary and ceiling example"
(cd "$ROOT" && cargo build --release -p scim-gateway --bin scim-gateway --example ceiling)
GATEWAY_BIN=$TARGET/release/scim-gateway
CEILING_BIN=$TARGET/release/examples/ceiling

mkdir -p "$OUT"
: >"$OUT/runs.txt"
{
    machine_meta gateway
    echo "threads=$THREADS"
    echo "duration=$DURATION"
    echo "fs=$(df -T "$WORK" | awk 'NR==2 {print $2 " (" $1 ")"}')"
} >"$OUT/meta.env"

GW_PORT=$(python3 "$BENCH/bench.py" port)
SCIM_GATEWAY_TOKEN=$TOKEN "$GATEWAY_BIN" serve --listen "127.0.0.1:$GW_PORT" \
    --data-dir "$WORK/data" >"$WORK/gateway.out" 2>"$WORK/gateway.err" &
GATEWAY_PID=$!
SERVER_PID=$GATEWAY_PID
SERVER_PIDS+=("$GATEWAY_PID")
wait_listening "$WORK/gateway.out" "$GATEWAY_PID" >/dev/null
BASE=http://127.0.0.1:$GW_PORT/scim/v2
log "gateway pid $GATEWAY_PID at $BASE"

# run NAME CONNS [wrk args...] : one wrk run against $SERVER_PID, raw output in $OUT/NAME.txt,
# followed by a `cpu:` line: CPU seconds used by the server, by wrk, and by everything else on
# the machine during the run (other tenants' work makes the req/s of that run unreliable).
run() {
    local name=$1 conns=$2 hz s0 b0 s1 b1 wall user sys TIMEFORMAT='%R %U %S'
    shift 2
    hz=$(getconf CLK_TCK)
    wait_quiet "$name"
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
SERVER_PIDS=()

# --- f. the ceiling (the gateway is stopped, so it has the CPUs to itself) --------------------
CE_PORT=$(python3 "$BENCH/bench.py" port)
"$CEILING_BIN" "127.0.0.1:$CE_PORT" >"$WORK/ceiling.out" 2>"$WORK/ceiling.err" &
CEILING_PID=$!
SERVER_PID=$CEILING_PID
SERVER_PIDS+=("$CEILING_PID")
wait_listening "$WORK/ceiling.out" "$CEILING_PID" >/dev/null
run ceiling_get "$CONNS" -d"${DURATION}s" -s "$BENCH/get_user.lua" "http://127.0.0.1:$CE_PORT/scim/v2/Users" -- "$TOKEN" "$WORK/ids.txt"
echo "ceiling_hwm=$(rss "$CEILING_PID" VmHWM)" >>"$OUT/meta.env"

python3 "$BENCH/bench.py" summary "$OUT"
log "raw outputs and summary.txt in ${OUT#"$ROOT"/}"
