#!/usr/bin/env bash
# Replay bench: does `shadowdiff replay` keep up with a plain load generator while comparing
# every response? (issue 16: at least 80 % of oha's request rate against the same local v2)
#
#   bash benches/replay/run.sh [--requests N] [--concurrency C] [--rounds R] [--no-pin]
#                              [--no-install] [--no-build] [--out FILE]
#
# One v2 (nginx, one worker, serving benches/load/doc.json) on free 127.0.0.1 ports in a temp
# dir; a recording of N GETs made with `shadowdiff record import --har` (v1's recorded answer is
# v2's own, so every comparison is a match). Each round runs, back to back:
#   oha    -n N -c C against v2                                  (send, read, nothing else)
#   shadowdiff replay FILE --candidate v2 --concurrency C         (send, read, compare each pair)
# and the median of the per-round ratios replay/oha is reported, for each of two placements:
#   pinned  the client side (oha, or replay with its file-reading thread) on CPU 0, v2 on the
#           last CPU: each tool's own cost per request, on one core
#   free    no pinning: every process may use every CPU, as a user running both would
# (`--no-pin`, or fewer than 2 CPUs or no taskset: free only). Installs oha with
# `cargo install oha --locked` when missing (bounded by OHA_INSTALL_TIMEOUT, 900 s) and nginx
# with apt-get when root; builds the release binary unless SHADOWDIFF_BIN is set. Everything it
# starts is stopped on exit. Writes a markdown summary to benches/replay/results.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin:${CARGO_HOME:-$HOME/.cargo}/bin"

REQUESTS=50000
CONC=32
ROUNDS=3
PIN=1
INSTALL=1
BUILD=1
OUT="$HERE/results.md"
OHA_INSTALL_TIMEOUT=${OHA_INSTALL_TIMEOUT:-900}
CMDLINE="bash benches/replay/run.sh${*:+ $*}"

usage() { sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --requests) REQUESTS=$2; shift ;;
        --concurrency) CONC=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --no-pin) PIN=0 ;;
        --no-install) INSTALL=0 ;;
        --no-build) BUILD=0 ;;
        --out) OUT=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
for n in REQUESTS CONC ROUNDS; do
    [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: $n must be a positive integer" >&2; exit 2; }
done

log() { printf '[replay %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- tools
if ! command -v nginx >/dev/null; then
    [[ $INSTALL == 1 && $EUID == 0 ]] || die "nginx is required (apt-get install -y nginx)"
    log "installing nginx (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq
    timeout 900 apt-get install -y -qq nginx >/dev/null
fi
if ! command -v oha >/dev/null; then
    [[ $INSTALL == 1 ]] && command -v cargo >/dev/null || die "oha is required (cargo install oha --locked)"
    log "installing oha (cargo install oha --locked, at most ${OHA_INSTALL_TIMEOUT}s)"
    timeout "$OHA_INSTALL_TIMEOUT" cargo install oha --locked >/tmp/shadowdiff-oha-install.log 2>&1 \
        || die "oha install failed or was too slow (see /tmp/shadowdiff-oha-install.log)"
fi
command -v python3 >/dev/null || die "python3 is required"
command -v curl >/dev/null || die "curl is required"

if [[ -n ${SHADOWDIFF_BIN:-} ]]; then
    BIN=$SHADOWDIFF_BIN
else
    TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
    BIN=$TARGET_DIR/release/shadowdiff
    if [[ $BUILD == 1 ]]; then
        log "building shadowdiff (release, CARGO_TARGET_DIR=$TARGET_DIR)"
        (cd "$ROOT" && CARGO_TARGET_DIR=$TARGET_DIR cargo build --release -p shadowdiff -q)
    fi
fi
[[ -x $BIN ]] || die "no shadowdiff binary at $BIN"

# ---------------------------------------------------------------- temp dir, cleanup
TMP=$(mktemp -d /tmp/shadowdiff-replay.XXXXXX)
chmod 755 "$TMP"
PIDS=()
cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    sleep 0.3
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ ${KEEP_TMP:-0} == 1 || $rc != 0 ]]; then log "files kept in $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n 65536 2>/dev/null || true

NCPU=$(nproc)
CLIENT=()
PLACES=(free)
if [[ $PIN == 1 && $NCPU -ge 2 ]] && command -v taskset >/dev/null; then
    PLACES=(pinned free)
fi
# Move the client side and v2 to a placement: v2's nginx processes are re-pinned in place.
place() { # pinned | free
    local cpus pid
    if [[ $1 == pinned ]]; then
        CLIENT=(taskset -c 0)
        cpus=$((NCPU - 1))
    else
        CLIENT=()
        cpus=0-$((NCPU - 1))
    fi
    command -v taskset >/dev/null || return 0
    for pid in $(pgrep -f "nginx.*$TMP/nginx" || true); do
        taskset -p -c "$cpus" "$pid" >/dev/null
    done
}

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$TMP/www" "$TMP/nginx/tmp"
cp "$ROOT/benches/load/doc.json" "$TMP/www/doc.json"
chmod -R a+rX "$TMP/www"
NGINX_USER=""
[[ $EUID == 0 ]] && NGINX_USER="user root root;"
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
$NGINX_USER
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
    access_log off;
    server_tokens off;
    default_type application/json;
    etag off;
    keepalive_requests 10000000;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    server { listen 127.0.0.1:$PORT reuseport backlog=4096; root $TMP/www; }
}
EOF
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -g 'daemon off;' >"$TMP/nginx/stdout.log" 2>&1 &
PIDS+=("$!")
V2=http://127.0.0.1:$PORT
for _ in $(seq 50); do curl -fsS -o /dev/null --max-time 1 "$V2/doc.json" 2>/dev/null && break; sleep 0.1; done
curl -fsS -o /dev/null "$V2/doc.json" || die "v2 did not start (see $TMP/nginx)"

# ---------------------------------------------------------------- the recording
log "recording $REQUESTS GETs of /doc.json (record import --har)"
# v1's recorded answer is v2's own (its headers too, less Date and Server, which the
# comparison ignores), so every pair matches and the bench measures sending and comparing.
python3 - "$REQUESTS" "$PORT" >"$TMP/in.har" <<'EOF'
import json, sys, urllib.request
n, port = int(sys.argv[1]), sys.argv[2]
with urllib.request.urlopen(f"http://127.0.0.1:{port}/doc.json") as r:
    body = r.read().decode()
    headers = [{"name": k, "value": v} for k, v in r.getheaders()
               if k.lower() not in ("date", "server", "connection")]
entry = lambda i: {
    "startedDateTime": "2026-01-01T00:00:00.000Z", "time": 1,
    "request": {"method": "GET", "url": f"http://127.0.0.1:{port}/doc.json?i={i}",
                "httpVersion": "HTTP/1.1", "cookies": [], "queryString": [],
                "headers": [{"name": "Accept", "value": "application/json"}],
                "headersSize": -1, "bodySize": 0},
    "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "cookies": [],
                 "headers": headers,
                 "content": {"size": len(body), "mimeType": "application/json", "text": body},
                 "redirectURL": "", "headersSize": -1, "bodySize": len(body)},
    "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0}}
json.dump({"log": {"version": "1.2", "creator": {"name": "bench", "version": "1"},
                   "entries": [entry(i) for i in range(n)]}}, sys.stdout)
EOF
"$BIN" record import --har "$TMP/in.har" "$TMP/rec.jsonl.zst" >/dev/null
rm -f "$TMP/in.har"

# ---------------------------------------------------------------- rounds
RAW=$TMP/raw.tsv
printf 'placement\tround\ttool\trps\tcompared\tmismatched\tseconds\n' >"$RAW"
run_oha() { # round
    timeout 600 "${CLIENT[@]}" oha -n "$REQUESTS" -c "$CONC" --no-tui --output-format json \
        "$V2/doc.json" >"$TMP/oha.json" 2>"$TMP/oha.err" || die "oha failed: $(cat "$TMP/oha.err")"
    python3 - "$TMP/oha.json" "$PLACE" "$1" >>"$RAW" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
print(f"{sys.argv[2]}\t{sys.argv[3]}\toha\t{s['requestsPerSec']:.0f}\t-\t-\t{s['total']:.2f}")
EOF
}
run_replay() { # round
    timeout 600 "${CLIENT[@]}" "$BIN" replay "$TMP/rec.jsonl.zst" --candidate "$V2" \
        --concurrency "$CONC" --report "$TMP/replay.json" >"$TMP/replay.out" 2>&1 \
        || die "replay failed ($?): $(tail -5 "$TMP/replay.out")"
    python3 - "$TMP/replay.json" "$PLACE" "$1" >>"$RAW" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
c = sum(x["compared"] for x in r["routes"])
m = sum(x["mismatched"] for x in r["routes"])
print(f"{sys.argv[2]}\t{sys.argv[3]}\treplay\t{r['requests_per_second']:.0f}\t{c}\t{m}\t{r['elapsed_seconds']:.2f}")
EOF
}
log "warming up"
timeout 60 oha -n 2000 -c "$CONC" --no-tui "$V2/doc.json" >/dev/null 2>&1 || true
for ((r = 1; r <= ROUNDS; r++)); do
    for PLACE in "${PLACES[@]}"; do
        place "$PLACE"
        # Alternate which goes first, so neither always runs on a warmer machine.
        if ((r % 2)); then run_oha "$r"; run_replay "$r"; else run_replay "$r"; run_oha "$r"; fi
        log "round $r, $PLACE: $(awk -F'\t' -v r="$r" -v p="$PLACE" '$1 == p && $2 == r { printf "%s %s req/s  ", $3, $4 }' "$RAW")"
    done
done

# ---------------------------------------------------------------- report
OHA_VERSION=$( (oha --version 2>/dev/null || true) | head -1 | awk '{print $2}')
SD_VERSION=$( ("$BIN" --version 2>/dev/null || true) | head -1)
CPU_MODEL=$( (lscpu 2>/dev/null || true) | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
python3 - "$RAW" "$REQUESTS" "$CONC" "$CMDLINE" "$NCPU" "$OHA_VERSION" "$SD_VERSION" \
    "$CPU_MODEL" >"$TMP/results.md" <<'EOF'
import csv, statistics, sys
raw, n, c, cmd, ncpu, oha_v, sd_v, cpu = sys.argv[1:]
rows = list(csv.DictReader(open(raw), delimiter="\t"))
where = {
    "pinned": f"client (oha, or replay with its reader thread) on CPU 0, v2 on CPU {int(ncpu) - 1}",
    "free": f"no pinning: the client and v2 share all {ncpu} CPUs",
}
places = list(dict.fromkeys(r["placement"] for r in rows))
rounds = len({r["round"] for r in rows})
print("# Replay bench (issue 16)\n")
print(f"Command: `{cmd}` — {rounds} round(s) of {n} requests each, {c} in flight, per placement.\n")
print(f"- Machine: {ncpu} × {cpu}")
print(f"- oha {oha_v}, {sd_v}\n")
print("| placement | tool | req/s (median) | compared per round | mismatched |")
print("|---|---|---:|---:|---:|")
verdicts = []
for p in places:
    mine = [r for r in rows if r["placement"] == p]
    by = {}
    for r in mine:
        by.setdefault(r["round"], {})[r["tool"]] = r
    ratios = [float(v["replay"]["rps"]) / float(v["oha"]["rps"]) for v in by.values() if {"oha", "replay"} <= v.keys()]
    med = lambda tool: statistics.median(float(r["rps"]) for r in mine if r["tool"] == tool)
    compared = [r["compared"] for r in mine if r["tool"] == "replay"]
    mism = [r["mismatched"] for r in mine if r["tool"] == "replay"]
    print(f"| {p} | oha -n {n} -c {c} | {med('oha'):.0f} | – | – |")
    print(f"| {p} | shadowdiff replay --concurrency {c} | {med('replay'):.0f} | {', '.join(compared)} | {', '.join(mism)} |")
    ratio = statistics.median(ratios)
    verdicts.append(f"- {p} ({where[p]}): replay / oha, median of per-round ratios "
                    f"({', '.join(f'{x:.2f}' for x in ratios)}): **{ratio:.2f}×** "
                    f"(wanted ≥ 0.80: {'met' if ratio >= 0.8 else 'not met'})")
print()
print("\n".join(verdicts))
EOF
cp "$TMP/results.md" "$OUT"
cat "$TMP/results.md"
log "written to $OUT"
