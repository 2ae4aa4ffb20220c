#!/usr/bin/env python3
"""Turn the memory bench's scenario directories into markdown.

    summarize.py TOLERANCE DIR [DIR...]

Each DIR holds: name, desc, marks (KEY VALUE lines: rss_* in KiB, load_start/load_end unix
seconds, hwm), samples.csv (sampler.py), metrics_{warm,end,idle}.txt and wrk.txt.
"""
import csv
import re
import sys
from collections import defaultdict
from pathlib import Path

LABELS = re.compile(r'(\w+)="([^"]*)"')


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def marks(d: Path) -> dict[str, str]:
    out = {}
    for line in (d / "marks").read_text().splitlines():
        k, _, v = line.partition(" ")
        out[k] = v.strip()
    return out


def metrics(path: Path) -> dict[str, dict[str, float]]:
    """family -> {label value (or ''): summed value}, keyed by the interesting label."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^(\w+)(\{[^}]*\})?\s+(\S+)", line)
        if not m:
            continue
        name, labels, value = m.group(1), dict(LABELS.findall(m.group(2) or "")), float(m.group(3))
        key = labels.get("reason") or labels.get("kind") or labels.get("result") or ""
        out[name][key] += value
    return out


def wrk(path: Path) -> dict[str, str]:
    text = path.read_text() if path.exists() else ""
    out = {}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", text):
        out["rps"] = f"{float(m.group(1)):,.0f}"
    for q in ("50", "99"):
        if m := re.search(rf"^\s+{q}%\s+(\S+)", text, re.M):
            out[f"p{q}"] = m.group(1)
    if m := re.search(r"(\d+) requests in ([\d.]+\w+)", text):
        out["requests"], out["duration"] = m.group(1), m.group(2)
    out["non2xx"] = (m.group(1) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", text)) else "0")
    out["sockerr"] = (m.group(1) if (m := re.search(r"Socket errors: (.*)", text)) else "none")
    return out


def gauge(ms: dict, name: str) -> str:
    v = ms.get(name, {}).get("")
    return "-" if v is None else f"{v:,.0f}"


def by_label(ms: dict, name: str) -> str:
    items = [(k, v) for k, v in sorted(ms.get(name, {}).items()) if v]
    return ", ".join(f"{k} {v:,.0f}" for k, v in items) or "none"


def main() -> None:
    tol = float(sys.argv[1])
    dirs = [Path(p) for p in sys.argv[2:]]
    rows, details = [], []
    for d in dirs:
        name = (d / "name").read_text().strip()
        mk = marks(d)
        peak = 0
        peak_load = 0
        ls, le = float(mk["load_start"]), float(mk["load_end"])
        warm_s = float(mk.get("warmup_s", "10"))
        first, last = [], []  # the 10 s after warm-up, the last 10 s of load
        with open(d / "samples.csv") as f:
            for r in csv.DictReader(f):
                rss, t = int(r["rss_kib"]), float(r["t"])
                peak = max(peak, rss)
                if ls <= t <= le:
                    peak_load = max(peak_load, rss)
                if ls + warm_s <= t < ls + warm_s + 10:
                    first.append(rss)
                if le - 10 <= t <= le:
                    last.append(rss)
        med = lambda xs: sorted(xs)[len(xs) // 2] if xs else float("nan")  # noqa: E731
        med_ratio = med(last) / med(first) if first and last else float("nan")
        start, warm, end, idle = (int(mk[k]) for k in ("rss_start", "rss_warm", "rss_end", "rss_idle"))
        hwm = int(mk["hwm"])
        ratio = end / warm
        ok = abs(ratio - 1) <= tol
        w = wrk(d / "wrk.txt")
        mw, me, mi = (metrics(d / f"metrics_{k}.txt") for k in ("warm", "end", "idle"))
        rows.append(
            f"| {name} | {mib(start)} | {mib(warm)} | {mib(max(peak, end, warm))} | {mib(hwm)} | "
            f"{mib(end)} | {mib(idle)} | {ratio:.3f} | {'PASS' if ok else 'FAIL'} | {med_ratio:.3f} | "
            f"{w.get('rps', '?')} | {w.get('p99', '?')} |"
        )
        reqs = me.get("shadowdiff_requests_total", {}).get("", 0)
        mirrored = me.get("shadowdiff_mirrored_requests_total", {}).get("", 0)
        details.append(
            "\n".join(
                [
                    f"#### {name}: {(d / 'desc').read_text().strip()}",
                    "",
                    f"- wrk: {w.get('requests', '?')} requests in {w.get('duration', '?')}, "
                    f"{w.get('rps', '?')} req/s, v1 p50 {w.get('p50', '?')}, p99 {w.get('p99', '?')}, "
                    f"non-2xx {w.get('non2xx')}, socket errors: {w.get('sockerr')}",
                    f"- proxy requests {reqs:,.0f}, sent to v2 {mirrored:,.0f}; "
                    f"comparisons: {by_label(me, 'shadowdiff_comparisons_total')}",
                    f"- skipped by reason (end of load): {by_label(me, 'shadowdiff_mirror_skipped_total')}",
                    f"- skipped by reason (after idle): {by_label(mi, 'shadowdiff_mirror_skipped_total')}",
                    f"- candidate errors by kind (after idle): {by_label(mi, 'shadowdiff_candidate_errors_total')}",
                    f"- breaker trips: {gauge(mi, 'shadowdiff_breaker_trips_total')}",
                    "",
                    "| gauge | after warm-up | end of load | after idle |",
                    "|---|---:|---:|---:|",
                    *(
                        f"| {g} | {gauge(mw, 'shadowdiff_' + g)} | {gauge(me, 'shadowdiff_' + g)} | "
                        f"{gauge(mi, 'shadowdiff_' + g)} |"
                        for g in ("mirrors_in_flight", "pending_bytes", "compare_queue_depth")
                    ),
                    "",
                    f"RSS during load (1 s samples): peak {mib(peak_load)} MiB; series in `samples.csv` "
                    "of the run's temp dir (kept with `--keep`).",
                ]
            )
        )
    print(
        "| scenario | RSS start MiB | after warm-up | peak (1 s samples) | VmHWM | end of load | "
        "after idle | end / warm-up | target ±{:.0f} % | median last 10 s / first 10 s | wrk req/s | v1 p99 |".format(tol * 100)
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    print("\n".join(rows))
    print()
    print("\n\n".join(details))


if __name__ == "__main__":
    main()
