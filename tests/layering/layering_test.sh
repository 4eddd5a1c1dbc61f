#!/bin/bash
# The layers point down (STYLE.md, DESIGN.md §7a): nothing under libs/
# includes services/ or tools/, nothing under services/ includes tools/, and
# no two folders include each other (a folder is the directory of a file).
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
# Folder → folder edges of the project's own includes, then the pairs that
# point both ways.
mutual=$(grep -rE --include='*.cc' --include='*.h' '^#include "(libs|services|tools|tests)/' \
           libs services tools tests |
         sed -E 's#^([^:]*)/[^/:]*:[^"]*"(.*)/[^/]*".*#\1 \2#' | awk '$1 != $2' | sort -u |
         awk '{ edge[$1 " " $2] = 1 } END { for (e in edge) { split(e, p, " ");
                if ((p[2] " " p[1]) in edge && p[1] < p[2]) print p[1] " <-> " p[2] } }')
if [ -n "$mutual" ]; then
  echo "folders that include each other (one of them should own the shared code):"
  echo "$mutual"
  bad=1
fi
files=$(find libs services -name '*.cc' -o -name '*.h' | wc -l)
if [ "$bad" -eq 0 ]; then
  echo "layering_test: $files files under libs/ and services/, every include points down, no two folders include each other"
fi
exit "$bad"
