#!/usr/bin/env bash
# Memory under a bad candidate: is the proxy's RSS flat while v2 misbehaves under sustained load?
#
#   bash benches/memory/run.sh [--quick] [--warmup S] [--duration S] [--idle S]
#                              [--scenarios LIST] [--connections C] [--tolerance F]
#                              [--out FILE] [--keep] [--no-install]
#
# Scenarios (LIST is comma-separated, default all five, in this order):
#   baseline      v2 = a healthy copy of v1, mirror 0 %: the client's speed without mirroring
#   blackhole     v2 accepts and never answers; defaults (candidate timeout 5s, breaker on)
#   blackhole-30s v2 accepts and never answers; candidate timeout 30s, breaker off, so
#                 mirrors pile up to limits.max_in_flight_mirrors (1024) and shed as overloaded
#   10mb          v2 answers every request with a 10 MB body; capture cap 1 MiB (default)
#   10mb-nginx    the same body served by nginx (sendfile): a faster bad v2; skipped without nginx
# and, only when named: blackhole-churn  v2 never answers; candidate timeout 2s, breaker off, so
#                 all 1024 in-flight slots time out and refill every 2 s (a leak per mirror shows)
# Each: proxy with --mirror-percent 100 in front of `shadowdiff sample-service v1` (/users/1),
# `wrk -t1 -c<C> --latency` for warm-up + duration seconds (default 10 + 60; --quick: 5 + 10,
# idle 5), VmRSS of the proxy every 1 s and its gauges every 5 s, then idle seconds without load.
# Reports RSS at start, after warm-up, peak, end of load and after idle, and end / after-warm-up
# (target: within --tolerance, default 0.10). Markdown to stdout and to benches/memory/results.md.
# Builds with CARGO_TARGET_DIR=/work/target-mem unless SHADOWDIFF_BIN=path. Environment such as
# MALLOC_ARENA_MAX is passed to the proxy. Everything runs on 127.0.0.1 and is stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin:${CARGO_HOME:-$HOME/.cargo}/bin"

WARMUP=10
DURATION=60
IDLE=10
CONNS=32
TOL=0.10
SCENARIOS=baseline,blackhole,blackhole-30s,10mb,10mb-nginx
OUT="$HERE/results.md"
KEEP=0
INSTALL=1
CMDLINE="bash benches/memory/run.sh${*:+ $*}"

usage() { sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) WARMUP=5; DURATION=10; IDLE=5 ;;
        --warmup) WARMUP=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --idle) IDLE=$2; shift ;;
        --scenarios) SCENARIOS=$2; shift ;;
        --connections) CONNS=$2; shift ;;
        --tolerance) TOL=$2; shift ;;
        --out) OUT=$2; shift ;;
        --keep) KEEP=1 ;;
        --no-install) INSTALL=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
for n in WARMUP DURATION IDLE CONNS; do
    [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: $n must be a positive integer" >&2; exit 2; }
done
IFS=, read -r -a SCEN <<<"$SCENARIOS"
if [[ ,$SCENARIOS, == *,10mb-nginx,* ]] && ! command -v nginx >/dev/null; then
    echo "run.sh: nginx not installed: scenario 10mb-nginx skipped" >&2
    SCEN=("${SCEN[@]/10mb-nginx}")
fi
for s in "${SCEN[@]}"; do
    case "$s" in baseline|blackhole|blackhole-30s|blackhole-churn|10mb|10mb-nginx) ;; *) echo "run.sh: unknown scenario $s" >&2; exit 2 ;; esac
done

log() { printf '[memory %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- tools
command -v python3 >/dev/null || die "python3 is required"
command -v curl >/dev/null || die "curl is required"
if ! command -v wrk >/dev/null; then
    [[ $INSTALL == 1 && $EUID == 0 ]] || die "wrk is required (apt-get install -y wrk)"
    log "installing wrk (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq
    timeout 600 apt-get install -y -qq wrk >/dev/null
fi

# ---------------------------------------------------------------- binary
if [[ -n ${SHADOWDIFF_BIN:-} ]]; then
    BIN=$SHADOWDIFF_BIN
else
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-mem}
    log "building (cargo build --release -p shadowdiff, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    (cd "$ROOT" && timeout 1800 cargo build --release -q -p shadowdiff)
    BIN=$CARGO_TARGET_DIR/release/shadowdiff
fi
[[ -x $BIN ]] || die "no binary at $BIN"

# ---------------------------------------------------------------- cleanup
TMP=$(mktemp -d /tmp/shadowdiff-mem.XXXXXX)
PIDS=()
cleanup() {
    local rc=$?
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    if [[ $KEEP == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # PORT: until something accepts on it, at most 15 s
    local i
    for i in $(seq 150); do
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2).close()" 2>/dev/null && return 0
        sleep 0.1
    done
    die "nothing listening on 127.0.0.1:$1"
}
stop() { # PID: TERM, then KILL after 5 s; forgotten by cleanup
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
    kill "$1" 2>/dev/null || return 0
    local i
    for i in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
}
rss() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM:/{print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------- v1 (shared)
V1_PORT=$(free_port)
"$BIN" sample-service v1 --listen "127.0.0.1:$V1_PORT" >"$TMP/v1.log" 2>&1 &
V1_PID=$!; PIDS+=("$V1_PID")
wait_port "$V1_PORT"
curl -fsS "http://127.0.0.1:$V1_PORT/users/1" -o "$TMP/users1.json" || die "v1 does not serve /users/1"
log "v1 on :$V1_PORT (/users/1 is $(wc -c <"$TMP/users1.json") bytes)"

run_scenario() {
    local name=$1 d="$TMP/$1" v2_port admin_port listen_port v2_pid sd_pid sampler_pid pct=100
    mkdir -p "$d"
    echo "$name" >"$d/name"
    v2_port=$(free_port)
    : >"$d/config.toml"
    case "$name" in
        baseline)
            echo "v2 = a second sample v1 (healthy), --mirror-percent 0: the client's speed through the proxy without mirroring" >"$d/desc"
            pct=0
            "$BIN" sample-service v1 --listen "127.0.0.1:$v2_port" >"$d/v2.log" 2>&1 & ;;
        blackhole)
            echo "v2 accepts and never answers; candidate timeout 5s and breaker at their defaults" >"$d/desc"
            python3 "$HERE/blackhole.py" "$v2_port" >"$d/v2.log" 2>&1 & ;;
        blackhole-30s)
            echo "v2 accepts and never answers; candidate.timeout = 30s, breaker.failure_threshold = 0 (off), so mirrors fill limits.max_in_flight_mirrors (1024)" >"$d/desc"
            printf '[candidate]\ntimeout = "30s"\n\n[breaker]\nfailure_threshold = 0\n' >"$d/config.toml"
            python3 "$HERE/blackhole.py" "$v2_port" >"$d/v2.log" 2>&1 & ;;
        blackhole-churn)
            echo "v2 accepts and never answers; candidate.timeout = 2s, breaker off: the 1024 in-flight slots time out and refill every 2 s" >"$d/desc"
            printf '[candidate]\ntimeout = "2s"\n\n[breaker]\nfailure_threshold = 0\n' >"$d/config.toml"
            python3 "$HERE/blackhole.py" "$v2_port" >"$d/v2.log" 2>&1 & ;;
        10mb)
            echo "v2 answers every request with a 10 MB JSON body (Content-Length set); capture cap 1 MiB (default)" >"$d/desc"
            python3 "$HERE/big_origin.py" "$v2_port" 10 >"$d/v2.log" 2>&1 & ;;
        10mb-nginx)
            echo "v2 = nginx (1 worker, sendfile) answering every request with the same 10 MB JSON body; capture cap 1 MiB (default)" >"$d/desc"
            mkdir -p "$d/www"
            python3 "$HERE/big_origin.py" --write "$d/www/big.json" 10
            chmod 755 "$TMP" "$d" "$d/www"; chmod 644 "$d/www/big.json"  # nginx workers may run as nobody
            cat >"$d/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/nginx-error.log;
events { worker_connections 8192; }
http {
    access_log off;
    sendfile on;
    server {
        listen 127.0.0.1:$v2_port;
        location / { root $d/www; try_files /big.json =404; default_type application/json; }
    }
}
NGINX
            nginx -e "$d/nginx-error.log" -c "$d/nginx.conf" -p "$d" >"$d/v2.log" 2>&1 & ;;
    esac
    v2_pid=$!; PIDS+=("$v2_pid")
    wait_port "$v2_port"

    listen_port=$(free_port); admin_port=$(free_port)
    local cfg=()
    [[ -s $d/config.toml ]] && cfg=(--config "$d/config.toml")
    "$BIN" --listen "127.0.0.1:$listen_port" --admin "127.0.0.1:$admin_port" \
        --primary "http://127.0.0.1:$V1_PORT" --candidate "http://127.0.0.1:$v2_port" \
        --mirror-percent "$pct" --log-level warn "${cfg[@]}" >"$d/proxy.log" 2>&1 &
    sd_pid=$!; PIDS+=("$sd_pid")
    local i
    for i in $(seq 150); do
        curl -fsS -o /dev/null "http://127.0.0.1:$admin_port/healthz/ready" 2>/dev/null && break
        kill -0 "$sd_pid" 2>/dev/null || { cat "$d/proxy.log" >&2; die "proxy exited"; }
        sleep 0.1
    done
    curl -fsS -o /dev/null "http://127.0.0.1:$listen_port/users/1" || die "proxy does not serve /users/1"
    sleep 1
    local metrics="http://127.0.0.1:$admin_port/metrics"
    {
        echo "rss_start $(rss "$sd_pid")"
        echo "warmup_s $WARMUP"
    } >"$d/marks"
    python3 "$HERE/sampler.py" "$sd_pid" "$metrics" "$d/samples.csv" 5 &
    sampler_pid=$!; PIDS+=("$sampler_pid")

    log "$name: wrk -t1 -c$CONNS -d$((WARMUP + DURATION))s (warm-up ${WARMUP}s), proxy pid $sd_pid, RSS $(rss "$sd_pid") KiB"
    echo "load_start $(date +%s.%N)" >>"$d/marks"
    timeout $((WARMUP + DURATION + 60)) wrk -t1 -c"$CONNS" -d"$((WARMUP + DURATION))s" --timeout 10s --latency \
        "http://127.0.0.1:$listen_port/users/1" >"$d/wrk.txt" 2>&1 &
    local wrk_pid=$!; PIDS+=("$wrk_pid")
    sleep "$WARMUP"
    echo "rss_warm $(rss "$sd_pid")" >>"$d/marks"
    curl -fsS "$metrics" >"$d/metrics_warm.txt" || true
    wait "$wrk_pid" || die "wrk failed: $(cat "$d/wrk.txt")"
    echo "load_end $(date +%s.%N)" >>"$d/marks"
    echo "rss_end $(rss "$sd_pid")" >>"$d/marks"
    curl -fsS "$metrics" >"$d/metrics_end.txt" || true
    log "$name: load done, RSS $(rss "$sd_pid") KiB; idle ${IDLE}s"
    sleep "$IDLE"
    echo "rss_idle $(rss "$sd_pid")" >>"$d/marks"
    echo "hwm $(hwm "$sd_pid")" >>"$d/marks"
    curl -fsS "$metrics" >"$d/metrics_idle.txt" || true
    stop "$sampler_pid"; stop "$sd_pid"; stop "$v2_pid"
    kill -0 "$sd_pid" 2>/dev/null && die "proxy did not stop"
    grep -iE 'panic|error' "$d/proxy.log" | head -5 >&2 || true
}

for s in "${SCEN[@]}"; do [[ -z $s ]] || run_scenario "$s"; done

# ---------------------------------------------------------------- report
DIRS=()
for s in "${SCEN[@]}"; do [[ -z $s ]] || DIRS+=("$TMP/$s"); done
{
    echo "### Memory results ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "Command: \`${CMDLINE}\`${MALLOC_ARENA_MAX:+ with MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX}; machine: $(nproc) CPUs, $(uname -sr), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); load average at end $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "wrk -t1 -c$CONNS for ${WARMUP} s warm-up + ${DURATION} s, then ${IDLE} s idle; RSS in MiB (VmRSS); v2 mirror share 100 % (baseline 0 %)."
    echo
    python3 "$HERE/summarize.py" "$TOL" "${DIRS[@]}"
} >"$TMP/results.md"
cp "$TMP/results.md" "$OUT"
cat "$TMP/results.md"
log "written to $OUT"
