#!/usr/bin/env bash
# Isolation check: does a slow v2 change what v1's clients see?
#
#   bash benches/load/isolation.sh [--rounds N] [--duration S] [--rate Q] [--delay S]
#
# One shadowdiff at 100 % mirroring in front of an nginx v1, with the same origin program as v2
# (benches/src/bin/slow_origin.rs: one tokio thread) answering after 10 ms ("healthy") or after --delay seconds
# (default 2, "slow"). Fixed-rate load (oha, --rate req/s, default 5000) measures v1's latency;
# rounds alternate healthy and slow with fresh processes; prints medians and the p99 ratio.
# The v2 origin's program is the same in both arms, so the ratio is about the proxy. Needs nginx,
# oha, python3, curl (see run.sh for installing them); SHADOWDIFF_BIN or a release build, and
# SLOW_ORIGIN_BIN or a release build of it.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ROUNDS=3 DURATION=8 RATE=5000 DELAY=2
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) ROUNDS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --rate) RATE=$2; shift ;;
        --delay) DELAY=$2; shift ;;
        *) echo "isolation.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
export PATH="$PATH:/usr/sbin:${CARGO_HOME:-$HOME/.cargo}/bin"
for t in nginx oha python3 curl; do command -v $t >/dev/null || { echo "isolation.sh: $t is required" >&2; exit 1; }; done
BIN=${SHADOWDIFF_BIN:-}
if [[ -z $BIN ]]; then
    (cd "$ROOT" && cargo build --release -q -p shadowdiff)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/shadowdiff"
fi
SLOW_ORIGIN=${SLOW_ORIGIN_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/slow_origin}
[[ -x $SLOW_ORIGIN ]] || (cd "$ROOT" && cargo build --release -q -p shadowdiff-benches --bin slow_origin)
TMP=$(mktemp -d); chmod 755 "$TMP"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; [[ -f $TMP/nginx.pid ]] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
# Load tool on CPU 0; v1, v2 and the proxy on CPU 1 (as run.sh places them).
CPU0=() CPU1=()
if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then CPU0=(taskset -c 0) CPU1=(taskset -c 1); fi

O=$(free_port)
cp "$HERE/doc.json" "$TMP/doc.json"; mkdir -p "$TMP/logs"
cat >"$TMP/nginx.conf" <<NG
worker_processes 1; pid $TMP/nginx.pid; error_log $TMP/logs/error.log crit; daemon on;
events { worker_connections 4096; }
http { access_log off; server { listen 127.0.0.1:$O; location / { root $TMP; default_type application/json; } } }
NG
"${CPU1[@]}" nginx -p "$TMP" -c "$TMP/nginx.conf"

# one arm: prints "p50_ms p99_ms compared overloaded"
arm() {
    local delay=$1 S P A sp op
    S=$(free_port); P=$(free_port); A=$(free_port)
    "${CPU1[@]}" "$SLOW_ORIGIN" "$S" "$TMP/doc.json" "$delay" >/dev/null 2>&1 & op=$!
    # v2 must be up before the first mirror, or the breaker opens and nothing is mirrored.
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$S/doc.json" && break; sleep 0.05; done
    "${CPU1[@]}" "$BIN" --listen "127.0.0.1:$P" --admin "127.0.0.1:$A" --primary "http://127.0.0.1:$O" \
        --candidate "http://127.0.0.1:$S" --mirror-percent 100 --log-level error & sp=$!
    PIDS+=("$op" "$sp")
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$A/healthz/ready" >/dev/null && break; sleep 0.1; done
    "${CPU0[@]}" oha -z 2s -q "$RATE" -c 64 --no-tui "http://127.0.0.1:$P/doc.json" >/dev/null
    local out
    out=$("${CPU0[@]}" oha -z "${DURATION}s" -q "$RATE" -c 64 --latency-correction --no-tui "http://127.0.0.1:$P/doc.json")
    local p50 p99
    # oha prints "99.00% in 1.2345 ms" (or secs): normalise to ms.
    p50=$(echo "$out" | awk '/50.00% in/ {print ($4 == "secs") ? $3*1000 : $3}')
    p99=$(echo "$out" | awk '/99.00% in/ {print ($4 == "secs") ? $3*1000 : $3}')
    curl -s "http://127.0.0.1:$A/metrics" | awk -v p50="$p50" -v p99="$p99" '
        /^shadowdiff_comparisons_total/ {c+=$2} /^shadowdiff_mirror_skipped_total.*overloaded/ {o+=$2}
        /^shadowdiff_breaker_trips_total/ {t+=$2}
        END {printf "%s %s %d %d %d\n", p50, p99, c, o, t}'
    kill "$sp" "$op" 2>/dev/null || true; wait "$sp" "$op" 2>/dev/null || true
}

: >"$TMP/rows"
for r in $(seq "$ROUNDS"); do
    for kind in healthy slow; do
        d=0.01; [[ $kind == slow ]] && d=$DELAY
        echo "$kind $(arm "$d")" | tee -a "$TMP/rows" >&2
    done
done
python3 - "$TMP/rows" "$DELAY" "$RATE" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def med(kind, i): return statistics.median(float(r[i]) for r in rows if r[0] == kind)
h99, s99 = med("healthy", 2), med("slow", 2)
print(f"| v2 | v1 p50 | v1 p99 | compared | skipped overloaded | breaker trips |")
print(f"|---|---:|---:|---:|---:|---:|")
for kind, label in (("healthy", "healthy (10 ms)"), ("slow", f"slow ({sys.argv[2]} s)")):
    print(f"| {label} | {med(kind,1):.3f} ms | {med(kind,2):.3f} ms | {med(kind,3):.0f} | {med(kind,4):.0f} | {med(kind,5):.0f} |")
print(f"\nv1 p99 slow / healthy: {s99/h99:.2f}x (target <= 1.10x) at {sys.argv[3]} req/s offered, medians of {len(rows)//2} rounds")
PY
