#!/usr/bin/env python3
"""A big group built one member at a time (issue 10's benchmark): gateway A takes single-member
`PATCH /Groups/{id}` adds from 8 concurrent clients and provisions the group to gateway B through
the bundled `scim2` connector; both release binaries on loopback.

    cargo build --release -p scim-gateway --bin scim-gateway
    bench/members.py [--members 100000] [--clients 8] [--bin target/release/scim-gateway]

It writes N users into A with /Bulk (their delivery to B is awaited, not timed), creates an
empty group, then times N single-member adds spread over the clients, and reports:
  - the add rate overall, of the first 5,000 adds and of the last 5,000 (aim: last >= 90 % of
    first; >= 1,000 adds/s overall), and the failed requests (aim: 0);
  - when B's group holds exactly N members, and how many PATCH requests B answered for it
    (aim: <= 2,000), so the bytes per change do not grow with the group;
  - peak RSS of A and B (aim: < 300 MB each);
  - a full `GET` of the group at A (streamed): its time, and whether it raised A's peak RSS;
  - with --reconcile: a third gateway C connected to A afterwards and reconciled, the group
    read from A's store a page at a time: the time until C's group is complete, C's PATCH
    requests for it, and A's peak RSS before and after.
Both servers bind 127.0.0.1 on free ports and are stopped by this script; the drain is bounded
by a 15-minute deadline.
"""

import argparse
import os
import re
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delivery import ADMIN, ROOT, TOKEN, bulk, call, rss_kib, start, start_provisioning, stop  # noqa: E402

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def user_ids(origin, n):
    """A's user ids, a page of 1,000 at a time."""
    ids = []
    for start_index in range(1, n + 1, 1000):
        page = call("GET", f"{origin}/scim/v2/Users?startIndex={start_index}&count=1000&attributes=id")
        ids += [u["id"] for u in page.get("Resources", [])]
    return ids


def patches_at(origin):
    """The PATCH requests to a single resource that B answered successfully."""
    req = urllib.request.Request(f"{origin}/metrics")
    req.add_header("Authorization", f"Bearer {ADMIN}")
    with urllib.request.urlopen(req, timeout=60) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if (line.startswith("scim_gateway_http_requests_total{")
                and 'route="/scim/v2/{endpoint}/{id}"' in line and 'method="PATCH"' in line
                and re.search(r'status="20[04]"', line)):
            total += float(line.rsplit(" ", 1)[1])
    return total


def reconcile(args, work, procs, a, last, n):
    """Connects a fresh gateway C to A and reconciles; answers whether C's group came whole.
    Members go out in id order, so the group is complete at C once `last` (the greatest member
    id) is in."""
    a, a_origin = a
    c, c_origin = start(args.bin, os.path.join(work, "c"), {})
    procs.append(c)
    call("PUT", f"{a_origin}/admin/v1/connectors/c", {
        "plugin": "scim2", "resource_types": ["User", "Group"],
        "config": {"base_url": f"{c_origin}/scim/v2", "update": "patch"},
        "secrets": {"token": TOKEN}, "allowed_hosts": [c_origin]}, token=ADMIN)
    hwm_before = rss_kib(a.pid)
    t0 = time.monotonic()
    call("POST", f"{a_origin}/admin/v1/connectors/c/reconcile", token=ADMIN)
    deadline = time.monotonic() + 1800
    g_at_c = None
    while time.monotonic() < deadline and g_at_c is None:
        found = call("GET", f"{c_origin}/scim/v2/Groups?filter=displayName%20eq%20%22All%20staff%22"
                            "&attributes=id")
        g_at_c = (found.get("Resources") or [{}])[0].get("id")
        time.sleep(0.5)
    last_name = call("GET", f"{a_origin}/scim/v2/Users/{last}")["userName"]
    while time.monotonic() < deadline:
        at_c = call("GET", f"{c_origin}/scim/v2/Users?filter=" + urllib.request.quote(f'userName eq "{last_name}"'))
        if at_c["totalResults"]:
            check = urllib.request.quote(f'id eq "{g_at_c}" and members[value eq "{at_c["Resources"][0]["id"]}"]')
            if call("GET", f"{c_origin}/scim/v2/Groups?filter={check}&excludedAttributes=members")["totalResults"]:
                break
        time.sleep(0.5)
    took = time.monotonic() - t0
    have = len(call("GET", f"{c_origin}/scim/v2/Groups/{g_at_c}").get("members", []))
    print(f"reconcile to C: {n} users and the group, {have} members at C after {took:.1f} s, "
          f"through {patches_at(c_origin):.0f} PATCH requests; A's peak RSS {hwm_before / 1024:.0f} MiB "
          f"before, {rss_kib(a.pid) / 1024:.0f} MiB after")
    return have == n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=100000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--cache-mib", type=int, default=None,
                    help="[store] cache_mib of both gateways (default: the gateway's)")
    ap.add_argument("--reconcile", action="store_true",
                    help="then reconcile A's users and group to a third gateway")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "scim-gateway"))
    args = ap.parse_args()
    n = args.members
    work = tempfile.mkdtemp(prefix="scim-members-bench-")
    procs = []
    try:
        store = f"\n[store]\ncache_mib = {args.cache_mib}\n" if args.cache_mib else ""
        b_config = os.path.join(work, "b.toml")
        with open(b_config, "w") as f:
            f.write(store)
        b, b_origin = start(args.bin, os.path.join(work, "b"), {}, b_config)
        procs.append(b)
        a, a_origin = start_provisioning(args.bin, work, b_origin, lambda c: c + store)
        procs.append(a)
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda first: bulk(a_origin, first, min(1000, n - first)), range(0, n, 1000)))
        deadline = time.monotonic() + 900
        while call("GET", f"{b_origin}/scim/v2/Users?count=0")["totalResults"] < n:
            if time.monotonic() > deadline:
                sys.exit("B did not receive every user in 15 minutes")
            time.sleep(0.2)
        ids = user_ids(a_origin, n)
        seeded = (rss_kib(a.pid), rss_kib(b.pid))
        group = call("POST", f"{a_origin}/scim/v2/Groups",
                     {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "All staff"})
        gid = group["id"]
        while call("GET", f"{b_origin}/scim/v2/Groups?count=0")["totalResults"] < 1:
            time.sleep(0.1)
        patches_before = patches_at(b_origin)

        done_at = [0.0] * n
        failures = []
        lock = threading.Lock()
        counter = iter(range(n))
        t0 = time.monotonic()

        def client():
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                body = {"schemas": [PATCH_OP],
                        "Operations": [{"op": "add", "path": "members", "value": [{"value": ids[i]}]}]}
                try:
                    call("PATCH", f"{a_origin}/scim/v2/Groups/{gid}", body)
                except urllib.error.HTTPError as e:
                    failures.append((i, e.code))
                done_at[i] = time.monotonic()

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        ordered = sorted(done_at)
        window = min(5000, n // 2)
        first = window / (ordered[window - 1] - t0)
        last = window / (ordered[-1] - ordered[-window - 1])
        # Wait cheaply (Entra's membership check at B, without members) until the member added
        # last is there: a group's changes are delivered in order, so all are. Then read the
        # whole group once to count.
        newest = max(range(n), key=lambda i: done_at[i])
        last_name = call("GET", f"{a_origin}/scim/v2/Users/{ids[newest]}")["userName"]
        at_b = call("GET", f"{b_origin}/scim/v2/Users?filter=" + urllib.request.quote(f'userName eq "{last_name}"'))
        last_at_b = at_b["Resources"][0]["id"]
        found = call("GET", f"{b_origin}/scim/v2/Groups?filter=displayName%20eq%20%22All%20staff%22&attributes=id")
        g_at_b = found["Resources"][0]["id"]
        check = urllib.request.quote(f'id eq "{g_at_b}" and members[value eq "{last_at_b}"]')
        deadline = time.monotonic() + 900
        while call("GET", f"{b_origin}/scim/v2/Groups?filter={check}&excludedAttributes=members")["totalResults"] < 1:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        have = len(call("GET", f"{b_origin}/scim/v2/Groups/{g_at_b}").get("members", []))
        drained = time.monotonic() - t0
        patches = patches_at(b_origin) - patches_before
        hwm_before = rss_kib(a.pid)
        t1 = time.monotonic()
        got = len(call("GET", f"{a_origin}/scim/v2/Groups/{gid}").get("members", []))
        full_get = time.monotonic() - t1
        hwm_after = rss_kib(a.pid)
        dead = call("GET", f"{a_origin}/admin/v1/jobs?state=dead", token=ADMIN)["total"]
        print(f"members: {n}, clients: {args.clients}")
        print(f"adds at A: {n / elapsed:,.0f}/s overall ({elapsed:.1f} s); first {window}: {first:,.0f}/s, "
              f"last {window}: {last:,.0f}/s ({100 * last / first:.0f} % of the first)")
        print(f"failed requests: {len(failures)} {failures[:5]}")
        print(f"B's group: {have} members {drained:.1f} s after the first add, through {patches:.0f} PATCH requests; "
              f"A has {dead} dead jobs")
        print(f"peak RSS: A {rss_kib(a.pid) / 1024:.0f} MiB, B {rss_kib(b.pid) / 1024:.0f} MiB "
              f"(after seeding the users: A {seeded[0] / 1024:.0f} MiB, B {seeded[1] / 1024:.0f} MiB)")
        print(f"full GET of A's group: {got} members in {full_get:.2f} s; A's peak RSS "
              f"{hwm_before / 1024:.0f} MiB before, {hwm_after / 1024:.0f} MiB after")
        complete = got == n
        if args.reconcile:
            complete &= reconcile(args, work, procs, (a, a_origin), max(ids), n)
        if failures or have != n or dead or not complete:
            sys.exit("FAILED")
    finally:
        stop(procs, work)


if __name__ == "__main__":
    main()
