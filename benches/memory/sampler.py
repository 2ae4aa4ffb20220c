#!/usr/bin/env python3
"""Sample a process's RSS every second and the proxy's gauges every few seconds, as CSV.

    sampler.py PID METRICS_URL OUT.csv [GAUGE_EVERY_S]

Columns: t (unix seconds), rss_kib, hwm_kib, then the gauges (empty on rows without a scrape).
Runs until the process exits or it is terminated; every row is flushed as it is written.
"""
import signal
import sys
import time
import urllib.request

GAUGES = ["shadowdiff_mirrors_in_flight", "shadowdiff_pending_bytes", "shadowdiff_compare_queue_depth"]


def status(pid: str) -> tuple[str, str] | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            vals = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return None
    return vals["VmRSS"].split()[0], vals["VmHWM"].split()[0]


def gauges(url: str) -> list[str]:
    try:
        text = urllib.request.urlopen(url, timeout=2).read().decode()
    except Exception:  # noqa: BLE001 - a missed scrape is an empty cell
        return [""] * len(GAUGES)
    found = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in GAUGES:
            found[name] = value.strip()
    return [found.get(g, "") for g in GAUGES]


def main() -> None:
    pid, url, out = sys.argv[1], sys.argv[2], sys.argv[3]
    every = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(out, "w", buffering=1) as f:
        f.write("t,rss_kib,hwm_kib," + ",".join(g.removeprefix("shadowdiff_") for g in GAUGES) + "\n")
        start = time.monotonic()
        last_scrape = -1e9
        tick = 0
        while True:
            now = time.time()
            st = status(pid)
            if st is None:
                return
            row = [f"{now:.3f}", st[0], st[1]]
            if time.monotonic() - last_scrape >= every - 0.05:
                last_scrape = time.monotonic()
                row += gauges(url)
            else:
                row += [""] * len(GAUGES)
            f.write(",".join(row) + "\n")
            tick += 1
            time.sleep(max(0.0, start + tick - time.monotonic()))


if __name__ == "__main__":
    main()
