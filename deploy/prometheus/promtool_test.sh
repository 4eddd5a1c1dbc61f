#!/usr/bin/env bash
# Checks the Prometheus configuration and alert rules of deploy/prometheus
# with the real promtool (Debian package "prometheus", installed by
# scripts/install-deps.sh): config syntax, rule syntax, and the rule unit
# tests of alerts_test.yml (every alert firing and not firing).
set -euo pipefail
promtool=/usr/bin/promtool
if [ ! -x "$promtool" ]; then
  echo "FAIL: $promtool not found; run scripts/install-deps.sh (package prometheus)" >&2
  exit 1
fi
dir=deploy/prometheus
"$promtool" check config "$dir/prometheus.yml"
"$promtool" check rules "$dir/alerts.yml"
"$promtool" test rules "$dir/alerts_test.yml"
echo "PASS"
