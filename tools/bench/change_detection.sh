#!/usr/bin/env bash
# Change-detection waste (issue 4): first backup, unchanged re-backup, then
# change N% of the files and back up again; prints the reuse statistics of
# each run. Usage: tools/bench/change_detection.sh SOURCE [PERCENT] [ARCA]
# SOURCE is modified by the PERCENT step: use a generated tree
# (tools/bench/make_tree.py) or a copy, never real data.
set -euo pipefail
SRC="$1"; PCT="${2:-1}"; ARCA="${3:-bazel-bin/tools/arca/arca}"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(mktemp -d /var/tmp/arca-cd.XXXXXX)/repo"
trap 'rm -rf "$(dirname "$repo")"' EXIT
"$ARCA" init --repo "$repo" >/dev/null
show() {
  python3 -c '
import json, sys
d = json.load(sys.stdin)
s = d["stats"]
g = lambda k: int(s.get(k, 0))
reused = g("bytes_reused")
pad = g("padding_bytes")
print("%-9s %6.2f s  files %7d  reused %7d  read %6d  bytes reused %6.1f MiB  read %6.1f MiB  padding %7.1f KiB (%.3f%% of reused)  new stored %6.1f MiB" % (
    sys.argv[1], s["duration_seconds"], g("files"), g("files_reused"), g("files_read"),
    reused / 2**20, g("bytes_read") / 2**20, pad / 1024, 100.0 * pad / reused if reused else 0,
    g("bytes_new_stored") / 2**20))' "$1"
}
"$ARCA" backup "$SRC" --repo "$repo" --json | show first
"$ARCA" backup "$SRC" --repo "$repo" --json | show unchanged
changed=$(python3 "$here/make_tree.py" "$SRC" --touch-percent "$PCT")
echo "changed $changed files ($PCT %)"
"$ARCA" backup "$SRC" --repo "$repo" --json | show changed
"$ARCA" verify --repo "$repo"
