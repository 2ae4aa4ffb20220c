#!/usr/bin/env bash
# Proxy load harness: shadowdiff against nginx (reverse proxy, mirror module) in one run.
#
#   bash benches/load/run.sh [--quick] [--rounds N] [--duration S] [--rate Q] [--connections C]
#                            [--threads N] [--no-pin] [--no-oha] [--no-install] [--no-build]
#                            [--scenarios A,B,...] [--out FILE]
#
# Installs what is missing (nginx and wrk with apt-get as root, oha with `cargo install`, bounded
# by OHA_INSTALL_TIMEOUT seconds and optional), builds the release binary (CARGO_TARGET_DIR is
# honoured; SHADOWDIFF_BIN=path skips the build; SHADOWDIFF_BASELINE_BIN=path adds the 0 % and
# 100 % rows for a second binary, e.g. the commit before a change), starts nginx origins, nginx proxies and
# shadowdiff instances on free 127.0.0.1 ports in a temp dir, measures every scenario in
# alternating rounds with wrk (closed loop) and oha (fixed rate), and prints a markdown table of
# medians that is also written to benches/load/results.md. Everything it starts is stopped on
# exit. --scenarios measures only the named rows (e.g. sd0,sd0_record) and skips isolation.sh;
# its table goes to stdout (and to --out FILE with its raw rows beside it, never over the full
# run's results.md and raw.tsv).
# See benches/README.md, "Proxy load harness".
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin:${CARGO_HOME:-$HOME/.cargo}/bin"

ROUNDS=3
ISO_ROUNDS=5
ISO_DURATION=30
DURATION=10
RATE=5000
CONNS=32
OHA_CONNS=64
H2_STREAMS=10
SD_THREADS=1
PIN=1
USE_OHA=1
INSTALL=1
BUILD=1
SLOW_DELAY=2
OUT="$HERE/results.md"
OHA_INSTALL_TIMEOUT=${OHA_INSTALL_TIMEOUT:-900}
CMDLINE="bash benches/load/run.sh${*:+ $*}"

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
ONLY=""
OUT_GIVEN=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) ROUNDS=1; ISO_ROUNDS=1; ISO_DURATION=5; DURATION=3 ;;
        --rounds) ROUNDS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --rate) RATE=$2; shift ;;
        --connections) CONNS=$2; shift ;;
        --threads) SD_THREADS=$2; shift ;;
        --no-pin) PIN=0 ;;
        --no-oha) USE_OHA=0 ;;
        --no-install) INSTALL=0 ;;
        --no-build) BUILD=0 ;;
        --out) OUT=$2; OUT_GIVEN=1; shift ;;
        --scenarios) ONLY=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
for n in ROUNDS DURATION RATE CONNS SD_THREADS; do
    [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: $n must be a positive integer" >&2; exit 2; }
done

log() { printf '[load %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- tools
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null || ! command -v haproxy >/dev/null \
    || ! command -v h2load >/dev/null || ! command -v openssl >/dev/null; then
    [[ $INSTALL == 1 ]] || die "nginx and wrk are required (apt-get install -y nginx wrk)"
    [[ $EUID == 0 ]] || die "nginx/wrk missing and not root: run 'apt-get install -y nginx wrk' first"
    log "installing nginx and wrk (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq
    timeout 900 apt-get install -y -qq nginx wrk haproxy nghttp2-client openssl >/dev/null
fi
command -v python3 >/dev/null || die "python3 is required"
command -v curl >/dev/null || die "curl is required"
if [[ $USE_OHA == 1 ]] && ! command -v oha >/dev/null; then
    if [[ $INSTALL == 1 ]] && command -v cargo >/dev/null; then
        log "installing oha (cargo install oha --locked, at most ${OHA_INSTALL_TIMEOUT}s)"
        if ! timeout "$OHA_INSTALL_TIMEOUT" cargo install oha --locked >/tmp/shadowdiff-oha-install.log 2>&1; then
            log "oha install failed or was too slow (see /tmp/shadowdiff-oha-install.log): fixed-rate columns skipped"
        fi
    fi
    command -v oha >/dev/null || USE_OHA=0
fi
[[ $USE_OHA == 1 ]] || log "oha not available: closed-loop (wrk) numbers only"

# ---------------------------------------------------------------- binary
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
# The slow v2 origin (benches/src/bin/slow_origin.rs): SLOW_ORIGIN_BIN, or built here once.
SLOW_ORIGIN=${SLOW_ORIGIN_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/slow_origin}
if [[ ! -x $SLOW_ORIGIN ]]; then
    log "building slow_origin (release)"
    (cd "$ROOT" && cargo build --release -q -p shadowdiff-benches --bin slow_origin)
fi
[[ -x $BIN ]] || die "no shadowdiff binary at $BIN"
BASE_BIN=${SHADOWDIFF_BASELINE_BIN:-}
[[ -z $BASE_BIN || -x $BASE_BIN ]] || die "no baseline binary at $BASE_BIN"

# ---------------------------------------------------------------- temp dir, cleanup
TMP=$(mktemp -d /tmp/shadowdiff-load.XXXXXX)
chmod 755 "$TMP"
PIDS=()
TOOL_PID=""
stop_all() { # every process the run started: TERM, up to 2 s, then KILL
    local pid
    [[ -n $TOOL_PID ]] && kill -TERM "$TOOL_PID" 2>/dev/null
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        local alive=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 0.2
    done
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PIDS=() TOOL_PID=""
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_all
    if [[ ${KEEP_TMP:-0} == 1 || $rc != 0 ]]; then
        log "logs kept in $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# CPU placement: with PIN=1 and at least 2 CPUs the load tool runs on CPU 0 and everything under
# test (origins, the proxy, the slow origin) on the last CPU, so no proxy steals the load
# generator's core and every proxy pays for its origins out of the same single core.
NCPU=$(nproc)
LOAD=()
SRV=()
if [[ $PIN == 1 && $NCPU -ge 2 ]] && command -v taskset >/dev/null; then
    LOAD=(taskset -c 0)
    SRV=(taskset -c "$((NCPU - 1))")
    PLACEMENT="load tool on CPU 0; origins, proxies and the slow origin on CPU $((NCPU - 1))"
else
    PIN=0
    PLACEMENT="no pinning (all processes share all $NCPU CPUs)"
fi

# ---------------------------------------------------------------- ports
read -r -a PORTS <<<"$(python3 - <<'EOF'
import socket
socks = []
for _ in range(37):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)"
P_V1=${PORTS[0]} P_V2=${PORTS[1]} P_V2R=${PORTS[2]} P_SLOW=${PORTS[3]}
P_NGX=${PORTS[4]} P_NGXM=${PORTS[5]} P_NGXMS=${PORTS[6]}
P_SD0=${PORTS[7]} P_SD20=${PORTS[8]} P_SD100=${PORTS[9]} P_SD100R=${PORTS[10]} P_SD100S=${PORTS[11]}
A_SD0=${PORTS[12]} A_SD20=${PORTS[13]} A_SD100=${PORTS[14]} A_SD100R=${PORTS[15]} A_SD100S=${PORTS[16]}
P_SD0B=${PORTS[17]} P_SD100B=${PORTS[18]} A_SD0B=${PORTS[19]} A_SD100B=${PORTS[20]}
P_SD0REC=${PORTS[24]} A_SD0REC=${PORTS[25]} P_SD100REC=${PORTS[21]} A_SD100REC=${PORTS[22]}
P_SDC50=${PORTS[26]} A_SDC50=${PORTS[27]}
P_SDC50S=${PORTS[28]} A_SDC50S=${PORTS[29]}
P_SDN1=${PORTS[30]} A_SDN1=${PORTS[31]}
P_HAP=${PORTS[32]}
P_NGXTLS=${PORTS[33]} P_SDTLS=${PORTS[34]} A_SDTLS=${PORTS[35]} P_NGXH2=${PORTS[36]}

# ---------------------------------------------------------------- documents
WWW=$TMP/www
mkdir -p "$WWW/v1" "$WWW/v2" "$WWW/v2r"
cp "$HERE/doc.json" "$WWW/v1/doc.json"
cp "$HERE/doc.json" "$WWW/v2/doc.json"
cp "$HERE/reordered.json" "$WWW/v2r/doc.json"
# Same Last-Modified on both sides, no ETag: v1 and v2 differ only where the scenario says so.
touch -d '2024-01-01 00:00:00 UTC' "$WWW"/*/doc.json
chmod -R a+rX "$WWW"
DOC_PATH=/doc.json

# ---------------------------------------------------------------- nginx
NGINX_USER=""
[[ $EUID == 0 ]] && NGINX_USER="user root root;"

nginx_conf() { # dir, then the http-block body on stdin
    local dir=$1
    mkdir -p "$dir/tmp"
    {
        cat <<EOF
worker_processes 1;
$NGINX_USER
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
    access_log off;
    server_tokens off;
    default_type application/json;
    etag off;
    keepalive_timeout 75s;
    keepalive_requests 10000000;
    open_file_cache max=64 inactive=60s;
    open_file_cache_valid 60s;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
EOF
        cat
        echo "}"
    } >"$dir/nginx.conf"
}

# Start an nginx in the foreground of a background job; its master's pid is $!.
start_nginx() { # name
    local dir=$TMP/$1
    nginx -t -q -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' 2>"$dir/test.log" \
        || die "nginx $1: bad config: $(cat "$dir/test.log")"
    "${SRV[@]}" nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/stdout.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    echo "$pid" >"$dir/master.pid"
}

upstreams() { # v2 port for the candidate upstream
    cat <<EOF
    upstream v1 { server 127.0.0.1:$P_V1; keepalive 64; keepalive_requests 10000000; }
    upstream v2 { server 127.0.0.1:$1; keepalive 64; keepalive_requests 10000000; }
EOF
}

proxy_server() { # port, mirror (0|1)
    local mirror=""
    [[ $2 == 1 ]] && mirror="mirror /mirror; mirror_request_body on;"
    cat <<EOF
    server {
        listen 127.0.0.1:$1 reuseport;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location / { $mirror proxy_pass http://v1; }
        location = /mirror { internal; proxy_pass http://v2\$request_uri; }
    }
EOF
}

mkdir -p "$TMP/origin-v1" "$TMP/origin-v2" "$TMP/nginx-proxy" "$TMP/nginx-mirror" "$TMP/nginx-mirror-slow"
nginx_conf "$TMP/origin-v1" <<EOF
    server { listen 127.0.0.1:$P_V1 reuseport backlog=4096; root $WWW/v1; }
EOF
nginx_conf "$TMP/origin-v2" <<EOF
    server { listen 127.0.0.1:$P_V2 reuseport backlog=4096; root $WWW/v2; }
    server { listen 127.0.0.1:$P_V2R reuseport backlog=4096; root $WWW/v2r; }
EOF
{ upstreams "$P_V2"; proxy_server "$P_NGX" 0; } | nginx_conf "$TMP/nginx-proxy"
{ upstreams "$P_V2"; proxy_server "$P_NGXM" 1; } | nginx_conf "$TMP/nginx-mirror"
{ upstreams "$P_SLOW"; proxy_server "$P_NGXMS" 1; } | nginx_conf "$TMP/nginx-mirror-slow"

for n in origin-v1 origin-v2 nginx-proxy nginx-mirror nginx-mirror-slow; do start_nginx "$n"; done

# TLS on the client side (issue 18): nginx (OpenSSL) and shadowdiff (rustls) terminating TLS in
# front of the same v1, one ECDSA P-256 certificate for both, each with its default session
# resumption. Rows `tls_*` keep connections alive (the cipher's cost per request); `tls_hs_*` send
# `Connection: close`, so every request is a new TCP connection and TLS handshake.
# HTTP/2 from the client (cleartext, prior knowledge), HTTP/1.1 to v1: nginx's h2 against
# shadowdiff's (the sd0 instance: its listener takes both), driven by h2load.
mkdir -p "$TMP/nginx-h2"
{ upstreams "$P_V2"; cat <<EOF
    server {
        listen 127.0.0.1:$P_NGXH2 http2 reuseport;
        http2_max_concurrent_streams 128;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location / { proxy_pass http://v1; }
    }
EOF
} | nginx_conf "$TMP/nginx-h2"
start_nginx nginx-h2
TLS_DIR=$TMP/tls
if command -v openssl >/dev/null; then
    mkdir -p "$TLS_DIR" "$TMP/nginx-tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=localhost -keyout "$TLS_DIR/key.pem" -out "$TLS_DIR/cert.pem" >/dev/null 2>&1 \
        || die "openssl could not make a test certificate"
    chmod a+r "$TLS_DIR"/*.pem
    { upstreams "$P_V2"; cat <<EOF
    server {
        listen 127.0.0.1:$P_NGXTLS ssl reuseport;
        ssl_certificate $TLS_DIR/cert.pem;
        ssl_certificate_key $TLS_DIR/key.pem;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location / { proxy_pass http://v1; }
    }
EOF
    } | nginx_conf "$TMP/nginx-tls"
    start_nginx nginx-tls
else
    log "openssl not installed: no TLS rows"
fi

# HAProxy as a second peer at 0 % (issue 18): one thread, keep-alive both sides, idle upstream
# connections reused by any request (`http-reuse always`), no logging — its fastest plain setup.
if command -v haproxy >/dev/null; then
    mkdir -p "$TMP/haproxy"
    cat >"$TMP/haproxy/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    http-reuse always
frontend fe
    bind 127.0.0.1:$P_HAP
    default_backend v1
backend v1
    server v1 127.0.0.1:$P_V1
EOF
    haproxy -c -q -f "$TMP/haproxy/haproxy.cfg" || die "haproxy: bad config"
    "${SRV[@]}" haproxy -W -f "$TMP/haproxy/haproxy.cfg" >"$TMP/haproxy/stdout.log" 2>&1 &
    PIDS+=("$!")
    echo "$!" >"$TMP/haproxy/master.pid"
else
    log "haproxy not installed: no haproxy row (apt-get install haproxy)"
fi
"${SRV[@]}" "$SLOW_ORIGIN" "$P_SLOW" "$WWW/v1/doc.json" "$SLOW_DELAY" \
    >"$TMP/slow-origin.log" 2>&1 &
PIDS+=("$!")

# ---------------------------------------------------------------- shadowdiff
start_sd() { # name port admin candidate-port percent [binary] [config file]
    "${SRV[@]}" "${6:-$BIN}" --workers "$SD_THREADS" \
        --listen "127.0.0.1:$2" --admin "127.0.0.1:$3" \
        --primary "http://127.0.0.1:$P_V1" --candidate "http://127.0.0.1:$4" \
        --mirror-percent "$5" --log-level warn ${7:+--config "$7"} >"$TMP/$1.log" 2>&1 &
    PIDS+=("$!")
    echo "$!" >"$TMP/$1.pid"
}
# The rows that measure what comparing costs must compare every request, as nginx + mirror
# mirrors every request. Two production defaults shed mirrors on a saturated core, which every
# closed-loop row is, to keep v1 fast — the point in production, not in these rows: the mirror
# and comparison threads run at the I/O thread's priority (at the default
# limits.background_nice = 10 most comparisons are shed as `overloaded`), and the adaptive mirror
# limit is off (on, it sheds 15-40 % of the mirrors as v1's p99 rises under the load, in every
# round but the first, which made these rows do less work than the rows they are held against).
cat >"$TMP/compare_all.toml" <<EOF
[limits]
background_nice = 0
adaptive_mirrors = false
EOF
start_sd sd0 "$P_SD0" "$A_SD0" "$P_V2" 0
start_sd sd20 "$P_SD20" "$A_SD20" "$P_V2" 20 "" "$TMP/compare_all.toml"
start_sd sd100 "$P_SD100" "$A_SD100" "$P_V2" 100 "" "$TMP/compare_all.toml"
start_sd sd100r "$P_SD100R" "$A_SD100R" "$P_V2R" 100 "" "$TMP/compare_all.toml"
start_sd sd100slow "$P_SD100S" "$A_SD100S" "$P_SLOW" 100
# Recording every exchange, mirroring none: what the recorder costs on its own (issue 16). Three
# files of 64 MiB at most, in the temp dir.
cat >"$TMP/record.toml" <<EOF
[record]
percent = 100
dir = "$TMP/record"
max_files = 3
EOF
start_sd sd0rec "$P_SD0REC" "$A_SD0REC" "$P_V2" 0 "" "$TMP/record.toml"
# Recording every exchange while shadowing every request (sd100's config plus [record]): what
# recording adds to a proxy doing the job it records for (each line carries the verdict).
cat "$TMP/compare_all.toml" - >"$TMP/record_shadow.toml" <<EOF
[record]
percent = 100
dir = "$TMP/record_shadow"
max_files = 3
EOF
start_sd sd100rec "$P_SD100REC" "$A_SD100REC" "$P_V2" 100 "" "$TMP/record_shadow.toml"
# A canary holding at 50 %, mirroring none: half the requests served by v2 (the same document), the
# gates' window filled on every request (issue 15: at most 5 % more CPU per request than sd0).
cat >"$TMP/canary.toml" <<EOF
[cutover]
mode = "canary"
steps = [{weight = 50, hold = "24h"}]
EOF
start_sd sdc50 "$P_SDC50" "$A_SDC50" "$P_V2" 0 "" "$TMP/canary.toml"
# The same canary with v1's origin process as v2 (its own connections still): on two cores the
# origins share the proxy's core, and a second busy origin process there costs the proxy cache and
# time slices that are not the proxy's own work. The two rows bracket that effect.
start_sd sdc50s "$P_SDC50S" "$A_SDC50S" "$P_V1" 0 "" "$TMP/canary.toml"
# Learning noise from 1 % of the mirrored requests (issue 17: at most 3 % more CPU per request
# than the same mirroring without it): every comparison also feeds the learner and the signatures.
cat "$TMP/compare_all.toml" - >"$TMP/noise.toml" <<EOF
[noise]
percent = 1
EOF
start_sd sdn1 "$P_SDN1" "$A_SDN1" "$P_V2" 100 "" "$TMP/noise.toml"
if [[ -f $TLS_DIR/cert.pem ]]; then
    printf '[tls]\ncert = "%s"\nkey = "%s"\n' "$TLS_DIR/cert.pem" "$TLS_DIR/key.pem" >"$TMP/tls.toml"
    start_sd sdtls "$P_SDTLS" "$A_SDTLS" "$P_V2" 0 "" "$TMP/tls.toml"
fi
if [[ -n $BASE_BIN ]]; then
    start_sd sd0base "$P_SD0B" "$A_SD0B" "$P_V2" 0 "$BASE_BIN"
    # As sd100, when the baseline knows the key (builds before limits.background_nice do not).
    BASE_CMP=""
    printf '[primary]\nurl = "http://127.0.0.1:%s"\n[candidate]\nurl = "http://127.0.0.1:%s"\n' \
        "$P_V1" "$P_V2" | cat - "$TMP/compare_all.toml" >"$TMP/compare_all_check.toml"
    "$BASE_BIN" check-config "$TMP/compare_all_check.toml" >/dev/null 2>&1 \
        && BASE_CMP="$TMP/compare_all.toml"
    start_sd sd100base "$P_SD100B" "$A_SD100B" "$P_V2" 100 "$BASE_BIN" "$BASE_CMP"
    wait_admins=($A_SD0B $A_SD100B)
fi

wait_http() { # url, seconds
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    die "$1 did not answer within $2 s (logs in $TMP)"
}
for p in $P_V1 $P_V2 $P_V2R $P_NGX $P_NGXM; do wait_http "http://127.0.0.1:$p$DOC_PATH" 10; done
for a in $A_SD0 $A_SD20 $A_SD100 $A_SD100R $A_SD100S $A_SD0REC $A_SD100REC $A_SDC50 $A_SDC50S $A_SDN1 ${wait_admins[@]+"${wait_admins[@]}"}; do wait_http "http://127.0.0.1:$a/healthz/ready" 10; done
if command -v haproxy >/dev/null; then wait_http "http://127.0.0.1:$P_HAP$DOC_PATH" 10; fi
if [[ -f $TLS_DIR/cert.pem ]]; then wait_http "http://127.0.0.1:$A_SDTLS/healthz/ready" 10; fi
wait_http "http://127.0.0.1:$P_SD100$DOC_PATH" 10
# The slow origin answers in SLOW_DELAY seconds; only check that it listens.
for ((i = 0; i < 50; i++)); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $P_SLOW), 1)" 2>/dev/null && break
    sleep 0.1
done
# Both documents must be the same JSON, and v2r's bytes must differ (else scenario 4 is moot).
python3 - "$WWW/v1/doc.json" "$WWW/v2r/doc.json" <<'EOF'
import json, sys
a, b = (open(p, "rb").read() for p in sys.argv[1:])
assert json.loads(a) == json.loads(b) and a != b, "reordered.json must be doc.json reordered"
EOF

# ---------------------------------------------------------------- measurement helpers
# Kernel clock ticks (utime + stime) of a process and, for nginx, its workers.
cpu_ticks() { # pid...
    local total=0 pid t
    for pid in "$@"; do
        t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
        total=$((total + t))
    done
    echo "$total"
}
pids_of() { # name -> master/process pid plus children (nginx workers)
    local pid
    pid=$(cat "$TMP/$1.pid" 2>/dev/null || cat "$TMP/$1/master.pid")
    echo "$pid" $(pgrep -P "$pid" || true)
}
CLK_TCK=$(getconf CLK_TCK)

# requests mirrored compared mismatched skipped, from a shadowdiff admin port
sd_counts() {
    curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" | awk '
        /^shadowdiff_requests_total/ { r += $NF }
        /^shadowdiff_mirrored_requests_total/ { mi += $NF }
        /^shadowdiff_comparisons_total/ { c += $NF; if ($0 ~ /result="mismatch"/) mm += $NF }
        /^shadowdiff_mirror_skipped_total/ { s += $NF }
        END { printf "%d %d %d %d %d\n", r, mi, c, mm, s }'
}

RAW=$TMP/raw.tsv
printf 'round\tscenario\ttool\trps\tp50_us\tp99_us\tp999_us\tcpu_us_per_req\trequests\terrors\tmirrored\tcompared\tmismatched\tskipped\n' >"$RAW"

# One measurement: run the tool against url, diff the CPU and (for shadowdiff) the counters.
measure() { # round scenario tool url cpu-owner admin-port-or-empty settle-seconds
    local round=$1 scen=$2 tool=$3 url=$4 owner=$5 admin=$6 settle=$7
    local pids c0 c1 m0=(0 0 0 0 0) m1=(0 0 0 0 0) out line
    read -r -a pids <<<"$(pids_of "$owner")"
    [[ -n $admin ]] && read -r -a m0 <<<"$(sd_counts "$admin")"
    c0=$(cpu_ticks "${pids[@]}")
    if [[ $tool == wrk ]]; then
        timeout $((DURATION + 30)) "${LOAD[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 10s \
            ${HEADER[$scen]:+-H "${HEADER[$scen]}"} --latency -s "$HERE/report.lua" "$url" >"$TMP/tool.out" 2>&1 &
        TOOL_PID=$!
        wait "$TOOL_PID" || true
        TOOL_PID=""
        out=$(cat "$TMP/tool.out")
        line=$(grep '^RESULT ' <<<"$out" || true)
        [[ -n $line ]] || { log "wrk failed on $scen: $out"; return 0; }
        # shellcheck disable=SC2086
        local requests duration_us errors status_errors timeouts p50 p99 p999 max
        eval "$(sed 's/^RESULT //; s/ /;/g' <<<"$line")"
        local rps
        rps=$(awk -v r="$requests" -v d="$duration_us" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
    elif [[ $tool == h2load ]]; then
        timeout $((DURATION + 30)) "${LOAD[@]}" h2load -t1 -c"$CONNS" -m"$H2_STREAMS" -D "$DURATION" \
            "$url" >"$TMP/tool.out" 2>&1 &
        TOOL_PID=$!
        wait "$TOOL_PID" || true
        TOOL_PID=""
        local requests rps errors p50=- p99=- p999=-
        rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$TMP/tool.out")
        requests=$(awk '/^requests:/ {print $8}' "$TMP/tool.out")
        errors=$(awk '/^requests:/ {print $10 + $12 + $14}' "$TMP/tool.out")
        [[ -n $rps && -n $requests ]] || { log "h2load failed on $scen: $(tail -3 "$TMP/tool.out")"; return 0; }
        rps=${rps%.*}
    else
        timeout $((DURATION + 30)) "${LOAD[@]}" oha -z "${DURATION}s" -q "$RATE" -c "$OHA_CONNS" \
            --latency-correction --no-tui --output-format json "$url" >"$TMP/tool.out" 2>"$TMP/tool.err" &
        TOOL_PID=$!
        wait "$TOOL_PID" || true
        TOOL_PID=""
        local parsed
        parsed=$(python3 "$HERE/oha_parse.py" <"$TMP/tool.out" 2>/dev/null) || { log "oha failed on $scen"; return 0; }
        local requests rps p50 p99 p999 errors
        eval "$(tr ' ' ';' <<<"$parsed")"
    fi
    sleep "$settle"
    c1=$(cpu_ticks "${pids[@]}")
    [[ -n $admin ]] && read -r -a m1 <<<"$(sd_counts "$admin")"
    local cpu_us="-"
    if [[ $requests -gt 0 ]]; then
        cpu_us=$(awk -v d="$((c1 - c0))" -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
    fi
    local mirrored="-" compared="-" mismatched="-" skipped="-"
    if [[ -n $admin ]]; then
        mirrored=$((m1[1] - m0[1])) compared=$((m1[2] - m0[2]))
        mismatched=$((m1[3] - m0[3])) skipped=$((m1[4] - m0[4]))
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$scen" "$tool" "$rps" \
        "$p50" "$p99" "$p999" "$cpu_us" "$requests" "$errors" "$mirrored" "$compared" "$mismatched" \
        "$skipped" >>"$RAW"
    log "  $scen/$tool: ${rps} req/s p50=${p50}us p99=${p99}us p99.9=${p999}us cpu=${cpu_us}us/req errors=${errors}${admin:+ compared=$compared mismatched=$mismatched skipped=$skipped}"
}

# scenario name -> url, cpu owner, admin port
declare -A URL OWNER ADMIN HEADER
URL[direct]=http://127.0.0.1:$P_V1$DOC_PATH;            OWNER[direct]=origin-v1;          ADMIN[direct]=""
URL[nginx]=http://127.0.0.1:$P_NGX$DOC_PATH;            OWNER[nginx]=nginx-proxy;         ADMIN[nginx]=""
URL[nginx_mirror]=http://127.0.0.1:$P_NGXM$DOC_PATH;    OWNER[nginx_mirror]=nginx-mirror; ADMIN[nginx_mirror]=""
command -v haproxy >/dev/null && { URL[haproxy]=http://127.0.0.1:$P_HAP$DOC_PATH; OWNER[haproxy]=haproxy; ADMIN[haproxy]=""; }
URL[sd0]=http://127.0.0.1:$P_SD0$DOC_PATH;              OWNER[sd0]=sd0;                   ADMIN[sd0]=$A_SD0
URL[sd20]=http://127.0.0.1:$P_SD20$DOC_PATH;            OWNER[sd20]=sd20;                 ADMIN[sd20]=$A_SD20
URL[sd100]=http://127.0.0.1:$P_SD100$DOC_PATH;          OWNER[sd100]=sd100;               ADMIN[sd100]=$A_SD100
URL[sd100_reordered]=http://127.0.0.1:$P_SD100R$DOC_PATH; OWNER[sd100_reordered]=sd100r;  ADMIN[sd100_reordered]=$A_SD100R
URL[nginx_mirror_slow]=http://127.0.0.1:$P_NGXMS$DOC_PATH; OWNER[nginx_mirror_slow]=nginx-mirror-slow; ADMIN[nginx_mirror_slow]=""
URL[sd100_slow]=http://127.0.0.1:$P_SD100S$DOC_PATH;    OWNER[sd100_slow]=sd100slow;      ADMIN[sd100_slow]=$A_SD100S

URL[sd0_record]=http://127.0.0.1:$P_SD0REC$DOC_PATH;   OWNER[sd0_record]=sd0rec;         ADMIN[sd0_record]=$A_SD0REC
URL[sd100_record]=http://127.0.0.1:$P_SD100REC$DOC_PATH; OWNER[sd100_record]=sd100rec;    ADMIN[sd100_record]=$A_SD100REC
URL[canary50]=http://127.0.0.1:$P_SDC50$DOC_PATH;       OWNER[canary50]=sdc50;            ADMIN[canary50]=$A_SDC50
URL[sd100_noise1]=http://127.0.0.1:$P_SDN1$DOC_PATH;    OWNER[sd100_noise1]=sdn1;         ADMIN[sd100_noise1]=$A_SDN1
URL[canary50_same]=http://127.0.0.1:$P_SDC50S$DOC_PATH; OWNER[canary50_same]=sdc50s;          ADMIN[canary50_same]=$A_SDC50S
URL[sd0_base]=http://127.0.0.1:$P_SD0B$DOC_PATH;        OWNER[sd0_base]=sd0base;          ADMIN[sd0_base]=$A_SD0B
URL[sd100_base]=http://127.0.0.1:$P_SD100B$DOC_PATH;    OWNER[sd100_base]=sd100base;      ADMIN[sd100_base]=$A_SD100B

# A new connection per request (`Connection: close`), plain HTTP: clients without keep-alive.
URL[close_nginx]=${URL[nginx]};  OWNER[close_nginx]=nginx-proxy; ADMIN[close_nginx]=""
URL[close_sd0]=${URL[sd0]};      OWNER[close_sd0]=sd0;           ADMIN[close_sd0]=$A_SD0
HEADER[close_nginx]="Connection: close" HEADER[close_sd0]="Connection: close"
if [[ -f $TLS_DIR/cert.pem ]]; then
    URL[tls_nginx]=https://127.0.0.1:$P_NGXTLS$DOC_PATH;   OWNER[tls_nginx]=nginx-tls;       ADMIN[tls_nginx]=""
    URL[tls_sd0]=https://127.0.0.1:$P_SDTLS$DOC_PATH;      OWNER[tls_sd0]=sdtls;             ADMIN[tls_sd0]=$A_SDTLS
    URL[tls_hs_nginx]=${URL[tls_nginx]};                    OWNER[tls_hs_nginx]=nginx-tls;    ADMIN[tls_hs_nginx]=""
    URL[tls_hs_sd0]=${URL[tls_sd0]};                        OWNER[tls_hs_sd0]=sdtls;          ADMIN[tls_hs_sd0]=$A_SDTLS
    HEADER[tls_hs_nginx]="Connection: close" HEADER[tls_hs_sd0]="Connection: close"
fi

FAST=(direct nginx nginx_mirror sd0 sd20 sd100 sd100_reordered sd0_record sd100_record canary50 canary50_same sd100_noise1)
FAST+=(close_nginx close_sd0)
[[ -n ${URL[tls_sd0]:-} ]] && FAST+=(tls_nginx tls_sd0 tls_hs_nginx tls_hs_sd0)
if command -v h2load >/dev/null; then
    URL[h2_nginx]=http://127.0.0.1:$P_NGXH2$DOC_PATH;       OWNER[h2_nginx]=nginx-h2;        ADMIN[h2_nginx]=""
    URL[h2_sd0]=http://127.0.0.1:$P_SD0$DOC_PATH;            OWNER[h2_sd0]=sd0;               ADMIN[h2_sd0]=$A_SD0
    FAST+=(h2_nginx h2_sd0)
else
    log "h2load not installed: no HTTP/2 rows (apt-get install nghttp2-client)"
fi
[[ -n $BASE_BIN ]] && FAST+=(sd0_base sd100_base)
[[ -n ${URL[haproxy]:-} ]] && FAST+=(haproxy)
SLOW=(nginx_mirror_slow sd100_slow)
if [[ -n $ONLY ]]; then
    IFS=, read -r -a FAST <<<"$ONLY"
    for s in "${FAST[@]}"; do [[ -n ${URL[$s]:-} ]] || die "--scenarios: no scenario $s"; done
    SLOW=()
fi
TOOLS=(wrk)
[[ $USE_OHA == 1 ]] && TOOLS+=(oha)

# Warm every path once (connection pools, page cache), unmeasured.
log "warming up"
for s in "${FAST[@]}"; do
    timeout 20 "${LOAD[@]}" wrk -t1 -c"$CONNS" -d1s "${URL[$s]}" >/dev/null 2>&1 || true
done

log "rounds=$ROUNDS duration=${DURATION}s wrk -c$CONNS, oha=$USE_OHA (-q $RATE -c $OHA_CONNS); $PLACEMENT; shadowdiff io threads=$SD_THREADS"
for ((r = 1; r <= ROUNDS; r++)); do
    log "round $r/$ROUNDS"
    # Rotate the order every round so no scenario always runs first or right after another.
    n=${#FAST[@]}
    for ((k = 0; k < n; k++)); do
        s=${FAST[$(((k + r - 1) % n))]}
        for t in "${TOOLS[@]}"; do
            # The TLS rows are closed-loop only (oha's fixed rate rows are about latency); the
            # HTTP/2 rows are h2load's alone.
            [[ $t == oha && ($s == tls_* || $s == close_*) ]] && continue
            [[ $s == h2_* ]] && t=h2load
            measure "$r" "$s" "$t" "${URL[$s]}" "${OWNER[$s]}" "${ADMIN[$s]}" 0.5
            [[ $s == h2_* ]] && break
        done
    done
    # Slow v2: let the mirrors still waiting on v2 finish before the next measurement.
    for s in ${SLOW[@]+"${SLOW[@]}"}; do
        for t in "${TOOLS[@]}"; do
            measure "$r" "$s" "$t" "${URL[$s]}" "${OWNER[$s]}" "${ADMIN[$s]}" "$((SLOW_DELAY + 2))"
        done
    done
done

# ---------------------------------------------------------------- isolation
# The v2-at-2-s target holds the v2 origin fixed and changes only its delay (isolation.sh). The
# run's own processes are stopped first: idle proxies and origins on the measured core are noise
# in a p99 ratio. At least 5 rounds of 30 s arms (1 round of 5 s with --quick): with 8-10 s arms
# a healthy arm's own p99 moved 2x between rounds on a 2-vCPU machine (benches/README.md).
ISOLATION_RATIO="" ISOLATION_MD=""
if [[ $USE_OHA == 1 && -z $ONLY ]]; then
    stop_all
    log "isolation: v1 latency with one v2 origin, healthy then slow (isolation.sh)"
    if ISO_OUT=$(SHADOWDIFF_BIN="$BIN" bash "$HERE/isolation.sh" --rounds "$((ROUNDS > ISO_ROUNDS ? ROUNDS : ISO_ROUNDS))" \
        --duration "$ISO_DURATION" --delay "$SLOW_DELAY" --rate "$RATE" 2>/dev/null); then
        ISOLATION_MD=$ISO_OUT
        ISOLATION_RATIO=$(echo "$ISO_OUT" | sed -n 's/^v1 p99 slow \/ healthy: \([0-9.]*\)x.*/\1/p')
    else
        log "isolation.sh failed; its target is reported as not measured"
    fi
fi

# ---------------------------------------------------------------- report
NGINX_VERSION=$(nginx -v 2>&1 | sed 's/^nginx version: //')
WRK_VERSION=$( (wrk -v 2>&1 || true) | head -1 | awk '{print $2}')
OHA_VERSION="not used"
[[ $USE_OHA == 1 ]] && OHA_VERSION=$( (oha --version 2>/dev/null || true) | head -1 | awk '{print $2}')
SD_VERSION=$( ("$BIN" --version 2>/dev/null || true) | head -1)
BASE_VERSION=""
[[ -n $BASE_BIN ]] && BASE_VERSION=$( ("$BASE_BIN" --version 2>/dev/null || true) | head -1)
CPU_MODEL=$( (lscpu 2>/dev/null || true) | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
export CMDLINE ROUNDS DURATION RATE CONNS OHA_CONNS H2_STREAMS SD_THREADS PLACEMENT NGINX_VERSION WRK_VERSION \
    OHA_VERSION SD_VERSION BASE_VERSION CPU_MODEL NCPU SLOW_DELAY USE_OHA ISOLATION_RATIO ISOLATION_MD
python3 "$HERE/summarize.py" "$RAW" >"$TMP/results.md"
cat "$TMP/results.md"
if [[ -n $ONLY && $OUT_GIVEN == 0 ]]; then
    log "a --scenarios run: not written over $OUT (use --out FILE)"
    exit 0
fi
RAW_OUT=$HERE/raw.tsv
[[ -n $ONLY ]] && RAW_OUT=${OUT%.md}.tsv
cp "$RAW" "$RAW_OUT"
cp "$TMP/results.md" "$OUT"
log "written to $OUT (raw rows: $RAW_OUT)"
