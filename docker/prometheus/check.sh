#!/usr/bin/env bash
# Validate the Prometheus kit: config, rules, rule unit tests. Used by docker/check.sh and CI.
# Installs promtool (Debian package `prometheus`) when it is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool missing: installing the Debian package prometheus" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

promtool check config prometheus.yml
promtool check rules recording-rules.yml alerting-rules.yml
shopt -s nullglob
tests=(*test*.yml)
(( ${#tests[@]} )) || { echo "no *test*.yml rule tests found" >&2; exit 1; }
promtool test rules "${tests[@]}"
