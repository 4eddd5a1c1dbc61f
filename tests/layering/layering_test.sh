#!/bin/bash
# The layers point down (STYLE.md, DESIGN.md §7a): nothing under libs/
# includes services/ or tools/, and nothing under services/ includes tools/.
# Usage: layering_test.sh [ROOT] — ROOT defaults to the workspace this script
# lives in (found through the runfiles symlink). Prints every offending
# include and exits 1 if there is one.
set -u
root="${1:-$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)}"
if [ ! -d "$root/libs" ] || [ ! -d "$root/services" ]; then
  echo "layering_test: $root is not the arca workspace (no libs/ or services/)" >&2
  exit 2
fi
cd "$root"
bad=0
check() {  # folder, forbidden include prefixes (regex)
  local hits
  hits=$(grep -rnE --include='*.cc' --include='*.h' "^#include \"($2)/" "$1" || true)
  if [ -n "$hits" ]; then
    echo "$1/ must not include ${2//|/\/ or }/ (layers point down; move the shared code lower):"
    echo "$hits"
    bad=1
  fi
}
check libs 'services|tools'
check services 'tools'
files=$(find libs services -name '*.cc' -o -name '*.h' | wc -l)
if [ "$bad" -eq 0 ]; then
  echo "layering_test: $files files under libs/ and services/, every include points down"
fi
exit "$bad"
