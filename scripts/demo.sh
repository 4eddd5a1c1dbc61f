#!/usr/bin/env bash
# The main job on the embedded default: installs what is needed, builds the
# arca CLI, backs up a real directory (default /usr/share/doc) into a fresh
# local repository, lists it, restores it, compares, verifies it and shows
# the statistics. Usage: scripts/demo.sh [SOURCE] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."

SOURCE="${1:-/usr/share/doc}"
WORK="${2:-/var/tmp/arca-demo}"
bash scripts/install-deps.sh
cache="${ARCA_BAZEL_CACHE:-/var/cache/arca-bazel}"
mkdir -p "$cache"
bazel build --disk_cache="$cache" //tools/arca:arca
ARCA="$PWD/bazel-bin/tools/arca/arca"

rm -rf "$WORK"
mkdir -p "$WORK"
export ARCA_REPO="$WORK/repo"
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step arca init --repo "$ARCA_REPO"
"$ARCA" init

step arca backup "$SOURCE" --json
"$ARCA" backup "$SOURCE" --json | tee "$WORK/backup.json"
step arca backup "$SOURCE"  "(second run: everything deduplicated)"
"$ARCA" backup "$SOURCE"

step arca snapshots
"$ARCA" snapshots

step "arca ls latest  (first lines)"
"$ARCA" ls latest > "$WORK/ls.txt"
head -n 12 "$WORK/ls.txt"
echo "... $(wc -l < "$WORK/ls.txt") entries"

step arca restore latest "$WORK/restored"
"$ARCA" restore latest "$WORK/restored"

step diff -r "$SOURCE" "$WORK/restored"
diff -r --no-dereference "$SOURCE" "$WORK/restored" && echo "identical contents"

step arca verify
"$ARCA" verify
echo
echo "repository: $ARCA_REPO ($(du -sh "$ARCA_REPO" | cut -f1) for $(du -sh "$SOURCE" | cut -f1) of source)"
