#!/usr/bin/env bash
# Runs the whole arca test suite: every Bazel test target, then the decoder
# and bad-input tests again under AddressSanitizer + UBSan.
# Prints "N passed, N failed" last; exits non-zero if any test failed.
#
# Set ARCA_BAZEL_CACHE to move the shared disk cache (default
# /var/cache/arca-bazel, outside the clone so fresh clones reuse builds).
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

cache="${ARCA_BAZEL_CACHE:-/var/cache/arca-bazel}"
mkdir -p "$cache"
# --nocache_test_results: tests really run every time (the disk cache still
# saves the compilation).
common=(--disk_cache="$cache" --jobs=2 --local_ram_resources=HOST_RAM*.6 --nocache_test_results)

log=$(mktemp)
trap 'rm -f "$log"' EXIT

bazel test "${common[@]}" //... 2>&1 | tee "$log"
bazel test "${common[@]}" --config=asan --build_tests_only \
  --test_tag_filters=asan //... 2>&1 | sed 's/^\(\/\/[^ ]*\) /\1 [asan] /' | tee -a "$log"

passed=$(grep -cE '^//[^ ]+ .*PASSED in' "$log")
failed=$(grep -cE '^//[^ ]+ .*(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY)' "$log")
build_failed=$(grep -c 'FAILED: Build did NOT complete successfully' "$log")
if [ "$build_failed" -gt 0 ] && [ "$failed" -eq 0 ]; then
  failed=$build_failed
fi
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
