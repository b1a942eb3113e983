#!/usr/bin/env bash
# The cost of pass-through mode on this machine; see docs/benchmarks.md ("Pass-through mode").
#
# Usage: bench/passthrough.sh     (from anywhere; about 2 minutes plus the release build)
#
# Environment (all optional):
#   DURATION=15       seconds of each timed read run (the POST runs last DURATION/2)
#   THREADS=2         wrk threads
#   CONNS=32          wrk connections of every run
#   USERS=2000        users seeded into B before the read runs
#   SEED_WORKERS=2    concurrent POST /Bulk requests while seeding (1000 operations each)
#   OUT=DIR           where the raw outputs go [docs/benchmark-results/passthrough-<UTC timestamp>]
#   QUIET_WAIT=20     before each timed run, wait up to this many seconds for other processes
#                     to use less than a quarter of a core (the machine may be shared)
#
# It installs wrk if missing (apt-get), builds the release binary, and starts two gateways on
# 127.0.0.1 (free ports, empty temporary data directories):
#   B  a plain gateway (it stores the identities);
#   A  a gateway in pass-through mode whose system of record is B, through the bundled `scim2`
#      connector (adopt = "false", no other connector): every SCIM request to A is answered by
#      asking B over HTTP from a WebAssembly plugin call.
# It seeds USERS users into B by POST /Bulk (bounded by count), lists their ids and userNames
# (paging), then runs, each answer checked by the Lua script:
#   get_b, get_a          GET /Users/{id} (random ids) on B, then on A                    200
#   filter_b, filter_a    GET /Users?filter=userName eq "<random existing>" on B, then A   200
#   post_a, post_b        POST /Users (unique userNames) on A, then on B, DURATION/2        201
# and prints a summary (req/s, mean and tail latency, CPU per request and RSS of A and of B, the
# ratio A / B of each pair), kept with every raw wrk output in OUT. A run with any other status,
# a wrong body or a socket error fails the script (after the summary). The gateways are stopped
# (by PID) on exit and the temporary directory is removed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
DURATION=${DURATION:-15}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
USERS=${USERS:-2000}
SEED_WORKERS=${SEED_WORKERS:-2}
QUIET_WAIT=${QUIET_WAIT:-20}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-$ROOT/docs/benchmark-results/passthrough-$STAMP}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
TOKEN=bench-$RANDOM$RANDOM
POST_DURATION=$(( (DURATION + 1) / 2 ))

WORK=$(mktemp -d)
# shellcheck source=bench/common.sh
. "$BENCH/common.sh"

# --- tools and binary ------------------------------------------------------------------------
ensure_tools

log "building the release binary"
(cd "$ROOT" && nice -n 19 cargo build --release -p scim-gateway --bin scim-gateway)
GATEWAY_BIN=$TARGET/release/scim-gateway

mkdir -p "$OUT"
: >"$OUT/runs.txt"
{
    machine_meta gateway plugins
    echo "threads=$THREADS"
    echo "conns=$CONNS"
    echo "duration=$DURATION"
    echo "post_duration=$POST_DURATION"
} >"$OUT/meta.env"

# Port 0: the OS picks a free port and the "listening on" line names it.
SCIM_GATEWAY_TOKEN=$TOKEN "$GATEWAY_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/b" \
    >"$WORK/b.out" 2>"$WORK/b.err" &
B_PID=$!
SERVER_PIDS+=("$B_PID")
B_BASE=$(wait_listening "$WORK/b.out" "$B_PID")
B_ORIGIN=${B_BASE%/scim/v2}
log "B (plain) pid $B_PID at $B_BASE"

cat >"$WORK/a.toml" <<EOF
[pass_through]
system_of_record = "directory"

[[connectors]]
name = "directory"
plugin = "scim2"
allowed_hosts = ["$B_ORIGIN"]
[connectors.config]
base_url = "$B_BASE"
adopt = "false"
[connectors.secrets]
token = "$TOKEN"
EOF
SCIM_GATEWAY_TOKEN=$TOKEN "$GATEWAY_BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/a" \
    --config "$WORK/a.toml" >"$WORK/a.out" 2>"$WORK/a.err" &
A_PID=$!
SERVER_PIDS+=("$A_PID")
A_BASE=$(wait_listening "$WORK/a.out" "$A_PID")
log "A (pass-through to B) pid $A_PID at $A_BASE"

FAILED=
# run NAME TARGET [wrk args...] : one wrk run (TARGET is A or B, for the summary), raw output
# in $OUT/NAME.txt, followed by a `cpu:` line: CPU seconds used by both gateways together
# (server_s; a read on A costs B's work too), by wrk, by everything else on the machine, and
# by A and B separately (a_s, b_s). A run with an unexpected status, a wrong body or a socket
# error is recorded as failed. Then an `rss:` line: A's and B's VmRSS (kB) after the run.
run() {
    local name=$1 target=$2 hz a0 b0 busy0 a1 b1 busy1 wall user sys TIMEFORMAT='%R %U %S'
    shift 2
    hz=$(getconf CLK_TCK)
    wait_quiet "$name"
    log "$name: wrk -t$THREADS -c$CONNS $*"
    a0=$(cpu_ticks "$A_PID"); b0=$(cpu_ticks "$B_PID"); busy0=$(busy_ticks)
    { time wrk -t"$THREADS" -c"$CONNS" --latency "$@" >"$OUT/$name.txt" 2>&1; } 2>"$WORK/time"
    a1=$(cpu_ticks "$A_PID"); b1=$(cpu_ticks "$B_PID"); busy1=$(busy_ticks)
    read -r wall user sys <"$WORK/time"
    python3 -c "
a = ($a1 - $a0) / $hz
b = ($b1 - $b0) / $hz
wrk = $user + $sys
other = max(0.0, ($busy1 - $busy0) / $hz - a - b - wrk)
print(f'cpu: wall_s={$wall:.1f} server_s={a + b:.2f} wrk_s={wrk:.2f} other_s={other:.2f} load_before=$(cut -d' ' -f1 /proc/loadavg) a_s={a:.2f} b_s={b:.2f}')
" >>"$OUT/$name.txt"
    echo "rss: a=$(rss "$A_PID" VmRSS | cut -d' ' -f1) b=$(rss "$B_PID" VmRSS | cut -d' ' -f1)" >>"$OUT/$name.txt"
    echo "$name $target $name.txt" >>"$OUT/runs.txt"
    grep -E 'Requests/sec|Socket errors|^lua:|^cpu:' "$OUT/$name.txt" >&2 || true
    if ! grep -qE '^lua: .* unexpected=0 bad_body=0 ' "$OUT/$name.txt" \
        || grep -q 'Socket errors' "$OUT/$name.txt"; then
        log "$name FAILED: see ${OUT#"$ROOT"/}/$name.txt"
        FAILED="$FAILED $name"
    fi
}

# --- seed B, list ids and userNames ----------------------------------------------------------
log "seeding $USERS users into B"
# Bounded by count: ceil(USERS / 1000) bulk requests of at most 1000 operations.
python3 "$BENCH/bench.py" seed "$B_BASE" "$TOKEN" "$USERS" "$SEED_WORKERS" | tee "$OUT/seed.txt" >&2
have=$(python3 "$BENCH/bench.py" count "$B_BASE" "$TOKEN")
[ "$have" -ge "$USERS" ] || { echo "only $have users in B after seeding" >&2; exit 1; }
via_a=$(python3 "$BENCH/bench.py" count "$A_BASE" "$TOKEN")
[ "$via_a" = "$have" ] || { echo "A counts $via_a users, B $have" >&2; exit 1; }
n=$(python3 "$BENCH/bench.py" dump "$B_BASE" "$TOKEN" "$WORK/ids.txt" "$WORK/names.txt")
{
    echo "users=$have"
    echo "seed=$(sed 's/^bulk: //' "$OUT/seed.txt")"
    echo "rss_after_seed=A $(rss "$A_PID" VmRSS), B $(rss "$B_PID" VmRSS)"
} >>"$OUT/meta.env"
log "$have users in B (A counts $via_a); saved $n ids and userNames"

# --- timed runs ------------------------------------------------------------------------------
run get_b B -d"${DURATION}s" -s "$BENCH/get_user.lua" "$B_BASE/Users" -- "$TOKEN" "$WORK/ids.txt"
run get_a A -d"${DURATION}s" -s "$BENCH/get_user.lua" "$A_BASE/Users" -- "$TOKEN" "$WORK/ids.txt"
run filter_b B -d"${DURATION}s" -s "$BENCH/filter_user.lua" "$B_BASE/Users" -- "$TOKEN" "$WORK/names.txt"
run filter_a A -d"${DURATION}s" -s "$BENCH/filter_user.lua" "$A_BASE/Users" -- "$TOKEN" "$WORK/names.txt"
run post_a A -d"${POST_DURATION}s" -s "$BENCH/post_users.lua" "$A_BASE/Users" -- "$TOKEN" "pa$STAMP"
run post_b B -d"${POST_DURATION}s" -s "$BENCH/post_users.lua" "$B_BASE/Users" -- "$TOKEN" "pb$STAMP"

{
    echo "a_hwm=$(rss "$A_PID" VmHWM)"
    echo "b_hwm=$(rss "$B_PID" VmHWM)"
} >>"$OUT/meta.env"

# --- summary ---------------------------------------------------------------------------------
python3 - "$BENCH" "$OUT" <<'EOF'
import os, re, sys
sys.path.insert(0, sys.argv[1])
from bench import parse_wrk, ms

out = sys.argv[2]
meta = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(out, "meta.env")) if "=" in l)
rows = {}
for name, target, file in (l.split() for l in open(os.path.join(out, "runs.txt")) if l.strip()):
    text = open(os.path.join(out, file)).read()
    r = parse_wrk(os.path.join(out, file))
    m = re.search(r"^\s+Latency\s+(\S+)", text, re.M)
    r["mean"] = ms(m.group(1)) if m else float("nan")
    m = re.search(r" a_s=([\d.]+) b_s=([\d.]+)", text)
    n = max(r["requests"], 1)
    r["a_us"], r["b_us"] = (float(m.group(i)) * 1e6 / n for i in (1, 2)) if m else (float("nan"),) * 2
    m = re.search(r"^rss: a=(\d+) b=(\d+)", text, re.M)
    r["a_rss"], r["b_rss"] = (int(m.group(i)) // 1024 for i in (1, 2)) if m else ("?", "?")
    r["target"] = target
    rows[name] = r

lines = [
    f"scim-gateway pass-through cost, {meta.get('date', '?')}, commit {meta.get('commit', '?')}",
    f"machine: {meta.get('cpus', '?')} CPUs ({meta.get('cpu_model', '?')}), {meta.get('mem', '?')} RAM, "
    f"kernel {meta.get('kernel', '?')}; wrk, A and B share the same CPUs",
    f"wrk -t{meta.get('threads')} -c{meta.get('conns')} --latency, reads {meta.get('duration')} s, "
    f"POSTs {meta.get('post_duration')} s; {meta.get('users', '?')} users seeded into B",
    "B: plain gateway; A: pass-through gateway, system of record B through the bundled scim2 plugin",
    "",
    "a_us / b_us / wrk_us: CPU microseconds per request used by A / B / wrk; other: cores used by",
    "other processes during the run; A MiB / B MiB: RSS after the run.",
    "",
    f"{'run':<9} {'to':>2} {'req/s':>8} {'mean ms':>7} {'p50 ms':>7} {'p99 ms':>7} {'requests':>8} "
    f"{'unexp.':>6} {'badbody':>7} {'a_us':>6} {'b_us':>6} {'wrk_us':>6} {'other':>5} {'A MiB':>5} {'B MiB':>5}  statuses",
]
for name, r in rows.items():
    lines.append(f"{name:<9} {r['target']:>2} {r['rps']:>8.0f} {r['mean']:>7.2f} {r['p50']:>7.2f} {r['p99']:>7.2f} "
                 f"{r['requests']:>8} {r['unexpected']:>6} {r['bad_body']:>7} {r['a_us']:>6.1f} {r['b_us']:>6.1f} "
                 f"{r['wrk_us']:>6.1f} {r['other_cores']:>5.2f} {r['a_rss']:>5} {r['b_rss']:>5}  {r['statuses']}"
                 + (f"  socket errors: {r['errors']}" if r["errors"] else ""))
lines += ["", f"{'A / B':<26} {'req/s':>7} {'mean latency':>13} {'gateway CPU per request (A+B)':>30}"]
for label, a, b in [("GET /Users/{id}", "get_a", "get_b"),
                    ("filter userName eq", "filter_a", "filter_b"),
                    ("POST /Users", "post_a", "post_b")]:
    if a in rows and b in rows:
        ra, rb = rows[a], rows[b]
        cpu_a, cpu_b = ra["a_us"] + ra["b_us"], rb["a_us"] + rb["b_us"]
        lines.append(f"{label:<26} {ra['rps'] / rb['rps']:>7.1%} {ra['mean'] / rb['mean']:>12.2f}x "
                     f"{cpu_a:>12.1f} / {cpu_b:.1f} us = {cpu_a / cpu_b:.2f}x")
lines += ["", f"RSS after seeding: {meta.get('rss_after_seed', '?')}",
          f"peak RSS (VmHWM): A {meta.get('a_hwm', '?')}, B {meta.get('b_hwm', '?')}"]
if os.path.exists(os.path.join(out, "not_quiet.txt")):
    lines.append("not quiet before: " + " ".join(open(os.path.join(out, "not_quiet.txt")).read().split()))
text = "\n".join(lines) + "\n"
open(os.path.join(out, "summary.txt"), "w").write(text)
sys.stdout.write(text)
EOF
log "raw outputs and summary.txt in ${OUT#"$ROOT"/}"
if [ -n "$FAILED" ]; then
    log "FAILED runs:$FAILED"
    exit 1
fi
