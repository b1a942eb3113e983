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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-token"
ADMIN = "bench-admin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, data_dir, env_extra, config=None):
    port = free_port()
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
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="scim-delivery-bench-")
    procs = []
    try:
        b, b_origin = start(args.bin, os.path.join(work, "b"), {})
        procs.append(b)
        a, a_origin = start(args.bin, os.path.join(work, "a"),
                            {"TARGET_SCIM_URL": f"{b_origin}/scim/v2", "TARGET_SCIM_TOKEN": TOKEN},
                            os.path.join(ROOT, "examples", "provision-to-scim.toml"))
        procs.append(a)
        t0 = time.monotonic()
        for first in range(0, args.users, 1000):
            bulk(a_origin, first, min(1000, args.users - first))
        ingested = time.monotonic() - t0
        deadline = t0 + 900
        while True:
            pending = call("GET", f"{a_origin}/admin/v1/jobs?state=pending", token=ADMIN)["total"]
            if pending == 0:
                break
            if time.monotonic() > deadline:
                sys.exit("the outbox did not drain in 15 minutes")
            time.sleep(0.2)
        drained = time.monotonic() - t0
        on_b = call("GET", f"{b_origin}/scim/v2/Users?count=0")["totalResults"]
        dead = call("GET", f"{a_origin}/admin/v1/jobs?state=dead", token=ADMIN)["total"]
        print(f"users: {args.users}")
        print(f"ingest into A (bulk, durable, with jobs): {args.users / ingested:,.0f} writes/s ({ingested:.1f} s)")
        print(f"delivered A -> B through scim2.wasm: {args.users / drained:,.0f} events/s ({drained:.1f} s from first write to empty outbox)")
        print(f"B holds {on_b} users; A has {dead} dead jobs")
        print(f"peak RSS: A {rss_kib(a.pid) / 1024:.0f} MiB, B {rss_kib(b.pid) / 1024:.0f} MiB")
        if on_b != args.users or dead:
            sys.exit("FAILED: B does not hold every user, or jobs died")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
