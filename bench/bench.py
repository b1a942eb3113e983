#!/usr/bin/env python3
"""Helpers for bench/load.sh (standard library only).

  bench.py port                         a free TCP port on 127.0.0.1
  bench.py count URL TOKEN              totalResults of GET URL/Users?count=0
  bench.py seed URL TOKEN N WORKERS      creates N users by POST /Bulk (1000 operations a request),
                                        WORKERS requests at a time; every operation must be 201
  bench.py dump URL TOKEN IDS NAMES     every user's id and userName, one a line, by pages of 1000
  bench.py summary OUT_DIR              results summary from the raw outputs in OUT_DIR
"""

import json
import re
import socket
import sys
import urllib.parse
import urllib.request


def get(url, token):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def count(base, token):
    print(get(f"{base}/Users?count=0", token)["totalResults"])


def user(key):
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"{key}@example.com",
        "name": {"givenName": "Bench", "familyName": f"User {key}", "formatted": f"Bench User {key}"},
        "displayName": f"Bench User {key}",
        "emails": [{"value": f"{key}@example.com", "type": "work", "primary": True}],
        "active": True,
        "externalId": f"ext-{key}",
    }


def seed(base, token, n, workers):
    """Bounded: ceil(n / 1000) bulk requests, `workers` at a time."""
    import http.client
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    n, workers, per = int(n), int(workers), 1000  # bulk.max_operations default
    url = urllib.parse.urlsplit(base)
    local = threading.local()

    def send(batch):
        start, size = batch
        ops = [{"method": "POST", "path": "/Users", "bulkId": f"b{i}", "data": user(f"seed-{start + i}")}
               for i in range(size)]
        body = json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                           "Operations": ops}).encode()
        assert len(body) < 1 << 20, "bulk body over the 1 MiB default limit"
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
        local.conn.request("POST", url.path + "/Bulk", body,
                           {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
        r = local.conn.getresponse()
        data = r.read()
        if r.status != 200:
            return 0, size, f"HTTP {r.status}: {data[:200]!r}"
        statuses = [op.get("status") for op in json.loads(data)["Operations"]]
        ok = sum(1 for s in statuses if str(s) == "201")
        return ok, len(ops) - ok, ""

    batches = [(start, min(per, n - start)) for start in range(0, n, per)]
    t0 = time.time()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(send, batches))
    secs = time.time() - t0
    ok = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    errors = sorted({r[2] for r in results if r[2]})
    print(f"bulk: ops={n} ok={ok} failed={failed} requests={len(batches)} workers={workers} "
          f"secs={secs:.1f} ops_per_s={ok / secs:.0f}" + (f" errors={errors[:3]}" if errors else ""))
    if failed:
        sys.exit(1)


def dump(base, token, ids_path, names_path):
    total = get(f"{base}/Users?count=0", token)["totalResults"]
    page = 1000  # the default scim.max_results
    seen = 0
    with open(ids_path, "w") as ids, open(names_path, "w") as names:
        start = 1
        while start <= total:  # bounded: total / 1000 requests
            q = urllib.parse.urlencode({"startIndex": start, "count": page, "attributes": "userName"})
            body = get(f"{base}/Users?{q}", token)
            items = body.get("Resources", [])
            if not items:
                break
            for r in items:
                ids.write(r["id"] + "\n")
                names.write(r["userName"] + "\n")
            seen += len(items)
            start += len(items)
    print(seen)


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")


def parse_wrk(path):
    text = open(path).read()
    out = {"rps": float("nan"), "p50": float("nan"), "p99": float("nan"), "requests": 0,
           "unexpected": -1, "bad_body": -1, "statuses": "?", "errors": "",
           "srv_us": float("nan"), "wrk_us": float("nan"), "other_cores": float("nan"), "load": "?"}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", text):
        out["rps"] = float(m.group(1))
    if m := re.search(r"^\s+50%\s+(\S+)", text, re.M):
        out["p50"] = ms(m.group(1))
    if m := re.search(r"^\s+99%\s+(\S+)", text, re.M):
        out["p99"] = ms(m.group(1))
    if m := re.search(r"(\d+) requests in ([\d.]+\w+)", text):
        out["requests"] = int(m.group(1))
    if m := re.search(r"lua: expected=\S+ ok=(\d+) unexpected=(\d+) bad_body=(\d+) statuses=(\S*)", text):
        out["unexpected"], out["bad_body"], out["statuses"] = int(m.group(2)), int(m.group(3)), m.group(4)
    if m := re.search(r"^cpu: wall_s=([\d.]+) server_s=([\d.]+) wrk_s=([\d.]+) other_s=([\d.]+) load_before=(\S+)", text, re.M):
        wall, srv, wrk, other = (float(m.group(i)) for i in range(1, 5))
        n = max(out["requests"], 1)
        out.update(srv_us=srv * 1e6 / n, wrk_us=wrk * 1e6 / n, other_cores=other / wall, load=m.group(5))
    if m := re.search(r"Socket errors: (.*)", text):
        out["errors"] = m.group(1)
    return out


def summary(out_dir):
    import os
    meta = dict(line.rstrip("\n").split("=", 1) for line in open(os.path.join(out_dir, "meta.env")) if "=" in line)
    runs = [l.split() for l in open(os.path.join(out_dir, "runs.txt")) if l.strip()]
    lines = [
        f"scim-gateway load test, {meta.get('date', '?')}, commit {meta.get('commit', '?')}",
        f"machine: {meta.get('cpus', '?')} CPUs ({meta.get('cpu_model', '?')}), {meta.get('mem', '?')} RAM, "
        f"kernel {meta.get('kernel', '?')}; wrk runs on the same CPUs as the server",
        f"wrk -t{meta.get('threads')} -d{meta.get('duration')}s --latency; data dir on {meta.get('fs', '?')}",
        "",
        "srv_us / wrk_us: CPU microseconds per request used by the server / by wrk; other: cores",
        "used by other processes during the run (noise from other tenants of the machine).",
        "",
        f"{'scenario':<16} {'conns':>5} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'requests':>9} {'unexp.':>6} "
        f"{'badbody':>7} {'srv_us':>6} {'wrk_us':>6} {'other':>5}  statuses",
    ]
    results = {}
    for name, conns, file in runs:
        r = parse_wrk(os.path.join(out_dir, file))
        results[name] = r
        lines.append(f"{name:<16} {conns:>5} {r['rps']:>8.0f} {r['p50']:>7.2f} {r['p99']:>7.2f} "
                     f"{r['requests']:>9} {r['unexpected']:>6} {r['bad_body']:>7} {r['srv_us']:>6.1f} "
                     f"{r['wrk_us']:>6.1f} {r['other_cores']:>5.2f}  {r['statuses']}"
                     + (f"  socket errors: {r['errors']}" if r["errors"] else ""))
    lines.append("")
    ceiling = results.get("ceiling_get", {}).get("rps")
    for name, label, aim in [("get_by_id", "GET /Users/{id} / ceiling", 0.50),
                             ("filter_username", "filter userName eq / ceiling", 0.40)]:
        if ceiling and name in results:
            ratio = results[name]["rps"] / ceiling
            cpu = results["ceiling_get"]["srv_us"] / results[name]["srv_us"]
            lines.append(f"{label:<32} {ratio:6.1%}  (aim >= {aim:.0%}: {'met' if ratio >= aim else 'NOT met'}); "
                         f"server CPU per request: ceiling/gateway {cpu:.1%}")
    posts = [(n, r["rps"]) for n, r in results.items() if n.startswith("post_")]
    for n, rps in posts:
        lines.append(f"{'durable POST /Users ' + n[5:]:<32} {rps:6.0f}/s (aim >= 2000/s: {'met' if rps >= 2000 else 'NOT met'})")
    lines.append("")
    for key, label in [("seed", "seeding by POST /Bulk"), ("users", "users in store"), ("db_size", "gateway.redb size"),
                       ("rss_after_posts", "gateway RSS after the POST runs"),
                       ("rss_after_seed", "gateway RSS after seeding"), ("rss_end", "gateway RSS at end"),
                       ("hwm_end", "gateway peak RSS (VmHWM)"), ("ceiling_hwm", "ceiling peak RSS (VmHWM)")]:
        if key in meta:
            lines.append(f"{label:<32} {meta[key]}")
    text = "\n".join(lines) + "\n"
    open(os.path.join(out_dir, "summary.txt"), "w").write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"port": port, "count": count, "seed": seed, "dump": dump, "summary": summary}[cmd](*args)
