#!/usr/bin/env bash
# Fault harness (issue 24): does a degraded v2 change what v1's clients see, with the adaptive
# mirror limit and with a static cap of 128?
#
#   bash benches/isolation/faults.sh [--rounds N] [--duration S] [--warmup S] [--settle S] [--connections C]
#                                    [--scenarios none,delay,loss,blackhole] [--modes adaptive,static128]
#                                    [--delay-ms MS] [--loss PCT] [--out FILE]
#   bash benches/isolation/faults.sh --outages 3,15,20 [--rounds N] [--out FILE]
#
# Needs root (a network namespace, a veth pair, nftables), nginx, wrk, curl, python3, taskset.
# v1: nginx on 127.0.0.1. v2: nginx inside the namespace `sdfault`, reached over the veth
# through benches/src/bin/delay_relay (always in the path, so every arm has the same hops).
# The proxy mirrors 100 %. Each arm is a fresh proxy: wrk warms it up for --warmup seconds with
# v2 healthy, then the fault is switched on and, after --settle seconds (default 0: the
# measurement starts with the fault) under the same load, wrk measures --duration seconds
# (`wrk -t1 -cC --latency`); comparisons are counted over the measured seconds. Faults:
#   none       nothing
#   delay      +--delay-ms (200) on every v2 response (the relay holds each chunk back)
#   loss       --loss (30) % of packets dropped each way between the proxy and v2 (nftables)
#   blackhole  every packet to and from v2 dropped
# Modes: adaptive (the default config), staticN (adaptive_mirrors = false,
# max_in_flight_mirrors = N; static128 by default); a suffix _niceK sets limits.background_nice = K
# (e.g. adaptive_nice0: mirrors and comparisons at the I/O thread's priority). Arms run interleaved, the order rotated every round. Prints one
# row per arm and the medians, with each arm's v1 ratios to its mode's no-fault arm of the same
# round. Placement: CPU 1 is v1's host (the proxy and v1's nginx, as a sidecar shares it), CPU 0
# the rest of the world (wrk, v2's nginx, the relay). Before each arm it waits until no build runs
# and the machine is idle (under 15 % busy over 2 s), as the machine may be shared.
# --outages S1,S2,...: recovery instead. For each length, in each round, a fresh proxy (default
# config) under the same load is cut off from v2 (blackhole) for S seconds; from the moment the
# link is back, the admin metrics are read every 50 ms: the time to the first new comparison, and
# the comparisons of the first and the second second after the lift against the rate before the cut.
# SHADOWDIFF_BIN / RELAY_BIN skip the build; SHADOWDIFF_LOG (a log directive, default error) and
# SHADOWDIFF_LOG_FILE keep the proxy's log.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ROUNDS=3 DURATION=10 WARMUP=3 SETTLE=0 CONNS=32 DELAY_MS=200 LOSS=30 OUT= OUTAGES=
SCENARIOS=none,delay,loss,blackhole MODES=adaptive,static128
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) ROUNDS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --warmup) WARMUP=$2; shift ;;
        --settle) SETTLE=$2; shift ;;
        --connections) CONNS=$2; shift ;;
        --scenarios) SCENARIOS=$2; shift ;;
        --modes) MODES=$2; shift ;;
        --delay-ms) DELAY_MS=$2; shift ;;
        --loss) LOSS=$2; shift ;;
        --out) OUT=$2; shift ;;
        --outages) OUTAGES=$2; shift ;;
        *) echo "faults.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
export PATH="$PATH:/usr/sbin:/sbin:${CARGO_HOME:-$HOME/.cargo}/bin"
for t in nginx wrk nft ip curl python3 taskset; do
    command -v $t >/dev/null || { echo "faults.sh: $t is required (apt-get install -y nginx wrk nftables iproute2 curl util-linux)" >&2; exit 1; }
done
[[ $(id -u) == 0 ]] || { echo "faults.sh: needs root (network namespace, nftables)" >&2; exit 1; }
[[ $(nproc) -ge 2 ]] || { echo "faults.sh: needs 2 CPUs for its placement" >&2; exit 1; }

BIN=${SHADOWDIFF_BIN:-} RELAY=${RELAY_BIN:-}
if [[ -z $BIN || -z $RELAY ]]; then
    (cd "$ROOT" && cargo build --release -q -p shadowdiff -p shadowdiff-benches --bin shadowdiff --bin delay_relay)
    T=${CARGO_TARGET_DIR:-$ROOT/target}/release
    BIN=${BIN:-$T/shadowdiff} RELAY=${RELAY:-$T/delay_relay}
fi

NS=sdfault H=10.231.0.1 V2=10.231.0.2
TMP=$(mktemp -d); chmod 755 "$TMP"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for f in "$TMP"/nginx*.pid; do [[ -f $f ]] && kill "$(cat "$f")" 2>/dev/null; done
    nft delete table inet $NS 2>/dev/null || true
    ip link del ${NS}0 2>/dev/null || true
    ip netns del $NS 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
cleanup_stale() { nft delete table inet $NS 2>/dev/null || true; ip link del ${NS}0 2>/dev/null || true; ip netns del $NS 2>/dev/null || true; }
cleanup_stale
busy() { awk '/^cpu / {print $2+$3+$4+$7+$8, $5+$6}' /proc/stat; }
quiet() {
    pgrep -x rustc >/dev/null && return 1
    pgrep -x cargo >/dev/null && return 1
    local a b
    read -r -a a <<<"$(busy)"; sleep 2; read -r -a b <<<"$(busy)"
    (( (b[0] - a[0]) * 100 < 15 * (b[0] - a[0] + b[1] - a[1]) ))
}
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
CPU0=(taskset -c 0) CPU1=(taskset -c 1)

# The link to v2: a veth into a namespace of its own, filtered by nftables on this side.
ip netns add $NS
ip link add ${NS}0 type veth peer name ${NS}1
ip link set ${NS}1 netns $NS
ip addr add $H/24 dev ${NS}0 && ip link set ${NS}0 up
ip netns exec $NS ip addr add $V2/24 dev ${NS}1
ip netns exec $NS ip link set ${NS}1 up
ip netns exec $NS ip link set lo up
nft add table inet $NS
nft add chain inet $NS out '{ type filter hook output priority 0; }'
nft add chain inet $NS in '{ type filter hook input priority 0; }'

cp "$ROOT/benches/load/doc.json" "$TMP/doc.json"; mkdir -p "$TMP/logs"
O=$(free_port)
nginx_conf() { # name listen
    cat >"$TMP/$1.conf" <<NG
worker_processes 1; pid $TMP/$1.pid; error_log $TMP/logs/$1.log crit; daemon on;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 1000000;
  server { listen $2; location / { root $TMP; default_type application/json; } } }
NG
}
nginx_conf nginx1 "127.0.0.1:$O"
nginx_conf nginx2 "127.0.0.1:8090"
"${CPU1[@]}" nginx -p "$TMP" -c "$TMP/nginx1.conf"
ip netns exec $NS "${CPU0[@]}" nginx -p "$TMP" -c "$TMP/nginx2.conf"
ip netns exec $NS "${CPU0[@]}" "$RELAY" "$V2:8091" 127.0.0.1:8090 "$DELAY_MS" & RELAY_PID=$!
PIDS+=("$RELAY_PID")
for _ in $(seq 50); do curl -sf -o /dev/null "http://$V2:8091/doc.json" && break; sleep 0.1; done
curl -sf -o /dev/null "http://$V2:8091/doc.json" || { echo "faults.sh: v2 not reachable through the relay" >&2; exit 1; }

fault() { # on|off scenario
    local on=$1 s=$2
    case "$s" in
        none) ;;
        delay) if [[ $on == on ]]; then kill -USR1 "$RELAY_PID"; else kill -USR2 "$RELAY_PID"; fi ;;
        loss|blackhole)
            if [[ $on == on ]]; then
                local cond=""
                [[ $s == loss ]] && cond="numgen random mod 100 < $LOSS"
                nft add rule inet $NS out ip daddr $V2 $cond drop
                nft add rule inet $NS in ip saddr $V2 $cond drop
            else
                nft flush chain inet $NS out; nft flush chain inet $NS in
            fi ;;
    esac
}

# ms from wrk's "99%  1.23ms" (us, ms or s)
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /m$/) {sub(/m$/,"",v); v*=60000} else {sub(/s$/,"",v); v*=1000}; printf "%.3f", v}'; }
metric_sum() { # metrics-file regex
    awk -v re="$2" '$0 !~ /^#/ && $1 ~ re {s+=$2} END {printf "%d", s}' "$1"
}

# one arm: prints "rps p50 p99 errors compared overloaded limit(median while measured) trips"
arm() {
    local scenario=$1 mode=$2 P A sp cfg
    P=$(free_port); A=$(free_port); cfg="$TMP/proxy.toml"
    {
        echo "listen = \"127.0.0.1:$P\""; echo "admin = \"127.0.0.1:$A\""; echo "mirror_percent = 100"
        echo "[primary]"; echo "url = \"http://127.0.0.1:$O\""
        echo "[candidate]"; echo "url = \"http://$V2:8091\""
        echo "[limits]"
        if [[ $mode == static* ]]; then local cap=${mode#static}; echo "adaptive_mirrors = false"; echo "max_in_flight_mirrors = ${cap%%_*}"; fi
        if [[ $mode == *_nice* ]]; then echo "background_nice = ${mode##*_nice}"; fi
    } >"$cfg"
    "${CPU1[@]}" "$BIN" --config "$cfg" --log-level "${SHADOWDIFF_LOG:-error}" 2>>"${SHADOWDIFF_LOG_FILE:-/dev/stderr}" & sp=$!
    PIDS+=("$sp")
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$A/healthz/ready" >/dev/null && break; sleep 0.1; done
    "${CPU0[@]}" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "http://127.0.0.1:$P/doc.json" >/dev/null
    fault on "$scenario"
    if [[ $SETTLE != 0 ]]; then "${CPU0[@]}" wrk -t1 -c"$CONNS" -d"${SETTLE}s" "http://127.0.0.1:$P/doc.json" >/dev/null; fi
    curl -s "http://127.0.0.1:$A/metrics" >"$TMP/m0"
    # The limit twice a second while wrk measures.
    (while :; do curl -s "http://127.0.0.1:$A/metrics" | awk '/^shadowdiff_mirror_concurrency_limit / {print $2}'; sleep 0.5; done) >"$TMP/lim" 2>/dev/null &
    local lp=$!
    "${CPU0[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$P/doc.json" >"$TMP/wrk"
    kill "$lp" 2>/dev/null || true; wait "$lp" 2>/dev/null || true
    curl -s "http://127.0.0.1:$A/metrics" >"$TMP/m1"
    fault off "$scenario"
    kill "$sp" 2>/dev/null || true; wait "$sp" 2>/dev/null || true
    local rps p50 p99 errs c0 c1 o0 o1 lim t1
    rps=$(awk '/^Requests\/sec/ {print $2}' "$TMP/wrk")
    p50=$(awk '$1 == "50%" {print $2}' "$TMP/wrk" | to_ms)
    p99=$(awk '$1 == "99%" {print $2}' "$TMP/wrk" | to_ms)
    errs=$(awk '/Non-2xx/ {n+=$NF} /Socket errors/ {gsub(",",""); n+=$4+$6+$8+$10} END {print n+0}' "$TMP/wrk")
    c0=$(metric_sum "$TMP/m0" '^shadowdiff_comparisons_total'); c1=$(metric_sum "$TMP/m1" '^shadowdiff_comparisons_total')
    o0=$(metric_sum "$TMP/m0" 'shadowdiff_mirror_skipped_total.*overloaded'); o1=$(metric_sum "$TMP/m1" 'shadowdiff_mirror_skipped_total.*overloaded')
    lim=$(sort -n "$TMP/lim" | awk '{v[NR]=$1} END {print (NR ? v[int((NR+1)/2)] : 0)}')
    t1=$(metric_sum "$TMP/m1" '^shadowdiff_breaker_trips_total$')
    echo "$rps $p50 $p99 $errs $((c1 - c0)) $((o1 - o0)) $lim $t1"
}

# one outage: prints "first_ms second1_ratio second2_ratio" (see --outages)
outage() {
    local secs=$1 P A sp wp cfg
    P=$(free_port); A=$(free_port); cfg="$TMP/proxy.toml"
    {
        echo "listen = \"127.0.0.1:$P\""; echo "admin = \"127.0.0.1:$A\""; echo "mirror_percent = 100"
        echo "[primary]"; echo "url = \"http://127.0.0.1:$O\""
        echo "[candidate]"; echo "url = \"http://$V2:8091\""
    } >"$cfg"
    "${CPU1[@]}" "$BIN" --config "$cfg" --log-level "${SHADOWDIFF_LOG:-error}" 2>>"${SHADOWDIFF_LOG_FILE:-/dev/stderr}" & sp=$!
    PIDS+=("$sp")
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$A/healthz/ready" >/dev/null && break; sleep 0.1; done
    "${CPU0[@]}" wrk -t1 -c"$CONNS" -d"$((WARMUP + secs + 8))s" "http://127.0.0.1:$P/doc.json" >/dev/null & wp=$!
    sleep "$WARMUP"
    python3 - "$A" "$secs" "$NS" "$V2" <<'RECOVER'
import subprocess, sys, time, urllib.request
admin, secs, ns, v2 = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
def compared():
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=2).read().decode()
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith("shadowdiff_comparisons_total"))
def nft(*args): subprocess.run(["nft", *args], check=True)
a = compared(); time.sleep(2); rate = (compared() - a) / 2
nft("add", "rule", "inet", ns, "out", "ip", "daddr", v2, "drop")
nft("add", "rule", "inet", ns, "in", "ip", "saddr", v2, "drop")
time.sleep(secs)
nft("flush", "chain", "inet", ns, "out"); nft("flush", "chain", "inet", ns, "in")
lifted = time.monotonic(); at_lift = compared(); first = None; marks = {}
while time.monotonic() - lifted < 6:
    n, t = compared(), time.monotonic() - lifted
    if first is None and n > at_lift: first = t
    for k in (1, 2):
        if k not in marks and t >= k: marks[k] = n
    time.sleep(0.05)
s1 = (marks[1] - at_lift) / rate if rate else float("nan")
s2 = (marks[2] - marks[1]) / rate if rate else float("nan")
print(f"{first * 1000 if first is not None else -1:.0f} {s1:.2f} {s2:.2f}")
RECOVER
    wait "$wp" 2>/dev/null || true
    kill "$sp" 2>/dev/null || true; wait "$sp" 2>/dev/null || true
}

if [[ -n $OUTAGES ]]; then
    IFS=, read -ra OU <<<"$OUTAGES"
    echo "round outage_s first_comparison_ms second1_vs_before second2_vs_before" >&2
    ROWS="$TMP/rows"; : >"$ROWS"
    for r in $(seq "$ROUNDS"); do
        for s in "${OU[@]}"; do
            until quiet; do echo "faults.sh: waiting for the machine to be idle (a build or another benchmark runs)" >&2; sleep 20; done
            echo "$r $s $(outage "$s")" | tee -a "$ROWS" >&2
        done
    done
    python3 - "$ROWS" <<'PY' | tee ${OUT:+"$OUT"}
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
print("| blackhole | rounds | first comparison after the lift (each round) | worst | 1st second vs before (median) | 2nd second vs before (median) |")
print("|---:|---:|---|---:|---:|---:|")
for s in dict.fromkeys(r[1] for r in rows):
    xs = [r for r in rows if r[1] == s]
    firsts = [int(x[2]) for x in xs]
    shown = ", ".join("never" if f < 0 else f"{f / 1000:.2f} s" for f in firsts)
    worst = "never" if min(firsts) < 0 else f"{max(firsts) / 1000:.2f} s"
    m = lambda i: statistics.median(float(x[i]) for x in xs)
    print(f"| {s} s | {len(xs)} | {shown} | {worst} | {m(3):.2f}x | {m(4):.2f}x |")
PY
    exit 0
fi

IFS=, read -ra SC <<<"$SCENARIOS"; IFS=, read -ra MO <<<"$MODES"
ROWS="$TMP/rows"; : >"$ROWS"
echo "round scenario mode rps p50_ms p99_ms client_errors compared overloaded limit breaker_trips" >&2
for r in $(seq "$ROUNDS"); do
    n=${#SC[@]}; k=$(( (r - 1) % n ))
    order=("${SC[@]:$k}" "${SC[@]:0:$k}")
    for s in "${order[@]}"; do
        modes=("${MO[@]}"); (( r % 2 == 0 )) && modes=($(printf '%s\n' "${MO[@]}" | tac))
        for m in "${modes[@]}"; do
            until quiet; do echo "faults.sh: waiting for the machine to be idle (a build or another benchmark runs)" >&2; sleep 20; done
            echo "$r $s $m $(arm "$s" "$m")" | tee -a "$ROWS" >&2
        done
    done
done

python3 - "$ROWS" "$DELAY_MS" "$LOSS" "$CONNS" "$DURATION" <<'PY' | tee ${OUT:+"$OUT"}
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
delay, loss, conns, dur = sys.argv[2:6]
by = {}
for r in rows:
    by.setdefault((r[1], r[2]), []).append(r)
base = {(r[0], r[2]): r for r in rows if r[1] == "none"}
def med(xs): return statistics.median(xs) if xs else float("nan")
labels = {"none": "no fault", "delay": f"+{delay} ms", "loss": f"{loss} % loss", "blackhole": "blackhole"}
print(f"wrk -t1 -c{conns} -d{dur}s, 100 % mirrored, medians of {len({r[0] for r in rows})} rounds; ratios are per round against the same mode's no-fault arm")
print()
print("| v2 | mode | v1 req/s | v1 p50 | v1 p99 | req/s ratio | p99 ratio | client errors | compared | overloaded | limit (median) | breaker trips |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
seen = []
for r in rows:
    if (r[1], r[2]) not in seen: seen.append((r[1], r[2]))
order = [s for s in ("none", "delay", "loss", "blackhole") if any(k[0] == s for k in seen)]
for s in order:
    for m in [k[1] for k in seen if k[0] == s]:
        xs = by[(s, m)]
        col = lambda i: med([float(x[i]) for x in xs])
        rr = [float(x[3]) / float(base[(x[0], m)][3]) for x in xs if (x[0], m) in base]
        pr = [float(x[5]) / float(base[(x[0], m)][5]) for x in xs if (x[0], m) in base]
        errs = sum(int(x[6]) for x in xs)
        print(f"| {labels.get(s, s)} | {m} | {col(3):.0f} | {col(4):.3f} ms | {col(5):.3f} ms | {med(rr):.2f}x | {med(pr):.2f}x | {errs} | {col(7):.0f} | {col(8):.0f} | {col(9):.0f} | {col(10):.0f} |")
PY
