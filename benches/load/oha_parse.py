#!/usr/bin/env python3
"""Read oha's --output-format json on stdin; print `requests=N rps=R p50=US p99=US p999=US errors=E`."""
import json
import sys

d = json.load(sys.stdin)
s, p = d["summary"], d["latencyPercentiles"]
codes = d.get("statusCodeDistribution") or {}
errs = d.get("errorDistribution") or {}
ok = sum(v for k, v in codes.items() if str(k).startswith("2"))
total = sum(codes.values())
# Requests cut off by the end of the run are oha's own doing, not the proxy's.
failed = sum(v for k, v in errs.items() if "deadline" not in k.lower())


def us(key):
    v = p.get(key)
    return int(round(v * 1e6)) if v is not None else 0


print(f"requests={total} rps={s.get('requestsPerSec') or 0:.0f} p50={us('p50')} p99={us('p99')} "
      f"p999={us('p99.9')} errors={failed + total - ok}")
