#!/usr/bin/env bash
# Does limits.max_pending_bytes bound memory? The proxy's peak RSS with ~1 MB JSON bodies, 100 %
# mirrored to a v2 that answers in 0.5 s, against the same load unmirrored, in one run.
#
#   bash benches/memory/budget.sh [--duration S] [--connections C] [--budget SIZE] [--rounds N]
#                                 [--limits 'KEY = VALUE']   (more [limits] lines)
#
# v1: nginx serving a ~1 MB JSON file (keep-alive); v2: benches/src/bin/slow_origin.rs serving the
# same file after 0.5 s. Proxy arms, one at a time, each a fresh process: mirror 0 % and
# mirror 100 %, both with `[limits] max_pending_bytes = SIZE` (default 16MiB). Load: wrk -c C
# (default 64) for S seconds (default 20). VmRSS sampled every 0.2 s; reports peak RSS and RSS
# 3 s after the load per arm, and the counts that say how much was compared or shed.
# SHADOWDIFF_BIN=path uses that binary (else target/release/shadowdiff, built if missing).
# Everything runs on 127.0.0.1 and is stopped on exit.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"
DURATION=20 CONNS=64 BUDGET=16MiB ROUNDS=1 LIMITS=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) DURATION=$2; shift ;;
        --connections) CONNS=$2; shift ;;
        --budget) BUDGET=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --limits) LIMITS=$2; shift ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "budget.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
    [[ $EUID == 0 ]] || { echo "budget.sh: needs nginx and wrk" >&2; exit 1; }
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null
fi
BIN=${SHADOWDIFF_BIN:-$ROOT/target/release/shadowdiff}
[[ -x $BIN ]] || (cd "$ROOT" && cargo build --release -q -p shadowdiff)
SLOW_ORIGIN=${SLOW_ORIGIN_BIN:-$ROOT/target/release/slow_origin}
[[ -x $SLOW_ORIGIN ]] || (cd "$ROOT" && cargo build --release -q -p shadowdiff-benches --bin slow_origin)

TMP=$(mktemp -d /tmp/shadowdiff-budget.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

python3 -c '
import json, sys
items = [{"id": 1234567890123 + i, "name": "item %d" % i, "tags": ["a", "b", "c"], "price": i * 1.25, "ok": True} for i in range(10000)]
open(sys.argv[1], "w").write(json.dumps({"items": items}))
' "$TMP/doc.json"
V1=$(port)
V2=$(port)
mkdir -p "$TMP/www" "$TMP/nginx"
cp "$TMP/doc.json" "$TMP/www/doc.json"
USER_LINE=""
[[ $EUID == 0 ]] && USER_LINE="user root root;"
printf '%s\n' \
    "worker_processes 1;" "$USER_LINE" "pid $TMP/nginx/nginx.pid;" "error_log $TMP/nginx/error.log warn;" \
    "events { worker_connections 4096; }" \
    "http { access_log off; default_type application/json; keepalive_requests 1000000;" \
    "  client_body_temp_path $TMP/nginx/b; proxy_temp_path $TMP/nginx/p; fastcgi_temp_path $TMP/nginx/f;" \
    "  uwsgi_temp_path $TMP/nginx/u; scgi_temp_path $TMP/nginx/s;" \
    "  server { listen 127.0.0.1:$V1; root $TMP/www; } }" >"$TMP/nginx/nginx.conf"
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
"$SLOW_ORIGIN" "$V2" "$TMP/doc.json" 0.5 >/dev/null 2>&1 &
PIDS+=($!)
sleep 1
SIZE=$(stat -c %s "$TMP/doc.json")

arm() { # percent -> "peak_kib end_kib requests compared skipped"
    local pct=$1 listen admin pid sampler end counts
    listen=$(port)
    admin=$(port)
    printf '[limits]\nmax_pending_bytes = "%s"\n%s\n' "$BUDGET" "$LIMITS" >"$TMP/c.toml"
    "$BIN" --config "$TMP/c.toml" --listen "127.0.0.1:$listen" --admin "127.0.0.1:$admin" \
        --primary "http://127.0.0.1:$V1" --candidate "http://127.0.0.1:$V2" \
        --mirror-percent "$pct" --log-level error &
    pid=$!
    for _ in $(seq 50); do curl -fs -o /dev/null "http://127.0.0.1:$admin/healthz/ready" && break; sleep 0.1; done
    echo 0 >"$TMP/peak"
    (
        peak=0
        while kill -0 "$pid" 2>/dev/null; do
            r=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
            if ((r > peak)); then peak=$r; echo "$peak" >"$TMP/peak"; fi
            sleep 0.2
        done
    ) &
    sampler=$!
    wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$listen/doc.json" >"$TMP/wrk.out" 2>&1
    sleep 3
    end=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    counts=$(curl -fs "http://127.0.0.1:$admin/metrics" | awk '
        /^shadowdiff_requests_total/ { r += $NF } /^shadowdiff_comparisons_total/ { c += $NF }
        /^shadowdiff_mirror_skipped_total/ { s += $NF } END { printf "%d %d %d", r, c, s }')
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    echo "$(cat "$TMP/peak") $end $counts"
}

echo "body $SIZE bytes; $CONNS connections for ${DURATION}s; max_pending_bytes $BUDGET ${LIMITS:+($LIMITS)}; $("$BIN" --version)"
echo
echo "| round | arm | peak RSS | RSS 3 s after load | requests | compared | skipped |"
echo "|---|---|---:|---:|---:|---:|---:|"
for ((r = 1; r <= ROUNDS; r++)); do
    for pct in 0 100; do
        read -r peak end req comp skip <<<"$(arm "$pct")"
        printf '| %d | mirror %d %% | %d MiB | %d MiB | %d | %d | %d |\n' \
            "$r" "$pct" $((peak / 1024)) $((end / 1024)) "$req" "$comp" "$skip"
    done
done
