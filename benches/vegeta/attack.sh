#!/usr/bin/env bash
# Stand-in for `vegeta attack -targets=FILE -rate=R -duration=D | vegeta report` where vegeta is not
# installable: reads the same vegeta targets file (http format: "METHOD URL", header lines,
# optional "@body-file", blank line between targets) and runs one fixed-rate oha per target, in
# parallel, each at R / (number of targets) — vegeta round-robins its targets, so each gets the
# same share. Prints a vegeta-report-like summary per target and overall.
#
#   bash benches/vegeta/attack.sh benches/vegeta/get.txt [RATE=200] [DURATION_SECONDS=30]
#
# Run it from the directory the targets' @body paths are relative to (the repository root for the
# shipped files), as vegeta would be.
set -euo pipefail
export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"

TARGETS=${1:?usage: attack.sh TARGETS_FILE [RATE] [DURATION_SECONDS]}
RATE=${2:-200}
DURATION=${3:-30}
command -v oha >/dev/null || { echo "attack.sh: needs oha (cargo install oha)" >&2; exit 1; }
[[ $RATE =~ ^[1-9][0-9]*$ && $DURATION =~ ^[1-9][0-9]*$ ]] || { echo "attack.sh: RATE and DURATION are positive integers" >&2; exit 2; }

TMP=$(mktemp -d /tmp/shadowdiff-attack.XXXXXX)
PIDS=()
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One target per line of $TMP/targets: method \t url \t body-file-or-empty \t header;header...
python3 - "$TARGETS" >"$TMP/targets" <<'EOF'
import sys
blocks, cur = [], []
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if not line.strip():
        if cur:
            blocks.append(cur)
        cur = []
    elif not line.lstrip().startswith("#"):
        cur.append(line)
if cur:
    blocks.append(cur)
for b in blocks:
    method, url = b[0].split(None, 1)
    body = ""
    headers = []
    for l in b[1:]:
        if l.startswith("@"):
            body = l[1:]
        else:
            headers.append(l)
    print("\t".join([method, url, body, "\x1f".join(headers)]))
EOF
N=$(wc -l <"$TMP/targets")
[[ $N -gt 0 ]] || { echo "attack.sh: no targets in $TARGETS" >&2; exit 2; }
PER=$(awk -v r="$RATE" -v n="$N" 'BEGIN { printf "%.3f", r / n }')
echo "attack: $N target(s) from $TARGETS, $RATE req/s total ($PER each), ${DURATION}s, oha $(oha --version | awk '{print $2}')" >&2

i=0
while IFS=$'\t' read -r method url body headers; do
    args=(-z "${DURATION}s" -q "$PER" -c 16 --latency-correction --no-tui --output-format json -m "$method")
    if [[ -n $headers ]]; then
        IFS=$'\x1f' read -r -a hs <<<"$headers"
        for h in "${hs[@]}"; do args+=(-H "$h"); done
    fi
    [[ -n $body ]] && args+=(-D "$body")
    oha "${args[@]}" "$url" >"$TMP/out.$i.json" 2>"$TMP/err.$i" &
    PIDS+=("$!")
    printf '%s %s\n' "$method" "$url" >"$TMP/name.$i"
    i=$((i + 1))
done <"$TMP/targets"
for pid in "${PIDS[@]}"; do wait "$pid" || true; done
PIDS=()

python3 - "$TMP" "$N" <<'EOF'
import json, sys
tmp, n = sys.argv[1], int(sys.argv[2])
total, ok, rps = 0, 0, 0.0
codes_all = {}
print(f"{'target':<44} {'requests':>8} {'rate':>7} {'p50':>9} {'p90':>9} {'p99':>9} {'max':>9}  status codes")
for i in range(n):
    name = open(f"{tmp}/name.{i}").read().strip()
    try:
        d = json.load(open(f"{tmp}/out.{i}.json"))
    except Exception:
        print(f"{name:<44} oha failed: {open(f'{tmp}/err.{i}').read().strip()[:200]}")
        continue
    s, p = d["summary"], d["latencyPercentiles"]
    codes = d.get("statusCodeDistribution", {})
    errs = d.get("errorDistribution", {})
    # oha cuts off requests still in flight at the end of the run; vegeta would wait for them.
    errs = {k: v for k, v in errs.items() if "deadline" not in k.lower()}
    req = sum(codes.values()) + sum(errs.values())
    total += req
    ok += sum(v for k, v in codes.items() if k.startswith("2"))
    rps += s.get("requestsPerSec") or 0
    for k, v in list(codes.items()) + list(errs.items()):
        codes_all[k] = codes_all.get(k, 0) + v
    ms = lambda k: f"{(p.get(k) or 0) * 1000:.2f}ms"
    print(f"{name:<44} {req:>8} {s.get('requestsPerSec') or 0:>7.1f} {ms('p50'):>9} {ms('p90'):>9} {ms('p99'):>9} "
          f"{(s.get('slowest') or 0) * 1000:>7.2f}ms  {codes} {errs or ''}")
print(f"\nRequests      [total, rate]  {total}, {rps:.2f}")
print(f"Success       [ratio]        {ok / total * 100 if total else 0:.2f}%")
print(f"Status Codes  [code:count]   " + "  ".join(f"{k}:{v}" for k, v in sorted(codes_all.items())))
EOF
