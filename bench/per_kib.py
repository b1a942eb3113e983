#!/usr/bin/env python3
"""Worst-case requests by size (issue 11, finding 2): the cost per KiB of requests whose work
could grow faster than their size, measured at growing sizes on one release gateway.

    cargo build --release -p scim-gateway --bin scim-gateway
    bench/per_kib.py [--bin target/release/scim-gateway]

  - a PATCH `add` of n values to a multi-valued attribute (`emails`), up to ~1 MiB: each value
    is checked against those already there;
  - a `/Bulk` of n POSTs in which each waits for the next (a chain of forward `bulkId`
    references), up to the 1,000-operation limit.
Linear work shows as a flat (or falling) µs/KiB column. The server binds 127.0.0.1 on a free
port and is stopped by this script.
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delivery import ROOT, call, start, stop  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "scim-gateway"))
args = ap.parse_args()
work = tempfile.mkdtemp(prefix="scim-per-kib-")
p, origin = start(args.bin, os.path.join(work, "a"), {})
try:
    base = f"{origin}/scim/v2"
    print("PATCH add of n emails to one user (one request):")
    for n in (5000, 10000, 20000, 35000):
        u = call("POST", f"{base}/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"p{n}@x.org"})
        body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "emails", "value": [{"value": f"e{i}@x.org"} for i in range(n)]}]}
        size = len(json.dumps(body))
        t = time.monotonic(); call("PATCH", f"{base}/Users/{u['id']}", body); dt = time.monotonic() - t
        print(f"  n={n:>6} ({size/1024:.0f} KiB): {dt*1000:.0f} ms, {dt*1e6/ (size/1024):.0f} us/KiB")
    print("/Bulk chain of n POSTs, each waiting for the next:")
    for n in (250, 500, 1000):
        ops = []
        for k in range(n):
            nxt = f"bulkId:c{n}g{k+1}" if k + 1 < n else None
            data = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": f"C{n}G{k}"}
            if nxt:
                data["members"] = [{"value": nxt, "type": "Group"}]
            ops.append({"method": "POST", "path": "/Groups", "bulkId": f"c{n}g{k}", "data": data})
        body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops}
        size = len(json.dumps(body))
        t = time.monotonic(); r = call("POST", f"{base}/Bulk", body); dt = time.monotonic() - t
        ok = sum(1 for o in r["Operations"] if o["status"] == "201")
        print(f"  n={n:>5} ({size/1024:.0f} KiB): {dt*1000:.0f} ms, {ok} created, {dt*1e6/(size/1024):.0f} us/KiB")
finally:
    stop([p], work)
