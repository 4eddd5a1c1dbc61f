#!/usr/bin/env bash
# Renders every kustomization under deploy/k8s (the three overlays and
# init-repository) with `kubectl kustomize`, then validates every object
# offline with validate.js: OpenAPI schemas (kubernetes-models, the
# prometheus-operator and cert-manager CRDs) with unknown fields rejected,
# arca's policy (resources, gRPC probes, non-root except the collector, fixed
# tags, read-only root file system, grace period >= --drain-seconds, every
# gRPC port open to exactly the callers README "Security model" lists) and the
# PrometheusRule equal to deploy/prometheus/alerts.yml. Every file of
# validate/broken/ must be rejected for the reason its "# expect:" line names.
#
# Needs kubectl (kustomize v2 in Debian's 1.20 or v5), node >= 18 and npm.
# The npm packages of package-lock.json are installed once into
# $ARCA_NPM_CACHE/<lockfile sha256> (default /var/cache/arca-npm, else
# /tmp/arca-npm-$UID): `npm ci --offline` from npm's cache first, `npm ci`
# from the registry if that fails. Run from the workspace root (Bazel's
# runfiles directory or a checkout).
set -euo pipefail
src=deploy/k8s
for tool in kubectl node npm; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found; run scripts/install-deps.sh" >&2; exit 1; }
done
start=$(date +%s)

cache=${ARCA_NPM_CACHE:-/var/cache/arca-npm}
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then cache=/tmp/arca-npm-$(id -u); mkdir -p "$cache"; fi
key=$(sha256sum "$src/validate/package-lock.json" | cut -c1-16)
modules=$cache/$key/node_modules
if [ ! -e "$cache/$key/.complete" ]; then
  staging=$(mktemp -d "$cache/staging.XXXXXX")
  cp "$src/validate/package.json" "$src/validate/package-lock.json" "$staging/"
  export npm_config_cache=$cache/npm-cache npm_config_update_notifier=false
  if ! (cd "$staging" && npm ci --offline --ignore-scripts --no-audit --no-fund >/dev/null 2>&1); then
    (cd "$staging" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
  fi
  touch "$staging/.complete"
  # Another run may have finished first; either copy is complete.
  mv -T "$staging" "$cache/$key" 2>/dev/null || rm -rf "$staging"
fi

work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/arca-k8s.XXXXXX")
trap 'rm -rf "$work"' EXIT
# kustomize resolves symlinks and refuses files outside a kustomization's
# root, so render a plain copy of the tree, not Bazel's symlinked runfiles.
cp -rL "$src" "$work/k8s"
valid=()
for dir in overlays/dev overlays/production overlays/single-node init-repository; do
  out=$work/$(echo "$dir" | tr / -).yaml
  if ! kubectl kustomize "$work/k8s/$dir" >"$out" 2>"$work/kustomize.err"; then
    echo "FAIL: kubectl kustomize $src/$dir:" >&2
    cat "$work/kustomize.err" >&2
    exit 1
  fi
  valid+=(--expect-valid "$out")
done
invalid=()
for f in "$src"/validate/broken/*.yaml; do invalid+=(--expect-invalid "$f"); done
[ ${#invalid[@]} -ge 14 ] || { echo "FAIL: broken/ holds fewer than 7 manifests" >&2; exit 1; }

node "$src/validate/validate.js" --node-modules "$modules" \
  --alerts deploy/prometheus/alerts.yml "${valid[@]}" "${invalid[@]}"
echo "PASS ($(kubectl version --client 2>/dev/null | grep -i kustomize || echo 'kustomize v2'), node $(node --version), $(( $(date +%s) - start )) s)"
