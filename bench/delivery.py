#!/usr/bin/env python3
"""End-to-end delivery throughput: gateway A provisions to gateway B through the bundled `scim2`
connector (a WebAssembly component), both release binaries on loopback.

    cargo build --release -p scim-gateway --bin scim-gateway
    bench/delivery.py [--users 20000] [--bin target/release/scim-gateway]

It starts B, then A with examples/provision-to-scim.toml pointed at B, writes N users into A
with /Bulk (1,000 per request), and measures:
  - ingest: how fast A accepted the writes (durable, each with its delivery job);
  - delivery: events per second from the first write until A's outbox is empty;
  - that B then holds exactly N users and A has no dead letters.
Both servers bind 127.0.0.1 on free ports and are stopped by this script. Everything is bounded:
N users, and a 15-minute deadline for the drain.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-token"
ADMIN = "bench-admin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, data_dir, env_extra, config=None, port=None):
    port = port or free_port()
    args = [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir]
    if config:
        args += ["--config", config]
    env = dict(os.environ, SCIM_GATEWAY_TOKEN=TOKEN, SCIM_GATEWAY_ADMIN_TOKEN=ADMIN, RUST_LOG="warn", **env_extra)
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        sys.exit(f"gateway did not start: {line!r}")
    return proc, f"http://127.0.0.1:{port}"


def call(method, url, body=None, token=TOKEN):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/scim+json")
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"null")


def bulk(origin, start_index, n):
    ops = [{"method": "POST", "path": "/Users", "bulkId": f"u{i}",
            "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                     "userName": f"bench{i}@example.com", "active": True,
                     "name": {"givenName": "Bench", "familyName": f"User{i}"},
                     "emails": [{"value": f"bench{i}@example.com", "type": "work", "primary": True}]}}
           for i in range(start_index, start_index + n)]
    answer = call("POST", f"{origin}/scim/v2/Bulk",
                  {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})
    failed = [o for o in answer["Operations"] if o["status"] != "201"]
    if failed:
        sys.exit(f"bulk write failed: {failed[:3]}")


def start_provisioning(binary, work, b_origin, adjust=lambda config: config):
    """Starts gateway A in `work`/a with examples/provision-to-scim.toml pointed at `b_origin`,
    its retries short enough that a backlog resumes at once; `adjust` edits the config text."""
    with open(os.path.join(ROOT, "examples", "provision-to-scim.toml")) as f:
        config = f.read().replace("base_delay_ms = 500", "base_delay_ms = 50").replace(
            "max_delay_ms = 300000", "max_delay_ms = 500").replace("max_attempts = 12", "max_attempts = 100000")
    config_path = os.path.join(work, "a.toml")
    with open(config_path, "w") as f:
        f.write(adjust(config))
    return start(binary, os.path.join(work, "a"),
                 {"TARGET_SCIM_URL": f"{b_origin}/scim/v2", "TARGET_SCIM_TOKEN": TOKEN}, config_path)


def stop(procs, work):
    """Stops the servers this script started (SIGTERM, then SIGKILL after 10 s) and removes
    their data."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    shutil.rmtree(work, ignore_errors=True)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "scim-gateway"))
    ap.add_argument("--workers", type=int, default=32, help="[delivery] workers of gateway A")
    ap.add_argument("--backlog", action="store_true",
                    help="start B only after every write is in A's outbox, and time the drain alone")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="scim-delivery-bench-")
    procs = []
    try:
        b_port = free_port()
        b_origin = f"http://127.0.0.1:{b_port}"
        if not args.backlog:
            b, _ = start(args.bin, os.path.join(work, "b"), {}, port=b_port)
            procs.append(b)
        a, a_origin = start_provisioning(args.bin, work, b_origin,
                                         lambda c: c.replace("[delivery]", "[delivery]\nworkers = " + str(args.workers)))
        procs.append(a)
        t0 = time.monotonic()
        # A bulk request runs its operations one after the other; eight at once let A's group
        # commit work, so that delivery, not ingestion, is what this measures.
        with ThreadPoolExecutor(max_workers=8) as pool:
            batches = [(first, min(1000, args.users - first)) for first in range(0, args.users, 1000)]
            list(pool.map(lambda b: bulk(a_origin, *b), batches))
        ingested = time.monotonic() - t0
        if args.backlog:
            b, _ = start(args.bin, os.path.join(work, "b"), {}, port=b_port)
            procs.append(b)
            t0 = time.monotonic()
        deadline = t0 + 900
        # Poll B's count (O(1)), not A's job listing, so that measuring costs A nothing.
        while call("GET", f"{b_origin}/scim/v2/Users?count=0")["totalResults"] < args.users:
            if time.monotonic() > deadline:
                sys.exit("B did not receive every user in 15 minutes")
            time.sleep(0.1)
        drained = time.monotonic() - t0
        on_b = call("GET", f"{b_origin}/scim/v2/Users?count=0")["totalResults"]
        time.sleep(1)  # the last outcomes are recorded just after B answered
        pending = call("GET", f"{a_origin}/admin/v1/jobs", token=ADMIN)["total"]
        dead = call("GET", f"{a_origin}/admin/v1/jobs?state=dead", token=ADMIN)["total"]
        print(f"users: {args.users}")
        print(f"ingest into A (bulk, durable, with jobs): {args.users / ingested:,.0f} writes/s ({ingested:.1f} s)")
        since = "B's start (backlog)" if args.backlog else "the first write"
        print(f"delivered A -> B through scim2.wasm: {args.users / drained:,.0f} events/s ({drained:.1f} s from {since} until B held every user)")
        print(f"B holds {on_b} users; A has {pending} pending and {dead} dead jobs")
        print(f"peak RSS: A {rss_kib(a.pid) / 1024:.0f} MiB, B {rss_kib(b.pid) / 1024:.0f} MiB")
        if on_b != args.users or dead or pending:
            sys.exit("FAILED: B does not hold every user, or jobs died")
    finally:
        stop(procs, work)


if __name__ == "__main__":
    main()
